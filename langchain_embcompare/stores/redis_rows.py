"""Rows on Redis: the protocol's int64 handles, and every read addressed by them.

One job: the bookkeeping that turns Redis keys into the store protocol's rows. A document's row is its
NUMERIC ``_row`` field, taken from the counter ``<index>:meta:next_row`` at first insert (inside the
one-round-trip upsert script, :data:`~.redis_io.UPSERT_LUA`) and kept when the document is updated; ``<index>:meta:rows`` (a HASH) maps row
-> id. Rows are never reused (the counter survives ``delete``), so a row seen once names one document
until it is deleted; every read checks the stored ``_row`` and raises ``KeyError`` for a stale row.

Two bounded in-process caches save round trips: the raw documents of the last ``search_rows`` replies (row ->
``(_id, content, _metadata)`` bytes, for ``documents_at`` right after ``search_rows``) and row -> id
(for ``vectors_at`` / ``INKEYS``). This module is the reading half of :class:`~.redis.RedisVectorStore`
(a mixin; :mod:`~.redis_write` writes); it uses the store's ``client``, ``spec``, ``_space``, ``_call``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import numpy as np
import redis
from langchain_core.documents import Document

from langchain_embcompare.errors import DimensionMismatchError, InvalidParameterError
from langchain_embcompare.matryoshka import check_finite
from langchain_embcompare.stores.base import normalize_rows
from langchain_embcompare.stores.redis_io import UPSERT_LUA, RawDoc, retrying
from langchain_embcompare.stores.redis_schema import (
    CLUSTER_FIELD,
    CONTENT_FIELD,
    ID_FIELD,
    METADATA_FIELD,
    ROW_FIELD,
    VECTOR_FIELD,
)

DOC_CACHE_SIZE = 65_536
"""Raw documents kept from search replies (oldest half dropped when full)."""
ID_CACHE_SIZE = 262_144
"""row -> id entries kept in process."""
_FETCH = [ROW_FIELD, ID_FIELD, CONTENT_FIELD, METADATA_FIELD]


def _trim(cache: dict, size: int) -> dict:
    if len(cache) > size:
        for key in list(cache)[: len(cache) // 2]:
            cache.pop(key, None)
    return cache


class RedisRowsMixin:
    """Row bookkeeping and row-addressed reads of :class:`~.redis.RedisVectorStore` (see the module docstring)."""

    client: redis.Redis
    redis_url: str
    batch_retries: int
    max_backoff: float

    def _init_rows(self) -> None:
        self._docs: dict[int, RawDoc] = {}
        self._ids: dict[int, str] = {}
        self._upsert_script = self.client.register_script(UPSERT_LUA)

    def _forget(self, rows: Sequence[int] | None = None) -> None:
        """Drop cached documents / ids (all of them, or those of ``rows``)."""
        if rows is None:
            self._docs.clear()
            self._ids.clear()
            return
        for r in rows:
            self._docs.pop(int(r), None)
            self._ids.pop(int(r), None)

    def _remember_docs(self) -> dict[int, RawDoc]:
        return _trim(self._docs, DOC_CACHE_SIZE)

    @property
    def rows_key(self) -> str:
        """HASH row -> document id."""
        return f"{self.spec.bookkeeping_prefix}rows"  # type: ignore[attr-defined]

    @property
    def counter_key(self) -> str:
        """The row counter (``INCRBY`` per batch)."""
        return f"{self.spec.bookkeeping_prefix}next_row"  # type: ignore[attr-defined]

    def _key(self, doc_id: str) -> str:
        return f"{self.spec.prefix}:{doc_id}"  # type: ignore[attr-defined]

    def _retrying(self, run: Any, start: int) -> Any:
        return retrying(
            self.redis_url, run, start, self.batch_retries, self.max_backoff,
            self.spec.index_name, self.spec.prefix,  # type: ignore[attr-defined]
        )

    def _field_dim(self, name: str | None) -> int:
        if name in (None, VECTOR_FIELD):
            return int(self._space.dim)  # type: ignore[attr-defined]
        if name not in self.spec.extra_vector_fields:  # type: ignore[attr-defined]
            raise InvalidParameterError(
                f"Vector field {name!r} is not in index {self.spec.index_name!r} (fields: "  # type: ignore[attr-defined]
                f"{[VECTOR_FIELD, *self.spec.extra_vector_fields]}); add it to RedisIndexSpec.extra_vector_fields "  # type: ignore[attr-defined]
                "or call ensure_vector_field(name, dim)."
            )
        return int(self.spec.extra_vector_fields[name])  # type: ignore[attr-defined]

    def _check_vectors(self, vectors: Any, n: int | None, name: str | None) -> np.ndarray:
        """(n, dim) float32 of field ``name``, finite; cosine fields stored unit length."""
        dim = self._field_dim(name)
        arr = np.asarray(vectors, dtype=np.float32)
        if arr.ndim != 2 or arr.shape[1] != dim:
            raise DimensionMismatchError(
                f"{name or VECTOR_FIELD!r} vectors have shape {arr.shape}; index {self.spec.index_name!r} (model "  # type: ignore[attr-defined]
                f"{self._space.model!r}) expects (n, {dim}). Embed with the index's embeddings or rebuild it at this dim."  # type: ignore[attr-defined]
            )
        if n is not None and arr.shape[0] != n:
            raise InvalidParameterError(f"{arr.shape[0]} {name or VECTOR_FIELD!r} vectors for {n} documents; pass one per document")
        arr = check_finite(arr, f"{name or VECTOR_FIELD!r} vectors")
        return normalize_rows(arr) if self.spec.metric == "cosine" else arr  # type: ignore[attr-defined]

    # ------------------------------------------------------------------ rows -> ids

    def _ids_of_rows(self, rows: np.ndarray, strict: bool = True) -> list[str | None]:
        """Ids of ``rows`` (cache first, then one HMGET of the row map); unknown rows -> ``KeyError``
        (``strict``) or ``None``."""
        out: list[str | None] = []
        missing: list[int] = []
        for r in rows.tolist():
            hit = self._ids.get(r)
            if hit is None and r in self._docs:
                hit = self._docs[r][0].decode()
            out.append(hit)
            if hit is None:
                missing.append(r)
        if missing:
            got = self._call(lambda: self.client.hmget(self.rows_key, missing))  # type: ignore[attr-defined]
            found = {r: g.decode() for r, g in zip(missing, got) if g is not None}
            self._ids.update(found)
            _trim(self._ids, ID_CACHE_SIZE)
            out = [o if o is not None else found.get(r) for o, r in zip(out, rows.tolist())]
            if strict and len(found) < len(set(missing)):
                bad = [r for r in missing if r not in found][:5]
                raise KeyError(f"rows {bad} are not in Redis index {self.spec.index_name!r} (deleted or never stored)")  # type: ignore[attr-defined]
        return out

    def _fetch(self, rows: np.ndarray, fields: list[str]) -> list[list[bytes | None]]:
        """HMGET ``_row`` + ``fields`` of ``rows`` in one pipeline; a stale row raises ``KeyError``."""
        ids = self._ids_of_rows(rows)

        def run() -> list[list[bytes | None]]:
            with self.client.pipeline(transaction=False) as pipe:
                for i in ids:
                    pipe.hmget(self._key(str(i)), [ROW_FIELD, *fields])
                return pipe.execute()

        got = self._call(run)  # type: ignore[attr-defined]
        stale = [r for r, g in zip(rows.tolist(), got) if g[0] is None or int(g[0]) != r]
        if stale:
            self._forget(stale)
            raise KeyError(f"rows {stale[:5]} are not in Redis index {self.spec.index_name!r} (deleted or updated elsewhere)")  # type: ignore[attr-defined]
        return [g[1:] for g in got]

    # ------------------------------------------------------------------ protocol reads

    def documents_at(self, rows: np.ndarray | Sequence[int]) -> list[Document]:
        """Documents of ``rows``, in order: from the last search replies when cached, else one pipelined
        fetch.

        Args:
            rows: 1-d int64 row handles.

        Returns:
            One ``Document`` per row.

        Raises:
            KeyError: a row that is not stored.
            StoreConnectionError: the server is unreachable.
        """
        r = np.asarray(rows, dtype=np.int64).ravel()
        raw: list[RawDoc | None] = [self._docs.get(x) for x in r.tolist()]
        miss = [j for j, d in enumerate(raw) if d is None]
        if miss:
            for j, got in zip(miss, self._fetch(r[miss], [ID_FIELD, CONTENT_FIELD, METADATA_FIELD])):
                raw[j] = (got[0], got[1], got[2])  # type: ignore[assignment]
        return [
            Document(id=d[0].decode(), page_content=d[1].decode(), metadata=json.loads(d[2]))  # type: ignore[index]
            for d in raw
        ]

    def vectors_at(self, rows: np.ndarray | Sequence[int], vector_field: str | None = None) -> np.ndarray:
        """The stored vectors of ``rows``, one pipelined round trip when the rows' ids are cached.

        Args:
            rows: (n,) int64 row handles.
            vector_field: an extra vector field, or ``None`` for the main vectors.

        Returns:
            (n, d) float32 (cosine: unit length).

        Raises:
            KeyError: a row that is not stored, or one without a ``vector_field`` vector yet.
            InvalidParameterError: ``vector_field`` is not in the index.
            StoreConnectionError: the server is unreachable.
        """
        dim = self._field_dim(vector_field)
        r = np.asarray(rows, dtype=np.int64).ravel()
        if len(r) == 0:
            return np.zeros((0, dim), dtype=np.float32)
        got = self._fetch(r, [vector_field or VECTOR_FIELD])
        if any(g[0] is None for g in got):
            raise KeyError(f"some rows have no {vector_field!r} vector yet; write it with write_vector_field")
        buf = np.frombuffer(b"".join(g[0] for g in got), dtype=self.spec.np_dtype)  # type: ignore[arg-type, attr-defined]
        return buf.reshape(len(r), dim).astype(np.float32)

    def all_rows(self) -> np.ndarray:
        """Every stored row (the keys of the row map).

        Returns:
            1-d int64, ascending.

        Raises:
            StoreConnectionError: the server is unreachable.
        """
        keys = self._call(lambda: self.client.hkeys(self.rows_key))  # type: ignore[attr-defined]
        return np.sort(np.asarray([int(k) for k in keys], dtype=np.int64))

    def rows_of(self, ids: Sequence[str]) -> np.ndarray:
        """The row of each id, one pipelined round trip.

        Args:
            ids: n document ids (a non-string id is looked up as its ``str``).

        Returns:
            (n,) int64 rows, ``-1`` for unknown ids.

        Raises:
            StoreConnectionError: the server is unreachable.
        """
        def run() -> list[bytes | None]:
            with self.client.pipeline(transaction=False) as pipe:
                for i in ids:
                    pipe.hget(self._key(str(i)), ROW_FIELD)
                return pipe.execute()

        got = self._call(run) if len(ids) else []  # type: ignore[attr-defined]
        return np.asarray([int(g) if g is not None else -1 for g in got], dtype=np.int64)

    def get_by_ids(self, ids: Sequence[str], /) -> list[Document]:
        """Stored documents of ``ids`` in order; unknown ids are skipped (LangChain's rule).

        Args:
            ids: document ids.

        Returns:
            The stored documents, in the order asked.

        Raises:
            StoreConnectionError: the server is unreachable.
        """
        def run() -> list[list[bytes | None]]:
            with self.client.pipeline(transaction=False) as pipe:
                for i in ids:
                    pipe.hmget(self._key(str(i)), [ID_FIELD, CONTENT_FIELD, METADATA_FIELD])
                return pipe.execute()

        got = self._call(run) if len(ids) else []  # type: ignore[attr-defined]
        return [
            Document(id=i.decode(), page_content=c.decode(), metadata=json.loads(m)) for i, c, m in got if i is not None
        ]

    # ------------------------------------------------------------------ capabilities

    def cluster_labels(self, rows: np.ndarray) -> np.ndarray:
        """The cluster label of each row.

        Args:
            rows: (n,) int64 row handles.

        Returns:
            (n,) int64 labels, ``-1`` where none was set.

        Raises:
            KeyError: a row that is not stored.
        """
        r = np.asarray(rows, dtype=np.int64).ravel()
        if len(r) == 0:
            return np.zeros(0, dtype=np.int64)
        got = self._fetch(r, [CLUSTER_FIELD])
        return np.asarray([int(g[0]) if g[0] is not None else -1 for g in got], dtype=np.int64)

    @property
    def vector_fields(self) -> dict[str, int]:
        """Extra vector fields ``{name: dim}`` of this index."""
        return dict(self.spec.extra_vector_fields)  # type: ignore[attr-defined]

    def field_index_kind(self, vector_field: str | None = None) -> str:
        """Every vector field of the index has the spec's algorithm.

        Args:
            vector_field: an extra vector field, or ``None`` for the main vectors (same answer).

        Returns:
            ``"flat"`` or ``"hnsw"``.
        """
        return str(self.spec.kind)  # type: ignore[attr-defined]

    # ------------------------------------------------------------------ older names (retrievers not yet ported)
