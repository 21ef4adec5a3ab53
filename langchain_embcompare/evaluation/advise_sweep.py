"""The shrink advisor's sweep steps: the plans of settings to measure (shapes, then index / retriever
variants on the best shapes), the bytes a query touches, progress reporting, the resumable state's
fingerprint, and the final decision (tests, fronts, winner per budget, status, drill-down).
:func:`langchain_embcompare.evaluation.advise.advise` drives these steps in order.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from langchain_embcompare.errors import InvalidParameterError
from langchain_embcompare.evaluation.advise_front import (
    BUDGETS,
    pareto_fronts,
    prune_dominated,
)
from langchain_embcompare.evaluation.advise_options import PREC_RANK
from langchain_embcompare.evaluation.advise_result import Candidate, strictly_less
from langchain_embcompare.evaluation.advise_stats import (
    detectable_margin,
    non_inferiority,
)
from langchain_embcompare.evaluation.compare import RunSpec
from langchain_embcompare.evaluation.datasets import BeirDataset
from langchain_embcompare.evaluation.measure import index_bytes_of
from langchain_embcompare.evaluation.pipeline import EvalSettings


def hybrid_supported() -> bool:
    """Whether this install's :class:`EvalSettings` accepts ``retriever="hybrid"`` (the BM25 + vector arm).

    Returns:
        True when a hybrid setting can be built.
    """
    try:
        EvalSettings(retriever="hybrid")
    except (InvalidParameterError, ValueError, TypeError):
        return False
    return True


class Stages:
    """Progress per stage: a rich progress bar on stderr (``progress=True``) and/or the ``on_stage`` callback.

    Args:
        on_stage: called with each stage's and step's text, or None.
        progress: show a rich progress bar on stderr.
    """

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
        """Start a stage of ``total`` settings (None: unknown).

        Args:
            name: the stage's name.
            total: settings in it, or None.
        """
        self.on_stage(f"stage: {name}" + (f" ({total} settings)" if total is not None else ""))
        if self.bar is not None:
            if self.task is not None:
                self.bar.update(self.task, completed=self.bar.tasks[-1].total)
            self.task = self.bar.add_task(name, total=total)

    def step(self, msg: str) -> None:
        """One setting done (or skipped), said in ``msg``.

        Args:
            msg: the text passed to ``on_stage``.
        """
        self.on_stage(msg)
        if self.bar is not None and self.task is not None:
            self.bar.advance(self.task)

    def close(self) -> None:
        """Stop the progress bar."""
        if self.bar is not None:
            self.bar.stop()


def fingerprint(ds: BeirDataset, k: int, metric: str) -> str:
    """What a resumable state depends on: the corpus ids, the labels, ``k`` and the metric.

    Args:
        ds: the data set.
        k: documents retrieved per query.
        metric: the primary metric.

    Returns:
        16 hex digits (SHA-1 prefix).
    """
    h = hashlib.sha1()
    for d in ds.corpus:
        h.update(str(d.id).encode() + b"\0")
    for q in sorted(ds.qrels):
        h.update(q.encode() + b"\1" + json.dumps(sorted(ds.qrels[q].items())).encode())
    h.update(f"{k}|{metric}".encode())
    return h.hexdigest()[:16]


def default_dims(native: int, min_dim: int) -> list[int]:
    """The dimensions swept by default: native, then the usual Matryoshka sizes below it down to ``min_dim``.

    Args:
        native: the model's native dimension.
        min_dim: the smallest size tried.

    Returns:
        Dimensions, largest first.
    """
    dims = [native] + [d for d in (1024, 768, 512, 384, 256, 192, 128, 96, 64, 48, 32, 16) if d < native and d >= min_dim]
    return list(dict.fromkeys(dims))


def as_spec(b: RunSpec | EvalSettings | str, k: int) -> RunSpec:
    """The baseline as a :class:`RunSpec` retrieving ``k`` documents.

    Args:
        b: a RunSpec, EvalSettings or model name.
        k: documents retrieved per query.

    Returns:
        The RunSpec.

    Raises:
        InvalidParameterError: ``b`` is none of those.
    """
    if isinstance(b, str):
        return RunSpec(model=b, k=k)
    if isinstance(b, RunSpec):
        return dataclasses.replace(b, k=k)
    if isinstance(b, EvalSettings):
        return RunSpec(**{**b.to_dict(), "k": k})
    raise InvalidParameterError(f"baseline must be a RunSpec, EvalSettings or model name, got {type(b).__name__}.")


def memory_bytes(retriever: Any, store: Any, store_spec: RunSpec) -> tuple[int | None, dict[str, Any]]:
    """The bytes a query touches (the ``memory`` budget) and their breakdown.

    The store's index as serialised (:meth:`EmbStore.index_bytes`, through :func:`index_bytes_of`), plus a
    binary index's float rescoring vectors (``count() x dim x 4``), the funnel's shortlist index
    (:meth:`MatryoshkaFunnelRetriever.shortlist_index_bytes`), the cluster prefilter's centroids / labels /
    means (and the prefilter's own stats).

    Args:
        retriever: the retriever measured.
        store: its store.
        store_spec: the spec the store was built from (its precision).

    Returns:
        (bytes or None when the store cannot tell, breakdown dict for ``Candidate.extra``).
    """
    nbytes = index_bytes_of(retriever)
    extra: dict[str, Any] = {}
    if store_spec.precision == "binary" and nbytes is not None:
        # a binary index shortlists by Hamming distance and rescores with the float vectors: a query
        # touches both, so both count (the codes alone would flatter binary by ~30x)
        extra["codes_bytes"] = nbytes
        extra["rescore_bytes"] = int(store.count()) * int(store.space.dim) * 4
        nbytes += extra["rescore_bytes"]
    shortlist_bytes = getattr(retriever, "shortlist_index_bytes", None)  # the funnel: its shortlist index
    if callable(shortlist_bytes):
        extra["shortlist_index_bytes"] = int(shortlist_bytes())
        nbytes = (nbytes or 0) + extra["shortlist_index_bytes"]
    clusters = getattr(retriever, "clusters", None)
    if clusters is not None and hasattr(clusters, "centroids"):
        extra["cluster_bytes"] = int(clusters.centroids.nbytes + clusters.labels.nbytes + clusters.means.nbytes)
        nbytes = (nbytes or 0) + extra["cluster_bytes"]
        stats_fn = getattr(retriever, "stats_summary", None)
        if callable(stats_fn):
            extra.update({k2: v for k2, v in stats_fn().items() if isinstance(v, (int, float))})
    return nbytes, extra


def shape_plan(
    model_names: Sequence[str], native: Callable[[str], int], dims: Sequence[int] | None, min_dim: int,
    rotations: Sequence[str], precisions: Sequence[str],
) -> list[tuple[str, str, int, str, int]]:
    """Stage 2's settings, largest dim and finest precision first per axis (so the refinement stop can
    skip the rest).

    Args:
        model_names: the models swept.
        native: model name -> native dimension.
        dims: dimensions to try (None: :func:`default_dims`).
        min_dim: the smallest default dimension.
        rotations: ``"none"`` / ``"pca"``.
        precisions: ``"float32"`` / ``"int8"`` / ``"binary"``.

    Returns:
        ``(model, rotation, dim, precision, native dim)`` tuples in measuring order.

    Raises:
        InvalidParameterError: no dimension of ``dims`` lies in ``1..native``.
    """
    plan = []
    for model in model_names:
        nat = native(model)
        dlist = [d for d in (dims or default_dims(nat, min_dim)) if 0 < d <= nat]
        if not dlist:
            raise InvalidParameterError(f"dims {list(dims or [])}: none lies in 1..{nat} ({model}'s native dimension).")
        for rot in rotations:
            for d in sorted(set(dlist), reverse=True):
                if rot == "pca" and d == nat:
                    continue  # an orthogonal rotation changes nothing at full dimension
                for p in sorted(precisions, key=PREC_RANK.get):
                    if p == "binary" and d % 8:
                        continue
                    plan.append((model, rot, d, p, nat))
    return plan


def variant_plan(
    base_c: Candidate, shapes: Sequence[Candidate], fails: Callable[[Candidate], bool], metric: str, *,
    max_parents: int, indexes: Sequence[str], cluster: bool, do_hybrid: bool, funnel: bool,
    model_names: Sequence[str], native: Callable[[str], int], precisions: Sequence[str], k: int,
) -> tuple[list[Candidate], list[tuple[RunSpec, str, None]]]:
    """Stage 3's settings: index kinds, cluster prefilter and hybrid on the cheapest undominated shapes
    within the margin (the parents, the baseline always among them), and the funnel per model.

    Args:
        base_c: the baseline.
        shapes: the shapes measured in stage 2.
        fails: whether a candidate already lost more than the margin.
        metric: the primary metric.
        max_parents: shapes that get variants.
        indexes: index kinds to try.
        cluster: try the cluster prefilter.
        do_hybrid: try the hybrid arm.
        funnel: try the funnel.
        model_names: the models swept.
        native: model name -> native dimension.
        precisions: the precisions swept (a binary funnel needs ``"binary"``).
        k: documents retrieved per query.

    Returns:
        (parents, plan of ``(spec, stage, None)``).
    """
    pool = [base_c, *shapes]
    keep = prune_dominated([_q_row(c, metric) for c in pool], quality=metric)
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
                               precision=p, k=k, name=f"{model}/{nat}d/float32/{EvalSettings.store}/flat/funnel-{d}d-{p}")
                plan.append((spec, "funnel", None))
    return parents, plan


def decide(
    base_c: Candidate, cands: list[Candidate], *, metric: str, margin: float, alpha: float, test: str, power: float,
    n_resamples: int, seed: int, budgets: list[str], min_queries: int, n_q: int,
) -> tuple[dict[str, list[str]], dict[str, str | None], Candidate | None, float | None, int | None, str]:
    """Test every candidate against the baseline (sets each ``Candidate.test``), find the fronts, the
    cheapest non-inferior candidate per budget and the status.

    Args:
        base_c: the baseline; cands: every other measured setting (``per_query`` in the same query order).
        metric, margin, alpha, test, power, n_resamples, seed: the test (see :func:`non_inferiority`).
        budgets: the budget names, the first one deciding the winner.
        min_queries: below this many queries no winner is named.
        n_q: the number of queries in ``per_query``.

    Returns:
        (fronts, winners per budget, winner, detectable margin, queries needed, status).
    """
    tests = non_inferiority(base_c.per_query, {c.name: c.per_query for c in cands}, margin, alpha, test, "holm", power, n_resamples, seed) if cands and n_q >= 2 else {}
    for c in cands:
        c.test = tests.get(c.name)
    everyone = [base_c, *cands]
    fr = pareto_fronts([_q_row(c, metric) for c in everyone], quality=metric)
    fronts = {axis: [everyone[i].name for i in idx] for axis, idx in fr.items()}

    powered = n_q >= min_queries
    winners: dict[str, str | None] = {}
    winner_objs: dict[str, Candidate | None] = {}
    for axis in budgets:
        attr = BUDGETS[axis]
        ok = [c for c in cands if c.test is not None and c.test.non_inferior and strictly_less(getattr(c, attr), getattr(base_c, attr))]
        best = min(ok, key=lambda c: (getattr(c, attr), -c.quality[metric], c.index_bytes or 0)) if ok and powered else None
        winner_objs[axis] = best
        winners[axis] = best.name if best else None
    winner = winner_objs[budgets[0]]
    attr0 = BUDGETS[budgets[0]]
    cheaper = [c for c in cands if c.test is not None and strictly_less(getattr(c, attr0), getattr(base_c, attr0))]
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


def drilldowns(
    ds: BeirDataset, winner: Candidate | None, fronts: dict[str, list[str]], base_c: Candidate,
    measured: Mapping[str, Candidate], qids: list[str], metric: str, n_examples: int,
) -> dict[str, Any]:
    """The drill-down of the winner and every front point against the baseline.

    Args:
        ds: the data set (its labels are the ones the decision used).
        winner: the winner or None; fronts: front names per budget; base_c: the baseline.
        measured: every measured setting by name; qids: the order of ``per_query``.
        metric: the primary metric; n_examples: queries per list.

    Returns:
        setting name -> :func:`~langchain_embcompare.evaluation.drilldown.drilldown` dict.
    """
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
