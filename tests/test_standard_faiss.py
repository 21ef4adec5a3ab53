"""LangChain's own standard suite (``langchain-tests``) on the FAISS store, every index kind.

No test is skipped, xfailed or overridden: the suite runs as the LangChain team wrote it.
"""

from __future__ import annotations

import pytest
from langchain_tests.integration_tests import VectorStoreIntegrationTests

from langchain_embcompare.stores.faiss import FaissIndexSpec, FaissVectorStore


class TestFaissFlatStandard(VectorStoreIntegrationTests):
    @pytest.fixture
    def vectorstore(self):
        return FaissVectorStore(self.get_embeddings(), FaissIndexSpec(kind="flat"))


class TestFaissHNSWStandard(VectorStoreIntegrationTests):
    @pytest.fixture
    def vectorstore(self):
        return FaissVectorStore(self.get_embeddings(), FaissIndexSpec(kind="hnsw"))


class TestFaissIVFStandard(VectorStoreIntegrationTests):
    @pytest.fixture
    def vectorstore(self):
        return FaissVectorStore(self.get_embeddings(), FaissIndexSpec(kind="ivf"))


class TestFaissInt8Standard(VectorStoreIntegrationTests):
    """int8 precision: the stored vectors are quantised, the contract is the same."""

    @pytest.fixture
    def vectorstore(self):
        from langchain_embcompare import MatryoshkaEmbeddings

        return FaissVectorStore(MatryoshkaEmbeddings(self.get_embeddings(), precision="int8"), FaissIndexSpec(kind="flat"))
