"""The reference store: the whole protocol of ``stores/base.py`` in plain numpy, every capability.

Obviously right rather than fast: every search is an exact scan of the qualifying rows
(``filters.evaluate_filter`` on the metadata, then ``base.exact_scores`` and ``base.top_k``). Rows are
handed out in increasing order and never reused; an upsert of a stored id deletes its row and gives
the document a new one (the protocol allows this, so the tests meet it). ``capabilities=`` turns
capabilities off, to test the retrievers' fallbacks and their ``MissingCapabilityError``. Thread-safe
as the FAISS store is (a readers-writer lock: reads share it, writes hold it alone).

    store = FakeStore(HashEmbeddings(), metric="cosine", capabilities=("candidate_rows",))
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any

import numpy as np
from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings

from langchain_embcompare.errors import DimensionMismatchError, InvalidParameterError
from langchain_embcompare.filters import evaluate_filter
from langchain_embcompare.matryoshka import VectorSpace, as_matryoshka, check_finite
from langchain_embcompare.stores.locking import ReadWriteLock, reads, writes
from langchain_embcompare.stores.base import (
    CAPABILITIES,
    METRICS,
    EmbStore,
    SearchRequest,
    empty_result,
    exact_scores,
    last_wins,
    normalize_rows,
    prepare_documents,
    top_k,
)


FAKE_CAPABILITIES = tuple(c for c in CAPABILITIES if c != "full_text")
"""Every capability but ``"full_text"`` (no engine of its own: the lexical arm runs bm25s over its
documents, as on any store without one)."""


class FakeStore(EmbStore):
    """In-memory store: dicts keyed by row (documents, vectors, cluster labels, extra fields)."""

    def __init__(
        self, embedding: Embeddings | str, metric: str = "cosine", capabilities: Sequence[str] = FAKE_CAPABILITIES
    ) -> None:
        if metric not in METRICS:
            raise InvalidParameterError(f"metric must be one of {METRICS}, got {metric!r}.")
        unknown = set(capabilities) - set(FAKE_CAPABILITIES)
        if unknown:
            raise InvalidParameterError(f"unknown capabilities {sorted(unknown)}; the fake has: {list(FAKE_CAPABILITIES)}.")
        self.embedding = as_matryoshka(embedding)
        self.metric = metric
        self.capabilities = frozenset(capabilities)  # type: ignore[misc]  # per instance, for the tests
        self.docs: dict[int, Document] = {}
        self.vecs: dict[int, np.ndarray] = {}
        self.row_of: dict[str, int] = {}
        self.labels: dict[int, int] = {}
        self.fields: dict[str, dict[int, np.ndarray]] = {}
        self.field_dims: dict[str, int] = {}
        self.next_row = 0
        self.lock = ReadWriteLock()  # the same discipline as the FAISS store (stores/locking.py)

    def reading(self) -> AbstractContextManager[None]:
        return self.lock.read()

    @property
    def space(self) -> VectorSpace:
        return self.embedding.space

    def _store_form(self, v: np.ndarray) -> np.ndarray:
        return normalize_rows(v) if self.metric == "cosine" else v

    # -- writing -----------------------------------------------------------------------------------

    @writes
    def upsert_vectors(
        self, vectors: np.ndarray, documents: Sequence[Document], *, extra_vectors: Mapping[str, np.ndarray] | None = None, **kwargs: Any
    ) -> list[str]:
        docs = prepare_documents(list(documents))
        v = np.asarray(vectors, dtype=np.float32)
        if v.ndim != 2 or len(v) != len(docs):
            raise InvalidParameterError(f"Got {len(v)} vectors for {len(docs)} documents: pass one vector per document.")
        if v.shape[1] != self.space.dim:
            raise DimensionMismatchError(f"Cannot add {v.shape[1]}-d vectors to a {self.space.dim}-d store.")
        check_finite(v, "document vectors")
        extra = {}
        for name, ev in (extra_vectors or {}).items():
            self.require("vector_fields", "upsert_vectors(extra_vectors=...)")
            ev = np.asarray(ev, dtype=np.float32)
            if name not in self.field_dims or ev.shape != (len(docs), self.field_dims[name]):
                raise InvalidParameterError(f"extra vectors {name!r} of shape {ev.shape} do not fit the store's fields {self.field_dims}.")
            extra[name] = check_finite(self._store_form(ev), f"{name} vectors")
        v = self._store_form(v)
        keep = last_wins(docs)
        self.delete([docs[i].id for i in keep])
        for i in keep.tolist():
            row, self.next_row = self.next_row, self.next_row + 1
            self.docs[row], self.vecs[row], self.row_of[str(docs[i].id)] = docs[i], v[i], row
            for name, ev in extra.items():
                self.fields[name][row] = ev[i]
        return [str(d.id) for d in docs]

    @writes
    def delete(self, ids: list[str] | None = None, **kwargs: Any) -> bool:
        for doc_id in list(self.row_of) if ids is None else [str(i) for i in ids]:
            row = self.row_of.pop(doc_id, None)
            if row is not None:
                del self.docs[row], self.vecs[row]
                self.labels.pop(row, None)
                for values in self.fields.values():
                    values.pop(row, None)
        return True

    # -- reading -----------------------------------------------------------------------------------

    @reads
    def all_rows(self) -> np.ndarray:
        return np.asarray(sorted(self.docs), dtype=np.int64)

    @reads
    def count(self) -> int:
        return len(self.docs)

    @reads
    def rows_of(self, ids: Sequence[str]) -> np.ndarray:
        return np.asarray([self.row_of.get(str(i), -1) for i in ids], dtype=np.int64)

    @reads
    def documents_at(self, rows: np.ndarray | Sequence[int]) -> list[Document]:
        return [self.docs[int(r)] for r in np.asarray(rows, dtype=np.int64).ravel()]

    @reads
    def vectors_at(self, rows: np.ndarray | Sequence[int], vector_field: str | None = None) -> np.ndarray:
        source = self.vecs if vector_field is None else self.fields[vector_field]
        dim = self.space.dim if vector_field is None else self.field_dims[vector_field]
        rows = np.asarray(rows, dtype=np.int64).ravel()
        return np.stack([source[int(r)] for r in rows]) if len(rows) else np.zeros((0, dim), np.float32)

    @reads
    def get_by_ids(self, ids: Sequence[str], /) -> list[Document]:
        return [self.docs[self.row_of[str(i)]] for i in ids if str(i) in self.row_of]

    # -- searching ---------------------------------------------------------------------------------

    @reads
    def _search(self, q: np.ndarray, k: int, request: SearchRequest) -> tuple[np.ndarray, np.ndarray]:
        field = request.vector_field
        q = self._store_form(q)
        rows = self.all_rows()
        if field is not None:  # rows without a value in the field are not in that field
            rows = rows[np.isin(rows, np.fromiter(self.fields[field], np.int64))]
        if len(rows) == 0:
            return empty_result(len(q), k)
        keep = evaluate_filter(request.filter, [self.docs[r].metadata for r in rows.tolist()])
        if request.candidate_rows is not None:
            keep &= np.isin(rows, request.candidate_rows)
        if request.clusters is not None:
            keep &= np.isin(self.cluster_labels(rows), np.asarray(request.clusters, dtype=np.int64))
        rows = rows[keep]
        if len(rows) == 0:
            return empty_result(len(q), k)
        return top_k(exact_scores(q, self.vectors_at(rows, field), self.metric), k, rows)

    @reads
    def index_bytes(self) -> int:
        """Bytes of the stored vectors (main and extra fields): what an exact scan reads."""
        return sum(v.nbytes for v in self.vecs.values()) + sum(v.nbytes for f in self.fields.values() for v in f.values())

    # -- capabilities ------------------------------------------------------------------------------

    @writes
    def set_cluster_labels(self, rows: np.ndarray, labels: np.ndarray) -> None:
        self.require("clusters", "set_cluster_labels")
        rows, labels = np.asarray(rows, dtype=np.int64), np.asarray(labels, dtype=np.int64)
        if rows.shape != labels.shape:
            raise InvalidParameterError(f"{len(rows)} rows but {len(labels)} labels: pass one label per row.")
        for r, lab in zip(rows.tolist(), labels.tolist()):
            if r not in self.docs:
                raise KeyError(r)
            self.labels[r] = lab

    @reads
    def cluster_labels(self, rows: np.ndarray) -> np.ndarray:
        """Label per row, ``-1`` for a row that has none."""
        self.require("clusters", "cluster_labels")
        return np.asarray([self.labels.get(int(r), -1) for r in np.asarray(rows).ravel()], dtype=np.int64)

    @property
    def vector_fields(self) -> dict[str, int]:
        return dict(self.field_dims) if "vector_fields" in self.capabilities else {}

    @writes
    def ensure_vector_field(self, name: str, dim: int) -> None:
        self.require("vector_fields", "ensure_vector_field")
        if self.field_dims.get(name, dim) != dim:
            raise DimensionMismatchError(f"Field {name!r} is {self.field_dims[name]}-d, not {dim}-d: pick another name.")
        self.field_dims.setdefault(name, int(dim))
        self.fields.setdefault(name, {})

    @writes
    def write_vector_field(self, name: str, rows: np.ndarray, vectors: np.ndarray) -> None:
        self.require("vector_fields", "write_vector_field")
        rows, v = np.asarray(rows, dtype=np.int64), np.asarray(vectors, dtype=np.float32)
        if name not in self.field_dims or v.shape != (len(rows), self.field_dims[name]):
            raise DimensionMismatchError(f"{v.shape} vectors do not fit field {name!r} ({self.field_dims.get(name)}-d) for {len(rows)} rows.")
        for r, vec in zip(rows.tolist(), self._store_form(check_finite(v, f"{name} vectors"))):
            if r not in self.docs:
                raise KeyError(r)
            self.fields[name][r] = vec
