"""The Redis store's lean query path (issue 19): ``search_vectors`` turns the FT.SEARCH replies straight
into (Document, score) hits (no ``_row`` on the wire, no (m, k) arrays, Documents built without
re-validation, a single float32 query checked without numpy). These tests hold it equal to the general
path ``hits(*search_rows(...))`` and to the documents as written, option by option, on a real Redis
(RESP3 and RESP2 clients), and hold the errors of the general path."""

from __future__ import annotations

import copy
import json
import pickle
import uuid

import numpy as np
import pytest
import redis
from langchain_core.documents import Document
from langchain_core.embeddings import DeterministicFakeEmbedding
from redisvl.query.filter import Tag

from langchain_embcompare.errors import (
    DimensionMismatchError,
    InvalidParameterError,
    InvalidVectorError,
)
from langchain_embcompare.matryoshka import MatryoshkaEmbeddings, VectorSpace
from langchain_embcompare.stores.base import EmbStore
from langchain_embcompare.stores.redis import RedisIndexSpec, RedisVectorStore
from langchain_embcompare.stores.redis_io import (
    FAST_DOCUMENTS,
    _json_value,
    make_document,
    raw_document,
    single_query_bytes,
)

N, D = 120, 16
GENRES = ["news", "sport", "science"]


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, list[Document], np.ndarray]:
    rng = np.random.default_rng(7)
    x = rng.standard_normal((N, D)).astype(np.float32)
    docs = [
        Document(
            id=f"doc-{i}",
            page_content=f"document {i} \u00e9t\u00e9 \u2603 about {GENRES[i % 3]}",  # non-ASCII text survives the byte path
            metadata={"genre": GENRES[i % 3], "year": 1990 + i % 30, "nested": {"tags": [i, "t"]}, "score": None},
        )
        for i in range(N)
    ]
    q = rng.standard_normal((4, D)).astype(np.float32)
    return x, docs, q


def _store(url: str, client: redis.Redis | None = None, **spec_kw) -> RedisVectorStore:
    spec_kw.setdefault("metadata_schema", {"genre": "tag", "year": "numeric"})
    spec = RedisIndexSpec(f"qp_{uuid.uuid4().hex[:10]}", **spec_kw)
    emb = MatryoshkaEmbeddings(DeterministicFakeEmbedding(size=D), cache_dir=None)
    return RedisVectorStore(emb, spec, url, space=VectorSpace("fake-model", D), client=client)


# ------------------------------------------------------------------ no server


def test_make_document_equals_the_validated_document():
    assert FAST_DOCUMENTS, "with the pinned pydantic / langchain-core the unvalidated builder must pass its check"
    meta = {"a": [1, {"b": None}], "c": "x"}
    fast, slow = make_document("id-1", "text \u2603", meta), Document(id="id-1", page_content="text \u2603", metadata=meta)
    assert type(fast) is Document and fast == slow
    assert list(fast.__dict__) == list(slow.__dict__) and fast.type == "Document"
    assert fast.model_fields_set == slow.model_fields_set == {"id", "page_content", "metadata"}
    assert repr(fast) == repr(slow) and fast.model_dump_json() == slow.model_dump_json()
    assert pickle.loads(pickle.dumps(fast)) == slow and copy.deepcopy(fast) == slow
    # each Document owns its fields set: changing one leaves the next untouched
    fast.page_content = "changed"
    assert make_document("id-2", "t", {}).model_fields_set == {"id", "page_content", "metadata"}


def test_raw_document_json_edge_cases():
    assert raw_document((b"i", b"t", b'{"k": [1, 2]}')) == Document(id="i", page_content="t", metadata={"k": [1, 2]})
    assert _json_value(' {"a": 1} ') == {"a": 1}  # whitespace: the json.loads fallback
    assert _json_value('{"a": 1}') == {"a": 1}
    with pytest.raises(json.JSONDecodeError):
        _json_value('{"a": 1} x')
    with pytest.raises(json.JSONDecodeError):
        _json_value("nope")
    with pytest.raises(ValueError):  # metadata that is not an object: the validated constructor refuses it
        raw_document((b"i", b"t", b"[1, 2]"))


def test_single_query_bytes_takes_only_finite_float32_vectors():
    v = np.linspace(-1, 1, D, dtype=np.float32)
    assert single_query_bytes(v[None, :], D) == v.tobytes() == single_query_bytes(v, D)
    assert single_query_bytes(np.asfortranarray(v[None, :]), D) == v.tobytes()
    big = v.copy()
    big[3] = 1.9 * 2.0**126  # finite and below 2**127: still the fast path
    assert single_query_bytes(big, D) == big.tobytes()
    for bad in (np.nan, np.inf, -np.inf, 2.0**127, -3e38):  # non-finite or huge: the general path decides
        w = v.copy()
        w[5] = bad
        assert single_query_bytes(w, D) is None
    assert single_query_bytes(v.astype(np.float64), D) is None
    assert single_query_bytes(v.astype(">f4"), D) is None  # not native byte order
    assert single_query_bytes(v.tolist(), D) is None
    assert single_query_bytes(np.stack([v, v]), D) is None
    assert single_query_bytes(v[None, :8], D) is None
    assert single_query_bytes(v.reshape(2, 8), D) is None
    assert single_query_bytes(v.reshape(1, 1, D), D) is None


# ------------------------------------------------------------------ on a real Redis


@pytest.mark.parametrize("metric", ["cosine", "ip", "l2"])
@pytest.mark.parametrize("protocol", [3, 2])
def test_search_vectors_equals_the_general_path(redis_url, data, metric, protocol):
    x, docs, q = data
    store = _store(redis_url, client=redis.Redis.from_url(redis_url, protocol=protocol), kind="flat", metric=metric)
    try:
        ids = store.upsert_vectors(x, docs)
        rows = store.rows_of(ids)
        store.set_cluster_labels(rows, np.arange(N) % 5)
        by_id = {d.id: d for d in docs}
        cases = [
            {},
            {"filter": {"genre": "news"}},
            {"filter": Tag("genre") == "sport"},
            {"filter": "@genre:{science}"},
            {"clusters": [1, 3]},
            {"filter": {"genre": "news"}, "clusters": [2]},
            {"candidate_rows": rows[::7]},
            {"filter": {"genre": {"$in": []}}},  # matches nothing: no query, no hits
            {"clusters": []},
        ]
        queries = [q[:1], q[0], q, q[:1].astype(np.float64), q[:1].tolist()]
        for kw in cases:
            for qq in queries:
                fast = store.search_vectors(qq, 7, **kw)
                general = EmbStore.search_vectors(store, qq, 7, **kw)  # hits(*search_rows(...))
                assert fast == general, (kw, np.shape(qq))
                assert len(fast) == (len(qq) if np.ndim(qq) == 2 else 1)
                for hits in fast:
                    assert [s for _, s in hits] == sorted((s for _, s in hits), reverse=True)
                    for d, s in hits:
                        assert type(d) is Document and type(s) is float
                        assert d == by_id[d.id] and d.model_fields_set == by_id[d.id].model_fields_set
        assert store.search_vectors(q[:1], 7, filter={"genre": {"$in": []}}) == [[]]
        # the exact scores of the general path (float32), on the package convention
        s, r = store.search_rows(q[:1], 7)
        fast = store.search_vectors(q[:1], 7)[0]
        assert [d.id for d, _ in fast] == [ids[int(np.flatnonzero(rows == x_)[0])] for x_ in r[0]]
        assert [sc for _, sc in fast] == s[0].tolist()
    finally:
        store.drop()


def test_returned_documents_are_fresh_objects(redis_url, data):
    x, docs, q = data
    store = _store(redis_url)
    try:
        store.upsert_vectors(x, docs)
        first = store.search_vectors(q[:1], 3)[0]
        first[0][0].metadata["genre"] = "mutated"
        first[0][0].page_content = "mutated"
        again = store.search_vectors(q[:1], 3)[0]
        assert again[0][0].metadata["genre"] in GENRES and again[0][0].page_content.startswith("document")
        assert again[0][0] is not first[0][0]
        # a batch that finds the same document twice shares one Document object (as the general path)
        both = store.search_vectors(np.vstack([q[:1], q[:1]]), 3)
        assert both[0][0][0] is both[1][0][0]
        # LangChain's surface rides on the same path
        hits = store.similarity_search_with_score_by_vector(q[0].tolist(), k=3)
        assert [(d.id, s) for d, s in hits] == [(d.id, s) for d, s in again]
    finally:
        store.drop()


def test_fast_path_keeps_the_errors_and_other_dtypes(redis_url, data):
    x, docs, q = data
    store = _store(redis_url, dtype="float16")
    try:
        store.upsert_vectors(x, docs)
        # a float16 index: the general path converts the float32 query; same answer as search_rows
        assert store.search_vectors(q[:1], 5) == EmbStore.search_vectors(store, q[:1], 5)
        bad = q[:1].copy()
        bad[0, 2] = np.nan
        with pytest.raises(InvalidVectorError):
            store.search_vectors(bad, 5)
        bad[0, 2] = np.inf
        with pytest.raises(InvalidVectorError):
            store.search_vectors(bad, 5)
        with pytest.raises(DimensionMismatchError):
            store.search_vectors(np.zeros((1, D + 1), np.float32), 5)
        for k in (0, -1, 2.5):
            with pytest.raises(InvalidParameterError, match="positive integer"):
                store.search_vectors(q[:1], k)
        with pytest.raises(InvalidParameterError, match="unknown options"):
            store.search_vectors(q[:1], 5, nprobe=3)
        with pytest.raises(InvalidParameterError, match="unknown options.*candidate_ids"):  # one name: candidate_rows
            store.search_vectors(q[:1], 5, candidate_ids=store.rows_of([docs[0].id]))
        got = store.search_vectors(q[:1], 5, candidate_rows=store.rows_of([docs[0].id, docs[1].id]))
        assert {d.id for d, _ in got[0]} == {docs[0].id, docs[1].id}
    finally:
        store.drop()
