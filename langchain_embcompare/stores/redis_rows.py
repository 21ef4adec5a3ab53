"""Rows on Redis: the protocol's int64 handles, and every read and write addressed by them.

One job: the bookkeeping that turns Redis keys into the store protocol's rows. A document's row is its
NUMERIC ``_row`` field, taken from the counter ``<index>:meta:next_row`` (one ``INCRBY`` per written
batch) at first insert and kept when the document is updated; ``<index>:meta:rows`` (a HASH) maps row
-> id. Rows are never reused (the counter survives ``delete``), so a row seen once names one document
until it is deleted; every read checks the stored ``_row`` and raises ``KeyError`` for a stale row.

Two bounded in-process caches save round trips: the raw documents of the last search replies (row ->
``(_id, content, _metadata)`` bytes, for ``documents_at`` right after ``search_rows``) and row -> id
(for ``vectors_at`` / ``INKEYS``). This module is a mixin of :class:`~.redis.RedisVectorStore`; it
uses the store's ``client``, ``spec``, ``_space``, ``_call`` and ``redis_url``.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import redis
from langchain_core.documents import Document

from langchain_embcompare.errors import (
    DimensionMismatchError,
    EmptyInputError,
    InvalidParameterError,
    MissingCapabilityError,
)
from langchain_embcompare.matryoshka import check_finite
from langchain_embcompare.stores.base import last_wins, normalize_rows
from langchain_embcompare.stores.redis_io import RawDoc, retrying
from langchain_embcompare.stores.redis_schema import (
    CLUSTER_FIELD,
    CONTENT_FIELD,
    ID_FIELD,
    METADATA_FIELD,
    ROW_FIELD,
    VECTOR_FIELD,
    field_value,
)

DOC_CACHE_SIZE = 65_536
"""Raw documents kept from search replies (oldest half dropped when full)."""
ID_CACHE_SIZE = 262_144
"""row -> id entries kept in process."""
_FETCH = [ROW_FIELD, ID_FIELD, CONTENT_FIELD, METADATA_FIELD]


def _trim(cache: dict, size: int) -> dict:
    if len(cache) > size:
        for key in list(cache)[: len(cache) // 2]:
            del cache[key]
    return cache


class RedisRowsMixin:
    """Row-addressed reads and writes of :class:`~.redis.RedisVectorStore` (see the module docstring)."""

    client: redis.Redis
    redis_url: str
    batch_retries: int
    max_backoff: float

    def _init_rows(self) -> None:
        self._docs: dict[int, RawDoc] = {}
        self._ids: dict[int, str] = {}

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
        return retrying(self.redis_url, run, start, self.batch_retries, self.max_backoff)

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

    # ------------------------------------------------------------------ writing

    def upsert_vectors(
        self,
        vectors: np.ndarray,
        documents: Sequence[Document],
        *,
        extra_vectors: Mapping[str, np.ndarray] | None = None,
        cluster_ids: np.ndarray | Sequence[int] | None = None,
        skip_existing: bool = False,
        batch_size: int | None = None,
    ) -> list[str]:
        """Write (n, dim) float32 vectors + documents in pipelined, retried batches; returns every id
        passed, in order. A stored id is replaced (text, metadata, vector; its row is kept); an id named
        twice keeps the last one. ``extra_vectors``: ``{field: (n, d)}`` for the extra vector fields
        (default: the field's re-normalised Matryoshka prefix of ``vectors``); ``cluster_ids``: (n,) int
        labels for the ``cluster`` TAG; ``skip_existing``: leave stored ids untouched (resume);
        ``batch_size``: documents per pipeline (default ``spec.batch_size``). Raises
        ``EmptyInputError``, ``DimensionMismatchError``, ``InvalidVectorError``, ``InvalidParameterError``."""
        n = len(documents)
        if n == 0:
            raise EmptyInputError("upsert_vectors got no documents; pass at least one Document with its vector.")
        raw = np.asarray(vectors, dtype=np.float32)
        mats = {VECTOR_FIELD: self._check_vectors(raw, n, None)}
        given = dict(extra_vectors or {})
        for name, dim in self.spec.extra_vector_fields.items():  # type: ignore[attr-defined]
            small = given.pop(name, None)
            # Not given: the field's Matryoshka prefix of the main vector, re-normalised (the funnel's
            # shortlist field, queried with re-normalised prefixes whatever the metric).
            mats[name] = self._check_vectors(normalize_rows(raw[:, :dim]) if small is None else small, n, name)
        if given:
            self._field_dim(next(iter(given)))  # raises naming the unknown field
        clusters = None
        if cluster_ids is not None:
            clusters = np.asarray(cluster_ids)
            if clusters.shape != (n,):
                raise InvalidParameterError(f"cluster_ids has shape {clusters.shape}; expected ({n},), one per document")
        ids = [str(d.id or d.metadata.get("doc_id") or uuid.uuid4().hex) for d in documents]
        keep = np.arange(n) if len(set(ids)) == n else last_wins([Document(page_content="", id=i) for i in ids])
        dtype = self.spec.np_dtype  # type: ignore[attr-defined]
        mats = {name: m.astype(dtype, copy=False) for name, m in mats.items()}
        size = batch_size or self.spec.batch_size  # type: ignore[attr-defined]
        for start in range(0, len(keep), size):
            self._write_batch(keep[start : start + size], ids, documents, mats, clusters, skip_existing)
        return ids

    def _write_batch(
        self, pos: np.ndarray, ids: list[str], documents: Sequence[Document], mats: Mapping[str, np.ndarray],
        clusters: np.ndarray | None, skip_existing: bool,
    ) -> None:
        keys = [self._key(ids[i]) for i in pos]
        schema = self.spec.metadata_schema  # type: ignore[attr-defined]
        mappings = []
        for i in pos.tolist():
            doc = documents[i]
            mapping: dict[str, Any] = {
                ID_FIELD: ids[i], CONTENT_FIELD: doc.page_content, METADATA_FIELD: json.dumps(doc.metadata, default=str),
            }
            for name, mat in mats.items():
                mapping[name] = mat[i].tobytes()
            if clusters is not None:
                mapping[CLUSTER_FIELD] = str(int(clusters[i]))
            for name, kind in schema.items():
                if doc.metadata.get(name) is not None:
                    mapping[name] = field_value(doc.metadata[name], kind, name)
            mappings.append(mapping)

        def run() -> list[int]:
            # Round trip 1: the rows the keys already have, and fresh rows for the others.
            with self.client.pipeline(transaction=False) as pipe:
                for key in keys:
                    pipe.hget(key, ROW_FIELD)
                pipe.incrby(self.counter_key, len(keys))
                *old, top = pipe.execute()
            fresh = int(top) - len(keys)
            rows = [int(o) if o is not None else fresh + j for j, o in enumerate(old)]
            # Round trip 2: the documents and the row -> id map (HSET is idempotent: a rerun is harmless).
            with self.client.pipeline(transaction=False) as pipe:
                for j, key in enumerate(keys):
                    if skip_existing and old[j] is not None:
                        continue
                    pipe.hset(key, mapping={**mappings[j], ROW_FIELD: rows[j]})
                pipe.hset(self.rows_key, mapping={r: ids[i] for r, i in zip(rows, pos.tolist())})
                pipe.execute()
            return [r for r, o in zip(rows, old) if o is not None]

        updated = self._retrying(run, int(pos[0]))
        self._forget(updated)

    def delete(self, ids: list[str] | None = None, **kwargs: Any) -> bool | None:
        """Delete documents by id (unknown ids are not an error); ``ids=None`` deletes every document of
        the index, keeping the index. Returns True."""
        if ids is None:
            self._call(self.index.clear)  # type: ignore[attr-defined]
            self._call(lambda: self.client.delete(self.rows_key))  # type: ignore[attr-defined]
            self._forget()
            return True
        ids = [str(i) for i in ids]
        if not ids:
            return True
        rows = self.rows_of(ids)

        def run() -> None:
            with self.client.pipeline(transaction=False) as pipe:
                pipe.delete(*[self._key(i) for i in ids])
                known = [int(r) for r in rows if r >= 0]
                if known:
                    pipe.hdel(self.rows_key, *known)
                pipe.execute()

        self._retrying(run, 0)
        self._forget(rows[rows >= 0].tolist())
        return True

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
        fetch. ``KeyError`` for a row that is not stored."""
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
        """(n, d) float32 stored vectors of ``rows`` (cosine: unit length), one pipelined round trip
        when the rows' ids are cached. ``KeyError`` for a row that is not stored."""
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
        """Every stored row, ascending int64 (the keys of the row map)."""
        keys = self._call(lambda: self.client.hkeys(self.rows_key))  # type: ignore[attr-defined]
        return np.sort(np.asarray([int(k) for k in keys], dtype=np.int64))

    def rows_of(self, ids: Sequence[str]) -> np.ndarray:
        """int64 row per id (``-1`` for unknown ids), one pipelined round trip."""
        def run() -> list[bytes | None]:
            with self.client.pipeline(transaction=False) as pipe:
                for i in ids:
                    pipe.hget(self._key(str(i)), ROW_FIELD)
                return pipe.execute()

        got = self._call(run) if len(ids) else []  # type: ignore[attr-defined]
        return np.asarray([int(g) if g is not None else -1 for g in got], dtype=np.int64)

    def get_by_ids(self, ids: Sequence[str], /) -> list[Document]:
        """Stored documents of ``ids`` in order; unknown ids are skipped (LangChain's rule)."""
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

    def set_cluster_labels(self, rows: np.ndarray, labels: np.ndarray) -> None:
        """Set the ``cluster`` TAG of ``rows`` to ``labels`` ((n,) int), pipelined in batches; ``KeyError``
        for unknown rows."""
        r = np.asarray(rows, dtype=np.int64).ravel()
        lab = np.asarray(labels).ravel()
        if lab.shape != r.shape:
            raise InvalidParameterError(f"labels has shape {lab.shape}; expected {r.shape}, one per row")
        ids = self._ids_of_rows(r)
        self._hset_many(ids, CLUSTER_FIELD, [str(int(x)) for x in lab.tolist()])

    def cluster_labels(self, rows: np.ndarray) -> np.ndarray:
        """(n,) int64 cluster label of each row, ``-1`` where none was set; ``KeyError`` for unknown rows."""
        r = np.asarray(rows, dtype=np.int64).ravel()
        if len(r) == 0:
            return np.zeros(0, dtype=np.int64)
        got = self._fetch(r, [CLUSTER_FIELD])
        return np.asarray([int(g[0]) if g[0] is not None else -1 for g in got], dtype=np.int64)

    @property
    def vector_fields(self) -> dict[str, int]:
        """Extra vector fields ``{name: dim}`` of this index."""
        return dict(self.spec.extra_vector_fields)  # type: ignore[attr-defined]

    def ensure_vector_field(self, name: str, dim: int) -> None:
        """Make sure the extra vector field ``name`` of ``dim`` dimensions exists: declared in the spec, or
        added now with ``FT.ALTER ... SCHEMA ADD`` (recorded beside the index, so a reopen adopts it).
        Existing documents get the field when :meth:`write_vector_field` writes it. Raises
        ``DimensionMismatchError`` when it exists with another dim, ``MissingCapabilityError`` when the
        server cannot add a vector field (declare it in ``RedisIndexSpec.extra_vector_fields`` and rebuild)."""
        have = self.spec.extra_vector_fields.get(name) if name != VECTOR_FIELD else self._space.dim  # type: ignore[attr-defined]
        if have is not None:
            if int(have) != int(dim):
                raise DimensionMismatchError(
                    f"Vector field {name!r} of Redis index {self.spec.index_name!r} is {have}-d, not {dim}-d; "  # type: ignore[attr-defined]
                    "pick another field name or rebuild the index."
                )
            return
        spec = replace(self.spec, extra_vector_fields={**self.spec.extra_vector_fields, name: int(dim)})  # type: ignore[attr-defined]
        attrs = spec.vector_attrs(int(dim))
        args = ["TYPE", attrs["datatype"].upper(), "DIM", int(dim), "DISTANCE_METRIC", attrs["distance_metric"].upper()]
        if spec.kind == "hnsw":
            args += ["M", spec.m, "EF_CONSTRUCTION", spec.ef_construction]
        try:
            self._call(lambda: self.client.execute_command(
                "FT.ALTER", spec.index_name, "SCHEMA", "ADD", name, "VECTOR", spec.kind.upper(), len(args), *args
            ))
        except redis.exceptions.ResponseError as exc:
            raise MissingCapabilityError(
                f"This Redis server cannot add the vector field {name!r} to index {spec.index_name!r} ({exc}). "
                f"Declare it up front: RedisIndexSpec(extra_vector_fields={{{name!r}: {int(dim)}}}) and rebuild."
            ) from exc
        self._set_spec(spec)  # type: ignore[attr-defined]
        self._write_meta()  # type: ignore[attr-defined]

    def write_vector_field(self, name: str, rows: np.ndarray, vectors: np.ndarray) -> None:
        """Write (n, d) float32 ``vectors`` into the extra field ``name`` of ``rows`` (cosine: stored unit
        length), pipelined in retried batches. ``KeyError`` for unknown rows."""
        if name not in self.vector_fields:
            self._field_dim(name)  # raises naming the fix
        r = np.asarray(rows, dtype=np.int64).ravel()
        v = self._check_vectors(vectors, len(r), name).astype(self.spec.np_dtype, copy=False)  # type: ignore[attr-defined]
        self._hset_many(self._ids_of_rows(r), name, [v[j].tobytes() for j in range(len(r))])

    def _hset_many(self, ids: Sequence[str | None], field: str, values: Sequence[Any]) -> None:
        size = self.spec.batch_size  # type: ignore[attr-defined]
        for start in range(0, len(ids), size):
            def run(start: int = start) -> None:
                with self.client.pipeline(transaction=False) as pipe:
                    for i, val in zip(ids[start : start + size], values[start : start + size]):
                        pipe.hset(self._key(str(i)), field, val)
                    pipe.execute()

            self._retrying(run, start)

    # ------------------------------------------------------------------ older names (retrievers not yet ported)

    def fetch_vectors(self, ids: Sequence[str], vector_field: str = VECTOR_FIELD) -> np.ndarray:
        """Deprecated: :meth:`vectors_at` of :meth:`rows_of`. (n, d) float32 stored vectors of ``ids``;
        ``InvalidParameterError`` naming ids that are not stored."""
        rows = self.rows_of(list(ids))
        if (rows < 0).any():
            missing = [str(i) for i, r in zip(ids, rows.tolist()) if r < 0]
            raise InvalidParameterError(
                f"{len(missing)} ids are not in index {self.spec.index_name!r} (e.g. {missing[:5]}); add them first."  # type: ignore[attr-defined]
            )
        return self.vectors_at(rows, None if vector_field == VECTOR_FIELD else vector_field)

    def set_clusters(self, ids: Sequence[str], cluster_ids: np.ndarray | Sequence[int]) -> None:
        """Deprecated: :meth:`set_cluster_labels` by id. Sets the ``cluster`` TAG of stored documents."""
        cl = np.asarray(cluster_ids)
        if cl.shape != (len(ids),):
            raise InvalidParameterError(f"cluster_ids has shape {cl.shape}; expected ({len(ids)},), one per id")
        self._hset_many(list(ids), CLUSTER_FIELD, [str(int(c)) for c in cl.tolist()])
