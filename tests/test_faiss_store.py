"""FAISS store: index kinds x metrics, one score convention, quantisation, guards, filters, save/load."""

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from langchain_core.documents import Document

from langchain_embcompare import (
    DimensionMismatchError,
    EmptyInputError,
    FaissIndexSpec,
    FaissVectorStore,
    InvalidParameterError,
    MatryoshkaEmbeddings,
    Num,
    Tag,
    Text,
    VectorSpaceMismatchError,
)
from langchain_embcompare.embedding_base import ArrayEmbeddingsBase
from langchain_embcompare.retrievers import EmbRetriever


class FakeModel(ArrayEmbeddingsBase):
    """A tiny model with the numpy fast path: a fixed random 32-d vector per text."""

    model_id = "array-model"
    native_dim = 32

    def encode(self, texts, prompt=None):
        seeds = [int(hashlib.sha1(f"{prompt}{t}".encode()).hexdigest()[:8], 16) for t in texts]
        return np.stack([np.random.default_rng(s).standard_normal(32).astype(np.float32) for s in seeds])


def corpus(n=300):
    cats = ["pm", "pmm", "eng"]
    return [
        Document(
            page_content=f"document number {i} about {cats[i % 3]} topics {'senior' if i % 2 else 'junior'}",
            metadata={"category": cats[i % 3], "years": i % 20, "body": f"text {'alpha' if i % 5 == 0 else 'beta'} words"},
            id=f"d{i}",
        )
        for i in range(n)
    ]


@pytest.fixture(scope="module")
def emb():
    return MatryoshkaEmbeddings(FakeModel(), cache_dir=None)


def brute(emb, docs, query, metric):
    d = emb.encode_documents([x.page_content for x in docs])
    q = emb.encode_queries([query])[0]
    if metric == "l2":
        s = -np.linalg.norm(d - q, axis=1)
    else:
        s = d @ q
    order = np.argsort(-s, kind="stable")
    return [docs[i].id for i in order], s[order]


@pytest.mark.parametrize("metric", ["cosine", "ip", "l2"])
@pytest.mark.parametrize("kind", ["flat", "ivf", "hnsw"])
def test_same_scores_whatever_the_index(emb, kind, metric):
    docs = corpus()
    store = FaissVectorStore(emb, FaissIndexSpec(kind=kind, metric=metric, nlist=8, nprobe=8))
    store.add_documents(docs)
    ids, scores = brute(emb, docs, "document about pm", metric)
    hits = store.similarity_search_with_score("document about pm", k=10)
    got = {d.id: s for d, s in hits}
    want = dict(zip(ids, scores))
    for doc_id, s in got.items():  # every returned pair carries exactly its true score
        assert s == pytest.approx(float(want[doc_id]), abs=1e-5)
    if kind == "flat":
        assert [d.id for d, _ in hits] == ids[:10]
    else:
        assert len(set(got) & set(ids[:10])) >= 8  # approximate indexes: high recall


def test_int8_index_scores_close_to_float_and_one_byte_per_dim(emb):
    docs = corpus()
    f = FaissVectorStore(emb)
    f.add_documents(docs)
    q8 = FaissVectorStore(emb.with_dim(None, precision="int8"))
    q8.add_documents(docs)
    fh = dict((d.id, s) for d, s in f.similarity_search_with_score("document about eng", k=10))
    qh = q8.similarity_search_with_score("document about eng", k=10)
    assert len(set(fh) & {d.id for d, _ in qh}) >= 8
    for d, s in qh:
        if d.id in fh:
            assert s == pytest.approx(fh[d.id], abs=0.02)
    assert q8.index_bytes() < f.index_bytes() / 3


def test_binary_index_rescoring_gives_float_scores(emb):
    docs = corpus()
    store = FaissVectorStore(emb.with_dim(None, precision="binary"), rescore_multiplier=10)
    store.add_documents(docs)
    ids, scores = brute(emb, docs, "document about pmm", "cosine")
    hits = store.similarity_search_with_score("document about pmm", k=5)
    want = dict(zip(ids, scores))
    for d, s in hits:
        assert s == pytest.approx(float(want[d.id]), abs=1e-5)  # rescored with float vectors
    assert len({d.id for d, _ in hits} & set(ids[:5])) >= 3


def test_query_from_another_space_is_refused(emb, minilm):
    store = FaissVectorStore(emb)
    store.add_documents(corpus(20))
    with pytest.raises(DimensionMismatchError, match="384-d query vector cannot search the 32-d"):
        store.search_vectors(np.ones((1, 384), np.float32), k=3)
    with pytest.raises(DimensionMismatchError, match="384-d query .* 32-d"):
        store.check_query_embedding(minilm)
    other = MatryoshkaEmbeddings(FakeModel(), prompts="e5", cache_dir=None)
    with pytest.raises(VectorSpaceMismatchError, match="query_prompt"):
        store.check_query_embedding(other)
    with pytest.raises(DimensionMismatchError, match="Cannot add 16-d vectors"):
        store.upsert_vectors(np.ones((1, 16), np.float32), [Document(page_content="x", id="zz")])


def test_empty_corpus_and_bad_input(emb):
    store = FaissVectorStore(emb)
    with pytest.raises(EmptyInputError, match="empty"):
        store.add_documents([])
    # LangChain's contract: an empty store answers every search with [] (the same on every store)
    assert store.similarity_search("anything") == []
    assert store.similarity_search_with_score("anything", k=3) == []
    assert store.max_marginal_relevance_search("anything") == []
    scores, rows = store.search_rows(np.ones((2, 32), np.float32), 3)
    assert rows.shape == (2, 3) and (rows == -1).all() and np.isneginf(scores).all()
    with pytest.raises(InvalidParameterError):
        FaissIndexSpec(kind="lsh")
    store.add_documents(corpus(5))
    with pytest.raises(InvalidParameterError):
        store.search_vectors(np.ones((1, 32), np.float32), k=0)
    from langchain_embcompare import InvalidVectorError

    with pytest.raises(InvalidVectorError):
        store.search_vectors(np.full((1, 32), np.nan, np.float32), k=1)


def test_same_ids_twice_leave_one_copy(emb):
    store = FaissVectorStore(emb)
    store.add_documents(corpus(30))
    store.add_documents(corpus(30))
    assert len(store) == 30 and store.index.ntotal == 30


@pytest.mark.parametrize("kind", ["flat", "hnsw"])
def test_filters_tag_numeric_text_and_or(emb, kind):
    docs = corpus(300)
    store = FaissVectorStore(emb, FaissIndexSpec(kind=kind))
    store.add_documents(docs)
    cases = {
        "tag": (Tag("category") == "pm", lambda m: m["category"] == "pm"),
        "tag-in": (Tag("category") == ["pm", "eng"], lambda m: m["category"] in ("pm", "eng")),
        "tag-ne": (Tag("category") != "pm", lambda m: m["category"] != "pm"),
        "num-range": (Num("years").between(3, 7), lambda m: 3 <= m["years"] <= 7),
        "num-gt": (Num("years") > 15, lambda m: m["years"] > 15),
        "text": (Text("body") % "alpha", lambda m: "alpha" in m["body"]),
        "and": ((Tag("category") == "pmm") & (Num("years") >= 10), lambda m: m["category"] == "pmm" and m["years"] >= 10),
        "or": ((Tag("category") == "pmm") | (Num("years") < 2), lambda m: m["category"] == "pmm" or m["years"] < 2),
        "dict": ({"category": "eng", "years": {"$lt": 5}}, lambda m: m["category"] == "eng" and m["years"] < 5),
    }
    for name, (flt, pred) in cases.items():
        hits = store.similarity_search("document topics", k=10, filter=flt)
        allowed = [d for d in docs if pred(d.metadata)]
        assert hits, name
        assert all(pred(d.metadata) for d in hits), name
        # exact within the allowed set
        ids, _ = brute(emb, allowed, "document topics", "cosine")
        assert [d.id for d in hits] == ids[: len(hits)], name


async def test_retriever_sync_async_batch_and_filter(emb):
    store = FaissVectorStore(emb)
    store.add_documents(corpus(60))
    r = store.as_retriever(search_kwargs={"k": 3, "filter": {"category": "pm"}})
    assert isinstance(r, EmbRetriever) and r.k == 3
    docs = r.invoke("document about pm")
    adocs = await r.ainvoke("document about pm")
    assert [d.id for d in docs] == [d.id for d in adocs]
    assert all(d.metadata["category"] == "pm" and "score" in d.metadata for d in docs)
    batch = r.search_batch(["a", "b", "c"])
    assert len(batch) == 3 and all(len(b) == 3 for b in batch)
    assert r.batch(["a"])[0][0].id == batch[0][0].id
    with pytest.raises(Exception):
        EmbRetriever(store=store, k=0)


@pytest.mark.parametrize("precision", ["float32", "int8", "binary"])
def test_save_load_round_trip_without_pickle(emb, tmp_path, precision):
    e = emb.with_dim(None, precision=precision)
    store = FaissVectorStore(e, FaissIndexSpec(kind="hnsw" if precision != "binary" else "flat"))
    store.add_documents(corpus(100))
    before = store.similarity_search_with_score("document about pm", k=5)
    store.save_local(tmp_path / "idx")
    files = sorted(p.name for p in (tmp_path / "idx").iterdir())
    assert files == ["documents.jsonl", "index.faiss", "store.json", "vectors.npy"]
    for p in (tmp_path / "idx").iterdir():  # no pickle anywhere: no pickle protocol header
        assert not p.read_bytes()[:2] == b"\x80\x04"
    json.loads((tmp_path / "idx" / "store.json").read_text())
    loaded = FaissVectorStore.load_local(tmp_path / "idx", e)
    after = loaded.similarity_search_with_score("document about pm", k=5)
    assert [(d.id, round(s, 5)) for d, s in before] == [(d.id, round(s, 5)) for d, s in after]
    with pytest.raises(VectorSpaceMismatchError):
        FaissVectorStore.load_local(tmp_path / "idx", e.with_dim(None, query_prompt="q: "))


def test_real_model_save_load_rebuilds_embeddings_from_space(minilm, scifact_small, tmp_path):
    rotated = minilm.with_dim(64).fit_rotation(scifact_small.texts[:200])
    store = FaissVectorStore(rotated)
    store.add_documents(scifact_small.corpus[:100])
    q = list(scifact_small.queries.values())[0]
    before = [(d.id, round(s, 5)) for d, s in store.similarity_search_with_score(q, k=5)]
    store.save_local(tmp_path / "minilm")
    assert (tmp_path / "minilm" / "rotation.npy").exists()
    loaded = FaissVectorStore.load_local(tmp_path / "minilm")  # embeddings rebuilt from the recorded space
    assert loaded.space == store.space
    assert [(d.id, round(s, 5)) for d, s in loaded.similarity_search_with_score(q, k=5)] == before
    with pytest.raises(DimensionMismatchError, match="768-d query"):
        loaded.search_vectors(np.ones((1, 768), np.float32), k=1)


def test_binary_index_with_a_large_filter_uses_the_prefilter(emb):
    docs = corpus(900)  # the filter keeps 600 rows: above the exact-numpy threshold, so faiss's selector runs
    store = FaissVectorStore(emb.with_dim(None, precision="binary"), rescore_multiplier=10)
    store.add_documents(docs)
    flt = Tag("category") != "pm"
    hits = store.similarity_search_with_score("document about eng", k=5, filter=flt)
    allowed = [d for d in docs if d.metadata["category"] != "pm"]
    ids, scores = brute(emb, allowed, "document about eng", "cosine")
    want = dict(zip(ids, scores))
    assert len(hits) == 5 and all(d.metadata["category"] != "pm" for d, _ in hits)
    for d, s in hits:
        assert s == pytest.approx(float(want[d.id]), abs=1e-5)
    assert len({d.id for d, _ in hits} & set(ids[:5])) >= 3
