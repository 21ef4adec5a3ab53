"""Rank fusion of two ranked lists per query, in numpy: the online path of :class:`HybridRetriever`.

Two fusions (formulas and reasons in :mod:`langchain_embcompare.retrievers.hybrid`):

* ``rrf``: reciprocal rank fusion (Cormack, Clarke & Buettcher, SIGIR 2009),
  ``score(d) = sum over arms of 1 / (rrf_k + rank_arm(d))``, ranks from 1 in the order the arm returned
  its documents (the arm's own tie order: a store's ``search_rows`` order, bm25s' order).
* ``linear``: ``alpha * norm(dense)(d) + (1 - alpha) * norm(lexical)(d)`` with ranx's per-query
  normalisations (:func:`norm_scores`, the same formulas as ``ranx.normalization``, including its
  ``1e-9`` floor on denominators) lifted by :func:`normalise_arm` so that a returned document always
  gets more than a missing one.

ranx (Bassani 2022) computes the same fusions through numba-compiled dictionaries; per query of 100 +
100 candidates that costs milliseconds of dictionary building (``benchmarks/bench_fusion.py``), so the
online path computes them here with arrays and ranx stays the reference the tests compare rankings
against (``tests/test_fusion.py``, on SciFact runs). One difference, on purpose: ranx re-sorts each arm
by score with an unstable sort, so documents an arm scored alike get RRF (and ``rank`` norm) ranks in an
implementation-defined order; here they keep the order the arm returned them in.

Equal fused scores are ordered by dense rank, then lexical rank (a document an arm did not return comes
after every one it did).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from langchain_embcompare.errors import InvalidParameterError

__all__ = ["FUSIONS", "NORMS", "MIN_NORMALISED", "fuse_runs", "norm_scores", "normalise_arm"]

FUSIONS = ("rrf", "linear")
NORMS = ("min-max", "max", "sum", "zmuv", "rank")
MIN_NORMALISED = 1e-3  # the lowest returned hit's share of the arm's normalised range (OpenSearch's MIN_SCORE)
RANX_FLOOR = 1e-9  # ranx.normalization's floor on every denominator


def norm_scores(raw: np.ndarray, norm: str = "min-max") -> np.ndarray:
    """One arm's scores for one query under a ranx normalisation (same formulas as ``ranx.normalization``).

    Args:
        raw: (n,) float, the arm's scores in the order it returned the documents (best first).
        norm: one of :data:`NORMS`: ``min-max`` ``(s - min) / max(max - min, 1e-9)``; ``max``
            ``s / max(max, 1e-9)``; ``sum`` ``(s - min) / max(sum - n * min, 1e-9)``; ``zmuv``
            ``(s - mean) / max(std, 1e-9)`` (population std); ``rank`` ``1 - i / n`` for the document at
            position ``i`` (from 0) of the arm's list.

    Returns:
        (n,) float64, the normalised scores, same order.

    Raises:
        InvalidParameterError: an unknown ``norm``.
    """
    s = np.asarray(raw, dtype=np.float64)
    n = s.shape[0]
    if n == 0:
        return s.copy()
    if norm == "min-max":
        lo, hi = float(s.min()), float(s.max())
        return (s - lo) / max(hi - lo, RANX_FLOOR)
    if norm == "max":
        return s / max(float(s.max()), RANX_FLOOR)
    if norm == "sum":
        lo = float(s.min())
        return (s - lo) / max(sum(s.tolist()) - lo * n, RANX_FLOOR)  # sequential sum, as ranx's numba loop
    if norm == "zmuv":
        return (s - float(np.mean(s))) / max(float(np.std(s)), RANX_FLOOR)
    if norm == "rank":
        return 1.0 - np.arange(n, dtype=np.float64) / n
    raise InvalidParameterError(f"norm={norm!r}: use one of {NORMS} (ranx normalisations).")


def normalise_arm(raw: np.ndarray, normalised: np.ndarray, norm: str = "min-max", where: str = "arm") -> np.ndarray:
    """One arm's normalised scores for one query, made strictly positive (a missing document gets 0).

    Args:
        raw: (n,) float, the arm's own scores of the documents it returned (n >= 1).
        normalised: (n,) float, the same documents' scores after ``norm`` (:func:`norm_scores`, same order).
        norm: the normalisation that produced ``normalised`` (one of :data:`NORMS`).
        where: names the arm and query in errors (e.g. ``"dense arm, query 3"``).

    Returns:
        (n,) float64, every value > 0: all ``raw`` equal -> ones; else ``normalised`` when its
            minimum is already > 0, otherwise ``normalised`` mapped affinely onto ``[MIN_NORMALISED * R, R]``
            (``R = max - min`` of ``normalised``): the order and the ratios of differences between returned
            documents are kept, and the lowest returned one stays above a missing one (reasons and
            sources: :mod:`langchain_embcompare.retrievers.hybrid`).

    Raises:
        InvalidParameterError: ``norm="max"`` and the arm's best score is <= 0 (``s / max`` would flip
            or blow up the scores; use ``min-max``).
    """
    raw = np.asarray(raw, dtype=np.float64)
    v = np.asarray(normalised, dtype=np.float64)
    if raw.max() == raw.min():
        return np.ones_like(v)
    if norm == "max" and raw.max() <= 0:
        raise InvalidParameterError(
            f"norm='max' divides by the best score, which is {raw.max():g} (<= 0) for the {where}: "
            "use norm='min-max' for scores that can be negative (cosine, minus L2 distance)."
        )
    lo, hi = float(v.min()), float(v.max())
    if lo > 0:
        return v
    r = hi - lo
    return MIN_NORMALISED * r + (1.0 - MIN_NORMALISED) * (v - lo)


def check_fusion(fusion: str, alpha: float, rrf_k: int, norm: str) -> None:
    """Refuse a fusion setting by name.

    Args:
        fusion: one of :data:`FUSIONS`.
        alpha: weight of the dense arm in ``linear``, in [0, 1].
        rrf_k: RRF's constant, a non-negative integer.
        norm: one of :data:`NORMS`.

    Raises:
        InvalidParameterError: the first setting out of range, named with its valid values.
    """
    if fusion not in FUSIONS:
        raise InvalidParameterError(f"fusion={fusion!r}: use one of {FUSIONS}.")
    if norm not in NORMS:
        raise InvalidParameterError(f"norm={norm!r}: use one of {NORMS} (ranx normalisations).")
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float, np.floating, np.integer)) or math.isnan(alpha) or not 0.0 <= alpha <= 1.0:
        raise InvalidParameterError(f"alpha={alpha!r} must lie in [0, 1] (weight of the dense arm; 1 - alpha for lexical).")
    if isinstance(rrf_k, bool) or not isinstance(rrf_k, (int, float, np.integer, np.floating)) or int(rrf_k) != rrf_k or rrf_k < 0:
        raise InvalidParameterError(f"rrf_k={rrf_k!r} must be a non-negative integer (the RRF paper uses 60).")


def fuse_one(
    dense: Sequence[tuple[str, float]],
    lexical: Sequence[tuple[str, float]],
    *,
    fusion: str = "rrf",
    alpha: float = 0.5,
    rrf_k: int = 60,
    norm: str = "min-max",
    where: str = "query",
) -> list[tuple[str, float]]:
    """Fuse one query's two ranked lists (settings assumed valid: :func:`check_fusion`).

    Args:
        dense, lexical: the arm's ``(doc id, score)`` pairs, best first (ids unique within an arm).
        fusion, alpha, rrf_k, norm: as :func:`fuse_runs`.
        where: names the query in errors.

    Returns:
        ``(doc id, fused score)`` pairs, best first; equal scores by dense rank, then lexical rank.

    Raises:
        InvalidParameterError: ``norm="max"`` on an arm whose best score is <= 0.
    """
    nd, nl = len(dense), len(lexical)
    index: dict[str, int] = {}
    ids: list[str] = []
    d_pos = np.empty(nd, dtype=np.int64)
    for r, (d, _) in enumerate(dense):
        j = index.setdefault(d, len(ids))
        if j == len(ids):
            ids.append(d)
        d_pos[r] = j
    l_pos = np.empty(nl, dtype=np.int64)
    for r, (d, _) in enumerate(lexical):
        j = index.setdefault(d, len(ids))
        if j == len(ids):
            ids.append(d)
        l_pos[r] = j
    u = len(ids)
    for name, pos, n in (("dense", d_pos, nd), ("lexical", l_pos, nl)):
        if np.unique(pos).shape[0] != n:
            raise InvalidParameterError(f"The {name} arm returned a document id twice for {where}: each arm ranks a document once.")
    miss = nd + nl
    d_rank = np.full(u, miss, dtype=np.int64)
    l_rank = np.full(u, miss, dtype=np.int64)
    d_rank[d_pos] = np.arange(nd)
    l_rank[l_pos] = np.arange(nl)
    fused = np.zeros(u, dtype=np.float64)
    if fusion == "rrf":
        k = float(int(rrf_k))
        fused[d_pos] += 1.0 / (k + np.arange(1, nd + 1, dtype=np.float64))
        fused[l_pos] += 1.0 / (k + np.arange(1, nl + 1, dtype=np.float64))
    else:
        for name, pairs, pos, w in (("dense", dense, d_pos, float(alpha)), ("lexical", lexical, l_pos, 1.0 - float(alpha))):
            if not len(pairs):
                continue
            raw = np.fromiter((s for _, s in pairs), dtype=np.float64, count=len(pairs))
            fused[pos] += w * normalise_arm(raw, norm_scores(raw, norm), norm, f"{name} arm, {where}")
    order = np.lexsort((l_rank, d_rank, -fused))
    return [(ids[j], float(fused[j])) for j in order.tolist()]


def fuse_runs(
    dense: Sequence[Sequence[tuple[str, float]]],
    lexical: Sequence[Sequence[tuple[str, float]]],
    *,
    fusion: str = "rrf",
    alpha: float = 0.5,
    rrf_k: int = 60,
    norm: str = "min-max",
) -> list[list[tuple[str, float]]]:
    """Fuse two ranked lists per query; returns per query (doc id, fused score), best first.

    Args:
        dense, lexical: per query, the arm's (doc id, score) pairs in rank order (best first).
        fusion: ``"rrf"`` or ``"linear"`` (formulas: the module docstring).
        alpha: weight of the dense arm in ``linear`` (``1 - alpha`` for lexical), in [0, 1].
        rrf_k: RRF's constant (>= 0; the paper's 60).
        norm: ranx' per-query normalisation for ``linear`` (one of :data:`NORMS`), made strictly
            positive for returned documents by :func:`normalise_arm`.

    Returns:
        Per query, (doc id, fused score) pairs, best first; equal scores by dense rank, then lexical
            rank. A query where one arm is empty gets the other arm's fused scores; both empty -> ``[]``.

    Raises:
        InvalidParameterError: an unknown ``fusion`` / ``norm``, ``alpha`` outside [0, 1], a bad
            ``rrf_k``, list counts that differ, or ``norm="max"`` on an arm whose best score is <= 0.
    """
    if len(dense) != len(lexical):
        raise InvalidParameterError(f"{len(dense)} dense result lists but {len(lexical)} lexical ones: one each per query.")
    check_fusion(fusion, alpha, rrf_k, norm)
    return [
        fuse_one(d, l, fusion=fusion, alpha=alpha, rrf_k=rrf_k, norm=norm, where=f"query {i}") if (d or l) else []
        for i, (d, l) in enumerate(zip(dense, lexical))
    ]
