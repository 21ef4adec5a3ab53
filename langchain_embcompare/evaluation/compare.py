"""A/B comparison: N retrievers (or run specs) on the same queries -> one result that prints,
serialises and writes an HTML report.

Per run: nDCG@10 / Recall@100 / MRR@10 with bootstrap intervals and a paired test against a
baseline (Holm-corrected), single-query latency p50/p95, embedding throughput, index memory and the
cost per million texts; between every pair of runs: overlap@k, rank-biased overlap, rank
correlation on shared documents, score-distribution distance. Without labels (documents + queries
only) it reports agreement, latency, memory and cost.

Two ways in:

- ``compare({"mine": retriever_a, "theirs": retriever_b}, dataset)``: any LangChain retrievers;
- ``compare([RunSpec(model="all-MiniLM-L6-v2"), RunSpec(model="all-MiniLM-L6-v2", dim=128)], dataset)``:
  runs built here from specs (the same :class:`EvalSettings` as ``embcompare eval``, so the numbers
  match), one at a time; a model is loaded and encoded once however many dims/indexes use it.
  Only here can a cross-model probe (``probes=[("C", "A")]``: query model C's vectors against
  model A's index, equal dimensions only) measure how far C's queries land from A's own results.

This module holds :func:`compare` itself (and the data set intake); the rest lives by job in
:mod:`.results` (RunResult, ComparisonResult), :mod:`.measure` (latency, throughput, index bytes,
cost hooks) and :mod:`.config` (RunSpec, the CLI short forms, ``ab.toml``). Every name those
define that was importable from here still is.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings
from langchain_core.retrievers import BaseRetriever

# compare() is the package's one comparison entry point, so the names a caller needs beside it (the
# run specs and config of .config, the result classes of .results) are importable from here too.
from langchain_embcompare.errors import (
    DimensionMismatchError,
    EmptyInputError,
    InvalidParameterError,
)
from langchain_embcompare.evaluation.agreement import Run, agreement_matrix, pair_agreement
from langchain_embcompare.evaluation.config import (
    CompareConfig,
    ConfigError,
    RunSpec,
    lexical_specs,
    load_config,
    parse_dims,
    specs_from_models,
    specs_from_vectors,
)
from langchain_embcompare.evaluation.cost import DEFAULT_MACHINE_USD_PER_HOUR, cost_per_million, is_api_model
from langchain_embcompare.evaluation.datasets import BeirDataset
from langchain_embcompare.evaluation.measure import (
    embeddings_of,
    index_bytes_of,
    latency_ms,
    matryoshka_of,
    model_name_of,
    percentiles,
    precomputed_cost,
    retriever_kind,
    store_of,
    throughput,
    uses_precomputed,
)
from langchain_embcompare.evaluation.metrics import (
    evaluate_run,
    metrics_for_depth,
    retrieve_run,
    run_from_documents,
)
from langchain_embcompare.evaluation.pipeline import (
    EvalSettings,
    build_embeddings,
    build_lexical,
    build_retriever,
    build_store,
    retrieval_depth,
)
from langchain_embcompare.evaluation.results import ComparisonResult, RunResult, json_ready
from langchain_embcompare.evaluation.significance import (
    CORRECTIONS,
    STAT_TESTS,
    per_query_matrix,
    significance_vs_baseline,
)

logger = logging.getLogger(__name__)

__all__ = [
    "CompareConfig",
    "CompareOptions",
    "ComparisonResult",
    "ConfigError",
    "RunResult",
    "RunSpec",
    "compare",
    "compare_from_config",
    "lexical_specs",
    "load_config",
    "parse_dims",
    "retriever_kind",
    "specs_from_models",
    "specs_from_vectors",
]


def _as_dataset(dataset: Any) -> BeirDataset:
    """A BeirDataset, or (documents, queries) without labels."""
    if isinstance(dataset, BeirDataset):
        ds = dataset
    elif isinstance(dataset, tuple) and len(dataset) == 2:
        docs_in, queries_in = dataset
        docs = []
        for i, d in enumerate(docs_in):
            if isinstance(d, Document):
                doc_id = str(d.id or d.metadata.get("doc_id") or f"doc{i}")
                docs.append(Document(page_content=d.page_content, metadata={**d.metadata, "doc_id": doc_id}, id=doc_id))
            elif isinstance(d, str):
                docs.append(Document(page_content=d, metadata={"doc_id": f"doc{i}"}, id=f"doc{i}"))
            else:
                raise InvalidParameterError(f"documents[{i}] is a {type(d).__name__}: pass Documents or strings.")
        if isinstance(queries_in, Mapping):
            queries = {str(k): str(v) for k, v in queries_in.items()}
        else:
            queries = {f"q{i}": str(q) for i, q in enumerate(queries_in)}
        ds = BeirDataset(name="custom", corpus=docs, queries=queries, qrels={})
    else:
        raise InvalidParameterError(
            "dataset must be a BeirDataset (load_beir(path)) or a (documents, queries) tuple for label-free mode."
        )
    if not ds.corpus:
        raise EmptyInputError("The data set has no documents to index.")
    if not ds.queries:
        raise EmptyInputError("The data set has no queries to compare the runs on.")
    return ds


def _image_examples(ds: BeirDataset, runs: Mapping[str, Run]) -> list[dict[str, Any]]:
    """Thumbnails of a few queries' top hits for the report, when the corpus is images (else [])."""
    from langchain_embcompare.evaluation.report import image_examples

    return image_examples(ds, runs)

# --- options ---------------------------------------------------------------------------------------

RelevanceJudgeFn = Callable[[BeirDataset, Mapping[str, Run]], tuple[dict[str, dict[str, int]], dict[str, Any]]]


@dataclass(frozen=True)
class CompareOptions:
    """How :func:`compare` runs and scores a comparison: everything but the runs and the data set.

    Args:
        baseline: the run the others are tested against (default: the first).
        k: documents retrieved per query, a positive int.
        metrics: ``name@k`` metrics (e.g. ``"ndcg@10"``), or None for the defaults, each lowered to the
            retrieval depth (``k``, or the smallest funnel shortlist) where it reads deeper, said in one line
            to ``on_stage`` (else the log); a metric named here whose cutoff is above that depth raises
            ``MetricCutoffError`` (:func:`~langchain_embcompare.evaluation.metrics.metrics_for_depth`).
        stat_test: the paired test: ``"student"``, ``"permutation"`` or ``"wilcoxon"``.
        correction: the multiple-comparison correction: ``"holm"``, ``"bonferroni"``, ``"fdr_bh"`` or ``"none"``.
        alpha: significance level of the tests.
        confidence: confidence level of the bootstrap intervals.
        n_resamples: bootstrap resamples (and permutation-test resamples).
        overlap_k: rank cut-off of the runs' top-k overlap.
        rbo_p: persistence of rank-biased overlap (Webber et al. 2010), in (0, 1).
        latency_queries: queries timed one at a time for latency (0: none).
        throughput_texts: documents embedded to measure throughput.
        prices: USD per 1M tokens by API model name, over the defaults.
        usd_per_hour: the machine's price in USD per hour (cost of local models).
        probes: ``(query_run, index_run)`` pairs of equal dimension (spec mode only): query model C's
            vectors against model A's index, to measure how far C's queries land from A's own results.
        on_stage: called with a short text as each stage starts, or None.
        seed: seed of the samples and resamples.
        ignore_identical_ids: BEIR's identical-id rule for the whole comparison (None: the specs' common
            setting, else True): a retrieved document whose id is the query id is not scored.
        relevance_judge: e.g. a :class:`~langchain_embcompare.evaluation.judge.RelevanceJudge`: called once
            every run has retrieved, with the data set and the runs; returns ``(qrels, info)``: the labels
            quality is then measured with (replacing the data set's) and what the judging did, recorded
            under ``labels["judge"]``. None: the data set's labels.

    Raises:
        InvalidParameterError: (from :meth:`check`) a bad ``k``, test or correction.
    """

    baseline: str | None = None
    k: int = 100
    metrics: Sequence[str] | None = None
    stat_test: str = "student"
    correction: str = "holm"
    alpha: float = 0.05
    confidence: float = 0.95
    n_resamples: int = 2000
    overlap_k: int = 10
    rbo_p: float = 0.9
    latency_queries: int = 50
    throughput_texts: int = 256
    prices: Mapping[str, float] | None = None
    usd_per_hour: float = DEFAULT_MACHINE_USD_PER_HOUR
    probes: Sequence[tuple[str, str]] = ()
    on_stage: Callable[[str], None] | None = None
    seed: int = 0
    ignore_identical_ids: bool | None = None
    relevance_judge: RelevanceJudgeFn | None = None

    def check(self) -> None:
        """Refuse a bad ``k``, statistical test or correction, naming it.

        Raises:
            InvalidParameterError: ``k`` is not a positive int, or an unknown ``stat_test`` / ``correction``.
        """
        if not isinstance(self.k, int) or self.k < 1:
            raise InvalidParameterError(f"k={self.k!r} must be a positive integer (documents retrieved per query).")
        if self.stat_test not in STAT_TESTS:
            raise InvalidParameterError(f"stat_test={self.stat_test!r}: use one of {STAT_TESTS}.")
        if self.correction not in CORRECTIONS:
            raise InvalidParameterError(f"correction={self.correction!r}: use one of {CORRECTIONS}.")

    def stage(self, text: str) -> None:
        """Report a stage to ``on_stage`` (nothing without one).

        Args:
            text: what starts now.
        """
        if self.on_stage is not None:
            self.on_stage(text)


# --- stages ----------------------------------------------------------------------------------------


@dataclass
class _Plan:
    """What is compared, decided before anything runs: run names, specs (spec mode), scoring rules."""

    names: list[str]
    specs: list[RunSpec]
    spec_mode: bool
    labelled: bool
    metrics: tuple[str, ...]
    baseline: str
    ignore_identical_ids: bool


@dataclass
class _Measured:
    """Every run's retrieved results and its non-quality measurements."""

    results: dict[str, RunResult] = field(default_factory=dict)
    runs: dict[str, Run] = field(default_factory=dict)
    kept_stores: dict[str, Any] = field(default_factory=dict)  # probe index runs: their store
    kept_embs: dict[str, Any] = field(default_factory=dict)  # spec runs: their embeddings
    sample_docs: list[str] = field(default_factory=list)
    latency_queries: list[str] = field(default_factory=list)


def _plan(retrievers: Mapping[str, BaseRetriever] | Sequence[RunSpec | EvalSettings], ds: BeirDataset, opts: CompareOptions) -> _Plan:
    """Stage 1: names, specs, the one identical-id rule, the metrics at the retrieval depth, the baseline;
    every check that can fail before a model loads."""
    labelled = bool(ds.qrels) or opts.relevance_judge is not None
    ignore_identical_ids = opts.ignore_identical_ids
    spec_mode = not isinstance(retrievers, Mapping)
    if spec_mode:
        specs = [
            dataclasses.replace(s, k=opts.k) if isinstance(s, RunSpec) else RunSpec(**{**{f.name: getattr(s, f.name) for f in dataclasses.fields(s)}, "k": opts.k})
            for s in retrievers
        ]
        names = [s.label() for s in specs]
        rules = {s.label(): s.ignore_identical_ids for s in specs}
        if ignore_identical_ids is None and len(set(rules.values())) == 1:
            ignore_identical_ids = next(iter(rules.values()))
        if ignore_identical_ids is None or set(rules.values()) != {ignore_identical_ids}:
            raise InvalidParameterError(
                f"The runs' ignore_identical_ids settings {rules} differ from each other or from the comparison's "
                f"({ignore_identical_ids}): one scoring rule per comparison, so that the runs are comparable. "
                "Set it once (compare(..., ignore_identical_ids=...), or defaults.ignore_identical_ids in ab.toml)."
            )
        depth = min((retrieval_depth(s) for s in specs), default=opts.k)
    else:
        ignore_identical_ids = True if ignore_identical_ids is None else ignore_identical_ids
        depth = opts.k
        specs = []
        names = list(retrievers)
        for n, r in retrievers.items():
            if not isinstance(r, BaseRetriever):
                raise InvalidParameterError(f"retrievers[{n!r}] is a {type(r).__name__}, not a LangChain BaseRetriever.")
        if opts.probes:
            raise InvalidParameterError(
                "Cross-model probes need runs built from specs (each model with its own index): pass RunSpecs, not retrievers."
            )
    metrics, note = metrics_for_depth(opts.metrics, depth if labelled else None)  # every run is scored by the same metrics
    if note:
        (opts.on_stage or logger.warning)(note)
    if not names:
        raise EmptyInputError("Nothing to compare: pass at least one retriever or run spec.")
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise InvalidParameterError(f"Run names must be unique; repeated: {dupes}. Give each spec a name=.")
    baseline = names[0] if opts.baseline is None else opts.baseline
    if baseline not in names:
        raise InvalidParameterError(f"baseline={baseline!r} is not one of the runs {names}.")
    lexical_names = {n for s, n in zip(specs, names) if s.lexical_only}
    for q, idx in opts.probes:
        if {q, idx} & lexical_names:
            raise InvalidParameterError(f"probe ({q!r}, {idx!r}): a BM25 run has no vectors to probe; probe dense runs only.")
    for q, idx in opts.probes:
        for role, n in (("query run", q), ("index run", idx)):
            if n not in names:
                raise InvalidParameterError(f"probe ({q!r}, {idx!r}): {role} {n!r} is not one of the runs {names}.")
    return _Plan(names, specs, spec_mode, labelled, tuple(metrics), baseline, bool(ignore_identical_ids))


def _measure_one(
    name: str, retriever: BaseRetriever, emb: Embeddings | None, res: RunResult,
    ds: BeirDataset, plan: _Plan, opts: CompareOptions, out: _Measured, throughput_cache: dict,
) -> None:
    """Retrieve every query with one run, then its quality (unless a judge labels later), latency,
    index memory, embedding throughput and cost."""
    opts.stage(f"{name}: retrieving {len(ds.queries)} queries")
    timings: dict[str, Any] = {}
    out.runs[name] = retrieve_run(retriever, ds.queries, k=opts.k, timings=timings)
    out.runs[name].ignore_identical_ids = plan.ignore_identical_ids  # read by every metric computed from it
    res.batch_ms_per_query = timings.get("per_query_ms")
    if plan.labelled and opts.relevance_judge is None:
        res.quality = evaluate_run(out.runs[name], ds.qrels, plan.metrics)
    if opts.latency_queries > 0:
        opts.stage(f"{name}: timing {len(out.latency_queries)} single queries")
        res.latency_ms = percentiles(latency_ms(retriever, emb, out.latency_queries))
    res.index_memory_bytes = index_bytes_of(retriever)
    res.extra.setdefault("kind", retriever_kind(retriever))
    model = res.model
    if emb is not None and model is not None and uses_precomputed(emb):
        res.embedding, res.cost = precomputed_cost(model)
        res.extra["query_embedding"] = "precomputed: latency is retrieval plus a table lookup, no model call"
    elif emb is not None and model is not None:
        api = is_api_model(model, opts.prices)
        key = (model, getattr(emb, "document_prompt", None))
        if not api and key not in throughput_cache:
            opts.stage(f"{name}: measuring embedding throughput on {len(out.sample_docs)} documents")
            throughput_cache[key] = throughput(emb, out.sample_docs)
        res.embedding = dict(throughput_cache.get(key, {}))
        res.cost = cost_per_million(
            model, texts=out.sample_docs, texts_per_second=res.embedding.get("texts_per_second"),
            prices=opts.prices, usd_per_hour=opts.usd_per_hour,
        )


def _measure_runs(
    retrievers: Mapping[str, BaseRetriever] | Sequence[RunSpec | EvalSettings], ds: BeirDataset, plan: _Plan, opts: CompareOptions,
) -> _Measured:
    """Stage 2: build each spec's store and retriever (a model is loaded and encoded once however many
    dims / indexes use it), or take the given retrievers, and measure each run (:func:`_measure_one`)."""
    texts = ds.texts
    rng = np.random.default_rng(opts.seed)
    qids = list(ds.queries)
    out = _Measured(
        sample_docs=[texts[i] for i in rng.choice(len(texts), min(opts.throughput_texts, len(texts)), replace=False)],
        latency_queries=[ds.queries[qids[i]] for i in rng.choice(len(qids), min(opts.latency_queries, len(qids)), replace=False)],
    )
    throughput_cache: dict[tuple[str, str | None], dict[str, float]] = {}
    if not plan.spec_mode:
        for name, retriever in retrievers.items():  # type: ignore[union-attr]
            emb = embeddings_of(retriever)
            m = matryoshka_of(emb)
            space = getattr(store_of(retriever), "space", None)
            res = RunResult(
                name=name,
                model=model_name_of(emb),
                dim=getattr(space, "dim", None) or (m.output_dim if m is not None else None),
            )
            _measure_one(name, retriever, emb, res, ds, plan, opts, out, throughput_cache)
            out.results[name] = res
        return out
    probe_index = {idx for _, idx in opts.probes}
    bases: dict[str, Any] = {}
    for spec, name in zip(plan.specs, plan.names):
        if spec.lexical_only:  # BM25 on the in-process index: no model, no embeddings
            opts.stage(f"{name}: indexing {len(texts)} documents for BM25")
            retriever = build_lexical(spec, documents=ds.corpus)
            res = RunResult(name=name, model="bm25", dim=None, spec=spec.to_dict())
            _measure_one(name, retriever, None, res, ds, plan, opts, out, throughput_cache)
            res.extra.update(retriever.stats_summary())  # type: ignore[attr-defined]
            out.results[name] = res
            continue
        opts.stage(f"{name}: loading {spec.vectors or spec.model}")
        base = bases.get(spec.model)
        emb = build_embeddings(spec, texts, base=base, dataset=ds)
        if base is None and not spec.vectors:
            bases[spec.model] = emb
        res = RunResult(name=name, model=emb.model_name, dim=emb.output_dim, spec=spec.to_dict())
        key = (emb.model_name, emb.document_prompt)
        if not uses_precomputed(emb) and not is_api_model(emb.model_name, opts.prices) and key not in throughput_cache:
            # before the corpus is encoded: nothing is warm but the model itself
            opts.stage(f"{name}: measuring embedding throughput on {len(out.sample_docs)} documents")
            throughput_cache[key] = throughput(emb, out.sample_docs)
        opts.stage(f"{name}: embedding and indexing {len(texts)} documents")
        store = build_store(spec, emb, ds)
        retriever = build_retriever(spec, store, documents=ds.corpus)
        _measure_one(name, retriever, emb, res, ds, plan, opts, out, throughput_cache)
        if getattr(retriever, "stats_summary", None) is not None:
            res.extra.update(retriever.stats_summary())
        out.results[name] = res
        if name in probe_index:
            out.kept_stores[name] = store
        out.kept_embs[name] = emb
    return out


def _labels(ds: BeirDataset, plan: _Plan, opts: CompareOptions, measured: _Measured) -> tuple[BeirDataset, dict[str, Any] | None]:
    """Stage 3: the labels quality is read from: the data set's, or the relevance judge's over the pooled
    runs (then every run's quality is measured on them); with where they came from (and, for synthetic
    labels, how far they were measured to be trusted)."""
    provenance = dict(ds.label_provenance) if ds.label_provenance else None
    if opts.relevance_judge is not None:
        opts.stage("LLM relevance judgments of the pooled results")
        qrels, judge_info = opts.relevance_judge(ds, {n: measured.runs[n] for n in plan.names})
        ds = dataclasses.replace(ds, qrels=qrels, queries={q: t for q, t in ds.queries.items() if q in qrels})
        provenance = {**(provenance or {}), "judge": judge_info}
        for n in plan.names:
            measured.results[n].quality = evaluate_run(measured.runs[n], ds.qrels, plan.metrics)
    if provenance and provenance.get("synthetic"):
        from langchain_embcompare.evaluation.trust import measured_trust

        provenance["measured_trust"] = measured_trust(provenance.get("method"))
    return ds, provenance


def _analyse(ds: BeirDataset, plan: _Plan, opts: CompareOptions, runs: Mapping[str, Run]) -> tuple[Any, Any, dict[str, Any]]:
    """Stage 4: agreement between every pair of runs, intervals and tests against the baseline, and the
    per-query drill-down. Returns ``(agreement, significance, drilldown)``."""
    opts.stage("agreement between runs")
    agreement = agreement_matrix(runs, k=opts.overlap_k, p=opts.rbo_p, depth=opts.k) if len(runs) >= 2 else None
    significance = None
    if plan.labelled:
        opts.stage("confidence intervals and significance")
        scores = {n: per_query_matrix(runs[n], ds.qrels, list(plan.metrics))[1] for n in plan.names}
        significance = significance_vs_baseline(
            scores, list(plan.metrics), baseline=plan.baseline, stat_test=opts.stat_test, correction=opts.correction,
            alpha=opts.alpha, confidence=opts.confidence, n_resamples=opts.n_resamples, seed=opts.seed,
        )
    drill: dict[str, Any] = {}
    if plan.labelled and len(plan.names) >= 2:
        from langchain_embcompare.evaluation.drilldown import doc_titles, drilldowns

        opts.stage("per-query drill-down against the baseline")
        drill = drilldowns(
            {n: runs[n] for n in plan.names}, plan.baseline, ds.qrels, ds.queries, doc_titles(ds.corpus), metric=plan.metrics[0]
        )
    return agreement, significance, drill


def _probe(ds: BeirDataset, plan: _Plan, opts: CompareOptions, measured: _Measured) -> list[dict[str, Any]]:
    """Stage 5: cross-model probes: one run's query vectors against another run's index, compared with
    that index's own results (and scored when labelled). Adds each probe's run to ``measured.runs``."""
    from langchain_embcompare.stores.base import with_scores

    rows = []
    qids = list(ds.queries)
    for q_run, idx_run in opts.probes:
        opts.stage(f"probe: {q_run} queries on {idx_run}'s index")
        store, emb = measured.kept_stores[idx_run], measured.kept_embs[q_run]
        q_dim, i_dim = emb.output_dim, store.space.dim
        if q_dim != i_dim:
            raise DimensionMismatchError(
                f"probe ({q_run!r} -> {idx_run!r}): query vectors have dim {q_dim} but the index has dim {i_dim}; "
                "a cross-model probe needs equal dimensions (truncate one with dim=...)."
            )
        vectors = emb.encode_queries(list(ds.queries.values()))
        hits = store.search_vectors(vectors, k=opts.k)
        probe_run = run_from_documents(qids, [with_scores(h) for h in hits], opts.k)  # the same form as every run
        pa = pair_agreement(probe_run, measured.runs[idx_run], k=opts.overlap_k, p=opts.rbo_p, depth=opts.k)
        row = {"query_run": q_run, "index_run": idx_run, "k": opts.overlap_k, "p": opts.rbo_p, **pa.to_dict()}
        if plan.labelled:
            row.update(evaluate_run(probe_run, ds.qrels, plan.metrics, ignore_identical_ids=plan.ignore_identical_ids))
        rows.append(json_ready(row))
        measured.runs[f"probe:{q_run}->{idx_run}"] = probe_run
    return rows


# --- compare ---------------------------------------------------------------------------------------


def compare(
    retrievers: Mapping[str, BaseRetriever] | Sequence[RunSpec | EvalSettings],
    dataset: BeirDataset | tuple[Sequence[Document | str], Mapping[str, str] | Sequence[str]],
    options: CompareOptions | None = None,
    **overrides: Any,
) -> ComparisonResult:
    """Run every retriever (or build every spec) on the data set's queries and compare them.

    The stages, in order: plan (names, specs, scoring rules; every check before a model loads), measure
    each run (retrieve, quality, latency, memory, throughput, cost), labels (the data set's, or a
    relevance judge's), analyse (agreement, significance, drill-down), probes.

    Args:
        retrievers: ``{name: LangChain BaseRetriever}``, or run specs (:class:`RunSpec` / :class:`EvalSettings`)
            each built into its own store and retriever.
        dataset: a :class:`BeirDataset`, or ``(documents, queries)`` (Documents or texts; a query dict
            ``{id: text}`` or a list of texts) for label-free mode.
        options: how to run and score the comparison (:class:`CompareOptions`; default: its defaults).
        **overrides: :class:`CompareOptions` fields over ``options`` (``compare(runs, ds, k=10, baseline="A")``).

    Returns:
        The :class:`ComparisonResult`.

    Raises:
        InvalidParameterError: an unknown option, a bad ``k``, test or correction, runs with differing
            identical-id rules, a retriever that is not a LangChain ``BaseRetriever``, probes without specs
            or naming unknown or BM25 runs, repeated run names, or an unknown ``baseline``.
        EmptyInputError: nothing to compare.
        MetricCutoffError: a metric named in ``metrics`` reads deeper than the retrieval depth.
        DimensionMismatchError: a probe pairs query vectors and an index of different dimensions.
    """
    known = {f.name for f in dataclasses.fields(CompareOptions)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise InvalidParameterError(f"compare(): unknown option(s) {unknown}; the options are {sorted(known)}.")
    opts = dataclasses.replace(options or CompareOptions(), **overrides)
    ds = _as_dataset(dataset)
    opts.check()
    plan = _plan(retrievers, ds, opts)
    measured = _measure_runs(retrievers, ds, plan, opts)
    ds, provenance = _labels(ds, plan, opts, measured)
    agreement, significance, drill = _analyse(ds, plan, opts, measured.runs)
    probe_rows = _probe(ds, plan, opts, measured)
    return ComparisonResult(
        dataset=ds.name,
        n_documents=len(ds.corpus),
        n_queries=len(ds.queries),
        k=opts.k,
        labelled=plan.labelled,
        metrics=list(plan.metrics),
        baseline=plan.baseline,
        runs=measured.results,
        agreement=agreement,
        significance=significance,
        probes=probe_rows,
        runs_raw=measured.runs,
        image_examples=_image_examples(ds, measured.runs),
        drilldown=drill,
        labels=provenance,
        settings={
            "overlap_k": opts.overlap_k, "rbo_p": opts.rbo_p,
            "latency_queries": len(measured.latency_queries) if opts.latency_queries > 0 else 0,
            "throughput_texts": len(measured.sample_docs), "usd_per_hour": opts.usd_per_hour, "prices": dict(opts.prices or {}),
            "ignore_identical_ids": plan.ignore_identical_ids,
        },
    )


def compare_from_config(
    config: CompareConfig | str | Path,
    dataset_dir: str | Path | None = None,
    on_stage: Callable[[str], None] | None = None,
) -> ComparisonResult:
    """Load the data set (``dataset_dir`` or the config's ``dataset``), run :func:`compare`, write outputs.

    Args:
        config: a :class:`CompareConfig`, or the path of an ``ab.toml`` (:func:`load_config`).
        dataset_dir: the data set folder, over the config's ``dataset``.
        on_stage: called with a short text as each stage starts, or None.

    Returns:
        The :class:`ComparisonResult`, also written to the config's ``json`` / ``html`` outputs when set.

    Raises:
        ConfigError: no data set named, or a bad config field.
    """
    from langchain_embcompare.evaluation.loaders import load_dataset

    cfg = config if isinstance(config, CompareConfig) else load_config(config)
    where = dataset_dir or cfg.dataset
    if where is None:
        raise ConfigError("No data set: pass DATASET_DIR or set dataset = \"<BEIR folder>\" in the config.")
    ds = load_dataset(where, split=cfg.split, max_queries=cfg.max_queries)
    result = compare(cfg.runs, ds, on_stage=on_stage, **cfg.compare_kwargs())
    if cfg.json:
        result.to_json(cfg.json)
    if cfg.html:
        result.to_html(cfg.html)
    return result
