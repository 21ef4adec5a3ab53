"""LangChain's standard VectorStore integration suite (langchain-tests) on the Redis store, FLAT and
HNSW, against the session's real server (fixture ``redis_url``), with the suite's own embeddings.
Nothing is skipped, marked xfail or overridden: the store behaves as LangChain's contract says."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from langchain_core.vectorstores import VectorStore
from langchain_tests.integration_tests.vectorstores import VectorStoreIntegrationTests

from langchain_embcompare.matryoshka import MatryoshkaEmbeddings
from langchain_embcompare.stores.redis import RedisIndexSpec, RedisVectorStore


def _redis_store(url: str, embeddings, kind: str) -> RedisVectorStore:
    emb = MatryoshkaEmbeddings(embeddings, cache_dir=None)
    spec = RedisIndexSpec(f"std_{kind}_{uuid.uuid4().hex[:8]}", kind=kind)
    return RedisVectorStore(emb, spec, url)


class TestRedisFlatStandard(VectorStoreIntegrationTests):
    @pytest.fixture()
    def vectorstore(self, redis_url: str) -> Iterator[VectorStore]:  # type: ignore[override]
        store = _redis_store(redis_url, self.get_embeddings(), "flat")
        try:
            yield store
        finally:
            store.drop()


class TestRedisHnswStandard(VectorStoreIntegrationTests):
    @pytest.fixture()
    def vectorstore(self, redis_url: str) -> Iterator[VectorStore]:  # type: ignore[override]
        store = _redis_store(redis_url, self.get_embeddings(), "hnsw")
        try:
            yield store
        finally:
            store.drop()
