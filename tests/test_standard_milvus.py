"""LangChain's standard vector-store suite (langchain_tests) on Milvus Lite, flat and HNSW, and on the
session's Milvus 2.3.5 server (HNSW): no skips, no overrides. Each test gets a fresh collection."""

from __future__ import annotations

from collections.abc import Generator

import pytest
from langchain_core.vectorstores import VectorStore
from langchain_tests.integration_tests.vectorstores import VectorStoreIntegrationTests
from milvus_fixtures import milvus_collection, milvus_server_uri, milvus_uri  # noqa: F401

from langchain_embcompare.stores.milvus import MilvusIndexSpec, MilvusVectorStore


class TestMilvusFlatStandard(VectorStoreIntegrationTests):
    kind = "flat"

    @pytest.fixture()
    def vectorstore(self, milvus_uri, milvus_collection) -> Generator[VectorStore, None, None]:  # type: ignore[override]  # noqa: F811
        store = MilvusVectorStore(
            self.get_embeddings(), MilvusIndexSpec(f"std_{self.kind}_{milvus_collection}", kind=self.kind), uri=milvus_uri, overwrite=True
        )
        try:
            yield store
        finally:
            store.drop()


class TestMilvusHnswStandard(TestMilvusFlatStandard):
    kind = "hnsw"


class TestMilvusServerStandard(VectorStoreIntegrationTests):
    @pytest.fixture()
    def vectorstore(self, milvus_server_uri, milvus_collection) -> Generator[VectorStore, None, None]:  # type: ignore[override]  # noqa: F811
        store = MilvusVectorStore(
            self.get_embeddings(), MilvusIndexSpec(f"std_server_{milvus_collection}", kind="hnsw"), uri=milvus_server_uri,
            overwrite=True,
        )
        try:
            yield store
        finally:
            store.drop()
