"""Concurrent readers of a FAISS store: the answers a web server's request threads (or asyncio tasks) get.

What ``benchmarks/bench_concurrency.py`` measures for speed, checked here for correctness:

* N threads searching one store at once (flat and HNSW index, the store's search, the plain retriever,
  the funnel and the cluster prefilter) get exactly the single-thread results;
* readers running beside a writer that keeps replacing the same documents never see a half-written
  document: text, metadata, vector and score of every hit belong to one version;
* ``ainvoke`` / ``abatch`` from many asyncio tasks give the sync answers;
* the readers-writer lock lets readers overlap (it does not serialise searches) and bumps its write
  counter once per outermost write.

Inputs are generated (Hypothesis): corpus size, dimension, k, number of threads and the vectors.
"""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from langchain_core.documents import Document

from langchain_embcompare.precomputed.embeddings import PrecomputedEmbeddings
from langchain_embcompare.retrievers.cluster import ClusterPrefilterRetriever
from langchain_embcompare.retrievers.funnel import MatryoshkaFunnelRetriever
from langchain_embcompare.stores.base import EmbRetriever
from langchain_embcompare.stores.faiss import FaissVectorStore
from langchain_embcompare.stores.faiss_index import FaissIndexSpec
from langchain_embcompare.stores.locking import ReadWriteLock

FAST = settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def unit(rng: np.random.Generator, n: int, d: int) -> np.ndarray:
    v = rng.standard_normal((n, d)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def make_store(seed: int, n: int, d: int, kind: str = "flat", **spec) -> tuple[FaissVectorStore, np.ndarray, list[str]]:  # noqa: ANN003
    """A FAISS store of n random unit vectors, and 24 query vectors looked up by text."""
    rng = np.random.default_rng(seed)
    x, q = unit(rng, n, d), unit(rng, 24, d)
    texts = [f"query {i}" for i in range(len(q))]
    emb = PrecomputedEmbeddings(x, document_ids=[str(i) for i in range(n)], query_vectors=q, query_texts=texts, model_id="test:random")
    store = FaissVectorStore(emb, FaissIndexSpec(kind=kind, **spec))
    store.upsert_vectors(x, [Document(page_content=f"doc {i}", metadata={"i": i}, id=str(i)) for i in range(n)])
    return store, q, texts


def answers(docs: list[Document]) -> list[tuple[str, float]]:
    return [(d.id, round(float(d.metadata["score"]), 5)) for d in docs]


def in_threads(fn, items: list, threads: int) -> list:  # noqa: ANN001
    """fn(item) for every item, ``threads`` at a time, each item sent by one thread (results in item order)."""
    start = threading.Barrier(threads)

    def first(_: int) -> None:
        start.wait()  # every worker is up before any request: they really run together

    with ThreadPoolExecutor(max_workers=threads) as pool:
        list(pool.map(first, range(threads)))
        return list(pool.map(fn, items))


@FAST
@given(seed=st.integers(0, 2**16), n=st.integers(60, 400), d=st.sampled_from([8, 32, 48]), k=st.integers(1, 12),
       threads=st.integers(2, 8), kind=st.sampled_from(["flat", "hnsw"]))
def test_threads_searching_get_the_single_thread_results(seed, n, d, k, threads, kind):
    store, q, texts = make_store(seed, n, d, kind)
    rows = lambda i: store.search_rows(q[i : i + 1], k)  # noqa: E731
    alone = [rows(i) for i in range(len(q))] * 3
    together = in_threads(rows, list(range(len(q))) * 3, threads)
    for (s1, r1), (s2, r2) in zip(alone, together):
        np.testing.assert_array_equal(r1, r2)
        np.testing.assert_array_equal(s1, s2)
    retriever = EmbRetriever(store=store, k=k)
    sync = [answers(retriever.invoke(t)) for t in texts]
    assert in_threads(lambda t: answers(retriever.invoke(t)), texts, threads) == sync


def retrievers(store: FaissVectorStore, k: int) -> dict:
    cluster = ClusterPrefilterRetriever(store=store, n_clusters=8, k=k, nprobe=3).fit(niter=5)
    return {
        "plain": EmbRetriever(store=store, k=k),
        "funnel": MatryoshkaFunnelRetriever(store=store, shortlist_dim=16, k=k, shortlist=30, rotation="pca"),
        "cluster": cluster,
    }


@pytest.mark.parametrize("name", ["plain", "funnel", "cluster"])
def test_every_retriever_under_threads_and_asyncio_gives_the_sync_answers(name):
    """8 threads calling ``invoke``, 24 tasks awaiting ``ainvoke`` at once, and ``abatch``: the sync answers."""
    store, _, texts = make_store(7, 500, 32, field_kind="hnsw")
    retriever = retrievers(store, 5)[name]
    sync = [answers(retriever.invoke(t)) for t in texts]
    assert all(len(a) == 5 for a in sync)
    assert in_threads(lambda t: answers(retriever.invoke(t)), texts * 2, 8) == sync * 2

    async def tasks() -> tuple[list, list]:
        each = await asyncio.gather(*[retriever.ainvoke(t) for t in texts * 2])
        batched = await retriever.abatch(texts, config={"max_concurrency": 6})
        return each, batched

    each, batched = asyncio.run(tasks())
    assert [answers(d) for d in each] == sync * 2
    assert [answers(d) for d in batched] == sync


@FAST
@given(seed=st.integers(0, 2**16), d=st.sampled_from([8, 16]), kind=st.sampled_from(["flat", "hnsw"]), readers=st.integers(2, 6))
def test_readers_beside_a_writer_never_see_a_half_written_document(seed, d, kind, readers):
    """One writer keeps replacing 40 documents (text, metadata and vector all carry the version); readers
    search meanwhile. Every hit's text, metadata, stored vector and score must belong to ONE version."""
    rng = np.random.default_rng(seed)
    ids = [f"doc-{i}" for i in range(40)]
    versions = 12
    vecs = unit(rng, versions * len(ids), d).reshape(versions, len(ids), d)  # version v of doc i: vecs[v, i]
    q = unit(rng, 8, d)
    emb = PrecomputedEmbeddings(vecs[0], document_ids=ids, model_id="test:random")
    store = FaissVectorStore(emb, FaissIndexSpec(kind=kind))
    store.upsert_vectors(vecs[0], [Document(page_content=f"{i} v0", metadata={"v": 0}, id=i) for i in ids])
    done = threading.Event()

    def write() -> None:
        try:
            for v in range(1, versions):
                half = ids[: len(ids) // 2] if v % 2 else ids[len(ids) // 2 :]
                pos = [ids.index(i) for i in half]
                store.upsert_vectors(vecs[v, pos], [Document(page_content=f"{i} v{v}", metadata={"v": v}, id=i) for i in half])
        finally:
            done.set()

    def read(r: int) -> int:
        seen = 0
        while not done.is_set() or seen < 5:
            qi = q[seen % len(q)]
            with store.reading():
                scores, rows = store.search_rows(qi[None, :], 10)
                keep = rows[0] >= 0
                got = store.documents_at(rows[0][keep])
                stored = store.vectors_at(rows[0][keep])
            for doc, s, vec in zip(got, scores[0][keep], stored):
                v = doc.metadata["v"]
                assert doc.page_content == f"{doc.id} v{v}"
                own = vecs[v, ids.index(doc.id)]
                np.testing.assert_allclose(vec, own, atol=1e-6)
                assert abs(float(s) - float(own @ qi)) < 1e-4
            seen += 1
        return seen

    with ThreadPoolExecutor(max_workers=readers + 1) as pool:
        futures = [pool.submit(read, r) for r in range(readers)]
        pool.submit(write).result()
        assert all(f.result() >= 5 for f in futures)
    assert store.count() == len(ids)


def test_readers_overlap_and_a_writer_waits_for_them():
    """Two readers hold the lock at the same time (each waits inside its read for the other to arrive:
    a lock that serialised readers would time out); a writer enters only after both left; the write
    counter counts outermost writes."""
    lock = ReadWriteLock()
    inside = threading.Barrier(2, timeout=5)
    order: list[str] = []

    def reader(name: str) -> None:
        with lock.read():
            inside.wait()  # both readers inside at once
            order.append(name)

    def writer() -> None:
        with lock.write():
            with lock.write():  # re-entry is one write
                order.append("w")

    before = lock.revision
    readers = [threading.Thread(target=reader, args=(n,)) for n in ("r1", "r2")]
    for t in readers:
        t.start()
    for t in readers:
        t.join(10)
    w = threading.Thread(target=writer)
    w.start()
    w.join(10)
    assert sorted(order[:2]) == ["r1", "r2"] and order[2] == "w"
    assert lock.revision == before + 1


def test_retrievers_skip_the_row_check_while_nothing_is_written(monkeypatch):
    """The funnel and the cluster prefilter re-check the store's rows (O(n)) only after a write: searches
    with no write between them read no row list; a write is still seen (stale clusters refused by name,
    the funnel rebuilt and finding the new document)."""
    from langchain_embcompare.retrievers.clustering import StaleClustersError

    store, q, texts = make_store(3, 300, 16, field_kind="hnsw")
    found = retrievers(store, 3)
    funnel, cluster = found["funnel"], found["cluster"]
    for r in (funnel, cluster):
        r.invoke(texts[0])
        r.invoke(texts[1])  # the first check after binding is a full one
    calls = []
    real = store.all_rows
    monkeypatch.setattr(store, "all_rows", lambda: calls.append(1) or real())
    for t in texts:
        funnel.invoke(t)
        cluster.invoke(t)
    assert calls == []
    new = unit(np.random.default_rng(99), 1, 16)
    store.upsert_vectors(new, [Document(page_content="new", id="new")])
    assert funnel.search_vectors(new, k=1)[0][0][0].id == "new"
    assert calls  # the write made the next check a full one
    with pytest.raises(StaleClustersError, match=r"fit\(\) again"):
        cluster.invoke(texts[0])
