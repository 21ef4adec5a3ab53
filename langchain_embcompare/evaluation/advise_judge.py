"""The shrink advisor with LLM relevance judgments: every measured setting's top-10 pooled and judged in
one pass, and the settings re-scored on the judged labels before the decision.

How the judged labels combine with the data set's (the rule of
:func:`~langchain_embcompare.evaluation.compare.compare` with ``relevance_judge``): the judge returns
``(qrels, info)``; a :class:`~langchain_embcompare.evaluation.judge.RelevanceJudge` merges the data set's
own labels (synthetic known items, or human labels) into its grades, the higher grade kept per
(query, document), so a judge can add relevant documents but never removes a known one. Those labels
replace the data set's for the decision: the tests, fronts, winner and drill-down. The sweep itself (the
refinement stop, the choice of parent shapes) ran on the data set's labels, before any judging.

Metrics are recomputed on each setting's top-10 (the judged pool's depth): a metric reading deeper
(``recall@100``) would count unjudged documents as not relevant, so it is dropped from the judged
quality (and named in ``labels["judge"]["metrics_not_judged"]``); the quality under the data set's own
labels is kept in ``Candidate.extra["unjudged_quality"]``.

Part of :mod:`langchain_embcompare.evaluation.advise`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

from langchain_embcompare.errors import EmptyInputError
from langchain_embcompare.evaluation.advise_options import JUDGE_POOL_DEPTH, metric_cutoff
from langchain_embcompare.evaluation.advise_result import Candidate
from langchain_embcompare.evaluation.datasets import BeirDataset
from langchain_embcompare.evaluation.significance import per_query_matrix


def judge_settings(
    dataset: BeirDataset,
    settings: Sequence[Candidate],
    relevance_judge: Callable[..., tuple[dict[str, dict[str, int]], dict[str, Any]]],
    metric: str,
) -> tuple[BeirDataset, list[str], dict[str, Any]]:
    """Pool the top-10 of every setting, judge the pool once, re-score every setting on the judged labels.

    Each setting's ``quality`` and ``per_query`` are replaced by their values under the judged labels
    (computed on its top-10); the values under the data set's labels move to ``extra["unjudged_quality"]``.

    Args:
        dataset: the data set the settings were measured on.
        settings: the baseline and every candidate measured (their ``top``: each query's top-10).
        relevance_judge: ``(dataset, runs) -> (qrels, info)``, e.g. a
            :class:`~langchain_embcompare.evaluation.judge.RelevanceJudge` (its cache makes a rerun free).
        metric: the primary metric (cutoff <= 10).

    Returns:
        (the data set with the judged labels and the queries that have any, the query ids in ``per_query``
        order, the judge's ``info`` plus ``pool_runs`` and ``metrics_not_judged``).

    Raises:
        EmptyInputError: the settings retrieved nothing to judge, or no query carries a label afterwards.
    """
    runs = {c.name: c.top for c in settings}
    qrels, info = relevance_judge(dataset, runs)
    judged_ds = dataclasses.replace(dataset, qrels=qrels, queries={q: t for q, t in dataset.queries.items() if q in qrels})
    if not judged_ds.queries:
        raise EmptyInputError("No query carries a label after judging (every judgment failed and no label was known).")
    metrics = list(dict.fromkeys([metric, *(m for c in settings for m in c.quality)]))
    kept = [m for m in metrics if (metric_cutoff(m) or JUDGE_POOL_DEPTH + 1) <= JUDGE_POOL_DEPTH]
    qids: list[str] = []
    for c in settings:
        qids, mat = per_query_matrix(c.top, qrels, kept)
        c.extra = {**c.extra, "unjudged_quality": dict(c.quality)}
        c.quality = {m: float(mat[j].mean()) for j, m in enumerate(kept)}
        c.per_query = mat[0].copy()
    info = {**info, "pool_runs": len(runs), "metrics_not_judged": [m for m in metrics if m not in kept]}
    return judged_ds, qids, info
