"""Evaluation scores the order a retriever returns (issue 23, fault 6): a LangChain
ContextualCompressionRetriever whose compressor reranks leaves the first-stage metadata["score"] on
its documents; nothing may re-sort by it. Unit tests with a fake reranking compressor on every path
(retrieve_run, evaluate_run, compare, agreement, drill-down, advisor's top lists, the report), then
LangChain's own CrossEncoderReranker over a real MiniLM + FAISS first stage."""

from __future__ import annotations

import math
from collections.abc import Sequence

import pytest
from langchain_classic.retrievers.contextual_compression import ContextualCompressionRetriever
from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import BaseDocumentCompressor, Document
from langchain_core.retrievers import BaseRetriever

from langchain_embcompare.evaluation.agreement import pair_agreement, score_distance
from langchain_embcompare.evaluation.datasets import BeirDataset
from langchain_embcompare.evaluation.metrics import documents_to_scores, evaluate_run, retrieve_run

QRELS = {"q1": {"d4": 1, "d5": 1}, "q2": {"d3": 2, "d1": 1}}
DOCS = [Document(page_content=f"text {i}", id=f"d{i}") for i in range(1, 6)]


class FirstStage(BaseRetriever):
    """d1..d5 with descending first-stage scores 0.9 .. 0.5, whatever the query."""

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun) -> list[Document]:
        return [Document(page_content=d.page_content, id=d.id, metadata={"score": 0.9 - 0.1 * i}) for i, d in enumerate(DOCS)]


class OracleCompressor(BaseDocumentCompressor):
    """A perfect reranker: sorts by the labels and, like CrossEncoderReranker, leaves metadata alone."""

    labels: dict[str, dict[str, int]]

    def compress_documents(self, documents: Sequence[Document], query: str, callbacks=None) -> Sequence[Document]:
        rel = self.labels[query]
        return sorted(documents, key=lambda d: -rel.get(d.id, 0))


def _ndcg5_by_hand(ranked: list[str], rels: dict[str, int]) -> float:
    dcg = sum(rels.get(d, 0) / math.log2(i + 2) for i, d in enumerate(ranked[:5]))
    ideal = sum(g / math.log2(i + 2) for i, g in enumerate(sorted(rels.values(), reverse=True)[:5]))
    return dcg / ideal


@pytest.fixture
def retrievers():
    # the query text is its id, so the oracle can look its labels up
    reranked = ContextualCompressionRetriever(base_compressor=OracleCompressor(labels=QRELS), base_retriever=FirstStage())
    return {"plain": FirstStage(), "reranked": reranked}


@pytest.fixture
def dataset():
    return BeirDataset(name="order", corpus=list(DOCS), queries={"q1": "q1", "q2": "q2"}, qrels=QRELS)


def test_documents_to_scores_is_the_returned_order():
    docs = [Document(page_content="", id=i, metadata={"score": s}) for i, s in [("a", 0.1), ("b", 0.9), ("c", 0.5), ("a", 1.0)]]
    assert documents_to_scores(docs) == {"a": 4.0, "b": 3.0, "c": 2.0}  # n - rank (n = 4 returned); a repeated id keeps its first rank


def test_retrieve_run_records_the_reranked_order_and_the_carried_scores(retrievers, dataset):
    run = retrieve_run(retrievers["reranked"], dataset.queries, k=5)
    assert [d for d, _ in sorted(run["q1"].items(), key=lambda x: -x[1])][:2] == ["d4", "d5"]
    assert run.returned_scores["q1"]["d4"] == pytest.approx(0.6)  # the first stage's score, kept apart
    plain = evaluate_run(retrieve_run(retrievers["plain"], dataset.queries, k=5), dataset.qrels, ["ndcg@5"])["ndcg@5"]
    perfect = evaluate_run(run, dataset.qrels, ["ndcg@5"])["ndcg@5"]
    assert perfect == pytest.approx(1.0)  # was the plain retriever's number before
    want_plain = (_ndcg5_by_hand(["d1", "d2", "d3", "d4", "d5"], QRELS["q1"]) + _ndcg5_by_hand(["d1", "d2", "d3", "d4", "d5"], QRELS["q2"])) / 2
    assert plain == pytest.approx(want_plain) and plain < 0.75


def test_compare_agreement_and_drilldown_read_the_reranked_order(retrievers, dataset):
    from langchain_embcompare.evaluation.compare import compare

    res = compare(retrievers, dataset, baseline="plain", k=5, metrics=["ndcg@5", "mrr@5"], latency_queries=0, n_resamples=200)
    d = res.to_dict()
    assert d["runs"]["reranked"]["ndcg@5"] == pytest.approx(1.0)
    assert d["runs"]["reranked"]["mrr@5"] == pytest.approx(1.0)
    assert d["runs"]["plain"]["ndcg@5"] < 0.75
    # agreement: the same five documents (overlap 1) in another order (RBO < 1, Kendall tau < 1)
    runs = res.runs_raw
    pa = pair_agreement(runs["plain"], runs["reranked"], k=5, depth=5)
    assert pa.overlap == 1.0 and pa.rbo < 1.0 and pa.kendall < 1.0
    # the score distributions compare the scores the documents carried (the same first-stage ones), not ranks
    assert score_distance(runs["plain"], runs["reranked"])["wasserstein"] == pytest.approx(0.0)
    # drill-down: the reranked side lists the reranked order
    dd = d["drilldown"]["reranked"]
    assert dd["wins"] == 2 and dd["losses"] == 0
    q1 = next(ex for ex in dd["largest_gains"] if ex["query_id"] == "q1")
    assert [x["doc_id"] for x in q1["run_top"]][:2] == ["d4", "d5"]
    assert [x["doc_id"] for x in q1["baseline_top"]] == ["d1", "d2", "d3", "d4", "d5"]


def test_score_distance_of_ranks_only_is_nan_not_zero():
    from langchain_embcompare.evaluation.metrics import run_from_documents

    a = run_from_documents(["q"], [[Document(page_content="", id="x"), Document(page_content="", id="y")]], k=2)
    b = run_from_documents(["q"], [[Document(page_content="", id="y"), Document(page_content="", id="x")]], k=2)
    assert a.returned_scores is None
    assert math.isnan(score_distance(a, b)["wasserstein"])


def test_report_image_examples_follow_the_run_order_and_show_carried_scores():
    from langchain_embcompare.evaluation.metrics import run_from_documents
    from langchain_embcompare.evaluation.report import image_examples

    corpus = [Document(page_content="", id=f"d{i}", metadata={"image": f"/nowhere/{i}.png"}) for i in range(3)]
    ds = BeirDataset(name="img", corpus=corpus, queries={"q": "q"}, qrels={"q": {"d2": 1}})
    hits = [Document(page_content="", id=i, metadata={"score": s}) for i, s in [("d2", 0.1), ("d0", 0.9), ("d1", 0.5)]]
    ex = image_examples(ds, {"r": run_from_documents(["q"], [hits], k=3)})
    shown = ex[0]["runs"]["r"]
    assert [h["doc_id"] for h in shown] == ["d2", "d0", "d1"]
    assert [h["score"] for h in shown] == [0.1, 0.9, 0.5]


class OracleCrossEncoder:
    """A BaseCrossEncoder scoring (query, text) pairs by the labels: what a perfect cross-encoder does."""

    def __init__(self, qrels, queries, corpus):
        self.grade = {(queries[q], t.page_content): g for q, rels in qrels.items() for t in corpus for d, g in rels.items() if t.id == d}

    def score(self, pairs):
        return [float(self.grade.get(p, 0)) for p in pairs]


@pytest.mark.integration
def test_cross_encoder_reranker_over_real_minilm_faiss(scifact_small, minilm):
    """LangChain's own CrossEncoderReranker (with a label oracle as the cross-encoder) over a real
    MiniLM + FAISS first stage: compare() must report the reranked order's numbers."""
    from langchain_classic.retrievers.document_compressors.cross_encoder import BaseCrossEncoder
    from langchain_classic.retrievers.document_compressors.cross_encoder_rerank import CrossEncoderReranker

    from langchain_embcompare.evaluation.compare import compare
    from langchain_embcompare.stores.faiss import FaissVectorStore

    BaseCrossEncoder.register(OracleCrossEncoder)
    ds = scifact_small
    store = FaissVectorStore(minilm)
    store.add_documents(ds.corpus)
    plain = store.as_retriever(k=10)
    oracle = OracleCrossEncoder(ds.qrels, ds.queries, store.documents)
    reranked = ContextualCompressionRetriever(base_compressor=CrossEncoderReranker(model=oracle, top_n=10), base_retriever=plain)
    res = compare({"minilm": plain, "minilm+oracle": reranked}, ds, k=10, metrics=["ndcg@10", "mrr@10"], latency_queries=0, n_resamples=200)
    d = res.to_dict()["runs"]
    # the reranker sorts every relevant candidate first: MRR is 1 on every query with a relevant candidate
    hit = [q for q in ds.qrels if any(doc.id in ds.qrels[q] for doc in plain.invoke(ds.queries[q]))]
    assert d["minilm+oracle"]["mrr@10"] == pytest.approx(len(hit) / len(ds.qrels))
    assert d["minilm+oracle"]["ndcg@10"] > d["minilm"]["ndcg@10"] + 0.02
    # the plain run's number is not what the reranked one reports (the fault: identical numbers)
    assert d["minilm+oracle"]["ndcg@10"] != pytest.approx(d["minilm"]["ndcg@10"])
