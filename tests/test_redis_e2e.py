"""End to end on a real Redis with the real all-MiniLM-L6-v2 (conftest ``minilm``) on the SciFact slice
(conftest ``scifact_small``): Matryoshka 128-d documents in, the package's retriever out; the same
ranking and scores as the FAISS flat store on the same vectors; the evaluation pipeline's Redis path;
a query from another space refused."""

from __future__ import annotations

import uuid

import numpy as np
import pytest

from langchain_embcompare.errors import SchemaMismatchError, VectorSpaceMismatchError
from langchain_embcompare.evaluation.metrics import evaluate_run, retrieve_run
from langchain_embcompare.evaluation.pipeline import EvalSettings, build_store
from langchain_embcompare.stores.faiss import FaissIndexSpec, FaissVectorStore
from langchain_embcompare.stores.redis import RedisIndexSpec, RedisVectorStore


@pytest.fixture(scope="module")
def emb128(minilm):
    return minilm.with_dim(128)


@pytest.mark.parametrize("metric", ["cosine", "ip", "l2"])
def test_redis_matches_faiss_on_minilm_vectors(redis_url, scifact_small, emb128, metric):
    docs = scifact_small.corpus
    dv = emb128.encode_documents([d.page_content for d in docs])
    qv = emb128.encode_queries(list(scifact_small.queries.values()))
    faiss_store = FaissVectorStore(emb128, FaissIndexSpec(kind="flat", metric=metric))
    faiss_store.upsert_vectors(dv, docs)
    redis_store = RedisVectorStore(emb128, RedisIndexSpec(f"e2e_{uuid.uuid4().hex[:8]}", metric=metric), redis_url)
    redis_store.upsert_vectors(dv, docs)
    want = faiss_store.search_vectors(qv, 10)
    got = redis_store.search_vectors(qv, 10)
    for w, g in zip(want, got):
        assert [d.id for d, _ in g] == [d.id for d, _ in w]
        np.testing.assert_allclose([s for _, s in g], [s for _, s in w], atol=1e-5, rtol=0)
    # the protocol's rows: the same ranking, and documents/vectors addressed by them
    scores, rows = redis_store.search_rows(qv, 10)
    assert [[d.id for d in redis_store.documents_at(r)] for r in rows] == [[d.id for d, _ in w] for w in want]
    np.testing.assert_allclose(scores, [[s for _, s in w] for w in want], atol=1e-5, rtol=0)
    stored = redis_store.vectors_at(rows[0])
    expect = dv[[int(np.flatnonzero([d.id == h.id for d in docs])[0]) for h in redis_store.documents_at(rows[0])]]
    if metric == "cosine":
        expect = expect / np.linalg.norm(expect, axis=1, keepdims=True)
    np.testing.assert_allclose(stored, expect, atol=1e-6)
    redis_store.drop()


def test_minilm_on_scifact_slice(redis_url, scifact_small, emb128):
    docs, queries, qrels = scifact_small.corpus, scifact_small.queries, scifact_small.qrels
    spec = RedisIndexSpec(f"e2e_{uuid.uuid4().hex[:8]}", kind="hnsw", metric="cosine", metadata_schema={"title": "text"})
    store = RedisVectorStore(emb128, spec, redis_url)
    assert store.space == emb128.space and store.space.dim == 128
    store.add_documents(docs)
    store.add_documents(docs)  # idempotent: ids are keys
    assert store.count() == len(docs)

    # The retriever a LangChain user gets (EmbRetriever) scores like the FAISS store does.
    faiss_store = FaissVectorStore(emb128, FaissIndexSpec(kind="flat"))
    faiss_store.upsert_vectors(emb128.encode_documents([d.page_content for d in docs]), docs)
    ndcg_redis = evaluate_run(retrieve_run(store.as_retriever(k=10), queries, k=10), qrels, ("ndcg@10",))["ndcg@10"]
    ndcg_faiss = evaluate_run(retrieve_run(faiss_store.as_retriever(k=10), queries, k=10), qrels, ("ndcg@10",))["ndcg@10"]
    assert ndcg_redis > 0.5, f"nDCG@10 {ndcg_redis:.3f} on the slice: retrieval is broken"
    assert abs(ndcg_redis - ndcg_faiss) <= 0.005

    # Hybrid: a full-text prefilter on the title restricts what the KNN may return.
    qid = next(iter(queries))
    hits = store.similarity_search(queries[qid], k=5, filter={"title": {"$like": "cell*"}})
    assert hits and all("cell" in d.metadata["title"].lower() for d in hits)

    # Another vector space (a query prompt the index was not built with) is refused, naming both.
    other = emb128.with_dim(128, query_prompt="query: ")
    with pytest.raises(VectorSpaceMismatchError, match="query_prompt"):
        RedisVectorStore(other, spec, redis_url)
    # Another Matryoshka dim is another schema: refused unless overwrite=True.
    with pytest.raises(SchemaMismatchError, match="dims: index has 128, asked for 64"):
        RedisVectorStore(emb128.with_dim(64), spec, redis_url)
    store.drop()


def test_eval_pipeline_redis_path(redis_url, scifact_small, emb128):
    """``build_store`` (what ``embcompare eval --store redis --store-url`` runs) builds a Redis index."""
    settings = EvalSettings(store="redis", store_options={"url": redis_url}, kind="flat", dim=128)
    store = build_store(settings, emb128, scifact_small)
    assert isinstance(store, RedisVectorStore) and store.count() == len(scifact_small.corpus)
    assert store.spec.index_name.startswith(f"embcompare_{scifact_small.name}_")
    again = build_store(settings, emb128, scifact_small)  # rebuilt, not duplicated
    assert again.count() == len(scifact_small.corpus)
    assert again.index_bytes() > 0
    again.drop()
