"""One table of filter cases, run on every store: each must return exactly the documents the table
names (the right values, written by hand), so the stores agree with the rules in
:mod:`langchain_embcompare.filters` and with each other.

Adding a store: one entry in ``STORE_FACTORIES`` (a function of the pytest ``request`` returning an
empty store with ``METADATA_SCHEMA``).
"""

from __future__ import annotations

import numpy as np
import pytest
from langchain_core.documents import Document

from langchain_embcompare import MatryoshkaEmbeddings
from langchain_embcompare.filters import Num, Tag, Text
from langchain_embcompare.stores.faiss import FaissIndexSpec, FaissVectorStore

METADATA_SCHEMA = {"city": "tag", "tags": "tag", "year": "numeric", "title": "text"}

DOCS = [
    Document(id="d1", page_content="one", metadata={"city": "City, Country", "tags": ["a", "b"], "year": 2001, "title": "Graph neural networks for proteins"}),
    Document(id="d2", page_content="two", metadata={"city": "City", "tags": ["b"], "year": 2005, "title": "Protein folding with transformers"}),
    Document(id="d3", page_content="three", metadata={"city": "a|b;c", "tags": [], "year": 2010, "title": "Neural search at scale"}),
    Document(id="d4", page_content="four", metadata={"city": "Paris", "tags": ["c"], "title": "Inverted files"}),
    Document(id="d5", page_content="five", metadata={"city": "paris", "tags": ["A"], "year": 1999, "title": "Classic search engines"}),
]
ALL = {"d1", "d2", "d3", "d4", "d5"}

CASES = [
    ("tag value holding a comma", {"city": "City, Country"}, {"d1"}),
    ("tag prefix of another value", {"city": "City"}, {"d2"}),
    ("tag value holding | and ;", {"city": "a|b;c"}, {"d3"}),
    ("$in empty list", {"city": {"$in": []}}, set()),
    ("$nin empty list", {"city": {"$nin": []}}, ALL),
    ("$in, case-insensitive", {"city": {"$in": ["Paris", "City"]}}, {"d2", "d4", "d5"}),
    ("$ne", {"city": {"$ne": "Paris"}}, {"d1", "d2", "d3"}),
    ("list-valued tag", {"tags": "b"}, {"d1", "d2"}),
    ("list-valued tag, case", {"tags": "a"}, {"d1", "d5"}),
    ("numeric $gte (missing never matches)", {"year": {"$gte": 2005}}, {"d2", "d3"}),
    ("numeric open range", {"year": {"$gt": 2001, "$lt": 2010}}, {"d2"}),
    ("numeric $eq", {"year": 1999}, {"d5"}),
    ("$or", {"$or": [{"city": "City"}, {"year": {"$lt": 2000}}]}, {"d2", "d5"}),
    ("$and", {"$and": [{"tags": "b"}, {"year": {"$gte": 2002}}]}, {"d2"}),
    ("$or with an empty $in arm", {"$or": [{"city": {"$in": []}}, {"city": "Paris"}]}, {"d4", "d5"}),
    ("$and with an empty $in arm", {"$and": [{"city": {"$in": []}}, {"city": "Paris"}]}, set()),
    ("text word", {"title": {"$like": "neural"}}, {"d1", "d3"}),
    ("expression: tag with comma", Tag("city") == "City, Country", {"d1"}),
    ("expression: & of num and tag", (Num("year") >= 2001) & (Tag("tags") == "b"), {"d1", "d2"}),
    ("expression: | of tags", (Tag("city") == "a|b;c") | (Tag("tags") == "c"), {"d3", "d4"}),
    ("expression: text prefix", Text("title") % "protein*", {"d1", "d2"}),
    ("expression: tag !=", Tag("tags") != "b", {"d3", "d4", "d5"}),
]


class _Vec:
    """Five fixed 4-d vectors (one per document) and a query close to all: no model needed."""

    @staticmethod
    def embeddings():
        from langchain_core.embeddings import Embeddings

        table = {d.page_content: np.eye(5, 4, dtype=np.float32)[i] + 0.1 for i, d in enumerate(DOCS)}

        class Fixed(Embeddings):
            model_id = "parity-fixed-4d"

            def embed_documents(self, texts):
                return [table.get(t, np.full(4, 0.5, np.float32)).tolist() for t in texts]

            def embed_query(self, text):
                return [0.3, 0.3, 0.3, 0.3]

        return MatryoshkaEmbeddings(Fixed(), cache_dir=None)


def _faiss(kind: str):
    def make(request):
        return FaissVectorStore(_Vec.embeddings(), FaissIndexSpec(kind=kind, nlist=1 if kind == "ivf" else None))

    return make


def _redis(kind: str):
    def make(request):
        import uuid

        from langchain_embcompare.stores.redis import RedisIndexSpec, RedisVectorStore

        spec = RedisIndexSpec(f"parity_{kind}_{uuid.uuid4().hex[:8]}", kind=kind, metadata_schema=METADATA_SCHEMA)
        store = RedisVectorStore(_Vec.embeddings(), spec, request.getfixturevalue("redis_url"))
        request.addfinalizer(store.drop)
        return store

    return make


def _milvus_server(kind: str):
    def make(request):
        import uuid

        from langchain_embcompare.stores.milvus import MilvusIndexSpec, MilvusVectorStore

        # the typed schema is asked for; Milvus 2.3 (no nullable columns) filters on the JSON fields instead
        spec = MilvusIndexSpec(f"parity_{kind}_{uuid.uuid4().hex[:8]}", kind=kind, metadata_schema=METADATA_SCHEMA)
        store = MilvusVectorStore(_Vec.embeddings(), spec, request.getfixturevalue("milvus_server_uri"))
        request.addfinalizer(store.drop)
        return store

    return make


def _qdrant(request):
    from langchain_embcompare.stores.qdrant import QdrantOptions, QdrantVectorStore

    return QdrantVectorStore(_Vec.embeddings(), QdrantOptions(location=":memory:"))


STORE_FACTORIES = {
    "faiss-flat": _faiss("flat"),
    "faiss-hnsw": _faiss("hnsw"),
    "faiss-ivf": _faiss("ivf"),
    "redis-flat": _redis("flat"),
    "redis-hnsw": _redis("hnsw"),
    "milvus-server-hnsw": _milvus_server("hnsw"),  # Milvus Lite: tests/test_milvus_parity_table.py
    "qdrant-local": _qdrant,
}


@pytest.fixture(params=sorted(STORE_FACTORIES), scope="module")
def filled_store(request):
    store = STORE_FACTORIES[request.param](request)
    store.add_documents(DOCS)
    return store


@pytest.mark.parametrize("name,filt,expected", CASES, ids=[c[0] for c in CASES])
def test_filter_table(filled_store, name, filt, expected):
    hits = filled_store.similarity_search("q", k=10, filter=filt)
    assert {d.id for d in hits} == expected, name
    # the retriever path and the vector path apply the same filter
    assert {d.id for d in filled_store.as_retriever(k=10, filter=filt).invoke("q")} == expected


def test_k_larger_than_filter_leaves(filled_store):
    """k larger than what a filter leaves: every matching document, no padding, no error."""
    hits = filled_store.similarity_search("q", k=50, filter={"city": {"$in": ["Paris"]}})
    assert sorted(d.id for d in hits) == ["d4", "d5"]
