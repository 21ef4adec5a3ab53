"""How far a ranking of systems made with synthetic labels can be trusted, measured against human labels.

On a data set that has human labels, the same runs (models x dimensions x BM25 / hybrid) are compared
twice: under the human labels and under synthetic ones (:mod:`~langchain_embcompare.evaluation.synthetic`,
optionally with LLM judgments). Two numbers say how far the synthetic verdicts follow the human ones:

* **Kendall's tau** (``scipy.stats.kendalltau``, tau-b) between the two rankings of runs by the mean of
  one metric (nDCG@10): 1 = the same order, 0 = unrelated, -1 = reversed; the usual bar for "the same
  system ranking" in IR evaluation is 0.9 (Voorhees, 2000).
* **Pairwise decision agreement**: every pair of runs is tested under each label set (paired test over
  that set's queries, Holm-corrected over all pairs, :func:`~langchain_embcompare.evaluation.significance.paired_pvalue`);
  a decision is "A better than B" (significant, A's mean higher) or none. ``decision_agreement`` is the
  share of pairs decided (significant) under either label set on which both make the same decision;
  ``human_decisions_reproduced`` the share of the human decisions the synthetic labels make too;
  ``contradictions`` the pairs decided in opposite directions (the costly error).

``benchmarks/bench_synthetic.py`` measures these on SciFact and ships the result in the package
(``data/trust_scifact.json``); :func:`measured_trust` reads it so that every report on synthetic labels
shows the measured agreement next to its results, with the data set it comes from.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from importlib import resources
from typing import Any

import numpy as np
from scipy import stats

from langchain_embcompare.errors import EmptyInputError, InvalidParameterError
from langchain_embcompare.evaluation.significance import adjust_pvalues, paired_pvalue, per_query_matrix

__all__ = ["TRUST_FILE", "kendall_tau", "measured_trust", "pairwise_decisions", "per_query_scores", "trust_lines", "trust_summary"]

#: The benchmark's result shipped in the package (``langchain_embcompare/data/``).
TRUST_FILE = "trust_scifact.json"


def kendall_tau(a: Mapping[str, float], b: Mapping[str, float]) -> tuple[float, float]:
    """Kendall's tau-b between two scorings of the same runs (``scipy.stats.kendalltau``) and its p-value.

    Args:
        a, b: run name -> mean metric; the runs in common are ranked (at least 3).
    Returns:
        (tau, p_value); tau is NaN when one scoring is constant.
    Raises:
        InvalidParameterError: fewer than 3 runs in common.
    """
    names = [n for n in a if n in b]
    if len(names) < 3:
        raise InvalidParameterError(f"Kendall's tau needs >= 3 runs in common; got {names}.")
    res = stats.kendalltau([a[n] for n in names], [b[n] for n in names])
    return float(res.statistic), float(res.pvalue)


def pairwise_decisions(
    scores: Mapping[str, np.ndarray], *, alpha: float = 0.05, test: str = "student", correction: str = "holm"
) -> dict[tuple[str, str], int]:
    """The significant decision on every pair of runs: ``{(a, b): +1}`` when a's mean is higher and the
    paired test (``paired_pvalue``, p-values corrected over all pairs by ``correction``) is significant at
    ``alpha``, ``-1`` when b's is, ``0`` for no decision.

    Args:
        scores: run name -> (n_queries,) per-query metric values, the same queries in the same order.
    Returns:
        a dict over the ``n(n-1)/2`` pairs in the order of ``scores``.
    """
    names = list(scores)
    pairs = [(a, b) for i, a in enumerate(names) for b in names[i + 1 :]]
    if not pairs:
        return {}
    p = adjust_pvalues([paired_pvalue(scores[a], scores[b], test=test) for a, b in pairs], correction)
    out = {}
    for (a, b), pv in zip(pairs, p):
        diff = float(np.mean(scores[a]) - np.mean(scores[b]))
        out[(a, b)] = 0 if pv > alpha or diff == 0 else (1 if diff > 0 else -1)
    return out


def per_query_scores(runs: Mapping[str, Any], qrels: Mapping[str, Mapping[str, int]], metric: str = "ndcg@10") -> dict[str, np.ndarray]:
    """run name -> (n_queries,) per-query ``metric`` over the labelled queries (``per_query_matrix``)."""
    return {n: per_query_matrix(r, qrels, [metric])[1][0] for n, r in runs.items()}


def trust_summary(
    human: Mapping[str, np.ndarray],
    synthetic: Mapping[str, np.ndarray],
    *,
    metric: str = "ndcg@10",
    alpha: float = 0.05,
    test: str = "student",
    correction: str = "holm",
) -> dict[str, Any]:
    """Kendall's tau and pairwise decision agreement between two label sets over the same runs.

    Args:
        human / synthetic: run name -> per-query metric values under each label set (each set its own
            queries); the runs in common are compared.
    Returns:
        JSON-ready: ``runs``, ``metric``, ``human_means`` / ``synthetic_means``, ``kendall_tau``, ``tau_p_value``,
            ``pairs``, ``human_decisions``, ``synthetic_decisions``, ``decisions_either``, ``agreeing_decisions``,
            ``decision_agreement`` (agreeing / either; None when neither decides anything),
            ``human_decisions_reproduced`` (None without human decisions), ``contradictions`` (list of pairs),
            ``alpha``, ``test``, ``correction``.
    Raises:
        EmptyInputError: fewer than 3 runs in common.
    """
    names = [n for n in human if n in synthetic]
    if len(names) < 3:
        raise EmptyInputError(f"Trust needs >= 3 runs scored under both label sets; got {names}.")
    hm = {n: float(np.mean(human[n])) for n in names}
    sm = {n: float(np.mean(synthetic[n])) for n in names}
    tau, tau_p = kendall_tau(hm, sm)
    dh = pairwise_decisions({n: human[n] for n in names}, alpha=alpha, test=test, correction=correction)
    ds = pairwise_decisions({n: synthetic[n] for n in names}, alpha=alpha, test=test, correction=correction)
    either = [p for p in dh if dh[p] or ds[p]]
    agree = [p for p in either if dh[p] == ds[p]]
    human_decided = [p for p in dh if dh[p]]
    return {
        "runs": names,
        "metric": metric,
        "human_means": hm,
        "synthetic_means": sm,
        "kendall_tau": tau,
        "tau_p_value": tau_p,
        "pairs": len(dh),
        "human_decisions": len(human_decided),
        "synthetic_decisions": sum(1 for p in ds if ds[p]),
        "decisions_either": len(either),
        "agreeing_decisions": len(agree),
        "decision_agreement": len(agree) / len(either) if either else None,
        "human_decisions_reproduced": (sum(1 for p in human_decided if ds[p] == dh[p]) / len(human_decided)) if human_decided else None,
        "contradictions": [list(p) for p in dh if dh[p] and ds[p] and dh[p] != ds[p]],
        "alpha": alpha,
        "test": test,
        "correction": correction,
    }


def measured_trust(method: str | None = None) -> dict[str, Any] | None:
    """The trust the benchmark measured (``data/trust_scifact.json``): the whole file, or with ``method``
    (``"cloze"``, ``"llm"``) that method's entry plus ``dataset`` and ``source``; None when not shipped or
    the method was not measured.

    Args:
        method: ``"cloze"`` or ``"llm"``, or None for the whole file.

    Returns:
        The parsed JSON (a dict), the method's entry with ``dataset``, ``source`` and ``method``, or None.
    """
    try:
        text = resources.files("langchain_embcompare").joinpath("data", TRUST_FILE).read_text(encoding="utf-8")
    except (FileNotFoundError, OSError):
        return None
    data = json.loads(text)
    if method is None:
        return data
    entry = (data.get("methods") or {}).get(method)
    if entry is None:
        return None
    return {"dataset": data.get("dataset"), "source": data.get("source"), "method": method, **entry}


def trust_lines(trust: Mapping[str, Any] | None) -> list[str]:
    """Plain-text lines for a :func:`measured_trust` entry ([] for None); its ``note`` (what the
    measurement can and cannot say, e.g. a toy generator) is a second line."""
    if not trust:
        return []
    agree = trust.get("decision_agreement")
    note = [f"note on this measurement: {trust['note']}"] if trust.get("note") else []
    return [
        f"measured trust of {trust.get('method')} labels on {trust.get('dataset')} ({len(trust.get('runs') or [])} runs, "
        f"{trust.get('metric')}): Kendall's tau {trust.get('kendall_tau'):.2f} between the rankings of runs under human and "
        f"synthetic labels; significant pairwise decisions agree on "
        + ("-" if agree is None else f"{agree:.0%}")
        + f" ({trust.get('agreeing_decisions')} of {trust.get('decisions_either')}), {len(trust.get('contradictions') or [])} "
        f"contradicted (source: {trust.get('source')})"
    ] + note
