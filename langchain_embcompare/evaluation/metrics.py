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
- **Cutoffs**: a metric cutoff above the documents retrieved per query (``recall@100`` from a run of
  ``k=20``) raises :class:`~langchain_embcompare.errors.MetricCutoffError` instead of reporting a
  number whose label promises 100 documents. The depth is the ``k`` passed here, else the one
  :func:`retrieve_run` recorded on its run; a retriever that returns fewer than ``k`` documents
  because the corpus is smaller is fine.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pytrec_eval
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever

from langchain_embcompare.errors import InvalidParameterError, MetricCutoffError
from langchain_embcompare.ranking import trec_top_k

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
    """A run (``{query_id: {doc_id: score}}``) that remembers how it is to be scored: ``depth`` is the
    number of documents asked for per query (the ``k`` of :func:`retrieve_run`);
    ``ignore_identical_ids`` (None = the default, True) is the self-retrieval rule the metrics apply
    when not told otherwise. It is a plain dict otherwise (JSON, equality, copying)."""

    depth: int | None = None
    ignore_identical_ids: bool | None = None


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


def evaluate_per_query(
    run: Run,
    qrels: Qrels,
    metrics: Sequence[str] = DEFAULT_METRICS,
    *,
    ignore_identical_ids: bool | None = None,
    k: int | None = None,
) -> dict[str, dict[str, float]]:
    """``{query_id: {metric: value}}`` for every query that has labels.

    ``ignore_identical_ids``: drop retrieved documents whose id is the query id (BEIR's rule);
    ``None`` takes the run's own setting (:class:`RetrievedRun`), else True, as in BEIR.
    ``k``: documents retrieved per query (default: ``run.depth`` when ``run`` came from
    :func:`retrieve_run`); a metric cutoff above it raises :class:`MetricCutoffError`.
    """
    check_cutoffs(metrics, k if k is not None else getattr(run, "depth", None))
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
    metrics: Sequence[str] = DEFAULT_METRICS,
    *,
    ignore_identical_ids: bool | None = None,
    k: int | None = None,
) -> dict[str, float]:
    """Mean of each metric over the labelled queries (arguments as :func:`evaluate_per_query`)."""
    per_query = evaluate_per_query(run, qrels, metrics, ignore_identical_ids=ignore_identical_ids, k=k)
    if not per_query:
        raise InvalidParameterError("No labelled queries: qrels is empty, so quality cannot be measured.")
    return {m: float(np.mean([v[m] for v in per_query.values()])) for m in metrics}


def _doc_id(doc: Document) -> str:
    return str(doc.id or doc.metadata.get("doc_id") or doc.metadata.get("id") or doc.page_content[:64])


def documents_to_scores(docs: Sequence[Document]) -> dict[str, float]:
    """A run row from retrieved documents: their scores, or rank-based ones when none is given."""
    n = len(docs)
    row: dict[str, float] = {}
    for rank, d in enumerate(docs):
        score = d.metadata.get("score", d.metadata.get("relevance_score"))
        row.setdefault(_doc_id(d), float(score) if score is not None else float(n - rank))
    return row


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

    Returns a :class:`RetrievedRun` with ``depth = k``: the metrics refuse cutoffs deeper than it.

    ``timings`` (a dict), if given, receives ``seconds`` and ``per_query_ms`` (batched time / n).
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
    run = RetrievedRun({qid: documents_to_scores(docs[:k]) for qid, docs in zip(qids, results)})
    run.depth = k
    return run


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
    "documents_to_scores",
]
