"""Searching Redis: KNN queries (filters, clusters, candidate rows, extra vector fields) to the protocol's
``(scores, rows)`` arrays.

One job: build the ``FT.SEARCH`` KNN query once per query shape (redisvl renders it; the arguments are
cached, only the vector changes), send the query vectors in pipelined batches, and parse the replies
into (m, k) arrays, keeping each hit's document for :meth:`documents_at`. A filter is translated by
:func:`~.redis_schema.filter_query` from the parsed filter tree every store reads. A mixin of
:class:`~.redis.RedisVectorStore`, on top of its writes and row bookkeeping.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import numpy as np
from langchain_core.documents import Document
from redisvl.query import VectorQuery
from redisvl.query.filter import FilterExpression

from langchain_embcompare.errors import InvalidParameterError
from langchain_embcompare.filters import Filter, as_expression, matches_nothing
from langchain_embcompare.stores.base import EmbStore, as_query_matrix, empty_result
from langchain_embcompare.stores.redis_io import parse_search_replies
from langchain_embcompare.stores.redis_schema import (
    CLUSTER_FIELD,
    CONTENT_FIELD,
    ID_FIELD,
    METADATA_FIELD,
    ROW_FIELD,
    VECTOR_FIELD,
    escape_tag,
    filter_query,
)
from langchain_embcompare.stores.redis_write import RedisWriteMixin


class RedisSearchMixin(RedisWriteMixin):
    """KNN search of :class:`~.redis.RedisVectorStore` (see the module docstring)."""

    def _filter_string(self, filter: Filter | str, clusters: Sequence[int] | None) -> str | None:
        parts: list[str] = []
        if filter is not None:
            q = filter_query(filter, self.spec.field_types())
            if q is not None:
                parts.append(q)
        if clusters is not None:
            parts.append("@%s:{%s}" % (CLUSTER_FIELD, "|".join(escape_tag(str(int(c))) for c in clusters)))
        if not parts:
            return None
        return parts[0] if len(parts) == 1 else "(" + " ".join(parts) + ")"

    def search_rows(
        self,
        query_vectors: np.ndarray,
        k: int,
        *,
        filter: Filter | str = None,
        candidate_rows: np.ndarray | Sequence[int] | None = None,
        clusters: Sequence[int] | None = None,
        vector_field: str | None = None,
        ef_search: int | None = None,
        ef_runtime: int | None = None,
        batch_size: int = 50,
        **kwargs: Any,
    ) -> tuple[np.ndarray, np.ndarray]:
        """KNN per query vector (one pipelined round trip per ``batch_size`` queries) -> ``(scores, rows)``
        (m, k) float32 / int64, best first, padded ``-inf`` / ``-1`` (protocol in stores/base.py).

        ``filter`` (and ``clusters``, the ``cluster`` TAG) prefilter the KNN; ``candidate_rows`` restricts
        to those rows (``INKEYS``); ``vector_field`` searches an extra vector field (``"vector"`` is the
        main one). ``ef_search`` (alias ``ef_runtime``): HNSW candidates for this call. A filter that
        matches nothing (``$in: []``), ``clusters=[]`` or empty ``candidate_rows`` return all padding
        without a query. Raises ``InvalidParameterError`` (k <= 0, unknown option), ``DimensionMismatchError``.
        """
        if kwargs:
            raise InvalidParameterError(f"search_rows got unknown options {sorted(kwargs)}")
        if not isinstance(k, (int, np.integer)) or k <= 0:
            raise InvalidParameterError(f"k={k} must be a positive integer")
        k = int(k)
        field = None if vector_field in (None, VECTOR_FIELD) else vector_field
        self.check_search_args(candidate_rows, clusters, field)
        dim = self._space.dim if field is None else self.spec.extra_vector_fields[field]
        q = as_query_matrix(query_vectors, dim, f"Redis index {self.spec.index_name!r} field {field or VECTOR_FIELD!r}")
        m = len(q)
        if not isinstance(filter, str) and matches_nothing(as_expression(filter)):
            return empty_result(m, k)
        if clusters is not None and len(clusters) == 0:
            return empty_result(m, k)
        keys = None
        if candidate_rows is not None:
            ids = self._ids_of_rows(np.asarray(candidate_rows, dtype=np.int64).ravel(), strict=False)
            keys = [self._key(i) for i in ids if i is not None]
            if not keys:
                return empty_result(m, k)
        expr = self._filter_string(filter, clusters)
        ef = ef_search or ef_runtime or (self.spec.ef_search if self.spec.kind == "hnsw" else None)
        head, params = self._query_template(q[0], k, expr, keys, field or VECTOR_FIELD, ef)
        q = q.astype(self._dtype, copy=False)
        flat = [x for kv in params.items() for x in kv]
        vi = flat.index(VectorQuery.VECTOR_PARAM) + 1

        def args_for(row: np.ndarray) -> list[Any]:
            flat[vi] = row.tobytes()
            return [*head, "PARAMS", len(flat), *flat]

        def run() -> list[Any]:
            if m == 1:
                return [self.client.execute_command("FT.SEARCH", *args_for(q[0]))]
            replies: list[Any] = []
            for start in range(0, m, batch_size):
                with self.client.pipeline(transaction=False) as pipe:
                    for row in q[start : start + batch_size]:
                        pipe.execute_command("FT.SEARCH", *args_for(row))
                    replies.extend(pipe.execute())
            return replies

        replies = self._call(run)
        return parse_search_replies(replies, k, self.spec.metric, self._remember_docs())

    def hits(self, scores: np.ndarray, rows: np.ndarray) -> list[list[tuple[Document, float]]]:
        """:meth:`EmbStore.hits` (per query a list of (Document, score), padding dropped), built straight
        from the documents the search replies carried (the hot path of ``similarity_search``); rows not
        cached go through :meth:`documents_at`."""
        cache, memo = self._docs, {}
        out = []
        for srow, rrow in zip(scores.tolist(), rows.tolist()):
            hits = []
            for score, row in zip(srow, rrow):
                if row < 0:
                    continue
                doc = memo.get(row)
                if doc is None:
                    raw = cache.get(row)
                    if raw is None:
                        return EmbStore.hits(self, scores, rows)  # type: ignore[arg-type]
                    doc = memo[row] = Document(id=raw[0].decode(), page_content=raw[1].decode(), metadata=json.loads(raw[2]))
                hits.append((doc, score))
            out.append(hits)
        return out

    def _query_template(
        self, row: np.ndarray, k: int, expr: str | None, keys: list[str] | None, vector_field: str, ef: int | None
    ) -> tuple[list[Any], dict[str, Any]]:
        """FT.SEARCH arguments built by redisvl (filter, KNN, EF_RUNTIME, INKEYS), cached per query shape:
        only the vector changes from one query to the next."""
        cache_key = None if keys is not None else (k, expr, vector_field, ef)
        hit = self._templates.get(cache_key) if cache_key is not None else None
        if hit is None:
            template = VectorQuery(
                row.astype(self._dtype).tobytes(),
                vector_field,
                return_fields=[ROW_FIELD, ID_FIELD, CONTENT_FIELD, METADATA_FIELD],
                filter_expression=None if expr is None else FilterExpression(expr),
                dtype=self.spec.dtype,
                num_results=k,
                ef_runtime=ef,
            )
            if keys is not None:
                template.limit_ids(*keys)
            hit = ([self.spec.index_name, *template.get_args()], dict(template.params))
            if cache_key is not None:
                if len(self._templates) >= 256:
                    self._templates.clear()
                self._templates[cache_key] = hit
        return hit[0], hit[1]
