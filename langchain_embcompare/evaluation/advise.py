"""The shrink advisor: the cheapest retrieval setup that is provably not worse than the baseline.

``advise(dataset, models=["all-MiniLM-L6-v2"], margin=0.01, budgets=("memory",))`` sweeps the settings
the package supports (Matryoshka dimension, precision float32 / int8 / binary, PCA rotation, index kind,
cluster prefilter, funnel shortlist, the hybrid arm when :class:`EvalSettings` accepts
``retriever="hybrid"``), measures each one's quality (per query), index memory, single-query latency and
embedding cost, and answers:

- the Pareto fronts: quality against memory, against latency, against cost;
- the cheapest setting (on the first budget named: ``memory`` = the bytes a query touches: the faiss
  index as serialised, plus the float vectors a binary index rescores with, the funnel's shortlist
  index, the cluster prefilter's centroids / means / labels; ``latency`` = p50 ms of one query, its
  embedding included; ``cost`` = USD per 1M texts embedded) that is **non-inferior** to the baseline at ``margin``: a
  paired one-sided test on per-query scores, H0: mean(candidate - baseline) <= -margin (Student t on the
  differences, or a percentile bootstrap of their mean), Holm-corrected over every candidate measured,
  with the (1 - 2 alpha) confidence interval of the difference (the interval that matches a one-sided
  level-alpha test, as in the CONSORT non-inferiority guidance, Piaggio et al., JAMA 2012);
- the winner as a :class:`RunSpec`, an ``ab.toml`` snippet and the Python lines that build it;
- when the data cannot decide: the smallest margin it could detect (80 % power) and how many labelled
  queries that margin needs, instead of a winner.

The sweep is not brute force. Each model's corpus and queries are encoded once, at native dimension
(:class:`MatryoshkaEmbeddings` caches native vectors; every dim / precision / rotation is derived from
them); along the dimension and precision axes refinement stops once a setting's measured difference is
already below ``-margin`` (non-inferiority is rejected there, and smaller settings lose more); index
kinds, cluster prefilter, funnel and hybrid are tried only on the shapes that are not dominated (on
quality, memory, latency and cost together: :func:`prune_dominated`, which never drops a point of
any front) and whose point estimate is within the margin. A ``time_budget_s`` stops the sweep early
(the answer then says so), and ``state=PATH`` makes it resumable: every measured setting is saved, a
rerun measures only the missing ones.
"""

from __future__ import annotations

import dataclasses
import hashlib
import html
import json
import math
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats

from langchain_embcompare.errors import (
    EmbCompareError,
    EmptyInputError,
    InvalidParameterError,
)
from langchain_embcompare.evaluation.compare import (
    RunSpec,
    _clean,
    _encode_uncached,
    _index_bytes,
    _percentiles,
    _throughput,
)
from langchain_embcompare.evaluation.cost import (
    DEFAULT_MACHINE_USD_PER_HOUR,
    cost_per_million,
    is_api_model,
)
from langchain_embcompare.evaluation.datasets import BeirDataset
from langchain_embcompare.evaluation.metrics import retrieve_run
from langchain_embcompare.evaluation.pipeline import (
    EvalSettings,
    build_retriever,
    build_store,
)
from langchain_embcompare.evaluation.significance import (
    adjust_pvalues,
    per_query_matrix,
)

__all__ = [
    "BUDGETS",
    "AdviceResult",
    "Candidate",
    "NonInferiority",
    "advise",
    "detectable_margin",
    "hybrid_supported",
    "non_inferiority",
    "pareto_fronts",
    "prune_dominated",
]

#: budget name -> candidate field it minimises
BUDGETS: dict[str, str] = {"memory": "index_bytes", "latency": "p50_ms", "cost": "usd_per_1m_texts"}
NI_TESTS = ("t", "bootstrap")
_PREC_RANK = {"float32": 0, "int8": 1, "binary": 2}


# --- the statistics ---------------------------------------------------------------------------------


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


# --- fronts and pruning -----------------------------------------------------------------------------


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


# --- candidates -------------------------------------------------------------------------------------


@dataclass
class Candidate:
    """One measured setting. ``per_query`` = primary-metric scores in ``AdviceResult.query_ids`` order;
    ``top`` = each query's ``top_keep`` best doc ids with scores (for the drill-down)."""

    name: str
    spec: RunSpec
    stage: str
    quality: dict[str, float]
    index_bytes: int | None
    p50_ms: float | None
    usd_per_1m_texts: float | None
    per_query: np.ndarray
    top: dict[str, dict[str, float]] = field(default_factory=dict, repr=False)
    extra: dict[str, Any] = field(default_factory=dict)
    test: NonInferiority | None = None

    def row(self, metric: str) -> dict[str, Any]:
        """The JSON row: ``name``, ``settings``, ``<metric>``, ``index_bytes``, ``p50_ms``, ``usd_per_1m_texts``, test."""
        d: dict[str, Any] = {
            "name": self.name, "stage": self.stage, "settings": _spec_settings(self.spec),
            **self.quality, "index_bytes": self.index_bytes, "p50_ms": self.p50_ms,
            "usd_per_1m_texts": self.usd_per_1m_texts,
        }
        if self.test is not None:
            d["delta"] = self.test.delta
            d["ci"] = [self.test.ci_low, self.test.ci_high]
            d["ci_level"] = self.test.ci_level
            d["p_value"] = self.test.p_value
            d["p_adjusted"] = self.test.p_adjusted
            d["non_inferior"] = self.test.non_inferior
            d["detectable_margin"] = self.test.detectable_margin
        if self.extra:
            d["extra"] = self.extra
        return d


_SPEC_DEFAULTS = {f.name: f.default for f in dataclasses.fields(RunSpec) if f.default is not dataclasses.MISSING}


def _spec_settings(spec: RunSpec) -> dict[str, Any]:
    """The spec's fields that differ from RunSpec's defaults (plus the model), minus ``k`` and ``name``."""
    d = spec.to_dict()
    out = {"model": d["model"]}
    for k, v in d.items():
        if k in ("model", "k", "name", "redis_url"):
            continue
        if k in _SPEC_DEFAULTS and _SPEC_DEFAULTS[k] == v:
            continue
        out[k] = v
    return out


def hybrid_supported() -> bool:
    """Whether this install's :class:`EvalSettings` accepts ``retriever="hybrid"`` (the BM25 + vector arm)."""
    try:
        EvalSettings(retriever="hybrid")
    except (InvalidParameterError, ValueError, TypeError):
        return False
    return True


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    return json.dumps(str(v))


# --- the result -------------------------------------------------------------------------------------


@dataclass
class AdviceResult:
    """The advisor's answer: prints (``summary_text``), serialises (``to_dict`` / ``to_json``), reports (``to_html``).

    ``winner`` is None when no cheaper candidate is non-inferior; ``status`` says why:
    ``"non_inferior"`` (a winner), ``"none_non_inferior"`` (the data could detect the margin, no cheaper
    setting passed), ``"underpowered"`` (too few labelled queries for this margin: see
    ``detectable_margin`` and ``queries_needed``), ``"no_cheaper_candidate"`` (nothing cheaper than the
    baseline was measured, e.g. the time budget ran out).

    ``detectable_margin`` is the smallest margin the data could prove (80 % power, level alpha / number of
    candidates) for the cheaper candidate with the least spread of per-query differences: when it is
    above ``margin``, the margin asked is below what these queries can resolve, and ``queries_needed``
    (= n_queries x (detectable_margin / margin)^2, the sample-size formula's scaling) says how many would.
    """

    dataset: str
    n_documents: int
    n_queries: int
    metric: str
    margin: float
    alpha: float
    test: str
    budgets: list[str]
    baseline: Candidate
    candidates: list[Candidate]
    winner: Candidate | None
    winners: dict[str, str | None]
    status: str
    detectable_margin: float | None
    queries_needed: int | None
    fronts: dict[str, list[str]]
    drilldown: dict[str, Any]
    sweep: dict[str, Any]
    query_ids: list[str] = field(default_factory=list, repr=False)

    # -- the winner as code ---------------------------------------------------------------------------

    def winner_toml(self) -> str | None:
        """An ``ab.toml`` comparing the baseline with the winner (``embcompare compare --config``), or None."""
        if self.winner is None:
            return None
        lines = [f"baseline = {json.dumps('baseline')}", f"k = {self.baseline.spec.k}"]
        for name, c in (("baseline", self.baseline), ("advised", self.winner)):
            lines += ["", "[[runs]]", f"name = {json.dumps(name)}"]
            lines += [f"{k} = {_toml_value(v)}" for k, v in _spec_settings(c.spec).items() if v is not None]
        return "\n".join(lines) + "\n"

    def winner_python(self) -> str | None:
        """Python lines that build the winning retriever (the same code path the advisor measured)."""
        if self.winner is None:
            return None
        args = ", ".join(f"{k}={v!r}" for k, v in _spec_settings(self.winner.spec).items() if v is not None)
        return (
            "import dataclasses\n"
            "from langchain_embcompare.evaluation.compare import RunSpec\n"
            "from langchain_embcompare.evaluation.pipeline import build_embeddings, build_retriever, build_store\n"
            f"spec = RunSpec({args}, k={self.winner.spec.k})\n"
            + ("index_spec = dataclasses.replace(spec, precision='float32')  # the funnel rescores float vectors\n"
               if self.winner.spec.retriever == "funnel" else "index_spec = spec\n")
            + "emb = build_embeddings(index_spec, dataset.texts)\n"
            "retriever = build_retriever(spec, build_store(index_spec, emb, dataset))\n"
        )

    # -- serialisation --------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: ``baseline``, ``winner``, ``front``, ``candidates``, ``margin``, ``n_queries``,
        ``detectable_margin`` (+ status, fronts per budget, winners per budget, drill-down, sweep facts)."""
        m = self.metric
        by_name = {c.name: c for c in self.candidates}
        front_names = list(dict.fromkeys(n for names in self.fronts.values() for n in names))
        front = []
        for n in front_names:
            row = (self.baseline if n == self.baseline.name else by_name[n]).row(m)
            row["fronts"] = [a for a, names in self.fronts.items() if n in names]
            front.append(row)
        winner = None
        if self.winner is not None:
            winner = self.winner.row(m)
            winner["ab_toml"] = self.winner_toml()
            winner["python"] = self.winner_python()
            winner["memory_ratio"] = _ratio(self.winner.index_bytes, self.baseline.index_bytes)
        return _clean(
            {
                "dataset": self.dataset,
                "n_documents": self.n_documents,
                "n_queries": self.n_queries,
                "metric": m,
                "margin": self.margin,
                "alpha": self.alpha,
                "test": self.test,
                "correction": "holm",
                "budget": self.budgets[0],
                "budgets": self.budgets,
                "status": self.status,
                "detectable_margin": self.detectable_margin,
                "queries_needed": self.queries_needed,
                "baseline": self.baseline.row(m),
                "winner": winner,
                "winners": self.winners,
                "front": front,
                "fronts": self.fronts,
                "candidates": [c.row(m) for c in self.candidates],
                "drilldown": self.drilldown,
                "sweep": self.sweep,
                "answer": self.summary_text(),
            }
        )

    def to_json(self, path: str | Path | None = None, indent: int = 2) -> str:
        """The JSON text; also written to ``path`` when given."""
        text = json.dumps(self.to_dict(), indent=indent)
        if path is not None:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            Path(path).write_text(text, encoding="utf-8")
        return text

    def summary_text(self) -> str:
        """The one-screen answer, plain text."""
        b, m = self.baseline, self.metric
        lines = [
            f"{self.dataset}: {self.n_queries} labelled queries, {self.n_documents} documents; "
            f"{self.sweep.get('n_measured', len(self.candidates) + 1)} settings measured in {self.sweep.get('seconds', 0):.0f} s"
            + (" (stopped by the time budget)" if self.sweep.get("truncated") else ""),
            f"baseline {b.name}: {m} {b.quality.get(m, float('nan')):.4f}, index {_mib(b.index_bytes)}, p50 {_ms(b.p50_ms)}",
        ]
        budget = self.budgets[0]
        if self.winner is not None:
            w, t = self.winner, self.winner.test
            lines += [
                (f"cheapest on {budget} that is non-inferior at margin {self.margin:g} ({self.test} test, Holm over "
                 f"{len(self.candidates)} candidates, alpha {self.alpha:g}):"),
                f"  {w.name}",
                (f"  {m} {w.quality.get(m, float('nan')):.4f} (difference {t.delta:+.4f}, {t.ci_level:.0%} CI "
                 f"[{t.ci_low:+.4f}, {t.ci_high:+.4f}], adjusted p {t.p_adjusted:.2g}); index {_mib(w.index_bytes)} "
                 f"({_pct(w.index_bytes, b.index_bytes)} of the baseline), p50 {_ms(w.p50_ms)}"),
            ]
        elif self.status == "no_cheaper_candidate":
            lines.append(f"no winner: no setting cheaper on {budget} than the baseline was measured"
                         + (" before the time budget ran out." if self.sweep.get("truncated") else "."))
        elif self.status == "underpowered":
            lines += [
                f"no winner: {self.n_queries} labelled queries cannot prove a margin of {self.margin:g}: the smallest "
                f"margin these data could detect is {_f3(self.detectable_margin)}"
                + (f"; label about {self.queries_needed} queries to test {self.margin:g}." if self.queries_needed else "."),
            ]
        else:
            lines += [
                (f"no cheaper setting is non-inferior at margin {self.margin:g} ({self.test} test, Holm over "
                 f"{len(self.candidates)} candidates, alpha {self.alpha:g}); the data could detect a margin of "
                 f"{_f3(self.detectable_margin)}."),
            ]
            best = self._closest()
            if best is not None and best.test is not None:
                lines.append(
                    f"  closest: {best.name}: difference {best.test.delta:+.4f}, CI [{best.test.ci_low:+.4f}, "
                    f"{best.test.ci_high:+.4f}], adjusted p {best.test.p_adjusted:.2g}"
                )
        for axis in self.budgets[1:]:
            lines.append(f"cheapest non-inferior on {axis}: {self.winners.get(axis) or 'none'}")
        for axis, names in self.fronts.items():
            lines.append(f"Pareto front ({m} vs {axis}): {len(names)} settings")
        return "\n".join(lines)

    def _closest(self) -> Candidate | None:
        key = BUDGETS[self.budgets[0]]
        base_v = getattr(self.baseline, key)
        cheaper = [c for c in self.candidates if c.test is not None and _lt(getattr(c, key), base_v)]
        return min(cheaper, key=lambda c: c.test.p_adjusted) if cheaper else None

    def to_table(self):
        """A rich Table of the front (quality, CI of the difference, memory, latency, cost)."""
        from rich.table import Table

        m = self.metric
        table = Table(title=f"Pareto front on {self.dataset} (margin {self.margin:g}; * = non-inferior)")
        for col in ("setting", m, f"diff [{1 - 2 * self.alpha:.0%} CI]", "adj. p", "index", "p50 ms", "USD/1M"):
            table.add_column(col, justify="left" if col == "setting" else "right", overflow="fold")
        names = list(dict.fromkeys(n for ns in self.fronts.values() for n in ns))
        by = {c.name: c for c in [self.baseline, *self.candidates]}
        for n in sorted(names, key=lambda n: -(by[n].index_bytes or 0)):
            c = by[n]
            t = c.test
            mark = " (baseline)" if c is self.baseline else (" <- winner" if c is self.winner else "")
            table.add_row(
                n + mark,
                f"{c.quality.get(m, float('nan')):.4f}" + ("*" if t and t.non_inferior else ""),
                "-" if t is None else f"{t.delta:+.4f} [{t.ci_low:+.4f},{t.ci_high:+.4f}]",
                "-" if t is None else f"{t.p_adjusted:.2g}",
                _mib(c.index_bytes), _ms(c.p50_ms, unit=False),
                "-" if c.usd_per_1m_texts is None else f"{c.usd_per_1m_texts:.4f}",
            )
        return table

    def to_html(self, path: str | Path, title: str | None = None) -> Path:
        """Self-contained HTML: the answer, the winner's snippet, the fronts (plotly), every candidate, the drill-down."""
        import plotly.offline

        from langchain_embcompare.evaluation.report import (
            _CSS,
            drilldown_html,
            pareto_figure,
        )

        m = self.metric
        rows = [self.baseline, *self.candidates]
        data = {
            "labelled": True,
            "runs": {
                c.name: {m: c.quality.get(m), "latency_ms": {"p50": c.p50_ms}, "index_memory_bytes": c.index_bytes,
                         "cost": {"usd_per_million_texts": c.usd_per_1m_texts}}
                for c in rows
            },
        }
        fig = pareto_figure(data, metric=m)
        fig_html = fig.to_html(full_html=False, include_plotlyjs=False, config={"displaylogo": False}) if fig else ""
        d = self.to_dict()
        head = ["setting", "stage", m, "diff", "CI", "adj. p", "non-inferior", "index", "p50 ms", "USD/1M", "front"]
        front_of = {n: [a for a, ns in self.fronts.items() if n in ns] for n in (c.name for c in rows)}
        trs = []
        for r in [d["baseline"], *d["candidates"]]:
            ci = r.get("ci") or [None, None]
            name = html.escape(r["name"])
            if r["name"] in self.drilldown:
                name = f"<a href='#dd-{''.join(ch if ch.isalnum() else '-' for ch in r['name'])}'>{name}</a>"
            cells = [
                name, html.escape(str(r.get("stage", ""))), _f4(r.get(m)), _f4s(r.get("delta")),
                "–" if ci[0] is None else f"[{ci[0]:+.4f}, {ci[1]:+.4f}]",
                "–" if r.get("p_adjusted") is None else f"{r['p_adjusted']:.2g}",
                {True: "yes", False: "no"}.get(r.get("non_inferior"), "baseline"),
                _mib(r.get("index_bytes")), _ms(r.get("p50_ms"), unit=False),
                "–" if r.get("usd_per_1m_texts") is None else f"{r['usd_per_1m_texts']:.4f}",
                ", ".join(front_of.get(r["name"], [])),
            ]
            cls = " class='winner'" if self.winner is not None and r["name"] == self.winner.name else ""
            trs.append(f"<tr{cls}>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
        snippet = ""
        if self.winner is not None:
            snippet = (
                "<h2>The winner as a config</h2><pre>" + html.escape(self.winner_toml() or "") + "</pre>"
                "<h2>… and in Python</h2><pre>" + html.escape(self.winner_python() or "") + "</pre>"
            )
        title = title or f"Shrink advisor: {self.dataset}"
        payload = json.dumps(d, default=str).replace("</", "<\\/")
        text = (
            "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
            f"<title>{html.escape(title)}</title><style>{_CSS} tr.winner{{background:#fff6d5}} pre{{background:#f4f4f4;padding:8px}}</style>"
            f"<script type='text/javascript'>{plotly.offline.get_plotlyjs()}</script></head><body>"
            f"<h1>{html.escape(title)}</h1><section><pre class='answer'>{html.escape(self.summary_text())}</pre></section>"
            f"{snippet}<section class='plot-section' data-plot='pareto'>{fig_html}</section>"
            "<section><h2>Every setting measured</h2><table class='summary'><thead><tr>"
            + "".join(f"<th>{html.escape(h)}</th>" for h in head)
            + "</tr></thead><tbody>" + "".join(trs) + "</tbody></table></section>"
            + drilldown_html(self.drilldown, self.baseline.name)
            + f"<script type='application/json' id='advice-data'>{payload}</script></body></html>"
        )
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text, encoding="utf-8")
        return p

    def __str__(self) -> str:
        return self.summary_text()


def _ratio(a: Any, b: Any) -> float | None:
    return None if a is None or not b else float(a) / float(b)


def _lt(a: Any, b: Any) -> bool:
    return a is not None and b is not None and float(a) < float(b)


def _mib(b: Any) -> str:
    return "-" if b is None else f"{float(b) / 2**20:.2f} MiB"


def _ms(v: Any, unit: bool = True) -> str:
    return "-" if v is None else f"{float(v):.2f}" + (" ms" if unit else "")


def _pct(a: Any, b: Any) -> str:
    r = _ratio(a, b)
    return "-" if r is None else f"{r:.1%}"


def _f3(v: Any) -> str:
    return "-" if v is None else f"{float(v):.3f}"


def _f4(v: Any) -> str:
    return "–" if v is None else f"{float(v):.4f}"


def _f4s(v: Any) -> str:
    return "–" if v is None else f"{float(v):+.4f}"


# --- the sweep --------------------------------------------------------------------------------------


class _Stages:
    """Progress per stage: a rich progress bar on stderr (``progress=True``) and/or the ``on_stage`` callback."""

    def __init__(self, on_stage: Callable[[str], None] | None, progress: bool) -> None:
        self.on_stage = on_stage or (lambda s: None)
        self.bar = None
        self.task = None
        if progress:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
            )

            self.bar = Progress(
                TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                console=Console(stderr=True), transient=False,
            )
            self.bar.start()

    def stage(self, name: str, total: int | None) -> None:
        self.on_stage(f"stage: {name}" + (f" ({total} settings)" if total is not None else ""))
        if self.bar is not None:
            if self.task is not None:
                self.bar.update(self.task, completed=self.bar.tasks[-1].total)
            self.task = self.bar.add_task(name, total=total)

    def step(self, msg: str) -> None:
        self.on_stage(msg)
        if self.bar is not None and self.task is not None:
            self.bar.advance(self.task)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()


def _fingerprint(ds: BeirDataset, k: int, metric: str) -> str:
    h = hashlib.sha1()
    for d in ds.corpus:
        h.update(str(d.id).encode() + b"\0")
    for q in sorted(ds.qrels):
        h.update(q.encode() + b"\1" + json.dumps(sorted(ds.qrels[q].items())).encode())
    h.update(f"{k}|{metric}".encode())
    return h.hexdigest()[:16]


def _default_dims(native: int, min_dim: int) -> list[int]:
    dims = [native] + [d for d in (1024, 768, 512, 384, 256, 192, 128, 96, 64, 48, 32, 16) if d < native and d >= min_dim]
    return list(dict.fromkeys(dims))


def _as_spec(b: RunSpec | EvalSettings | str, k: int) -> RunSpec:
    if isinstance(b, str):
        return RunSpec(model=b, k=k)
    if isinstance(b, RunSpec):
        return dataclasses.replace(b, k=k)
    if isinstance(b, EvalSettings):
        return RunSpec(**{**b.to_dict(), "k": k})
    raise InvalidParameterError(f"baseline must be a RunSpec, EvalSettings or model name, got {type(b).__name__}.")


def advise(
    dataset: BeirDataset,
    models: Sequence[Any] = ("all-MiniLM-L6-v2",),
    baseline: RunSpec | EvalSettings | str | None = None,
    margin: float = 0.01,
    budgets: str | Sequence[str] = ("memory",),
    *,
    metric: str = "ndcg@10",
    alpha: float = 0.05,
    test: str = "t",
    power: float = 0.8,
    k: int = 100,
    dims: Sequence[int] | None = None,
    min_dim: int = 32,
    precisions: Sequence[str] = ("float32", "int8", "binary"),
    rotations: Sequence[str] = ("none", "pca"),
    indexes: Sequence[str] = ("hnsw", "ivf"),
    cluster: bool = True,
    funnel: bool = True,
    hybrid: bool | None = None,
    max_parents: int = 4,
    latency_queries: int = 20,
    throughput_texts: int = 128,
    prices: Mapping[str, float] | None = None,
    usd_per_hour: float = DEFAULT_MACHINE_USD_PER_HOUR,
    time_budget_s: float | None = None,
    state: str | Path | None = None,
    min_queries: int = 10,
    n_examples: int = 3,
    n_resamples: int = 10_000,
    seed: int = 0,
    on_stage: Callable[[str], None] | None = None,
    progress: bool = False,
) -> AdviceResult:
    """Sweep the settings, test each against the baseline, and name the cheapest non-inferior one.

    Args:
        dataset: a labelled :class:`BeirDataset` (``load_beir(path)``).
        models: model names (or :class:`MatryoshkaEmbeddings` objects, e.g. with their own cache) to sweep.
        baseline: the setting to protect (RunSpec / EvalSettings / model name); default: the first model at
            native dimension, float32, exact (flat) index, plain retriever.
        margin: the largest loss of ``metric`` (mean over queries, metric units) accepted as "not worse".
        budgets: ``"memory"`` (index bytes), ``"latency"`` (p50 ms of one query, model + search) or
            ``"cost"`` (USD per 1M texts embedded), or several; the winner minimises the first.
        metric: primary metric (``name@k``); alpha: one-sided test level; test: ``"t"`` or ``"bootstrap"``.
        dims / min_dim: dimensions to try (default: native, then the usual Matryoshka sizes down to min_dim).
        precisions / rotations / indexes: the axes to sweep (index kinds beyond the exact flat index).
        cluster / funnel / hybrid: also try the cluster prefilter (adaptive and a fixed nprobe), the funnel
            (float and binary shortlists), the hybrid arm (None: when EvalSettings accepts it).
        max_parents: how many of the best shapes get index / retriever variants.
        latency_queries: single queries timed per setting; throughput_texts: texts timed per model (cost).
        time_budget_s: stop measuring new settings after this many seconds (the answer says it stopped).
        state: a JSON file: measured settings are saved there and reused by a rerun (resumable sweep).
        min_queries: below this many labelled queries no winner is named (status ``underpowered``).

    Returns:
        :class:`AdviceResult`.

    Raises:
        EmptyInputError: the data set has no labelled queries. InvalidParameterError: a bad option
        (budget, margin, test, precision, rotation, index), or ``state`` written for other data.
    """
    t_start = time.perf_counter()
    if not isinstance(dataset, BeirDataset):
        raise InvalidParameterError("advise needs a labelled BeirDataset (load_beir(path)); got " + type(dataset).__name__)
    if not dataset.qrels:
        raise EmptyInputError(f"{dataset.name}: no relevance labels (qrels), so 'not worse' cannot be tested; add qrels/test.tsv.")
    if not dataset.corpus:
        raise EmptyInputError(f"{dataset.name}: the corpus is empty.")
    budgets = [budgets] if isinstance(budgets, str) else list(budgets)
    for b in budgets:
        if b not in BUDGETS:
            raise InvalidParameterError(f"budget {b!r}: use one of {list(BUDGETS)}.")
    if not budgets:
        raise InvalidParameterError(f"budgets is empty: name one of {list(BUDGETS)}.")
    if test not in NI_TESTS:
        raise InvalidParameterError(f"test={test!r}: use one of {NI_TESTS}.")
    if not (isinstance(margin, (int, float)) and math.isfinite(margin) and margin >= 0):
        raise InvalidParameterError(f"margin={margin!r} must be a finite number >= 0 (e.g. 0.01 = one nDCG@10 point).")
    for p in precisions:
        if p not in _PREC_RANK:
            raise InvalidParameterError(f"precision {p!r}: use float32, int8 or binary.")
    for r in rotations:
        if r not in ("none", "pca"):
            raise InvalidParameterError(f"rotation {r!r}: use none or pca.")
    for ix in indexes:
        if ix not in ("flat", "hnsw", "ivf"):
            raise InvalidParameterError(f"index {ix!r}: use flat, hnsw or ivf.")
    if not models:
        raise InvalidParameterError("Name at least one model to sweep (models=['all-MiniLM-L6-v2']).")
    from langchain_embcompare.matryoshka import MatryoshkaEmbeddings

    do_hybrid = hybrid_supported() if hybrid is None else bool(hybrid)
    if do_hybrid and not hybrid_supported():
        raise InvalidParameterError("hybrid=True, but this install's EvalSettings has no retriever='hybrid' (needs the BM25 arm).")

    ds = dataset
    ui = _Stages(on_stage, progress)
    rng = np.random.default_rng(seed)
    texts = ds.texts
    sample_docs = [texts[i] for i in rng.choice(len(texts), min(throughput_texts, len(texts)), replace=False)]
    all_qids = list(ds.queries)
    lat_qids = [all_qids[i] for i in rng.choice(len(all_qids), min(latency_queries, len(all_qids)), replace=False)]
    fp = _fingerprint(ds, k, metric)

    # -- resumable state ---------------------------------------------------------------------------
    saved: dict[str, Any] = {"fingerprint": fp, "models": {}, "rows": {}}
    state_path = Path(state) if state is not None else None
    if state_path is not None and state_path.exists():
        try:
            loaded = json.loads(state_path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise InvalidParameterError(f"{state_path}: not a JSON advisor state ({exc}); delete it or pass another state path.") from exc
        if loaded.get("fingerprint") != fp:
            raise InvalidParameterError(
                f"{state_path} was written for other data or settings (fingerprint {loaded.get('fingerprint')} != {fp}: "
                "corpus, labelled queries, k or metric differ); delete it or pass another state path."
            )
        saved = loaded
    n_resumed = 0

    def save_state() -> None:
        if state_path is None:
            return
        state_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = state_path.with_suffix(state_path.suffix + ".tmp")
        tmp.write_text(json.dumps(_clean(saved)), encoding="utf-8")
        os.replace(tmp, state_path)

    # -- per model: one encode, throughput, the model's share of query latency -------------------------
    bases: dict[str, Any] = {}
    rotated: dict[str, Any] = {}
    model_info: dict[str, dict[str, Any]] = {}
    model_names: list[str] = []
    cache_size: dict[str, dict[Any, int]] = {}
    for m in models:
        name = m.model_name if isinstance(m, MatryoshkaEmbeddings) else str(m)
        model_names.append(name)
        bases[name] = m

    def base_of(model: str):
        """The model's MatryoshkaEmbeddings, encoded once (corpus + queries) on first use."""
        b = bases.get(model)
        if not isinstance(b, MatryoshkaEmbeddings):
            b = MatryoshkaEmbeddings(b if b is not None else model)
            bases[model] = b
        info = model_info.get(model)
        if info is None:
            ui.step(f"{model}: encoding {len(texts)} documents and {len(all_qids)} queries once, at native dimension")
            t0 = time.perf_counter()
            before = {pr: len(b._cache(pr)) for pr in {b.document_prompt, b.query_prompt}}
            b.encode_documents(texts)
            b.encode_queries(list(ds.queries.values()))
            info = {"encode_s": time.perf_counter() - t0, "native_dim": b.output_dim}
            cache_size[model] = before
            mi = saved["models"].get(model)
            if mi is not None:  # resumed: reuse the measured model facts
                info.update(mi)
            else:
                if not is_api_model(b.model_name, prices):
                    info["throughput"] = _throughput(b, sample_docs)
                cost = cost_per_million(
                    b.model_name, texts=sample_docs, texts_per_second=(info.get("throughput") or {}).get("texts_per_second"),
                    prices=prices, usd_per_hour=usd_per_hour,
                )
                info["usd_per_1m_texts"] = cost.usd_per_million_texts
                qms = []
                for qid in lat_qids:
                    t1 = time.perf_counter()
                    _encode_uncached(b, [ds.queries[qid]], query=True)
                    qms.append(1000 * (time.perf_counter() - t1))
                info["query_embed_ms"] = qms
                saved["models"][model] = {k2: v for k2, v in info.items() if k2 != "encode_s"}
            model_info[model] = info
        return b

    def emb_for(spec: RunSpec):
        b = base_of(spec.model)
        if spec.rotation == "pca":
            if spec.model not in rotated:
                rotated[spec.model] = b.fit_rotation(texts)
            b = rotated[spec.model]
        return b.with_dim(spec.dim, precision=spec.precision)

    # -- measuring one setting ------------------------------------------------------------------------
    metrics = [metric] + [x for x in ("recall@100",) if x != metric]
    qids: list[str] = []
    measured: dict[str, Candidate] = {}
    skipped: list[dict[str, Any]] = []
    stores: dict[tuple, Any] = {}
    truncated = {"flag": False}

    def over_budget() -> bool:
        if time_budget_s is not None and time.perf_counter() - t_start > time_budget_s:
            truncated["flag"] = True
            return True
        return False

    def measure(spec: RunSpec, stage: str) -> Candidate | None:
        nonlocal qids, n_resumed
        name = spec.label()
        if name in measured:
            return measured[name]
        row = saved["rows"].get(name)
        if row is not None:
            qids = row["qids"]
            c = Candidate(
                name=name, spec=spec, stage=stage, quality=row["quality"], index_bytes=row["index_bytes"],
                p50_ms=row["p50_ms"], usd_per_1m_texts=row["usd_per_1m_texts"],
                per_query=np.asarray(row["per_query"], dtype=np.float64), top=row["top"], extra=row.get("extra", {}),
            )
            measured[name] = c
            n_resumed += 1
            ui.step(f"{name}: resumed from {state_path}")
            return c
        if stage != "baseline" and over_budget():  # the baseline is always measured
            return None
        try:
            # the funnel's precision is its shortlist's: the store keeps float vectors to rescore (as run_eval does)
            store_spec = dataclasses.replace(spec, precision="float32", name=None) if spec.retriever == "funnel" else spec
            emb = emb_for(store_spec)
            key = (spec.model, store_spec.dim, store_spec.precision, spec.rotation, spec.index)
            store = stores.get(key)
            if store is None:
                store = build_store(store_spec, emb, ds)
                stores[key] = store
            retriever = build_retriever(spec, store)
            run = retrieve_run(retriever, ds.queries, k=k)
            qids_here, mat = per_query_matrix(run, ds.qrels, metrics)
            lat = []
            if lat_qids:
                retriever.invoke(ds.queries[lat_qids[0]])  # warm-up
                qms = model_info[spec.model]["query_embed_ms"]
                for qid, model_ms in zip(lat_qids, qms):
                    t0 = time.perf_counter()
                    retriever.invoke(ds.queries[qid])  # query vector cached: this is the search
                    lat.append(1000 * (time.perf_counter() - t0) + model_ms)
            nbytes = _index_bytes(retriever)
            extra: dict[str, Any] = {}
            if store_spec.precision == "binary" and nbytes is not None and hasattr(store, "vectors"):
                # a binary index shortlists by Hamming distance and rescores with the float vectors: a query
                # touches both, so both count (the codes alone would flatter binary by ~30x)
                extra["codes_bytes"] = nbytes
                extra["rescore_bytes"] = int(store.vectors.nbytes)
                nbytes += extra["rescore_bytes"]
            small = getattr(retriever, "_small", None)  # funnel: the shortlist index lives beside the store
            if small is not None:
                import faiss

                writer = faiss.serialize_index_binary if isinstance(small, faiss.IndexBinary) else faiss.serialize_index
                extra["shortlist_index_bytes"] = int(writer(small).nbytes)
                nbytes = (nbytes or 0) + extra["shortlist_index_bytes"]
            clusters = getattr(retriever, "clusters", None)
            if clusters is not None and hasattr(clusters, "centroids"):
                extra["cluster_bytes"] = int(clusters.centroids.nbytes + clusters.labels.nbytes + clusters.means.nbytes)
                nbytes = (nbytes or 0) + extra["cluster_bytes"]
                stats_fn = getattr(retriever, "stats_summary", None)
                if callable(stats_fn):
                    extra.update({k2: v for k2, v in stats_fn().items() if isinstance(v, (int, float))})
        except (EmbCompareError, ValueError, RuntimeError, NotImplementedError) as exc:
            # an unsupported combination (faiss raises RuntimeError): recorded in sweep.skipped and the stage log
            skipped.append({"name": name, "stage": stage, "reason": f"{type(exc).__name__}: {exc}"})
            ui.step(f"{name}: skipped ({type(exc).__name__}: {exc})")
            return None
        if qids and qids_here != qids:
            raise InvalidParameterError("internal: query order changed between settings")
        qids = qids_here
        top = {q: dict(sorted(run.get(q, {}).items(), key=lambda x: (-x[1], x[0]))[:10]) for q in qids}
        c = Candidate(
            name=name, spec=spec, stage=stage,
            quality={mm: float(mat[j].mean()) for j, mm in enumerate(metrics)},
            index_bytes=nbytes, p50_ms=_percentiles(lat).get("p50") if lat else None,
            usd_per_1m_texts=model_info[spec.model].get("usd_per_1m_texts"),
            per_query=mat[0].copy(), top=top, extra=extra,
        )
        measured[name] = c
        saved["rows"][name] = {
            "qids": qids, "quality": c.quality, "index_bytes": c.index_bytes, "p50_ms": c.p50_ms,
            "usd_per_1m_texts": c.usd_per_1m_texts, "per_query": c.per_query.tolist(), "top": top, "extra": extra,
        }
        save_state()
        ui.step(f"{name}: {metric} {c.quality[metric]:.4f}, index {_mib(c.index_bytes)}, p50 {_ms(c.p50_ms)}")
        return c

    def native(model: str) -> int:
        b = bases.get(model)
        if isinstance(b, MatryoshkaEmbeddings) and b.native_dim:
            return int(b.native_dim)
        mi = saved["models"].get(model)
        if mi and mi.get("native_dim"):
            return int(mi["native_dim"])
        return int(base_of(model).output_dim)

    # -- stage 1: the baseline ------------------------------------------------------------------------
    ui.stage("baseline", 1)
    base_spec = _as_spec(baseline if baseline is not None else model_names[0], k)
    base_spec = dataclasses.replace(base_spec, name=None)
    if base_spec.model not in bases:
        bases[base_spec.model] = base_spec.model
    base_c = measure(base_spec, "baseline")
    if base_c is None:
        reason = skipped[-1]["reason"] if skipped else "the time budget ran out before it"
        raise InvalidParameterError(f"The baseline {base_spec.label()} could not be measured: {reason}.")
    n_q = len(qids)

    def delta(c: Candidate) -> float:
        return float(np.mean(c.per_query - base_c.per_query))

    def fails(c: Candidate | None) -> bool:
        return c is not None and delta(c) < -margin

    # -- stage 2: shapes (dim x precision x rotation, exact index) ---------------------------------------
    shape_plan = []
    for model in model_names:
        nat = native(model)
        dlist = [d for d in (dims or _default_dims(nat, min_dim)) if 0 < d <= nat]
        if not dlist:
            raise InvalidParameterError(f"dims {list(dims or [])}: none lies in 1..{nat} ({model}'s native dimension).")
        for rot in rotations:
            for d in sorted(set(dlist), reverse=True):
                if rot == "pca" and d == nat:
                    continue  # an orthogonal rotation changes nothing at full dimension
                for p in sorted(precisions, key=_PREC_RANK.get):
                    if p == "binary" and d % 8:
                        continue
                    shape_plan.append((model, rot, d, p, nat))
    ui.stage("shapes: dimension x precision x rotation", len(shape_plan))
    failed: list[tuple[str, str, int, int]] = []
    shapes: list[Candidate] = []
    n_stopped = 0
    for model, rot, d, p, nat in shape_plan:
        if any(fm == model and fr == rot and d <= fd and _PREC_RANK[p] >= fpr for fm, fr, fd, fpr in failed):
            ui.step(f"{model}/{d}d/{p}/{rot}: not measured (a larger or finer setting on this axis already lost more than the margin)")
            n_stopped += 1
            continue
        spec = RunSpec(model=model, dim=None if d == nat else d, precision=p, rotation=rot, k=k)
        c = base_c if spec.label() == base_c.name else measure(spec, "shape")
        if c is None:
            ui.step(f"{spec.label()}: not measured")
            continue
        if c is not base_c:
            shapes.append(c)
        if fails(c):
            failed.append((model, rot, d, _PREC_RANK[p]))

    # -- stage 3: index kinds / cluster / funnel / hybrid on the best shapes -------------------------------
    pool = [base_c, *shapes]
    keep = prune_dominated([_q_row(c, metric) for c in pool])
    parents = [c for c, kp in zip(pool, keep) if kp and not fails(c) and c.spec.retriever == "plain" and c.spec.index == "flat"]
    key = BUDGETS["memory"]
    parents.sort(key=lambda c: (getattr(c, key) or 0))
    if base_c not in parents[:max_parents]:
        parents = [base_c] + [c for c in parents if c is not base_c]
    parents = parents[:max_parents]
    plan: list[tuple[RunSpec, str, None]] = []
    for par in parents:
        s = par.spec
        for ix in indexes:
            if ix != "flat":
                plan.append((dataclasses.replace(s, index=ix), "index", None))
        if cluster:
            plan.append((dataclasses.replace(s, retriever="cluster", adaptive=True), "cluster", None))
            plan.append((dataclasses.replace(s, retriever="cluster", nprobe=2, name=f"{s.label()}/cluster-nprobe2"), "cluster", None))
        if do_hybrid:
            plan.append((dataclasses.replace(s, retriever="hybrid"), "hybrid", None))
    if funnel:
        for model in model_names:
            nat = native(model)
            short_dims = sorted({c.spec.dim or nat for c in shapes if c.spec.model == model and c.spec.precision == "float32"
                                 and c.spec.rotation == "none" and (c.spec.dim or nat) < nat and not fails(c)})[:2]
            fspecs = [(d, "float32") for d in short_dims] + ([(nat, "binary")] if nat % 8 == 0 and "binary" in precisions else [])
            for d, p in fspecs:
                spec = RunSpec(model=model, retriever="funnel", shortlist_dim=None if d == nat else d, shortlist=max(k, 100),
                               precision=p, k=k, name=f"{model}/{nat}d/float32/faiss/flat/funnel-{d}d-{p}")
                plan.append((spec, "funnel", None))
    ui.stage("variants: index kind, cluster prefilter, funnel" + (", hybrid" if do_hybrid else ""), len(plan))
    variants = []
    for spec, stage, _ in plan:
        c = measure(spec, stage)
        if c is not None:
            variants.append(c)
        elif truncated["flag"]:
            ui.step(f"{spec.label()}: not measured (time budget)")
    ui.close()

    # -- tests, fronts, winner -----------------------------------------------------------------------------
    cands = [c for c in measured.values() if c is not base_c]
    tests = non_inferiority(base_c.per_query, {c.name: c.per_query for c in cands}, margin, alpha, test, "holm", power, n_resamples, seed) if cands and n_q >= 2 else {}
    for c in cands:
        c.test = tests.get(c.name)
    everyone = [base_c, *cands]
    fr = pareto_fronts([_q_row(c, metric) for c in everyone])
    fronts = {axis: [everyone[i].name for i in idx] for axis, idx in fr.items()}

    powered = n_q >= min_queries
    winners: dict[str, str | None] = {}
    winner_objs: dict[str, Candidate | None] = {}
    for axis in budgets:
        attr = BUDGETS[axis]
        ok = [c for c in cands if c.test is not None and c.test.non_inferior and _lt(getattr(c, attr), getattr(base_c, attr))]
        best = min(ok, key=lambda c: (getattr(c, attr), -c.quality[metric], c.index_bytes or 0)) if ok and powered else None
        winner_objs[axis] = best
        winners[axis] = best.name if best else None
    winner = winner_objs[budgets[0]]
    attr0 = BUDGETS[budgets[0]]
    cheaper = [c for c in cands if c.test is not None and _lt(getattr(c, attr0), getattr(base_c, attr0))]
    dms = [c.test.detectable_margin for c in cheaper if c.test.detectable_margin is not None]
    det = min(dms) if dms else (detectable_margin(0.0, n_q) if n_q >= 2 else None)
    needed = None
    if winner is not None:
        status = "non_inferior"
    elif powered and not cheaper:
        status = "no_cheaper_candidate"
    elif not powered or det is None or det > margin:
        status = "underpowered"
        if det is not None and det > 0 and margin > 0:
            needed = math.ceil(n_q * (det / margin) ** 2)
        if not powered and (needed is None or needed < min_queries):
            needed = min_queries
    else:
        status = "none_non_inferior"

    # -- drill-down: the winner and the front against the baseline -------------------------------------------
    from langchain_embcompare.evaluation.drilldown import doc_titles, drilldown

    titles = doc_titles(ds.corpus)
    shown = list(dict.fromkeys(([winner.name] if winner else []) + [n for ns in fronts.values() for n in ns]))
    base_pq = dict(zip(qids, base_c.per_query.tolist()))
    drill = {}
    for n in shown:
        if n == base_c.name:
            continue
        c = measured[n]
        drill[n] = drilldown(base_c.top, c.top, ds.qrels, ds.queries, titles, metric, n_examples=n_examples,
                             per_query=(base_pq, dict(zip(qids, c.per_query.tolist()))))

    seconds = time.perf_counter() - t_start
    sweep = {
        "seconds": seconds,
        "n_measured": len(measured),
        "n_resumed": n_resumed,
        "n_planned": 1 + len(shape_plan) + len(plan),
        "n_not_measured_by_refinement_stop": n_stopped,
        "skipped": skipped,
        "truncated": truncated["flag"],
        "time_budget_s": time_budget_s,
        "hybrid_arm": do_hybrid,
        "parents": [p.name for p in parents],
        "models": {m: _clean({k2: v for k2, v in info.items() if k2 != "query_embed_ms"}) for m, info in model_info.items()},
        # texts the model embedded through the cache during the whole sweep (0 when the disk cache was warm):
        # every dim / precision / rotation / index came from these native vectors
        "texts_encoded": {m: sum(len(bases[m]._cache(pr)) - n for pr, n in cache_size[m].items()) for m in model_info},
        "texts_per_model": len(texts) + len(all_qids),
        "timing_texts_encoded_per_model": len(sample_docs) + 2 + len(lat_qids),
        "latency_queries": len(lat_qids),
        "k": k,
    }
    return AdviceResult(
        dataset=ds.name, n_documents=len(ds.corpus), n_queries=n_q, metric=metric, margin=float(margin),
        alpha=alpha, test=test, budgets=budgets, baseline=base_c, candidates=cands, winner=winner, winners=winners,
        status=status, detectable_margin=det, queries_needed=needed, fronts=fronts, drilldown=drill, sweep=sweep,
        query_ids=list(qids),
    )


def _q_row(c: Candidate, metric: str) -> dict[str, Any]:
    return {metric: c.quality.get(metric), "index_bytes": c.index_bytes, "p50_ms": c.p50_ms, "usd_per_1m_texts": c.usd_per_1m_texts}
