"""Side-by-side A/B chain: one question, N retrievers (each optionally reranked), run concurrently.

Each branch retrieves, reranks (any BaseDocumentCompressor, composed like ContextualCompressionRetriever)
and answers; the branches run in one RunnableParallel, so sync calls use a thread pool and async calls
``asyncio.gather``. The result holds per retriever its answer, context, source ids and latencies, plus
the pairwise overlap (Jaccard and overlap@k) of the documents they retrieved.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from itertools import combinations
from typing import Any

from langchain_core.documents import BaseDocumentCompressor, Document
from langchain_core.language_models import BaseChatModel
from langchain_core.prompts import BasePromptTemplate
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables import Runnable, RunnableConfig, RunnableLambda, RunnableParallel, RunnablePassthrough

from langchain_embcompare.chains.rag import answer_runnable, check_prompt, source_ids, to_question
from langchain_embcompare.errors import InvalidParameterError

BRANCH_KEYS = ["answer", "sources", "context", "retrieval_ms", "rerank_ms", "latency_ms"]


def overlap_metrics(a: Sequence[str], b: Sequence[str], k: int | None = None) -> dict[str, Any]:
    """Agreement of two ranked id lists.

    ``jaccard`` = |A∩B| / |A∪B| over the full lists; ``overlap_at_k`` = |top-k(A) ∩ top-k(B)| / k with
    ``k`` defaulting to the shorter list's length. Two empty lists agree perfectly (1.0).

    >>> overlap_metrics(["d1", "d2", "d3"], ["d2", "d3", "d4"])
    {'jaccard': 0.5, 'overlap_at_k': 0.6667, 'k': 3, 'shared': ['d2', 'd3']}
    """
    if k is not None and k <= 0:
        raise InvalidParameterError(f"overlap k must be a positive int, got {k}; pass k=None for the shorter list")
    set_a, set_b = set(a), set(b)
    union = set_a | set_b
    jaccard = len(set_a & set_b) / len(union) if union else 1.0
    kk = k if k is not None else min(len(a), len(b))
    top = set(a[:kk]) & set(b[:kk])
    at_k = len(top) / kk if kk else 1.0
    shared = [d for d in a if d in set_b]
    return {"jaccard": round(jaccard, 4), "overlap_at_k": round(at_k, 4), "k": kk, "shared": shared}


def pairwise_overlap(ranked: Mapping[str, Sequence[str]], k: int | None = None) -> dict[str, dict[str, Any]]:
    """``overlap_metrics`` for every pair of named id lists, keyed ``"a vs b"`` (input order)."""
    return {f"{x} vs {y}": overlap_metrics(ranked[x], ranked[y], k) for x, y in combinations(ranked, 2)}


def _resolve_rerankers(
    names: Sequence[str], reranker: BaseDocumentCompressor | Mapping[str, BaseDocumentCompressor | None] | None
) -> dict[str, BaseDocumentCompressor | None]:
    """One compressor (or None) per retriever name; a dict may name a subset of retrievers."""
    if reranker is None or isinstance(reranker, BaseDocumentCompressor):
        return {n: reranker for n in names}
    if isinstance(reranker, Mapping):
        unknown = set(reranker) - set(names)
        if unknown:
            raise InvalidParameterError(
                f"reranker names {sorted(unknown)} match no retriever (retrievers: {list(names)}); "
                "key the reranker dict by retriever name"
            )
        for name, comp in reranker.items():
            if comp is not None and not isinstance(comp, BaseDocumentCompressor):
                raise InvalidParameterError(
                    f"reranker for {name!r} is a {type(comp).__name__}, not a BaseDocumentCompressor"
                )
        return {n: reranker.get(n) for n in names}
    raise InvalidParameterError(
        f"reranker must be a BaseDocumentCompressor, a dict of them or None, got {type(reranker).__name__}"
    )


def _ms(start: float) -> float:
    return round((time.perf_counter() - start) * 1000.0, 3)


def _retrieve_runnable(name: str, retriever: BaseRetriever, compressor: BaseDocumentCompressor | None) -> Runnable:
    """{"question", "_t0"} → same + context, sources, retrieval_ms, rerank_ms (timed, sync and async)."""

    def finish(x: dict, docs: Sequence[Document], t_ret: float, t_rr: float | None) -> dict:
        docs = list(docs)
        return {**x, "context": docs, "sources": source_ids(docs), "retrieval_ms": t_ret,
                "rerank_ms": t_rr if t_rr is not None else 0.0}

    def run(x: dict, config: RunnableConfig) -> dict:
        t = time.perf_counter()
        docs = retriever.invoke(x["question"], config)
        t_ret = _ms(t)
        if compressor is None:
            return finish(x, docs, t_ret, None)
        t = time.perf_counter()
        docs = compressor.compress_documents(docs, x["question"], callbacks=config.get("callbacks"))
        return finish(x, docs, t_ret, _ms(t))

    async def arun(x: dict, config: RunnableConfig) -> dict:
        t = time.perf_counter()
        docs = await retriever.ainvoke(x["question"], config)
        t_ret = _ms(t)
        if compressor is None:
            return finish(x, docs, t_ret, None)
        t = time.perf_counter()
        docs = await compressor.acompress_documents(docs, x["question"], callbacks=config.get("callbacks"))
        return finish(x, docs, t_ret, _ms(t))

    return RunnableLambda(run, afunc=arun, name=f"retrieve[{name}]")


def _branch(
    name: str,
    retriever: BaseRetriever,
    compressor: BaseDocumentCompressor | None,
    llm: BaseChatModel | Runnable | None,
    prompt: BasePromptTemplate | None,
) -> Runnable:
    """One side of the comparison; ``latency_ms`` covers retrieval, reranking and the answer."""
    start = RunnableLambda(lambda x: {"question": x["question"], "_t0": time.perf_counter()}, name="start_clock")
    answer = answer_runnable(llm, prompt) if llm is not None else RunnableLambda(lambda _: None, name="no_llm")
    stop = RunnableLambda(lambda x: _ms(x["_t0"]), name="stop_clock")
    chain = (
        start
        | _retrieve_runnable(name, retriever, compressor)
        | RunnablePassthrough.assign(answer=answer)
        | RunnablePassthrough.assign(latency_ms=stop)
    ).pick(BRANCH_KEYS)
    return chain.with_config(run_name=f"branch[{name}]")


def build_ab_chain(
    retrievers: Mapping[str, BaseRetriever],
    llm: BaseChatModel | Runnable | None,
    reranker: BaseDocumentCompressor | Mapping[str, BaseDocumentCompressor | None] | None = None,
    prompt: BasePromptTemplate | None = None,
    k: int | None = None,
) -> Runnable:
    """A/B (or A/B/C…) chain. Input: a question string or {"question": ...}.

    Output::

        {"question": str,
         "results": {name: {"answer", "sources", "context", "retrieval_ms", "rerank_ms", "latency_ms"}},
         "overlap": {"a vs b": {"jaccard", "overlap_at_k", "k", "shared"}},
         "total_ms": float}

    ``reranker``: one compressor for every retriever, or a dict naming the retrievers to rerank.
    ``llm=None`` compares retrieval only (``answer`` is None). ``k``: depth for overlap@k (default:
    the shorter list). Streaming yields ``{"results": {name: {"answer": chunk}}}`` as tokens arrive.
    """
    if not retrievers:
        raise InvalidParameterError("build_ab_chain needs at least one retriever, e.g. {'a': r1, 'b': r2}")
    for name, retriever in retrievers.items():
        if not isinstance(retriever, BaseRetriever):
            raise InvalidParameterError(
                f"retriever {name!r} is a {type(retriever).__name__}, not a BaseRetriever; "
                "wrap a vector store with store.as_retriever()"
            )
    if prompt is not None:
        check_prompt(prompt)
    if k is not None and k <= 0:
        raise InvalidParameterError(f"overlap k must be a positive int, got {k}")
    compressors = _resolve_rerankers(list(retrievers), reranker)
    branches = RunnableParallel(
        {name: _branch(name, r, compressors[name], llm, prompt) for name, r in retrievers.items()}
    )

    def overlap(x: dict) -> dict:
        # pairs named in the caller's order: streamed results arrive in whatever order branches finish
        return pairwise_overlap({name: x["results"][name]["sources"] for name in retrievers}, k)

    chain = (
        RunnableLambda(lambda q: {**to_question(q), "_t0": time.perf_counter()}, name="to_question")
        | RunnablePassthrough.assign(results=branches)
        | RunnablePassthrough.assign(
            overlap=RunnableLambda(overlap, name="pairwise_overlap"),
            total_ms=RunnableLambda(lambda x: _ms(x["_t0"]), name="stop_clock"),
        )
    ).pick(["question", "results", "overlap", "total_ms"])
    return chain.with_config(run_name="ab_chain")


__all__ = ["build_ab_chain", "overlap_metrics", "pairwise_overlap"]
