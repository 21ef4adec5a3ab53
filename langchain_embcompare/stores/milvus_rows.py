"""Rows on Milvus: the protocol's int64 row handles, and every read addressed by them.

One job: name each document's row and read documents, vectors and ids back by row. A row is a 63-bit
hash of the document id (:func:`~langchain_embcompare.stores.ops.row_handles`), stored in the INT64 ``row`` field (INVERTED index), so
reads are ``row in [...]`` queries in chunks of :data:`CHUNK`; a row that is not stored raises
``KeyError``. Whole-collection scans use a query iterator on a server and one sized query on Milvus
Lite (:func:`is_lite`). The reading base of :class:`~.milvus.MilvusVectorStore` (a mixin;
:mod:`~.milvus_write` writes, :mod:`~.milvus_search` searches); it uses the store's ``client``,
``spec``, ``uri``, ``call_timeout`` and ``_space``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from langchain_core.documents import Document

from langchain_embcompare.errors import InvalidParameterError
from langchain_embcompare.matryoshka import VectorSpace
from langchain_embcompare.stores.milvus_schema import (
    ID_FIELD,
    METADATA_FIELD,
    ROW_FIELD,
    TEXT_FIELD,
    VECTOR_FIELD,
    MilvusIndexSpec,
    int_list,
)
from langchain_embcompare.stores.milvus_version import MilvusFeatures
from langchain_embcompare.stores.ops import row_handles

__all__ = ["CHUNK", "DOC_FIELDS", "MilvusRowsMixin", "is_lite", "to_document"]

CHUNK = 4096  # rows per `row in [...]` query (well under Milvus's 16384 result limit)
DOC_FIELDS = [ID_FIELD, ROW_FIELD, TEXT_FIELD, METADATA_FIELD]


def is_lite(uri: str) -> bool:
    """True when ``uri`` names a Milvus Lite file (no scheme), False for ``http(s)://`` / ``tcp://`` servers.

    Args:
        uri: a Milvus URI or file path.

    Returns:
        Whether it is a Milvus Lite file.
    """
    return "://" not in uri


def to_document(r: Mapping[str, Any]) -> Document:
    """The ``Document`` of an entity holding :data:`DOC_FIELDS`.

    Args:
        r: one entity of a Milvus query result.

    Returns:
        The document with its id, text and metadata.
    """
    return Document(id=r[ID_FIELD], page_content=r[TEXT_FIELD], metadata=dict(r[METADATA_FIELD] or {}))


class MilvusRowsMixin:
    """Row-addressed reads of :class:`~.milvus.MilvusVectorStore` (see the module docstring)."""

    client: Any
    spec: MilvusIndexSpec
    metric: str
    uri: str
    call_timeout: float | None
    _space: VectorSpace
    features: MilvusFeatures  # what the server can do (milvus_version)
    typed_columns: dict[str, str]  # the metadata_schema columns the collection really has (none before Milvus 2.5)

    @property
    def name(self) -> str:
        """The collection's name (``spec.collection_name``)."""
        return self.spec.collection_name

    def _field_dim(self, field: str | None) -> tuple[str, int]:
        if field is None or field == VECTOR_FIELD:
            return VECTOR_FIELD, self._space.dim
        if field not in self.spec.extra_vector_fields:
            raise InvalidParameterError(
                f"Vector field {field!r} is not in Milvus collection {self.name!r} (extra fields: "
                f"{sorted(self.spec.extra_vector_fields)}); declare it with MilvusIndexSpec(extra_vector_fields={{{field!r}: dim}})."
            )
        return field, self.spec.extra_vector_fields[field]

    def _query_rows(self, rows: np.ndarray | Sequence[int], fields: list[str]) -> list[dict[str, Any]]:
        rows = np.asarray(rows, dtype=np.int64)
        out: list[dict[str, Any]] = []
        for start in range(0, len(rows), CHUNK):
            chunk = rows[start : start + CHUNK]
            out.extend(self.client.query(self.name, filter=f"{ROW_FIELD} in {int_list(chunk)}", output_fields=fields,
                                         timeout=self.call_timeout))
        return out

    def _by_row(self, rows: np.ndarray | Sequence[int], fields: list[str]) -> tuple[np.ndarray, dict[int, dict[str, Any]]]:
        rows = np.asarray(rows, dtype=np.int64).reshape(-1)
        got = {int(r[ROW_FIELD]): r for r in self._query_rows(np.unique(rows), fields)}
        missing = [int(r) for r in rows.tolist() if r not in got]
        if missing:
            raise KeyError(f"Rows {missing[:10]} are not in Milvus collection {self.name!r} (deleted or updated since?).")
        return rows, got

    def documents_at(self, rows: np.ndarray | Sequence[int]) -> list[Document]:
        """The documents of ``rows``, in order, read by ``row in [...]`` queries of :data:`CHUNK` rows.

        Args:
            rows: 1-d int64 row handles (63-bit id hashes, :func:`~langchain_embcompare.stores.ops.row_handles`).

        Returns:
            One ``Document`` per row (a row asked twice comes twice).

        Raises:
            KeyError: a row that is not stored.
        """
        rows, got = self._by_row(rows, DOC_FIELDS)
        return [to_document(got[r]) for r in rows.tolist()]

    def vectors_at(self, rows: np.ndarray | Sequence[int], vector_field: str | None = None) -> np.ndarray:
        """The stored vectors of ``rows``.

        Args:
            rows: (n,) int64 row handles.
            vector_field: an extra vector field, or ``None`` for the main vectors.

        Returns:
            (n, d) float32 (unit length for cosine).

        Raises:
            KeyError: a row that is not stored.
            InvalidParameterError: ``vector_field`` is not declared in the spec.
        """
        name, dim = self._field_dim(vector_field)
        rows, got = self._by_row(rows, [ROW_FIELD, name])
        if len(rows) == 0:
            return np.zeros((0, dim), dtype=np.float32)
        return np.asarray([got[r][name] for r in rows.tolist()], dtype=np.float32).reshape(len(rows), dim)

    def _scan(self, fields: list[str], expr: str = f"{ROW_FIELD} >= 0") -> list[dict[str, Any]]:
        """Every entity matching ``expr``: on a server a query iterator (no result-size limit); Milvus Lite
        has no iterator timestamps and no result cap, so one query with ``limit = count``."""
        if is_lite(self.uri):
            n = self.count()
            if n == 0:
                return []
            return list(self.client.query(self.name, filter=expr, output_fields=fields, limit=n, timeout=self.call_timeout))
        it = self.client.query_iterator(self.name, batch_size=CHUNK, filter=expr, output_fields=fields, timeout=self.call_timeout)
        out: list[dict[str, Any]] = []
        try:
            while batch := it.next():
                out.extend(batch)
        finally:
            it.close()
        return out

    def all_rows(self) -> np.ndarray:
        """Every stored row.

        Returns:
            1-d int64, ascending.
        """
        return np.sort(np.fromiter((r[ROW_FIELD] for r in self._scan([ROW_FIELD])), dtype=np.int64))

    def count(self) -> int:
        """Number of stored documents (``count(*)``).

        Returns:
            The document count.
        """
        res = self.client.query(self.name, filter="", output_fields=["count(*)"], timeout=self.call_timeout)
        return int(res[0]["count(*)"])

    def rows_of(self, ids: Sequence[str]) -> np.ndarray:
        """The row of each id.

        Args:
            ids: n document ids.

        Returns:
            (n,) int64 rows, ``-1`` for ids not stored.
        """
        ids = [str(i) for i in ids]
        if not ids:
            return np.zeros(0, dtype=np.int64)
        rows = row_handles(ids)
        got = {(r[ID_FIELD], int(r[ROW_FIELD])) for r in self._query_rows(np.unique(rows), [ID_FIELD, ROW_FIELD])}
        return np.asarray([r if (i, r) in got else -1 for i, r in zip(ids, rows.tolist())], dtype=np.int64)

    def get_by_ids(self, ids: Sequence[str], /) -> list[Document]:
        """Stored documents of ``ids`` in the order given (an id asked twice comes twice, as on every
        store); unknown ids skipped (LangChain's rule). Looked up by row handle (``row in [...]``) and
        matched on the exact id in process: no id is ever written into a Milvus expression, so quotes,
        backslashes and control characters in ids need no escaping.

        Args:
            ids: document ids (a non-string id is looked up as its ``str``).

        Returns:
            The stored documents, in the order asked.
        """
        ids = [str(i) for i in ids]
        if not ids:
            return []
        got = {r[ID_FIELD]: to_document(r) for r in self._query_rows(np.unique(row_handles(ids)), DOC_FIELDS)}
        return [got[i] for i in ids if i in got]
