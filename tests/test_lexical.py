"""BM25 arm: hand-computed scores (bm25s' Lucene variant and Redis' BM25STD), edge cases, filters,
persistence without pickle, and FAISS+bm25s vs Redis full-text parity."""

from __future__ import annotations

import json
import math
import re
import uuid

import numpy as np
import pytest
from langchain_core.documents import Document

from langchain_embcompare.errors import EmptyInputError, InvalidParameterError
from langchain_embcompare.retrievers.lexical import (
    BM25Retriever,
    BM25Settings,
    StoreFullTextRetriever,
    lexical_retriever_for,
)
from langchain_embcompare.stores.redis_fulltext import full_text_query, query_string

CORPUS = [
    "apple banana apple",
    "banana cherry",
    "cherry date elderberry fig",
    "apple",
]


def _plain(**kw) -> BM25Retriever:
    """No stemming, no stopwords: the tokens are exactly the words, so the formula is checkable."""
    return BM25Retriever.from_texts(CORPUS, stemmer=None, stopwords=None, **kw)


def test_bm25_scores_equal_the_lucene_formula_by_hand():
    # bm25s method="lucene" (Kamphuis et al. 2020):
    #   score(q, d) = sum_t idf(t) * tf / (tf + k1 * (1 - b + b * |d| / avgdl))
    #   idf(t)      = ln(1 + (N - df + 0.5) / (df + 0.5))
    # N = 4 documents of lengths 3, 2, 4, 1 -> avgdl = 2.5; k1 = 1.5, b = 0.75 (bm25s' defaults).
    N, avgdl, k1, b = 4, 2.5, 1.5, 0.75

    def idf(df: int) -> float:
        return math.log(1 + (N - df + 0.5) / (df + 0.5))

    def tfc(tf: int, dl: int) -> float:
        return tf / (tf + k1 * (1 - b + b * dl / avgdl))

    # query "apple banana": apple df=2 (docs 0, 3), banana df=2 (docs 0, 1)
    expected = {
        "doc0": idf(2) * tfc(2, 3) + idf(2) * tfc(1, 3),
        "doc1": idf(2) * tfc(1, 2),
        "doc3": idf(2) * tfc(1, 1),
    }
    r = _plain(k=10)
    got = {d.id: s for d, s in r.search_with_scores(["apple banana"])[0]}
    assert set(got) == set(expected)  # doc2 shares no term: score 0, not returned
    for doc_id, want in expected.items():
        assert got[doc_id] == pytest.approx(want, rel=1e-5)
    # best first
    hits = r.invoke("apple banana")
    assert [d.id for d in hits] == ["doc0", "doc3", "doc1"]
    assert hits[0].metadata["score"] == pytest.approx(expected["doc0"], rel=1e-5)


def test_k1_and_b_are_parameters_and_change_the_scores():
    # b = 0: no length normalisation -> doc3 ("apple", 1 token) and doc0's single "banana" weigh alike
    r = _plain(k=10, k1=1.2, b=0.0)
    got = {d.id: s for d, s in r.search_with_scores(["banana"])[0]}
    idf = math.log(1 + (4 - 2 + 0.5) / (2 + 0.5))
    assert got["doc0"] == pytest.approx(idf * 1 / (1 + 1.2), rel=1e-5)
    assert got["doc0"] == pytest.approx(got["doc1"], rel=1e-6)
    assert r.settings_dict()["k1"] == 1.2 and r.settings_dict()["b"] == 0.0


def test_defaults_are_the_configuration_bm25s_publishes():
    s = BM25Settings()
    assert (s.k1, s.b, s.method, s.stemmer, s.stopwords) == (1.5, 0.75, "lucene", "english", "en")
    r = BM25Retriever.from_texts(["running dogs", "a cat ran"])
    d = r.settings_dict()
    assert d["engine"] == "bm25s" and d["stemmer"] == "english" and d["n_docs"] == 2
    # stemming: "runs" finds "running" (both stem to "run")
    assert [x.id for x in r.invoke("runs")] == ["doc0"]


@pytest.mark.parametrize("query", ["", "   ", "the and of a", "zzzz qqqq", "!!! ???"])
def test_empty_stopword_only_and_unknown_queries_return_nothing(query):
    r = BM25Retriever.from_texts(CORPUS + ["the cat and the hat"], k=3)
    assert r.invoke(query) == []
    assert r.search_batch([query, "apple"], k=3)[0] == []
    assert [d.id for d in r.search_batch([query, "apple"], k=3)[1]][:1] == ["doc3"]


async def test_async_and_k_larger_than_corpus():
    r = _plain(k=50)
    hits = await r.ainvoke("cherry")
    assert sorted(d.id for d in hits) == ["doc1", "doc2"]  # only documents sharing a term, k clamped


def test_non_ascii_text():
    docs = ["Café crème brûlée recipe", "Straße in München", "東京 タワー 観光", "naïve Bayes classifier"]
    r = BM25Retriever.from_texts(docs, k=2)
    assert r.invoke("CAFÉ")[0].id == "doc0"  # str.lower on non-ASCII
    assert r.invoke("münchen")[0].id == "doc1"
    assert r.invoke("東京")[0].id == "doc2"
    assert r.invoke("naïve")[0].id == "doc3"
    assert r.invoke("cafe") == []  # no accent folding: a different word


def test_filter_restricts_before_ranking():
    docs = [Document(page_content=t, metadata={"lang": lang}, id=f"d{i}") for i, (t, lang) in
            enumerate([("apple pie", "en"), ("apple tart", "fr"), ("apple cake", "en")])]
    r = BM25Retriever.from_documents(docs, k=5)
    assert {d.id for d in r.invoke("apple", filter={"lang": "fr"})} == {"d1"}
    assert {d.id for d in r.invoke("apple")} == {"d0", "d1", "d2"}


def test_bad_settings_and_inputs_raise_named_errors():
    with pytest.raises(InvalidParameterError, match="k1"):
        BM25Settings(k1=0)
    with pytest.raises(InvalidParameterError, match="b="):
        BM25Settings(b=1.5)
    with pytest.raises(InvalidParameterError, match="method"):
        BM25Settings(method="okapi")
    with pytest.raises(InvalidParameterError, match="stemmer"):
        BM25Settings(stemmer="klingon")
    with pytest.raises(InvalidParameterError, match="stopwords"):
        BM25Settings(stopwords="klingon")
    with pytest.raises(InvalidParameterError, match="Unknown BM25 setting"):
        BM25Retriever.from_texts(["a b"], kk1=2)
    with pytest.raises(EmptyInputError):
        BM25Retriever.from_documents([])
    with pytest.raises(InvalidParameterError, match="k must be positive"):
        _plain(k=0)


def test_save_and_load_without_pickle(tmp_path):
    r = BM25Retriever.from_texts(CORPUS + ["Café über naïve"], metadatas=[{"n": i} for i in range(5)], k=3, k1=1.2)
    folder = r.save(tmp_path / "bm25")
    names = {p.name for p in folder.iterdir()}
    assert {"data.csc.index.npy", "indices.csc.index.npy", "indptr.csc.index.npy", "vocab.index.json",
            "params.index.json", "documents.jsonl", "embcompare_bm25.json"} <= names
    assert not any(n.endswith((".pkl", ".pickle")) for n in names)
    for p in folder.glob("*.npy"):
        arr = np.load(p, allow_pickle=False)  # would raise on an object (pickled) array
        assert arr.dtype != object
    back = BM25Retriever.load(folder)
    assert back.settings == r.settings and back.k == 3
    for q in ("apple banana", "café"):
        a, b = r.search_with_scores([q])[0], back.search_with_scores([q])[0]
        assert [(d.id, d.metadata) for d, _ in a] == [(d.id, d.metadata) for d, _ in b]
        assert np.allclose([s for _, s in a], [s for _, s in b])


def test_load_names_the_bad_file_and_line(tmp_path):
    folder = _plain().save(tmp_path / "x")
    lines = (folder / "documents.jsonl").read_text().splitlines()
    lines[1] = "{not json"
    (folder / "documents.jsonl").write_text("\n".join(lines) + "\n")
    with pytest.raises(InvalidParameterError, match=r"documents.jsonl, line 2"):
        BM25Retriever.load(folder)
    with pytest.raises(InvalidParameterError, match="embcompare_bm25.json"):
        BM25Retriever.load(tmp_path / "nothing-here")


def test_index_bytes_counts_the_sparse_matrix():
    r = _plain()
    sc = r._bm25.scores
    arrays = sc["data"].nbytes + sc["indices"].nbytes + sc["indptr"].nbytes
    assert r.index_bytes() >= arrays > 0


def test_redis_query_string_ors_the_tokens():
    assert query_string("Does the Apple, banana!") == "@content:(does | apple | banana)"
    assert query_string("the of and") is None
    assert query_string("") is None


# --------------------------------------------------------------------------- Redis (real server)


def _redis_store(redis_url, docs, emb):
    from langchain_embcompare.stores.redis import RedisIndexSpec, RedisVectorStore

    store = RedisVectorStore(emb, RedisIndexSpec(f"lex_{uuid.uuid4().hex[:8]}"), redis_url)
    store.add_documents(docs)
    return store


@pytest.mark.integration
def test_redis_bm25std_equals_its_formula_by_hand(redis_url, hash_embeddings):
    # RediSearch 2.10 BM25STD (its EXPLAINSCORE): idf * tf * (k1 + 1) / (tf + k1 * (1 - b + b * |d| / avgdl)),
    # idf = ln(1 + (N - df + 0.5) / (df + 0.5)), k1 = 1.2, b = 0.5; a word whose stem differs from it
    # ("apple" -> "appl") matches as word and as stem, so it counts twice; "banana" stems to itself.
    docs = [Document(page_content=t, id=f"doc{i}") for i, t in enumerate(CORPUS)]
    store = _redis_store(redis_url, docs, hash_embeddings)
    try:
        N, avgdl, k1, b = 4, 2.5, 1.2, 0.5

        def idf(df):
            return math.log(1 + (N - df + 0.5) / (df + 0.5))

        def tfc(tf, dl):
            return tf * (k1 + 1) / (tf + k1 * (1 - b + b * dl / avgdl))

        expected = {
            "doc0": 2 * idf(2) * tfc(2, 3) + idf(2) * tfc(1, 3),
            "doc3": 2 * idf(2) * tfc(1, 1),
            "doc1": idf(2) * tfc(1, 2),
        }
        # each document indexed once: a second write would leave its old version in the BM25 statistics
        # until the engine's GC runs (tests/test_redis_reindex.py), which is what failing full runs saw
        info = store.client.execute_command("FT.INFO", store.spec.index_name)
        max_doc_id = info[b"max_doc_id"] if isinstance(info, dict) else info[info.index(b"max_doc_id") + 1]
        assert int(max_doc_id) == 4, f"documents were indexed {int(max_doc_id)} times for 4 documents"
        r = StoreFullTextRetriever.from_store(store, k=10)
        got = {d.id: s for d, s in r.search_with_scores(["apple banana"])[0]}
        assert {d.id: s for d, s in store.full_text_search(["apple banana"], 10)[0]} == got  # the contract method
        assert set(got) == set(expected)
        for doc_id, want in expected.items():
            assert got[doc_id] == pytest.approx(want, rel=1e-6)
        assert r.invoke("the of") == [] and r.invoke("") == []
        import redis

        resp2 = redis.Redis.from_url(redis_url, protocol=2)  # redis-py < 8 speaks RESP2 by default
        got2 = {d.id: s for d, s in full_text_query(resp2, store.spec.index_name, ["apple banana"], 10)[0]}
        assert got2 == pytest.approx(got)
        legacy = full_text_query(store.client, store.spec.index_name, ["apple banana"], 10, scorer="BM25")[0]
        assert {d.id for d, _ in legacy} == set(expected)
        with pytest.raises(InvalidParameterError, match="scorer"):
            full_text_query(store.client, store.spec.index_name, ["apple"], 10, scorer="TFIDF")
        assert isinstance(lexical_retriever_for(store), StoreFullTextRetriever)
        assert store.full_text_settings()["engine"] == "redis"
        assert lexical_retriever_for(store, k=10).stats_summary()["lexical"]["scorer"] == "BM25STD"
    finally:
        store.drop()


@pytest.mark.integration
def test_store_parity_faiss_bm25s_vs_redis_full_text(redis_url, hash_embeddings, scifact_small):
    """The same corpus, the same queries: bm25s (FAISS arm) and Redis BM25STD agree on most of the top
    10; the documented differences (k1/b, word+stem matching, tokenizer) keep them from being equal."""
    from langchain_embcompare.evaluation.metrics import evaluate_run
    from langchain_embcompare.stores.faiss import FaissVectorStore
    from langchain_embcompare.matryoshka import as_matryoshka

    faiss_store = FaissVectorStore(as_matryoshka(hash_embeddings))
    faiss_store.add_documents(scifact_small.corpus)
    redis_store = _redis_store(redis_url, scifact_small.corpus, hash_embeddings)
    try:
        local = lexical_retriever_for(faiss_store, k=10)
        server = lexical_retriever_for(redis_store, k=10)
        assert isinstance(local, BM25Retriever) and isinstance(server, StoreFullTextRetriever)
        qids = list(scifact_small.queries)
        texts = [scifact_small.queries[q] for q in qids]
        a, b = local.search_batch(texts, k=10), server.search_batch(texts, k=10)
        overlap = np.mean([len({d.id for d in x} & {d.id for d in y}) / 10 for x, y in zip(a, b)])
        top1 = np.mean([x[0].id == y[0].id for x, y in zip(a, b) if x and y])
        assert overlap >= 0.6, overlap
        assert top1 >= 0.7, top1
        run_a = {q: {d.id: d.metadata["score"] for d in x} for q, x in zip(qids, a)}
        run_b = {q: {d.id: d.metadata["score"] for d in x} for q, x in zip(qids, b)}
        nd_a = evaluate_run(run_a, scifact_small.qrels, ["ndcg@10"])["ndcg@10"]
        nd_b = evaluate_run(run_b, scifact_small.qrels, ["ndcg@10"])["ndcg@10"]
        assert abs(nd_a - nd_b) < 0.08, (nd_a, nd_b)
    finally:
        redis_store.drop()


LONE = "\ud835"  # what PDF extractors emit for a math symbol: half of a UTF-16 pair


@pytest.mark.parametrize(
    "bad, field",
    [
        (Document(page_content=f"x {LONE} y", id="pdf-7"), "page_content"),
        (Document(page_content="fine", id=f"id{LONE}"), "id"),
        (Document(page_content="fine", id="pdf-7", metadata={"title": f"t{LONE}"}), "metadata['title']"),
    ],
)
def test_a_lone_surrogate_refuses_the_batch_naming_document_and_field(bad, field):
    from langchain_embcompare.errors import InvalidDocumentError

    good = Document(page_content="vitamin d and bones", id="ok")
    with pytest.raises(InvalidDocumentError, match=re.escape(field)) as exc:
        BM25Retriever.from_documents([good, bad])
    (doc_id,) = exc.value.failures  # only the bad document, named by its id (escaped when the id itself is bad)
    assert doc_id == str(bad.id).encode("utf-8", "backslashreplace").decode()
    assert field in exc.value.failures[doc_id]


def test_a_query_with_a_lone_surrogate_is_refused_naming_it():
    r = BM25Retriever.from_texts(["vitamin d and bones", "calcium intake"])
    with pytest.raises(InvalidParameterError, match=r"queries\[1\].*surrogate"):
        r.search_batch(["calcium", f"bones {LONE}"])
    assert [d.page_content for d in r.search_batch(["calcium"])[0]] == ["calcium intake"]  # the retriever still works


def test_bm25_keeps_numpy_metadata_as_python_values(tmp_path):
    # the stores' gate: numpy scalars become the equal Python value, so save/load keeps their types
    r = BM25Retriever.from_documents([Document(page_content="calcium intake", id="a", metadata={"year": np.int64(2020)})])
    assert type(r.documents[0].metadata["year"]) is int
    back = BM25Retriever.load(r.save(tmp_path / "bm25"))
    assert back.search_batch(["calcium"])[0][0].metadata["year"] == 2020


@pytest.mark.integration
def test_redis_full_text_refuses_a_lone_surrogate_query(redis_url, hash_embeddings):
    store = _redis_store(redis_url, [Document(page_content="calcium intake", id="a")], hash_embeddings)
    r = StoreFullTextRetriever.from_store(store)
    with pytest.raises(InvalidParameterError, match=r"queries\[0\].*surrogate"):
        r.search_batch([f"calcium {LONE}"])
    assert [d.id for d in r.search_batch(["calcium"])[0]] == ["a"]
