"""Cluster-prefiltered retrieval end to end: real all-MiniLM-L6-v2 on a SciFact slice, FAISS and Redis."""

from __future__ import annotations

import uuid
from pathlib import Path

import numpy as np
import pytest
from langchain_core.documents import Document
from scifact_slice import with_filter_metadata

from langchain_embcompare.errors import InvalidParameterError
from langchain_embcompare.evaluation.metrics import retrieve_run
from langchain_embcompare.retrievers.cluster import (
    ClusterModel,
    ClusterPrefilterRetriever,
    StaleClustersError,
    choose_n_clusters,
)
from langchain_embcompare.stores.faiss import FaissVectorStore
from langchain_embcompare.stores.redis import RedisIndexSpec, RedisVectorStore

K = 8


@pytest.fixture(scope="module")
def data(scifact_small):
    return with_filter_metadata(scifact_small)


@pytest.fixture(scope="module")
def emb(minilm):
    return minilm


@pytest.fixture(scope="module")
def faiss_store(emb, data):
    docs, _, _ = data
    store = FaissVectorStore(emb)
    store.add_documents(docs)
    return store


@pytest.fixture(scope="module")
def qvecs(emb, data):
    _, queries, _ = data
    return list(queries), emb.encode_queries(list(queries.values()))


def exhaustive(store, q, k):
    return store.search_vectors(q, k=k)


def ids(hits):
    return [[d.id for d, _ in h] for h in hits]


def test_all_clusters_equals_exhaustive_and_stats(faiss_store, qvecs):
    _, q = qvecs
    full = ClusterPrefilterRetriever.from_store(faiss_store, n_clusters=K, nprobe=K, k=10)
    hits, stats = full.search_vectors(q)
    ref = exhaustive(faiss_store, q, 10)
    assert ids(hits) == ids(ref)
    np.testing.assert_allclose([s for h in hits for _, s in h], [s for h in ref for _, s in h], atol=1e-5)
    assert all(st.scanned_fraction == pytest.approx(1.0) and st.n_clusters_opened == K for st in stats)

    one = ClusterPrefilterRetriever(store=faiss_store, clusters=full.clusters, n_clusters=K, nprobe=2, k=10)
    docs, stats = one.search_batch_with_stats(["vitamin D and bone fractures", "gene expression in tumours"])
    sizes = full.clusters.sizes
    for row, st in zip(docs, stats):
        assert len(st.clusters) == 2 and len(set(st.clusters)) == 2
        assert st.scanned_fraction == pytest.approx(sizes[st.clusters].sum() / len(faiss_store))
        assert 0 < st.scanned_fraction < 1
        for d in row:  # every result lives in a searched cluster, and says so
            assert d.metadata["cluster"] in st.clusters
            assert d.metadata["clusters_searched"] == st.clusters
            assert d.metadata["scanned_fraction"] == pytest.approx(st.scanned_fraction)
    summary = one.stats_summary()
    assert summary["clusters_opened"] == 2 and 0 < summary["scanned_fraction"] < 1


def test_adaptive_exact_bound_is_exhaustive_gauss_scans_less(faiss_store, qvecs):
    _, q = qvecs
    base = ClusterPrefilterRetriever.from_store(faiss_store, n_clusters=K, k=10)
    exact = ClusterPrefilterRetriever(store=faiss_store, clusters=base.clusters, n_clusters=K, adaptive=True,
                                      bound="exact", k=10)
    hits, _ = exact.search_vectors(q)
    assert ids(hits) == ids(exhaustive(faiss_store, q, 10))  # a true bound never loses a result

    gauss = ClusterPrefilterRetriever(store=faiss_store, clusters=base.clusters, n_clusters=K, adaptive=True, k=10)
    ghits, gstats = gauss.search_vectors(q)
    ref = ids(exhaustive(faiss_store, q, 10))
    overlap = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(ids(ghits), ref)])
    assert overlap >= 0.9, overlap
    opened = [st.n_clusters_opened for st in gstats]
    assert min(opened) >= 1 and max(opened) <= K
    assert np.mean([st.scanned_fraction for st in gstats]) < 1.0
    capped = ClusterPrefilterRetriever(store=faiss_store, clusters=base.clusters, n_clusters=K, adaptive=True,
                                       bound="exact", max_clusters=2, k=10)
    assert max(st.n_clusters_opened for st in capped.search_vectors(q)[1]) <= 2


def test_selector_engine_matches_blocks(faiss_store, qvecs):
    _, q = qvecs
    a = ClusterPrefilterRetriever.from_store(faiss_store, n_clusters=K, nprobe=3, k=5)
    b = ClusterPrefilterRetriever(store=faiss_store, clusters=a.clusters, n_clusters=K, nprobe=3, k=5, engine="selector")
    assert ids(a.search_vectors(q)[0]) == ids(b.search_vectors(q)[0])


def test_filter_composes_with_cluster_prefilter(faiss_store, qvecs):
    _, q = qvecs
    r = ClusterPrefilterRetriever.from_store(faiss_store, n_clusters=K, nprobe=3, k=10,
                                             filter={"group": "even", "year": {"$gte": 2010}})
    hits, stats = r.search_vectors(q)
    labels = dict(zip(r.clusters.ids, r.clusters.labels.tolist()))
    assert any(hits)
    for h, st in zip(hits, stats):
        for d, _ in h:
            assert d.metadata["group"] == "even" and d.metadata["year"] >= 2010
            assert labels[d.id] in st.clusters


def test_save_load_roundtrip_plain_files(faiss_store, qvecs, tmp_path: Path):
    _, q = qvecs
    r = ClusterPrefilterRetriever.from_store(faiss_store, n_clusters=K, nprobe=2, k=5)
    r.save(tmp_path / "clusters")
    files = {p.name for p in (tmp_path / "clusters").iterdir()}
    assert {"clusters.json", "cluster_centroids.npy", "cluster_labels.npy"} <= files
    assert not any(f.endswith((".pkl", ".pickle")) for f in files)
    loaded = ClusterPrefilterRetriever.load(tmp_path / "clusters", faiss_store)
    assert loaded.nprobe == 2 and loaded.n_clusters == K
    np.testing.assert_array_equal(loaded.clusters.labels, r.clusters.labels)
    assert ids(loaded.search_vectors(q)[0]) == ids(r.search_vectors(q)[0])
    assert isinstance(ClusterModel.load(tmp_path / "clusters"), ClusterModel)


def test_langchain_interface_and_evaluation_batch(faiss_store, data):
    _, queries, qrels = data
    r = ClusterPrefilterRetriever.from_store(faiss_store, n_clusters=K, nprobe=3, k=10)
    docs = r.invoke(next(iter(queries.values())))
    assert len(docs) == 10 and all("score" in d.metadata for d in docs)
    run = retrieve_run(r, queries, k=10)
    assert set(run) == set(queries)
    found = np.mean([bool(set(run[qid]) & qrels[qid]) for qid in queries])
    assert found >= 0.5, found
    assert len(r.stats_history) == len(queries) + 1


def test_bad_input_errors(faiss_store, emb):
    base = ClusterPrefilterRetriever.from_store(faiss_store, n_clusters=K)
    for bad in (0, K + 1):
        with pytest.raises(InvalidParameterError, match=r"nprobe=.*between 1 and 8"):
            ClusterPrefilterRetriever(store=faiss_store, clusters=base.clusters, n_clusters=K, nprobe=bad).invoke("x")
    with pytest.raises(InvalidParameterError, match=r"more than the \d+ documents"):
        ClusterPrefilterRetriever.from_store(faiss_store, n_clusters=len(faiss_store) + 1)
    with pytest.raises(InvalidParameterError, match="nprobe"):
        ClusterPrefilterRetriever.from_store(faiss_store, n_clusters=K, nprobe=K + 3)
    with pytest.raises(InvalidParameterError, match=r"\.fit\(\)"):
        ClusterPrefilterRetriever(store=faiss_store).invoke("x")
    # Documents added after fitting make the clusters stale: refuse, and say how to fix.
    small = FaissVectorStore(emb)
    small.add_vectors(faiss_store.vectors[:40], faiss_store.documents[:40])
    r = ClusterPrefilterRetriever.from_store(small, n_clusters=4, nprobe=2)
    small.add_vectors(faiss_store.vectors[40:41], faiss_store.documents[40:41])
    with pytest.raises(StaleClustersError, match=r"fit\(\) again"):
        r.invoke("x")


def test_choose_n_clusters_rule(faiss_store):
    k = choose_n_clusters(faiss_store.vectors)
    n = len(faiss_store)
    assert max(2, int(np.sqrt(n) / 2) - 1) <= k <= int(2 * np.sqrt(n)) + 1
    auto = ClusterPrefilterRetriever.from_store(faiss_store, nprobe=1)
    assert auto.n_clusters == k == auto.clusters.n_clusters


def test_redis_matches_faiss(redis_url, emb, faiss_store, qvecs):
    _, q = qvecs
    spec = RedisIndexSpec(f"clu_{uuid.uuid4().hex[:8]}", metric="cosine",
                          metadata_schema={"group": "tag", "year": "numeric"})
    redis_store = RedisVectorStore(emb, spec, redis_url)
    redis_store.add_vectors(faiss_store.vectors, faiss_store.documents)
    try:
        fr = ClusterPrefilterRetriever.from_store(faiss_store, n_clusters=K, nprobe=2, k=10)
        # Same vectors, same seed -> same clusters; Redis ids are sorted, FAISS rows in insertion order.
        rr = ClusterPrefilterRetriever.from_store(redis_store, n_clusters=K, nprobe=2, k=10)
        f_lab = dict(zip(fr.clusters.ids, fr.clusters.labels.tolist()))
        r_lab = dict(zip(rr.clusters.ids, rr.clusters.labels.tolist()))
        assert set(f_lab) == set(r_lab)
        # The cluster TAG is in Redis: a plain store query with clusters=[c] only returns members of c.
        c0 = int(rr.clusters.labels[0])
        hits = redis_store.search_vectors(q[:2], 5, clusters=[c0])
        assert all(r_lab[d.id] == c0 for h in hits for d, _ in h)

        # Given the same fitted clusters, Redis and FAISS return the same documents.
        same = ClusterPrefilterRetriever(store=redis_store, clusters=_reorder(fr.clusters, rr.clusters.ids),
                                         n_clusters=K, nprobe=2, k=10)
        from langchain_embcompare.retrievers.cluster import _write_redis_clusters

        _write_redis_clusters(redis_store, same.clusters.ids, same.clusters.labels)
        for kwargs in ({}, {"adaptive": True}, {"filter": {"group": "odd"}}):
            a = ClusterPrefilterRetriever(store=faiss_store, clusters=fr.clusters, n_clusters=K, nprobe=2, k=10, **kwargs)
            b = ClusterPrefilterRetriever(store=redis_store, clusters=same.clusters, n_clusters=K, nprobe=2, k=10, **kwargs)
            ha, sa = a.search_vectors(q)
            hb, sb = b.search_vectors(q)
            assert ids(ha) == ids(hb), kwargs
            np.testing.assert_allclose([s for h in ha for _, s in h], [s for h in hb for _, s in h], atol=1e-5)
            assert [s.clusters for s in sa] == [s.clusters for s in sb]
        docs = b.invoke("vitamin D")
        assert docs and all(d.metadata["group"] == "odd" for d in docs)
    finally:
        redis_store.drop()


def _reorder(model: ClusterModel, ids: list[str]) -> ClusterModel:
    """The same clusters with rows in another id order (FAISS rows -> Redis's sorted ids)."""
    pos = {i: r for r, i in enumerate(model.ids)}
    rows = np.array([pos[i] for i in ids])
    return ClusterModel(model.centroids, model.labels[rows], model.means, model.radius, model.components,
                        model.comp_var, model.rest_var, ids=list(ids), seed=model.seed)


def test_documents_are_copies(faiss_store):
    r = ClusterPrefilterRetriever.from_store(faiss_store, n_clusters=K, nprobe=1, k=3)
    r.invoke("cancer")
    assert all("clusters_searched" not in d.metadata for d in faiss_store.documents)
    assert isinstance(r.invoke("cancer")[0], Document)
