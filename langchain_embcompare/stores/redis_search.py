"""Searching Redis: KNN queries (filters, clusters, candidate rows, extra vector fields) to the protocol's
``(scores, rows)`` arrays.

One job: build the ``FT.SEARCH`` KNN query once per query shape (redisvl renders it; the arguments are
cached, already encoded, only the vector changes), send the query vectors in pipelined batches, and
parse the replies: into (m, k) arrays for :meth:`search_rows`, keeping each hit's document for
:meth:`documents_at`; straight into (Document, score) hits for :meth:`search_vectors` (no ``_row`` on
the wire, no arrays in between: the LangChain hot path, measured against raw redis-py by
benchmarks/bench_redis.py). The checks every store shares run first (:meth:`EmbStore.search_request`). A filter is translated by
:func:`~.redis_schema.filter_query` from the parsed filter tree every store reads. A mixin of
:class:`~.redis.RedisVectorStore`, on top of its writes and row bookkeeping.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
from langchain_core.documents import Document
from redisvl.query import VectorQuery
from redisvl.query.filter import FilterExpression

from langchain_embcompare.filters import NOTHING, Filter, FilterTree, filter_tree
from langchain_embcompare.stores.base import EmbStore, SearchRequest, empty_result
from langchain_embcompare.stores.redis_io import (
    HIT_FIELDS,
    RETURN_FIELDS,
    check_complete,
    parse_search_replies,
    raw_document,
    replies_to_hits,
    timeout_args,
)
from langchain_embcompare.stores.redis_schema import (
    CLUSTER_FIELD,
    ROW_FIELD,
    VECTOR_FIELD,
    escape_tag,
    filter_query,
)
from langchain_embcompare.stores.redis_write import RedisWriteMixin


class RedisSearchMixin(RedisWriteMixin):
    """KNN search of :class:`~.redis.RedisVectorStore` (see the module docstring)."""

    def _filter_string(self, tree: FilterTree | None, clusters: Sequence[int] | None) -> str | None:
        parts: list[str] = []
        if tree is not None:
            q = filter_query(tree, self.spec.field_types())
            if q is not None:
                parts.append(q)
        if clusters is not None:
            parts.append("@%s:{%s}" % (CLUSTER_FIELD, "|".join(escape_tag(str(int(c))) for c in clusters)))
        if not parts:
            return None
        return parts[0] if len(parts) == 1 else "(" + " ".join(parts) + ")"

    search_options: ClassVar[frozenset[str]] = frozenset({"ef_search", "batch_size"})
    main_vector_field: ClassVar[str | None] = VECTOR_FIELD

    def filter_count(self, filter: Filter | FilterTree) -> int:
        """How many stored documents a filter keeps: one ``FT.SEARCH <filter> LIMIT 0 0`` (the total only,
        no document read), the store's ``TIMEOUT`` rule applied.

        Args:
            filter: a filter expression, LangChain dict or parsed tree.

        Returns:
            The number of matching documents (:meth:`count` for ``None``).

        Raises:
            InvalidParameterError: a filter on a field the index does not have, or of the wrong kind.
            StoreTimeoutError: the count ran past ``query_timeout_ms``.
            StoreConnectionError: the server is unreachable.
        """
        return self._counts(filter)[0]

    def filter_selectivity(self, filter: Filter | FilterTree) -> float:
        """The fraction of stored documents a filter keeps: its count and the index's document count
        (``*``), two ``LIMIT 0 0`` queries in one pipelined round trip (``FT.INFO`` is slower).

        Args:
            filter: a filter expression, LangChain dict or parsed tree.

        Returns:
            The fraction in [0, 1] (0 for an empty index).

        Raises:
            InvalidParameterError: as :meth:`filter_count`.
            StoreTimeoutError: a count ran past ``query_timeout_ms``.
        """
        kept, total = self._counts(filter)
        return min(1.0, kept / total) if total else 0.0

    def _counts(self, filter: Filter | FilterTree) -> tuple[int, int]:
        """(documents the filter keeps, documents in the index), one round trip."""
        tree = filter_tree(filter)
        expr = None if tree == NOTHING else self._filter_string(tree, None)
        client, name, timeout_ms = self.client, self.spec.index_name, self.query_timeout_ms  # type: ignore[attr-defined]
        exprs = ["*"] if expr is None else [expr, "*"]

        def run() -> list[Any]:
            with client.pipeline(transaction=False) as pipe:
                for e in exprs:
                    pipe.execute_command("FT.SEARCH", name, e, *timeout_args(timeout_ms), "LIMIT", 0, 0, "DIALECT", 2)
                return pipe.execute()

        replies = self._call(run)
        check_complete(replies, timeout_ms, name)
        # RESP2: a list starting with the total; RESP3: a map
        counts = [int(r[0] if isinstance(r, (list, tuple)) else r[b"total_results"]) for r in replies]
        total = counts[-1]
        return (0 if tree == NOTHING else counts[0]), total

    def _search(self, q: np.ndarray, k: int, request: SearchRequest) -> tuple[np.ndarray, np.ndarray]:
        """The Redis KNN of :meth:`EmbStore.search_rows`, one pipelined round trip per ``batch_size``
        queries (default 50); takes ``ef_search`` (HNSW: ``EF_RUNTIME``) and ``batch_size``; ``exact``
        (the request's) runs RediSearch's ``HYBRID_POLICY ADHOC_BF``: every filtered document scored.

        Args:
            q: (m, d) float32 validated queries (``d`` = dim, or the extra field's dim).
            k: rows per query (>= 1).
            request: the validated :class:`~.base.SearchRequest`: the filter prefilters the KNN,
                ``candidate_rows`` restrict it (``INKEYS``), ``clusters`` match the ``cluster`` TAG.

        Returns:
            ``(scores, rows)``: (m, k) float32 (higher = more similar) and (m, k) int64, best first,
                padded ``-inf`` / ``-1``.

        Raises:
            InvalidParameterError: a filter on a field the index does not have, or of the wrong kind.
            StoreTimeoutError: a query ran past ``query_timeout_ms``.
            StoreConnectionError: the server is unreachable.
        """
        replies = self._send(q, k, request, with_rows=True)
        if replies is None:
            return empty_result(len(q), k)
        return parse_search_replies(replies, k, self.spec.metric, self._remember_docs(), self._id_offset)

    def search_vectors(
        self, query_vectors: np.ndarray, k: int = 4, filter: Filter = None, **kwargs: Any
    ) -> list[list[tuple[Document, float]]]:
        """Top ``k`` (Document, score) per query vector, best first, padding dropped: the query of
        :meth:`search_rows` (same options, same errors) without ``_row`` in its RETURN (hits need no row
        handles, so these replies do not fill the ``documents_at`` cache), its replies turned straight
        into hits (:func:`~.redis_io.replies_to_hits`: no (m, k) arrays in between, no re-validation of
        documents the store wrote itself). Equal to ``hits(*search_rows(...))``, scores included
        (tests/test_redis_query_path.py).

        Args:
            query_vectors: (m, d) float32 query vectors (or one (d,) vector).
            k: documents per query.
            filter: a LangChain dict, a redisvl expression or its query string.
            **kwargs: the options of :meth:`search_rows` (``candidate_rows``, ``clusters``,
                ``vector_field``, ``ef_search``, ``batch_size``).

        Returns:
            Per query, ``[(Document, score)]`` best first.

        Raises:
            InvalidParameterError: as :meth:`search_rows`.
            DimensionMismatchError: query vectors of the wrong width.
            StoreTimeoutError: a query ran past ``query_timeout_ms``.
        """
        q, k, request = self.search_request(query_vectors, k, filter=filter, **kwargs)
        replies = None if request is None else self._send(q, k, request, with_rows=False)
        if replies is None:
            return [[] for _ in range(len(q))]
        return replies_to_hits(replies, k, self.spec.metric, self._id_offset)

    @property
    def _id_offset(self) -> int:
        """Bytes of ``<prefix>:`` in front of the document id in each key (see :data:`~.redis_io.RETURN_FIELDS`)."""
        return len(self.spec.prefix.encode()) + 1

    def _send(self, q: np.ndarray, k: int, request: SearchRequest, *, with_rows: bool) -> list[Any] | None:
        """Send the validated queries -> the FT.SEARCH replies, ``None`` when no candidate row is stored
        (the answer is all padding without a query). ``with_rows``: the replies carry
        :data:`~.redis_io.RETURN_FIELDS` (``_row`` included), else :data:`~.redis_io.HIT_FIELDS`."""
        field = request.vector_field or VECTOR_FIELD
        keys = None
        if request.candidate_rows is not None:
            ids = self._ids_of_rows(request.candidate_rows, strict=False)
            keys = [self._key(i) for i in ids if i is not None]
            if not keys:
                return None
        expr = self._filter_string(request.filter, request.clusters)
        # a flat index is exact whatever ef_search says (as on FAISS and Milvus); Redis refuses EF_RUNTIME on it
        ef = (request.ef_search or self.spec.ef_search) if self.spec.kind == "hnsw" else None
        exact = request.exact and self.spec.kind == "hnsw"
        if exact:  # RediSearch's brute force over the filtered documents (ADHOC_BF needs a filter: every row)
            expr, ef = expr or f"@{ROW_FIELD}:[-inf +inf]", None
        template, vi = self._query_template(q.shape[1], k, expr, keys, field, ef, with_rows, exact)
        client = self.client
        timeout_ms, name = self.query_timeout_ms, self.spec.index_name  # type: ignore[attr-defined]
        q = q.astype(self._dtype, copy=False)
        batch_size = request.batch_size or 50
        if len(q) == 1:
            args = template.copy()
            args[vi] = q[0].tobytes()
            replies = self._call(lambda: [client.execute_command("FT.SEARCH", *args)])
            check_complete(replies, timeout_ms, name)
            return replies

        def run() -> list[Any]:
            replies: list[Any] = []
            args = template.copy()
            for start in range(0, len(q), batch_size):
                with client.pipeline(transaction=False) as pipe:
                    for row in q[start : start + batch_size]:
                        args[vi] = row.tobytes()
                        pipe.execute_command("FT.SEARCH", *args)
                    replies.extend(pipe.execute())
            return replies

        replies = self._call(run)
        check_complete(replies, timeout_ms, name)
        return replies

    def hits(self, scores: np.ndarray, rows: np.ndarray) -> list[list[tuple[Document, float]]]:
        """:meth:`EmbStore.hits` (per query a list of (Document, score), padding dropped), built straight
        from the documents the ``search_rows`` replies carried (what the retrievers call after
        ``search_rows``; ``search_vectors`` builds its hits from its replies directly); rows not cached go
        through :meth:`documents_at`.

        Args:
            scores: (m, k) float32 scores from :meth:`search_rows`.
            rows: (m, k) int64 rows from :meth:`search_rows`, ``-1`` = padding.

        Returns:
            Per query, ``[(Document, score)]`` best first, padding dropped.
        """
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
                    doc = memo[row] = raw_document(raw)
                hits.append((doc, score))
            out.append(hits)
        return out

    def _query_template(
        self,
        dim: int,
        k: int,
        expr: str | None,
        keys: list[str] | None,
        vector_field: str,
        ef: int | None,
        with_rows: bool = True,
        exact: bool = False,
    ) -> tuple[list[Any], int]:
        """FT.SEARCH arguments built by redisvl (filter, KNN, EF_RUNTIME or ``HYBRID_POLICY ADHOC_BF`` when
        ``exact``, INKEYS) plus the store's ``TIMEOUT``
        (:func:`~.redis_io.timeout_args`), cached per query shape
        -> ``(args, i)``: the arguments after the command name, ``PARAMS`` included, strings and ints
        already encoded as redis-py would encode them, and the position ``i`` of the query vector (the
        only argument that changes from one query to the next; callers copy ``args`` and set it)."""
        cache_key = None if keys is not None else (k, expr, vector_field, ef, with_rows, exact)
        hit = self._templates.get(cache_key) if cache_key is not None else None
        if hit is None:
            template = VectorQuery(
                np.zeros(dim, dtype=self._dtype).tobytes(),  # a placeholder: callers set the query vector
                vector_field,
                return_fields=list(RETURN_FIELDS if with_rows else HIT_FIELDS),
                filter_expression=None if expr is None else FilterExpression(expr),
                dtype=self.spec.dtype,
                num_results=k,
                ef_runtime=ef,
                hybrid_policy="ADHOC_BF" if exact else None,
            )
            if keys is not None:
                template.limit_ids(*keys)
            flat = [x for kv in template.params.items() for x in kv]
            query, *options = template.get_args()
            args = [
                _encoded(a)
                for a in (self.spec.index_name, query, *timeout_args(self.query_timeout_ms), *options, "PARAMS", len(flat), *flat)  # type: ignore[attr-defined]
            ]
            hit = (args, args.index(VectorQuery.VECTOR_PARAM.encode(), len(args) - len(flat)) + 1)
            if cache_key is not None:
                if len(self._templates) >= 256:
                    self._templates.clear()
                self._templates[cache_key] = hit
        return hit


def _encoded(arg: Any) -> Any:
    """A command argument as redis-py's encoder sends it (str -> UTF-8, int -> its decimal digits)."""
    if isinstance(arg, str):
        return arg.encode()
    if isinstance(arg, int) and not isinstance(arg, bool):
        return str(arg).encode()
    return arg
