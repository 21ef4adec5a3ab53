"""LangChain's standard retriever suite (``langchain-tests``) on the package's retrievers, FAISS + real MiniLM.

The plain :class:`EmbRetriever`, the cluster prefilter (fixed ``nprobe`` and adaptive) and the
Matryoshka funnel, over a FAISS store of the SciFact slice embedded with all-MiniLM-L6-v2. No test is
skipped, xfailed or overridden: the suite runs as the LangChain team wrote it.
"""

from __future__ import annotations

from typing import Any

import pytest
from langchain_tests.integration_tests.retrievers import RetrieversIntegrationTests

from langchain_embcompare.retrievers.cluster import ClusterPrefilterRetriever
from langchain_embcompare.retrievers.funnel import MatryoshkaFunnelRetriever
from langchain_embcompare.retrievers import EmbRetriever
from langchain_embcompare.stores.faiss import FaissVectorStore

_SHARED: dict[str, Any] = {}


@pytest.fixture(scope="module")
def scifact_faiss(minilm, scifact_small):
    store = FaissVectorStore(minilm)
    store.add_documents(scifact_small.corpus)
    clusters = ClusterPrefilterRetriever.from_store(store, n_clusters=8).clusters
    return store, clusters


class _OnSciFact(RetrieversIntegrationTests):
    """The store (and fitted clusters) come from a module fixture; the suite reads them in its properties."""

    @pytest.fixture(autouse=True)
    def _shared(self, scifact_faiss):
        _SHARED["store"], _SHARED["clusters"] = scifact_faiss

    @property
    def retriever_query_example(self) -> str:
        return "Vitamin D deficiency and bone fractures in older adults"


class TestEmbRetrieverStandard(_OnSciFact):
    @property
    def retriever_constructor(self) -> type[EmbRetriever]:
        return EmbRetriever

    @property
    def retriever_constructor_params(self) -> dict[str, Any]:
        return {"store": _SHARED["store"], "k": 4}


class TestClusterFixedStandard(_OnSciFact):
    @property
    def retriever_constructor(self) -> type[ClusterPrefilterRetriever]:
        return ClusterPrefilterRetriever

    @property
    def retriever_constructor_params(self) -> dict[str, Any]:
        return {"store": _SHARED["store"], "clusters": _SHARED["clusters"], "n_clusters": 8, "nprobe": 2, "k": 4}


class TestClusterAdaptiveStandard(_OnSciFact):
    @property
    def retriever_constructor(self) -> type[ClusterPrefilterRetriever]:
        return ClusterPrefilterRetriever

    @property
    def retriever_constructor_params(self) -> dict[str, Any]:
        return {"store": _SHARED["store"], "clusters": _SHARED["clusters"], "n_clusters": 8, "adaptive": True, "k": 4}


class TestFunnelStandard(_OnSciFact):
    @property
    def retriever_constructor(self) -> type[MatryoshkaFunnelRetriever]:
        return MatryoshkaFunnelRetriever

    @property
    def retriever_constructor_params(self) -> dict[str, Any]:
        return {"store": _SHARED["store"], "shortlist_dim": 128, "shortlist": 20, "k": 4}
