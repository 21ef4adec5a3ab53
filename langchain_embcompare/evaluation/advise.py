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

Layout (one job per module): this module drives the sweep (:func:`advise`); :mod:`.advise_sweep` holds its
steps (option checks, plans, memory accounting, the decision); :mod:`.advise_stats` the non-inferiority
test and detectable margin; :mod:`.advise_front` the Pareto fronts and pruning; :mod:`.advise_result`
:class:`Candidate` and :class:`AdviceResult` (summary, table, JSON, HTML, snippets). Every public name
is re-exported here. This module stays above ~400 lines for one reason: :func:`advise`'s closures
(encode once, measure one setting, resume) share the sweep's state, so the driver is kept whole.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from langchain_embcompare.errors import EmbCompareError, InvalidParameterError
from langchain_embcompare.evaluation.advise_front import (
    BUDGETS,
    pareto_fronts,
    prune_dominated,
)
from langchain_embcompare.evaluation.advise_result import (
    AdviceResult,
    Candidate,
    _mib,
    _ms,
)
from langchain_embcompare.evaluation.advise_stats import (
    NI_TESTS,  # noqa: F401  (re-exported)
    NonInferiority,
    detectable_margin,
    non_inferiority,
)
from langchain_embcompare.evaluation.advise_sweep import (
    _PREC_RANK,
    _as_spec,
    _check_options,
    _decide,
    _default_dims,  # noqa: F401  (re-exported: benchmarks/bench_advise.py imports it from here)
    _drilldowns,
    _fingerprint,
    _memory_bytes,
    _shape_plan,
    _Stages,
    _variant_plan,
    hybrid_supported,
)
from langchain_embcompare.evaluation.compare import (
    RunSpec,
    _clean,
    _encode_uncached,
    _percentiles,
    _throughput,
)
from langchain_embcompare.evaluation.cost import (
    DEFAULT_MACHINE_USD_PER_HOUR,
    cost_per_million,
    is_api_model,
)
from langchain_embcompare.evaluation.datasets import BeirDataset
from langchain_embcompare.evaluation.metrics import check_cutoffs, metrics_for_depth, retrieve_run
from langchain_embcompare.evaluation.pipeline import (
    EvalSettings,
    build_retriever,
    build_store,
)
from langchain_embcompare.evaluation.significance import per_query_matrix
from langchain_embcompare.ranking import trec_top_k

logger = logging.getLogger(__name__)

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
        EmptyInputError: the data set has no labelled queries.
        InvalidParameterError: a bad option (budget, margin, test, precision, rotation, index), or
            ``state`` written for other data.
    """
    t_start = time.perf_counter()
    budgets = _check_options(dataset, budgets, test, margin, precisions, rotations, indexes, models)
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
            before = {(pr, role): len(b._cache(pr, role)) for pr, role in {(b.document_prompt, "document"), (b.query_prompt, "query")}}
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
    check_cutoffs([metric], k)  # the primary metric is the caller's: a cutoff deeper than k is refused
    secondary, note = metrics_for_depth(None, k, defaults=("recall@100",))  # a default: follows the depth
    if note:
        (on_stage or logger.warning)(note)
    metrics = [metric] + [x for x in secondary if x != metric]
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
            key = (spec.model, store_spec.dim, store_spec.precision, spec.rotation, spec.kind)
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
            nbytes, extra = _memory_bytes(retriever, store, store_spec)
        except (EmbCompareError, ValueError, RuntimeError, NotImplementedError) as exc:
            # an unsupported combination (faiss raises RuntimeError): recorded in sweep.skipped and the stage log
            skipped.append({"name": name, "stage": stage, "reason": f"{type(exc).__name__}: {exc}"})
            ui.step(f"{name}: skipped ({type(exc).__name__}: {exc})")
            return None
        if qids and qids_here != qids:
            raise InvalidParameterError("internal: query order changed between settings")
        qids = qids_here
        top = {q: trec_top_k(run.get(q, {}), 10) for q in qids}  # the retriever's order (rank scores)
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
    shape_plan = _shape_plan(model_names, native, dims, min_dim, rotations, precisions)
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
    parents, plan = _variant_plan(
        base_c, shapes, fails, metric, max_parents=max_parents, indexes=indexes, cluster=cluster, do_hybrid=do_hybrid,
        funnel=funnel, model_names=model_names, native=native, precisions=precisions, k=k,
    )
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
    fronts, winners, winner, det, needed, status = _decide(
        base_c, cands, metric=metric, margin=margin, alpha=alpha, test=test, power=power, n_resamples=n_resamples,
        seed=seed, budgets=budgets, min_queries=min_queries, n_q=n_q,
    )

    # -- drill-down: the winner and the front against the baseline -------------------------------------------
    drill = _drilldowns(ds, winner, fronts, base_c, measured, qids, metric, n_examples)

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
        "texts_encoded": {m: sum(len(bases[m]._cache(*key)) - n for key, n in cache_size[m].items()) for m in model_info},
        "texts_per_model": len(texts) + len(all_qids),
        "timing_texts_encoded_per_model": len(sample_docs) + 2 + len(lat_qids),
        "latency_queries": len(lat_qids),
        "k": k,
    }
    return AdviceResult(
        dataset=ds.name, n_documents=len(ds.corpus), n_queries=n_q, metric=metric, margin=float(margin),
        alpha=alpha, test=test, budgets=budgets, baseline=base_c, candidates=cands, winner=winner, winners=winners,
        status=status, detectable_margin=det, queries_needed=needed, fronts=fronts, drilldown=drill, sweep=sweep,
        query_ids=list(qids), labels=_labels_of(ds),
    )


def _labels_of(ds: BeirDataset) -> dict[str, Any] | None:
    """The data set's label provenance plus the trust measured for its synthetic method (None: human labels)."""
    if not ds.label_provenance:
        return None
    from langchain_embcompare.evaluation.trust import measured_trust

    labels = dict(ds.label_provenance)
    if labels.get("synthetic"):
        labels["measured_trust"] = measured_trust(labels.get("method"))
    return labels
