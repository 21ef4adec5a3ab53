"""Fault survival for real: SIGKILL and restart the Redis server in the middle of an ingest (AOF
persistence on, as production runs) and check the final count equals the corpus, with no duplicates."""

from __future__ import annotations

import logging
import threading
import time

import numpy as np
import pytest
import redis
from langchain_core.documents import Document
from langchain_core.embeddings import DeterministicFakeEmbedding
from redis_fixtures import load_redis_server_module

from langchain_embcompare.errors import StoreConnectionError
from langchain_embcompare.matryoshka import MatryoshkaEmbeddings, VectorSpace
from langchain_embcompare.stores.redis import RedisIndexSpec, RedisVectorStore

N, D = 20_000, 8


@pytest.fixture
def own_server():
    """A private server: this test kills it, so it must not be the session's shared one."""
    mod = load_redis_server_module()
    srv = mod.RedisServer(appendonly=True, appendfsync="everysec").start()
    yield srv
    srv.cleanup()


def _corpus() -> tuple[np.ndarray, list[Document]]:
    rng = np.random.default_rng(7)
    x = rng.standard_normal((N, D)).astype(np.float32)
    docs = [Document(id=f"d{i}", page_content=f"text {i}", metadata={"g": str(i % 3)}) for i in range(N)]
    return x, docs


def _keys(url: str, prefix: str) -> int:
    r = redis.Redis.from_url(url)
    return sum(1 for _ in r.scan_iter(f"{prefix}:*", count=5000))


def test_kill_and_restart_mid_ingest(own_server, caplog):
    x, docs = _corpus()
    spec = RedisIndexSpec("faults", kind="flat", metadata_schema={"g": "tag"}, batch_size=100, index_content=False)
    store = RedisVectorStore(MatryoshkaEmbeddings(DeterministicFakeEmbedding(size=D), cache_dir=None), spec, own_server.url, space=VectorSpace("m", D))
    probe = redis.Redis.from_url(own_server.url)
    errors: list[BaseException] = []

    def ingest() -> None:
        try:
            store.upsert_vectors(x, docs)
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    caplog.set_level(logging.WARNING, logger="langchain_embcompare.stores.redis")
    worker = threading.Thread(target=ingest)
    worker.start()
    deadline = time.monotonic() + 30
    while probe.dbsize() < N // 5 and time.monotonic() < deadline:
        time.sleep(0.002)
    written_before_kill = probe.dbsize()
    own_server.kill()
    killed_mid_ingest = worker.is_alive()
    # Down longer than redis-py's own retries last (~0.7 s): the store's batch-level backoff must carry it.
    time.sleep(2.0)
    own_server.restart()
    worker.join(120)

    assert killed_mid_ingest, "the kill must land while the ingest is still running"
    assert 0 < written_before_kill < N
    assert not errors, f"ingest failed instead of retrying: {errors!r}"
    assert any("retry" in r.getMessage() for r in caplog.records), "no batch was retried: the fault did not bite"
    # The index survived the restart (AOF) and holds every document exactly once.
    reopened = RedisVectorStore(MatryoshkaEmbeddings(DeterministicFakeEmbedding(size=D), cache_dir=None), spec, own_server.url, space=VectorSpace("m", D))
    deadline = time.monotonic() + 30
    while reopened.count() < N and time.monotonic() < deadline:
        time.sleep(0.05)
    assert reopened.count() == N
    assert _keys(own_server.url, spec.prefix) == N
    # Every document has exactly one row, and the row map agrees with the documents.
    rows = reopened.rows_of([d.id for d in docs])
    assert (rows >= 0).all() and len(np.unique(rows)) == N
    np.testing.assert_array_equal(reopened.all_rows(), np.sort(rows))
    # Resuming (e.g. after the process itself died) writes nothing new and keeps one copy each.
    reopened.upsert_vectors(x, docs, skip_existing=True)
    assert reopened.count() == N and _keys(own_server.url, spec.prefix) == N
    np.testing.assert_array_equal(reopened.rows_of([d.id for d in docs]), rows)
    hits = reopened.search_vectors(x[:3], 1)
    assert [h[0][0].id for h in hits] == ["d0", "d1", "d2"]
    # add_documents resumes the same way: only the missing documents are embedded and written.
    reopened.delete(["d5", "d7"])
    reopened.add_documents(docs[:10], skip_existing=True)
    assert reopened.count() == N and reopened.rows_of(["d4"])[0] == rows[4] and reopened.rows_of(["d5"])[0] > rows.max()


def test_dropped_connections_are_retried(own_server):
    x, docs = _corpus()
    spec = RedisIndexSpec("drops", batch_size=200, index_content=False)
    store = RedisVectorStore(MatryoshkaEmbeddings(DeterministicFakeEmbedding(size=D), cache_dir=None), spec, own_server.url, space=VectorSpace("m", D))
    admin = redis.Redis.from_url(own_server.url)
    before = int(admin.info("stats")["total_connections_received"])
    # Drop every client connection (but the admin's) right before every 5th batch is sent (each batch
    # is one EVALSHA of the upsert script): a deterministic schedule, so the test does not depend on
    # how fast this machine ingests.
    opened = store.client.evalsha
    batches = []

    def evalsha_with_drops(*args, **kwargs):
        batches.append(1)
        if len(batches) % 5 == 0:
            admin.client_kill_filter(_type="normal", skipme=True)
        return opened(*args, **kwargs)

    store.client.evalsha = evalsha_with_drops
    store.upsert_vectors(x[:4000], docs[:4000])
    store.client.evalsha = opened
    assert len(batches) >= 20
    reconnects = int(admin.info("stats")["total_connections_received"]) - before
    assert reconnects >= 3, f"connections were not really dropped ({reconnects} reconnects)"
    assert store.count() == 4000


def test_server_that_stays_down_fails_with_url(own_server):
    x, docs = _corpus()
    spec = RedisIndexSpec("down", index_content=False)
    store = RedisVectorStore(
        MatryoshkaEmbeddings(DeterministicFakeEmbedding(size=D), cache_dir=None), spec, own_server.url, space=VectorSpace("m", D), batch_retries=2, retries=1
    )
    own_server.kill()
    with pytest.raises(StoreConnectionError, match=own_server.url.split("//")[1]):
        store.upsert_vectors(x[:10], docs[:10])
    with pytest.raises(StoreConnectionError, match="docker run"):
        store.search_vectors(x[:1], 1)
