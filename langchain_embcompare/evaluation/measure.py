"""Measuring one run beside its quality: single-query latency percentiles (ms), embedding
throughput (texts/s, caches bypassed), index memory (bytes), what kind of retriever it is and the
cost hooks for precomputed vectors; plus the helpers that find a retriever's store and embeddings.
Its one job is the non-quality measurements that :func:`~langchain_embcompare.evaluation.compare.compare`
(and the advisor) put in each :class:`~langchain_embcompare.evaluation.results.RunResult`.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np
from langchain_core.embeddings import Embeddings
from langchain_core.retrievers import BaseRetriever

from langchain_embcompare.evaluation.cost import CostEstimate

__all__ = [
    "embeddings_of",
    "encode_uncached",
    "index_bytes_of",
    "latency_ms",
    "matryoshka_of",
    "model_name_of",
    "percentiles",
    "precomputed_cost",
    "retriever_kind",
    "store_of",
    "throughput",
    "uses_precomputed",
]


def percentiles(ms: Sequence[float]) -> dict[str, float]:
    """Summary of latencies.

    Args:
        ms: latencies in milliseconds.

    Returns:
        ``{"p50", "p95", "mean": ms, "n": count}``; ``{}`` for no latencies.
    """
    a = np.asarray(ms, dtype=np.float64)
    if a.size == 0:
        return {}
    return {"p50": float(np.percentile(a, 50)), "p95": float(np.percentile(a, 95)), "mean": float(a.mean()), "n": int(a.size)}


def matryoshka_of(obj: Any):
    """``obj`` when it is a :class:`~langchain_embcompare.matryoshka.MatryoshkaEmbeddings`, else None.

    Args:
        obj: any object.

    Returns:
        The MatryoshkaEmbeddings, or None.
    """
    from langchain_embcompare.matryoshka import MatryoshkaEmbeddings

    return obj if isinstance(obj, MatryoshkaEmbeddings) else None


def store_of(retriever: Any) -> Any:
    """The vector store behind a retriever (through rerank and hybrid wrappers).

    Args:
        retriever: a LangChain retriever.

    Returns:
        Its ``store`` / ``vectorstore``, or None.
    """
    for link in ("store", "vectorstore"):
        v = getattr(retriever, link, None)
        if v is not None:
            return v
    base = getattr(retriever, "base_retriever", None) or getattr(retriever, "dense", None)  # rerank / hybrid
    return store_of(base) if base is not None else None


def embeddings_of(retriever: Any) -> Embeddings | None:
    """The LangChain ``Embeddings`` of the store behind a retriever.

    Args:
        retriever: a LangChain retriever.

    Returns:
        The store's embeddings, or None (no store, or none recorded).
    """
    store = store_of(retriever)
    if store is None:
        return None
    emb = getattr(store, "embedding", None) or getattr(store, "embeddings", None)
    if emb is None:
        emb = getattr(store, "embedding_function", None)
    return emb if isinstance(emb, Embeddings) else None


def index_bytes_of(retriever: Any) -> int | None:
    """Index memory of a retriever: its store's ``index_bytes()`` (plus the BM25 index of a hybrid's
    lexical arm; a BM25 retriever's own sparse index; LangChain's FAISS store serialised).

    Args:
        retriever: a LangChain retriever.

    Returns:
        Bytes, or None when the store cannot tell.
    """
    lexical = getattr(retriever, "lexical", None)  # hybrid: the dense store's bytes + the BM25 index's
    if lexical is not None and callable(getattr(lexical, "index_bytes", None)):
        dense = index_bytes_of(getattr(retriever, "dense", None))
        return None if dense is None else dense + int(lexical.index_bytes())
    if callable(getattr(retriever, "index_bytes", None)):  # BM25Retriever: its sparse index
        return int(retriever.index_bytes())
    store = store_of(retriever)
    if store is None:
        return None
    from langchain_embcompare.errors import MissingCapabilityError
    from langchain_embcompare.stores.base import EmbStore

    if isinstance(store, EmbStore):  # the store contract: index_bytes(), or MissingCapabilityError
        try:
            return int(store.index_bytes())
        except MissingCapabilityError:  # a store that cannot tell
            return None
    index = getattr(store, "index", None)  # a foreign LangChain store holding a faiss index
    if index is not None:
        try:
            import faiss

            return int(faiss.serialize_index(index).nbytes)
        except Exception:
            return None
    return None


def retriever_kind(retriever: Any) -> str:
    """``"hybrid"`` (dense + lexical fused), ``"lexical"`` (BM25) or ``"dense"``; a reranker wrapping
    one keeps its base's kind."""
    from langchain_embcompare.retrievers.hybrid import HybridRetriever
    from langchain_embcompare.retrievers.lexical import BM25Retriever, StoreFullTextRetriever

    for _ in range(4):
        if isinstance(retriever, HybridRetriever):
            return "hybrid"
        if isinstance(retriever, (BM25Retriever, StoreFullTextRetriever)):
            return "lexical"
        base = getattr(retriever, "base_retriever", None)
        if base is None:
            break
        retriever = base
    return "dense"


def model_name_of(emb: Embeddings | None) -> str | None:
    """The model name of an ``Embeddings`` (a MatryoshkaEmbeddings' base model name).

    Args:
        emb: the embeddings, or None.

    Returns:
        The name, or None for None.
    """
    if emb is None:
        return None
    m = matryoshka_of(emb)
    if m is not None:
        return m.model_name
    from langchain_embcompare.embedding_base import model_id

    return model_id(emb)


def encode_uncached(emb: Embeddings, texts: list[str], query: bool) -> None:
    """Embed through the model itself, bypassing the package's embedding cache (for honest timings).

    Args:
        emb: the embeddings.
        texts: texts to embed (the vectors are dropped).
        query: embed as queries (the query prompt) rather than documents.
    """
    from langchain_embcompare.embedding_base import encode_texts

    m = matryoshka_of(emb)
    if m is not None:
        encode_texts(m.base, texts, m.query_prompt if query else m.document_prompt, query=query)
    elif query:
        for t in texts:
            emb.embed_query(t)
    else:
        emb.embed_documents(texts)


def uses_precomputed(emb: Embeddings | None) -> bool:
    """Whether ``emb`` looks vectors up in a precomputed table (no model to time).

    Args:
        emb: the embeddings, or None.

    Returns:
        True for precomputed embeddings.
    """
    from langchain_embcompare.precomputed import is_precomputed

    return emb is not None and is_precomputed(emb)


def precomputed_cost(model: str) -> tuple[dict[str, Any], CostEstimate]:
    """Precomputed vectors: no throughput or cost was measured, so none is invented (the table says "precomputed").

    Args:
        model: the vector table's model name.

    Returns:
        ``({"source": "precomputed"}, a CostEstimate of kind "precomputed" with a NaN price)``.
    """
    return {"source": "precomputed"}, CostEstimate(model=model, kind="precomputed", usd_per_million_texts=float("nan"))


def throughput(emb: Embeddings, texts: list[str]) -> dict[str, float]:
    """Documents per second, measured on ``texts`` after a 2-text warm-up, caches bypassed.

    Args:
        emb: the embeddings.
        texts: documents to embed.

    Returns:
        ``{"texts_per_second", "n_texts", "seconds"}``.
    """
    encode_uncached(emb, texts[:2], query=False)
    t0 = time.perf_counter()
    encode_uncached(emb, texts, query=False)
    secs = time.perf_counter() - t0
    return {"texts_per_second": len(texts) / secs if secs > 0 else float("nan"), "n_texts": len(texts), "seconds": secs}


def latency_ms(retriever: BaseRetriever, emb: Embeddings | None, queries: list[str]) -> list[float]:
    """Milliseconds per query, one query at a time.

    The package's embeddings cache query vectors (the quality run just filled it), so for them a query's
    latency = retriever call (cache hit) + the model's own time to embed that query, measured uncached.

    Args:
        retriever: the retriever to time.
        emb: its embeddings (None for BM25).
        queries: query texts, at least one (the first also warms up).

    Returns:
        Milliseconds per query, in order.
    """
    ms = []
    retriever.invoke(queries[0])  # warm-up
    cached = matryoshka_of(emb) is not None
    for q in queries:
        t0 = time.perf_counter()
        retriever.invoke(q)
        t1 = time.perf_counter()
        if cached:
            encode_uncached(emb, [q], query=True)
        t2 = time.perf_counter()
        ms.append(1000 * ((t1 - t0) + (t2 - t1 if cached else 0.0)))
    return ms
