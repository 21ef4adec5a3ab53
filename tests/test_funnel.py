"""Matryoshka funnel retrieval end to end: real all-MiniLM-L6-v2 on a SciFact slice, FAISS and Redis."""

from __future__ import annotations

import uuid
from pathlib import Path

import numpy as np
import pytest
from scifact_slice import with_filter_metadata

from langchain_embcompare.errors import DimensionMismatchError, InvalidParameterError
from langchain_embcompare.evaluation.metrics import retrieve_run
from langchain_embcompare.retrievers.funnel import MatryoshkaFunnelRetriever, prefix_normalize
from langchain_embcompare.stores.faiss import FaissVectorStore
from langchain_embcompare.stores.redis import RedisIndexSpec, RedisVectorStore


@pytest.fixture(scope="module")
def data(scifact_small):
    return with_filter_metadata(scifact_small)


@pytest.fixture(scope="module")
def emb(minilm):
    return minilm


@pytest.fixture(scope="module")
def store(emb, data):
    s = FaissVectorStore(emb)
    s.add_documents(data[0])
    return s


@pytest.fixture(scope="module")
def q(emb, data):
    return emb.encode_queries(list(data[1].values()))


def ids(hits):
    return [[d.id for d, _ in h] for h in hits]


def test_full_shortlist_is_exhaustive(store, q):
    funnel = MatryoshkaFunnelRetriever(store=store, shortlist_dim=64, shortlist=len(store), k=10)
    assert ids(funnel.search_vectors(q)) == ids(store.search_vectors(q, k=10))


def test_funnel_rescored_at_full_dim(store, q):
    funnel = MatryoshkaFunnelRetriever(store=store, shortlist_dim=128, shortlist=50, k=10, rotation=None)
    assert not funnel.rotates
    hits = funnel.search_vectors(q)
    rows = {d.id: i for i, d in enumerate(store.documents)}
    for qi, h in enumerate(hits):
        full = np.array([store.vectors[rows[d.id]] @ q[qi] for d, _ in h])
        np.testing.assert_allclose([s for _, s in h], full, atol=1e-5)  # full-dim scores, sorted
        assert list(full) == sorted(full, reverse=True)
        # every result is in the 128-d shortlist of 50
        small = prefix_normalize(store.vectors, 128) @ prefix_normalize(q[qi : qi + 1], 128)[0]
        shortlist = {store.documents[i].id for i in np.argsort(-small)[:50]}
        assert {d.id for d, _ in h} <= shortlist
    ref = ids(store.search_vectors(q, k=10))
    overlap = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(ids(hits), ref)])
    assert overlap >= 0.9, overlap


@pytest.mark.parametrize("kwargs", [{"precision": "binary", "shortlist_dim": None, "shortlist": 40},
                                    {"rotation": "pca", "shortlist_dim": 64, "shortlist": 40}])
def test_binary_and_rotated_shortlists(store, q, kwargs):
    funnel = MatryoshkaFunnelRetriever(store=store, k=10, **kwargs)
    ref = ids(store.search_vectors(q, k=10))
    overlap = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(ids(funnel.search_vectors(q)), ref)])
    assert overlap >= 0.9, (kwargs, overlap)


def test_filter_and_evaluation_batch(store, data):
    _, queries, qrels = data
    funnel = MatryoshkaFunnelRetriever(store=store, shortlist_dim=128, shortlist=30, k=10, filter={"group": "even"})
    docs = funnel.invoke("vitamin D")
    assert docs and all(d.metadata["group"] == "even" and "score" in d.metadata for d in docs)
    binary = MatryoshkaFunnelRetriever(store=store, precision="binary", shortlist_dim=128, shortlist=30, k=5,
                                       filter={"year": {"$lt": 2005}})
    assert all(d.metadata["year"] < 2005 for d in binary.invoke("vitamin D"))
    plain = MatryoshkaFunnelRetriever(store=store, shortlist_dim=128, shortlist=50, k=10)
    run = retrieve_run(plain, queries, k=10)
    assert np.mean([bool(set(run[qid]) & qrels[qid]) for qid in queries]) >= 0.5


def test_save_load_rotation(store, q, tmp_path: Path):
    funnel = MatryoshkaFunnelRetriever(store=store, shortlist_dim=64, shortlist=20, k=5)
    assert funnel.rotates  # "auto": a float prefix of an unrotated store gets the PCA rotation
    before = ids(funnel.search_vectors(q))
    funnel.save(tmp_path / "funnel")
    assert (tmp_path / "funnel" / "rotation.npy").exists() and (tmp_path / "funnel" / "funnel.json").exists()
    again = MatryoshkaFunnelRetriever.load(tmp_path / "funnel", store)
    assert ids(again.search_vectors(q)) == before


def test_bad_input_errors(store):
    with pytest.raises(DimensionMismatchError, match=r"shortlist_dim=512 must lie in 1\.\.384"):
        MatryoshkaFunnelRetriever(store=store, shortlist_dim=512)
    with pytest.raises(InvalidParameterError, match="shortlist >= k"):
        MatryoshkaFunnelRetriever(store=store, shortlist=5, k=10)
    with pytest.raises(InvalidParameterError, match="multiple of 8"):
        MatryoshkaFunnelRetriever(store=store, shortlist_dim=100, precision="binary")
    funnel = MatryoshkaFunnelRetriever(store=store, shortlist_dim=128)
    with pytest.raises(DimensionMismatchError, match="384-d store"):
        funnel.search_vectors(np.ones((1, 128), np.float32))


def test_redis_second_vector_field_matches_faiss(redis_url, emb, store, q):
    spec = RedisIndexSpec(f"fun_{uuid.uuid4().hex[:8]}", metric="cosine", extra_vector_fields={"vector_128": 128},
                          metadata_schema={"group": "tag"})
    redis_store = RedisVectorStore(emb, spec, redis_url)
    redis_store.add_vectors(store.vectors, store.documents,
                            extra_vectors={"vector_128": prefix_normalize(store.vectors, 128)})
    try:
        for kw in ({}, {"filter": {"group": "odd"}}):
            a = MatryoshkaFunnelRetriever(store=store, shortlist_dim=128, shortlist=30, k=10, rotation=None, **kw)
            b = MatryoshkaFunnelRetriever(store=redis_store, shortlist_dim=128, shortlist=30, k=10, **kw)
            assert a.rotates is False and b.rotates is False  # "auto" never rotates on Redis
            ha, hb = a.search_vectors(q), b.search_vectors(q)
            assert ids(ha) == ids(hb), kw
            np.testing.assert_allclose([s for h in ha for _, s in h], [s for h in hb for _, s in h], atol=1e-5)
        with pytest.raises(InvalidParameterError, match="extra_vector_fields"):
            MatryoshkaFunnelRetriever(store=redis_store, shortlist_dim=64)
        with pytest.raises(InvalidParameterError, match="no binary vector type"):
            MatryoshkaFunnelRetriever(store=redis_store, precision="binary", shortlist_dim=128)
    finally:
        redis_store.drop()
