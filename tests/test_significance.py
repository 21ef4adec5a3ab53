"""Confidence intervals and paired tests: hand-checked corrections, and p-values checked against ranx."""

from __future__ import annotations

import numpy as np
import pytest
from ranx import Qrels, Run, compare, evaluate

from langchain_embcompare.errors import EmptyInputError, InvalidParameterError
from langchain_embcompare.evaluation.metrics import evaluate_run
from langchain_embcompare.evaluation.significance import (
    adjust_pvalues,
    bootstrap_ci,
    paired_pvalue,
    per_query_matrix,
    ranx_compare,
    significance_vs_baseline,
)

METRICS = ["ndcg@10", "recall@100", "mrr@10"]


@pytest.fixture(scope="module")
def runs_and_qrels():
    """Four runs over 120 labelled queries: r0 random, r1/r2 random, r3 puts a relevant doc on top half the time."""
    rng = np.random.default_rng(0)
    qrels = {f"q{q}": {f"d{d}": int(rng.integers(1, 3)) for d in rng.choice(300, 4, replace=False)} for q in range(120)}
    runs = {}
    for r in range(4):
        runs[f"r{r}"] = {
            q: {f"d{d}": float(s) for d, s in zip(rng.choice(300, 100, replace=False), rng.random(100))} for q in qrels
        }
    for i, q in enumerate(qrels):
        if i % 2 == 0:
            runs["r3"][q][next(iter(qrels[q]))] = 5.0
    return runs, qrels


def test_holm_and_bonferroni_by_hand():
    p = [0.01, 0.04, 0.03, 0.005]
    # Holm: sorted 0.005, 0.01, 0.03, 0.04 times 4, 3, 2, 1 = 0.02, 0.03, 0.06, 0.04 -> monotone 0.02, 0.03, 0.06, 0.06
    assert adjust_pvalues(p, "holm") == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert adjust_pvalues(p, "bonferroni") == pytest.approx([0.04, 0.16, 0.12, 0.02])
    # Benjamini-Hochberg: sorted p * 4 / rank = 0.02, 0.02, 0.04, 0.04 (already monotone from the top)
    assert adjust_pvalues(p, "fdr_bh") == pytest.approx([0.02, 0.04, 0.04, 0.02])
    assert adjust_pvalues([0.6, 0.9], "holm") == pytest.approx([1.0, 1.0])  # capped at 1
    assert adjust_pvalues(p, "none") == pytest.approx(p)


def test_bootstrap_interval_covers_the_mean_and_matches_the_normal_approximation():
    rng = np.random.default_rng(1)
    x = rng.normal(0.5, 0.2, size=400)
    (iv,) = bootstrap_ci(x, confidence=0.95, n_resamples=4000, seed=0)
    assert iv.low < iv.mean < iv.high
    half = 1.96 * x.std(ddof=1) / np.sqrt(x.size)
    assert (iv.high - iv.low) / 2 == pytest.approx(half, rel=0.1)
    # constant scores (a run that finds nothing): the interval is the point itself
    (zero,) = bootstrap_ci(np.zeros(50))
    assert (zero.mean, zero.low, zero.high) == (0.0, 0.0, 0.0)
    # several metrics at once, one row each
    two = bootstrap_ci(np.vstack([x, x + 1]))
    assert two[1].mean == pytest.approx(two[0].mean + 1)


def test_paired_pvalue_edge_cases():
    a = np.array([0.1, 0.5, 0.3, 0.9])
    assert paired_pvalue(a, a) == 1.0  # identical runs
    assert paired_pvalue(a, a + 0.5, "wilcoxon") < 0.2
    with pytest.raises(InvalidParameterError, match="stat_test"):
        paired_pvalue(a, a, "anova")
    with pytest.raises(InvalidParameterError, match="same queries"):
        paired_pvalue(a, a[:3])
    with pytest.raises(EmptyInputError):
        paired_pvalue(a[:1], a[:1])


def test_means_match_ranx_and_the_package_metrics(runs_and_qrels):
    runs, qrels = runs_and_qrels
    rq = Qrels(qrels)
    for name, run in runs.items():
        _, mat = per_query_matrix(run, qrels, METRICS)
        ours = evaluate_run(run, qrels, METRICS)
        theirs = evaluate(rq, Run(run), METRICS)
        for j, m in enumerate(METRICS):
            assert mat[j].mean() == pytest.approx(ours[m], abs=1e-12)
            assert mat[j].mean() == pytest.approx(theirs[m], abs=1e-9)


def test_student_pvalues_equal_ranx_compare(runs_and_qrels):
    runs, qrels = runs_and_qrels
    scores = {n: per_query_matrix(r, qrels, METRICS)[1] for n, r in runs.items()}
    res = significance_vs_baseline(scores, METRICS, baseline="r0", stat_test="student", correction="holm")
    report = ranx_compare(runs, qrels, METRICS, stat_test="student").to_dict()
    # and the same through ranx's public API directly, to be sure the wrapper adds nothing
    direct = compare(Qrels(qrels), [Run(r, name=n) for n, r in runs.items()], METRICS, stat_test="student").to_dict()
    for name in ("r1", "r2", "r3"):
        for m in METRICS:
            ours = res.runs[name][m]
            assert ours.p_value == pytest.approx(report["r0"]["comparisons"][name][m], rel=1e-9)
            assert ours.p_value == pytest.approx(direct["r0"]["comparisons"][name][m], rel=1e-9)
            assert ours.interval.mean == pytest.approx(report[name]["scores"][m], abs=1e-9)
            assert ours.p_adjusted >= ours.p_value
    # Holm over the three comparisons of each metric, by hand
    for m in METRICS:
        raw = [res.runs[n][m].p_value for n in ("r1", "r2", "r3")]
        assert [res.runs[n][m].p_adjusted for n in ("r1", "r2", "r3")] == pytest.approx(adjust_pvalues(raw, "holm"))
    # r3 is clearly better on nDCG@10 and MRR@10; r1 (random) is not
    assert res.runs["r3"]["ndcg@10"].significant and res.runs["r3"]["ndcg@10"].delta > 0.1
    assert res.runs["r3"]["mrr@10"].significant
    assert not res.runs["r1"]["ndcg@10"].significant
    assert res.runs["r0"]["ndcg@10"].p_value is None  # the baseline is not tested against itself


def test_permutation_pvalues_agree_with_ranx_fisher(runs_and_qrels):
    runs, qrels = runs_and_qrels
    sub = {n: runs[n] for n in ("r0", "r1", "r2")}
    scores = {n: per_query_matrix(r, qrels, ["ndcg@10"])[1] for n, r in sub.items()}
    res = significance_vs_baseline(scores, ["ndcg@10"], baseline="r0", stat_test="permutation", n_permutations=20_000)
    report = ranx_compare(sub, qrels, ["ndcg@10"], stat_test="fisher", n_permutations=20_000).to_dict()
    for name in ("r1", "r2"):
        # both are Monte Carlo estimates of the same p-value (std ~0.004 each at 20k permutations)
        assert res.runs[name]["ndcg@10"].p_value == pytest.approx(report["r0"]["comparisons"][name]["ndcg@10"], abs=0.03)


def test_significance_input_errors(runs_and_qrels):
    scores = {"a": np.zeros((3, 5)), "b": np.ones((3, 5))}
    with pytest.raises(InvalidParameterError, match="baseline='c'"):
        significance_vs_baseline(scores, METRICS, baseline="c")
    with pytest.raises(InvalidParameterError, match="correction"):
        significance_vs_baseline(scores, METRICS, baseline="a", correction="sidak")
    with pytest.raises(InvalidParameterError, match="rows"):
        significance_vs_baseline(scores, METRICS[:2], baseline="a")
    with pytest.raises(InvalidParameterError, match="n_queries"):
        significance_vs_baseline({"a": np.zeros((3, 5)), "b": np.zeros((3, 4))}, METRICS, baseline="a")
    res = significance_vs_baseline(scores, METRICS, baseline=None)
    assert res.runs["b"]["ndcg@10"].p_value is None and res.runs["b"]["ndcg@10"].interval.mean == 1.0
