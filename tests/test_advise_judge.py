"""The advisor with LLM relevance judgments (advise(relevance_judge=...), `embcompare advise --judge`): one
judged pool over every setting, the decision on the judged labels, Judged@10 and its gap warnings, the
judge's cache making a rerun free; the options object; the funnel's memory figure with its shortlist index.
Offline: the judges are LangChain fake chat models."""

from __future__ import annotations

import json
import warnings
from typing import Any

import faiss
import numpy as np
import pytest
from langchain_core.language_models.chat_models import SimpleChatModel
from langchain_core.language_models.fake_chat_models import FakeListChatModel
from langchain_core.messages import BaseMessage
from test_advise import _fake_ds, _model
from test_synthetic import _corpus_only
from typer.testing import CliRunner

from langchain_embcompare.errors import InvalidParameterError
from langchain_embcompare.evaluation.advise import AdviseOptions, advise
from langchain_embcompare.evaluation.judge import RelevanceJudge, judged_at_k, judged_gap_warnings
from langchain_embcompare.evaluation.metrics import evaluate_per_query


class EvenDocJudge(SimpleChatModel):
    """A fake judge for the fake data set ('doc i'): grade 3 when i is even, else 0 (UMBRELA's reply format)."""

    @property
    def _llm_type(self) -> str:
        return "fake-even-doc-judge"

    def _call(self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kwargs: Any) -> str:
        passage = messages[-1].content.split("<passage>")[1].split("</passage>")[0].strip()
        return "##final score: 3" if int(passage.rsplit(" ", 1)[1]) % 2 == 0 else "##final score: 0"


FAST = dict(precisions=("float32",), rotations=("none",), indexes=(), cluster=False, funnel=False, hybrid=False,
            latency_queries=2, throughput_texts=8, n_resamples=500)


def _by_hand(ds, settings) -> dict[str, dict[str, int]]:
    """The judged labels written out: the data set's own, plus 3 for every pooled even doc, 0 for odd (higher kept)."""
    qrels = {q: dict(v) for q, v in ds.qrels.items()}
    for c in settings:
        for q, top in c.top.items():
            for d in top:
                grade = 3 if int(d[1:]) % 2 == 0 else 0
                qrels.setdefault(q, {})[d] = max(grade, qrels.get(q, {}).get(d, grade))
    return qrels


def test_advise_decides_on_the_judged_labels_and_a_rerun_costs_nothing(tmp_path):
    ds = _fake_ds()
    cache = tmp_path / "judge.jsonl"
    judge = RelevanceJudge(EvenDocJudge(), both_orders=False, cache=cache)
    res = advise(ds, AdviseOptions(models=[_model()], margin=0.02, dims=[64, 32, 16], relevance_judge=judge, **FAST))
    everyone = [res.baseline, *res.candidates]
    assert len(everyone) == 3
    qrels = _by_hand(ds, everyone)
    pool = len({(q, doc) for c in everyone for q, top in c.top.items() for doc in top})
    assert judge.usage.calls == pool  # one pass over the union of the pools: each pair asked once
    per_query = {}
    for c in everyone:
        want = evaluate_per_query(c.top, qrels, ["ndcg@10"])
        per_query[c.name] = np.array([want[q]["ndcg@10"] for q in res.query_ids])
        assert c.quality["ndcg@10"] == pytest.approx(per_query[c.name].mean())
        assert "recall@100" not in c.quality  # deeper than the judged pool: not reported under judged labels
        assert c.extra["unjudged_quality"]["recall@100"] >= 0
    base = res.baseline
    assert base.quality["ndcg@10"] != pytest.approx(base.extra["unjudged_quality"]["ndcg@10"], abs=0.05)
    for c in res.candidates:  # the tests ran on the judged per-query scores
        assert c.test.delta == pytest.approx(float(np.mean(per_query[c.name] - per_query[base.name])))
    d = res.to_dict()
    judge_info = d["labels"]["judge"]
    assert judge_info["model"] == "fake-even-doc-judge" and judge_info["metrics_not_judged"] == ["recall@100"]
    assert judge_info["judged_at_10"] == {c.name: 1.0 for c in everyone}
    assert judge_info["pool_size"] == pool and judge_info["pool_runs"] == 3
    text = res.summary_text()
    assert "labelled queries (human labels + LLM-judged labels (fake-even-doc-judge))" in text
    assert "Judged@10: " in text and "UMBRELA" in text
    html = (res.to_html(tmp_path / "a.html")).read_text()
    assert "How the labels were made" in html and "<th>Judged@10</th>" in html
    # the same sweep again: the judge's cache answers every pair, no call is sent, the decision is the same
    again_judge = RelevanceJudge(EvenDocJudge(), both_orders=False, cache=cache)
    again = advise(ds, AdviseOptions(models=[_model()], margin=0.02, dims=[64, 32, 16], relevance_judge=again_judge, **FAST))
    assert again_judge.usage.calls == 0 and again_judge.usage.cache_hits == pool
    assert [c.quality for c in again.candidates] == [c.quality for c in res.candidates]


def test_judged_at_10_gap_is_warned(tmp_path):
    """A judge that labels only the baseline's top-10: the other settings' Judged@10 fall behind, said in the answer."""
    ds = _fake_ds()

    def baseline_only(dataset, runs):
        first = next(iter(runs.values()))  # the baseline comes first
        qrels = {q: dict(v) for q, v in dataset.qrels.items()}
        for q, top in first.items():
            for doc in top:
                qrels[q].setdefault(doc, 0)
        judged = judged_at_k(runs, qrels)
        return qrels, {"model": "partial", "judged_at_10": judged, "warnings": judged_gap_warnings(judged)}

    res = advise(ds, models=[_model()], margin=0.02, dims=[64, 16], relevance_judge=baseline_only, **FAST)
    judged = res.judged_at_10()
    assert judged[res.baseline.name] == 1.0 and min(judged.values()) < 0.9
    text = res.summary_text()
    assert "WARNING: Judged@10 of" in text and "differ by" in text
    assert res.to_dict()["labels"]["judge"]["warnings"]


def test_judge_options_are_checked():
    ds = _fake_ds()
    with pytest.raises(InvalidParameterError, match="reads deeper than the judged pool"):
        advise(ds, models=[_model()], metric="ndcg@20", relevance_judge=RelevanceJudge(EvenDocJudge()), **FAST)
    with pytest.raises(InvalidParameterError, match="not a callable"):
        advise(ds, models=[_model()], relevance_judge="openai:gpt-4o-mini", **FAST)
    with pytest.raises(InvalidParameterError, match=r"unknown option\(s\) \['judge'\]"):
        advise(ds, models=[_model()], judge=RelevanceJudge(EvenDocJudge()))
    with pytest.raises(InvalidParameterError, match="AdviseOptions"):
        advise(ds, {"models": [_model()]})


def test_funnel_memory_counts_its_shortlist_index():
    """The funnel's memory figure = the store's index + its shortlist index (binary codes, or the float field)."""
    ds = _fake_ds()
    res = advise(ds, models=[_model()], margin=1.0, dims=[64, 32], precisions=("float32", "binary"), rotations=("none",),
                 indexes=(), cluster=False, funnel=True, hybrid=False, latency_queries=2, throughput_texts=8, n_resamples=200)
    funnels = {c.spec.precision: c for c in res.candidates if c.spec.retriever == "funnel"}
    assert set(funnels) == {"float32", "binary"}
    n = len(ds.corpus)
    codes = faiss.IndexBinaryFlat(64)
    codes.add(np.zeros((n, 8), dtype=np.uint8))
    want = {"binary": int(faiss.serialize_index_binary(codes).nbytes), "float32": n * 32 * 4}
    for precision, c in funnels.items():
        assert c.extra["shortlist_index_bytes"] == want[precision]
        # its store is the baseline's (float, full dimension, flat): its index plus the shortlist's
        assert c.index_bytes == res.baseline.index_bytes + want[precision]


def test_cli_advise_corpus_only_synthetic_queries_judged(tmp_path, scifact_small, monkeypatch):
    """The whole path from the shell, offline: a folder with only corpus.jsonl -> cloze queries -> the sweep ->
    every setting's top-10 judged by a (fake) chat model -> the decision on those labels, said everywhere."""
    from langchain_embcompare import models as models_mod
    from langchain_embcompare.cli import app
    from langchain_embcompare.rerank import chat

    asked: list[str] = []

    def fake_chat_model(spec: str, *, role: str = "reranker", **kwargs: Any):
        asked.append(f"{role}:{spec}")
        return FakeListChatModel(responses=["3"])  # every pooled document: grade 3

    monkeypatch.setattr(chat, "make_chat_model", fake_chat_model)
    monkeypatch.setattr(models_mod, "CACHE_DIR", tmp_path / "cache")  # the judge's reply cache
    root = _corpus_only(tmp_path, scifact_small, n=30)
    out, html, state = tmp_path / "advice.json", tmp_path / "advice.html", tmp_path / "state.json"
    args = ["advise", str(root), "--queries", "synthetic:cloze", "--synthetic-queries", "12", "--model", "all-MiniLM-L6-v2",
            "--dims", "full,128", "--precisions", "float32", "--rotations", "none", "--indexes", "none", "--no-cluster",
            "--no-funnel", "--no-hybrid", "--latency-queries", "2", "--judge", "fake:judge", "--state", str(state),
            "--json", str(out), "--html", str(html)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a constant judge is warned about (PositionBiasWarning)
        res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    assert asked == ["judge:fake:judge"]
    d = json.loads(out.read_text())
    labels = d["labels"]
    assert labels["synthetic"] is True and labels["method"] == "cloze" and labels["judge"]["pool_depth"] == 10
    names = [d["baseline"]["name"]] + [c["name"] for c in d["candidates"]]
    assert len(names) == 2 and labels["judge"]["judged_at_10"] == {n: 1.0 for n in names}
    # grade 3 on every pooled document: every setting's top-10 is all relevant -> nDCG@10 = 1 under the judged
    # labels, while the cloze labels alone (one known item per query) score less
    for row in [d["baseline"], *d["candidates"]]:
        assert row["ndcg@10"] == pytest.approx(1.0)
        assert row["extra"]["unjudged_quality"]["ndcg@10"] < 0.99
    assert d["status"] == "non_inferior" and "128" in d["winner"]["name"]  # equal judged scores: the smaller index wins
    assert "SYNTHETIC labels (cloze) + LLM-judged labels" in res.output and "Judged@10" in res.output
    page = html.read_text()
    assert "How the labels were made" in page and "<th>Judged@10</th>" in page and "inverse cloze" in page
    assert labels["judge"]["calls"] > 0
    # rerun: the settings come from the state, the grades from the judge's cache: no call is sent
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        again = CliRunner().invoke(app, args)
    assert again.exit_code == 0, again.output
    d2 = json.loads(out.read_text())
    assert d2["labels"]["judge"]["calls"] == 0 and d2["labels"]["judge"]["cache_hits"] == 2 * labels["judge"]["pool_size"]  # both prompt orders
    assert d2["winner"]["name"] == d["winner"]["name"]
