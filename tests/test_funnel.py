"""Matryoshka funnel retrieval end to end: real all-MiniLM-L6-v2 on a SciFact slice, on every store kind.

Each test runs on each store of ``store_fixtures.STORE_KINDS`` through the store protocol only; the
fake store (exact numpy) is the reference the others must match.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from fake_store import FakeStore
from scifact_slice import with_filter_metadata
from store_fixtures import new_store, params_with, params_without

from langchain_embcompare.errors import DimensionMismatchError, InvalidParameterError, MissingCapabilityError
from langchain_embcompare.evaluation.metrics import retrieve_run
from langchain_embcompare.retrievers.funnel import MatryoshkaFunnelRetriever, prefix_normalize


@pytest.fixture(scope="module")
def data(scifact_small):
    return with_filter_metadata(scifact_small)


@pytest.fixture(scope="module", params=params_with("vector_fields"))
def store(request, minilm, data):
    s = new_store(request.param, minilm, request)
    s.add_documents(data[0])
    return s


@pytest.fixture(scope="module")
def reference(minilm, data):
    s = FakeStore(minilm)
    s.add_documents(data[0])
    return s


@pytest.fixture(scope="module")
def q(minilm, data):
    return minilm.encode_queries(list(data[1].values()))


def ids(hits):
    return [[d.id for d, _ in h] for h in hits]


def overlap(a, b, k=10):
    return np.mean([len(set(x) & set(y)) / k for x, y in zip(a, b)])


def test_full_shortlist_is_exhaustive(store, q):
    funnel = MatryoshkaFunnelRetriever(store=store, shortlist_dim=64, shortlist=store.count(), k=10)
    assert ids(funnel.search_vectors(q)) == ids(store.search_vectors(q, k=10))


def test_funnel_rescored_at_full_dim(store, q):
    funnel = MatryoshkaFunnelRetriever(store=store, shortlist_dim=128, shortlist=50, k=10, rotation=None)
    assert not funnel.rotates and funnel.field == "vector_128"
    scores, rows = funnel.search_rows(q)
    assert scores.shape == rows.shape == (len(q), 10) and scores.dtype == np.float32 and (rows >= 0).all()
    all_rows = store.all_rows()
    full = store.vectors_at(all_rows)
    for qi in range(len(q)):
        exact = store.vectors_at(rows[qi]) @ q[qi] / np.linalg.norm(q[qi])
        np.testing.assert_allclose(scores[qi], exact, atol=1e-5)  # full-dim scores, sorted
        assert list(scores[qi]) == sorted(scores[qi], reverse=True)
        small = prefix_normalize(full, 128) @ prefix_normalize(q[qi : qi + 1], 128)[0]
        assert set(rows[qi].tolist()) <= set(all_rows[np.argsort(-small)[:50]].tolist())  # all in the 128-d shortlist
    assert overlap([[r for r in row] for row in rows.tolist()], store.search_rows(q, 10)[1].tolist()) >= 0.9


def test_same_results_as_the_reference(store, reference, q):
    for kw in ({"rotation": None}, {"filter": {"group": "odd"}, "rotation": None}, {"rotation": "pca", "shortlist_dim": 64},
               {"precision": "binary", "shortlist_dim": None}):
        a = MatryoshkaFunnelRetriever(store=reference, shortlist=30, k=10, **{"shortlist_dim": 128, **kw})
        b = MatryoshkaFunnelRetriever(store=store, shortlist=30, k=10, **{"shortlist_dim": 128, **kw})
        ha, hb = a.search_vectors(q), b.search_vectors(q)
        assert ids(ha) == ids(hb), kw
        np.testing.assert_allclose([s for h in ha for _, s in h], [s for h in hb for _, s in h], atol=1e-5)


@pytest.mark.parametrize("kwargs", [{"precision": "binary", "shortlist_dim": None, "shortlist": 40},
                                    {"rotation": "pca", "shortlist_dim": 64, "shortlist": 40}])
def test_binary_and_rotated_shortlists(store, q, kwargs):
    funnel = MatryoshkaFunnelRetriever(store=store, k=10, **kwargs)
    assert overlap(ids(funnel.search_vectors(q)), ids(store.search_vectors(q, k=10))) >= 0.9, kwargs
    if kwargs.get("rotation") == "pca":  # the rotated prefixes live in the store's field; queries rotated alike
        rows = store.all_rows()[:5]
        want = funnel.small_vectors(store.vectors_at(rows))
        np.testing.assert_allclose(store.vectors_at(rows, vector_field="vector_64_pca"), want, atol=1e-5)
        plain = prefix_normalize(store.vectors_at(rows), 64)
        assert not np.allclose(want, plain, atol=1e-2)


def test_filter_and_evaluation_batch(store, data):
    _, queries, qrels = data
    funnel = MatryoshkaFunnelRetriever(store=store, shortlist_dim=128, shortlist=30, k=10, filter={"group": "even"})
    docs = funnel.invoke("vitamin D")
    assert len(docs) == 10 and all(d.metadata["group"] == "even" and "score" in d.metadata for d in docs)
    binary = MatryoshkaFunnelRetriever(store=store, precision="binary", shortlist_dim=128, shortlist=30, k=5,
                                       filter={"year": {"$lt": 2005}})
    got = binary.invoke("vitamin D")
    assert len(got) == 5 and all(d.metadata["year"] < 2005 for d in got)
    assert binary.invoke("vitamin D", filter={"group": {"$in": []}}) == []
    plain = MatryoshkaFunnelRetriever(store=store, shortlist_dim=128, shortlist=50, k=10)
    run = retrieve_run(plain, queries, k=10)
    assert np.mean([bool(set(run[qid]) & qrels[qid]) for qid in queries]) >= 0.5


def test_save_load_rotation(store, q, tmp_path: Path):
    funnel = MatryoshkaFunnelRetriever(store=store, shortlist_dim=64, shortlist=20, k=5)
    assert funnel.rotates and funnel.field == "vector_64_pca"  # "auto": a float prefix of an unrotated store
    before = ids(funnel.search_vectors(q))
    funnel.save(tmp_path / "funnel")
    assert (tmp_path / "funnel" / "rotation.npy").exists() and (tmp_path / "funnel" / "funnel.json").exists()
    again = MatryoshkaFunnelRetriever.load(tmp_path / "funnel", store)
    np.testing.assert_array_equal(again.fitted_rotation.matrix, funnel.fitted_rotation.matrix)
    assert ids(again.search_vectors(q)) == before


def test_field_overwritten_by_another_funnel_is_rewritten(store, q):
    """Two funnels naming one field with different content: each finds its own vectors there again."""
    a = MatryoshkaFunnelRetriever(store=store, shortlist_dim=64, shortlist=20, k=5, rotation="pca", vector_field="shared")
    before = ids(a.search_vectors(q))
    b = MatryoshkaFunnelRetriever(store=store, shortlist_dim=64, shortlist=20, k=5, rotation=None, vector_field="shared")
    b.search_vectors(q)  # writes raw prefixes into "shared"
    assert ids(a.search_vectors(q)) == before


@pytest.mark.parametrize("kind", params_with("vector_fields"))
def test_new_documents_are_found_after_build(kind, request, minilm, data):
    docs = data[0]
    small = new_store(kind, minilm, request)
    small.add_documents(docs[:60])
    for kw in ({"shortlist_dim": 64}, {"precision": "binary", "shortlist_dim": None}):
        funnel = MatryoshkaFunnelRetriever(store=small, shortlist=10, k=3, **kw)
        funnel.invoke("x")  # built on 60 documents
        small.add_documents(docs[60:61])
        target = docs[60]
        got = funnel.invoke(target.page_content)
        assert got[0].id == target.id, kw  # the shortlist was rebuilt with the new row


def test_bad_input_and_missing_capabilities(store, minilm, data, q):
    with pytest.raises(DimensionMismatchError, match=r"shortlist_dim=512 must lie in 1\.\.384"):
        MatryoshkaFunnelRetriever(store=store, shortlist_dim=512)
    with pytest.raises(InvalidParameterError, match="shortlist >= k"):
        MatryoshkaFunnelRetriever(store=store, shortlist=5, k=10)
    with pytest.raises(InvalidParameterError, match="multiple of 8"):
        MatryoshkaFunnelRetriever(store=store, shortlist_dim=100, precision="binary")
    funnel = MatryoshkaFunnelRetriever(store=store, shortlist_dim=128)
    with pytest.raises(DimensionMismatchError, match="384-d store"):
        funnel.search_vectors(np.ones((1, 128), np.float32))
    # no extra vector fields: a float prefix cannot be shortlisted; binary and full-dim shortlists still work
    bare = FakeStore(minilm, capabilities=())
    bare.add_documents(data[0])
    with pytest.raises(MissingCapabilityError, match="vector_fields"):
        MatryoshkaFunnelRetriever(store=bare, shortlist_dim=128)
    for kw in ({"precision": "binary", "shortlist_dim": None}, {"shortlist_dim": None, "rotation": None}):
        f = MatryoshkaFunnelRetriever(store=bare, shortlist=40, k=10, **kw)
        assert overlap(ids(f.search_vectors(q)), ids(bare.search_vectors(q, k=10))) >= 0.9


@pytest.mark.parametrize("kind", params_without("vector_fields"))
def test_funnel_is_refused_by_name_on_a_store_without_vector_fields(kind, minilm, request):
    """A store with one vector field per collection (Milvus 2.3) cannot hold the shortlist field: the
    funnel says so, naming the capability and the server version that has it."""
    from langchain_embcompare.errors import MissingCapabilityError

    store = new_store(kind, minilm, request)
    with pytest.raises(MissingCapabilityError, match=r"vector_fields.*needs Milvus >= 2\.4"):
        MatryoshkaFunnelRetriever(store=store, shortlist_dim=128, k=10)
