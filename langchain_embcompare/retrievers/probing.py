"""The cluster prefilter's probe loop and per-query statistics (store-independent, numpy only).

:func:`probe` opens clusters for a batch of queries through one callback, ``search_group(cluster,
query_idx)``, so the same loop drives every store; :class:`ClusterSearchStats` records what each query
scanned. Used by :class:`~langchain_embcompare.retrievers.cluster.ClusterPrefilterRetriever`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

__all__ = ["ClusterSearchStats", "SearchGroup", "probe", "summarize_stats"]


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


def probe(
    m: int, k: int, order: np.ndarray, ub: np.ndarray | None, search_group: SearchGroup, *,
    nprobe: int, adaptive: bool, max_clusters: int | None, stop_rank: int | None,
) -> tuple[np.ndarray, np.ndarray, list[list[int]]]:
    """Open clusters for ``m`` queries; returns ``(scores, rows)`` (m, k) padded ``-inf``/``-1`` and the
    clusters each query opened, in order.

    ``order`` (m, K): each query's clusters in probe order; ``ub`` (m, K): their score estimates in that
    order (adaptive only). ``search_group(cluster, query_idx)`` searches one cluster for those queries
    and returns ``(scores, rows)`` (len(query_idx), k'). Round 0 opens every query's first ``nprobe``
    clusters with one call per cluster (K calls, not m x nprobe); adaptive rounds then open each active
    query's next cluster while its estimate is >= the query's score at rank ``stop_rank`` (default k).
    The top k of a union of clusters is the top k of the merged per-cluster top-k lists.
    """
    kc = order.shape[1]
    first = order[:, :nprobe]
    slot_s = np.full((m, nprobe, k), -np.inf, np.float32)
    slot_r = np.full((m, nprobe, k), -1, np.int64)
    flat = first.ravel()
    qrow = np.repeat(np.arange(m), nprobe)
    slot = np.tile(np.arange(nprobe), m)
    srt = np.argsort(flat, kind="stable")
    values, starts = np.unique(flat[srt], return_index=True)
    for c, lo, hi in zip(values.tolist(), starts.tolist(), [*starts[1:].tolist(), len(srt)]):
        sel = srt[lo:hi]
        s, r = search_group(int(c), qrow[sel])
        slot_s[qrow[sel], slot[sel], : s.shape[1]] = s[:, :k]
        slot_r[qrow[sel], slot[sel], : s.shape[1]] = r[:, :k]
    best_s, best_r = _merge(slot_s.reshape(m, -1), slot_r.reshape(m, -1), k)
    opened = [list(map(int, row)) for row in first]
    if adaptive:
        assert ub is not None
        rank = min(stop_rank or k, k)
        active = np.arange(m)
        for step in range(nprobe, min(max_clusters or kc, kc)):
            active = active[ub[active, step] >= best_s[active, rank - 1]]
            if not len(active):
                break
            cl = order[active, step]
            for c in np.unique(cl).tolist():
                rows = active[cl == c]
                for qi in rows.tolist():
                    opened[qi].append(int(c))
                s, r = search_group(int(c), rows)
                best_s[rows], best_r[rows] = _merge(
                    np.concatenate([best_s[rows], s], 1), np.concatenate([best_r[rows], r], 1), k
                )
    return best_s, best_r, opened


def _merge(scores: np.ndarray, rows: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Best ``k`` of each row of concatenated result lists (stable: earlier lists win ties)."""
    top = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    s, r = np.take_along_axis(scores, top, 1), np.take_along_axis(rows, top, 1)
    if s.shape[1] < k:
        s = np.pad(s, ((0, 0), (0, k - s.shape[1])), constant_values=-np.inf)
        r = np.pad(r, ((0, 0), (0, k - r.shape[1])), constant_values=-1)
    return s, np.where(np.isfinite(s), r, -1)
