"""Load BEIR-format data sets (corpus.jsonl, queries.jsonl, qrels/<split>.tsv)."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path

from langchain_core.documents import Document

from langchain_embcompare.errors import EmptyInputError, InvalidParameterError


@dataclass
class BeirDataset:
    """A corpus, its queries and their relevance labels (``qrels[qid][doc_id] = grade``)."""

    name: str
    corpus: list[Document]
    queries: dict[str, str]
    qrels: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def texts(self) -> list[str]:
        return [d.page_content for d in self.corpus]


def _read_jsonl(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def _image_ref(root: Path, ref: str) -> str:
    """An image row's reference: URIs as they are, paths resolved against the data set folder."""
    if "://" in ref or ref.startswith("data:"):
        return ref
    path = Path(ref).expanduser()
    return str(path if path.is_absolute() else (root / path).resolve())


def load_beir(path: str | Path, split: str = "test", max_queries: int | None = None) -> BeirDataset:
    """Read a BEIR folder. Documents are ``"title text"`` (the BEIR / MTEB convention), ids kept.

    Image data sets: a corpus or query row with an ``"image"`` field (a path relative to the folder, or a
    URI) becomes that image: ``page_content`` / the query is the resolved path, the row's ``text`` is
    kept as ``metadata["caption"]`` (see ``scripts/make_image_set.py``).

    Only queries that have labels in ``split`` are kept, as BEIR's own evaluation does.
    """
    root = Path(path)
    for name in ("corpus.jsonl", "queries.jsonl"):
        if not (root / name).exists():
            raise InvalidParameterError(
                f"{root} is not a BEIR data set: {name} is missing. Expected corpus.jsonl, queries.jsonl and qrels/{split}.tsv."
            )
    qrels_path = root / "qrels" / f"{split}.tsv"
    qrels: dict[str, dict[str, int]] = {}
    if qrels_path.exists():
        with qrels_path.open(encoding="utf-8") as f:
            reader = csv.reader(f, delimiter="\t")
            for row in reader:
                if len(row) < 3 or row[0] == "query-id":
                    continue
                qrels.setdefault(row[0], {})[row[1]] = int(row[2])
    corpus = []
    for row in _read_jsonl(root / "corpus.jsonl"):
        if row.get("image"):
            ref = _image_ref(root, row["image"])
            meta = {"doc_id": str(row["_id"]), "image": ref, "caption": row.get("text") or "", **(row.get("metadata") or {})}
            corpus.append(Document(page_content=ref, metadata=meta, id=str(row["_id"])))
            continue
        title, text = row.get("title") or "", row.get("text") or ""
        meta = {"doc_id": str(row["_id"]), "title": title, **(row.get("metadata") or {})}
        corpus.append(Document(page_content=f"{title} {text}".strip(), metadata=meta, id=str(row["_id"])))
    if not corpus:
        raise EmptyInputError(f"{root}/corpus.jsonl holds no documents.")
    queries = {str(r["_id"]): _image_ref(root, r["image"]) if r.get("image") else r["text"] for r in _read_jsonl(root / "queries.jsonl")}
    if qrels:
        queries = {qid: text for qid, text in queries.items() if qid in qrels}
    if max_queries is not None:
        queries = dict(list(queries.items())[:max_queries])
        qrels = {qid: qrels[qid] for qid in queries if qid in qrels}
    return BeirDataset(name=root.name, corpus=corpus, queries=queries, qrels=qrels)


__all__ = ["BeirDataset", "load_beir"]
