"""The store protocol of ``stores/base.py``, held on every store kind (``any_store``: fake, FAISS, Redis ...).

Shapes, dtypes, padding, the score convention, upsert, delete, the empty store, filters, and each
capability the store declares (and the error for each one it does not).
"""

from __future__ import annotations

import numpy as np
import pytest
from langchain_core.documents import Document

from langchain_embcompare.errors import (
    DimensionMismatchError,
    InvalidParameterError,
    InvalidVectorError,
    MissingCapabilityError,
)
from langchain_embcompare.stores.base import CAPABILITIES, normalize_rows

DIM = 16


def corpus(n: int = 12, seed: int = 0) -> tuple[np.ndarray, list[Document]]:
    rng = np.random.default_rng(seed)
    vectors = rng.standard_normal((n, DIM)).astype(np.float32)
    docs = [
        Document(page_content=f"doc {i}", id=f"d{i}",
                 metadata={"group": "even" if i % 2 == 0 else "odd", "year": 2000 + i, "category": f"c{i % 3}"})
        for i in range(n)
    ]
    return vectors, docs


def queries(m: int = 3, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((m, DIM)).astype(np.float32)


def expected(q: np.ndarray, v: np.ndarray, metric: str) -> np.ndarray:
    """The score convention computed independently: cosine similarity, inner product, minus L2 distance."""
    if metric == "cosine":
        return normalize_rows(q) @ normalize_rows(v).T
    if metric == "ip":
        return q @ v.T
    return -np.linalg.norm(q[:, None, :] - v[None, :, :], axis=2)


def ids_of(store, rows: np.ndarray) -> list[list[str]]:
    return [[d.id for d in store.documents_at(r[r >= 0])] for r in rows]


def test_shapes_dtypes_and_padding(any_store):
    v, docs = corpus(12)
    assert any_store.upsert_vectors(v, docs) == [d.id for d in docs]
    scores, rows = any_store.search_rows(queries(3), 20)
    assert scores.shape == rows.shape == (3, 20)
    assert scores.dtype == np.float32 and rows.dtype == np.int64
    assert (rows[:, :12] >= 0).all() and (rows[:, 12:] == -1).all()  # 12 documents, then padding
    assert np.isfinite(scores[:, :12]).all() and (scores[:, 12:] == -np.inf).all()
    assert (np.diff(scores[:, :12], axis=1) <= 1e-6).all()  # best first
    assert all(set(r[:12].tolist()) == set(any_store.all_rows().tolist()) for r in rows)
    all_rows = any_store.all_rows()
    assert all_rows.dtype == np.int64 and (np.diff(all_rows) > 0).all() and len(all_rows) == any_store.count() == 12
    vecs = any_store.vectors_at(all_rows[:4])
    assert vecs.shape == (4, DIM) and vecs.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vecs, axis=1), 1, atol=1e-5)  # cosine: stored unit length
    got = any_store.documents_at(any_store.rows_of(["d3", "d0"]))
    assert [d.id for d in got] == ["d3", "d0"] and got[0].page_content == "doc 3" and got[0].metadata["year"] == 2003
    assert any_store.rows_of(["nope"]).tolist() == [-1]
    assert [d.id for d in any_store.get_by_ids(["d5", "nope", "d1"])] == ["d5", "d1"]
    with pytest.raises(KeyError):
        any_store.documents_at(np.array([int(all_rows.max()) + 1000]))
    with pytest.raises(DimensionMismatchError):
        any_store.search_rows(np.ones((1, DIM + 1), np.float32), 3)
    with pytest.raises(DimensionMismatchError):
        any_store.upsert_vectors(np.ones((1, DIM + 1), np.float32), [Document(page_content="x", id="bad")])
    with pytest.raises(InvalidVectorError):
        any_store.upsert_vectors(np.full((1, DIM), np.nan, np.float32), [Document(page_content="x", id="nan")])
    assert any_store.count() == 12


@pytest.mark.parametrize("metric", ["cosine", "ip", "l2"])
def test_score_convention(make_store, contract_embeddings, metric):
    store = make_store(contract_embeddings, metric=metric)
    v, docs = corpus(10)
    store.upsert_vectors(v, docs)
    q = queries(2)
    scores, rows = store.search_rows(q, 10)
    want = expected(q, v, metric)
    col = {d.id: i for i, d in enumerate(docs)}
    for qi in range(len(q)):
        got_ids = [d.id for d in store.documents_at(rows[qi])]
        np.testing.assert_allclose(scores[qi], [want[qi, col[i]] for i in got_ids], atol=1e-4)
        assert got_ids == [docs[j].id for j in np.argsort(-want[qi], kind="stable")]
    hits = store.similarity_search_with_score_by_vector(q[0], k=3)
    np.testing.assert_allclose([s for _, s in hits], scores[0, :3], atol=1e-5)


def test_empty_store(any_store):
    scores, rows = any_store.search_rows(queries(2), 5)
    assert scores.shape == (2, 5) and (rows == -1).all() and (scores == -np.inf).all()
    assert any_store.count() == 0 and any_store.all_rows().dtype == np.int64 and len(any_store.all_rows()) == 0
    assert any_store.similarity_search_by_vector(queries(1)[0].tolist(), k=3) == []
    assert any_store.get_by_ids(["x"]) == []


def test_upsert_replaces_and_delete_removes(any_store):
    v, docs = corpus(6)
    any_store.upsert_vectors(v, docs)
    new_vec = -v[2:3]
    any_store.upsert_vectors(new_vec, [Document(page_content="doc 2, new", id="d2", metadata={"group": "new"})])
    assert any_store.count() == 6
    row = any_store.rows_of(["d2"])[0]
    assert row >= 0
    (doc,) = any_store.documents_at([row])
    assert doc.page_content == "doc 2, new" and doc.metadata["group"] == "new"
    np.testing.assert_allclose(any_store.vectors_at([row])[0], normalize_rows(new_vec)[0], atol=1e-5)
    scores, rows = any_store.search_rows(new_vec, 1)
    assert rows[0, 0] == row and scores[0, 0] == pytest.approx(1.0, abs=1e-5)
    # a batch naming one id twice keeps the last
    any_store.upsert_vectors(v[:2], [Document(page_content="a", id="twice"), Document(page_content="b", id="twice")])
    assert any_store.count() == 7 and any_store.get_by_ids(["twice"])[0].page_content == "b"

    any_store.delete(["d0", "d1", "unknown"])
    assert any_store.count() == 5 and any_store.rows_of(["d0", "d1"]).tolist() == [-1, -1]
    left = {d.id for d in any_store.documents_at(any_store.all_rows())}
    assert left == {"d2", "d3", "d4", "d5", "twice"}
    _, rows = any_store.search_rows(queries(1), 10)
    assert {d.id for d in any_store.documents_at(rows[0][rows[0] >= 0])} == left
    any_store.delete(None)
    assert any_store.count() == 0 and (any_store.search_rows(queries(1), 3)[1] == -1).all()


def test_skip_existing_writes_only_new_ids(any_store):
    """One resume rule on every store (EmbStore.add_documents): stored ids are left alone, new ones written."""
    _, docs = corpus(4)
    any_store.add_documents(docs[:2])
    changed = [Document(page_content="changed", id="d0"), *docs[2:]]
    assert any_store.add_documents(changed, skip_existing=True) == ["d0", "d2", "d3"]
    assert any_store.count() == 4 and any_store.get_by_ids(["d0"])[0].page_content == "doc 0"
    with pytest.raises(InvalidParameterError, match="stable document ids"):
        any_store.add_documents([Document(page_content="no id")], skip_existing=True)
    assert any_store.count() == 4


def test_filters_are_prefilters(any_store):
    v, docs = corpus(40)
    any_store.upsert_vectors(v, docs)
    q = queries(2)
    scores, rows = any_store.search_rows(q, 5, filter={"group": "odd"})
    assert (rows >= 0).all()  # 20 odd documents: a true prefilter returns k of them
    assert all(d.metadata["group"] == "odd" for r in rows for d in any_store.documents_at(r))
    # a selective filter returns exactly the matching documents, then padding
    scores, rows = any_store.search_rows(q, 5, filter={"year": {"$gte": 2037}})
    assert (rows[:, :3] >= 0).all() and (rows[:, 3:] == -1).all() and (scores[:, 3:] == -np.inf).all()
    assert {d.id for d in any_store.documents_at(rows[0, :3])} == {"d37", "d38", "d39"}
    both = any_store.search_rows(q, 40, filter={"group": "even", "category": {"$in": ["c0", "c1"]}})[1]
    want = {d.id for d in docs if d.metadata["group"] == "even" and d.metadata["category"] in ("c0", "c1")}
    assert {i for row in ids_of(any_store, both) for i in row} == want
    none = any_store.search_rows(q, 5, filter={"group": {"$in": []}})
    assert (none[1] == -1).all() and (none[0] == -np.inf).all()
    assert any_store.similarity_search_by_vector(q[0].tolist(), k=3, filter={"group": "nobody"}) == []


def test_capabilities_declared_work_and_missing_ones_raise(any_store):
    v, docs = corpus(20)
    any_store.upsert_vectors(v, docs)
    rows = any_store.all_rows()
    q = queries(2)
    caps = any_store.capabilities
    assert set(caps) <= set(CAPABILITIES) | {"full_text"}  # full_text: a store's own BM25 (test_lexical.py)
    if "candidate_rows" in caps:
        cand = rows[[1, 4, 7]]
        _, got = any_store.search_rows(q, 5, candidate_rows=cand)
        assert (got[:, 3:] == -1).all() and all(set(r[:3].tolist()) == set(cand.tolist()) for r in got)
        _, got = any_store.search_rows(q, 5, candidate_rows=cand, filter={"group": "odd"})
        # rows are handles, not positions (Milvus hashes ids): the odd candidates, read from their documents
        odd = {int(r) for r, d in zip(cand, any_store.documents_at(cand)) if d.metadata["group"] == "odd"}
        assert odd and all(set(r[r >= 0].tolist()) == odd for r in got)
    else:
        with pytest.raises(MissingCapabilityError, match="candidate_rows"):
            any_store.search_rows(q, 5, candidate_rows=rows[:3])
    if "clusters" in caps:
        labels = np.arange(len(rows)) % 3
        any_store.set_cluster_labels(rows, labels)
        assert any_store.cluster_labels(rows).tolist() == labels.tolist()
        _, got = any_store.search_rows(q, 20, clusters=[1, 2])
        assert all(set(r[r >= 0].tolist()) == set(rows[labels != 0].tolist()) for r in got)
        _, got = any_store.search_rows(q, 20, clusters=[2], filter={"group": "even"})
        even = np.asarray([d.metadata["group"] == "even" for d in any_store.documents_at(rows)])
        assert all(set(r[r >= 0].tolist()) == set(rows[(labels == 2) & even].tolist()) for r in got)
    else:
        with pytest.raises(MissingCapabilityError, match="clusters"):
            any_store.set_cluster_labels(rows, np.zeros(len(rows), np.int64))
    if "vector_fields" in caps:
        any_store.ensure_vector_field("small", 4)
        assert any_store.vector_fields.get("small") == 4
        small = normalize_rows(v[:, :4])
        any_store.write_vector_field("small", rows, small)
        np.testing.assert_allclose(any_store.vectors_at(rows[:3], vector_field="small"), small[:3], atol=1e-5)
        scores, got = any_store.search_rows(normalize_rows(q[:, :4]), 3, vector_field="small")
        want = normalize_rows(q[:, :4]) @ small.T
        np.testing.assert_allclose(scores, -np.sort(-want, axis=1)[:, :3], atol=1e-4)
        assert got.tolist() == rows[np.argsort(-want, axis=1, kind="stable")[:, :3]].tolist()
        with pytest.raises(DimensionMismatchError):
            any_store.search_rows(q, 3, vector_field="small")  # 16-d queries on a 4-d field
    else:
        with pytest.raises(MissingCapabilityError, match="vector_fields"):
            any_store.ensure_vector_field("small", 4)


@pytest.mark.parametrize("off", CAPABILITIES)
def test_fake_store_switches_capabilities_off(contract_embeddings, off):
    from fake_store import FAKE_CAPABILITIES, FakeStore

    store = FakeStore(contract_embeddings, capabilities=[c for c in FAKE_CAPABILITIES if c != off])
    v, docs = corpus(5)
    store.upsert_vectors(v, docs)
    call = {
        "candidate_rows": lambda: store.search_rows(queries(1), 2, candidate_rows=store.all_rows()),
        "clusters": lambda: store.search_rows(queries(1), 2, clusters=[0]),
        "vector_fields": lambda: store.ensure_vector_field("f", 4),
        "full_text": lambda: store.full_text_search(["x"], 2),
    }[off]
    with pytest.raises(MissingCapabilityError, match=off):
        call()


@pytest.mark.parametrize("metric", ["cosine", "ip", "l2"])
def test_a_zero_vector_is_refused_under_cosine_and_scored_under_ip_and_l2(make_store, contract_embeddings, metric):
    """One rule for zero vectors (matryoshka.normalize_rows) on every store: under cosine a zero vector
    has no direction, so it is refused naming the row, for documents and queries alike, never scored as
    0 or NaN; inner product and L2 have a value for it (0, minus the query's length), so it is kept and
    scored by the convention, except on a store that fills prefix (shortlist) fields at write time."""
    store = make_store(contract_embeddings, metric=metric)
    v, docs = corpus(3)
    v[1] = 0.0
    q = queries(2)
    if metric != "cosine" and getattr(store, "vector_fields", {}):
        # a store that fills Matryoshka prefix fields at write time (Milvus's shortlist fields) normalises
        # each prefix for the funnel's cosine shortlist: a zero vector has a zero prefix, refused by name
        with pytest.raises(InvalidVectorError, match=r"zero length \(rows \[1\]\)"):
            store.upsert_vectors(v, docs)
        assert store.count() == 0
        return
    if metric != "cosine":
        store.upsert_vectors(v, docs)
        scores, rows = store.search_rows(q, 3)
        want = expected(q, v, metric)
        for qi in range(len(q)):
            got = {d.id: float(sc) for d, sc in zip(store.documents_at(rows[qi]), scores[qi])}
            assert got.keys() == {"d0", "d1", "d2"}
            np.testing.assert_allclose([got[f"d{i}"] for i in range(3)], want[qi], atol=1e-4)
        return
    with pytest.raises(InvalidVectorError, match=r"zero length \(rows \[1\]\)"):
        store.upsert_vectors(v, docs)
    store.upsert_vectors(v[[0, 2]], [docs[0], docs[2]])
    q[0] = 0.0
    with pytest.raises(InvalidVectorError, match=r"query vectors have zero length \(rows \[0\]\)"):
        store.search_rows(q, 2)


def test_search_options_are_read_one_way_and_refused_by_name(any_store):
    """search_rows is EmbStore's template: the same checks on every store, before the store's _search."""
    v, docs = corpus(4)
    any_store.upsert_vectors(v, docs)
    q = queries(1)
    with pytest.raises(InvalidParameterError, match=r"unknown options \['efsearch'\]"):
        any_store.search_rows(q, 2, efsearch=3)
    for knob in ("ef_search", "nprobe", "batch_size"):
        if knob in any_store.search_options:
            assert any_store.search_rows(q, 2, **{knob: 8})[1].shape == (1, 2)
            for bad in (0, -1, 2.5, True):
                with pytest.raises(InvalidParameterError, match=f"{knob}={bad!r} must be a positive integer"):
                    any_store.search_rows(q, 2, **{knob: bad})
        else:
            with pytest.raises(InvalidParameterError, match=f"unknown options \\['{knob}'\\]"):
                any_store.search_rows(q, 2, **{knob: 8})
    for k in (0, -1, 2.5, True):
        with pytest.raises(InvalidParameterError, match="must be a positive integer"):
            any_store.search_rows(q, k)


def test_a_store_missing_a_contract_method_cannot_be_built():
    from langchain_embcompare.stores.base import EmbStore

    class Partial(EmbStore):
        def documents_at(self, rows):  # noqa: ANN001, ANN201
            return []

    with pytest.raises(TypeError, match="_search"):
        Partial()
