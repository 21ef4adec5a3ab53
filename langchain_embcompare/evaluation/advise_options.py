"""The shrink advisor's options: :class:`AdviseOptions`, one object describing a sweep (what to try,
how to test, what to measure, how to label), and :func:`check_options`, its checks against a data set.

Part of :mod:`langchain_embcompare.evaluation.advise`.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from langchain_embcompare.errors import EmptyInputError, InvalidParameterError
from langchain_embcompare.evaluation.advise_front import BUDGETS
from langchain_embcompare.evaluation.advise_stats import NI_TESTS
from langchain_embcompare.evaluation.compare import RelevanceJudgeFn
from langchain_embcompare.evaluation.cost import DEFAULT_MACHINE_USD_PER_HOUR
from langchain_embcompare.evaluation.datasets import BeirDataset

#: Precisions, finest first: the refinement stop skips a precision at least as coarse as one that lost.
PREC_RANK = {"float32": 0, "int8": 1, "binary": 2}
#: Depth of the judged pool (top-k of every setting), as in TREC and :func:`~.judge.judge_pool`.
JUDGE_POOL_DEPTH = 10


@dataclass
class AdviseOptions:
    """Everything :func:`~langchain_embcompare.evaluation.advise.advise` needs besides the data set.

    Args:
        models: model names (or :class:`MatryoshkaEmbeddings` objects, e.g. with their own cache) to sweep.
        baseline: the setting to protect (RunSpec / EvalSettings / model name); default: the first model at
            native dimension, float32, exact (flat) index, plain retriever.
        margin: the largest loss of ``metric`` (mean over queries, metric units) accepted as "not worse".
        budgets: ``"memory"`` (index bytes), ``"latency"`` (p50 ms of one query, model + search) or
            ``"cost"`` (USD per 1M texts embedded), or several; the winner minimises the first.
        metric: primary metric (``name@k``).
        alpha: one-sided test level.
        test: ``"t"`` or ``"bootstrap"``.
        power: power of the detectable-margin computation (0.8).
        k: documents retrieved per query.
        dims: dimensions to try (None: native, then the usual Matryoshka sizes down to ``min_dim``).
        min_dim: the smallest default dimension.
        precisions: precisions to sweep (``float32``, ``int8``, ``binary``).
        rotations: rotations to sweep (``none``, ``pca``).
        indexes: index kinds beyond the exact flat index (``hnsw``, ``ivf``).
        cluster: also try the cluster prefilter (adaptive and a fixed nprobe).
        funnel: also try the funnel (float and binary shortlists).
        hybrid: also try the hybrid arm (None: when EvalSettings accepts it).
        max_parents: how many of the best shapes get index / retriever variants.
        latency_queries: single queries timed per setting.
        throughput_texts: texts timed per model (cost).
        prices: USD per 1M tokens by API model name, over the defaults.
        usd_per_hour: the machine's price (cost of local models).
        time_budget_s: stop measuring new settings after this many seconds (the answer says it stopped).
        state: a JSON file: measured settings are saved there and reused by a rerun (resumable sweep).
        min_queries: below this many labelled queries no winner is named (status ``underpowered``).
        n_examples: queries shown per drill-down list.
        n_resamples: bootstrap resamples.
        seed: seed of the samples and resamples.
        relevance_judge: LLM relevance judgments (a :class:`~langchain_embcompare.evaluation.judge.RelevanceJudge`,
            or any ``RelevanceJudgeFn`` ``(dataset, runs) -> (qrels, info)``, as ``compare`` takes): after the sweep, the
            top-10 of every measured setting is pooled and judged in one pass, and the tests, fronts and
            winner are decided on the judged labels (see :mod:`~langchain_embcompare.evaluation.advise_judge`).
        on_stage: called with a short text as each stage and setting starts, or None.
        progress: show a progress bar on stderr.
    """

    models: Sequence[Any] = ("all-MiniLM-L6-v2",)
    baseline: Any = None
    margin: float = 0.01
    budgets: str | Sequence[str] = ("memory",)
    metric: str = "ndcg@10"
    alpha: float = 0.05
    test: str = "t"
    power: float = 0.8
    k: int = 100
    dims: Sequence[int] | None = None
    min_dim: int = 32
    precisions: Sequence[str] = ("float32", "int8", "binary")
    rotations: Sequence[str] = ("none", "pca")
    indexes: Sequence[str] = ("hnsw", "ivf")
    cluster: bool = True
    funnel: bool = True
    hybrid: bool | None = None
    max_parents: int = 4
    latency_queries: int = 20
    throughput_texts: int = 128
    prices: Mapping[str, float] | None = None
    usd_per_hour: float = DEFAULT_MACHINE_USD_PER_HOUR
    time_budget_s: float | None = None
    state: str | Path | None = None
    min_queries: int = 10
    n_examples: int = 3
    n_resamples: int = 10_000
    seed: int = 0
    relevance_judge: RelevanceJudgeFn | None = None
    on_stage: Callable[[str], None] | None = field(default=None, repr=False)
    progress: bool = False

    @classmethod
    def of(cls, options: AdviseOptions | None = None, **fields: Any) -> AdviseOptions:
        """``options`` (or the defaults) with ``fields`` replaced.

        Args:
            options: a base :class:`AdviseOptions`, or None for the defaults.
            **fields: option names and values, over ``options``.

        Returns:
            A new :class:`AdviseOptions`.

        Raises:
            InvalidParameterError: ``options`` is not an AdviseOptions, or a field name is unknown.
        """
        if options is not None and not isinstance(options, AdviseOptions):
            raise InvalidParameterError(f"options must be an AdviseOptions, got {type(options).__name__}.")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(fields) - known)
        if unknown:
            raise InvalidParameterError(f"advise: unknown option(s) {unknown}; the options are {sorted(known)}.")
        return dataclasses.replace(options or cls(), **fields)

    @property
    def budget_list(self) -> list[str]:
        """``budgets`` as a list (a single name becomes a one-item list)."""
        return [self.budgets] if isinstance(self.budgets, str) else list(self.budgets)


def metric_cutoff(metric: str) -> int | None:
    """The cutoff of a ``name@k`` metric name (None without ``@``).

    Args:
        metric: e.g. ``"ndcg@10"``.

    Returns:
        ``k`` as an int, or None.
    """
    _, at, cut = metric.partition("@")
    return int(cut) if at and cut.isdigit() else None


def check_options(dataset: Any, opts: AdviseOptions) -> list[str]:
    """The advisor's option checks, in their documented order; returns the budgets as a list.

    Args:
        dataset: the data set to sweep.
        opts: the options.

    Returns:
        The budget names, the first one deciding the winner.

    Raises:
        InvalidParameterError: not a BeirDataset, a bad budget, test, margin, precision, rotation or index, no
            model, or with a judge a primary metric reading deeper than the judged pool (top-10).
        EmptyInputError: no labels or an empty corpus.
    """
    if not isinstance(dataset, BeirDataset):
        raise InvalidParameterError("advise needs a labelled BeirDataset (load_beir(path)); got " + type(dataset).__name__)
    if not dataset.qrels:
        raise EmptyInputError(
            f"{dataset.name}: no relevance labels (qrels), so 'not worse' cannot be tested; add qrels/test.tsv, or make "
            "synthetic labels (--queries synthetic:cloze)."
        )
    if not dataset.corpus:
        raise EmptyInputError(f"{dataset.name}: the corpus is empty.")
    budgets = opts.budget_list
    for b in budgets:
        if b not in BUDGETS:
            raise InvalidParameterError(f"budget {b!r}: use one of {list(BUDGETS)}.")
    if not budgets:
        raise InvalidParameterError(f"budgets is empty: name one of {list(BUDGETS)}.")
    if opts.test not in NI_TESTS:
        raise InvalidParameterError(f"test={opts.test!r}: use one of {NI_TESTS}.")
    m = opts.margin
    if not (isinstance(m, (int, float)) and math.isfinite(m) and m >= 0):
        raise InvalidParameterError(f"margin={m!r} must be a finite number >= 0 (e.g. 0.01 = one nDCG@10 point).")
    for p in opts.precisions:
        if p not in PREC_RANK:
            raise InvalidParameterError(f"precision {p!r}: use float32, int8 or binary.")
    for r in opts.rotations:
        if r not in ("none", "pca"):
            raise InvalidParameterError(f"rotation {r!r}: use none or pca.")
    for ix in opts.indexes:
        if ix not in ("flat", "hnsw", "ivf"):
            raise InvalidParameterError(f"index {ix!r}: use flat, hnsw or ivf.")
    if not opts.models:
        raise InvalidParameterError("Name at least one model to sweep (models=['all-MiniLM-L6-v2']).")
    if opts.relevance_judge is not None:
        if not callable(opts.relevance_judge):
            raise InvalidParameterError(
                f"relevance_judge is a {type(opts.relevance_judge).__name__}, not a callable (dataset, runs) -> (qrels, info) "
                "such as RelevanceJudge."
            )
        cut = metric_cutoff(opts.metric)
        if cut is None or cut > JUDGE_POOL_DEPTH:
            raise InvalidParameterError(
                f"metric={opts.metric!r} reads deeper than the judged pool (the top-{JUDGE_POOL_DEPTH} of every setting): "
                f"with relevance_judge use a metric@k with k <= {JUDGE_POOL_DEPTH} (e.g. ndcg@10)."
            )
    return budgets
