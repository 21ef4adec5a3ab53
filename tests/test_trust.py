"""trust.py: Kendall's tau and pairwise decision agreement between human and synthetic label sets."""

from __future__ import annotations

import numpy as np
import pytest

from langchain_embcompare.errors import EmptyInputError, InvalidParameterError
from langchain_embcompare.evaluation.trust import (
    kendall_tau,
    measured_trust,
    pairwise_decisions,
    trust_lines,
    trust_summary,
)


def _scores(means: dict[str, float], n: int = 200, noise: float = 0.05, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    base = rng.uniform(0, 1, n)
    return {name: np.clip(base * 0 + m + rng.normal(0, noise, n), 0, 1) for name, m in means.items()}


def test_kendall_tau_same_order_is_one_reversed_is_minus_one():
    a = {"x": 0.1, "y": 0.2, "z": 0.3, "w": 0.4}
    assert kendall_tau(a, {k: v * 2 for k, v in a.items()})[0] == pytest.approx(1.0)
    assert kendall_tau(a, {k: -v for k, v in a.items()})[0] == pytest.approx(-1.0)
    # one swapped adjacent pair of 4 runs: (6 - 2 * 1) / 6
    assert kendall_tau(a, {"x": 0.2, "y": 0.1, "z": 0.3, "w": 0.4})[0] == pytest.approx(4 / 6)


def test_kendall_tau_needs_three_runs():
    with pytest.raises(InvalidParameterError, match=">= 3 runs"):
        kendall_tau({"a": 1.0, "b": 2.0}, {"a": 1.0, "b": 2.0})


def test_pairwise_decisions_direction_and_no_decision():
    s = _scores({"good": 0.8, "bad": 0.3, "bad2": 0.3})
    s["bad2"] = s["bad"].copy()  # identical runs: no decision
    d = pairwise_decisions(s)
    assert d[("good", "bad")] == 1
    assert d[("good", "bad2")] == 1
    assert d[("bad", "bad2")] == 0
    flipped = pairwise_decisions({"bad": s["bad"], "good": s["good"]})
    assert flipped[("bad", "good")] == -1


def test_trust_summary_counts_agreement_and_contradictions():
    human = _scores({"a": 0.9, "b": 0.6, "c": 0.3, "d": 0.3}, seed=1)
    # synthetic: same order for a > b > c, but c and d reversed strongly (a contradiction only if human decides c-d)
    synthetic = _scores({"a": 0.8, "b": 0.5, "c": 0.2, "d": 0.4}, seed=2)
    out = trust_summary(human, synthetic)
    assert out["pairs"] == 6
    assert out["runs"] == ["a", "b", "c", "d"]
    # human decides a>b, a>c, a>d, b>c, b>d (c~d undecided); synthetic decides all 6, d>c among them
    assert out["human_decisions"] == 5
    assert out["synthetic_decisions"] == 6
    assert out["decisions_either"] == 6
    assert out["agreeing_decisions"] == 5
    assert out["decision_agreement"] == pytest.approx(5 / 6)
    assert out["human_decisions_reproduced"] == pytest.approx(1.0)
    assert out["contradictions"] == []
    assert -1 <= out["kendall_tau"] <= 1 and out["kendall_tau"] > 0.5


def test_trust_summary_contradiction_is_listed():
    human = _scores({"a": 0.9, "b": 0.5, "c": 0.1}, seed=3)
    synthetic = _scores({"a": 0.1, "b": 0.5, "c": 0.9}, seed=4)
    out = trust_summary(human, synthetic)
    assert out["kendall_tau"] == pytest.approx(-1.0)
    assert sorted(map(tuple, out["contradictions"])) == [("a", "b"), ("a", "c"), ("b", "c")]
    assert out["decision_agreement"] == 0.0


def test_trust_summary_needs_three_common_runs():
    with pytest.raises(EmptyInputError, match=">= 3 runs"):
        trust_summary(_scores({"a": 0.5, "b": 0.4}), _scores({"a": 0.5, "c": 0.4}))


def test_measured_trust_ships_with_the_package():
    """The benchmark's SciFact measurement ships as package data: >= 8 runs, its data set named."""
    data = measured_trust()
    assert data is not None, "langchain_embcompare/data/trust_scifact.json is missing: run benchmarks/bench_synthetic.py"
    assert "SciFact" in data["dataset"]
    cloze = measured_trust("cloze")
    assert cloze["method"] == "cloze" and len(cloze["runs"]) >= 8
    assert -1 <= cloze["kendall_tau"] <= 1
    assert measured_trust("no-such-method") is None
    line = trust_lines(cloze)[0]
    assert "SciFact" in line and "Kendall's tau" in line


def test_trust_lines_carry_the_measurement_note():
    """A measurement's note (e.g. a toy generator: plumbing, not quality) is shown under its numbers."""
    entry = {"method": "llm", "dataset": "SciFact", "runs": ["a", "b", "c"], "metric": "ndcg@10", "kendall_tau": 0.5,
             "decision_agreement": None, "agreeing_decisions": 0, "decisions_either": 0, "contradictions": [],
             "source": "bench", "note": "a 135M model: plumbing, not quality"}
    lines = trust_lines(entry)
    assert len(lines) == 2 and lines[1].endswith("a 135M model: plumbing, not quality")
    assert len(trust_lines({**entry, "note": None})) == 1
