"""Searching Milvus: filters, candidate rows and clusters to one boolean expression, and hits to the
protocol's ``(scores, rows)`` arrays.

One job: answer ``search_rows`` / ``search_vectors``. ``filter`` (translated by
:func:`~.milvus_schema.to_expression`; a filter holding a text leaf is evaluated in-process, exactly,
over the stored metadata, then searched as ``row in [...]``), ``candidate_rows`` and ``clusters`` are
ANDed into one prefilter expression; queries go :data:`QUERY_CHUNK` per call; Milvus's L2 (squared
distance) is reported as minus the Euclidean distance. A mixin of :class:`~.milvus.MilvusVectorStore`,
on top of :class:`~.milvus_rows.MilvusRowsMixin`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
from langchain_core.documents import Document

from langchain_embcompare.errors import InvalidParameterError
from langchain_embcompare.filters import NOTHING, Filter, FilterTree, evaluate_filter, filter_tree
from langchain_embcompare.stores.base import SearchRequest, empty_result, normalize_rows
from langchain_embcompare.stores.ops import exact_scores, top_k
from langchain_embcompare.stores.milvus_rows import (
    DOC_FIELDS,
    MilvusRowsMixin,
    to_document,
)
from langchain_embcompare.stores.milvus_schema import (
    BM25_ANALYZER,
    BM25_B,
    BM25_K1,
    CLUSTER_FIELD,
    MAX_TOPK,
    METADATA_FIELD,
    ROW_FIELD,
    SPARSE_FIELD,
    VECTOR_FIELD,
    has_text_leaf,
    int_list,
    to_expression,
)

__all__ = ["QUERY_CHUNK", "MilvusSearchMixin"]

QUERY_CHUNK = 256  # queries per search call


class MilvusSearchMixin(MilvusRowsMixin):
    """Searches of :class:`~.milvus.MilvusVectorStore` (see the module docstring)."""

    search_options: ClassVar[frozenset[str]] = frozenset({"ef_search", "nprobe"})
    main_vector_field: ClassVar[str | None] = VECTOR_FIELD
    max_k: ClassVar[int | None] = MAX_TOPK

    def _filter_expression(self, request: SearchRequest) -> str | None:
        """The Milvus expression of a search (filter, candidate rows and clusters ANDed), ``""`` =
        everything, ``None`` = nothing can match."""
        parts: list[str] = []
        tree = request.filter
        if tree is not None:
            if has_text_leaf(tree):
                allowed = self._rows_matching_in_process(tree)
                if len(allowed) == 0:
                    return None
                parts.append(f"{ROW_FIELD} in {int_list(allowed)}")
            else:
                parts.append(to_expression(tree, self.typed_columns))
        if request.candidate_rows is not None:
            parts.append(f"{ROW_FIELD} in {int_list(np.unique(request.candidate_rows))}")
        if request.clusters is not None:
            parts.append(f"{CLUSTER_FIELD} in {int_list(np.unique(np.asarray(request.clusters, dtype=np.int64)))}")
        return " and ".join(parts)

    def filter_count(self, filter: Filter | FilterTree) -> int:
        """How many stored documents a filter keeps: ``count(*)`` over its expression (a filter holding a
        text leaf: the rows matched in-process, as its search does).

        Args:
            filter: a filter expression, LangChain dict or parsed tree.

        Returns:
            The number of matching documents (:meth:`count` for ``None``).

        Raises:
            InvalidParameterError: a filter Milvus cannot run.
        """
        tree = filter_tree(filter)
        if tree == NOTHING:
            return 0
        if tree is None:
            return int(self.count())
        if has_text_leaf(tree):
            return len(self._rows_matching_in_process(tree))
        res = self.client.query(self.name, filter=to_expression(tree, self.typed_columns), output_fields=["count(*)"],
                                timeout=self.call_timeout)
        return int(res[0]["count(*)"])

    def filter_selectivity(self, filter: Filter | FilterTree) -> float:
        """The fraction of stored documents a filter keeps, for choosing a :class:`~.filtered.FilterSetting`:
        two ``count(*)`` queries at ``Bounded`` consistency (an estimate need not wait for the newest writes,
        which a ``Strong`` call does, ~200 ms on a server; the search itself keeps the collection's level).

        Args:
            filter: a filter expression, LangChain dict or parsed tree.

        Returns:
            The fraction in [0, 1] (0 for an empty collection).

        Raises:
            InvalidParameterError: a filter Milvus cannot run.
        """
        tree = filter_tree(filter)
        if tree == NOTHING:
            return 0.0

        def count(expr: str) -> int:
            res = self.client.query(self.name, filter=expr, output_fields=["count(*)"], timeout=self.call_timeout,
                                    consistency_level="Bounded")
            return int(res[0]["count(*)"])

        total = count("")
        if tree is None or total == 0:
            return 1.0 if total else 0.0
        kept = len(self._rows_matching_in_process(tree)) if has_text_leaf(tree) else count(to_expression(tree, self.typed_columns))
        return min(1.0, kept / total)

    def _exact_run(self, q: np.ndarray, k: int, expr: str) -> tuple[np.ndarray, np.ndarray]:
        """Exact top ``k`` over the rows matching ``expr`` (``""``: all): their stored vectors fetched and
        scored here (:func:`~.ops.exact_scores`, :func:`~.ops.top_k`'s tie rule), as on every store."""
        expr = expr or f"{ROW_FIELD} >= 0"
        # one query call answers up to MAX_TOPK rows (the selective filters this path is for); else an iterator
        ents = list(self.client.query(self.name, filter=expr, output_fields=[ROW_FIELD, VECTOR_FIELD], limit=MAX_TOPK,
                                      timeout=self.call_timeout))
        if len(ents) >= MAX_TOPK:
            ents = self._scan([ROW_FIELD, VECTOR_FIELD], expr)
        if not ents:
            return empty_result(len(q), k)
        rows = np.fromiter((e[ROW_FIELD] for e in ents), dtype=np.int64, count=len(ents))
        vecs = np.asarray([e[VECTOR_FIELD] for e in ents], dtype=np.float32)
        if self.metric == "cosine":
            vecs = normalize_rows(vecs)
        return top_k(exact_scores(q, vecs, self.metric), k, rows)

    def _rows_matching_in_process(self, tree: FilterTree) -> np.ndarray:
        """Rows whose metadata matches a filter holding text leaves, by ``filters.evaluate_filter``
        over every stored document's metadata (one scan)."""
        entities = self._scan([ROW_FIELD, METADATA_FIELD])
        if not entities:
            return np.zeros(0, dtype=np.int64)
        mask = evaluate_filter(tree, [e[METADATA_FIELD] or {} for e in entities])
        rows = np.fromiter((e[ROW_FIELD] for e in entities), dtype=np.int64, count=len(entities))
        return rows[mask]

    def _search(self, q: np.ndarray, k: int, request: SearchRequest) -> tuple[np.ndarray, np.ndarray]:
        """The Milvus search of :meth:`EmbStore.search_rows`: ``filter`` / ``candidate_rows`` /
        ``clusters`` form one Milvus prefilter expression (ANDed); ``ef_search`` (HNSW) / ``nprobe``
        (IVF) override the spec's for this call; ``exact`` opens every IVF_FLAT list (``nprobe = nlist``: the
        server scores every allowed row) or, on HNSW, fetches the allowed rows' vectors and scores them
        here; ``k`` at most 16384 (Milvus's top-k limit).

        Args:
            q: (m, d) float32 validated queries.
            k: rows per query, in [1, 16384].
            request: the validated :class:`~.base.SearchRequest`.

        Returns:
            ``(scores, rows)``: (m, k) float32 (higher = more similar) and (m, k) int64, best first,
                padded with ``-inf`` / ``-1``.

        Raises:
            InvalidParameterError: a filter Milvus cannot run.
        """
        scores, rows, _ = self._run(q, k, request, with_docs=False)
        return scores, rows

    def search_vectors(
        self, query_vectors: np.ndarray, k: int = 4, filter: Filter = None, **kwargs: Any
    ) -> list[list[tuple[Document, float]]]:
        """Top ``k`` (Document, score) per query vector, in ONE Milvus call per 256 queries (the
        documents come back with the hits, not through a second ``documents_at`` query).

        Args:
            query_vectors: (m, d) float32 query vectors.
            k: documents per query, in [1, 16384].
            filter: a filter expression or LangChain dict, or ``None``.
            **kwargs: the options of :meth:`search_rows` (``candidate_rows``, ``clusters``,
                ``vector_field``, ``ef_search``, ``nprobe``).

        Returns:
            Per query, ``[(Document, score)]`` best first, padding dropped.

        Raises:
            InvalidParameterError: as :meth:`search_rows`.
            DimensionMismatchError: query vectors of the wrong width.
        """
        q, k, request = self.search_request(query_vectors, k, filter=filter, **kwargs)
        if request is None:
            return [[] for _ in range(len(q))]
        scores, rows, docs = self._run(q, k, request, with_docs=True)
        return [
            [(d, float(s)) for d, s, r in zip(drow, srow.tolist(), rrow.tolist()) if r >= 0]
            for drow, srow, rrow in zip(docs, scores, rows)
        ]

    def _run(
        self, q: np.ndarray, k: int, request: SearchRequest, *, with_docs: bool
    ) -> tuple[np.ndarray, np.ndarray, list[list[Document]]]:
        name = request.vector_field or VECTOR_FIELD
        m = len(q)
        expr = self._filter_expression(request)
        docs: list[list[Document]] = [[] for _ in range(m)]
        if expr is None:
            return (*empty_result(m, k), docs)
        if self.metric == "cosine":
            q = normalize_rows(q)
        if request.exact and self.spec.kind == "hnsw":  # every allowed row fetched and scored here
            scores, rows = self._exact_run(q, k, expr)
            if with_docs:  # one read for every query's rows, split back per query
                valid = rows >= 0
                found = self.documents_at(rows[valid]) if valid.any() else []
                ends = np.cumsum(valid.sum(axis=1)).tolist()
                docs = [found[a:b] for a, b in zip([0, *ends[:-1]], ends)]
            return scores, rows, docs
        scores = np.full((m, k), -np.inf, dtype=np.float32)
        rows = np.full((m, k), -1, dtype=np.int64)
        # exact on IVF_FLAT: every list opened, so the server scores every allowed row (its own brute force)
        nprobe = self.spec.nlist if request.exact and self.spec.kind == "ivf" else request.nprobe
        params = self.spec.search_params(int(k), request.ef_search, nprobe)
        fields = DOC_FIELDS if with_docs else [ROW_FIELD]
        for start in range(0, m, QUERY_CHUNK):
            res = self.client.search(
                self.name, data=list(q[start : start + QUERY_CHUNK]), anns_field=name, limit=int(k), filter=expr,
                search_params=params, output_fields=fields, timeout=self.call_timeout,
            )
            for i, hits in enumerate(res):
                n_hits = len(hits)
                if n_hits == 0:
                    continue
                scores[start + i, :n_hits] = [h["distance"] for h in hits]
                rows[start + i, :n_hits] = [h["entity"][ROW_FIELD] for h in hits]
                if with_docs:
                    docs[start + i] = [to_document(h["entity"]) for h in hits]
        if self.metric == "l2":  # Milvus L2 is the squared distance
            found = rows >= 0
            scores[found] = -np.sqrt(np.maximum(scores[found], 0.0))
        return scores, rows, docs

    # ------------------------------------------------------------------ full text (capability "full_text")

    def full_text_search(self, queries: Sequence[str], k: int = 4) -> list[list[tuple[Document, float]]]:
        """BM25 full-text search by Milvus itself (its BM25 function on the ``text`` field), per query the
        top-``k`` ``(Document, score)``, best first; score = the BM25 score (> 0; documents sharing no
        analysed term with the query are not returned, so a query may get fewer than ``k``, an empty
        or blank query none). Formula, k1 / b and analyzer: :data:`~.milvus_schema.BM25_ANALYZER`.

        Milvus Lite reports BM25 hits with a negated "distance"; servers report the score itself: both are
        returned here as the (positive) score.

        Args:
            queries: query strings.
            k: hits per query, in ``[1, 16384]``.

        Returns:
            Per query, ``[(Document, BM25 score)]`` best first (scores > 0).

        Raises:
            MissingCapabilityError: the collection has no full-text field (built with ``full_text=False``,
                or on a server without BM25: Milvus < 2.5, the version is named).
            InvalidParameterError: a bad ``k`` or a non-string query (its position named).
        """
        if "full_text" not in self.capabilities:  # type: ignore[attr-defined]
            need = "" if self.features.has("bm25") else f"; Milvus >= 2.5 has BM25, the server reports {self.features.version}"
            raise self.missing("full_text", f"full-text search on collection {self.name!r}{need}")  # type: ignore[attr-defined]
        if not isinstance(k, (int, np.integer)) or isinstance(k, bool) or not 1 <= k <= MAX_TOPK:
            raise InvalidParameterError(f"k={k!r} must be an integer in [1, {MAX_TOPK}] (Milvus's top-k limit).")
        for i, q in enumerate(queries):
            if not isinstance(q, str):
                raise InvalidParameterError(f"queries[{i}] is a {type(q).__name__}, not a str.")
        out: list[list[tuple[Document, float]]] = [[] for _ in queries]
        todo = [i for i, q in enumerate(queries) if q.strip()]
        for start in range(0, len(todo), QUERY_CHUNK):
            chunk = todo[start : start + QUERY_CHUNK]
            res = self.client.search(
                self.name, data=[queries[i] for i in chunk], anns_field=SPARSE_FIELD, limit=int(k),
                search_params={"metric_type": "BM25"}, output_fields=DOC_FIELDS, timeout=self.call_timeout,
            )
            for i, hits in zip(chunk, res):
                scored = ((to_document(h["entity"]), abs(float(h["distance"]))) for h in hits)
                out[i] = [(d, s) for d, s in scored if s > 0]
        return out

    def full_text_settings(self) -> dict[str, Any]:
        """The full-text engine's settings, recorded with a run: engine, server version, k1, b, analyzer.

        Returns:
            ``{"engine", "version", "k1", "b", "analyzer", "field"}``.

        Raises:
            MissingCapabilityError: the collection has no full-text field.
        """
        if "full_text" not in self.capabilities:  # type: ignore[attr-defined]
            raise self.missing("full_text", f"full-text settings of collection {self.name!r}")  # type: ignore[attr-defined]
        return {"engine": "milvus", "version": self.features.version, "k1": BM25_K1, "b": BM25_B,
                "analyzer": BM25_ANALYZER, "field": SPARSE_FIELD}
