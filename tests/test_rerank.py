"""PairwiseLLMReranker: variants, call counts, oracle, bias, async, LangChain integration (examples/rerank.py
runs, printing its calls and nDCG@10, in tests/test_examples.py)."""

from __future__ import annotations

import asyncio
import random
import warnings
from typing import Any

import pytest
from langchain_classic.retrievers import ContextualCompressionRetriever
from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from test_rerank_fakes import ScriptedJudge, ids, make_docs, truthful

from langchain_embcompare.errors import EmptyInputError, InvalidParameterError
from langchain_embcompare.rerank import (
    METHODS,
    OracleJudge,
    PairwiseLLMReranker,
    PositionBiasWarning,
    expected_comparisons,
    sorting_bound,
)
from langchain_embcompare.rerank import algorithms

GRADES = [0, 1, 0, 3, 0, 2, 0, 0, 1, 0]  # retriever order; best is d3, then d5, then d1/d8


def _rerank(method: str, docs: list[Document], top_n: int | None = 3, **kw: Any) -> tuple[PairwiseLLMReranker, ScriptedJudge, list[Document]]:
    judge = ScriptedJudge(script=kw.pop("script", truthful))
    reranker = PairwiseLLMReranker(llm=judge, method=method, top_n=top_n, **kw)
    return reranker, judge, list(reranker.compress_documents(docs, "which doc is best?"))


@pytest.mark.parametrize("method", METHODS)
def test_each_variant_puts_the_best_documents_first(method: str) -> None:
    reranker, judge, out = _rerank(method, make_docs(GRADES), top_n=3)
    assert ids(out)[:2] == ["d3", "d5"]
    assert ids(out)[2] in {"d1", "d8"}
    assert [d.metadata["rerank_rank"] for d in out] == [1, 2, 3]
    assert all(d.metadata["rerank_method"] == method for d in out)
    assert all(d.metadata["rerank_budget_exhausted"] is False for d in out)
    assert out[0].metadata["retriever_score"] == pytest.approx(0.97)  # the retriever's score is kept
    assert [d.metadata["score"] for d in out] == sorted((d.metadata["score"] for d in out), reverse=True)
    scores = [d.metadata["relevance_score"] for d in out]
    assert scores == sorted(scores, reverse=True)
    report = reranker.last_report
    assert report is not None and report.calls == judge.calls
    assert report.same_position_share == 0.0 and report.bias_warning is False


@pytest.mark.parametrize("n", [2, 5, 10, 20])
def test_allpairs_makes_two_calls_per_pair(n: int) -> None:
    reranker, judge, _ = _rerank("allpairs", make_docs([i % 4 for i in range(n)]), cache=None)
    assert judge.calls == reranker.last_report.calls == 2 * n * (n - 1) // 2
    assert reranker.last_report.comparisons == n * (n - 1) // 2


@pytest.mark.parametrize(("n", "k"), [(5, 1), (12, 4)])
def test_sliding_makes_two_calls_per_window_per_pass(n: int, k: int) -> None:
    reranker, judge, _ = _rerank("sliding", make_docs([i % 3 for i in range(n)]), top_n=k, cache=None)
    assert judge.calls == 2 * (n - 1) * k
    # With the cache on, repeated windows are free, but calls + hits still match the formula.
    reranker2, judge2, _ = _rerank("sliding", make_docs([i % 3 for i in range(n)]), top_n=k)
    report = reranker2.last_report
    assert report.calls + report.cache_hits == 2 * (n - 1) * k
    assert judge2.calls == report.calls <= 2 * (n - 1) * k


@pytest.mark.parametrize(("n", "k"), [(2, 1), (7, 3), (20, 10), (33, 5)])
def test_sorting_stays_within_its_documented_bound(n: int, k: int) -> None:
    rng = random.Random(n * 100 + k)
    for trial in range(3):
        grades = [rng.randint(0, 3) for _ in range(n)]
        flip = rng.random() * 0.3

        def noisy(q: str, a: str, b: str, c: int, _rng: random.Random = random.Random(trial)) -> str:
            answer = truthful(q, a, b, c)
            return ("B" if answer == "A" else "A") if _rng.random() < flip else answer

        reranker, judge, out = _rerank("sorting", make_docs(grades), top_n=k, script=noisy, cache=None)
        assert judge.calls <= 2 * sorting_bound(n, k)
        assert len(out) == min(k, n)
        assert len(set(ids(out))) == len(out)
    assert expected_comparisons("sorting", 20, 10) == 2 * 19 + 2 * 9 * 4
    assert expected_comparisons("allpairs", 20, 10) == 190
    assert expected_comparisons("sliding", 20, 10) == 190


def test_sorting_is_a_correct_sort_with_a_perfect_judge() -> None:
    grades = list(range(12))
    random.Random(3).shuffle(grades)
    _, _, out = _rerank("sorting", make_docs(grades), top_n=None)
    got = [int(d.page_content.split("grade ")[1]) for d in out]
    assert got == sorted(grades, reverse=True)


def test_algorithms_keep_the_retriever_order_when_every_comparison_ties() -> None:
    for method, gen in (
        ("allpairs", algorithms.allpairs(9)),
        ("sliding", algorithms.sliding(9, 9)),
        ("sorting", algorithms.sorting(9, 9)),
    ):
        try:
            pairs = next(gen)
            while True:
                pairs = gen.send([0] * len(pairs))
        except StopIteration as stop:
            order, _ = stop.value
        assert order == list(range(9)), method


def test_heap_build_sends_sift_downs_of_one_level_together() -> None:
    gen = algorithms.sorting(15, 1)
    first = next(gen)
    # the bottom internal level of a 15-node heap has 4 nodes: 4 child comparisons at once
    assert len(first) == 4


@pytest.mark.parametrize("method", METHODS)
def test_always_a_judge_leaves_order_unchanged_and_warns(method: str) -> None:
    docs = make_docs(GRADES)
    judge = ScriptedJudge(script=lambda q, a, b, n: "A")
    reranker = PairwiseLLMReranker(llm=judge, method=method, top_n=None)
    with pytest.warns(PositionBiasWarning, match="no ranking signal"):
        out = reranker.compress_documents(docs, "q")
    assert ids(out) == ids(docs)
    assert reranker.last_report.bias_warning is True
    assert reranker.last_report.same_position_share == 1.0
    first = reranker.last_report
    with warnings.catch_warnings(record=True) as again:  # once per reranker, not per query
        warnings.simplefilter("always")
        reranker.compress_documents(docs, "another query")
    assert not [w for w in again if issubclass(w.category, PositionBiasWarning)]
    assert reranker.last_report.bias_warning is True
    if method == "sliding":  # pairs re-read from the cache in later passes count once
        assert first.same_position_comparisons == len(docs) - 1
    if method == "allpairs":
        assert first.same_position_comparisons == len(docs) * (len(docs) - 1) // 2


def test_no_bias_warning_for_a_consistent_judge() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", PositionBiasWarning)
        reranker, _, _ = _rerank("allpairs", make_docs(GRADES))
    assert reranker.last_report.bias_warning is False


def test_oracle_judge_from_qrels_ranks_by_grade_and_is_deterministic() -> None:
    docs = make_docs([0] * 6)
    qrels = {"q1": {"d4": 2, "d2": 1}}
    oracle = OracleJudge.from_qrels(qrels, {"q1": "what?"}, docs)
    reranker = PairwiseLLMReranker(llm=oracle, method="allpairs", top_n=2)
    assert ids(reranker.compress_documents(docs, "what?")) == ["d4", "d2"]
    noisy = OracleJudge.from_qrels(qrels, {"q1": "what?"}, docs, noise=0.3, seed=1)
    from langchain_embcompare.rerank.prompt import build_messages

    answers = [noisy.judge(build_messages("what?", docs[i].page_content, docs[4].page_content)) for i in range(6)]
    again = [noisy.judge(build_messages("what?", docs[i].page_content, docs[4].page_content)) for i in range(6)]
    assert answers == again and set(answers) <= {"A", "B"}
    biased = OracleJudge.from_qrels(qrels, {"q1": "what?"}, docs, position_bias="B")
    assert biased.invoke(build_messages("what?", docs[4].page_content, docs[0].page_content)).content == "B"
    assert oracle.model_name != noisy.model_name != biased.model_name  # distinct cache keys
    with pytest.raises(InvalidParameterError, match="noise"):
        OracleJudge(noise=1.5)


def test_oracle_noise_rate_is_close_to_the_setting() -> None:
    docs = make_docs([0] * 40)
    oracle = OracleJudge.from_qrels({"q": {"d0": 1}}, {"q": "q"}, docs, noise=0.2)
    from langchain_embcompare.rerank.prompt import build_messages

    wrong = sum(oracle.judge(build_messages("q", docs[0].page_content, d.page_content)) == "B" for d in docs[1:])
    assert 2 <= wrong <= 16  # 39 draws at p=0.2: mean 7.8


def test_async_path_matches_sync_and_sends_a_round_concurrently() -> None:
    docs = make_docs(GRADES[:6])
    judge = ScriptedJudge(script=truthful, delay=0.1)
    reranker = PairwiseLLMReranker(llm=judge, method="allpairs", top_n=3, max_concurrency=10)
    out = asyncio.run(reranker.acompress_documents(docs, "q"))
    assert judge.calls == 30
    # a round's 30 calls (0.1 s each) overlap, up to max_concurrency: counted, not timed (a wall-clock
    # bound failed on a loaded 2-core machine while the calls did overlap)
    assert 5 <= judge.peak_concurrency <= 10
    sync = PairwiseLLMReranker(llm=ScriptedJudge(script=truthful), method="allpairs", top_n=3)
    assert ids(out) == ids(sync.compress_documents(docs, "q"))


@pytest.mark.parametrize("method", METHODS)
def test_async_call_counts_match_sync(method: str) -> None:
    docs = make_docs([i % 4 for i in range(9)])
    sync, judge_s, out_s = _rerank(method, docs, top_n=4, cache=None)
    judge_a = ScriptedJudge(script=truthful)
    reranker = PairwiseLLMReranker(llm=judge_a, method=method, top_n=4, cache=None)
    out_a = asyncio.run(reranker.acompress_documents(docs, "which doc is best?"))
    assert ids(out_a) == ids(out_s) and judge_a.calls == judge_s.calls


class _ListRetriever(BaseRetriever):
    docs: list[Document]

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun) -> list[Document]:
        return list(self.docs)


def test_inside_contextual_compression_retriever_sync_and_async() -> None:
    docs = make_docs(GRADES)
    reranker = PairwiseLLMReranker(llm=ScriptedJudge(script=truthful), method="sorting", top_n=2)
    retriever = ContextualCompressionRetriever(base_compressor=reranker, base_retriever=_ListRetriever(docs=docs))
    assert ids(retriever.invoke("best?")) == ["d3", "d5"]
    assert ids(asyncio.run(retriever.ainvoke("best?"))) == ["d3", "d5"]
    assert len(reranker.reports) == 2
    assert reranker.reports[1].calls == 0  # the second query was answered from the cache
    summary = reranker.summary()
    assert summary["queries"] == 2 and summary["calls"] == reranker.reports[0].calls


def test_bad_parameters_and_input_raise_specific_errors() -> None:
    judge = ScriptedJudge(script=truthful)
    with pytest.raises(InvalidParameterError, match="allpairs, sorting, sliding"):
        PairwiseLLMReranker(llm=judge, method="listwise")
    with pytest.raises(InvalidParameterError, match="top_n"):
        PairwiseLLMReranker(llm=judge, top_n=0)
    with pytest.raises(InvalidParameterError, match="max_concurrency"):
        PairwiseLLMReranker(llm=judge, max_concurrency=0)
    reranker = PairwiseLLMReranker(llm=judge)
    with pytest.raises(EmptyInputError, match="empty query"):
        reranker.compress_documents(make_docs([1, 0]), "  ")
    assert reranker.compress_documents([], "q") == []
    one = reranker.compress_documents(make_docs([1]), "q")
    assert ids(one) == ["d0"] and judge.calls == 0


def test_rerank_retriever_reranks_the_head_and_keeps_the_tail() -> None:
    from types import SimpleNamespace

    from langchain_embcompare.rerank import RerankedRetriever, rerank_retriever

    grades = [0] * 30
    grades[7], grades[25] = 3, 3  # d25 is beyond the reranked head: it must stay where it was
    docs = make_docs(grades)
    judge = ScriptedJudge(script=truthful)
    wrapped = rerank_retriever(_ListRetriever(docs=docs), model=judge, method="sorting", top=10, k=3)
    assert isinstance(wrapped, RerankedRetriever) and wrapped.reranker.top_n is None
    out = wrapped.invoke("q")
    assert len(out) == 30 and ids(out)[0] == "d7"
    assert sorted(ids(out)[:10]) == sorted(ids(docs)[:10]) and ids(out)[10:] == ids(docs)[10:]
    scores = [d.metadata["score"] for d in out]
    assert all(a > b for a, b in zip(scores, scores[1:]))
    assert out[-1].metadata["retriever_score"] == docs[-1].metadata["score"]
    assert judge.calls <= 2 * sorting_bound(10, 3)
    stats = wrapped.stats_summary()
    assert stats["rerank_queries"] == 1 and stats["rerank_calls"] == judge.calls
    assert ids(asyncio.run(wrapped.ainvoke("q"))) == ids(out)
    settings = SimpleNamespace(rerank="openai-compatible:http://127.0.0.1:9/v1#m", rerank_method="sliding", rerank_top=20)
    from_cli = rerank_retriever(_ListRetriever(docs=docs), settings)
    assert from_cli.rerank_top == 20 and from_cli.reranker.method == "sliding" and from_cli.reranker.k == 10
    with pytest.raises(InvalidParameterError, match="rerank method"):
        rerank_retriever(_ListRetriever(docs=docs), model=judge, method="pointwise")


def test_k_decouples_positions_fixed_from_documents_returned() -> None:
    docs = make_docs([0, 0, 0, 0, 0, 0, 0, 0, 0, 3])
    judge = ScriptedJudge(script=truthful)
    reranker = PairwiseLLMReranker(llm=judge, method="sliding", top_n=None, k=1, cache=None)
    out = reranker.compress_documents(docs, "q")
    assert len(out) == 10 and ids(out)[0] == "d9" and judge.calls == 2 * 9
