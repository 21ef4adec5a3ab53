"""Cluster search over contiguous blocks: what an in-process store answers ``search_rows(clusters=...)`` with.

A store that keeps its vectors in memory (FAISS, the benchmarks' array store) reorders them once by
cluster label, so each cluster is one contiguous block; a search restricted to some clusters is then
one matrix product per opened block, with no gather and no faiss ``IDSelector`` (a selector still
visits every stored vector). This is the layout the cluster prefilter retriever used to build itself;
it now lives beside the store, which rebuilds it when labels or rows change.

Example (inside a store)::

    blocks = ClusterBlocks(vectors, labels, rows=row_handles, metric="cosine")
    scores, rows = blocks.search(queries, k=10, clusters=[3, 7], allowed=filter_mask)
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from langchain_embcompare.errors import InvalidParameterError
from langchain_embcompare.stores.ops import empty_result, exact_scores, top_k

__all__ = ["ClusterBlocks"]


class ClusterBlocks:
    """Vectors regrouped by cluster label into contiguous blocks.

    ``vectors``: (n, d) float32, position i = the store's i-th vector (for cosine, unit rows: the
    block product is then the cosine similarity); ``labels``: (n,) integers, the cluster of position i
    (any integers; ``-1`` conventionally means "no cluster", searched only if asked for);
    ``rows``: (n,) int64 row handles of the positions (default: the positions themselves);
    ``metric``: ``"cosine"``, ``"ip"`` or ``"l2"`` (scores on the package convention, higher = closer).
    Building copies the vectors once (n x d float32) in cluster order.
    """

    def __init__(
        self, vectors: np.ndarray, labels: np.ndarray, rows: np.ndarray | None = None, metric: str = "cosine"
    ) -> None:
        vectors = np.asarray(vectors, dtype=np.float32)
        labels = np.asarray(labels, dtype=np.int64).ravel()
        if vectors.ndim != 2 or len(vectors) != len(labels):
            raise InvalidParameterError(
                f"ClusterBlocks got {len(vectors)} vectors and {len(labels)} labels: pass one label per vector."
            )
        rows = np.arange(len(labels), dtype=np.int64) if rows is None else np.asarray(rows, dtype=np.int64).ravel()
        if len(rows) != len(labels):
            raise InvalidParameterError(f"ClusterBlocks got {len(rows)} rows for {len(labels)} labels.")
        self.metric = metric
        self.perm = np.argsort(labels, kind="stable")  # block position -> original position
        sorted_labels = labels[self.perm]
        self.cluster_ids, starts = np.unique(sorted_labels, return_index=True)
        self.bounds = np.append(starts, len(labels)).astype(np.int64)
        self.vectors = np.ascontiguousarray(vectors[self.perm])
        self.rows = rows[self.perm]
        self.dim = vectors.shape[1]

    def __len__(self) -> int:
        return len(self.rows)

    def block(self, cluster: int) -> slice:
        """The block positions of one cluster (an empty slice for a label no vector has)."""
        i = int(np.searchsorted(self.cluster_ids, cluster))
        if i == len(self.cluster_ids) or self.cluster_ids[i] != cluster:
            return slice(0, 0)
        return slice(int(self.bounds[i]), int(self.bounds[i + 1]))

    def rows_in(self, clusters: Sequence[int]) -> np.ndarray:
        """Row handles of every vector whose label is in ``clusters`` (int64, block order)."""
        parts = [self.rows[self.block(int(c))] for c in clusters]
        return np.concatenate(parts) if parts else np.zeros(0, np.int64)

    def search(
        self, queries: np.ndarray, k: int, clusters: Sequence[int], allowed: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top ``k`` among the vectors of ``clusters`` for each query: ``(scores, rows)`` (m, k) float32 /
        int64, best first, padded ``-inf`` / ``-1`` (the ``search_rows`` contract).

        ``queries``: (m, d) float32, already in the store's form (unit length for cosine).
        ``allowed``: optional (n,) bool mask over the ORIGINAL positions (a filter's result); only the
        opened blocks' entries are read. Ties keep block order (cluster order as given, then position).
        """
        q = np.asarray(queries, dtype=np.float32)
        if k <= 0:
            raise InvalidParameterError(f"k must be positive, got {k}.")
        slices = [self.block(int(c)) for c in dict.fromkeys(int(c) for c in clusters)]  # each cluster once
        slices = [s for s in slices if s.stop > s.start]
        if not slices:
            return empty_result(len(q), k)
        parts_s, parts_r = [], []
        for s in slices:
            scores = exact_scores(q, self.vectors[s], self.metric)
            rows = self.rows[s]
            if allowed is not None:
                keep = np.asarray(allowed, dtype=bool)[self.perm[s]]
                if not keep.any():
                    continue
                scores, rows = scores[:, keep], rows[keep]
            parts_s.append(scores)
            parts_r.append(rows)
        if not parts_s:
            return empty_result(len(q), k)
        if len(parts_s) == 1:
            return top_k(parts_s[0], k, parts_r[0])
        return top_k(np.concatenate(parts_s, 1), k, np.concatenate(parts_r))
