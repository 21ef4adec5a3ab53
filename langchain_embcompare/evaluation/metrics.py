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

import time
from collections.abc import Mapping, Sequence
from typing import Any

from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever

from langchain_embcompare.scoring import (  # the scoring itself lives below the retrievers (see scoring.py)
    DEFAULT_METRICS,
    Qrels,
    Run,
    check_cutoffs,
    doc_id_of,
    documents_to_scores,
    drop_identical_ids,
    evaluate_per_query,
    evaluate_run,
    max_cutoff,
    metrics_for_depth,
    returned_scores,
    top_k,
)


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
