"""Write the SciFact slice the tests use (``tests/data/scifact-small``) from a full BEIR SciFact folder.

The slice: the first 30 test queries that have relevance labels (file order), every document they
label, then the first other corpus documents (file order) up to 400 documents. Texts unchanged.

Usage: python scripts/make_scifact_slice.py [SCIFACT_DIR] [OUT_DIR]
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path


def main(src: Path, dst: Path, n_queries: int = 30, n_docs: int = 400) -> None:
    qrels: dict[str, dict[str, int]] = {}
    with open(src / "qrels" / "test.tsv", encoding="utf-8") as f:
        for row in csv.reader(f, delimiter="\t"):
            if len(row) >= 3 and row[0] != "query-id":
                qrels.setdefault(row[0], {})[row[1]] = int(row[2])
    with open(src / "queries.jsonl", encoding="utf-8") as f:
        queries = [q for q in map(json.loads, f) if str(q["_id"]) in qrels][:n_queries]
    qids = [str(q["_id"]) for q in queries]
    relevant = {d for q in qids for d in qrels[q]}
    with open(src / "corpus.jsonl", encoding="utf-8") as f:
        corpus = [json.loads(line) for line in f]
    keep = [c for c in corpus if str(c["_id"]) in relevant]
    keep += [c for c in corpus if str(c["_id"]) not in relevant][: n_docs - len(keep)]
    (dst / "qrels").mkdir(parents=True, exist_ok=True)
    with open(dst / "corpus.jsonl", "w", encoding="utf-8") as f:
        for c in keep:
            f.write(json.dumps({"_id": c["_id"], "title": c.get("title", ""), "text": c.get("text", "")}) + "\n")
    with open(dst / "queries.jsonl", "w", encoding="utf-8") as f:
        for q in queries:
            f.write(json.dumps({"_id": q["_id"], "text": q["text"]}) + "\n")
    with open(dst / "qrels" / "test.tsv", "w", encoding="utf-8") as f:
        f.write("query-id\tcorpus-id\tscore\n")
        for q in qids:
            for d, r in qrels[q].items():
                f.write(f"{q}\t{d}\t{r}\n")
    print(f"{dst}: {len(keep)} documents, {len(queries)} queries")


if __name__ == "__main__":
    root = Path(__file__).resolve().parents[1]
    src = Path(sys.argv[1]) if len(sys.argv) > 1 else root.parent / "shared" / "data" / "beir" / "scifact"
    dst = Path(sys.argv[2]) if len(sys.argv) > 2 else root / "tests" / "data" / "scifact-small"
    main(src, dst)
