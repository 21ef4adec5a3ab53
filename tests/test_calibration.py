"""Calibration from a target recall (funnel shortlist / index knobs, cluster nprobe) and per-query cluster
lists (``search_cluster_lists``), on every store kind with the real all-MiniLM-L6-v2 on a SciFact slice,
plus unit tests of the recall arithmetic on hand-made arrays."""

from __future__ import annotations

import numpy as np
import pytest
from langchain_core.documents import Document
from scifact_slice import with_filter_metadata
from store_fixtures import STORE_PARAMS, new_store

from langchain_embcompare.errors import EmptyInputError, InvalidParameterError, MissingCapabilityError
from langchain_embcompare.precomputed.embeddings import PrecomputedEmbeddings
from langchain_embcompare.retrievers.calibration import (
    HeldOut,
    exact_top_k,
    held_out_queries,
    prefix_recall,
    recall_at_k,
)
from langchain_embcompare.retrievers.cluster import ClusterPrefilterRetriever
from langchain_embcompare.retrievers.funnel import MatryoshkaFunnelRetriever
from langchain_embcompare.stores.cluster_blocks import ClusterBlocks
from langchain_embcompare.stores.faiss import FaissVectorStore
from langchain_embcompare.stores.faiss_index import FaissIndexSpec

# --------------------------------------------------------------------------- the arithmetic


def test_prefix_recall_counts_true_neighbours_in_each_prefix():
    cand = np.array([[5, 1, 9, 2, -1], [7, 8, 3, 4, 6]])
    truth = np.array([[1, 2], [3, -1]])  # query 1 has one true neighbour only
    # L=1: none; L=2: row 1 of q0; L=3: + row 3 of q1; L=4: + row 2 of q0
    assert prefix_recall(cand, truth, [1, 2, 3, 4, 10]) == [0.0, 1 / 3, 2 / 3, 1.0, 1.0]


def test_recall_at_k_ignores_padding():
    assert recall_at_k(np.array([[1, 2, -1], [4, 5, 6]]), np.array([[2, 3, -1], [6, 5, 4]])) == pytest.approx(4 / 5)


@pytest.fixture(scope="module")
def blobs():
    """600 unit vectors in 12 well-separated groups + a FAISS store holding them (ids "0".."599")."""
    rng = np.random.default_rng(3)
    centres = rng.standard_normal((12, 32)).astype(np.float32) * 3
    x = centres[rng.integers(0, 12, 600)] + rng.standard_normal((600, 32)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    ids = [str(i) for i in range(600)]
    return x, ids


def faiss_store(x, ids, **spec):
    store = FaissVectorStore(PrecomputedEmbeddings(x, document_ids=ids, model_id="blobs"), FaissIndexSpec(**spec))
    store.bulk_load(x, [Document(page_content="", id=i) for i in ids], ids, normalized=True)
    return store


def test_exact_top_k_excludes_a_documents_own_row(blobs):
    x, ids = blobs
    store = faiss_store(x, ids)
    held = held_out_queries(store, None, n_queries=20, seed=1)
    assert held.own_rows is not None and held.source == "held-out documents"
    truth = exact_top_k(store, held, 5)
    brute = np.argsort(-(held.vectors @ x.T), axis=1, kind="stable")
    for own, t, b in zip(held.own_rows, truth, brute):
        assert own not in t
        assert t.tolist() == [r for r in b.tolist() if r != own][:5]
    given = held_out_queries(store, x[:3] + 0.01, n_queries=20)
    assert given.own_rows is None and exact_top_k(store, given, 4).shape == (3, 4)


def test_held_out_queries_refuse_bad_input(blobs):
    x, ids = blobs
    store = faiss_store(x, ids)
    with pytest.raises(EmptyInputError):
        held_out_queries(store, [], 10)
    with pytest.raises(InvalidParameterError):
        held_out_queries(store, None, 0)


# --------------------------------------------------------------------------- per-query cluster lists


def test_cluster_blocks_search_lists_equals_one_search_per_query():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((300, 16)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    labels = rng.integers(0, 10, 300)
    labels[labels == 7] = 8  # cluster 7 has no vectors
    blocks = ClusterBlocks(x, labels, rows=np.arange(300) * 3, metric="cosine")
    q = x[:6] + 0.1
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    lists = np.array([[0, 1, -1], [2, 2, 3], [7, -1, -1], [9, 8, 5], [-1, -1, -1], [4, 11, 0]])  # dup, empty, unknown
    allowed = rng.random(300) > 0.3
    for mask in (None, allowed):
        s, r = blocks.search_lists(q, 5, lists, allowed=mask, max_cells=40)  # tiny buffer: several chunks
        for i in range(len(q)):
            es, er = blocks.search(q[i : i + 1], 5, [c for c in lists[i] if c >= 0], allowed=mask)
            assert r[i].tolist() == er[0].tolist()
            np.testing.assert_allclose(s[i], es[0], atol=1e-6)
    assert (blocks.search_lists(q, 5, lists)[1][4] == -1).all()  # a query with no cluster gets padding


@pytest.fixture(scope="module")
def data(scifact_small):
    return with_filter_metadata(scifact_small)


@pytest.fixture(scope="module", params=STORE_PARAMS)
def store(request, minilm, data):
    s = new_store(request.param, minilm, request)
    s.add_documents(data[0])
    return s


@pytest.fixture(scope="module")
def q(minilm, data):
    return minilm.encode_queries(list(data[1].values()))


def test_search_cluster_lists_on_every_store(store, q):
    """Each query searches its own clusters: the same as one clustered search_rows per query, with a filter."""
    fitted = ClusterPrefilterRetriever.from_store(store, n_clusters=6, nprobe=2, k=10)
    lists = np.array([[0, 1], [2, -1], [3, 3], [5, 4]] * 3)[: len(q)]
    for filt in (None, {"group": "odd"}):
        s, r = store.search_cluster_lists(q[: len(lists)], 5, lists, filter=filt)
        for i, row in enumerate(lists):
            es, er = store.search_rows(q[i : i + 1], 5, filter=filt, clusters=sorted({int(c) for c in row if c >= 0}))
            assert r[i].tolist() == er[0].tolist(), (store, filt, i)
            np.testing.assert_allclose(s[i], es[0], atol=1e-5)
    assert fitted.nprobe == 2


# --------------------------------------------------------------------------- cluster calibration


def test_cluster_calibration_picks_the_smallest_nprobe_reaching_the_target(store, q):
    r = ClusterPrefilterRetriever.from_store(store, n_clusters=8, nprobe=1, k=10)
    cal = r.calibrate(q, target_recall=0.9, mode="fixed")
    assert cal.met and cal.recall >= 0.9 and r.nprobe == cal.settings["nprobe"] and not r.adaptive
    assert cal.effective_target == 0.9  # given queries: the target as asked
    truth = exact_top_k(store, HeldOut(q / np.linalg.norm(q, axis=1, keepdims=True), None), 10)
    assert recall_at_k(r.search_rows(q, 10)[1], truth) == pytest.approx(cal.recall, abs=1e-5)
    if r.nprobe > 1:  # one cluster fewer misses the target (the choice is minimal)
        smaller = ClusterPrefilterRetriever(store=store, clusters=r.clusters, n_clusters=8, k=10, nprobe=r.nprobe - 1)
        assert recall_at_k(smaller.search_rows(q, 10)[1], truth) < 0.9
    predicted = {t["nprobe"]: t["predicted_recall"] for t in cal.tried if "predicted_recall" in t}
    assert predicted[8] == 1.0 and all(a <= b for a, b in zip(list(predicted.values()), list(predicted.values())[1:]))


def test_cluster_default_nprobe_is_calibrated_and_saved(blobs, tmp_path):
    x, ids = blobs
    store = faiss_store(x, ids)
    r = ClusterPrefilterRetriever.from_store(store, n_clusters=24, k=10)  # no nprobe: calibrated at fit
    assert r.nprobe is not None and r.calibration is not None
    cal = r.calibration
    assert cal["queries"] == "held-out documents" and cal["effective_target"] == pytest.approx(0.9975)  # default 0.99, miss rate / 4
    assert cal["met"] and cal["recall"] >= 0.9975 and r.adaptive == cal["settings"]["adaptive"]
    assert len({t["adaptive"] for t in cal["tried"]}) == 2  # auto: both ways measured
    r.save(tmp_path / "c")
    again = ClusterPrefilterRetriever.load(tmp_path / "c", store)
    assert again.nprobe == r.nprobe and again.calibration == r.calibration
    assert again.search_rows(x[:3], 10)[1].tolist() == r.search_rows(x[:3], 10)[1].tolist()
    with pytest.raises(InvalidParameterError):
        r.calibrate(target_recall=1.5)
    with pytest.raises(InvalidParameterError, match="mode"):
        r.calibrate(mode="sometimes")
    adaptive = ClusterPrefilterRetriever(store=store, clusters=r.clusters, n_clusters=24, k=10)
    cal = adaptive.calibrate(x[:50] + 0.05, target_recall=0.97, mode="adaptive")
    assert adaptive.adaptive and adaptive.tail == cal.settings["tail"] and cal.recall >= 0.97


# --------------------------------------------------------------------------- funnel calibration


@pytest.mark.parametrize("field_kind", ["flat", "hnsw", "ivf"])
def test_funnel_calibration_on_approximate_fields(blobs, field_kind, tmp_path):
    x, ids = blobs
    store = faiss_store(x, ids, field_kind=field_kind, hnsw_m=8, ef_construction=20)
    funnel = MatryoshkaFunnelRetriever(store=store, shortlist_dim=8, k=10, rotation="pca")
    cal = funnel.calibrate(target_recall=0.95, n_queries=100)
    assert cal.met and cal.effective_target == pytest.approx(0.9875) and cal.recall >= 0.9875
    assert cal.settings["index_kind"] == field_kind
    knob = {"hnsw": "shortlist_ef_search", "ivf": "shortlist_nprobe"}.get(field_kind)
    assert funnel.shortlist == cal.settings["shortlist"]
    if knob:
        assert getattr(funnel, knob) == cal.settings["ef_search" if field_kind == "hnsw" else "nprobe"]
    # the recall it reports is the recall the retriever now gets on those queries
    held = held_out_queries(store, None, n_queries=100)
    truth = exact_top_k(store, held, 10)
    rows = funnel.search_rows(held.vectors, 11)[1]
    rows = np.array([[r for r in row if r != own][:10] for row, own in zip(rows.tolist(), held.own_rows.tolist())])
    assert recall_at_k(rows, truth) == pytest.approx(cal.recall, abs=0.011)
    funnel.save(tmp_path / "f")
    again = MatryoshkaFunnelRetriever.load(tmp_path / "f", store)
    assert (again.shortlist, again.shortlist_ef_search, again.shortlist_nprobe) == (
        funnel.shortlist, funnel.shortlist_ef_search, funnel.shortlist_nprobe)
    assert again.calibration == funnel.calibration


def test_funnel_calibration_that_cannot_reach_the_target_warns(blobs):
    x, ids = blobs
    store = faiss_store(x, ids)
    funnel = MatryoshkaFunnelRetriever(store=store, shortlist_dim=8, k=10, rotation=None)
    with pytest.warns(UserWarning, match="no setting tried reached"):
        cal = funnel.calibrate(target_recall=1.0, shortlists=[10])
    assert not cal.met and cal.recall < 1.0 and funnel.shortlist == 10
    with pytest.raises(InvalidParameterError):
        funnel.calibrate(target_recall=0)
    with pytest.raises(InvalidParameterError):
        MatryoshkaFunnelRetriever(store=store, shortlist_dim=8, k=10, shortlist_ef_search=0)


def test_funnel_calibration_on_every_store(store, q):
    """Real model, real stores: the calibrated funnel reaches the target on the queries it was calibrated on
    (a store without extra vector fields refuses the funnel by name: tests/test_funnel.py)."""
    if "vector_fields" not in store.capabilities:
        with pytest.raises(MissingCapabilityError, match="vector_fields"):
            MatryoshkaFunnelRetriever(store=store, shortlist_dim=128, k=10)
        return
    funnel = MatryoshkaFunnelRetriever(store=store, shortlist_dim=128, k=10)
    cal = funnel.calibrate(q, target_recall=0.98)
    assert cal.met and cal.queries == "given" and cal.settings["index_kind"] == store.field_index_kind(funnel.field)
    truth = exact_top_k(store, HeldOut(q / np.linalg.norm(q, axis=1, keepdims=True), None), 10)
    assert recall_at_k(funnel.search_rows(q, 10)[1], truth) >= 0.98


def test_milvus_takes_ef_search_and_nprobe_per_call(minilm, request, data):
    store = new_store("milvus", minilm, request)
    store.add_documents(data[0][:40])
    q = minilm.encode_queries(["protein folding"])
    base = store.search_rows(q, 5)[1]
    assert store.search_rows(q, 5, ef_search=64, nprobe=4)[1].tolist() == base.tolist()  # flat: exact either way
    with pytest.raises(InvalidParameterError, match="ef_search"):
        store.search_rows(q, 5, ef_search=0)
    with pytest.raises(InvalidParameterError, match="unknown options"):
        store.search_rows(q, 5, efsearch=3)


@pytest.mark.parametrize("server", ["redis", "milvus"])
def test_funnel_calibrates_the_second_hnsw_field_on_servers(server, minilm, data, request, q):
    """Redis (a second HNSW vector field) and Milvus (HNSW on the extra field): the calibration tunes
    the field's ef_search per call and reaches the target on the queries it was given."""
    import uuid

    name = f"t_{uuid.uuid4().hex[:10]}"
    if server == "redis":
        from langchain_embcompare.stores.redis import RedisIndexSpec, RedisVectorStore

        spec = RedisIndexSpec(name, kind="hnsw", extra_vector_fields={"vector_64_pca": 64})
        store = RedisVectorStore(minilm, spec, request.getfixturevalue("redis_url"))
    else:
        from langchain_embcompare.stores.milvus import MilvusIndexSpec, MilvusVectorStore

        spec = MilvusIndexSpec(name, kind="hnsw", extra_vector_fields={"vector_64_pca": 64})
        store = MilvusVectorStore(minilm, spec, request.getfixturevalue("milvus_uri"))
    request.addfinalizer(store.drop)
    store.add_documents(data[0])
    funnel = MatryoshkaFunnelRetriever(store=store, shortlist_dim=64, k=10)
    assert store.field_index_kind(funnel.field) == "hnsw"
    cal = funnel.calibrate(q, target_recall=0.98, index_params=[10, 40, 200])
    assert cal.met and "ef_search" in cal.settings and funnel.shortlist_ef_search == cal.settings["ef_search"]
    truth = exact_top_k(store, HeldOut(q / np.linalg.norm(q, axis=1, keepdims=True), None), 10)
    assert recall_at_k(funnel.search_rows(q, 10)[1], truth) >= 0.98
    assert {t["ef_search"] for t in cal.tried} <= {10, 40, 200}
