"""Every store under concurrent writes and reads, from asyncio and from threads.

The fault this holds: ``asyncio.gather`` over 12 ``aadd_documents`` calls of 20 documents each on one
FAISS store crashed an HNSW index (segfault, double free) and tied a flat store's documents to another
batch's vectors. Here every store kind (``any_store``, plus FAISS's HNSW and IVF indexes) takes
concurrent adds, searches and deletes, and then every document must be found first by its own vector,
every hit seen during the writes must carry its own vector's score, and the counts must be right.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from langchain_core.documents import Document

BATCHES, PER_BATCH = 12, 20


def _batches(tag: str) -> list[list[Document]]:
    return [
        [Document(page_content=f"{tag} batch {b} doc {i}", metadata={"n": b * PER_BATCH + i}, id=f"{tag}-{b}-{i}") for i in range(PER_BATCH)]
        for b in range(BATCHES)
    ]


def _own_vectors(store, docs: list[Document]) -> np.ndarray:
    """Each document's vector as the store stores it (unit length, cosine)."""
    v = np.asarray(store.embedding.encode_documents([d.page_content for d in docs]), dtype=np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def _check_hits_are_their_own(store, query: np.ndarray, hits: list[tuple[Document, float]]) -> None:
    """A hit's score is the similarity of the query to THAT document's own vector (a document tied to
    another one's vector, or a row read after the store moved it, fails here)."""
    if not hits:
        return
    own = _own_vectors(store, [d for d, _ in hits])
    q = query / np.linalg.norm(query)
    np.testing.assert_allclose([s for _, s in hits], own @ q, atol=1e-4)


def _check_final(store, docs: list[Document]) -> None:
    assert store.count() == len(docs)
    vectors = _own_vectors(store, docs)
    hits = store.search_vectors(vectors, k=1)
    assert [h[0][0].id for h in hits] == [d.id for d in docs]
    assert {d.id for d in store.get_by_ids([d.id for d in docs])} == {d.id for d in docs}


def gather_adds_and_searches(store) -> None:
    """12 ``aadd_documents`` of 20 documents and 12 searches in one ``asyncio.gather``."""
    batches = _batches("a")
    store.add_documents([Document(page_content="seed", id="seed")])
    query = _own_vectors(store, [Document(page_content="a batch 3 doc 7")])[0]

    async def search() -> list[tuple[Document, float]]:
        return await asyncio.to_thread(store.similarity_search_with_score_by_vector, query, 5)

    async def run() -> list:
        adds = [store.aadd_documents(b) for b in batches]
        searches = [search() for _ in range(BATCHES)]
        return await asyncio.gather(*[x for pair in zip(adds, searches) for x in pair], store.asimilarity_search("q", k=3))

    results = asyncio.run(run())
    for r in results[1:-1:2]:
        _check_hits_are_their_own(store, query, r)
    assert [ids for ids in results[0:-1:2]] == [[d.id for d in b] for b in batches]
    _check_final(store, [Document(page_content="seed", id="seed")] + [d for b in batches for d in b])


def threads_add_search_and_delete(store) -> None:
    """Six threads: 11 batches added, 20 documents deleted one by one, searches and MMR meanwhile."""
    batches = _batches("t")
    victims = [d for d in batches[0]]
    store.add_documents(victims)  # batch 0 is added first, then deleted while the others go in
    query = _own_vectors(store, [Document(page_content="t batch 0 doc 3")])[0]

    def add(b: list[Document]) -> list[str]:
        return store.add_documents(b)

    def search(_: int) -> list[tuple[Document, float]]:
        return store.similarity_search_with_score_by_vector(query, 8)

    def mmr(_: int) -> list[Document]:
        return store.max_marginal_relevance_search_by_vector(query, k=3, fetch_k=10)

    with ThreadPoolExecutor(max_workers=6) as pool:
        adds = [pool.submit(add, b) for b in batches[1:]]
        deletes = [pool.submit(store.delete, [d.id]) for d in victims]
        searches = [pool.submit(search, i) for i in range(3 * BATCHES)]
        mmrs = [pool.submit(mmr, i) for i in range(BATCHES)]
        for f in deletes:
            f.result()
        assert [f.result() for f in adds] == [[d.id for d in b] for b in batches[1:]]
        for f in searches:
            _check_hits_are_their_own(store, query, f.result())
        for f in mmrs:
            assert len(f.result()) <= 3
    _check_final(store, [d for b in batches[1:] for d in b])
    assert store.get_by_ids([d.id for d in victims]) == []


def test_asyncio_gather_of_adds_and_searches(any_store):
    gather_adds_and_searches(any_store)


def test_threads_adding_searching_and_deleting(any_store):
    threads_add_search_and_delete(any_store)


@pytest.mark.parametrize("kind", ["hnsw", "ivf"])
def test_faiss_approximate_indexes_under_concurrency(contract_embeddings, kind):
    """The HNSW index crashed under concurrent adds; IVF retrains as it grows (a rebuild under writes)."""
    from langchain_embcompare.stores.faiss import FaissVectorStore

    gather_adds_and_searches(FaissVectorStore(contract_embeddings, kind=kind))
    threads_add_search_and_delete(FaissVectorStore(contract_embeddings, kind=kind))


def test_concurrent_upserts_of_one_id_leave_one_document(any_store):
    """Eight threads writing the same new ids at once: one document per id, holding one of the
    versions written whole (text, metadata and vector together)."""
    ids = [f"same-{i}" for i in range(5)]

    def write(version: int) -> list[str]:
        docs = [Document(page_content=f"v{version} {i}", metadata={"v": version}) for i in ids]
        return any_store.add_documents(docs, ids=ids)

    with ThreadPoolExecutor(max_workers=8) as pool:
        assert all(f.result() == ids for f in [pool.submit(write, v) for v in range(8)])
    assert any_store.count() == len(ids)
    got = any_store.get_by_ids(ids)
    assert [d.id for d in got] == ids
    for d in got:
        assert d.page_content == f"v{d.metadata['v']} {d.id}"
    _check_final(any_store, got)
