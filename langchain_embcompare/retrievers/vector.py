"""The plain retriever over any store of this package, with a batch path for evaluation."""

from __future__ import annotations

import asyncio
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForRetrieverRun, CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict, field_validator

from langchain_embcompare.errors import InvalidParameterError
from langchain_embcompare.stores.base import EmbStore


def with_scores(hits: list[tuple[Document, float]], **extra: Any) -> list[Document]:
    """Copies of the hit documents with ``metadata["score"]`` set (the store's documents stay untouched)."""
    return [
        Document(page_content=d.page_content, metadata={**d.metadata, "score": s, **extra}, id=d.id) for d, s in hits
    ]


class BatchRetriever(BaseRetriever):
    """A retriever whose one job is ``search_batch(queries)``: single queries, sync and async, go
    through it, and evaluation calls it directly with the whole query set."""

    def search_batch(self, queries: list[str], k: int | None = None, filter: Any = None) -> list[list[Document]]:
        raise NotImplementedError

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun, **kwargs: Any
    ) -> list[Document]:
        return self.search_batch([query], **kwargs)[0]

    async def _aget_relevant_documents(
        self, query: str, *, run_manager: AsyncCallbackManagerForRetrieverRun, **kwargs: Any
    ) -> list[Document]:
        return (await asyncio.to_thread(self.search_batch, [query], **kwargs))[0]


class EmbRetriever(BatchRetriever):
    """Top-``k`` similarity search on a FAISS or Redis store of this package.

    ``filter`` is a redisvl filter expression or a LangChain-style dict (see
    :mod:`langchain_embcompare.filters`); a per-call ``filter=`` overrides it. Each document carries
    its score in ``metadata["score"]`` (higher = more similar). :meth:`search_batch` embeds all queries
    in one call and searches them as one matrix: what evaluation uses.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    store: EmbStore
    k: int = 4
    filter: Any = None

    @field_validator("k")
    @classmethod
    def _positive_k(cls, k: int) -> int:
        if k <= 0:
            raise InvalidParameterError(f"k must be positive, got {k}.")
        return k

    def search_batch(self, queries: list[str], k: int | None = None, filter: Any = None) -> list[list[Document]]:
        """Many queries at once: one embedding batch, one index search."""
        q = self.store.embedding.encode_queries(queries)
        hits = self.store.search_vectors(q, k=k or self.k, filter=filter if filter is not None else self.filter)
        return [with_scores(h) for h in hits]


__all__ = ["BatchRetriever", "EmbRetriever", "with_scores"]
