"""Metric defaults follow the retrieval depth (issue 23, fault 9): a default metric the depth cannot
answer (recall@100 on a run of k=10, or of a funnel whose shortlist is 50) is lowered to the depth and
said in one line; a metric the user named keeps the MetricCutoffError. From Python (metrics_for_depth,
evaluate_run, run_eval, compare) and from the CLI (typer's CliRunner); BM25 runs need no model, the
funnel runs use the real MiniLM."""

from __future__ import annotations

import json
import logging
import re

import pytest
from langchain_core.documents import Document
from typer.testing import CliRunner

from langchain_embcompare.cli import app
from langchain_embcompare.errors import MetricCutoffError
from langchain_embcompare.evaluation.datasets import BeirDataset
from langchain_embcompare.evaluation.metrics import DEFAULT_METRICS, metrics_for_depth
from langchain_embcompare.evaluation.pipeline import EvalSettings, run_eval

NOTE_10 = "recall@100 -> recall@10: retrieval depth is 10"

TEXTS = {
    "d1": "vitamin d deficiency and bone fractures", "d2": "calcium intake in older adults",
    "d3": "exercise lowers blood pressure", "d4": "sleep and memory consolidation",
    "d5": "bone density after menopause", "d6": "blood pressure medication trial",
}
QUERIES = {"q1": "vitamin d bone", "q2": "blood pressure"}
QRELS = {"q1": {"d1": 1, "d5": 1}, "q2": {"d3": 1, "d6": 1}}


def _dataset() -> BeirDataset:
    return BeirDataset("toy", [Document(page_content=t, id=i) for i, t in TEXTS.items()], dict(QUERIES), QRELS)


def _beir_folder(root):
    root.mkdir(parents=True, exist_ok=True)
    (root / "corpus.jsonl").write_text("".join(json.dumps({"_id": i, "text": t}) + "\n" for i, t in TEXTS.items()))
    (root / "queries.jsonl").write_text("".join(json.dumps({"_id": q, "text": t}) + "\n" for q, t in QUERIES.items()))
    (root / "qrels").mkdir(exist_ok=True)
    rows = "".join(f"{q}\t{d}\t{g}\n" for q, rels in QRELS.items() for d, g in rels.items())
    (root / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\n" + rows)
    return root


def test_defaults_follow_the_depth_named_metrics_keep_their_cutoff():
    assert metrics_for_depth(None, 100) == (DEFAULT_METRICS, None)
    got, note = metrics_for_depth(None, 10)
    assert got == ("ndcg@10", "recall@10", "mrr@10") and note.startswith(NOTE_10) and "\n" not in note
    got, note = metrics_for_depth(None, 5)
    assert got == ("ndcg@5", "recall@5", "mrr@5") and note.startswith("ndcg@10 -> ndcg@5, recall@100 -> recall@5, mrr@10 -> mrr@5")
    assert metrics_for_depth(None, 5, defaults=("recall@10", "recall@100"))[0] == ("recall@5",)  # lowered onto each other: once
    assert metrics_for_depth(None, None) == (DEFAULT_METRICS, None)  # depth unknown: nothing lowered
    assert metrics_for_depth(["recall@10"], 10) == (("recall@10",), None)
    with pytest.raises(MetricCutoffError, match=r"recall@100.*k=10"):
        metrics_for_depth(["ndcg@10", "recall@100"], 10)


def test_run_eval_with_k10_lowers_recall100_and_says_so(caplog):
    with caplog.at_level(logging.WARNING):
        res = run_eval(_dataset(), EvalSettings(retriever="bm25", k=10))
    assert {"ndcg@10", "recall@10", "mrr@10"} <= set(res) and "recall@100" not in res
    assert res["recall@10"] == pytest.approx(1.0)  # both relevant documents share words with their query
    assert res["metrics_note"].startswith(NOTE_10)
    assert [r.getMessage() for r in caplog.records if "retrieval depth" in r.getMessage()] == [res["metrics_note"]]  # one line
    stages: list[str] = []
    run_eval(_dataset(), EvalSettings(retriever="bm25", k=10), on_stage=stages.append)
    assert sum("retrieval depth is 10" in s for s in stages) == 1
    with pytest.raises(MetricCutoffError, match="recall@100"):
        run_eval(_dataset(), EvalSettings(retriever="bm25", k=10), metrics=("ndcg@10", "recall@100"))


def test_compare_defaults_follow_k_named_metrics_fail():
    from langchain_embcompare.evaluation.compare import compare
    from langchain_embcompare.retrievers.lexical import BM25Retriever

    bm25 = BM25Retriever.from_documents(_dataset().corpus, k=10)
    stages: list[str] = []
    res = compare({"bm25": bm25}, _dataset(), k=10, latency_queries=0, n_resamples=50, on_stage=stages.append)
    assert res.to_dict()["metrics"] == ["ndcg@10", "recall@10", "mrr@10"]
    assert sum(s.startswith(NOTE_10) for s in stages) == 1
    with pytest.raises(MetricCutoffError, match="recall@100"):
        compare({"bm25": bm25}, _dataset(), k=10, metrics=("recall@100",), latency_queries=0)


def test_cli_eval_k10_prints_the_note_and_the_lowered_column(tmp_path):
    root = _beir_folder(tmp_path / "toy")
    out = tmp_path / "r.json"
    res = CliRunner().invoke(app, ["eval", str(root), "--retriever", "bm25", "--k", "10", "--out", str(out)])
    assert res.exit_code == 0, res.output
    flat = " ".join(re.sub(r"\S+\.py:\d+", " ", res.output).split())  # rich's log column (file:line) cut out of wrapped lines
    assert flat.count("recall@100 -> recall@10: retrieval depth is 10") == 1, res.output
    assert "recall@10" in flat and json.loads(out.read_text())["recall@10"] == pytest.approx(1.0)
    named = CliRunner().invoke(app, ["eval", str(root), "--retriever", "bm25", "--k", "10", "--metrics", "ndcg@10,recall@100"])
    assert named.exit_code == 2 and "recall@100" in named.output and "k=10" in " ".join(named.output.split())


@pytest.mark.integration
def test_run_eval_funnel_shortlist_50_with_minilm(scifact_small):
    """The issue's example from Python: the funnel returns its shortlist (50), so recall@100 -> recall@50."""
    res = run_eval(scifact_small, EvalSettings(retriever="funnel", shortlist=50, shortlist_dim=128))
    assert "recall@50" in res and "recall@100" not in res and res["metrics_note"].startswith("recall@100 -> recall@50")
    assert 0.0 < res["recall@50"] <= 1.0 and res["ndcg@10"] > 0.3


@pytest.mark.integration
def test_cli_eval_funnel_shortlist_50_with_minilm(scifact_small_dir, tmp_path):
    """The issue's example: `embcompare eval DATA --retriever funnel --shortlist 50` used to stop on recall@100."""
    out = tmp_path / "r.json"
    res = CliRunner().invoke(
        app, ["eval", str(scifact_small_dir), "--retriever", "funnel", "--shortlist", "50", "--shortlist-dim", "128", "--out", str(out)]
    )
    assert res.exit_code == 0, res.output
    result = json.loads(out.read_text())
    assert "recall@50" in result and "recall@100" not in result
    assert result["metrics_note"].startswith("recall@100 -> recall@50: retrieval depth is 50")
    flat = " ".join(re.sub(r"\S+\.py:\d+", " ", res.output).split())  # rich's log column (file:line) cut out of wrapped lines
    assert flat.count("recall@100 -> recall@50: retrieval depth is 50") == 1, res.output
