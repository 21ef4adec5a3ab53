"""Agreement metrics on hand-made runs with answers worked out by hand (and against reference code)."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest
from scipy import stats

from langchain_embcompare.errors import EmptyInputError, InvalidParameterError
from langchain_embcompare.evaluation.agreement import (
    agreement_matrix,
    overlap_at_k,
    pair_agreement,
    rank_biased_overlap,
    rank_correlation,
    score_distance,
)


def rbo_ext_reference(S: list[str], T: list[str], p: float) -> float:
    """Webber, Moffat & Zobel (2010) eq. 32, transcribed literally: one list pair, one depth at a time."""
    if not S and not T:
        return 1.0
    if not S or not T:
        return 0.0
    short, long_ = (S, T) if len(S) <= len(T) else (T, S)
    s, l = len(short), len(long_)  # noqa: E741

    def X(d: int) -> int:  # overlap of the two prefixes at depth d (the short list stops at s)
        return len(set(short[: min(d, s)]) & set(long_[:d]))

    sum1 = sum(X(d) / d * p**d for d in range(1, l + 1))
    sum2 = sum(X(s) * (d - s) / (s * d) * p**d for d in range(s + 1, l + 1))
    return (1 - p) / p * (sum1 + sum2) + ((X(l) - X(s)) / l + X(s) / s) * p**l


def ranked(*docs: str, top: float = 1.0) -> dict[str, float]:
    """A run row whose order is the argument order (strictly decreasing scores)."""
    return {d: top - 0.01 * i for i, d in enumerate(docs)}


def test_overlap_at_k_known_values():
    a = {"q1": ranked("a", "b", "c", "x"), "q2": ranked("a", "b", "c")}
    b = {"q1": ranked("a", "c", "d", "b"), "q2": ranked("d", "e", "f")}
    # q1: top-3 {a,b,c} vs {a,c,d} -> 2/3; q2: disjoint -> 0
    assert overlap_at_k(a, b, k=3) == pytest.approx((2 / 3 + 0) / 2)
    assert overlap_at_k(a, b, k=1) == pytest.approx(0.5)  # q1 top-1 equal, q2 not
    assert overlap_at_k(a, b, k=4) == pytest.approx((3 / 4 + 0) / 2)  # q1 {a,b,c,x} vs {a,c,d,b}
    assert overlap_at_k(a, a, k=10) == 1.0  # short identical lists agree fully


def test_overlap_counts_a_query_missing_from_one_run_as_disagreement():
    a = {"q1": ranked("a", "b"), "q2": ranked("a", "b")}
    b = {"q1": ranked("a", "b")}
    assert overlap_at_k(a, b, k=2) == pytest.approx(0.5)


def test_rbo_known_values():
    same = {"q": ranked("a", "b", "c")}
    assert rank_biased_overlap(same, same, p=0.9) == pytest.approx(1.0)
    assert rank_biased_overlap(same, {"q": ranked("x", "y", "z")}, p=0.9) == 0.0
    # [a,b,c] vs [a,c,b]: X = 1, 1, 3 at depths 1..3 (Webber eq. 32 with s = l = 3):
    # (1-p)/p * (1*p + 1/2*p^2 + 3/3*p^3) + 3/3*p^3
    p = 0.9
    expected = (1 - p) / p * (p + 0.5 * p**2 + p**3) + p**3
    assert rank_biased_overlap(same, {"q": ranked("a", "c", "b")}, p=p) == pytest.approx(expected)
    # top-weighted: a swap at the top costs more than a swap at the bottom
    top_swap = rank_biased_overlap(same, {"q": ranked("b", "a", "c")}, p=p)
    bottom_swap = rank_biased_overlap(same, {"q": ranked("a", "c", "b")}, p=p)
    assert top_swap < bottom_swap < 1.0


def test_rbo_uneven_lists_matches_reference_implementation():
    rnd = random.Random(0)
    pool = [f"d{i}" for i in range(25)]
    run_a, run_b, expected = {}, {}, []
    for q in range(150):
        la, lb = rnd.randint(1, 15), rnd.randint(1, 15)
        s, t = rnd.sample(pool, la), rnd.sample(pool, lb)
        run_a[f"q{q:03d}"], run_b[f"q{q:03d}"] = ranked(*s), ranked(*t)
        expected.append(rbo_ext_reference(s, t, p=0.8))
    # one call computes all 150 queries at once; the mean must equal the reference's mean
    assert rank_biased_overlap(run_a, run_b, p=0.8) == pytest.approx(float(np.mean(expected)), abs=1e-12)
    for q in ("q000", "q077", "q149"):
        i = int(q[1:])
        one = rank_biased_overlap({q: run_a[q]}, {q: run_b[q]}, p=0.8)
        assert one == pytest.approx(expected[i], abs=1e-12)


def test_rank_correlation_on_shared_documents():
    a = {"q": {"a": 0.9, "b": 0.8, "c": 0.7, "d": 0.6, "only_a": 0.5}}
    same_order = {"q": {"a": 0.5, "b": 0.4, "c": 0.3, "d": 0.2, "only_b": 0.99}}
    reversed_order = {"q": {"a": 0.1, "b": 0.2, "c": 0.3, "d": 0.4}}
    assert rank_correlation(a, same_order) == pytest.approx(1.0)
    assert rank_correlation(a, reversed_order) == pytest.approx(-1.0)
    assert rank_correlation(a, reversed_order, method="spearman") == pytest.approx(-1.0)
    # fewer than three shared documents: undefined, reported as NaN
    assert np.isnan(rank_correlation(a, {"q": {"a": 1.0, "zz": 0.5}}))


def test_rank_correlation_matches_scipy_with_ties():
    rng = np.random.default_rng(3)
    a, b, taus, rhos = {}, {}, [], []
    for q in range(30):
        da, db = rng.choice(40, 25, replace=False), rng.choice(40, 25, replace=False)
        a[f"q{q}"] = {f"d{d}": float(np.round(rng.random(), 1)) for d in da}  # rounded: many ties
        b[f"q{q}"] = {f"d{d}": float(np.round(rng.random(), 1)) for d in db}
        shared = sorted(set(a[f"q{q}"]) & set(b[f"q{q}"]))
        x, y = [a[f"q{q}"][d] for d in shared], [b[f"q{q}"][d] for d in shared]
        taus.append(stats.kendalltau(x, y)[0])
        rhos.append(stats.spearmanr(x, y)[0])
    assert rank_correlation(a, b, k=25) == pytest.approx(np.nanmean(taus), abs=1e-12)
    assert rank_correlation(a, b, k=25, method="spearman") == pytest.approx(np.nanmean(rhos), abs=1e-12)


def test_score_distance_known_values():
    a = {"q1": {"a": 0.5, "b": 0.6}, "q2": {"a": 0.5, "b": 0.6}}
    shifted = {q: {d: s + 1.0 for d, s in row.items()} for q, row in a.items()}
    assert score_distance(a, a) == {"wasserstein": 0.0, "ks": 0.0}
    d = score_distance(a, shifted)
    assert d["wasserstein"] == pytest.approx(1.0)
    assert d["ks"] == pytest.approx(1.0)


def test_agreement_matrix_is_symmetric_with_identity_diagonal_and_serialises():
    rng = np.random.default_rng(0)
    docs = np.array([f"d{i}" for i in range(200)])
    base = {f"q{q}": rng.permutation(docs)[:40] for q in range(20)}
    runs = {
        name: {q: ranked(*np.roll(v, shift)[:30]) for q, v in base.items()}
        for name, shift in (("A", 0), ("B", 1), ("C", 20))
    }
    m = agreement_matrix(runs, k=10, p=0.9)
    for metric in ("overlap", "rbo", "kendall"):
        mat = m.matrix(metric)
        assert np.allclose(mat, mat.T)
        assert np.allclose(np.diag(mat), 1.0)
    # B is A shifted by one position, C by twenty: B agrees with A far more than C does
    assert m.matrix("rbo")[0, 1] > m.matrix("rbo")[0, 2]
    assert m.matrix("overlap")[0, 1] == pytest.approx(9 / 10)
    assert m.pairs[("A", "B")] == pair_agreement(runs["A"], runs["B"], k=10, p=0.9)
    d = json.loads(json.dumps(m.to_dict()))
    assert d["names"] == ["A", "B", "C"] and len(d["metrics"]["rbo"]) == 3


def test_bad_input_errors_name_the_problem():
    a = {"q": ranked("a", "b")}
    with pytest.raises(InvalidParameterError, match="p=1.0"):
        rank_biased_overlap(a, a, p=1.0)
    with pytest.raises(InvalidParameterError, match="k=0"):
        overlap_at_k(a, a, k=0)
    with pytest.raises(InvalidParameterError, match="method"):
        rank_correlation(a, a, method="pearson")
    with pytest.raises(EmptyInputError):
        overlap_at_k({}, {}, k=3)
    with pytest.raises(InvalidParameterError, match="NaN"):
        overlap_at_k({"q": {"a": float("nan")}}, a, k=3)
    with pytest.raises(InvalidParameterError, match="metric"):
        agreement_matrix({"A": a, "B": a}).matrix("jaccard")
