"""Quality metrics by pytrec_eval (trec_eval, as BEIR and MTEB compute them), below every retriever:
metric names (``name@k``) and their cutoffs, the scores of a run per query and on average, and a run
row from retrieved Documents. The conventions (tie order, self-retrieval, order, cutoffs) are those of
:mod:`langchain_embcompare.evaluation.metrics`, which builds runs from retrievers and re-exports these
names; they live here so that a retriever tuning itself on labelled queries (the hybrid's
``fit_fusion``) needs nothing from the evaluation layer.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

import numpy as np
import pytrec_eval
from langchain_core.documents import Document

from langchain_embcompare.errors import InvalidParameterError, MetricCutoffError
from langchain_embcompare.ranking import trec_top_k

logger = logging.getLogger("langchain_embcompare.evaluation.metrics")

Run = dict[str, dict[str, float]]
Qrels = Mapping[str, Mapping[str, int]]
DEFAULT_METRICS: tuple[str, ...] = ("ndcg@10", "recall@100", "mrr@10")
_TREC = {"ndcg": "ndcg_cut", "recall": "recall", "map": "map_cut", "precision": "P"}


def parse_metric(metric: str) -> tuple[str, int]:
    """Split a ``name@k`` metric name.

    Args:
        metric: e.g. ``"ndcg@10"`` (ndcg, recall, map, precision, mrr; case-insensitive).

    Returns:
        ``(name, k)``, the name lower-cased.

    Raises:
        InvalidParameterError: an unknown name or a missing / non-integer cutoff.
    """
    name, _, k = metric.lower().partition("@")
    if name not in (*_TREC, "mrr") or not k.isdigit():
        raise InvalidParameterError(
            f"Unknown metric {metric!r}: use name@k with name in {sorted((*_TREC, 'mrr'))}, e.g. 'ndcg@10'."
        )
    return name, int(k)


def top_k(run: Run, k: int) -> Run:
    """Each query's k best documents, in trec_eval's order (score descending, then doc id
    descending: :func:`langchain_embcompare.ranking.trec_top_k`).

    Args:
        run: ``{query id: {doc id: score}}``.
        k: documents kept per query.

    Returns:
        The cut run.
    """
    return {q: trec_top_k(docs, k) for q, docs in run.items()}


def drop_identical_ids(run: Run) -> Run:
    """The run without documents whose id equals their query's id (BEIR's ``ignore_identical_ids``).

    Args:
        run: ``{query id: {doc id: score}}``.

    Returns:
        The run without self-retrievals.
    """
    return {q: {d: s for d, s in docs.items() if d != q} for q, docs in run.items()}


def max_cutoff(metrics: Sequence[str]) -> int:
    """The largest ``k`` among ``name@k`` metrics (0 for none).

    Args:
        metrics: ``name@k`` metric names.

    Returns:
        The deepest cutoff.

    Raises:
        InvalidParameterError: an unknown metric name.
    """
    return max((parse_metric(m)[1] for m in metrics), default=0)


def check_cutoffs(metrics: Sequence[str], k: int | None) -> None:
    """Raise :class:`MetricCutoffError` if a metric reads deeper than the ``k`` documents retrieved
    per query. ``k=None`` (depth unknown) checks nothing but the metric names.

    Args:
        metrics: ``name@k`` metric names.
        k: documents retrieved per query, or None.

    Raises:
        InvalidParameterError: an unknown metric name.
        MetricCutoffError: a cutoff above ``k``.
    """
    for metric in metrics:
        parse_metric(metric)
    if k is None:
        return
    deeper = [m for m in metrics if parse_metric(m)[1] > k]
    if deeper:
        need = max_cutoff(deeper)
        raise MetricCutoffError(
            f"Metric(s) {deeper} read the top {need} documents but only k={k} are retrieved per query, so "
            f"{deeper[0]} would really be a cutoff-{k} number. Retrieve more (k={need}), or ask for metrics "
            f"with cutoffs <= {k} (e.g. {parse_metric(deeper[0])[0]}@{k})."
        )


def metrics_for_depth(
    metrics: Sequence[str] | None, depth: int | None, defaults: Sequence[str] = DEFAULT_METRICS
) -> tuple[tuple[str, ...], str | None]:
    """The metrics to compute on runs retrieving ``depth`` documents per query, and a one-line note.

    A metric the caller asked for keeps its cutoff: one deeper than ``depth`` raises
    :class:`MetricCutoffError` (:func:`check_cutoffs`). Without ``metrics`` (None) the ``defaults``
    apply, and a default whose cutoff ``depth`` cannot answer is lowered to ``depth`` (``recall@100``
    becomes ``recall@10`` on a run of ``k=10``, or of a funnel whose shortlist is 10), so a shallow
    run is still measured instead of refused; the note says so in one line, e.g.
    ``"recall@100 -> recall@10: retrieval depth is 10 (default metrics follow it; name metrics to
    keep a cutoff)"``, and is None when nothing changed. A metric lowered onto another one in the
    list appears once.

    Args:
        metrics: ``name@k`` metrics the caller named, or None for the defaults.
        depth: documents retrieved per query (None = unknown: names are checked, nothing is lowered).
        defaults: the default metrics (``DEFAULT_METRICS``; the advisor passes its own).

    Returns:
        ``(metrics, note)``: a tuple of ``name@k`` strings and the note (or None).

    Raises:
        InvalidParameterError: an unknown metric name.
        MetricCutoffError: a named metric reads deeper than ``depth``.
    """
    if metrics is not None:
        chosen = tuple(metrics)
        check_cutoffs(chosen, depth)
        return chosen, None
    check_cutoffs(defaults, None)
    if depth is None:
        return tuple(defaults), None
    out: list[str] = []
    changed: list[str] = []
    for metric in defaults:
        name, cut = parse_metric(metric)
        if cut > depth:
            lowered = f"{name}@{depth}"
            changed.append(f"{metric} -> {lowered}")
            metric = lowered
        if metric not in out:
            out.append(metric)
    note = None
    if changed:
        note = f"{', '.join(changed)}: retrieval depth is {depth} (default metrics follow it; name metrics to keep a cutoff)"
    return tuple(out), note


def evaluate_per_query(
    run: Run,
    qrels: Qrels,
    metrics: Sequence[str] | None = None,
    *,
    ignore_identical_ids: bool | None = None,
    k: int | None = None,
) -> dict[str, dict[str, float]]:
    """``{query_id: {metric: value}}`` for every query that has labels.

    ``metrics``: ``name@k`` names; None = :data:`DEFAULT_METRICS`, lowered to the depth where deeper
    (logged in one line at WARNING; :func:`metrics_for_depth`).
    ``ignore_identical_ids``: drop retrieved documents whose id is the query id (BEIR's rule);
    ``None`` takes the run's own setting (:class:`RetrievedRun`), else True, as in BEIR.
    ``k``: documents retrieved per query (default: ``run.depth`` when ``run`` came from
    :func:`~langchain_embcompare.evaluation.metrics.retrieve_run`); a named metric's cutoff above it raises :class:`MetricCutoffError`.

    Args:
        run: ``{query id: {doc id: score}}``, higher = better.
        qrels: ``{query id: {doc id: grade}}``.
        metrics: ``name@k`` metrics, or None for the defaults.
        ignore_identical_ids: BEIR's self-retrieval rule (None: the run's own setting, else True).
        k: documents retrieved per query (default: ``run.depth``).

    Returns:
        ``{query id: {metric: value}}`` for every labelled query (0 where the run missed it).

    Raises:
        InvalidParameterError: an unknown metric.
        MetricCutoffError: a named metric's cutoff is above ``k``.
    """
    metrics, note = metrics_for_depth(metrics, k if k is not None else getattr(run, "depth", None))
    if note:
        logger.warning(note)
    if ignore_identical_ids is None:
        ignore_identical_ids = getattr(run, "ignore_identical_ids", None) is not False
    qrels = {q: {d: int(r) for d, r in docs.items()} for q, docs in qrels.items()}
    run = {q: {d: float(s) for d, s in docs.items()} for q, docs in run.items() if q in qrels}
    if ignore_identical_ids:
        run = drop_identical_ids(run)
    out: dict[str, dict[str, float]] = {q: {} for q in qrels}
    for metric in metrics:
        name, cut = parse_metric(metric)
        if name == "mrr":  # trec_eval has no recip_rank cut: cut the run first, in trec_eval's own order
            measure, source = "recip_rank", top_k(run, cut)
        else:
            measure, source = f"{_TREC[name]}.{cut}", run
        key = measure.replace(".", "_")
        scores = pytrec_eval.RelevanceEvaluator(qrels, {measure}).evaluate(source) if source else {}
        for q in qrels:
            out[q][metric] = float(scores.get(q, {}).get(key, 0.0))
    return out


def evaluate_run(
    run: Run,
    qrels: Qrels,
    metrics: Sequence[str] | None = None,
    *,
    ignore_identical_ids: bool | None = None,
    k: int | None = None,
) -> dict[str, float]:
    """Mean of each metric over the labelled queries (arguments as :func:`evaluate_per_query`).

    Args:
        run: ``{query id: {doc id: score}}``, higher = better (e.g. from :func:`~langchain_embcompare.evaluation.metrics.retrieve_run`).
        qrels: ``{query id: {doc id: grade}}``, int grades.
        metrics: ``name@k`` metrics (nDCG@k, recall@k, MRR, ... via pytrec_eval), or None for the defaults.
        ignore_identical_ids: drop retrieved documents whose id is the query id (BEIR's rule); None: the
            run's own setting, else True.
        k: documents retrieved per query (default: ``run.depth``).

    Returns:
        ``{metric: mean over the labelled queries}``, floats in [0, 1].

    Raises:
        InvalidParameterError: ``qrels`` is empty, or an unknown metric.
        MetricCutoffError: a named metric's cutoff is above ``k``.
    """
    per_query = evaluate_per_query(run, qrels, metrics, ignore_identical_ids=ignore_identical_ids, k=k)
    if not per_query:
        raise InvalidParameterError("No labelled queries: qrels is empty, so quality cannot be measured.")
    first = next(iter(per_query.values()))  # the metrics computed (defaults may follow the depth)
    return {m: float(np.mean([v[m] for v in per_query.values()])) for m in first}


def doc_id_of(doc: Document) -> str:
    """The id a run records for a retrieved Document: its ``id``, else ``metadata["doc_id"]`` / ``["id"]``,
    else the first 64 characters of its text.

    Args:
        doc: a retrieved Document.

    Returns:
        The document id.
    """
    return str(doc.id or doc.metadata.get("doc_id") or doc.metadata.get("id") or doc.page_content[:64])


def documents_to_scores(docs: Sequence[Document]) -> dict[str, float]:
    """A run row from retrieved documents in the order they were returned: ``{doc_id: n - rank}``
    (float, ``n = len(docs)``, ranks from 0, so the first scores ``n`` and the last 1). The scores the
    documents carry are not read (see the module docstring, *Order*); a document id returned twice
    keeps its first (best) rank.

    Args:
        docs: the retrieved Documents, best first.

    Returns:
        ``{doc id: rank score}``.
    """
    n = len(docs)
    row: dict[str, float] = {}
    for rank, d in enumerate(docs):
        row.setdefault(doc_id_of(d), float(n - rank))
    return row


def returned_scores(docs: Sequence[Document]) -> dict[str, float]:
    """``{doc_id: score}`` the documents carry (``metadata["relevance_score"]``, a reranker's, else
    ``metadata["score"]``); documents without one are left out. Read for score distributions only.

    Args:
        docs: the retrieved Documents.

    Returns:
        ``{doc id: score}``.
    """
    row: dict[str, float] = {}
    for d in docs:
        score = d.metadata.get("relevance_score", d.metadata.get("score"))
        if score is not None:
            row.setdefault(doc_id_of(d), float(score))
    return row


__all__ = [
    "DEFAULT_METRICS",
    "Qrels",
    "Run",
    "check_cutoffs",
    "doc_id_of",
    "documents_to_scores",
    "drop_identical_ids",
    "evaluate_per_query",
    "evaluate_run",
    "max_cutoff",
    "metrics_for_depth",
    "parse_metric",
    "returned_scores",
    "top_k",
]
