"""The shrink advisor's sweep steps: option checks, the plans of settings to measure (shapes, then
index / retriever variants on the best shapes), the bytes a query touches, progress reporting, the
resumable state's fingerprint, and the final decision (tests, fronts, winner per budget, status,
drill-down). :func:`langchain_embcompare.evaluation.advise.advise` drives these steps in order.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from langchain_embcompare.errors import EmptyInputError, InvalidParameterError
from langchain_embcompare.evaluation.advise_front import (
    BUDGETS,
    pareto_fronts,
    prune_dominated,
)
from langchain_embcompare.evaluation.advise_result import Candidate, _lt
from langchain_embcompare.evaluation.advise_stats import (
    NI_TESTS,
    detectable_margin,
    non_inferiority,
)
from langchain_embcompare.evaluation.compare import RunSpec, _index_bytes
from langchain_embcompare.evaluation.datasets import BeirDataset
from langchain_embcompare.evaluation.pipeline import EvalSettings

_PREC_RANK = {"float32": 0, "int8": 1, "binary": 2}


def hybrid_supported() -> bool:
    """Whether this install's :class:`EvalSettings` accepts ``retriever="hybrid"`` (the BM25 + vector arm)."""
    try:
        EvalSettings(retriever="hybrid")
    except (InvalidParameterError, ValueError, TypeError):
        return False
    return True


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


def _check_options(
    dataset: Any, budgets: str | Sequence[str], test: str, margin: float, precisions: Sequence[str],
    rotations: Sequence[str], indexes: Sequence[str], models: Sequence[Any],
) -> list[str]:
    """:func:`advise`'s argument checks, in its documented order; returns ``budgets`` as a list."""
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
    return budgets


def _memory_bytes(retriever: Any, store: Any, store_spec: RunSpec) -> tuple[int | None, dict[str, Any]]:
    """The bytes a query touches (the ``memory`` budget) and their breakdown (``extra``): the index as
    serialised, plus a binary index's float rescoring vectors, the funnel's shortlist index, the cluster
    prefilter's centroids / labels / means (and the prefilter's own stats)."""
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
    return nbytes, extra


def _shape_plan(
    model_names: Sequence[str], native: Callable[[str], int], dims: Sequence[int] | None, min_dim: int,
    rotations: Sequence[str], precisions: Sequence[str],
) -> list[tuple[str, str, int, str, int]]:
    """Stage 2's settings, (model, rotation, dim, precision, native dim), largest dim and finest precision
    first per axis (so the refinement stop can skip the rest)."""
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
    return shape_plan


def _variant_plan(
    base_c: Candidate, shapes: Sequence[Candidate], fails: Callable[[Candidate], bool], metric: str, *,
    max_parents: int, indexes: Sequence[str], cluster: bool, do_hybrid: bool, funnel: bool,
    model_names: Sequence[str], native: Callable[[str], int], precisions: Sequence[str], k: int,
) -> tuple[list[Candidate], list[tuple[RunSpec, str, None]]]:
    """Stage 3's settings: index kinds, cluster prefilter and hybrid on the cheapest undominated shapes
    within the margin (the parents, the baseline always among them), and the funnel per model.
    Returns (parents, plan of (spec, stage, None))."""
    pool = [base_c, *shapes]
    keep = prune_dominated([_q_row(c, metric) for c in pool])
    parents = [c for c, kp in zip(pool, keep) if kp and not fails(c) and c.spec.retriever == "plain" and c.spec.kind == "flat"]
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
                plan.append((dataclasses.replace(s, kind=ix), "index", None))
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
    return parents, plan


def _decide(
    base_c: Candidate, cands: list[Candidate], *, metric: str, margin: float, alpha: float, test: str, power: float,
    n_resamples: int, seed: int, budgets: list[str], min_queries: int, n_q: int,
) -> tuple[dict[str, list[str]], dict[str, str | None], Candidate | None, float | None, int | None, str]:
    """Test every candidate against the baseline (sets each ``Candidate.test``), find the fronts, the
    cheapest non-inferior candidate per budget and the status. Returns
    (fronts, winners, winner, detectable margin, queries needed, status)."""
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
    return fronts, winners, winner, det, needed, status


def _drilldowns(
    ds: BeirDataset, winner: Candidate | None, fronts: dict[str, list[str]], base_c: Candidate,
    measured: Mapping[str, Candidate], qids: list[str], metric: str, n_examples: int,
) -> dict[str, Any]:
    """The drill-down of the winner and every front point against the baseline."""
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
    return drill


def _q_row(c: Candidate, metric: str) -> dict[str, Any]:
    return {metric: c.quality.get(metric), "index_bytes": c.index_bytes, "p50_ms": c.p50_ms, "usd_per_1m_texts": c.usd_per_1m_texts}
