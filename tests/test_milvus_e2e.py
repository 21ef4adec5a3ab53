"""End to end with the real model (all-MiniLM-L6-v2) on the SciFact slice: Milvus Lite FLAT ranks as
FAISS flat and as exact numpy search, and `embcompare eval --store milvus` gives FAISS's nDCG@10."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from milvus_fixtures import milvus_collection, milvus_uri  # noqa: F401

from langchain_embcompare.evaluation import evaluate_run, retrieve_run
from langchain_embcompare.stores.base import exact_scores, top_k
from langchain_embcompare.stores.faiss import FaissIndexSpec, FaissVectorStore
from langchain_embcompare.stores.milvus import MilvusIndexSpec, MilvusVectorStore

ROOT = Path(__file__).resolve().parents[1]


def _ids(hits):
    return [[d.id for d, _ in h] for h in hits]


def _same_up_to_ties(a_ids, a_scores, b_ids, tol=1e-5):
    """Two rankings agree when they differ only inside runs of (near-)equal scores."""
    for i, (x, y) in enumerate(zip(a_ids, b_ids)):
        if x != y and not (i + 1 < len(a_scores) and abs(a_scores[i] - a_scores[i + 1]) < tol or i > 0 and abs(a_scores[i] - a_scores[i - 1]) < tol):
            return False
    return True


@pytest.mark.parametrize("metric", ["cosine", "l2"])
def test_milvus_flat_ranks_as_faiss_flat_and_exact_search(milvus_uri, milvus_collection, minilm, scifact_small, metric):  # noqa: F811
    corpus = scifact_small.corpus
    vectors = minilm.encode_documents([d.page_content for d in corpus])
    queries = minilm.encode_queries(list(scifact_small.queries.values()))
    milvus = MilvusVectorStore(minilm, MilvusIndexSpec(milvus_collection, metric=metric), uri=milvus_uri, overwrite=True)
    milvus.upsert_vectors(vectors, corpus)
    faiss_store = FaissVectorStore(minilm, FaissIndexSpec(kind="flat", metric=metric))
    faiss_store.upsert_vectors(vectors, corpus)
    got = milvus.search_vectors(queries, k=10)
    ref = faiss_store.search_vectors(queries, k=10)
    exp_s, exp_r = top_k(exact_scores(queries, vectors, metric), 10)  # MiniLM vectors are unit length
    exact_ids = [[corpus[j].id for j in row] for row in exp_r]
    for g, f, e_ids, e_s in zip(got, ref, exact_ids, exp_s):
        g_ids, g_s = [d.id for d, _ in g], [s for _, s in g]
        assert _same_up_to_ties(g_ids, g_s, [d.id for d, _ in f]) and _same_up_to_ties(g_ids, g_s, e_ids)
        np.testing.assert_allclose(g_s, [s for _, s in f], atol=2e-5)  # the same numbers as FAISS
        np.testing.assert_allclose(g_s, e_s, atol=2e-5)
    assert _ids(got) != [[]] * len(got)


@pytest.fixture(scope="module")
def faiss_ndcg(minilm, scifact_small) -> float:
    """nDCG@10 of FAISS flat (cosine) with MiniLM on the slice: the reference."""
    store = FaissVectorStore(minilm, FaissIndexSpec(kind="flat"))
    vectors = minilm.encode_documents([d.page_content for d in scifact_small.corpus])
    store.upsert_vectors(vectors, scifact_small.corpus)
    run = retrieve_run(store.as_retriever(k=100), scifact_small.queries, k=100)
    return evaluate_run(run, scifact_small.qrels, ("ndcg@10",))["ndcg@10"]


def test_milvus_hnsw_retrieval_quality_on_the_slice(milvus_uri, milvus_collection, minilm, scifact_small, faiss_ndcg):  # noqa: F811
    store = MilvusVectorStore(minilm, MilvusIndexSpec(milvus_collection, kind="hnsw"), uri=milvus_uri, overwrite=True)
    store.add_documents(scifact_small.corpus)
    run = retrieve_run(store.as_retriever(k=100), scifact_small.queries, k=100)
    ndcg = evaluate_run(run, scifact_small.qrels, ("ndcg@10",))["ndcg@10"]
    assert ndcg > 0.5 and abs(ndcg - faiss_ndcg) <= 0.005


def test_cli_eval_store_milvus_gives_faiss_ndcg(tmp_path, scifact_small_dir, scifact_small, faiss_ndcg):
    out = tmp_path / "milvus.json"
    cmd = [sys.executable, "-m", "langchain_embcompare.cli", "eval", str(scifact_small_dir), "--store", "milvus",
           "--store-url", str(tmp_path / "eval.db"), "--k", "100", "--out", str(out)]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(out.read_text())
    assert result["settings"]["store"] == "milvus" and result["n_docs"] == len(scifact_small.corpus)
    assert result["ndcg@10"] == pytest.approx(faiss_ndcg, abs=1e-4)
    assert (tmp_path / "eval.db").exists()
