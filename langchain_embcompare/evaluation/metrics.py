"""Retrieval quality from relevance labels, computed by pytrec_eval (trec_eval, as BEIR and MTEB do).

Metric names are ``name@k``: ``ndcg@10``, ``recall@100``, ``mrr@10``, ``map@100``, ``precision@10``.
``mrr@k`` is trec_eval's ``recip_rank`` on the run cut to its top k (trec_eval has no cut for it).
Values are fractions in [0, 1], averaged over every labelled query (a query the run misses scores 0).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pytrec_eval
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever

from langchain_embcompare.errors import InvalidParameterError

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


def top_k(run: Run, k: int) -> Run:
    """Each query's k best documents (ties broken by doc id, as trec_eval does)."""
    return {q: dict(sorted(docs.items(), key=lambda x: (-x[1], x[0]))[:k]) for q, docs in run.items()}


def evaluate_per_query(run: Run, qrels: Qrels, metrics: Sequence[str] = DEFAULT_METRICS) -> dict[str, dict[str, float]]:
    """``{query_id: {metric: value}}`` for every query that has labels."""
    qrels = {q: {d: int(r) for d, r in docs.items()} for q, docs in qrels.items()}
    run = {q: {d: float(s) for d, s in docs.items()} for q, docs in run.items() if q in qrels}
    out: dict[str, dict[str, float]] = {q: {} for q in qrels}
    for metric in metrics:
        name, k = _parse(metric)
        if name == "mrr":
            measure, source = "recip_rank", top_k(run, k)
        else:
            measure, source = f"{_TREC[name]}.{k}", run
        key = measure.replace(".", "_")
        scores = pytrec_eval.RelevanceEvaluator(qrels, {measure}).evaluate(source) if source else {}
        for q in qrels:
            out[q][metric] = float(scores.get(q, {}).get(key, 0.0))
    return out


def evaluate_run(run: Run, qrels: Qrels, metrics: Sequence[str] = DEFAULT_METRICS) -> dict[str, float]:
    """Mean of each metric over the labelled queries."""
    per_query = evaluate_per_query(run, qrels, metrics)
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
    return {qid: documents_to_scores(docs[:k]) for qid, docs in zip(qids, results)}


__all__ = ["Run", "DEFAULT_METRICS", "evaluate_run", "evaluate_per_query", "retrieve_run", "top_k", "documents_to_scores"]
