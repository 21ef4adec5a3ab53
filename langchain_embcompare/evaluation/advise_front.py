"""The shrink advisor's Pareto fronts and pruning: which settings trade quality against memory,
latency or cost best (:func:`pareto_fronts`), and which are dominated on every axis at once and need no
refinement (:func:`prune_dominated`).

Part of :mod:`langchain_embcompare.evaluation.advise`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

#: budget name -> candidate field it minimises
BUDGETS: dict[str, str] = {"memory": "index_bytes", "latency": "p50_ms", "cost": "usd_per_1m_texts"}


def pareto_fronts(rows: Sequence[Mapping[str, Any]], axes: Sequence[str] = tuple(BUDGETS), quality: str = "ndcg@10") -> dict[str, list[int]]:
    """Per budget axis, the indices of ``rows`` on the (quality up, axis value down) Pareto front.

    Uses :func:`langchain_embcompare.evaluation.report.pareto_front` (a point is off the front when
    another has <= axis value and >= quality, one of them strictly; of identical points the first stays).
    Rows missing a value (None / NaN) are left out of that axis' front.
    """
    from langchain_embcompare.evaluation.report import pareto_front

    q = np.array([_nan(r.get(quality)) for r in rows], dtype=float)
    out = {}
    for axis in axes:
        x = np.array([_nan(r.get(BUDGETS.get(axis, axis))) for r in rows], dtype=float)
        out[axis] = [int(i) for i in pareto_front(x, q)] if len(rows) else []
    return out


def prune_dominated(rows: Sequence[Mapping[str, Any]], axes: Sequence[str] = tuple(BUDGETS), quality: str = "ndcg@10") -> list[bool]:
    """Which rows to keep refining: False for a row some other row dominates on every axis at once.

    Row j drops row i when quality_j >= quality_i and value_j <= value_i on every axis, and either
    quality_j > quality_i or value_j < value_i on every axis. Such a row is strictly dominated in each
    (quality, axis) plane, so it is on none of :func:`pareto_fronts`: pruning never drops a front point.
    Rows with a missing value are kept.
    """
    n = len(rows)
    q = np.array([_nan(r.get(quality)) for r in rows], dtype=float)
    x = np.array([[_nan(r.get(BUDGETS.get(a, a))) for a in axes] for r in rows], dtype=float).reshape(n, len(axes))
    ok = np.isfinite(q) & np.all(np.isfinite(x), axis=1)
    keep = [True] * n
    for i in range(n):
        if not ok[i]:
            continue
        ge_q = q >= q[i]
        le_x = np.all(x <= x[i], axis=1)
        strict = (q > q[i]) | np.all(x < x[i], axis=1)
        dom = ok & ge_q & le_x & strict
        dom[i] = False
        keep[i] = not bool(dom.any())
    return keep


def _nan(v: Any) -> float:
    return float("nan") if v is None else float(v)
