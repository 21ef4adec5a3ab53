"""The FAISS store keeps LangChain's whole VectorStore contract (issue: drop-in correctness).

Each test holds the right value for one fault class: upsert, delete, MMR, search types and score
thresholds, int8 calibration as the store grows, filtered approximate search returning k, the
document-id rule, and LangChain's indexing API.
"""

from __future__ import annotations

import numpy as np
import pytest
from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings
from langchain_core.indexing import InMemoryRecordManager, index

from langchain_embcompare import MatryoshkaEmbeddings
from langchain_embcompare.errors import InvalidParameterError
from langchain_embcompare.stores.faiss import FaissIndexSpec, FaissVectorStore


class TableEmbeddings(Embeddings):
    """Vectors looked up by text (unknown texts: a deterministic random vector)."""

    model_id = "table-embeddings"

    def __init__(self, table: dict[str, np.ndarray], dim: int) -> None:
        self.table, self.dim = table, dim

    def _vec(self, t: str) -> list[float]:
        if t in self.table:
            return np.asarray(self.table[t], np.float32).tolist()
        rng = np.random.default_rng(sum(map(ord, t)))
        return rng.standard_normal(self.dim).astype(np.float32).tolist()

    def embed_documents(self, texts):
        return [self._vec(t) for t in texts]

    def embed_query(self, text):
        return self._vec(text)


def emb(table=None, dim=8, **kw):
    return MatryoshkaEmbeddings(TableEmbeddings(table or {}, dim), cache_dir=None, **kw)


def test_upsert_updates_text_metadata_vector_and_returns_every_id():
    e = emb({"a": np.eye(8)[0], "b": np.eye(8)[1], "a2": np.eye(8)[2]})
    store = FaissVectorStore(e)
    assert store.add_texts(["a", "b"], [{"v": 1}, {"v": 2}], ids=["1", "2"]) == ["1", "2"]
    assert store.add_texts(["a2"], [{"v": 3}], ids=["1"]) == ["1"]
    assert store.count() == 2
    assert store.get_by_ids(["1"]) == [Document(id="1", page_content="a2", metadata={"v": 3})]
    # the vector changed too: the query for the new text finds id 1 first with score 1
    (doc, score), = store.similarity_search_with_score_by_vector(np.eye(8)[2], k=1)
    assert doc.id == "1" and score == pytest.approx(1.0)
    # one batch naming an id twice keeps the last; every id passed is returned
    assert store.add_texts(["a", "b"], ids=["3", "3"]) == ["3", "3"]
    assert store.get_by_ids(["3"])[0].page_content == "b" and store.count() == 3


def test_delete_and_adelete_unknown_ids_are_not_errors():
    store = FaissVectorStore(emb())
    store.add_texts(["x", "y", "z"], ids=["1", "2", "3"])
    assert store.delete(["2", "nope"]) is True
    assert sorted(d.id for d in store.similarity_search("x", k=10)) == ["1", "3"]
    import asyncio

    assert asyncio.run(store.adelete(["1", "missing"])) is True
    assert [d.id for d in store.similarity_search("x", k=10)] == ["3"]
    store.delete(None)
    assert store.similarity_search("x", k=10) == [] and store.count() == 0


def test_documents_without_ids_never_collapse():
    store = FaissVectorStore(emb())
    ids = store.add_documents([Document(page_content="same", metadata={"src": "a"}), Document(page_content="same", metadata={"src": "b"})])
    assert len(set(ids)) == 2 and store.count() == 2
    assert {d.metadata["src"] for d in store.get_by_ids(ids)} == {"a", "b"}


def test_mmr_picks_diverse_documents():
    # two near-duplicates of the query direction and one different but still relevant document
    q = np.array([1, 0, 0, 0, 0, 0, 0, 0], np.float32)
    table = {"dup1": [1, 0.05, 0, 0, 0, 0, 0, 0], "dup2": [1, 0.06, 0, 0, 0, 0, 0, 0], "other": [0.7, 0, 0.7, 0, 0, 0, 0, 0], "far": [0, 0, 0, 1, 0, 0, 0, 0], "q": q}
    store = FaissVectorStore(emb({k: np.asarray(v, np.float32) for k, v in table.items()}))
    store.add_texts(["dup1", "dup2", "other", "far"], ids=["dup1", "dup2", "other", "far"])
    plain = [d.id for d in store.similarity_search("q", k=2)]
    mmr = [d.id for d in store.max_marginal_relevance_search("q", k=2, fetch_k=4, lambda_mult=0.5)]
    assert set(plain) == {"dup1", "dup2"}
    assert mmr[0] in {"dup1", "dup2"} and mmr[1] == "other"
    # lambda_mult = 1 is pure relevance: the same as plain search
    assert [d.id for d in store.max_marginal_relevance_search("q", k=2, fetch_k=4, lambda_mult=1.0)] == plain
    r = store.as_retriever(search_type="mmr", search_kwargs={"k": 2, "fetch_k": 4, "lambda_mult": 0.5})
    assert [d.id for d in r.invoke("q")] == mmr
    import asyncio

    assert [d.id for d in asyncio.run(store.amax_marginal_relevance_search("q", k=2, fetch_k=4))] == mmr
    assert [d.id for d in store.max_marginal_relevance_search_by_vector(q, k=2, fetch_k=4)] == mmr


def test_score_threshold_and_unknown_search_types():
    table = {"on": np.eye(8)[0], "off1": np.eye(8)[1], "off2": np.eye(8)[2], "query": np.eye(8)[0]}
    store = FaissVectorStore(emb(table))
    store.add_texts(["on", "off1", "off2"], ids=["on", "off1", "off2"])
    r = store.as_retriever(search_type="similarity_score_threshold", search_kwargs={"score_threshold": 0.8, "k": 3})
    # relevance = (cosine + 1) / 2: 1.0 for "on", 0.5 for the orthogonal ones
    assert [d.id for d in r.invoke("query")] == ["on"]
    assert store.similarity_search_with_relevance_scores("query", k=3, score_threshold=0.8)[0][0].id == "on"
    with pytest.raises(InvalidParameterError, match="similarity_score_threshold"):
        store.as_retriever(search_type="nearest")
    with pytest.raises(InvalidParameterError, match="fetch_k"):
        store.as_retriever(search_type="similarity", search_kwargs={"fetch_k": 10})
    with pytest.raises(InvalidParameterError, match="score_threshold"):
        store.as_retriever(search_type="similarity_score_threshold")


def test_score_threshold_real_model(minilm):
    """An off-topic query with threshold 0.8 gets nothing (it got 4 documents of relevance <= 0.5)."""
    store = FaissVectorStore(minilm)
    store.add_texts(["The cat sat on the mat.", "Dogs love long walks.", "A recipe for apple pie.", "Parrots can talk."])
    r = store.as_retriever(search_type="similarity_score_threshold", search_kwargs={"score_threshold": 0.8})
    assert r.invoke("quarterly tax filing deadlines for corporations") == []
    assert [d.page_content for d in r.invoke("a cat sitting on a mat")] == ["The cat sat on the mat."]


def test_int8_calibration_follows_the_data(hash_embeddings):
    """1 document first, then 11: int8 scores must not collapse; the float32 top-1 survives."""
    rng = np.random.default_rng(0)
    vecs = rng.standard_normal((12, 16)).astype(np.float32)
    texts = [f"t{i}" for i in range(12)]
    queries = {f"q{i}": vecs[i] + 0.05 * rng.standard_normal(16).astype(np.float32) for i in (2, 5, 8, 11)}
    table = {**dict(zip(texts, vecs)), **queries}
    f32 = FaissVectorStore(emb(table, dim=16))
    i8 = FaissVectorStore(emb(table, dim=16, precision="int8"))
    for store in (f32, i8):
        store.add_texts(texts[:1], ids=texts[:1])
        store.add_texts(texts[1:], ids=texts[1:])
    agree = 0
    for q in queries:
        s8 = i8.similarity_search_with_score(q, k=12)
        assert len({round(s, 4) for _, s in s8}) > 6  # scores did not collapse onto one value
        agree += s8[0][0].id == f32.similarity_search(q, k=1)[0].id
    assert agree >= 3


def test_filtered_ivf_returns_k_when_k_documents_match():
    """IVF over 4,000 documents, a filter matching 334: 50 asked, 50 returned (it was 22)."""
    rng = np.random.default_rng(1)
    n, d = 4000, 32
    vecs = rng.standard_normal((n, d)).astype(np.float32)
    store = FaissVectorStore(emb(dim=d), FaissIndexSpec(kind="ivf", nprobe=4))
    docs = [Document(page_content=f"d{i}", metadata={"g": "keep" if i % 12 == 0 else "other"}, id=str(i)) for i in range(n)]
    store.upsert_vectors(vecs, docs)
    matching = sum(1 for x in docs if x.metadata["g"] == "keep")
    assert matching == 334
    q = rng.standard_normal((5, d)).astype(np.float32)
    scores, rows = store.search_rows(q, 50, filter={"g": "keep"})
    assert (rows >= 0).sum(1).tolist() == [50] * 5
    assert all(store.documents_at(r)[0].metadata["g"] == "keep" for r in rows)
    # the same ids as an exact search over the matching documents
    flat = FaissVectorStore(emb(dim=d))
    flat.upsert_vectors(vecs, docs)
    _, exact = flat.search_rows(q, 50, filter={"g": "keep"})
    overlap = np.mean([len(set(a) & set(b)) / 50 for a, b in zip(rows.tolist(), exact.tolist())])
    assert overlap >= 0.9


@pytest.mark.parametrize("kind", ["flat", "hnsw", "ivf"])
def test_indexing_api_incremental_and_full(kind):
    """langchain_core.indexing.index re-indexes a changed source without duplicates or leftovers."""
    store = FaissVectorStore(emb(), FaissIndexSpec(kind=kind, nlist=1 if kind == "ivf" else None))
    rm = InMemoryRecordManager(namespace=f"faiss-{kind}")
    rm.create_schema()
    v1 = [Document(page_content=f"chunk {i} of A", metadata={"source": "A"}) for i in range(3)]
    v1 += [Document(page_content="only chunk of B", metadata={"source": "B"})]
    res = index(v1, rm, store, cleanup="incremental", source_id_key="source", key_encoder="sha256")
    assert res["num_added"] == 4 and store.count() == 4
    # source A changes: one chunk edited, one removed
    v2 = [Document(page_content="chunk 0 of A", metadata={"source": "A"}), Document(page_content="chunk 1 of A, edited", metadata={"source": "A"})]
    res = index(v2, rm, store, cleanup="incremental", source_id_key="source", key_encoder="sha256")
    assert (res["num_added"], res["num_deleted"], res["num_skipped"]) == (1, 2, 1)
    texts = sorted(d.page_content for d in store.similarity_search("chunk", k=10))
    assert texts == ["chunk 0 of A", "chunk 1 of A, edited", "only chunk of B"]
    # full cleanup with only B: A's chunks go
    res = index([Document(page_content="only chunk of B", metadata={"source": "B"})], rm, store, cleanup="full", source_id_key="source", key_encoder="sha256")
    assert res["num_deleted"] == 2
    assert [d.page_content for d in store.similarity_search("chunk", k=10)] == ["only chunk of B"]
