"""Retrieval quality from relevance labels, computed by pytrec_eval (trec_eval, as BEIR and MTEB do).

Metric names are ``name@k``: ``ndcg@10``, ``recall@100``, ``mrr@10``, ``map@100``, ``precision@10``.
``mrr@k`` is trec_eval's ``recip_rank`` on the run cut to its top k (trec_eval has no cut for it).
Values are fractions in [0, 1], averaged over every labelled query (a query the run misses scores 0).

Conventions (the ones BEIR, MTEB and trec_eval users compare against):

- **Ties**: documents with equal scores are ordered as trec_eval orders them, by document id
  descending (:mod:`langchain_embcompare.ranking`); ``mrr@k``'s cut uses the same order, so MRR,
  precision and nDCG read one ranking.
- **Self-retrieval**: like BEIR's ``EvaluateRetrieval.evaluate(ignore_identical_ids=True)``, a
  retrieved document whose id equals the query id is dropped before scoring (data sets whose queries
  are also corpus documents, e.g. ArguAna, Quora, CQADupStack). ``ignore_identical_ids=False`` keeps it.
- **Order**: a run made by :func:`retrieve_run` records the order the retriever returned, as
  rank-derived scores (``n - rank`` for a query's ``n`` documents, ranks from 0), never the scores the
  Documents carry: a LangChain ``ContextualCompressionRetriever`` whose compressor reranks (e.g.
  ``CrossEncoderReranker``) leaves the first-stage ``metadata["score"]`` on its documents, and
  re-sorting by it would score the first stage's order instead of the reranked one. A retriever's
  tie order is therefore its own. The scores the Documents carried are kept apart
  (:attr:`RetrievedRun.returned_scores`) for what reads score values, not order (the agreement's
  score distributions). A run written by hand as ``{doc_id: score}`` is read as trec_eval reads it
  (score descending, ties as below).
- **Cutoffs**: a metric cutoff above the documents retrieved per query (``recall@100`` from a run of
  ``k=20``) raises :class:`~langchain_embcompare.errors.MetricCutoffError` instead of reporting a
  number whose label promises 100 documents, when the metric was asked for; a *default* metric is
  lowered to the depth instead, with a one-line note (:func:`metrics_for_depth`). The depth is the
  ``k`` passed here, else the one :func:`retrieve_run` recorded on its run; a retriever that returns fewer than ``k`` documents
  because the corpus is smaller is fine.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pytrec_eval
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever

from langchain_embcompare.errors import InvalidParameterError, MetricCutoffError
from langchain_embcompare.ranking import trec_top_k

logger = logging.getLogger(__name__)

Run = dict[str, dict[str, float]]
Qrels = Mapping[str, Mapping[str, int]]
DEFAULT_METRICS: tuple[str, ...] = ("ndcg@10", "recall@100", "mrr@10")
_TREC = {"ndcg": "ndcg_cut", "recall": "recall", "map": "map_cut", "precision": "P"}


def _parse(metric: str) -> tuple[str, int]:
    name, _, k = metric.lower().partition("@")
    if name not in (*_TREC, "mrr") or not k.isdigit():
        raise InvalidParameterError(
            f"Unknown metric {metric!r}: use name@k with name in {sorted((*_TREC, 'mrr'))}, e.g. 'ndcg@10'."
        )
    return name, int(k)


class RetrievedRun(dict):
    """A run (``{query_id: {doc_id: rank score}}``, the retriever's order as ``n - rank``) that
    remembers how it is to be scored: ``depth`` is the number of documents asked for per query (the
    ``k`` of :func:`retrieve_run`); ``ignore_identical_ids`` (None = the default, True) is the
    self-retrieval rule the metrics apply when not told otherwise; ``returned_scores``
    (``{query_id: {doc_id: score}}``, only documents that carried one) the scores the returned
    Documents carried (``metadata["relevance_score"]``, else ``metadata["score"]``), never used to
    order anything. It is a plain dict otherwise (JSON, equality, copying)."""

    depth: int | None = None
    ignore_identical_ids: bool | None = None
    returned_scores: dict[str, dict[str, float]] | None = None


def top_k(run: Run, k: int) -> Run:
    """Each query's k best documents, in trec_eval's order (score descending, then doc id
    descending: :func:`langchain_embcompare.ranking.trec_top_k`)."""
    return {q: trec_top_k(docs, k) for q, docs in run.items()}


def drop_identical_ids(run: Run) -> Run:
    """The run without documents whose id equals their query's id (BEIR's ``ignore_identical_ids``)."""
    return {q: {d: s for d, s in docs.items() if d != q} for q, docs in run.items()}


def max_cutoff(metrics: Sequence[str]) -> int:
    """The largest ``k`` among ``name@k`` metrics (0 for none)."""
    return max((_parse(m)[1] for m in metrics), default=0)


def check_cutoffs(metrics: Sequence[str], k: int | None) -> None:
    """Raise :class:`MetricCutoffError` if a metric reads deeper than the ``k`` documents retrieved
    per query. ``k=None`` (depth unknown) checks nothing but the metric names."""
    for metric in metrics:
        _parse(metric)
    if k is None:
        return
    deeper = [m for m in metrics if _parse(m)[1] > k]
    if deeper:
        need = max_cutoff(deeper)
        raise MetricCutoffError(
            f"Metric(s) {deeper} read the top {need} documents but only k={k} are retrieved per query, so "
            f"{deeper[0]} would really be a cutoff-{k} number. Retrieve more (k={need}), or ask for metrics "
            f"with cutoffs <= {k} (e.g. {_parse(deeper[0])[0]}@{k})."
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
        name, cut = _parse(metric)
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
    :func:`retrieve_run`); a named metric's cutoff above it raises :class:`MetricCutoffError`.
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
        name, cut = _parse(metric)
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
        run: ``{query id: {doc id: score}}``, higher = better (e.g. from :func:`retrieve_run`).
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


def _doc_id(doc: Document) -> str:
    return str(doc.id or doc.metadata.get("doc_id") or doc.metadata.get("id") or doc.page_content[:64])


def documents_to_scores(docs: Sequence[Document]) -> dict[str, float]:
    """A run row from retrieved documents in the order they were returned: ``{doc_id: n - rank}``
    (float, ``n = len(docs)``, ranks from 0, so the first scores ``n`` and the last 1). The scores the
    documents carry are not read (see the module docstring, *Order*); a document id returned twice
    keeps its first (best) rank."""
    n = len(docs)
    row: dict[str, float] = {}
    for rank, d in enumerate(docs):
        row.setdefault(_doc_id(d), float(n - rank))
    return row


def returned_scores(docs: Sequence[Document]) -> dict[str, float]:
    """``{doc_id: score}`` the documents carry (``metadata["relevance_score"]``, a reranker's, else
    ``metadata["score"]``); documents without one are left out. Read for score distributions only."""
    row: dict[str, float] = {}
    for d in docs:
        score = d.metadata.get("relevance_score", d.metadata.get("score"))
        if score is not None:
            row.setdefault(_doc_id(d), float(score))
    return row


def run_from_documents(qids: Sequence[str], results: Sequence[Sequence[Document]], k: int) -> RetrievedRun:
    """The :class:`RetrievedRun` of ``results[i]`` (query ``qids[i]``'s returned Documents, best
    first), each cut to its first ``k``: rank scores (:func:`documents_to_scores`), ``depth = k``,
    ``returned_scores`` (:func:`returned_scores`; None when no document carried a score)."""
    cut = [list(docs)[:k] for docs in results]
    run = RetrievedRun({qid: documents_to_scores(docs) for qid, docs in zip(qids, cut)})
    run.depth = k
    own = {qid: returned_scores(docs) for qid, docs in zip(qids, cut)}
    run.returned_scores = own if any(own.values()) else None
    return run


def retrieve_run(
    retriever: BaseRetriever,
    queries: Mapping[str, str],
    k: int = 100,
    batch_size: int = 256,
    timings: dict[str, Any] | None = None,
    progress: Any = None,
) -> Run:
    """Run ``retriever`` on every query. Retrievers of this package search the whole batch as one
    matrix (``search_batch``); any other LangChain retriever goes through ``Runnable.batch``.

    Returns a :class:`RetrievedRun` (:func:`run_from_documents`) recording each query's returned
    order as rank scores, with ``depth = k``: the metrics refuse cutoffs deeper than it.

    ``timings`` (a dict), if given, receives ``seconds`` and ``per_query_ms`` (batched time / n).

    Args:
        retriever: any LangChain retriever (this package's search whole batches at once).
        queries: ``{query id: query text}``.
        k: documents retrieved per query.
        batch_size: queries per batch call.
        timings: a dict receiving ``seconds`` (wall clock) and ``per_query_ms``, or None.
        progress: called with the number of queries done after each batch, or None.

    Returns:
        The :class:`RetrievedRun` ``{query id: {doc id: rank score}}`` (float scores, ``depth = k``).
    """
    qids, texts = list(queries), list(queries.values())
    results: list[list[Document]] = []
    start = time.perf_counter()
    for i in range(0, len(texts), batch_size):
        chunk = texts[i : i + batch_size]
        if hasattr(retriever, "search_batch"):
            results.extend(retriever.search_batch(chunk, k=k))
        else:
            results.extend(retriever.batch(chunk, config={"max_concurrency": 8}))
        if progress is not None:
            progress(len(chunk))
    elapsed = time.perf_counter() - start
    if timings is not None:
        timings["seconds"] = elapsed
        timings["per_query_ms"] = 1000 * elapsed / max(1, len(texts))
    return run_from_documents(qids, results, k)


__all__ = [
    "Run",
    "RetrievedRun",
    "DEFAULT_METRICS",
    "evaluate_run",
    "evaluate_per_query",
    "retrieve_run",
    "top_k",
    "drop_identical_ids",
    "check_cutoffs",
    "max_cutoff",
    "metrics_for_depth",
    "documents_to_scores",
    "returned_scores",
    "run_from_documents",
]
