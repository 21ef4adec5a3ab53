"""Bulk load into FAISS: :class:`LazyDocuments` (Documents made on access from ids) and
:func:`faiss_store_from_vectors` (a FAISS store filled from a vector table in one batch, no per-row
Python work).

Part of :mod:`langchain_embcompare.precomputed`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from langchain_embcompare.errors import (
    InvalidParameterError,
)
from langchain_embcompare.precomputed.embeddings import PrecomputedEmbeddings
from langchain_embcompare.precomputed.readers import load_vectors
from langchain_embcompare.precomputed.tables import VectorTable

# --------------------------------------------------------------------------- bulk load into FAISS


class LazyDocuments(Sequence):
    """Documents made on access from ids (and optional texts): a million-row table needs no million
    ``Document`` objects up front, only the ones a search returns. ``extend`` (a later ``upsert_vectors``)
    appends real Documents after the lazy rows."""

    def __init__(self, ids: Sequence[str], texts: Sequence[str] | None = None) -> None:
        self._ids = ids
        self._texts = texts
        self._extra: list[Any] = []

    def _make(self, i: int) -> Any:
        from langchain_core.documents import Document

        doc_id = str(self._ids[i])
        text = "" if self._texts is None else str(self._texts[i])
        return Document(page_content=text, metadata={"doc_id": doc_id}, id=doc_id)

    def __len__(self) -> int:
        return len(self._ids) + len(self._extra)

    def __getitem__(self, i: Any) -> Any:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        n = len(self._ids)
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError(i)
        return self._make(i) if i < n else self._extra[i - n]

    def extend(self, docs: Sequence[Any]) -> None:
        self._extra.extend(docs)


def faiss_store_from_vectors(
    vectors: VectorTable | str | Path,
    column: str | None = None,
    *,
    spec: Any = None,
    texts: Sequence[str] | None = None,
    query_vectors: np.ndarray | None = None,
    query_ids: Sequence[str] | None = None,
    id_column: str | None = None,
    normalize: bool = False,
    dim: int | None = None,
    precision: str = "float32",
) -> Any:
    """A :class:`~langchain_embcompare.stores.faiss.FaissVectorStore` filled from a vector table in one batch.

    The table's matrix goes to faiss as it is (no per-row Python work, no copy when no truncation is
    asked); documents are :class:`LazyDocuments` (id, optional text) made only when a search returns
    them. Search results and scores equal those of ``store.upsert_vectors(vectors, documents)`` (tested).
    ``dim`` truncates (+ renormalises) as ``MatryoshkaEmbeddings(dim=...)`` does; ``spec`` is a
    ``FaissIndexSpec`` (default flat, cosine); ``precision`` float32 | int8 | binary. Queries embed through ``query_vectors``/``query_ids`` when
    given (else query text lookups fail with :class:`MissingVectorError`; search by vector instead).
    """
    from langchain_embcompare.matryoshka import MatryoshkaEmbeddings, normalize_rows
    from langchain_embcompare.stores.faiss import FaissIndexSpec, FaissVectorStore

    table = vectors if isinstance(vectors, VectorTable) else load_vectors(
        vectors, id_column=id_column, vector_columns=[column] if column else None, normalize=normalize
    )
    if column is None:
        if len(table.columns) != 1:
            raise InvalidParameterError(f"{table.source} has vector columns {sorted(table.columns)}: name one (column=).")
        column = next(iter(table.columns))
    matrix = table.column(column)
    if table.kinds is not None:
        raise InvalidParameterError(f"{table.source} has a kind column: build the store from document rows only.")
    row_of = table.row_of()
    emb = PrecomputedEmbeddings(
        matrix, document_keys=row_of, query_vectors=query_vectors, query_ids=query_ids, model_id=f"precomputed:{column}",
        source=table.source, validate=False,
    )
    store = FaissVectorStore(MatryoshkaEmbeddings(emb, dim, precision=precision), spec or FaissIndexSpec())
    # unit length was checked at load (what upsert_vectors' cosine renormalisation gives, to float rounding)
    vecs = matrix if dim is None else normalize_rows(np.ascontiguousarray(matrix[:, :dim]), "truncated vectors")
    store.bulk_load(vecs, LazyDocuments(table.ids, texts), [str(i) for i in table.ids], normalized=True)
    return store
