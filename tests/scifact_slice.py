"""A small SciFact slice shared by the cluster, funnel and map tests: the relevant abstracts of a few
claims plus filler abstracts, with a numeric ``year`` and a TAG-able ``group`` for filter tests."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from langchain_core.documents import Document

SCIFACT = Path("/work/shared/data/beir/scifact")


def load_slice(n_queries: int = 12, n_filler: int = 240) -> tuple[list[Document], dict[str, str], dict[str, set[str]]]:
    qrels: dict[str, set[str]] = {}
    with open(SCIFACT / "qrels" / "test.tsv") as fh:
        for row in csv.DictReader(fh, delimiter="\t"):
            qrels.setdefault(row["query-id"], set()).add(row["corpus-id"])
    qids = sorted(qrels, key=int)[:n_queries]
    wanted = set().union(*(qrels[q] for q in qids))
    docs: list[Document] = []
    filler = 0
    with open(SCIFACT / "corpus.jsonl") as fh:
        for line in fh:
            d = json.loads(line)
            if d["_id"] not in wanted:
                if filler >= n_filler:
                    continue
                filler += 1
            docs.append(
                Document(
                    id=d["_id"],
                    page_content=f"{d['title']} {d['text']}",
                    metadata={"doc_id": d["_id"], "year": 2000 + int(d["_id"]) % 20,
                              "group": "even" if int(d["_id"]) % 2 == 0 else "odd"},
                )
            )
    queries = {}
    with open(SCIFACT / "queries.jsonl") as fh:
        for line in fh:
            q = json.loads(line)
            if q["_id"] in qids:
                queries[q["_id"]] = q["text"]
    return docs, queries, {q: qrels[q] for q in qids}
