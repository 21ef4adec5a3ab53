"""The cluster prefilter's probe loop and per-query statistics (store-independent, numpy only).

:func:`probe` opens clusters for a batch of queries through one callback, ``search_lists(query_idx,
cluster_lists)`` (a store's ``search_cluster_lists``), so the same loop drives every store; :class:`ClusterSearchStats` records what each query
scanned. Used by :class:`~langchain_embcompare.retrievers.cluster.ClusterPrefilterRetriever`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from langchain_embcompare.stores.ops import merge_top_k

__all__ = ["ClusterSearchStats", "SearchGroup", "SearchLists", "probe", "summarize_stats"]


# --------------------------------------------------------------------------- per-query stats


@dataclass
class ClusterSearchStats:
    """What one query searched: the clusters opened (in order) and the share of the corpus they hold."""

    clusters: list[int]
    scanned_docs: int
    n_docs: int

    @property
    def scanned_fraction(self) -> float:
        """Documents in the opened clusters / documents in the store, in [0, 1]."""
        return self.scanned_docs / max(1, self.n_docs)

    @property
    def n_clusters_opened(self) -> int:
        return len(self.clusters)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "scanned_fraction": self.scanned_fraction, "n_clusters_opened": self.n_clusters_opened}


def summarize_stats(stats: Sequence[ClusterSearchStats]) -> dict[str, float]:
    """Means over queries, for an evaluation JSON: ``scanned_fraction`` and ``clusters_opened`` (NaN if none)."""
    if not stats:
        return {"scanned_fraction": float("nan"), "clusters_opened": float("nan")}
    return {
        "scanned_fraction": float(np.mean([s.scanned_fraction for s in stats])),
        "clusters_opened": float(np.mean([s.n_clusters_opened for s in stats])),
    }


# --------------------------------------------------------------------------- the probe loop

SearchGroup = Callable[[int, np.ndarray], tuple[np.ndarray, np.ndarray]]
SearchLists = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]


def probe(
    m: int, k: int, order: np.ndarray, ub: np.ndarray | None, search_lists: SearchLists, *,
    nprobe: int, adaptive: bool, max_clusters: int | None, stop_rank: int | None,
) -> tuple[np.ndarray, np.ndarray, list[list[int]]]:
    """Open clusters for ``m`` queries; returns ``(scores, rows)`` (m, k) padded ``-inf``/``-1`` and the
    clusters each query opened, in order.

    ``order`` (m, K): each query's clusters in probe order; ``ub`` (m, K): their score estimates in that
    order, non-increasing (adaptive only). ``search_lists(query_idx, lists)`` searches, for each query
    of ``query_idx`` (a,), its own clusters ``lists`` (a, w) (``-1`` = none) and returns ``(scores,
    rows)`` (a, k) (a store's :meth:`~langchain_embcompare.stores.base.EmbStore.search_cluster_lists`).
    Round 0 opens every query's first ``nprobe`` clusters in one call. Adaptive rounds then look at each
    still-active query's next clusters in windows of doubling width (nprobe, 2 nprobe, ...) and open,
    again in one call per round, those whose estimate is >= the query's score at rank
    ``stop_rank`` (default k) at the start of the round; a query stays active while its whole window
    passed. The k-th score only rises as clusters open, so this opens every cluster the one-at-a-time
    rule would (and at most one window more), in O(log(max_clusters / nprobe)) rounds instead of one
    round per cluster. The top k of a union of clusters is the top k of the merged per-cluster top-k lists.
    """
    kc = order.shape[1]
    everyone = np.arange(m)
    best_s, best_r = search_lists(everyone, order[:, :nprobe])
    opened = [list(map(int, row)) for row in order[:, :nprobe]]
    if adaptive:
        assert ub is not None
        rank = min(stop_rank or k, k)
        limit = min(max_clusters or kc, kc)
        active, pos, width = everyone, nprobe, max(1, nprobe)
        while pos < limit and len(active):
            stop = min(limit, pos + width)
            window = ub[active, pos:stop] >= best_s[active, rank - 1][:, None]
            take = window.sum(1)
            if take.any():
                clusters = np.where(window, order[active, pos:stop], -1)
                s, r = search_lists(active, clusters)
                best_s[active], best_r[active] = merge_top_k(
                    np.concatenate([best_s[active], s], 1), np.concatenate([best_r[active], r], 1), k
                )
                for qi, row, t in zip(active.tolist(), order[active, pos:stop].tolist(), take.tolist()):
                    opened[qi].extend(row[:t])
            active = active[take == stop - pos]
            pos, width = stop, 2 * width
    return best_s, best_r, opened



