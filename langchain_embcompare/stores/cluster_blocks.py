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
from langchain_embcompare.stores.ops import empty_result, exact_scores, top_k, unique_per_row

__all__ = ["ClusterBlocks"]


class ClusterBlocks:
    """Vectors regrouped by cluster label into contiguous blocks.

    Building copies the vectors once (n x d float32) in cluster order.

    Args:
        vectors: (n, d) float32, position i = the store's i-th vector (for cosine, unit rows: the
            block product is then the cosine similarity).
        labels: (n,) integers, the cluster of position i (any integers; ``-1`` conventionally means
            "no cluster", searched only if asked for).
        rows: (n,) int64 row handles of the positions (default: the positions themselves).
        metric: ``"cosine"``, ``"ip"`` or ``"l2"`` (scores on the package convention, higher = closer).

    Raises:
        InvalidParameterError: ``vectors`` is not 2-d, or ``vectors``, ``labels`` and ``rows`` differ in length.
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
        """The block positions of one cluster.

        Args:
            cluster: a cluster label.

        Returns:
            A slice into the block order (an empty slice for a label no vector has).
        """
        i = int(np.searchsorted(self.cluster_ids, cluster))
        if i == len(self.cluster_ids) or self.cluster_ids[i] != cluster:
            return slice(0, 0)
        return slice(int(self.bounds[i]), int(self.bounds[i + 1]))

    def rows_in(self, clusters: Sequence[int]) -> np.ndarray:
        """Row handles of every vector whose label is in ``clusters``.

        Args:
            clusters: cluster labels.

        Returns:
            1-d int64 row handles, in block order.
        """
        parts = [self.rows[self.block(int(c))] for c in clusters]
        return np.concatenate(parts) if parts else np.zeros(0, np.int64)

    def search(
        self, queries: np.ndarray, k: int, clusters: Sequence[int], allowed: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top ``k`` among the vectors of ``clusters`` for each query (the ``search_rows`` contract).
        Ties keep block order (cluster order as given, then position).

        Args:
            queries: (m, d) float32, already in the store's form (unit length for cosine).
            k: results per query (>= 1).
            clusters: the cluster labels to open (each once).
            allowed: optional (n,) bool mask over the ORIGINAL positions (a filter's result); only the
                opened blocks' entries are read.

        Returns:
            ``(scores, rows)``: (m, k) float32 and (m, k) int64, best first, padded ``-inf`` / ``-1``.

        Raises:
            InvalidParameterError: ``k <= 0``.
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

    def search_lists(
        self, queries: np.ndarray, k: int, lists: np.ndarray, allowed: np.ndarray | None = None, max_cells: int = 8_000_000
    ) -> tuple[np.ndarray, np.ndarray]:
        """Each query searches its OWN clusters.

        One matrix product per distinct cluster over the queries that open it, written into one
        (queries, candidates) score buffer, then one top-``k`` per query: no per-cluster top-k and no
        per-cluster call. Queries are taken in chunks so the buffer stays under ``max_cells`` entries.
        Ties keep each query's cluster order, then block position.

        Args:
            queries: (m, d) float32, already in the store's form (unit length for cosine).
            k: results per query (>= 1).
            lists: (m, w) int64 cluster labels per query (``-1`` = none; a label repeated in a row
                counts once).
            allowed: optional (n,) bool mask over the ORIGINAL positions (a filter's result).
            max_cells: the most entries (queries x candidates) of one chunk's score buffer.

        Returns:
            ``(scores, rows)``: (m, k) float32 and (m, k) int64 as :meth:`search`.

        Raises:
            InvalidParameterError: ``k <= 0``, or ``lists`` not (m, w) with m = the number of queries.
        """
        q = np.asarray(queries, dtype=np.float32)
        lists = np.asarray(lists, dtype=np.int64)
        if k <= 0:
            raise InvalidParameterError(f"k must be positive, got {k}.")
        if lists.ndim != 2 or len(lists) != len(q):
            raise InvalidParameterError(f"lists must be (m, w) with m = {len(q)} queries; got shape {lists.shape}.")
        m, w = lists.shape
        out_s, out_r = empty_result(m, k)
        if m == 0 or w == 0 or len(self.cluster_ids) == 0:
            return out_s, out_r
        lists = unique_per_row(lists)  # a label listed twice by one query: once
        pos = np.minimum(np.searchsorted(self.cluster_ids, lists), len(self.cluster_ids) - 1)
        known = (lists >= 0) & (self.cluster_ids[pos] == lists)
        sizes = np.where(known, self.bounds[pos + 1] - self.bounds[pos], 0)
        offsets = np.cumsum(sizes, axis=1) - sizes
        total = sizes.sum(1)
        keep_mask = None if allowed is None else np.asarray(allowed, dtype=bool)
        start = 0
        while start < m:  # chunks of queries whose candidate buffer fits max_cells
            stop = start + 1
            while stop < m and (stop + 1 - start) * int(total[start : stop + 1].max()) <= max_cells:
                stop += 1
            width = int(total[start:stop].max())
            if width == 0:
                start = stop
                continue
            buf_s = np.full((stop - start, width), -np.inf, np.float32)
            buf_r = np.full((stop - start, width), -1, np.int64)
            kn = known[start:stop]
            qi, slot = np.nonzero(kn)
            cl = pos[start:stop][qi, slot]
            grp = np.argsort(cl, kind="stable")
            values, firsts = np.unique(cl[grp], return_index=True)
            for c, lo, hi in zip(values.tolist(), firsts.tolist(), [*firsts[1:].tolist(), len(grp)]):
                sel = grp[lo:hi]
                b0, b1 = int(self.bounds[c]), int(self.bounds[c + 1])
                who = qi[sel]
                sc = exact_scores(q[start + who], self.vectors[b0:b1], self.metric)
                if keep_mask is not None:
                    sc[:, ~keep_mask[self.perm[b0:b1]]] = -np.inf
                cols = offsets[start:stop][who, slot[sel]][:, None] + np.arange(b1 - b0)[None, :]
                buf_s[who[:, None], cols] = sc
                buf_r[who[:, None], cols] = self.rows[b0:b1][None, :]
            ts, tc = top_k(buf_s, k)
            out_s[start:stop] = ts
            out_r[start:stop] = np.where(tc >= 0, np.take_along_axis(buf_r, np.maximum(tc, 0), 1), -1)
            start = stop
        out_r[~np.isfinite(out_s)] = -1
        return out_s, out_r
