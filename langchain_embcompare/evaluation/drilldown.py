"""Per-query drill-down: which queries a run wins, ties or loses against the baseline, and why.

For one run against the baseline, on the primary metric (default nDCG@10, per query from pytrec_eval
via :func:`~langchain_embcompare.evaluation.metrics.evaluate_per_query`):

- wins / ties / losses: queries where the run scores higher / equal (within ``tie_tolerance``) / lower;
- the effect size: the mean paired difference and Cohen's d_z = mean(diff) / sd(diff) (the paired
  standardised mean difference, Cohen 1988, ch. 2.3; None when every difference is equal);
- the ``n_examples`` queries with the largest loss and the largest gain, each with the query text and
  both runs' top ``top`` documents side by side, every document marked with its relevance grade.

The output is a JSON-ready dict (``ComparisonResult.to_dict()["drilldown"][run]`` and the advisor's
JSON); :func:`langchain_embcompare.evaluation.report.drilldown_html` renders it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from langchain_embcompare.errors import InvalidParameterError
from langchain_embcompare.evaluation.metrics import Run, evaluate_per_query
from langchain_embcompare.ranking import trec_top_k

__all__ = ["doc_titles", "drilldown", "drilldowns"]


def doc_titles(corpus: Sequence[Any], width: int = 90) -> dict[str, str]:
    """``{doc_id: short label}`` for the side-by-side lists: the title, else the text's first ``width`` characters."""
    out: dict[str, str] = {}
    for d in corpus:
        doc_id = str(getattr(d, "id", None) or d.metadata.get("doc_id"))
        title = (d.metadata or {}).get("title") or ""
        text = title or d.page_content
        out[doc_id] = text if len(text) <= width else text[: width - 1] + "…"
    return out


def _top(run_row: Mapping[str, float], n: int) -> list[str]:
    """The row's ``n`` best doc ids in the order the metrics read them (a ``retrieve_run`` row: the
    retriever's order; a hand-written one: score descending, ties by doc id descending, trec_eval's)."""
    return list(trec_top_k(run_row, n))


def _side(ids: list[str], rels: Mapping[str, int], titles: Mapping[str, str]) -> list[dict[str, Any]]:
    return [
        {"rank": r + 1, "doc_id": d, "relevance": int(rels.get(d, 0)), "title": titles.get(d, "")}
        for r, d in enumerate(ids)
    ]


def drilldown(
    baseline_run: Run,
    run: Run,
    qrels: Mapping[str, Mapping[str, int]],
    queries: Mapping[str, str],
    titles: Mapping[str, str] | None = None,
    metric: str = "ndcg@10",
    top: int = 5,
    n_examples: int = 3,
    tie_tolerance: float = 1e-9,
    per_query: tuple[Mapping[str, float], Mapping[str, float]] | None = None,
) -> dict[str, Any]:
    """One run against the baseline, query by query.

    Args:
        baseline_run, run: ``{query_id: {doc_id: score}}`` (higher = better), the same queries.
        qrels: ``{query_id: {doc_id: grade}}``; only labelled queries are counted.
        queries: ``{query_id: text}``; titles: ``{doc_id: label}`` (see :func:`doc_titles`).
        metric: the per-query metric (``name@k``); top: documents shown per side; n_examples: how many
            largest losses and gains to show; tie_tolerance: |difference| at or below it is a tie.
        per_query: precomputed ``({qid: score}, {qid: score})`` for baseline and run (skips pytrec_eval).

    Returns:
        ``{"metric", "n_queries", "wins", "ties", "losses", "mean_delta", "sd_delta", "effect_size_dz",
            "largest_losses": [...], "largest_gains": [...]}``; each example is ``{"query_id", "query",
            "baseline", "run", "delta", "baseline_top": [{rank, doc_id, relevance, title}], "run_top": [...]}``.

    Raises:
        InvalidParameterError: no labelled query, or ``top`` / ``n_examples`` below 1 / 0.
    """
    if top < 1 or n_examples < 0:
        raise InvalidParameterError(f"top={top} must be >= 1 and n_examples={n_examples} >= 0.")
    titles = titles or {}
    if per_query is None:
        pb = {q: v[metric] for q, v in evaluate_per_query(baseline_run, qrels, [metric]).items()}
        pr = {q: v[metric] for q, v in evaluate_per_query(run, qrels, [metric]).items()}
    else:
        pb, pr = dict(per_query[0]), dict(per_query[1])
    qids = sorted(q for q in qrels if q in pb and q in pr)
    if not qids:
        raise InvalidParameterError("drilldown: no labelled query is shared by the two runs; check qrels and query ids.")
    b = np.array([pb[q] for q in qids], dtype=np.float64)
    r = np.array([pr[q] for q in qids], dtype=np.float64)
    diff = r - b
    wins = int(np.sum(diff > tie_tolerance))
    losses = int(np.sum(diff < -tie_tolerance))
    sd = float(np.std(diff, ddof=1)) if diff.size > 1 else 0.0
    mean = float(diff.mean())

    def example(i: int) -> dict[str, Any]:
        q = qids[i]
        rels = qrels.get(q, {})
        return {
            "query_id": q,
            "query": queries.get(q, ""),
            "baseline": float(b[i]),
            "run": float(r[i]),
            "delta": float(diff[i]),
            "baseline_top": _side(_top(baseline_run.get(q, {}), top), rels, titles),
            "run_top": _side(_top(run.get(q, {}), top), rels, titles),
        }

    order = np.argsort(diff, kind="stable")
    loss_idx = [int(i) for i in order if diff[i] < -tie_tolerance][:n_examples]
    gain_idx = [int(i) for i in order[::-1] if diff[i] > tie_tolerance][:n_examples]
    return {
        "metric": metric,
        "n_queries": len(qids),
        "wins": wins,
        "ties": len(qids) - wins - losses,
        "losses": losses,
        "mean_delta": mean,
        "sd_delta": sd,
        "effect_size_dz": (mean / sd) if sd > 0 else None,
        "largest_losses": [example(i) for i in loss_idx],
        "largest_gains": [example(i) for i in gain_idx],
    }


def drilldowns(
    runs: Mapping[str, Run],
    baseline: str,
    qrels: Mapping[str, Mapping[str, int]],
    queries: Mapping[str, str],
    titles: Mapping[str, str] | None = None,
    metric: str = "ndcg@10",
    **kwargs: Any,
) -> dict[str, dict[str, Any]]:
    """:func:`drilldown` of every run but the baseline against it: ``{run_name: drilldown}``."""
    if baseline not in runs:
        raise InvalidParameterError(f"baseline={baseline!r} is not one of the runs {sorted(runs)}.")
    base_pq = {q: v[metric] for q, v in evaluate_per_query(runs[baseline], qrels, [metric]).items()}
    out = {}
    for name, run in runs.items():
        if name == baseline:
            continue
        pq = {q: v[metric] for q, v in evaluate_per_query(run, qrels, [metric]).items()}
        out[name] = drilldown(runs[baseline], run, qrels, queries, titles, metric, per_query=(base_pq, pq), **kwargs)
    return out
