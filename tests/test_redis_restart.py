"""A Redis server restart in the middle of an ingest and in the middle of a query batch, on a private
real server with AOF persistence (as production runs): the client reconnects with bounded, backed-off
retries; the ingest ends with every document stored once with its own content; each query batch either
answers right or raises a ``StoreConnectionError`` subclass (``tests/test_redis_faults.py`` covers a
SIGKILL mid-ingest and dropped connections)."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
import redis
from langchain_core.documents import Document
from langchain_core.embeddings import DeterministicFakeEmbedding
from redis_fixtures import load_redis_server_module

from langchain_embcompare.errors import StoreConnectionError, StoreUnreachableError
from langchain_embcompare.matryoshka import MatryoshkaEmbeddings, VectorSpace
from langchain_embcompare.stores.redis import RedisIndexSpec, RedisVectorStore

N, D = 4000, 8


@pytest.fixture
def own_server():
    """A private server: these tests restart it, so it must not be the session's shared one."""
    srv = load_redis_server_module().RedisServer(appendonly=True, appendfsync="everysec").start()
    yield srv
    srv.cleanup()


def _store(url: str, **kwargs) -> RedisVectorStore:
    spec = RedisIndexSpec("restart", metadata_schema={"g": "tag"}, batch_size=100, index_content=False)
    emb = MatryoshkaEmbeddings(DeterministicFakeEmbedding(size=D), cache_dir=None)
    return RedisVectorStore(emb, spec, url, space=VectorSpace("fake", D), **kwargs)


def _corpus() -> tuple[np.ndarray, list[Document]]:
    x = np.random.default_rng(11).standard_normal((N, D)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    docs = [Document(id=f"d{i}", page_content=f"text {i}", metadata={"g": str(i % 5), "i": i}) for i in range(N)]
    return x, docs


def test_restart_mid_ingest_loses_and_duplicates_nothing(own_server):
    x, docs = _corpus()
    store = _store(own_server.url)
    probe = redis.Redis.from_url(own_server.url)
    errors: list[BaseException] = []

    def ingest() -> None:
        try:
            store.upsert_vectors(x, docs)
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    worker = threading.Thread(target=ingest)
    worker.start()
    deadline = time.monotonic() + 30
    while probe.dbsize() < N // 4 and time.monotonic() < deadline:
        time.sleep(0.002)
    own_server.stop()  # graceful SHUTDOWN in the middle of the ingest
    stopped_mid_ingest = worker.is_alive()
    time.sleep(1.0)  # down longer than redis-py's own retries last: the batch backoff must carry it
    own_server.restart()
    worker.join(60)

    assert stopped_mid_ingest, "the restart must land while the ingest is still running"
    assert not errors, f"ingest failed instead of reconnecting: {errors!r}"
    assert store.count() == N
    ids = [d.id for d in docs]
    rows = store.rows_of(ids)
    assert (rows >= 0).all() and len(np.unique(rows)) == N
    assert sum(1 for _ in probe.scan_iter("restart:doc:*", count=5000)) == N
    got = store.get_by_ids(ids)
    assert [(d.id, d.page_content, d.metadata) for d in got] == [(d.id, d.page_content, d.metadata) for d in docs]
    np.testing.assert_allclose(store.vectors_at(rows), x, rtol=0, atol=1e-6)  # its own vector (re-normalised: 1 ulp)
    # Running the whole ingest again (a crashed job restarted) rewrites nothing and adds nothing.
    store.upsert_vectors(x, docs)
    assert store.count() == N
    np.testing.assert_array_equal(store.rows_of(ids), rows)


def test_restart_mid_query_batches_answers_right_or_raises(own_server):
    x, docs = _corpus()
    store = _store(own_server.url, retries=2)
    store.upsert_vectors(x[:1000], docs[:1000])
    queries = x[:50]
    _, expected = store.search_rows(queries, 3)
    assert (expected[:, 0] == store.rows_of([f"d{i}" for i in range(50)])).all()
    outcomes: list[tuple[str, float]] = []
    stop = threading.Event()

    def query_loop() -> None:
        while not stop.is_set():
            t0 = time.monotonic()
            try:
                _, rows = store.search_rows(queries, 3)
                outcomes.append(("right" if np.array_equal(rows, expected) else f"wrong {rows[:2]}", time.monotonic() - t0))
            except StoreConnectionError as exc:
                outcomes.append((type(exc).__name__, time.monotonic() - t0))
            except BaseException as exc:  # noqa: BLE001 - any other error fails the test
                outcomes.append((f"unexpected {exc!r}", time.monotonic() - t0))

    worker = threading.Thread(target=query_loop)
    worker.start()
    time.sleep(0.2)
    own_server.kill()
    time.sleep(1.0)  # longer than redis-py's 2 retries with backoff: some batches must fail
    own_server.restart()
    time.sleep(0.5)
    stop.set()
    worker.join(30)

    kinds = {k for k, _ in outcomes}
    assert kinds <= {"right", "StoreUnreachableError"}, kinds
    assert "StoreUnreachableError" in kinds, "no batch met the restart"
    assert outcomes[-1][0] == "right", "queries must succeed again once the server is back"
    assert max(t for k, t in outcomes if k != "right") < 1.0, "a failing batch must give up within its bounded retries"
    # After the restart (AOF), the index answers as before.
    _, rows = store.search_rows(queries, 3)
    np.testing.assert_array_equal(rows, expected)
    with pytest.raises(StoreUnreachableError, match="Cannot reach Redis"):
        own_server.kill()
        store.search_rows(queries, 3)
