"""Is run B really better than run A? Confidence intervals and paired tests over queries.

Input is a per-query score matrix per run (the same labelled queries, in the same order, for every
run), as ``evaluate_per_query`` gives it. Intervals come from ``scipy.stats.bootstrap`` (resampling
queries); paired tests from scipy (``ttest_rel`` = ranx's "student", ``permutation_test`` with paired
sign flips = ranx's "fisher" randomisation test, ``wilcoxon``). Each metric's family of
"run vs baseline" p-values is corrected for multiple comparisons (Holm by default; Bonferroni;
Benjamini-Hochberg via ``scipy.stats.false_discovery_control``). ``ranx_compare`` runs ranx's own
``compare`` on the same runs, so the p-values can be checked against it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import stats

from langchain_embcompare.errors import EmptyInputError, InvalidParameterError

Run = dict[str, dict[str, float]]

STAT_TESTS = ("student", "permutation", "wilcoxon")
CORRECTIONS = ("holm", "bonferroni", "fdr_bh", "none")

__all__ = [
    "STAT_TESTS",
    "CORRECTIONS",
    "Interval",
    "MetricSignificance",
    "SignificanceResult",
    "per_query_matrix",
    "bootstrap_ci",
    "paired_pvalue",
    "adjust_pvalues",
    "significance_vs_baseline",
    "ranx_compare",
]


@dataclass(frozen=True)
class Interval:
    """A mean with its confidence interval."""

    mean: float
    low: float
    high: float

    def to_dict(self) -> dict[str, float]:
        return {"mean": self.mean, "low": self.low, "high": self.high}


def per_query_matrix(
    run: Run, qrels: Mapping[str, Mapping[str, int]], metrics: Sequence[str]
) -> tuple[list[str], np.ndarray]:
    """(query ids, array (n_metrics, n_queries)) from the package's pytrec_eval metrics."""
    from langchain_embcompare.evaluation.metrics import evaluate_per_query

    per_query = evaluate_per_query(run, qrels, metrics)
    qids = sorted(per_query)
    if not qids:
        raise EmptyInputError("No labelled queries: qrels is empty, so quality cannot be measured.")
    mat = np.array([[per_query[q][m] for q in qids] for m in metrics], dtype=np.float64)
    return qids, mat


def _check_confidence(confidence: float) -> None:
    if not 0.0 < confidence < 1.0:
        raise InvalidParameterError(f"confidence={confidence!r} must lie strictly between 0 and 1 (e.g. 0.95).")


def bootstrap_ci(
    scores: np.ndarray,
    confidence: float = 0.95,
    n_resamples: int = 2000,
    seed: int = 0,
    method: str = "percentile",
) -> list[Interval]:
    """Bootstrap interval of the mean over queries, for each row of ``scores`` (n_metrics, n_queries).

    Percentile by default: BCa is undefined when a metric is constant over queries (all zero).
    """
    _check_confidence(confidence)
    scores = np.atleast_2d(np.asarray(scores, dtype=np.float64))
    if scores.shape[-1] == 0:
        raise EmptyInputError("No per-query scores: cannot bootstrap an interval over zero queries.")
    means = scores.mean(axis=-1)
    if scores.shape[-1] == 1:
        return [Interval(float(m), float(m), float(m)) for m in means]
    res = stats.bootstrap(
        (scores,),
        np.mean,
        axis=-1,
        vectorized=True,
        n_resamples=n_resamples,
        confidence_level=confidence,
        method=method,
        rng=np.random.default_rng(seed),
    )
    lo = np.atleast_1d(res.confidence_interval.low)
    hi = np.atleast_1d(res.confidence_interval.high)
    # A constant row gives a degenerate (or NaN) interval: it is exactly its mean.
    lo = np.where(np.isnan(lo), means, lo)
    hi = np.where(np.isnan(hi), means, hi)
    return [Interval(float(m), float(a), float(b)) for m, a, b in zip(means, lo, hi)]


def paired_pvalue(
    baseline: np.ndarray,
    treatment: np.ndarray,
    test: str = "student",
    n_permutations: int = 10_000,
    seed: int = 42,
) -> float:
    """Two-sided p-value that ``treatment`` and ``baseline`` (per-query scores, paired) have equal means.

    ``student`` = ``scipy.stats.ttest_rel`` (ranx's "student"); ``permutation`` = paired randomisation
    test on the mean difference (ranx's "fisher"); ``wilcoxon`` = signed-rank test. Identical runs -> 1.
    """
    if test not in STAT_TESTS:
        raise InvalidParameterError(f"stat_test={test!r}: use one of {STAT_TESTS}.")
    a = np.asarray(baseline, dtype=np.float64)
    b = np.asarray(treatment, dtype=np.float64)
    if a.shape != b.shape:
        raise InvalidParameterError(
            f"Paired test needs the same queries in both runs: got {a.shape[0]} and {b.shape[0]} scores."
        )
    if a.size < 2:
        raise EmptyInputError("A paired test needs at least two labelled queries.")
    diff = b - a
    if np.all(diff == 0):
        return 1.0
    if test == "student":
        p = stats.ttest_rel(b, a, alternative="two-sided").pvalue
    elif test == "wilcoxon":
        p = stats.wilcoxon(b, a, zero_method="wilcox", alternative="two-sided").pvalue
    else:
        p = stats.permutation_test(
            (a, b),
            lambda x, y, axis: np.abs(np.mean(y - x, axis=axis)),
            permutation_type="samples",
            vectorized=True,
            n_resamples=n_permutations,
            alternative="greater",  # P(|mean diff*| >= |mean diff|), as ranx's fisher test counts it
            rng=np.random.default_rng(seed),
        ).pvalue
    return 1.0 if math.isnan(p) else float(p)


def adjust_pvalues(pvalues: Sequence[float], method: str = "holm") -> np.ndarray:
    """Family-wise (Holm, Bonferroni) or false-discovery (BH) adjusted p-values, same order as given."""
    if method not in CORRECTIONS:
        raise InvalidParameterError(f"correction={method!r}: use one of {CORRECTIONS}.")
    p = np.asarray(pvalues, dtype=np.float64)
    m = p.size
    if m == 0 or method == "none":
        return p.copy()
    if method == "bonferroni":
        return np.minimum(p * m, 1.0)
    if method == "fdr_bh":
        return stats.false_discovery_control(p, method="bh")
    # Holm step-down: sorted p_(i) * (m - i), made monotone, capped at 1.
    order = np.argsort(p, kind="stable")
    stepped = np.maximum.accumulate(p[order] * (m - np.arange(m)))
    out = np.empty(m)
    out[order] = np.minimum(stepped, 1.0)
    return out


@dataclass(frozen=True)
class MetricSignificance:
    """One run's numbers for one metric: interval, and the test against the baseline."""

    interval: Interval
    delta: float | None = None  # mean(run) - mean(baseline)
    p_value: float | None = None  # raw, two-sided
    p_adjusted: float | None = None  # after the multiple-comparison correction
    significant: bool | None = None  # p_adjusted <= alpha

    def to_dict(self) -> dict:
        return {
            "mean": self.interval.mean,
            "ci_low": self.interval.low,
            "ci_high": self.interval.high,
            "delta_vs_baseline": self.delta,
            "p_value": self.p_value,
            "p_adjusted": self.p_adjusted,
            "significant": self.significant,
        }


@dataclass
class SignificanceResult:
    """Per run and metric: mean, interval, and (except the baseline) corrected p-value."""

    metrics: list[str]
    baseline: str | None
    stat_test: str
    correction: str
    alpha: float
    confidence: float
    n_queries: int
    runs: dict[str, dict[str, MetricSignificance]] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {
            "metrics": list(self.metrics),
            "baseline": self.baseline,
            "stat_test": self.stat_test,
            "correction": self.correction,
            "alpha": self.alpha,
            "confidence": self.confidence,
            "n_queries": self.n_queries,
            "runs": {name: {m: v.to_dict() for m, v in per.items()} for name, per in self.runs.items()},
        }


def significance_vs_baseline(
    scores: Mapping[str, np.ndarray],
    metrics: Sequence[str],
    baseline: str | None = None,
    stat_test: str = "student",
    correction: str = "holm",
    alpha: float = 0.05,
    confidence: float = 0.95,
    n_resamples: int = 2000,
    n_permutations: int = 10_000,
    seed: int = 0,
) -> SignificanceResult:
    """Intervals for every run; p-values of every other run against ``baseline`` (None: intervals only).

    ``scores[name]`` is an (n_metrics, n_queries) array, rows in ``metrics`` order, columns the same
    queries for every run. The correction treats, per metric, the N-1 comparisons with the baseline as
    one family.
    """
    if stat_test not in STAT_TESTS:
        raise InvalidParameterError(f"stat_test={stat_test!r}: use one of {STAT_TESTS}.")
    if correction not in CORRECTIONS:
        raise InvalidParameterError(f"correction={correction!r}: use one of {CORRECTIONS}.")
    if not 0.0 < alpha < 1.0:
        raise InvalidParameterError(f"alpha={alpha!r} must lie strictly between 0 and 1 (e.g. 0.05).")
    if not scores:
        raise EmptyInputError("No runs: pass at least one run's per-query scores.")
    if baseline is not None and baseline not in scores:
        raise InvalidParameterError(f"baseline={baseline!r} is not one of the runs {sorted(scores)}.")
    shapes = {name: np.shape(s) for name, s in scores.items()}
    if len(set(shapes.values())) != 1 or len(next(iter(shapes.values()))) != 2:
        raise InvalidParameterError(f"Every run needs an (n_metrics, n_queries) score array; got {shapes}.")
    n_metrics, n_queries = next(iter(shapes.values()))
    if n_metrics != len(metrics):
        raise InvalidParameterError(f"Score arrays have {n_metrics} rows but {len(metrics)} metrics were named.")
    intervals = {
        name: bootstrap_ci(s, confidence=confidence, n_resamples=n_resamples, seed=seed) for name, s in scores.items()
    }
    others = [n for n in scores if n != baseline] if baseline is not None else []
    raw = {
        (name, j): paired_pvalue(scores[baseline][j], scores[name][j], stat_test, n_permutations, seed)
        for name in others
        for j in range(n_metrics)
    }
    adjusted: dict[tuple[str, int], float] = {}
    for j in range(n_metrics):
        if others:
            adj = adjust_pvalues([raw[(n, j)] for n in others], correction)
            adjusted.update({(n, j): float(a) for n, a in zip(others, adj)})
    out = SignificanceResult(
        metrics=list(metrics),
        baseline=baseline,
        stat_test=stat_test,
        correction=correction,
        alpha=alpha,
        confidence=confidence,
        n_queries=int(n_queries),
    )
    for name, s in scores.items():
        per = {}
        for j, metric in enumerate(metrics):
            if name in others:
                delta = float(np.mean(s[j]) - np.mean(scores[baseline][j]))
                pa = adjusted[(name, j)]
                per[metric] = MetricSignificance(intervals[name][j], delta, raw[(name, j)], pa, bool(pa <= alpha))
            else:
                per[metric] = MetricSignificance(intervals[name][j])
        out.runs[name] = per
    return out


def ranx_compare(
    runs: Mapping[str, Run],
    qrels: Mapping[str, Mapping[str, int]],
    metrics: Sequence[str],
    stat_test: str = "student",
    max_p: float = 0.05,
    n_permutations: int = 1000,
):
    """ranx's own ``compare`` on the same runs (a ``ranx.Report``): the reference our p-values are checked against.

    ranx has no multiple-comparison correction; its p-values are the raw ones.
    """
    from ranx import Qrels as RQrels
    from ranx import Run as RRun
    from ranx import compare

    rq = RQrels({q: {d: int(r) for d, r in docs.items()} for q, docs in qrels.items()})
    rr = []
    for name, run in runs.items():
        r = RRun({q: dict(docs) for q, docs in run.items() if docs}, name=name)
        rr.append(r)
    return compare(
        qrels=rq,
        runs=rr,
        metrics=list(metrics),
        stat_test=stat_test,
        max_p=max_p,
        n_permutations=n_permutations,
        make_comparable=True,
        rounding_digits=6,
    )
