"""Cluster-prefiltered retrieval end to end: real all-MiniLM-L6-v2 on a SciFact slice, on every store kind.

Each test runs on each store of ``store_fixtures.STORE_KINDS`` through the store protocol only; the
fake store (exact numpy) is the reference the others must match.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from fake_store import FakeStore
from langchain_core.documents import Document
from scifact_slice import with_filter_metadata
from store_fixtures import STORE_PARAMS, new_store

from langchain_embcompare.errors import InvalidParameterError, MissingCapabilityError
from langchain_embcompare.evaluation.metrics import retrieve_run
from langchain_embcompare.retrievers.cluster import (
    ClusterModel,
    ClusterPrefilterRetriever,
    StaleClustersError,
    choose_n_clusters,
)

K = 8


@pytest.fixture(scope="module")
def data(scifact_small):
    return with_filter_metadata(scifact_small)


@pytest.fixture(scope="module", params=STORE_PARAMS)
def store(request, minilm, data):
    s = new_store(request.param, minilm, request)
    s.add_documents(data[0])
    return s


@pytest.fixture(scope="module")
def reference(minilm, data):
    """The same documents in the fake store: exact numpy search, every capability."""
    s = FakeStore(minilm)
    s.add_documents(data[0])
    return s


@pytest.fixture(scope="module")
def fitted(reference):
    """K clusters fitted once (on the reference store); the model names documents by id, so it serves every store."""
    return ClusterPrefilterRetriever.from_store(reference, n_clusters=K, nprobe=2, k=10).clusters


@pytest.fixture(scope="module")
def q(minilm, data):
    return minilm.encode_queries(list(data[1].values()))


def ids(hits):
    return [[d.id for d, _ in h] for h in hits]


def overlap(a, b, k=10):
    return np.mean([len(set(x) & set(y)) / k for x, y in zip(a, b)])


def test_all_clusters_equals_exhaustive_and_stats(store, fitted, q):
    full = ClusterPrefilterRetriever(store=store, clusters=fitted, n_clusters=K, nprobe=K, k=10)
    hits, stats = full.search_vectors(q)
    ref = store.search_vectors(q, k=10)
    assert ids(hits) == ids(ref)
    np.testing.assert_allclose([s for h in hits for _, s in h], [s for h in ref for _, s in h], atol=1e-5)
    assert all(st.scanned_fraction == pytest.approx(1.0) and st.n_clusters_opened == K for st in stats)

    two = ClusterPrefilterRetriever(store=store, clusters=fitted, n_clusters=K, nprobe=2, k=10)
    docs, stats = two.search_batch_with_stats(["vitamin D and bone fractures", "gene expression in tumours"])
    label = dict(zip(fitted.ids, fitted.labels.tolist()))
    for row, st in zip(docs, stats):
        assert len(st.clusters) == 2 and len(set(st.clusters)) == 2
        assert st.scanned_fraction == pytest.approx(fitted.sizes[st.clusters].sum() / store.count())
        assert 0 < st.scanned_fraction < 1
        assert len(row) == 10
        for d in row:  # every result lives in a searched cluster, and says so
            assert d.metadata["cluster"] == label[d.id] and d.metadata["cluster"] in st.clusters
            assert d.metadata["clusters_searched"] == st.clusters
            assert d.metadata["scanned_fraction"] == pytest.approx(st.scanned_fraction)
    summary = two.stats_summary()
    assert summary["clusters_opened"] == 2 and 0 < summary["scanned_fraction"] < 1


def test_same_clusters_same_results_as_the_reference(store, reference, fitted, q):
    """One fitted model on every store: the same documents, scores and opened clusters as the fake store."""
    for kwargs in ({"nprobe": 2}, {"adaptive": True}, {"nprobe": 3, "filter": {"group": "odd"}},
                   {"adaptive": True, "filter": {"year": {"$gte": 2010}}}):
        a = ClusterPrefilterRetriever(store=reference, clusters=fitted, n_clusters=K, k=10, **kwargs)
        b = ClusterPrefilterRetriever(store=store, clusters=fitted, n_clusters=K, k=10, **kwargs)
        ha, sa = a.search_vectors(q)
        hb, sb = b.search_vectors(q)
        assert ids(ha) == ids(hb), kwargs
        np.testing.assert_allclose([s for h in ha for _, s in h], [s for h in hb for _, s in h], atol=1e-5)
        assert [s.clusters for s in sa] == [s.clusters for s in sb]


def test_adaptive_exact_bound_is_exhaustive_gauss_scans_less(store, fitted, q):
    exact = ClusterPrefilterRetriever(store=store, clusters=fitted, n_clusters=K, adaptive=True, bound="exact", k=10)
    ref = ids(store.search_vectors(q, k=10))
    assert ids(exact.search_vectors(q)[0]) == ref  # a true bound never loses a result

    gauss = ClusterPrefilterRetriever(store=store, clusters=fitted, n_clusters=K, adaptive=True, k=10)
    ghits, gstats = gauss.search_vectors(q)
    assert overlap(ids(ghits), ref) >= 0.9
    opened = [st.n_clusters_opened for st in gstats]
    assert min(opened) >= 1 and max(opened) <= K
    assert np.mean([st.scanned_fraction for st in gstats]) < 1.0
    capped = ClusterPrefilterRetriever(store=store, clusters=fitted, n_clusters=K, adaptive=True, bound="exact",
                                       max_clusters=2, k=10)
    assert max(st.n_clusters_opened for st in capped.search_vectors(q)[1]) <= 2


def test_engines_agree_and_fallback(store, reference, fitted, q, minilm, data):
    a = ClusterPrefilterRetriever(store=store, clusters=fitted, n_clusters=K, nprobe=3, k=5)
    want = ids(a.search_vectors(q)[0])
    for engine in ("clusters", "candidate_rows"):
        if engine in store.capabilities:
            b = ClusterPrefilterRetriever(store=store, clusters=fitted, n_clusters=K, nprobe=3, k=5, engine=engine)
            assert b.search_engine == engine and ids(b.search_vectors(q)[0]) == want
        else:
            with pytest.raises(MissingCapabilityError, match=engine):
                ClusterPrefilterRetriever(store=store, clusters=fitted, n_clusters=K, nprobe=3, k=5, engine=engine).invoke("x")
    # a store without cluster labels falls back to candidate rows; one with neither says what it lacks
    rows_only = FakeStore(minilm, capabilities=("candidate_rows",))
    rows_only.add_documents(data[0])
    fallback = ClusterPrefilterRetriever(store=rows_only, clusters=fitted, n_clusters=K, nprobe=3, k=5)
    assert fallback.search_engine == "candidate_rows" and ids(fallback.search_vectors(q)[0]) == want
    bare = FakeStore(minilm, capabilities=())
    bare.add_documents(data[0][:50])
    with pytest.raises(MissingCapabilityError, match="'clusters'.*'candidate_rows'"):
        ClusterPrefilterRetriever.from_store(bare, n_clusters=2)


def test_filter_composes_with_cluster_prefilter(store, fitted, q):
    r = ClusterPrefilterRetriever(store=store, clusters=fitted, n_clusters=K, nprobe=3, k=10,
                                  filter={"group": "even", "year": {"$gte": 2010}})
    hits, stats = r.search_vectors(q)
    labels = dict(zip(fitted.ids, fitted.labels.tolist()))
    assert all(len(h) == 10 for h in hits)  # enough matches in 3 clusters: the filter is a prefilter
    for h, st in zip(hits, stats):
        for d, _ in h:
            assert d.metadata["group"] == "even" and d.metadata["year"] >= 2010
            assert labels[d.id] in st.clusters
    assert all(h == [] for h in r.search_vectors(q, filter={"group": {"$in": []}})[0])


def test_fit_on_store_save_load_roundtrip(store, q, tmp_path: Path):
    r = ClusterPrefilterRetriever.from_store(store, n_clusters=K, nprobe=2, k=5)
    assert sorted(r.clusters.ids) == sorted(d.id for d in store.documents_at(store.all_rows()))
    r.save(tmp_path / "clusters")
    files = {p.name for p in (tmp_path / "clusters").iterdir()}
    assert {"clusters.json", "cluster_centroids.npy", "cluster_labels.npy", "retriever.json"} <= files
    assert not any(f.endswith((".pkl", ".pickle")) for f in files)
    loaded = ClusterPrefilterRetriever.load(tmp_path / "clusters", store)
    assert loaded.nprobe == 2 and loaded.n_clusters == K
    np.testing.assert_array_equal(loaded.clusters.labels, r.clusters.labels)
    assert ids(loaded.search_vectors(q)[0]) == ids(r.search_vectors(q)[0])
    assert isinstance(ClusterModel.load(tmp_path / "clusters"), ClusterModel)


def test_another_fit_on_the_same_store_does_not_corrupt_results(store, fitted, q):
    """The store holds one label per row: a retriever finding its labels overwritten writes them back."""
    mine = ClusterPrefilterRetriever(store=store, clusters=fitted, n_clusters=K, nprobe=2, k=10)
    before = ids(mine.search_vectors(q)[0])
    ClusterPrefilterRetriever.from_store(store, n_clusters=5, seed=3, nprobe=1).invoke("x")  # relabels every row
    assert ids(mine.search_vectors(q)[0]) == before


def test_langchain_interface_and_evaluation_batch(store, fitted, data):
    _, queries, qrels = data
    r = ClusterPrefilterRetriever(store=store, clusters=fitted, n_clusters=K, nprobe=3, k=10)
    docs = r.invoke(next(iter(queries.values())))
    assert len(docs) == 10 and all(isinstance(d, Document) and "score" in d.metadata for d in docs)
    run = retrieve_run(r, queries, k=10)
    assert set(run) == set(queries)
    found = np.mean([bool(set(run[qid]) & qrels[qid]) for qid in queries])
    assert found >= 0.5, found
    assert len(r.stats_history) == len(queries) + 1
    assert all("clusters_searched" not in d.metadata for d in store.documents_at(store.all_rows()))  # copies


def test_bad_input_errors(store, fitted, request, minilm, data):
    for bad in (0, K + 1):
        with pytest.raises(InvalidParameterError, match=r"nprobe=.*between 1 and 8"):
            ClusterPrefilterRetriever(store=store, clusters=fitted, n_clusters=K, nprobe=bad).invoke("x")
    with pytest.raises(InvalidParameterError, match=r"more than the \d+ documents"):
        ClusterPrefilterRetriever.from_store(store, n_clusters=store.count() + 1)
    with pytest.raises(InvalidParameterError, match="nprobe"):
        ClusterPrefilterRetriever.from_store(store, n_clusters=K, nprobe=K + 3)
    with pytest.raises(InvalidParameterError, match=r"\.fit\(\)"):
        ClusterPrefilterRetriever(store=store).invoke("x")
    with pytest.raises(InvalidParameterError, match="engine"):
        ClusterPrefilterRetriever(store=store, engine="gpu")


@pytest.mark.parametrize("kind", STORE_PARAMS)
def test_changed_documents_make_clusters_stale(kind, request, minilm, data):
    docs = data[0][:40]
    small = new_store(kind, minilm, request)
    small.add_documents(docs)
    r = ClusterPrefilterRetriever.from_store(small, n_clusters=4, nprobe=2)
    small.add_documents(data[0][40:41])  # one more document
    with pytest.raises(StaleClustersError, match=r"fit\(\) again"):
        r.invoke("x")
    r.fit()
    assert len(r.invoke("x")) == 4
    small.delete([docs[0].id])  # one fewer: the model's ids are no longer all in the store
    with pytest.raises(StaleClustersError, match=r"fit\(\) again"):
        ClusterPrefilterRetriever(store=small, clusters=r.clusters, n_clusters=4).invoke("x")


def test_choose_n_clusters_rule(store):
    rows = store.all_rows()
    by_id = rows[np.argsort([str(d.id) for d in store.documents_at(rows)], kind="stable")]
    k = choose_n_clusters(store.vectors_at(by_id))  # fit() clusters in document-id order, on every store
    n = store.count()
    assert max(2, int(np.sqrt(n) / 2) - 1) <= k <= int(2 * np.sqrt(n)) + 1
    auto = ClusterPrefilterRetriever.from_store(store, nprobe=1)
    assert auto.n_clusters == k == auto.clusters.n_clusters
