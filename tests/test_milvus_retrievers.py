"""The cluster-prefiltered and funnel retrievers run on Milvus Lite through the store protocol only,
and find what they find on FAISS (same vectors, same settings)."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import HashEmbeddings
from langchain_core.documents import Document
from milvus_fixtures import milvus_collection, milvus_uri  # noqa: F401

from langchain_embcompare.errors import InvalidParameterError
from langchain_embcompare.retrievers.cluster import ClusterPrefilterRetriever
from langchain_embcompare.retrievers.funnel import MatryoshkaFunnelRetriever
from langchain_embcompare.stores.faiss import FaissIndexSpec, FaissVectorStore
from langchain_embcompare.stores.milvus import MilvusIndexSpec, MilvusVectorStore

DIM = 32


def _corpus(n: int = 300):
    rng = np.random.default_rng(7)
    centres = rng.standard_normal((6, DIM)).astype(np.float32) * 3
    vectors = (centres[np.arange(n) % 6] + rng.standard_normal((n, DIM)).astype(np.float32)).astype(np.float32)
    docs = [Document(page_content=f"doc {i}", metadata={"group": f"g{i % 6}", "n": i}, id=f"d{i}") for i in range(n)]
    return docs, vectors


def _stores(uri, name, **spec):
    emb = HashEmbeddings(DIM, name=f"milvus-retr-{DIM}")
    docs, vectors = _corpus()
    milvus = MilvusVectorStore(emb, MilvusIndexSpec(name, **spec), uri=uri, overwrite=True)
    milvus.upsert_vectors(vectors, docs)
    faiss_store = FaissVectorStore(emb, FaissIndexSpec(kind="flat"))
    faiss_store.upsert_vectors(vectors, docs)
    return milvus, faiss_store, vectors


def test_cluster_prefilter_on_milvus_matches_faiss(milvus_uri, milvus_collection):  # noqa: F811
    milvus, faiss_store, vectors = _stores(milvus_uri, milvus_collection)
    queries = [f"doc {i}" for i in range(0, 60, 7)]
    for engine in ("clusters", "candidate_rows"):
        got = ClusterPrefilterRetriever.from_store(milvus, n_clusters=6, nprobe=2, k=5, engine=engine, seed=0)
        ref = ClusterPrefilterRetriever.from_store(faiss_store, n_clusters=6, nprobe=2, k=5, engine=engine, seed=0)
        a = [[d.id for d in h] for h in got.search_batch(queries)]
        b = [[d.id for d in h] for h in ref.search_batch(queries)]
        assert a == b and all(len(h) == 5 for h in a)
    labels = milvus.cluster_labels(milvus.all_rows())
    assert labels.min() >= 0 and len(np.unique(labels)) == 6  # the labels live in Milvus's cluster field


def test_funnel_on_milvus_matches_faiss(milvus_uri, milvus_collection):  # noqa: F811
    milvus, faiss_store, _ = _stores(milvus_uri, milvus_collection, extra_vector_fields={"vector_8": 8})
    queries = [f"doc {i}" for i in range(0, 60, 7)]
    got = MatryoshkaFunnelRetriever(store=milvus, shortlist_dim=8, shortlist=40, k=5, rotation=None)
    ref = MatryoshkaFunnelRetriever(store=faiss_store, shortlist_dim=8, shortlist=40, k=5, rotation=None)
    a = [[d.id for d in h] for h in got.search_batch(queries)]
    b = [[d.id for d in h] for h in ref.search_batch(queries)]
    assert a == b and all(len(h) == 5 for h in a)
    filtered = got.search_batch(queries[:2], filter={"group": "g1"})
    assert all(d.metadata["group"] == "g1" for h in filtered for d in h) and all(len(h) == 5 for h in filtered)


def test_funnel_without_a_declared_field_names_the_spec(milvus_uri, milvus_collection):  # noqa: F811
    milvus, _, _ = _stores(milvus_uri, milvus_collection)
    with pytest.raises(InvalidParameterError, match="extra_vector_fields"):
        MatryoshkaFunnelRetriever(store=milvus, shortlist_dim=8, shortlist=40, k=5, rotation=None).search_batch(["doc 1"])
