"""Hybrid retrieval: any dense retriever of this package + a lexical one, fused per query.

Two fusions, computed per query with numpy arrays (:mod:`~langchain_embcompare.retrievers.fusion`,
checked against ``ranx`` (Bassani 2022) on SciFact runs by ``tests/test_fusion.py``):

* ``rrf``: reciprocal rank fusion (Cormack, Clarke & Buettcher, SIGIR 2009),
  ``score(d) = sum over arms of 1 / (rrf_k + rank_arm(d))`` with ranks from 1 and ``rrf_k = 60``
  (the paper's constant); a document missing from an arm's top ``depth`` gets nothing from it.
  Scores are not used, only ranks, so it needs no normalisation and no weight.
* ``linear``: a convex combination of normalised scores,
  ``score(d) = alpha * norm(dense)(d) + (1 - alpha) * norm(lexical)(d)``, where ``norm`` is ranx's
  per-query normalisation of an arm's top ``depth`` (default ``min-max``: ``(s - min) / (max - min)``)
  followed by one rule for every ``norm`` (:func:`~langchain_embcompare.retrievers.fusion.normalise_arm`): **a document an arm did not return
  gets 0 from it, and every document it did return gets strictly more.** ranx' min-max gives an arm's
  last (or only) hit the same 0 as a document the arm never returned, so at ``alpha = 0`` a BM25 hit
  could rank below documents sharing no word with the query (Bruch, Gai & Ingber 2023, "An analysis of
  fusion functions for hybrid retrieval", TOIS 42(1), discuss this floor: their theoretical min-max
  puts a missing document at the scorer's lower bound; our arms have no common lower bound, so the
  lowest returned hit is lifted instead, as OpenSearch's hybrid ``min_max`` does with its
  ``MIN_SCORE = 0.001`` and ``SINGLE_RESULT_SCORE = 1``). Concretely, per query and arm: all returned
  documents scoring alike (one hit included) -> each gets 1; otherwise, when the normalisation puts
  the lowest returned document at or below 0 (``min-max``, ``sum``, ``zmuv``), the returned values
  ``v`` are mapped affinely onto ``[fusion.MIN_NORMALISED * R, R]`` with ``R = max(v) - min(v)``, which for
  ``min-max`` is ``[0.001, 1]``; ``max`` (``s / max``) and ``rank`` (``1 - i / n``) already give
  positive values and are kept; ``max`` refuses an arm whose best score is <= 0. ``alpha = 1`` is the
  dense arm's order, ``alpha = 0`` the lexical arm's order, every document the weighted arm returned
  ranked above every one it did not.

Equal fused scores are ordered by dense rank, then lexical rank (a document an arm did not return
comes after every one it did), so at ``alpha = 0`` the documents only the dense arm found follow the
lexical hits in dense order, and the same scores give the same order on every run.

Each arm retrieves ``depth`` candidates per query (default ``max(k, 100)``) in one batch call
(``search_batch``), so single queries, sync and async, and evaluation share one code path.
:meth:`HybridRetriever.fit_fusion` picks the method and weight on labelled queries and reports the
score on a held-out split beside the tuning score, so overfitting shows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict

from langchain_embcompare.errors import EmptyInputError, InvalidParameterError
from langchain_embcompare.retrievers.fusion import FUSIONS, NORMS, fuse_runs
from langchain_embcompare.stores.base import BatchRetriever

__all__ = ["HybridRetriever", "FusionFit"]

Run = dict[str, dict[str, float]]


def _doc_key(doc: Document) -> str:
    key = doc.id or doc.metadata.get("doc_id")
    if key is None:
        raise InvalidParameterError(
            "A retrieved Document has neither .id nor metadata['doc_id']: hybrid fusion matches documents "
            "across arms by id. Give documents ids when indexing."
        )
    return str(key)


@dataclass
class FusionFit:
    """What :meth:`HybridRetriever.fit_fusion` measured.

    ``best`` = the chosen ``{"fusion", "alpha", "rrf_k"}``; ``tuning_score`` its mean ``metric`` on the
    tuning queries, ``heldout_score`` on the held-out ones (the honest number); ``heldout_arms`` the
    dense and lexical arms alone on the held-out queries; ``grid`` every configuration's tuning score.
    """

    metric: str
    best: dict[str, Any]
    tuning_score: float
    heldout_score: float
    heldout_arms: dict[str, float]
    n_tuning: int
    n_heldout: int
    seed: int
    grid: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "metric": self.metric, "best": self.best, "tuning_score": self.tuning_score,
            "heldout_score": self.heldout_score, "overfit_gap": self.tuning_score - self.heldout_score,
            "heldout_arms": self.heldout_arms, "n_tuning": self.n_tuning, "n_heldout": self.n_heldout,
            "seed": self.seed, "grid": self.grid,
        }


class HybridRetriever(BatchRetriever):
    """Dense + lexical retrieval fused by RRF or a convex combination of normalised scores.

    >>> hybrid = HybridRetriever(dense=store.as_retriever(), lexical=BM25Retriever.from_documents(docs),
    ...                          fusion="rrf", k=10)
    >>> hybrid.invoke("query")    # Documents: metadata score (fused), dense_rank, lexical_rank, ...

    ``dense`` is any retriever with ``search_batch`` (plain, cluster, funnel, reranked ...);
    ``lexical`` a :class:`~langchain_embcompare.retrievers.lexical.BM25Retriever` or
    :class:`~langchain_embcompare.retrievers.lexical.StoreFullTextRetriever`. ``alpha`` (linear only)
    weighs the dense arm; ``rrf_k`` is RRF's constant; ``depth`` the candidates each arm returns
    (default ``max(k, 100)``); ``norm`` ranx's score normalisation for ``linear``.
    Each returned Document's metadata has ``score`` (fused), ``dense_score``/``dense_rank`` and
    ``lexical_score``/``lexical_rank`` (None where that arm did not return it; ranks from 1).

    Args:
        dense: the dense arm, a retriever of this package with ``search_batch(queries, k)``.
        lexical: the lexical arm (:class:`~langchain_embcompare.retrievers.lexical.BM25Retriever` or
            :class:`~langchain_embcompare.retrievers.lexical.StoreFullTextRetriever`).
        k: documents returned per query, > 0.
        fusion: ``"rrf"`` (reciprocal rank fusion, Cormack et al. 2009) or ``"linear"``.
        alpha: weight of the dense arm in [0, 1] (``linear`` only; ``1 - alpha`` for lexical).
        rrf_k: RRF's constant, >= 0 (60 in the RRF paper).
        norm: ranx's score normalisation for ``linear`` (e.g. ``"min-max"``).
        depth: candidates each arm returns, > 0 (default ``max(k, 100)``).
        filter: a filter expression or LangChain-style dict passed to both arms.
        fit_report: the :class:`FusionFit` of :meth:`fit_fusion` (set by it).

    Raises:
        InvalidParameterError: an arm without ``search_batch``, or a setting out of range or unknown.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    dense: BaseRetriever
    lexical: BaseRetriever
    k: int = 4
    fusion: str = "rrf"
    alpha: float = 0.5
    rrf_k: int = 60
    norm: str = "min-max"
    depth: int | None = None
    filter: Any = None
    fit_report: FusionFit | None = None

    def __init__(self, **kwargs: Any) -> None:
        # checked before pydantic, so each error keeps its class (pydantic wraps ValueErrors)
        for role in ("dense", "lexical"):
            arm = kwargs.get(role)
            if arm is not None and not callable(getattr(arm, "search_batch", None)):
                raise InvalidParameterError(
                    f"The {role} arm ({type(arm).__name__}) has no search_batch(queries, k): use a retriever of this "
                    "package (store.as_retriever(), cluster, funnel, BM25Retriever, StoreFullTextRetriever)."
                )
        if kwargs.get("k", 4) <= 0:
            raise InvalidParameterError(f"k must be positive, got {kwargs['k']}.")
        if kwargs.get("fusion", "rrf") not in FUSIONS:
            raise InvalidParameterError(f"fusion={kwargs['fusion']!r}: use one of {FUSIONS}.")
        if kwargs.get("norm", "min-max") not in NORMS:
            raise InvalidParameterError(f"norm={kwargs['norm']!r}: use one of {NORMS} (ranx normalisations).")
        alpha = kwargs.get("alpha", 0.5)
        if not 0.0 <= alpha <= 1.0:
            raise InvalidParameterError(f"alpha={alpha!r} must lie in [0, 1] (weight of the dense arm; 1 - alpha for lexical).")
        if kwargs.get("rrf_k", 60) < 0:
            raise InvalidParameterError(f"rrf_k={kwargs['rrf_k']!r} must be >= 0 (the RRF paper uses 60).")
        if kwargs.get("depth") is not None and kwargs["depth"] <= 0:
            raise InvalidParameterError(f"depth={kwargs['depth']!r} must be positive (candidates per arm).")
        super().__init__(**kwargs)

    # ------------------------------------------------------------------ searching

    def _depth(self, k: int) -> int:
        return max(k, self.depth or 100)

    def arm_results(self, queries: list[str], depth: int, filter: Any = None) -> tuple[list[list[Document]], list[list[Document]]]:
        """Both arms' top-``depth`` Documents per query (one batch call each).

        Args:
            queries: the query texts.
            depth: documents each arm returns per query.
            filter: passed to both arms (default: the retriever's ``filter``).

        Returns:
            ``(dense, lexical)``: per arm, one list of Documents per query, best first, each with ``metadata["score"]``.
        """
        f = filter if filter is not None else self.filter
        kw = {} if f is None else {"filter": f}
        dense = self.dense.search_batch(list(queries), k=depth, **kw)  # type: ignore[attr-defined]
        lexical = self.lexical.search_batch(list(queries), k=depth, **kw)  # type: ignore[attr-defined]
        return dense, lexical

    def fuse_documents(
        self,
        dense: list[list[Document]],
        lexical: list[list[Document]],
        k: int,
        *,
        fusion: str | None = None,
        alpha: float | None = None,
    ) -> list[list[Document]]:
        """Fuse already-retrieved arm results (e.g. from :meth:`arm_results`) into top-``k`` Documents.

        Args:
            dense: the dense arm's Documents per query (``metadata["score"]`` set), best first.
            lexical: the lexical arm's Documents per query, in the same query order.
            k: documents kept per query.
            fusion: ``"rrf"`` or ``"linear"`` (default: the retriever's).
            alpha: weight of the dense arm for ``linear`` (default: the retriever's).

        Returns:
            One list of up to ``k`` Documents per query, best fused score first; metadata as in the class docstring.
        """
        def pairs(lists: list[list[Document]]) -> list[list[tuple[str, float]]]:
            return [[(_doc_key(d), float(d.metadata.get("score", 0.0))) for d in docs] for docs in lists]

        fused = fuse_runs(
            pairs(dense), pairs(lexical), fusion=fusion or self.fusion,
            alpha=self.alpha if alpha is None else alpha, rrf_k=self.rrf_k, norm=self.norm,
        )
        out = []
        for dq, lq, fq in zip(dense, lexical, fused):
            by_id: dict[str, Document] = {}
            dinfo = {}
            linfo = {}
            for r, d in enumerate(dq, 1):
                key = _doc_key(d)
                by_id.setdefault(key, d)
                dinfo.setdefault(key, (r, d.metadata.get("score")))
            for r, d in enumerate(lq, 1):
                key = _doc_key(d)
                by_id.setdefault(key, d)
                linfo.setdefault(key, (r, d.metadata.get("score")))
            docs = []
            for key, s in fq[:k]:
                src = by_id[key]
                meta = {kk: v for kk, v in src.metadata.items() if kk != "score"}
                dr, ds = dinfo.get(key, (None, None))
                lr, ls = linfo.get(key, (None, None))
                meta.update(score=s, dense_rank=dr, dense_score=ds, lexical_rank=lr, lexical_score=ls)
                docs.append(Document(page_content=src.page_content, metadata=meta, id=src.id))
            out.append(docs)
        return out

    def search_batch(self, queries: list[str], k: int | None = None, filter: Any = None) -> list[list[Document]]:
        """Many queries at once: each arm searched once for all of them, then fused per query (numpy, :mod:`~langchain_embcompare.retrievers.fusion`).

        Args:
            queries: the query texts.
            k: documents per query (default: the retriever's ``k``).
            filter: passed to both arms (default: the retriever's ``filter``).

        Returns:
            One list of Documents per query, best fused score first.
        """
        k = k or self.k
        dense, lexical = self.arm_results(queries, self._depth(k), filter)
        return self.fuse_documents(dense, lexical, k)

    def settings_dict(self) -> dict[str, Any]:
        """Fusion settings and the lexical arm's settings (for run JSON).

        Returns:
            A JSON-ready dict: ``fusion``, ``alpha``, ``rrf_k``, ``norm``, ``depth``, ``dense`` (class name),
                ``lexical`` (its settings) and ``fit`` (the :class:`FusionFit` as a dict, or None).
        """
        lex = getattr(self.lexical, "settings_dict", None)
        return {
            "fusion": self.fusion, "alpha": self.alpha if self.fusion == "linear" else None, "rrf_k": self.rrf_k if self.fusion == "rrf" else None,
            "norm": self.norm if self.fusion == "linear" else None, "depth": self.depth or 100,
            "dense": type(self.dense).__name__, "lexical": lex() if callable(lex) else type(self.lexical).__name__,
            "fit": self.fit_report.to_dict() if self.fit_report else None,
        }

    def stats_summary(self) -> dict[str, Any]:
        """Merged into ``run_eval``'s result: ``hybrid`` (fusion settings) plus the dense arm's own summary.

        Returns:
            ``{"hybrid": settings_dict(), **dense arm's stats_summary()}``.
        """
        out: dict[str, Any] = {"hybrid": self.settings_dict()}
        dense_stats = getattr(self.dense, "stats_summary", None)
        if callable(dense_stats):
            out.update(dense_stats())
        return out

    # ------------------------------------------------------------------ tuning

    def fit_fusion(
        self,
        dataset: Any,
        *,
        methods: Sequence[str] = FUSIONS,
        alphas: Sequence[float] = tuple(np.round(np.linspace(0.0, 1.0, 21), 2)),
        rrf_ks: Sequence[int] = (60,),
        metric: str = "ndcg@10",
        heldout: float = 0.5,
        seed: int = 0,
        depth: int | None = None,
    ) -> FusionFit:
        """Choose ``fusion`` (and ``alpha`` / ``rrf_k``) on labelled queries; keep a held-out split.

        ``dataset``: a :class:`~langchain_embcompare.evaluation.datasets.BeirDataset` with qrels.
        Its labelled queries are shuffled (``seed``) and split: ``heldout`` (fraction, in (0, 1)) of
        them are kept out; every configuration of the grid is scored on the rest by ``metric`` (any
        ``name@k`` of :mod:`~langchain_embcompare.evaluation.metrics`), the best is set on this
        retriever and scored once on the held-out queries. Ties go to the first in grid order (rrf
        first, then linear by increasing alpha). Returns the :class:`FusionFit` (also ``fit_report``).

        Raises :class:`EmptyInputError` without labelled queries, :class:`InvalidParameterError` for
        a split leaving either side empty.

        Args:
            dataset: a labelled data set (``queries`` and ``qrels``).
            methods: the fusions tried, among ``"rrf"`` and ``"linear"``.
            alphas: the ``alpha`` values tried for ``linear``.
            rrf_ks: the ``rrf_k`` values tried for ``rrf``.
            metric: the metric maximised, ``name@k`` (e.g. ``"ndcg@10"``).
            heldout: fraction of the labelled queries held out, in (0, 1).
            seed: seed of the shuffle before the split.
            depth: candidates each arm returns (default ``max(k, metric's k, 100)``).

        Returns:
            The :class:`FusionFit` (chosen setting, tuning and held-out scores); also set as ``fit_report``.

        Raises:
            EmptyInputError: no labelled queries.
            InvalidParameterError: ``heldout`` outside (0, 1), an unknown method, or a split leaving a side empty.
        """
        from langchain_embcompare.scoring import documents_to_scores, evaluate_per_query

        qrels = getattr(dataset, "qrels", None) or {}
        queries = {q: t for q, t in getattr(dataset, "queries", {}).items() if q in qrels}
        if not queries:
            raise EmptyInputError("fit_fusion needs labelled queries (dataset.qrels): none of the dataset's queries has labels.")
        if not 0.0 < heldout < 1.0:
            raise InvalidParameterError(f"heldout={heldout!r} must lie strictly between 0 and 1 (fraction of queries held out).")
        for m in methods:
            if m not in FUSIONS:
                raise InvalidParameterError(f"methods: {m!r} is not one of {FUSIONS}.")
        qids = sorted(queries)
        rng = np.random.default_rng(seed)
        rng.shuffle(qids)
        n_held = int(round(heldout * len(qids)))
        held, tune = qids[:n_held], qids[n_held:]
        if not held or not tune:
            raise InvalidParameterError(
                f"{len(qids)} labelled queries split with heldout={heldout} leave {len(tune)} to tune and {len(held)} "
                "to hold out: both need at least one (use more queries or another fraction)."
            )
        cut = int(metric.partition("@")[2] or 10)
        dep = depth or self._depth(max(self.k, cut))
        texts = [queries[q] for q in qids]
        dense, lexical = self.arm_results(texts, dep)
        pos = {q: i for i, q in enumerate(qids)}

        def score(fusion: str | None, alpha: float, rrf_k: int, subset: list[str]) -> float:
            idx = [pos[q] for q in subset]
            if fusion is None:  # one arm alone: alpha 1 = dense, 0 = lexical
                arm = dense if alpha == 1.0 else lexical
                run = {q: documents_to_scores(arm[i]) for q, i in zip(subset, idx)}  # the arm's order
            else:
                saved = self.rrf_k
                self.rrf_k = rrf_k
                try:
                    fused = self.fuse_documents([dense[i] for i in idx], [lexical[i] for i in idx], cut, fusion=fusion, alpha=alpha)
                finally:
                    self.rrf_k = saved
                run = {q: documents_to_scores(docs) for q, docs in zip(subset, fused)}  # the fused order
            per = evaluate_per_query(run, {q: qrels[q] for q in subset}, [metric])
            return float(np.mean([per[q][metric] for q in subset]))

        grid: list[dict[str, Any]] = []
        if "rrf" in methods:
            for rk in rrf_ks:
                grid.append({"fusion": "rrf", "alpha": None, "rrf_k": int(rk), "tuning_score": score("rrf", 0.5, int(rk), tune)})
        if "linear" in methods:
            for a in alphas:
                a = float(a)
                if not 0.0 <= a <= 1.0:
                    raise InvalidParameterError(f"alphas: {a} is outside [0, 1].")
                grid.append({"fusion": "linear", "alpha": a, "rrf_k": None, "tuning_score": score("linear", a, self.rrf_k, tune)})
        if not grid:
            raise InvalidParameterError("fit_fusion: empty grid (methods / alphas / rrf_ks).")
        best = max(grid, key=lambda g: g["tuning_score"])  # first of equal maxima
        self.fusion = best["fusion"]
        if best["fusion"] == "linear":
            self.alpha = best["alpha"]
        else:
            self.rrf_k = best["rrf_k"]
        held_score = score(self.fusion, self.alpha, self.rrf_k, held)
        fit = FusionFit(
            metric=metric,
            best={"fusion": best["fusion"], "alpha": best["alpha"], "rrf_k": best["rrf_k"]},
            tuning_score=best["tuning_score"],
            heldout_score=held_score,
            heldout_arms={"dense": score(None, 1.0, 0, held), "lexical": score(None, 0.0, 0, held)},
            n_tuning=len(tune),
            n_heldout=len(held),
            seed=seed,
            grid=grid,
        )
        self.fit_report = fit
        return fit
