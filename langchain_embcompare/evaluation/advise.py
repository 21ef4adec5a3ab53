"""The shrink advisor: the cheapest retrieval setup that is provably not worse than the baseline.

``advise(dataset, models=["all-MiniLM-L6-v2"], margin=0.01, budgets=("memory",))`` (or
``advise(dataset, AdviseOptions(...))``) sweeps the settings the package supports (Matryoshka dimension, precision float32 / int8 / binary, PCA rotation, index kind,
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

With ``relevance_judge`` (e.g. a :class:`~langchain_embcompare.evaluation.judge.RelevanceJudge`), the
top-10 of every setting measured is pooled and judged in one pass (cached, within the judge's budget),
and the decision is taken on the judged labels (:mod:`.advise_judge` says how they combine with the data
set's own); the answer, JSON and report say how the labels were made and give Judged@10 per setting.

Layout (one job per module): this module drives the sweep (:func:`advise` calls one function per stage);
:mod:`.advise_options` the options object and its checks; :mod:`.advise_measure` the measuring of one
setting (encode once, resume); :mod:`.advise_sweep` the plans, memory accounting and the decision;
:mod:`.advise_judge` the judged labels; :mod:`.advise_stats` the non-inferiority test and detectable
margin; :mod:`.advise_front` the Pareto fronts and pruning; :mod:`.advise_result` :class:`Candidate` and
:class:`AdviceResult` (summary, table, JSON, HTML, snippets).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from langchain_embcompare.errors import InvalidParameterError
from langchain_embcompare.evaluation.advise_front import (
    BUDGETS,
    pareto_fronts,
    prune_dominated,
)
from langchain_embcompare.evaluation.advise_judge import judge_settings
from langchain_embcompare.evaluation.advise_measure import SettingMeasurer
from langchain_embcompare.evaluation.advise_options import PREC_RANK, AdviseOptions, check_options
from langchain_embcompare.evaluation.advise_result import AdviceResult, Candidate
from langchain_embcompare.evaluation.advise_stats import (
    NI_TESTS,  # noqa: F401  (re-exported)
    NonInferiority,
    detectable_margin,
    non_inferiority,
)
from langchain_embcompare.evaluation.advise_sweep import (
    as_spec,
    decide,
    default_dims,  # noqa: F401  (re-exported: benchmarks/bench_advise.py imports it from here)
    drilldowns,
    hybrid_supported,
    shape_plan,
    variant_plan,
)
from langchain_embcompare.evaluation.compare import RunSpec
from langchain_embcompare.evaluation.datasets import BeirDataset
from langchain_embcompare.evaluation.results import json_ready

__all__ = [
    "BUDGETS",
    "AdviceResult",
    "AdviseOptions",
    "Candidate",
    "NonInferiority",
    "advise",
    "detectable_margin",
    "hybrid_supported",
    "non_inferiority",
    "pareto_fronts",
    "prune_dominated",
]


def advise(dataset: BeirDataset, options: AdviseOptions | None = None, **fields: Any) -> AdviceResult:
    """Sweep the settings, test each against the baseline, and name the cheapest non-inferior one.

    The stages, in order: :func:`measure_baseline`, :func:`measure_shapes`, :func:`measure_variants`,
    then (with ``relevance_judge``) :func:`~langchain_embcompare.evaluation.advise_judge.judge_settings`,
    then :func:`~langchain_embcompare.evaluation.advise_sweep.decide` and the drill-down.

    Args:
        dataset: a labelled :class:`BeirDataset` (``load_beir(path)``, or synthetic queries from
            :mod:`~langchain_embcompare.evaluation.synthetic`).
        options: an :class:`AdviseOptions` (None: the defaults).
        **fields: :class:`AdviseOptions` fields over ``options`` (``advise(ds, models=[...], margin=0.02)``).

    Returns:
        :class:`AdviceResult`.

    Raises:
        EmptyInputError: the data set has no labelled queries.
        InvalidParameterError: a bad or unknown option (budget, margin, test, precision, rotation, index, a
            judged metric deeper than 10), ``state`` written for other data, or a baseline that cannot be measured.
    """
    t_start = time.perf_counter()
    opts = AdviseOptions.of(options, **fields)
    budgets = check_options(dataset, opts)
    do_hybrid = hybrid_supported() if opts.hybrid is None else bool(opts.hybrid)
    if do_hybrid and not hybrid_supported():
        raise InvalidParameterError("hybrid=True, but this install's EvalSettings has no retriever='hybrid' (needs the BM25 arm).")

    m = SettingMeasurer(dataset, opts, t_start)
    base_c = measure_baseline(m)
    shapes, n_planned_shapes, n_stopped = measure_shapes(m, base_c)
    parents, n_planned_variants = measure_variants(m, base_c, shapes, do_hybrid)
    m.ui.close()

    cands = [c for c in m.measured.values() if c is not base_c]
    ds, qids, labels = dataset, list(m.qids), labels_of(dataset)
    if opts.relevance_judge is not None:
        (opts.on_stage or (lambda s: None))(f"LLM relevance judgments of the pooled top-10 of {len(cands) + 1} settings")
        ds, qids, judge_info = judge_settings(dataset, [base_c, *cands], opts.relevance_judge, opts.metric)
        labels = {**(labels or {}), "judge": judge_info}
    fronts, winners, winner, det, needed, status = decide(
        base_c, cands, metric=opts.metric, margin=opts.margin, alpha=opts.alpha, test=opts.test, power=opts.power,
        n_resamples=opts.n_resamples, seed=opts.seed, budgets=budgets, min_queries=opts.min_queries, n_q=len(qids),
    )
    drill = drilldowns(ds, winner, fronts, base_c, m.measured, qids, opts.metric, opts.n_examples)
    sweep = {
        "seconds": time.perf_counter() - t_start,
        "n_measured": len(m.measured),
        "n_resumed": m.n_resumed,
        "n_planned": 1 + n_planned_shapes + n_planned_variants,
        "n_not_measured_by_refinement_stop": n_stopped,
        "skipped": m.skipped,
        "truncated": m.truncated,
        "time_budget_s": opts.time_budget_s,
        "hybrid_arm": do_hybrid,
        "parents": [p.name for p in parents],
        "models": {name: json_ready({k2: v for k2, v in info.items() if k2 != "query_embed_ms"}) for name, info in m.model_info.items()},
        # texts the model embedded through the cache during the whole sweep (0 when the disk cache was warm):
        # every dim / precision / rotation / index came from these native vectors
        "texts_encoded": m.texts_encoded(),
        "texts_per_model": len(m.texts) + len(m.all_qids),
        "timing_texts_encoded_per_model": len(m.sample_docs) + 2 + len(m.lat_qids),
        "latency_queries": len(m.lat_qids),
        "k": opts.k,
    }
    return AdviceResult(
        dataset=dataset.name, n_documents=len(dataset.corpus), n_queries=len(qids), metric=opts.metric,
        margin=float(opts.margin), alpha=opts.alpha, test=opts.test, budgets=budgets, baseline=base_c, candidates=cands,
        winner=winner, winners=winners, status=status, detectable_margin=det, queries_needed=needed, fronts=fronts,
        drilldown=drill, sweep=sweep, query_ids=list(qids), labels=labels,
    )


def measure_baseline(m: SettingMeasurer) -> Candidate:
    """Stage 1: the baseline (always measured, whatever the time budget).

    Args:
        m: the sweep's measurer.

    Returns:
        The baseline :class:`Candidate`.

    Raises:
        InvalidParameterError: the baseline cannot be measured (the reason is named).
    """
    m.ui.stage("baseline", 1)
    base_spec = as_spec(m.opts.baseline if m.opts.baseline is not None else m.model_names[0], m.opts.k)
    base_spec = dataclasses.replace(base_spec, name=None)
    if base_spec.model not in m.bases:
        m.bases[base_spec.model] = base_spec.model
    base_c = m.measure(base_spec, "baseline")
    if base_c is None:
        reason = m.skipped[-1]["reason"] if m.skipped else "the time budget ran out before it"
        raise InvalidParameterError(f"The baseline {base_spec.label()} could not be measured: {reason}.")
    return base_c


def _fails(base_c: Candidate, margin: float) -> Callable[[Candidate | None], bool]:
    """Whether a setting already lost more than ``margin`` against the baseline (mean per-query difference)."""

    def fails(c: Candidate | None) -> bool:
        return c is not None and float(np.mean(c.per_query - base_c.per_query)) < -margin

    return fails


def measure_shapes(m: SettingMeasurer, base_c: Candidate) -> tuple[list[Candidate], int, int]:
    """Stage 2: dimension x precision x rotation on the exact index, largest and finest first; along each
    axis, once a setting loses more than the margin, the smaller / coarser ones are not measured.

    Args:
        m: the sweep's measurer.
        base_c: the baseline.

    Returns:
        (the shapes measured, settings planned, settings not measured by the refinement stop).
    """
    opts = m.opts
    fails = _fails(base_c, opts.margin)
    plan = shape_plan(m.model_names, m.native, opts.dims, opts.min_dim, opts.rotations, opts.precisions)
    m.ui.stage("shapes: dimension x precision x rotation", len(plan))
    failed: list[tuple[str, str, int, int]] = []
    shapes: list[Candidate] = []
    n_stopped = 0
    for model, rot, d, p, nat in plan:
        if any(fm == model and fr == rot and d <= fd and PREC_RANK[p] >= fpr for fm, fr, fd, fpr in failed):
            m.ui.step(f"{model}/{d}d/{p}/{rot}: not measured (a larger or finer setting on this axis already lost more than the margin)")
            n_stopped += 1
            continue
        spec = RunSpec(model=model, dim=None if d == nat else d, precision=p, rotation=rot, k=opts.k)
        c = base_c if spec.label() == base_c.name else m.measure(spec, "shape")
        if c is None:
            m.ui.step(f"{spec.label()}: not measured")
            continue
        if c is not base_c:
            shapes.append(c)
        if fails(c):
            failed.append((model, rot, d, PREC_RANK[p]))
    return shapes, len(plan), n_stopped


def measure_variants(m: SettingMeasurer, base_c: Candidate, shapes: list[Candidate], do_hybrid: bool) -> tuple[list[Candidate], int]:
    """Stage 3: index kinds, cluster prefilter, funnel and hybrid on the best shapes (:func:`variant_plan`).

    Args:
        m: the sweep's measurer.
        base_c: the baseline.
        shapes: stage 2's settings.
        do_hybrid: try the hybrid arm.

    Returns:
        (the parent shapes, settings planned).
    """
    opts = m.opts
    parents, plan = variant_plan(
        base_c, shapes, _fails(base_c, opts.margin), opts.metric, max_parents=opts.max_parents, indexes=opts.indexes,
        cluster=opts.cluster, do_hybrid=do_hybrid, funnel=opts.funnel, model_names=m.model_names, native=m.native,
        precisions=opts.precisions, k=opts.k,
    )
    m.ui.stage("variants: index kind, cluster prefilter, funnel" + (", hybrid" if do_hybrid else ""), len(plan))
    for spec, stage, _ in plan:
        if m.measure(spec, stage) is None and m.truncated:
            m.ui.step(f"{spec.label()}: not measured (time budget)")
    return parents, len(plan)


def labels_of(ds: BeirDataset) -> dict[str, Any] | None:
    """The data set's label provenance plus the trust measured for its synthetic method (None: human labels).

    Args:
        ds: the data set.

    Returns:
        A JSON-ready dict (``synthetic``, ``method``, ..., ``measured_trust``), or None.
    """
    if not ds.label_provenance:
        return None
    from langchain_embcompare.evaluation.trust import measured_trust

    labels = dict(ds.label_provenance)
    if labels.get("synthetic"):
        labels["measured_trust"] = measured_trust(labels.get("method"))
    return labels
