"""Writes on Redis: upserts in pipelined, retried batches, deletes, cluster labels and vector fields.

One job: every write of :class:`~.redis.RedisVectorStore` (a mixin of it, on top of
:class:`~.redis_rows.RedisRowsMixin`'s row bookkeeping). An upsert takes one round trip per batch: the
server-side script :data:`~.redis_io.UPSERT_LUA` writes the documents, gives new ones a row from the
counter, keeps stored ones' rows and fills the row -> id map, atomically. A batch whose connection
drops (or whose server restarts) is rerun whole after an exponential backoff (a rerun finds the rows
it gave and keeps them), and a crashed ingest resumes with ``skip_existing=True`` (which needs stable
ids: see :meth:`RedisWriteMixin.add_documents`).
"""

from __future__ import annotations

import json
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
from langchain_embcompare.stores.base import last_wins, normalize_rows, prepare_documents
from langchain_embcompare.stores.redis_rows import RedisRowsMixin
from langchain_embcompare.stores.redis_schema import (
    CLUSTER_FIELD,
    CONTENT_FIELD,
    ID_FIELD,
    METADATA_FIELD,
    VECTOR_FIELD,
    field_value,
)


class RedisWriteMixin(RedisRowsMixin):
    """Writes of :class:`~.redis.RedisVectorStore` (see the module docstring)."""

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
        """Write vectors + documents in retried batches (one script call each). A stored id is replaced
        (text, metadata, vector; its row is kept); an id named twice keeps the last one.

        Args:
            vectors: (n, dim) float32, one per document.
            documents: n documents; ids by the id rule (:func:`prepare_documents`).
            extra_vectors: ``{field: (n, d)}`` float32 for the extra vector fields (default: the field's
                re-normalised Matryoshka prefix of ``vectors``).
            cluster_ids: (n,) int labels for the ``cluster`` TAG.
            skip_existing: leave stored ids untouched (resume).
            batch_size: documents per batch (default ``spec.batch_size``).

        Returns:
            Every id passed, in order.

        Raises:
            EmptyInputError: no documents.
            DimensionMismatchError: vectors of the wrong width.
            InvalidVectorError: a NaN or infinite component.
            InvalidParameterError: counts that disagree, an unknown extra field, or a tag holding the
                separator character.
            InvalidDocumentError: a document breaking an input rule.
            StoreConnectionError: the server stayed unreachable through every batch retry.
        """
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
        documents = prepare_documents(documents)  # the id rule and the input rules, as on every store
        ids = [str(d.id) for d in documents]
        keep = np.arange(n) if len(set(ids)) == n else last_wins(documents)
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
                ID_FIELD: ids[i], CONTENT_FIELD: doc.page_content, METADATA_FIELD: json.dumps(doc.metadata),
            }
            for name, mat in mats.items():
                mapping[name] = mat[i].tobytes()
            if clusters is not None:
                mapping[CLUSTER_FIELD] = str(int(clusters[i]))
            for name, kind in schema.items():
                value = None if doc.metadata.get(name) is None else field_value(doc.metadata[name], kind, name)
                if value is not None:  # a numeric field whose value is no number is left out (never matches)
                    mapping[name] = value
            mappings.append(mapping)

        args: list[Any] = ["1" if skip_existing else "0"]
        for i, mapping in zip(pos.tolist(), mappings):
            args += [ids[i], len(mapping)]
            for kv in mapping.items():
                args += kv

        def run() -> list[int]:
            got = self._upsert_script(keys=[*keys, self.counter_key, self.rows_key], args=args, client=self.client)
            return [int(r) for r in got]

        updated = self._retrying(run, int(pos[0]))
        self._forget(updated)

    def delete(self, ids: list[str] | None = None, **kwargs: Any) -> bool | None:
        """Delete documents by id (unknown ids are not an error); ``ids=None`` deletes every document of
        the index, keeping the index.

        Args:
            ids: the ids to delete; ``None`` deletes every document.
            **kwargs: ignored (LangChain's signature).

        Returns:
            ``True``.

        Raises:
            StoreConnectionError: the server stayed unreachable.
        """
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

    # ------------------------------------------------------------------ capabilities (writes)

    def set_cluster_labels(self, rows: np.ndarray, labels: np.ndarray) -> None:
        """Set the ``cluster`` TAG of ``rows`` to ``labels``, pipelined in batches.

        Args:
            rows: (n,) int64 row handles.
            labels: (n,) int cluster labels, one per row.

        Raises:
            InvalidParameterError: ``labels`` is not one per row.
            KeyError: a row that is not stored.
        """
        r = np.asarray(rows, dtype=np.int64).ravel()
        lab = np.asarray(labels).ravel()
        if lab.shape != r.shape:
            raise InvalidParameterError(f"labels has shape {lab.shape}; expected {r.shape}, one per row")
        ids = self._ids_of_rows(r)
        self._hset_many(ids, CLUSTER_FIELD, [str(int(x)) for x in lab.tolist()])

    def ensure_vector_field(self, name: str, dim: int) -> None:
        """Make sure the extra vector field ``name`` of ``dim`` dimensions exists: declared in the spec, or
        added now with ``FT.ALTER ... SCHEMA ADD`` (recorded beside the index, so a reopen adopts it).
        Existing documents get the field when :meth:`write_vector_field` writes it.

        Args:
            name: the field name.
            dim: the field's width (float components).

        Raises:
            DimensionMismatchError: the field exists with another dim.
            MissingCapabilityError: the server cannot add a vector field (declare it in
                ``RedisIndexSpec.extra_vector_fields`` and rebuild).
            StoreTimeoutError: the index's rescan after ``FT.ALTER`` does not finish in time.
        """
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
        self.wait_until_indexed()  # type: ignore[attr-defined]  # FT.ALTER rescans: no write may race it
        self._write_meta()  # type: ignore[attr-defined]

    def write_vector_field(self, name: str, rows: np.ndarray, vectors: np.ndarray) -> None:
        """Write ``vectors`` into the extra field ``name`` of ``rows`` (cosine: stored unit length),
        pipelined in retried batches.

        Args:
            name: an extra vector field of the index.
            rows: (n,) int64 row handles.
            vectors: (n, d) float32.

        Raises:
            InvalidParameterError: an unknown field, or a vector count that is not ``len(rows)``.
            DimensionMismatchError: vectors of the wrong width.
            InvalidVectorError: a NaN or infinite component.
            KeyError: a row that is not stored.
        """
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

    # ------------------------------------------------------------------ older name (retrievers not yet ported)
