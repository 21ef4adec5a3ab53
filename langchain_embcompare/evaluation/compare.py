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
from pathlib import Path
from typing import Any

import numpy as np
from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings
from langchain_core.retrievers import BaseRetriever

# "(re-export)" and __all__: names defined or imported here before this module was split by job;
# other modules and tests import them from here (e.g. advise.py: _clean, _encode_uncached, ...).
from langchain_embcompare.errors import (
    DimensionMismatchError,
    EmptyInputError,
    InvalidParameterError,
)
from langchain_embcompare.evaluation.agreement import (
    AgreementMatrix,  # noqa: F401 (re-export)
    Run,
    agreement_matrix,
    pair_agreement,
)
from langchain_embcompare.evaluation.config import (
    _TOP_TYPES,  # noqa: F401 (re-export)
    CompareConfig,
    ConfigError,
    RunSpec,
    _check_type,  # noqa: F401 (re-export)
    _parse_config,  # noqa: F401 (re-export)
    _spec_types,  # noqa: F401 (re-export)
    lexical_specs,
    load_config,
    parse_dims,
    specs_from_models,
    specs_from_vectors,
)
from langchain_embcompare.evaluation.cost import (
    DEFAULT_MACHINE_USD_PER_HOUR,
    CostEstimate,  # noqa: F401 (re-export)
    cost_per_million,
    is_api_model,
)
from langchain_embcompare.evaluation.datasets import BeirDataset
from langchain_embcompare.evaluation.measure import (
    _embeddings_of,
    _encode_uncached,  # noqa: F401 (re-export)
    _find,  # noqa: F401 (re-export)
    _index_bytes,
    _latency,
    _matryoshka,
    _model_name,
    _percentiles,
    _precomputed,
    _precomputed_cost,
    _store_of,
    _throughput,
    retriever_kind,
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
    build_retriever,
    build_store,
    retrieval_depth,
)
from langchain_embcompare.evaluation.results import (
    ComparisonResult,
    RunResult,
    _clean,
    _f,  # noqa: F401 (re-export)
)
from langchain_embcompare.evaluation.significance import (
    CORRECTIONS,
    STAT_TESTS,
    SignificanceResult,  # noqa: F401 (re-export)
    per_query_matrix,
    significance_vs_baseline,
)

logger = logging.getLogger(__name__)

__all__ = [
    "CompareConfig",
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

# --- compare ---------------------------------------------------------------------------------------


def compare(
    retrievers: Mapping[str, BaseRetriever] | Sequence[RunSpec | EvalSettings],
    dataset: BeirDataset | tuple[Sequence[Document | str], Mapping[str, str] | Sequence[str]],
    baseline: str | None = None,
    k: int = 100,
    metrics: Sequence[str] | None = None,
    *,
    stat_test: str = "student",
    correction: str = "holm",
    alpha: float = 0.05,
    confidence: float = 0.95,
    n_resamples: int = 2000,
    overlap_k: int = 10,
    rbo_p: float = 0.9,
    latency_queries: int = 50,
    throughput_texts: int = 256,
    prices: Mapping[str, float] | None = None,
    usd_per_hour: float = DEFAULT_MACHINE_USD_PER_HOUR,
    probes: Sequence[tuple[str, str]] = (),
    on_stage: Callable[[str], None] | None = None,
    seed: int = 0,
    ignore_identical_ids: bool | None = None,
    relevance_judge: Callable[[BeirDataset, Mapping[str, Run]], tuple[dict[str, dict[str, int]], dict[str, Any]]] | None = None,
) -> ComparisonResult:
    """Run every retriever (or build every spec) on the data set's queries and compare them.

    ``baseline`` names the run the others are tested against (default: the first). ``dataset`` is a
    :class:`BeirDataset` or ``(documents, queries)`` for label-free mode. ``probes`` (spec mode only)
    lists ``(query_run, index_run)`` pairs of equal dimension. ``ignore_identical_ids`` (BEIR's rule,
    one for the whole comparison; default: the specs' common setting, else True): a retrieved document
    whose id is the query id is not scored.
    ``metrics`` None = the defaults, each lowered to the retrieval depth (``k``, or the smallest funnel
    shortlist) where it reads deeper, said in one line to ``on_stage`` (else the log);
    a metric named here whose cutoff is above that depth raises ``MetricCutoffError``
    (:func:`~langchain_embcompare.evaluation.metrics.metrics_for_depth`).
    ``relevance_judge`` (e.g. a :class:`~langchain_embcompare.evaluation.judge.RelevanceJudge`): called once every run has retrieved, with the data set
    and the runs; returns ``(qrels, info)``: the labels quality is then measured with (replacing the data
    set's) and what the judging did, recorded under ``labels["judge"]``.

    Args:
        retrievers: ``{name: LangChain BaseRetriever}``, or run specs (:class:`RunSpec` / :class:`EvalSettings`)
            each built into its own store and retriever.
        dataset: a :class:`BeirDataset`, or ``(documents, queries)`` (Documents or texts; a query dict
            ``{id: text}`` or a list of texts) for label-free mode.
        baseline: the run the others are tested against (default: the first).
        k: documents retrieved per query, a positive int.
        metrics: ``name@k`` metrics (e.g. ``"ndcg@10"``), or None for the defaults.
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
        probes: ``(query_run, index_run)`` pairs of equal dimension (spec mode only).
        on_stage: called with a short text as each stage starts, or None.
        seed: seed of the samples and resamples.
        ignore_identical_ids: BEIR's identical-id rule for the whole comparison (None: the specs' common setting, else True).
        relevance_judge: labels the pooled runs, returning ``(qrels, info)``, or None.

    Returns:
        The :class:`ComparisonResult`.

    Raises:
        InvalidParameterError: a bad ``k``, test or correction, runs with differing identical-id rules,
            a retriever that is not a LangChain ``BaseRetriever``, probes without specs or naming unknown
            or BM25 runs, repeated run names, or an unknown ``baseline``.
        EmptyInputError: nothing to compare.
        MetricCutoffError: a metric named in ``metrics`` reads deeper than the retrieval depth.
        DimensionMismatchError: a probe pairs query vectors and an index of different dimensions.
    """
    stage = on_stage or (lambda s: None)
    ds = _as_dataset(dataset)
    labelled = bool(ds.qrels) or relevance_judge is not None
    if not isinstance(k, int) or k < 1:
        raise InvalidParameterError(f"k={k!r} must be a positive integer (documents retrieved per query).")
    if stat_test not in STAT_TESTS:
        raise InvalidParameterError(f"stat_test={stat_test!r}: use one of {STAT_TESTS}.")
    if correction not in CORRECTIONS:
        raise InvalidParameterError(f"correction={correction!r}: use one of {CORRECTIONS}.")
    spec_mode = not isinstance(retrievers, Mapping)
    if spec_mode:
        specs = [
            dataclasses.replace(s, k=k) if isinstance(s, RunSpec) else RunSpec(**{**{f.name: getattr(s, f.name) for f in dataclasses.fields(s)}, "k": k})
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
        depth = min((retrieval_depth(s) for s in specs), default=k)
    else:
        ignore_identical_ids = True if ignore_identical_ids is None else ignore_identical_ids
        depth = k
        specs = []
        names = list(retrievers)
        for n, r in retrievers.items():
            if not isinstance(r, BaseRetriever):
                raise InvalidParameterError(f"retrievers[{n!r}] is a {type(r).__name__}, not a LangChain BaseRetriever.")
        if probes:
            raise InvalidParameterError(
                "Cross-model probes need runs built from specs (each model with its own index): pass RunSpecs, not retrievers."
            )
    metrics, note = metrics_for_depth(metrics, depth if labelled else None)  # every run is scored by the same metrics
    if note:
        (on_stage or logger.warning)(note)
    if not names:
        raise EmptyInputError("Nothing to compare: pass at least one retriever or run spec.")
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise InvalidParameterError(f"Run names must be unique; repeated: {dupes}. Give each spec a name=.")
    if baseline is None:
        baseline = names[0]
    if baseline not in names:
        raise InvalidParameterError(f"baseline={baseline!r} is not one of the runs {names}.")
    probe_index = {idx for _, idx in probes}
    lexical_names = {n for s, n in zip(specs, names) if s.lexical_only}
    for q, idx in probes:
        if {q, idx} & lexical_names:
            raise InvalidParameterError(f"probe ({q!r}, {idx!r}): a BM25 run has no vectors to probe; probe dense runs only.")
    for q, idx in probes:
        for role, n in (("query run", q), ("index run", idx)):
            if n not in names:
                raise InvalidParameterError(f"probe ({q!r}, {idx!r}): {role} {n!r} is not one of the runs {names}.")

    texts = ds.texts
    rng = np.random.default_rng(seed)
    sample_docs = [texts[i] for i in rng.choice(len(texts), min(throughput_texts, len(texts)), replace=False)]
    qids = list(ds.queries)
    lat_q = [ds.queries[qids[i]] for i in rng.choice(len(qids), min(latency_queries, len(qids)), replace=False)]

    results: dict[str, RunResult] = {}
    runs: dict[str, Run] = {}
    bases: dict[str, Any] = {}
    throughput_cache: dict[tuple[str, str | None], dict[str, float]] = {}
    kept_stores: dict[str, Any] = {}
    kept_embs: dict[str, Any] = {}

    def measure(name: str, retriever: BaseRetriever, emb: Embeddings | None, res: RunResult) -> None:
        stage(f"{name}: retrieving {len(qids)} queries")
        timings: dict[str, Any] = {}
        runs[name] = retrieve_run(retriever, ds.queries, k=k, timings=timings)
        runs[name].ignore_identical_ids = ignore_identical_ids  # read by every metric computed from it
        res.batch_ms_per_query = timings.get("per_query_ms")
        if labelled and relevance_judge is None:
            res.quality = evaluate_run(runs[name], ds.qrels, metrics)
        if latency_queries > 0:
            stage(f"{name}: timing {len(lat_q)} single queries")
            res.latency_ms = _percentiles(_latency(retriever, emb, lat_q))
        res.index_memory_bytes = _index_bytes(retriever)
        res.extra.setdefault("kind", retriever_kind(retriever))
        model = res.model
        if emb is not None and model is not None and _precomputed(emb):
            res.embedding, res.cost = _precomputed_cost(model)
            res.extra["query_embedding"] = "precomputed: latency is retrieval plus a table lookup, no model call"
        elif emb is not None and model is not None:
            api = is_api_model(model, prices)
            key = (model, getattr(emb, "document_prompt", None))
            if not api and key not in throughput_cache:
                stage(f"{name}: measuring embedding throughput on {len(sample_docs)} documents")
                throughput_cache[key] = _throughput(emb, sample_docs)
            res.embedding = dict(throughput_cache.get(key, {}))
            res.cost = cost_per_million(
                model, texts=sample_docs, texts_per_second=res.embedding.get("texts_per_second"),
                prices=prices, usd_per_hour=usd_per_hour,
            )

    if spec_mode:
        for spec, name in zip(specs, names):
            if spec.lexical_only:  # BM25 on the in-process index: no model, no embeddings
                from langchain_embcompare.evaluation.pipeline import build_lexical

                stage(f"{name}: indexing {len(texts)} documents for BM25")
                retriever = build_lexical(spec, documents=ds.corpus)
                res = RunResult(name=name, model="bm25", dim=None, spec=spec.to_dict())
                measure(name, retriever, None, res)
                res.extra.update(retriever.stats_summary())  # type: ignore[attr-defined]
                results[name] = res
                continue
            stage(f"{name}: loading {spec.vectors or spec.model}")
            base = bases.get(spec.model)
            emb = build_embeddings(spec, texts, base=base, dataset=ds)
            if base is None and not spec.vectors:
                bases[spec.model] = emb
            res = RunResult(name=name, model=emb.model_name, dim=emb.output_dim, spec=spec.to_dict())
            key = (emb.model_name, emb.document_prompt)
            if not _precomputed(emb) and not is_api_model(emb.model_name, prices) and key not in throughput_cache:
                # before the corpus is encoded: nothing is warm but the model itself
                stage(f"{name}: measuring embedding throughput on {len(sample_docs)} documents")
                throughput_cache[key] = _throughput(emb, sample_docs)
            stage(f"{name}: embedding and indexing {len(texts)} documents")
            store = build_store(spec, emb, ds)
            retriever = build_retriever(spec, store, documents=ds.corpus)
            measure(name, retriever, emb, res)
            if getattr(retriever, "stats_summary", None) is not None:
                res.extra.update(retriever.stats_summary())
            results[name] = res
            if name in probe_index:
                kept_stores[name] = store
            kept_embs[name] = emb
    else:
        for name, retriever in retrievers.items():
            emb = _embeddings_of(retriever)
            m = _matryoshka(emb)
            space = getattr(_store_of(retriever), "space", None)
            res = RunResult(
                name=name,
                model=_model_name(emb),
                dim=getattr(space, "dim", None) or (m.output_dim if m is not None else None),
            )
            measure(name, retriever, emb, res)
            results[name] = res

    provenance = dict(ds.label_provenance) if ds.label_provenance else None
    if relevance_judge is not None:
        stage("LLM relevance judgments of the pooled results")
        qrels, judge_info = relevance_judge(ds, {n: runs[n] for n in names})
        ds = dataclasses.replace(ds, qrels=qrels, queries={q: t for q, t in ds.queries.items() if q in qrels})
        provenance = {**(provenance or {}), "judge": judge_info}
        for n in names:
            results[n].quality = evaluate_run(runs[n], ds.qrels, metrics)
    if provenance and provenance.get("synthetic"):
        from langchain_embcompare.evaluation.trust import measured_trust

        provenance["measured_trust"] = measured_trust(provenance.get("method"))
    stage("agreement between runs")
    agreement = agreement_matrix(runs, k=overlap_k, p=rbo_p, depth=k) if len(runs) >= 2 else None
    significance = None
    if labelled:
        stage("confidence intervals and significance")
        scores = {n: per_query_matrix(runs[n], ds.qrels, list(metrics))[1] for n in names}
        significance = significance_vs_baseline(
            scores, list(metrics), baseline=baseline, stat_test=stat_test, correction=correction,
            alpha=alpha, confidence=confidence, n_resamples=n_resamples, seed=seed,
        )
    drill: dict[str, Any] = {}
    if labelled and len(names) >= 2:
        from langchain_embcompare.evaluation.drilldown import doc_titles, drilldowns

        stage("per-query drill-down against the baseline")
        drill = drilldowns({n: runs[n] for n in names}, baseline, ds.qrels, ds.queries, doc_titles(ds.corpus), metric=metrics[0])

    probe_rows = []
    from langchain_embcompare.retrievers.vector import with_scores

    for q_run, idx_run in probes:
        stage(f"probe: {q_run} queries on {idx_run}'s index")
        store, emb = kept_stores[idx_run], kept_embs[q_run]
        q_dim, i_dim = emb.output_dim, store.space.dim
        if q_dim != i_dim:
            raise DimensionMismatchError(
                f"probe ({q_run!r} -> {idx_run!r}): query vectors have dim {q_dim} but the index has dim {i_dim}; "
                "a cross-model probe needs equal dimensions (truncate one with dim=...)."
            )
        vectors = emb.encode_queries(list(ds.queries.values()))
        hits = store.search_vectors(vectors, k=k)
        probe_run = run_from_documents(qids, [with_scores(h) for h in hits], k)  # the same form as every run
        pa = pair_agreement(probe_run, runs[idx_run], k=overlap_k, p=rbo_p, depth=k)
        row = {"query_run": q_run, "index_run": idx_run, "k": overlap_k, "p": rbo_p, **pa.to_dict()}
        if labelled:
            row.update(evaluate_run(probe_run, ds.qrels, metrics, ignore_identical_ids=ignore_identical_ids))
        probe_rows.append(_clean(row))
        runs[f"probe:{q_run}->{idx_run}"] = probe_run

    return ComparisonResult(
        dataset=ds.name,
        n_documents=len(ds.corpus),
        n_queries=len(ds.queries),
        k=k,
        labelled=labelled,
        metrics=list(metrics),
        baseline=baseline,
        runs=results,
        agreement=agreement,
        significance=significance,
        probes=probe_rows,
        runs_raw=runs,
        image_examples=_image_examples(ds, runs),
        drilldown=drill,
        labels=provenance,
        settings={
            "overlap_k": overlap_k, "rbo_p": rbo_p, "latency_queries": len(lat_q) if latency_queries > 0 else 0,
            "throughput_texts": len(sample_docs), "usd_per_hour": usd_per_hour, "prices": dict(prices or {}),
            "ignore_identical_ids": ignore_identical_ids,
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
