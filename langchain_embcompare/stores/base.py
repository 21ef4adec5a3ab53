"""What every store of this package shares: the LangChain ``VectorStore`` surface over two numpy calls.

A store implements ``add_vectors(vectors, documents)`` and ``search_vectors(query_vectors, k, filter)``;
this base turns those into ``add_texts``, ``similarity_search*``, ``from_texts`` and ``as_retriever``,
embeds through :class:`MatryoshkaEmbeddings`' numpy path, and guards the vector space.

Score convention (every store, every index): higher = more similar.
``cosine`` -> cosine similarity in [-1, 1]; ``ip`` -> inner product; ``l2`` -> minus the Euclidean
distance. The same pair gets the same score whatever the index type or store.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings
from langchain_core.vectorstores import VectorStore

from langchain_embcompare.errors import DimensionMismatchError, EmptyInputError, InvalidParameterError
from langchain_embcompare.filters import Filter
from langchain_embcompare.matryoshka import MatryoshkaEmbeddings, VectorSpace, as_matryoshka, check_finite

METRICS = ("cosine", "ip", "l2")


def as_query_matrix(query_vectors: np.ndarray | Sequence[Sequence[float]], dim: int, where: str) -> np.ndarray:
    """A (m, dim) float32 C-contiguous matrix, or a clear error naming both dimensions."""
    q = np.ascontiguousarray(np.asarray(query_vectors, dtype=np.float32))
    if q.ndim == 1:
        q = q[None, :]
    if q.ndim != 2 or q.shape[1] != dim:
        got = q.shape[-1] if q.ndim else 0
        raise DimensionMismatchError(
            f"A {got}-d query vector cannot search the {dim}-d {where}. Embed queries with the embeddings the "
            f"{where} was built with (store.embeddings), or rebuild the {where} at {got} d."
        )
    return check_finite(q, "query vectors")


def prepare_documents(documents: Sequence[Document], ids: Sequence[str] | None = None) -> list[Document]:
    """Give every document an id (kept if it has one) so that ids map to keys everywhere."""
    if not documents:
        raise EmptyInputError("No documents to add: the corpus is empty. Pass at least one Document.")
    if ids is not None and len(ids) != len(documents):
        raise InvalidParameterError(f"Got {len(ids)} ids for {len(documents)} documents: pass one id per document.")
    out = []
    for i, doc in enumerate(documents):
        doc_id = ids[i] if ids is not None else (doc.id or doc.metadata.get("doc_id") or uuid.uuid4().hex)
        out.append(Document(page_content=doc.page_content, metadata=dict(doc.metadata), id=str(doc_id)))
    return out


class EmbStore(VectorStore):
    """Base of :class:`FaissVectorStore` and :class:`RedisVectorStore`."""

    embedding: MatryoshkaEmbeddings
    metric: str = "cosine"

    # -- what a store implements -----------------------------------------------------------------

    def add_vectors(self, vectors: np.ndarray, documents: Sequence[Document], **kwargs: Any) -> list[str]:
        raise NotImplementedError

    def search_vectors(
        self, query_vectors: np.ndarray, k: int = 4, filter: Filter = None, **kwargs: Any
    ) -> list[list[tuple[Document, float]]]:
        raise NotImplementedError

    @property
    def space(self) -> VectorSpace:
        raise NotImplementedError

    # -- shared LangChain surface ----------------------------------------------------------------

    @property
    def embeddings(self) -> Embeddings:
        return self.embedding

    def check_query_embedding(self, embedding: Embeddings) -> MatryoshkaEmbeddings:
        """Refuse an embeddings object whose vectors live in another space than the index's."""
        emb = as_matryoshka(embedding)
        self.space.check_same(emb.space, where=type(self).__name__)
        return emb

    def add_documents(self, documents: list[Document], ids: list[str] | None = None, **kwargs: Any) -> list[str]:
        docs = prepare_documents(documents, ids)
        vectors = self.embedding.encode_documents([d.page_content for d in docs])
        return self.add_vectors(vectors, docs, **kwargs)

    def add_texts(
        self, texts: Iterable[str], metadatas: list[dict] | None = None, *, ids: list[str] | None = None, **kwargs: Any
    ) -> list[str]:
        texts = list(texts)
        metadatas = metadatas or [{} for _ in texts]
        docs = [Document(page_content=t, metadata=m) for t, m in zip(texts, metadatas)]
        return self.add_documents(docs, ids=ids, **kwargs)

    async def aadd_documents(self, documents: list[Document], **kwargs: Any) -> list[str]:
        return await asyncio.to_thread(self.add_documents, documents, **kwargs)

    def similarity_search_with_score_by_vector(
        self, embedding: Sequence[float] | np.ndarray, k: int = 4, filter: Filter = None, **kwargs: Any
    ) -> list[tuple[Document, float]]:
        return self.search_vectors(np.asarray(embedding, dtype=np.float32)[None, :], k=k, filter=filter, **kwargs)[0]

    def similarity_search_by_vector(
        self, embedding: list[float], k: int = 4, filter: Filter = None, **kwargs: Any
    ) -> list[Document]:
        return [d for d, _ in self.similarity_search_with_score_by_vector(embedding, k, filter, **kwargs)]

    def similarity_search_with_score(
        self, query: str, k: int = 4, filter: Filter = None, **kwargs: Any
    ) -> list[tuple[Document, float]]:
        q = self.embedding.encode_queries([query])
        return self.search_vectors(q, k=k, filter=filter, **kwargs)[0]

    def similarity_search(self, query: str, k: int = 4, filter: Filter = None, **kwargs: Any) -> list[Document]:
        return [d for d, _ in self.similarity_search_with_score(query, k, filter, **kwargs)]

    async def asimilarity_search_with_score(self, query: str, k: int = 4, **kwargs: Any) -> list[tuple[Document, float]]:
        return await asyncio.to_thread(self.similarity_search_with_score, query, k, **kwargs)

    async def asimilarity_search(self, query: str, k: int = 4, **kwargs: Any) -> list[Document]:
        return await asyncio.to_thread(self.similarity_search, query, k, **kwargs)

    def _select_relevance_score_fn(self):
        # Our scores already are similarities; LangChain's relevance API wants [0, 1].
        if self.metric == "l2":
            return lambda s: 1.0 / (1.0 - s)
        return lambda s: (s + 1.0) / 2.0

    def as_retriever(self, **kwargs: Any):  # type: ignore[override]
        """An :class:`EmbRetriever` (``k``, ``filter``, batch path); ``search_kwargs`` is accepted as LangChain's is."""
        from langchain_embcompare.retrievers.vector import EmbRetriever

        search_kwargs = dict(kwargs.pop("search_kwargs", {}) or {})
        kwargs.pop("search_type", None)
        return EmbRetriever(store=self, **{**search_kwargs, **kwargs})

    @classmethod
    def from_texts(
        cls, texts: list[str], embedding: Embeddings, metadatas: list[dict] | None = None, **kwargs: Any
    ) -> EmbStore:
        ids = kwargs.pop("ids", None)
        store = cls(embedding, **kwargs)  # type: ignore[call-arg]
        store.add_texts(texts, metadatas, ids=ids)
        return store

    @classmethod
    def from_documents(cls, documents: list[Document], embedding: Embeddings, **kwargs: Any) -> EmbStore:
        ids = kwargs.pop("ids", None)
        store = cls(embedding, **kwargs)  # type: ignore[call-arg]
        store.add_documents(documents, ids=ids)
        return store
