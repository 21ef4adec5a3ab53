"""LangChain's standard vector-store suite (langchain_tests) on Qdrant's local mode, in memory and in a
folder: no skips, no overrides. Each test gets a fresh collection."""

from __future__ import annotations

import uuid
from collections.abc import Generator

import pytest
from langchain_core.vectorstores import VectorStore
from langchain_tests.integration_tests.vectorstores import VectorStoreIntegrationTests

from langchain_embcompare.stores.qdrant import QdrantOptions, QdrantVectorStore


class TestQdrantMemoryStandard(VectorStoreIntegrationTests):
    @pytest.fixture()
    def vectorstore(self) -> Generator[VectorStore, None, None]:  # type: ignore[override]
        store = QdrantVectorStore(self.get_embeddings(), QdrantOptions(location=":memory:"))
        try:
            yield store
        finally:
            store.drop()


class TestQdrantFolderStandard(VectorStoreIntegrationTests):
    @pytest.fixture()
    def vectorstore(self, tmp_path_factory) -> Generator[VectorStore, None, None]:  # type: ignore[override]
        folder = tmp_path_factory.getbasetemp() / "qdrant_standard"
        store = QdrantVectorStore(
            self.get_embeddings(), QdrantOptions(path=str(folder), collection=f"std_{uuid.uuid4().hex[:10]}"), overwrite=True
        )
        try:
            yield store
        finally:
            store.drop()
