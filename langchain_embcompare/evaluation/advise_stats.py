"""The shrink advisor's statistics: the paired one-sided non-inferiority test (Student t or
percentile bootstrap), Holm-corrected over the candidates, and the smallest margin the data can detect.

Part of :mod:`langchain_embcompare.evaluation.advise` (its docstring states the test and its sources).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

from langchain_embcompare.errors import EmptyInputError, InvalidParameterError
from langchain_embcompare.evaluation.significance import adjust_pvalues

#: the non-inferiority tests :func:`non_inferiority` runs
NI_TESTS = ("t", "bootstrap")


@dataclass(frozen=True)
class NonInferiority:
    """One candidate's non-inferiority test against the baseline (differences = candidate - baseline).

    ``ci`` is the (1 - 2 alpha) two-sided interval of the mean difference (its low end is the one-sided
    level-alpha bound the test compares with ``-margin``); ``p_value`` is one-sided, raw;
    ``p_adjusted`` is Holm-corrected over the family of candidates; ``non_inferior`` = p_adjusted <= alpha.
    ``detectable_margin`` is the smallest margin this candidate's spread lets the data prove with 80 %
    power when the true difference is 0.
    """

    delta: float
    ci_low: float
    ci_high: float
    ci_level: float
    p_value: float
    p_adjusted: float
    non_inferior: bool
    sd: float
    detectable_margin: float | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "delta": self.delta, "ci": [self.ci_low, self.ci_high], "ci_level": self.ci_level,
            "p_value": self.p_value, "p_adjusted": self.p_adjusted, "non_inferior": self.non_inferior,
            "sd_delta": self.sd, "detectable_margin": self.detectable_margin,
        }


def detectable_margin(sd: float, n: int, alpha: float = 0.05, power: float = 0.8) -> float | None:
    """Smallest non-inferiority margin a one-sided paired t-test at level ``alpha`` proves with ``power``
    when the true mean difference is 0 and the per-query differences have standard deviation ``sd``:
    ``(t_{1-alpha,n-1} + t_{power,n-1}) * sd / sqrt(n)`` (the usual normal-approximation sample-size
    formula, e.g. Chow, Shao & Wang, *Sample Size Calculations in Clinical Research*, 3.2, with t
    quantiles). ``None`` when ``n < 2``; 0 when ``sd == 0``."""
    if n < 2:
        return None
    if sd <= 0:
        return 0.0
    df = n - 1
    return float((stats.t.ppf(1 - alpha, df) + stats.t.ppf(power, df)) * sd / math.sqrt(n))


def _one_sided(diff: np.ndarray, margin: float, alpha: float, test: str, n_resamples: int, seed: int) -> tuple[float, float, float]:
    """(p, ci_low, ci_high) for H0: mean(diff) <= -margin; interval at level 1 - 2 alpha."""
    n = diff.size
    mean = float(diff.mean())
    sd = float(diff.std(ddof=1))
    if sd == 0.0:  # every query moved by exactly the same amount: the mean is known exactly
        return (0.0 if mean > -margin else 1.0), mean, mean
    if test == "t":
        se = sd / math.sqrt(n)
        t = (mean + margin) / se
        p = float(stats.t.sf(t, n - 1))
        h = float(stats.t.ppf(1 - alpha, n - 1)) * se
        return p, mean - h, mean + h
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, n, size=(n_resamples, n))
    means = diff[idx].mean(axis=1)
    p = float((1 + np.sum(means <= -margin)) / (n_resamples + 1))
    lo, hi = np.quantile(means, [alpha, 1 - alpha])
    return p, float(lo), float(hi)


def non_inferiority(
    baseline: np.ndarray,
    candidates: Mapping[str, np.ndarray],
    margin: float = 0.01,
    alpha: float = 0.05,
    test: str = "t",
    correction: str = "holm",
    power: float = 0.8,
    n_resamples: int = 10_000,
    seed: int = 0,
) -> dict[str, NonInferiority]:
    """Is each candidate no worse than the baseline by more than ``margin``? Paired over queries.

    Args:
        baseline: per-query scores (n_queries,), e.g. nDCG@10 fractions.
        candidates: ``{name: scores}``, same queries in the same order.
        margin: the non-inferiority margin, in the metric's units (0.01 = one nDCG point), >= 0.
        alpha: one-sided level; test: ``"t"`` (paired Student t) or ``"bootstrap"`` (percentile bootstrap
            of the mean difference); correction: over the family of candidates (``holm`` default).

    Returns:
        ``{name: NonInferiority}``.

    Raises:
        InvalidParameterError: bad margin / alpha / test, or score arrays of different lengths.
        EmptyInputError: fewer than 2 queries (no paired test is possible).
    """
    if test not in NI_TESTS:
        raise InvalidParameterError(f"test={test!r}: use one of {NI_TESTS}.")
    if not (isinstance(margin, (int, float)) and math.isfinite(margin) and margin >= 0):
        raise InvalidParameterError(f"margin={margin!r} must be a finite number >= 0 (e.g. 0.01 = one nDCG@10 point).")
    if not 0 < alpha < 0.5:
        raise InvalidParameterError(f"alpha={alpha!r} must lie strictly between 0 and 0.5 (e.g. 0.05).")
    base = np.asarray(baseline, dtype=np.float64)
    if base.size < 2:
        raise EmptyInputError(f"A paired test needs at least 2 labelled queries; got {base.size}.")
    raw: dict[str, tuple[float, float, float, float, float]] = {}
    for name, scores in candidates.items():
        s = np.asarray(scores, dtype=np.float64)
        if s.shape != base.shape:
            raise InvalidParameterError(
                f"candidate {name!r} has {s.size} per-query scores but the baseline has {base.size}: score the same queries."
            )
        diff = s - base
        p, lo, hi = _one_sided(diff, float(margin), alpha, test, n_resamples, seed)
        raw[name] = (float(diff.mean()), lo, hi, p, float(diff.std(ddof=1)))
    names = list(raw)
    adj = adjust_pvalues([raw[n][3] for n in names], correction) if names else []
    m = max(1, len(names))
    out = {}
    for name, pa in zip(names, adj):
        delta, lo, hi, p, sd = raw[name]
        out[name] = NonInferiority(
            delta=delta, ci_low=lo, ci_high=hi, ci_level=1 - 2 * alpha, p_value=p, p_adjusted=float(pa),
            non_inferior=bool(pa <= alpha), sd=sd,
            # Bonferroni level alpha/m: the most stringent Holm step, so the margin is not overstated
            detectable_margin=detectable_margin(sd, base.size, alpha / m if correction != "none" else alpha, power),
        )
    return out
