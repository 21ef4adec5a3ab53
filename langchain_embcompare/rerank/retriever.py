"""RerankedRetriever: rerank the head of any retriever's results, keep the tail.

Why not just ``ContextualCompressionRetriever``: evaluation asks a retriever for k=100 documents
(recall@100) while a pairwise reranker should only order the first 20 or so (its cost grows with
n² or n·log n). This wrapper reranks the first ``rerank_top`` documents and appends the rest in the
retriever's order, with ``metadata["score"]`` rewritten to follow the final order (the retriever's
own score stays in ``metadata["retriever_score"]``). It is what ``embcompare eval --rerank`` uses.
"""

from __future__ import annotations

from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForRetrieverRun, CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict, SkipValidation

from langchain_embcompare.errors import InvalidParameterError
from langchain_embcompare.rerank.chat import make_chat_model
from langchain_embcompare.rerank.pairwise import METHODS, PairwiseLLMReranker


def _merge(head: list[Document], tail: list[Document]) -> list[Document]:
    docs = head + tail
    total = len(docs)
    out = []
    for pos, doc in enumerate(docs):
        metadata = dict(doc.metadata)
        if pos >= len(head) and "score" in metadata:
            metadata["retriever_score"] = metadata["score"]
        metadata["score"] = (total - pos) / total
        out.append(Document(page_content=doc.page_content, metadata=metadata, id=doc.id))
    return out


class RerankedRetriever(BaseRetriever):
    """Any retriever, with its first ``rerank_top`` documents reordered by a pairwise reranker."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    base_retriever: SkipValidation[BaseRetriever]
    reranker: PairwiseLLMReranker
    rerank_top: int = 20

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun) -> list[Document]:
        docs = self.base_retriever.invoke(query, config={"callbacks": run_manager.get_child()})
        head = self.reranker.compress_documents(docs[: self.rerank_top], query, callbacks=run_manager.get_child())
        return _merge(list(head), docs[self.rerank_top :])

    async def _aget_relevant_documents(
        self, query: str, *, run_manager: AsyncCallbackManagerForRetrieverRun
    ) -> list[Document]:
        docs = await self.base_retriever.ainvoke(query, config={"callbacks": run_manager.get_child()})
        head = await self.reranker.acompress_documents(
            docs[: self.rerank_top], query, callbacks=run_manager.get_child()
        )
        return _merge(list(head), docs[self.rerank_top :])

    def stats_summary(self) -> dict[str, Any]:
        """Reranking totals for evaluation reports: calls, tokens, cost, position bias."""
        return {f"rerank_{key}": value for key, value in self.reranker.summary().items()}


def rerank_retriever(
    retriever: BaseRetriever,
    settings: Any = None,
    *,
    model: str | None = None,
    method: str | None = None,
    top: int | None = None,
    k: int = 10,
    **reranker_kwargs: Any,
) -> RerankedRetriever:
    """Wrap ``retriever`` with PRP reranking of its first ``top`` results.

    Reads ``settings.rerank`` (a :func:`make_chat_model` spec), ``settings.rerank_method`` and
    ``settings.rerank_top`` (the CLI's ``--rerank``, ``--rerank-method``, ``--rerank-top``) unless
    given as keywords. ``k``: positions sorting/sliding fix (10 suits nDCG@10).
    """
    spec = model if model is not None else getattr(settings, "rerank", None)
    method = method if method is not None else getattr(settings, "rerank_method", "sorting")
    top = top if top is not None else getattr(settings, "rerank_top", 20)
    if not spec:
        raise InvalidParameterError("rerank_retriever needs a model spec, e.g. model='openai:gpt-4o-mini'.")
    if method not in METHODS:
        raise InvalidParameterError(f"rerank method {method!r} is unknown; use one of {', '.join(METHODS)}.")
    if not isinstance(top, int) or top < 1:
        raise InvalidParameterError(f"rerank top={top!r} is invalid: pass how many documents to rerank (>= 1).")
    llm = spec if not isinstance(spec, str) else make_chat_model(spec)
    reranker = PairwiseLLMReranker(llm=llm, method=method, top_n=None, k=min(k, top), **reranker_kwargs)
    return RerankedRetriever(base_retriever=retriever, reranker=reranker, rerank_top=top)
