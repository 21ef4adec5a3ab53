"""Issue 12 on Redis: the drop-in faults, each with the value it must have (real server, fixture
``redis_url``), and LangChain's indexing API (record manager, incremental and full cleanup) on it."""

from __future__ import annotations

import uuid

import numpy as np
import pytest
from langchain_core.documents import Document
from langchain_core.embeddings import DeterministicFakeEmbedding
from langchain_core.indexing import InMemoryRecordManager, index

from langchain_embcompare.errors import InvalidParameterError
from langchain_embcompare.matryoshka import MatryoshkaEmbeddings, VectorSpace
from langchain_embcompare.stores.redis import RedisIndexSpec, RedisVectorStore

D = 8


def _store(url: str, **spec_kw) -> RedisVectorStore:
    emb = MatryoshkaEmbeddings(DeterministicFakeEmbedding(size=D), cache_dir=None)
    spec = RedisIndexSpec(f"t_{uuid.uuid4().hex[:10]}", **spec_kw)
    return RedisVectorStore(emb, spec, url, space=VectorSpace("fake-model", D))


@pytest.fixture
def store(redis_url):
    s = _store(redis_url, metadata_schema={"place": "tag", "year": "numeric", "source": "tag"})
    yield s
    s.drop()


class _NoServer:
    def __getattr__(self, name):
        raise AssertionError(f"a query went to the server ({name})")


# (a) one id rule: ids[i], else Document.id, else metadata["doc_id"], else a fresh UUID4


def test_same_text_different_metadata_stays_two_documents(store):
    ids = store.add_documents([
        Document(page_content="same text", metadata={"place": "Paris", "year": 2001}),
        Document(page_content="same text", metadata={"place": "Rome", "year": 2002}),
    ])
    assert len(set(ids)) == 2 and store.count() == 2
    got = store.similarity_search("same text", k=5)
    assert sorted(d.metadata["place"] for d in got) == ["Paris", "Rome"]
    assert [d.metadata["year"] for d in store.similarity_search("same text", k=5, filter={"place": "Rome"})] == [2002]


def test_id_precedence(store):
    docs = [
        Document(page_content="a", id="from-doc", metadata={"doc_id": "from-meta"}),
        Document(page_content="b", metadata={"doc_id": "from-meta-b"}),
        Document(page_content="c", id="from-doc-c"),
        Document(page_content="d"),
    ]
    ids = store.add_documents(docs, ids=["given", None, None, None])
    assert ids[:3] == ["given", "from-meta-b", "from-doc-c"]
    assert len(ids[3]) == 32 and uuid.UUID(ids[3]).version == 4
    assert [d.id for d in store.get_by_ids(ids)] == ids
    assert docs[3].id is None, "the caller's documents are not mutated"


# (b) a tag value is one exact value, separators inside it are data


def test_tag_values_with_separators_match_exactly(store):
    store.add_documents([
        Document(page_content="1", id="cc", metadata={"place": "City, Country"}),
        Document(page_content="2", id="c", metadata={"place": "City"}),
        Document(page_content="3", id="pipe", metadata={"place": "a|b"}),
        Document(page_content="4", id="semi", metadata={"place": "x;y"}),
        Document(page_content="5", id="list", metadata={"place": ["Lyon", "Nice, France"]}),
    ])

    def found(filt):
        return sorted(d.id for d in store.similarity_search("q", k=10, filter=filt))

    assert found({"place": "City, Country"}) == ["cc"]
    assert found({"place": "City"}) == ["c"]
    assert found({"place": "Country"}) == []
    assert found({"place": "a|b"}) == ["pipe"]
    assert found({"place": "a"}) == []
    assert found({"place": "x;y"}) == ["semi"]
    assert found({"place": "Nice, France"}) == ["list"] == found({"place": "lyon"})  # a list holds several tags
    assert found({"place": "city, COUNTRY"}) == ["cc"]  # case-insensitive, as the FAISS evaluator
    assert found({"place": {"$in": ["City", "x;y"]}}) == ["c", "semi"]
    assert found({"place": {"$nin": ["City, Country", "a|b"]}}) == ["c", "list", "semi"]
    with pytest.raises(InvalidParameterError, match="x1f"):
        store.add_documents([Document(page_content="6", metadata={"place": "bad\x1fvalue"})])


# (c) $in: [] matches nothing, without a query


def test_in_empty_matches_nothing_without_a_query(store):
    store.add_documents([Document(page_content="a", metadata={"place": "Paris"})])
    q = store.embedding.encode_queries(["a"])
    client = store.client
    store.client = _NoServer()
    try:
        assert store.similarity_search("a", k=3, filter={"place": {"$in": []}}) == []
        assert store.similarity_search("a", k=3, filter={"$and": [{"place": {"$in": []}}, {"year": {"$gt": 1}}]}) == []
        s, r = store.search_rows(q, 3, filter={"place": {"$in": []}})
    finally:
        store.client = client
    assert (r == -1).all() and np.isneginf(s).all() and s.shape == (1, 3)
    assert [d.page_content for d in store.similarity_search("a", k=3, filter={"place": {"$nin": []}})] == ["a"]


# (d) an empty index


def test_empty_index_returns_nothing(store):
    assert store.similarity_search("anything", k=4) == []
    assert store.similarity_search("anything", k=4, filter={"place": "Paris"}) == []
    s, r = store.search_rows(store.embedding.encode_queries(["a", "b"]), 4)
    assert s.shape == r.shape == (2, 4) and (r == -1).all() and np.isneginf(s).all()
    assert store.count() == 0 and store.all_rows().tolist() == []
    store.add_documents([Document(page_content="x", id="x")])
    store.delete()  # every document, the index stays
    assert store.similarity_search("x", k=4) == [] and store.count() == 0 and store.all_rows().tolist() == []
    assert store.max_marginal_relevance_search("x", k=2) == []


# (e) an existing id is updated (text, metadata, vector); every id passed comes back


def test_add_with_existing_id_updates_everything(store):
    store.add_documents([Document(page_content="old text", id="d1", metadata={"place": "Paris", "year": 1})])
    row = store.rows_of(["d1"])[0]
    ids = store.add_documents([
        Document(page_content="new text", id="d1", metadata={"place": "Rome", "year": 2}),
        Document(page_content="other", id="d2"),
        Document(page_content="newest text", id="d1", metadata={"place": "Oslo", "year": 3}),
    ])
    assert ids == ["d1", "d2", "d1"]  # every id passed, in order; the last d1 wins
    assert store.count() == 2
    [d1] = store.get_by_ids(["d1"])
    assert (d1.page_content, d1.metadata) == ("newest text", {"place": "Oslo", "year": 3})
    want = store.embedding.encode_documents(["newest text"])
    np.testing.assert_allclose(store.vectors_at([row]), want / np.linalg.norm(want), atol=1e-6)
    top = store.similarity_search_with_score("newest text", k=1)[0]
    assert top[0].id == "d1" and top[1] == pytest.approx(1.0, abs=1e-5)
    assert store.similarity_search("x", k=5, filter={"place": "Paris"}) == []  # the old tag is gone
    assert [d.id for d in store.similarity_search("x", k=5, filter={"year": {"$gte": 3}})] == ["d1"]
    # a metadata key the new version no longer has is no longer indexed; the cluster label is kept
    store.set_cluster_labels([row], [7])
    store.add_documents([Document(page_content="no place", id="d1", metadata={"year": 4})])
    assert store.similarity_search("x", k=5, filter={"place": "Oslo"}) == []
    assert store.get_by_ids(["d1"])[0].metadata == {"year": 4}
    assert store.rows_of(["d1"]).tolist() == [row] and store.cluster_labels([row]).tolist() == [7]


# (f) deleting unknown ids is not an error


def test_delete_unknown_ids_is_not_an_error(store):
    store.add_documents([Document(page_content="a", id="a")])
    assert store.delete(["nope"]) is True
    assert store.delete(["nope", "a", "also-nope"]) is True
    assert store.delete([]) is True
    assert store.count() == 0 and store.get_by_ids(["a"]) == []


# LangChain's indexing API on Redis


def test_langchain_indexing_api_incremental_and_full(store):
    rm = InMemoryRecordManager(namespace=f"redis/{store.spec.index_name}")
    rm.create_schema()
    v1 = [
        Document(page_content="alpha one", metadata={"source": "a.txt"}),
        Document(page_content="alpha two", metadata={"source": "a.txt"}),
        Document(page_content="beta one", metadata={"source": "b.txt"}),
    ]
    res = index(v1, rm, store, cleanup="incremental", source_id_key="source", key_encoder="sha256")
    assert (res["num_added"], res["num_deleted"]) == (3, 0) and store.count() == 3
    res = index(v1, rm, store, cleanup="incremental", source_id_key="source", key_encoder="sha256")
    assert (res["num_added"], res["num_skipped"]) == (0, 3) and store.count() == 3

    # a.txt changed: its old chunks go, the new ones come, b.txt is untouched
    v2 = [Document(page_content="alpha one, revised", metadata={"source": "a.txt"}), v1[2]]
    res = index(v2, rm, store, cleanup="incremental", source_id_key="source", key_encoder="sha256")
    assert (res["num_added"], res["num_deleted"], res["num_skipped"]) == (1, 2, 1)
    texts = sorted(d.page_content for d in store.similarity_search("alpha", k=10))
    assert texts == ["alpha one, revised", "beta one"] and store.count() == 2
    assert len(store.all_rows()) == 2

    # full: whatever the source no longer yields is removed
    res = index([v2[0]], rm, store, cleanup="full", source_id_key="source", key_encoder="sha256")
    assert res["num_deleted"] == 1
    assert [d.page_content for d in store.similarity_search("alpha", k=10)] == ["alpha one, revised"]
    assert store.count() == 1 and sorted(rm.list_keys()) == sorted(d.id for d in store.similarity_search("x", k=10))
