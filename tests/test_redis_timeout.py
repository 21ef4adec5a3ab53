"""A query that runs past a Redis time limit must never come back as a plausible partial answer.

RediSearch's defaults (``TIMEOUT 500`` ms, ``ON_TIMEOUT RETURN``) answer a query that runs too long with
the hits found so far and only a warning: on a loaded machine that made
``test_lexical.py::test_redis_bm25std_equals_its_formula_by_hand`` see BM25 scores of 1.43 / 1.75 for a
document whose score is 2.50. Every query the package sends now carries its own ``TIMEOUT``: ``0`` (the
default, no limit: always whole), or a positive limit that raises ``StoreTimeoutError`` when hit.

The integration tests make the condition real instead of waiting for a loaded machine: a private server
with ``TIMEOUT 1`` (ms) and an index of 60,000 documents, where a plain query does time out (checked, so
the tests could fail), while the store's queries still come back whole.
"""

from __future__ import annotations

import uuid

import numpy as np
import pytest
import redis
from langchain_core.documents import Document
from redis_fixtures import load_redis_server_module

from langchain_embcompare.errors import InvalidParameterError, StoreConnectionError, StoreTimeoutError
from langchain_embcompare.retrievers.lexical import StoreFullTextRetriever
from langchain_embcompare.stores.redis import RedisIndexSpec, RedisVectorStore
from langchain_embcompare.stores.redis_io import check_complete, timeout_args

N_FILL, DIM = 60_000, 16


def test_timeout_args_are_always_sent():
    assert timeout_args(0) == [b"TIMEOUT", b"0"]
    assert timeout_args(250) == [b"TIMEOUT", b"250"]


def test_check_complete_raises_on_a_timeout_warning():
    whole = {b"total_results": 3, b"results": [], b"warning": []}
    partial = {b"total_results": 1, b"results": [], b"warning": [b"Timeout limit was reached"]}
    check_complete([whole], 0, "kb")
    check_complete([whole, whole], 50, "kb")
    with pytest.raises(StoreTimeoutError, match=r"'kb'.*50 ms") as err:
        check_complete([whole, partial], 50, "kb")
    assert isinstance(err.value, StoreConnectionError) and isinstance(err.value, TimeoutError)


def test_a_positive_limit_needs_resp3():
    resp2 = [1, b"kb:doc:a", [b"content", b"x"]]
    check_complete([resp2], 0, "kb")  # no limit: nothing to detect
    with pytest.raises(InvalidParameterError, match="protocol=3"):
        check_complete([resp2], 10, "kb")


def test_query_timeout_must_be_a_non_negative_whole_number(redis_url, hash_embeddings):
    for bad in (-1, 1.5, True, "10"):
        with pytest.raises(InvalidParameterError, match="query_timeout_ms"):
            RedisVectorStore(hash_embeddings, RedisIndexSpec(f"to_{uuid.uuid4().hex[:8]}"), redis_url, query_timeout_ms=bad)


@pytest.fixture(scope="module")
def slow_server():
    """A private server whose own query limit is 1 ms (the session's shared server keeps its defaults)."""
    mod = load_redis_server_module()
    srv = mod.RedisServer().start()
    redis.Redis.from_url(srv.url).execute_command("FT.CONFIG", "SET", "TIMEOUT", "1")
    yield srv
    srv.cleanup()


@pytest.fixture(scope="module")
def big_store(slow_server):
    """A store over the 1 ms server: 4 real documents plus 60,000 filler hashes written raw (fast)."""
    from conftest import HashEmbeddings

    url = slow_server.url + "?protocol=3"
    store = RedisVectorStore(HashEmbeddings(dim=DIM), RedisIndexSpec(f"slow_{uuid.uuid4().hex[:8]}"), url)
    store.add_documents([
        Document(page_content="apple banana apple", id="doc0"),
        Document(page_content="banana cherry", id="doc1"),
        Document(page_content="apple", id="doc3"),
    ])
    rng = np.random.default_rng(0)
    vecs = rng.standard_normal((N_FILL, DIM)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    raw = redis.Redis.from_url(slow_server.url)
    pipe = raw.pipeline(transaction=False)
    for i in range(N_FILL):
        pipe.hset(f"{store.spec.prefix}:f{i}", mapping={
            "_id": f"f{i}", "_row": 1000 + i, "content": f"apple banana filler{i % 97}", "_metadata": "{}",
            "vector": vecs[i].tobytes(),
        })
        if i % 10_000 == 9_999:
            pipe.execute()
    pipe.execute()
    yield store
    store.drop()


def _server_limit(url: str, ms: int) -> None:
    redis.Redis.from_url(url).execute_command("FT.CONFIG", "SET", "TIMEOUT", str(ms))


@pytest.mark.integration
def test_the_condition_is_real(big_store, slow_server):
    """A query sent without its own TIMEOUT does time out here (else the tests below prove nothing)."""
    c = redis.Redis.from_url(slow_server.url, protocol=3)
    reply = c.execute_command(
        "FT.SEARCH", big_store.spec.index_name, "@content:(apple|banana)", "WITHSCORES", "SCORER", "BM25STD",
        "LIMIT", "0", "10", "DIALECT", "2",
    )
    assert any(b"Timeout" in w for w in reply[b"warning"]), reply[b"warning"]


@pytest.mark.integration
def test_full_text_is_whole_despite_the_server_limit(big_store, slow_server):
    got = StoreFullTextRetriever.from_store(big_store, k=10).search_with_scores(["apple banana"])[0]
    _server_limit(slow_server.url, 0)  # no server limit at all: the reference answer
    try:
        want = StoreFullTextRetriever.from_store(big_store, k=10).search_with_scores(["apple banana"])[0]
    finally:
        _server_limit(slow_server.url, 1)
    assert [(d.id, round(s, 9)) for d, s in got] == [(d.id, round(s, 9)) for d, s in want]
    assert len(got) == 10


@pytest.mark.integration
def test_vector_search_is_whole_despite_the_server_limit(big_store, slow_server):
    q = np.random.default_rng(1).standard_normal((3, DIM)).astype(np.float32)
    got = big_store.search_vectors(q, k=10)
    got_rows = big_store.search_rows(q, k=10)
    _server_limit(slow_server.url, 0)
    try:
        want = big_store.search_vectors(q, k=10)
    finally:
        _server_limit(slow_server.url, 1)
    assert [[(d.id, s) for d, s in hits] for hits in got] == [[(d.id, s) for d, s in hits] for hits in want]
    assert (got_rows[1] >= 0).all()


@pytest.mark.integration
def test_a_limit_that_is_hit_raises(big_store, slow_server):
    from conftest import HashEmbeddings

    url = slow_server.url + "?protocol=3"
    limited = RedisVectorStore(HashEmbeddings(dim=DIM), big_store.spec, url, query_timeout_ms=1)
    with pytest.raises(StoreTimeoutError, match="1 ms"):
        StoreFullTextRetriever.from_store(limited, k=10).search_with_scores(["apple banana"])
