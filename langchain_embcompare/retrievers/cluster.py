"""Cluster-prefiltered retrieval: search only the clusters nearest the query.

Why: most of a corpus is irrelevant to any one query. KMeans (faiss) splits the document vectors into
``K`` clusters (:mod:`~langchain_embcompare.retrievers.clustering`); a query scores only the documents
of its ``nprobe`` nearest clusters (by centroid similarity), so it scans a fraction of the corpus. This
is the IVF idea made explicit and portable: each store keeps a per-row cluster label (capability
``"clusters"`` of the store protocol: FAISS answers a cluster search with one product per contiguous
block, Redis with its ``cluster`` TAG field), and the cluster choice is a prefilter that composes with
the user's filter. A store without labels but with ``"candidate_rows"`` is searched with the clusters'
rows as candidates instead; a store with neither raises ``MissingCapabilityError``.

**How many clusters.** Pass ``nprobe`` (fixed), or ``adaptive=True``; with neither, the retriever
calibrates before its first search (:meth:`ClusterPrefilterRetriever.calibrate`, ``mode="auto"``,
``target_recall=0.99``): it measures the smallest fixed ``nprobe`` and the smallest adaptive ``tail``
that reach the target recall@k against exact search on held-out pseudo-queries, and keeps the faster.
Measured (``benchmarks/results/scale.json``, one thread, recall@10 >= 0.98): adaptive probing took
1.6-2.6x the time of the best fixed ``nprobe`` at 10k, 100k and 1M vectors on both data sets (it
opens fewer clusters on easy queries, but in more rounds of smaller products, and its estimates need
a large ``tail`` to keep recall on hard ones), so auto picks the fixed setting there. With its
default the retriever keeps 99.5 % of exhaustive nDCG@10 on SciFact (nprobe 55 of 144 chosen;
``benchmarks/results/defaults_scifact.json``).

**Adaptive mode** decides per query how many clusters to open. Clusters are opened in decreasing
order of an *upper estimate* of the best score they can hold; opening stops when the next cluster's
estimate falls below the current k-th best score (nothing better is expected there), or at
``max_clusters``. Clusters open in rounds of doubling width, each round one
``store.search_cluster_lists`` call (per-query cluster lists; one pass over contiguous blocks on FAISS),
so a batch costs O(log(max_clusters / nprobe)) store calls, not one per cluster. Two estimates (``bound=``):

* ``"exact"``: ``q·m_c + |q| r_c`` (``m_c`` the members' mean, ``r_c`` the largest member distance
  from it): a true bound by Cauchy-Schwarz, so the result equals exhaustive search, but in 384-d the
  radii are large and it opens most clusters.
* ``"gauss"`` (default): ``q·m_c + tail · sqrt(2 ln n_c) · σ_c(q)``, where ``σ_c(q)² = qᵀΣ_c q`` is the
  variance of the scores of cluster ``c``'s members along the query (``Σ_c`` kept as its top principal
  directions plus an isotropic rest) and ``sqrt(2 ln n)`` is the expected maximum of ``n`` standard
  normal draws. It estimates the cluster's best score instead of bounding it; larger ``tail`` is safer.
  On SciFact/MiniLM with K = 64 (benchmarks/results/cluster_scifact.json): tail 1.0 keeps 98.4 % of
  exhaustive nDCG@10 scanning 8.5 % of the corpus, tail 1.25 (default) 99.7 % scanning 17.5 %, while a
  fixed nprobe needs 14 clusters (23.7 %) to reach 98 %.

Per query the retriever reports the clusters it searched and the fraction of the corpus they hold
(``Document.metadata["clusters_searched"]``, ``["scanned_fraction"]``, and :attr:`last_stats`).

Example::

    retriever = ClusterPrefilterRetriever.from_store(store, n_clusters=64, adaptive=True, k=10)
    docs = retriever.invoke("what do product managers do?")
    retriever.save("index/clusters"); ClusterPrefilterRetriever.load("index/clusters", store)
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
from langchain_core.documents import Document
from pydantic import ConfigDict, Field, PrivateAttr

from langchain_embcompare.errors import DimensionMismatchError, EmptyInputError, InvalidParameterError, MissingCapabilityError
from langchain_embcompare.retrievers.calibration import Calibration, calibrate_clusters
from langchain_embcompare.retrievers.clustering import (
    ClusterModel,
    StaleClustersError,
    choose_n_clusters,
    few_threads,
    fit_clusters,
)
from langchain_embcompare.retrievers.probing import ClusterSearchStats, probe, summarize_stats
from langchain_embcompare.stores.ops import open_grouped
from langchain_embcompare.retrievers.snapshot import RowsSnapshot, store_revision
from langchain_embcompare.stores.base import BatchRetriever, EmbStore, normalize_rows

_few_threads = few_threads  # the old private name, kept importable

__all__ = [
    "ClusterModel",
    "ClusterPrefilterRetriever",
    "ClusterSearchStats",
    "StaleClustersError",
    "choose_n_clusters",
    "fit_clusters",
    "probe",
    "summarize_stats",
]

_ENGINES = {"auto": "auto", "clusters": "clusters", "candidate_rows": "candidate_rows",
            "blocks": "clusters", "selector": "candidate_rows"}  # the last two: names saved by older versions
_LABEL_SAMPLE = 16  # rows whose store label is re-checked on every search


# --------------------------------------------------------------------------- the retriever


class ClusterPrefilterRetriever(BatchRetriever):
    """Top-``k`` search restricted to the clusters nearest the query, on any store of the package.

    ``nprobe`` clusters per query, or ``adaptive=True``, or neither: then :meth:`calibrate` chooses
    (``target_recall``, default 0.99, fraction) before the first search and records it in
    :attr:`calibration` (see the module docstring). With ``adaptive=True``, ``nprobe`` (default 1) is
    the number opened before the stopping rule applies, ``max_clusters`` the cap, and ``stop_rank``
    the rank whose score the rule protects: default ``k``; ``stop_rank=10`` keeps an evaluation at
    ``k=100`` from opening clusters only to fill ranks 11-100). ``filter`` (a filter expression or a
    LangChain-style dict) is ANDed with the cluster prefilter. ``engine``: ``"clusters"`` (the store's
    cluster-label search), ``"candidate_rows"`` (the clusters' rows passed as candidates) or ``"auto"``
    (the first of these the store supports). Call :meth:`fit` (or build with :meth:`from_store`) before
    searching, or :meth:`load` saved clusters. One store holds one set of cluster labels: a retriever
    whose labels were overwritten (another fit on the same store) writes its own back before searching.

    Args:
        store: the store searched (any store of the package; :class:`~langchain_embcompare.stores.base.EmbStore`).
        k: documents returned per query.
        n_clusters: number of k-means clusters (None: chosen from the corpus size by :meth:`fit`).
        nprobe: clusters opened per query (None and not adaptive: calibrated from ``target_recall``).
        target_recall: recall@k against exact search that calibration aims for, a fraction in (0, 1].
        adaptive: open clusters until no unopened cluster can beat the ``stop_rank``-th score.
        max_clusters: cap on the clusters one adaptive query opens (None: no cap).
        bound: the adaptive score bound: ``"gauss"`` (per-cluster Gaussian estimate) or ``"exact"`` (radius).
        tail: multiplier of the Gaussian bound's spread (1.0 = the expected maximum; larger = safer, slower).
        filter: a filter expression or LangChain-style dict ANDed with the cluster prefilter.
        seed: k-means and calibration seed.
        stop_rank: the rank whose score the adaptive rule protects (None: ``k``).
        engine: ``"auto"``, ``"clusters"`` or ``"candidate_rows"``.
        clusters: fitted clusters (set by :meth:`fit` / :meth:`load`).
        calibration: the calibration record (set by :meth:`calibrate`).
        last_stats: per-query probe statistics of the last search.
        stats_history: probe statistics of every query since :meth:`reset_stats`.

    Raises:
        InvalidParameterError: an unknown ``engine``.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    store: EmbStore
    k: int = 4
    n_clusters: int | None = None
    nprobe: int | None = None
    target_recall: float = 0.99
    adaptive: bool = False
    max_clusters: int | None = None
    bound: Literal["gauss", "exact"] = "gauss"
    tail: float = 1.25
    filter: Any = None
    seed: int = 0
    stop_rank: int | None = None
    engine: Literal["auto", "clusters", "candidate_rows"] = "auto"
    clusters: ClusterModel | None = None
    calibration: dict[str, Any] | None = None
    last_stats: list[ClusterSearchStats] = Field(default_factory=list)
    stats_history: list[ClusterSearchStats] = Field(default_factory=list)

    _bound_to: ClusterModel | None = PrivateAttr(default=None)  # the model the row arrays below belong to
    _rows: np.ndarray | None = PrivateAttr(default=None)  # store row of each model label (model order)
    _sorted_rows: np.ndarray | None = PrivateAttr(default=None)
    _sorted_labels: np.ndarray | None = PrivateAttr(default=None)
    _members: tuple[np.ndarray, np.ndarray] | None = PrivateAttr(default=None)  # rows by cluster, bounds
    _snapshot: RowsSnapshot | None = PrivateAttr(default=None)
    _checked_at: int | None = PrivateAttr(default=None)  # store write count at the last passed check

    def __init__(self, **kwargs: Any) -> None:
        engine = kwargs.get("engine", "auto")
        if engine not in _ENGINES:
            raise InvalidParameterError(
                f"engine={engine!r} is not supported; use 'auto', 'clusters' (the store's cluster labels) or "
                "'candidate_rows' (the clusters' rows as candidates)."
            )
        kwargs["engine"] = _ENGINES[engine]  # older saved settings say "blocks" / "selector"
        super().__init__(**kwargs)

    # ------------------------------------------------------------------ construction

    @classmethod
    def from_store(cls, store: EmbStore, n_clusters: int | None = None, **kwargs: Any) -> ClusterPrefilterRetriever:
        """Build and fit in one call (``n_clusters=None`` → :func:`choose_n_clusters`).

        Args:
            store: any store with the ``"clusters"`` (or ``"candidate_rows"``) capability.
            n_clusters: number of k-means clusters, or None to choose it by silhouette.
            **kwargs: the retriever's fields (``k``, ``nprobe``, ``adaptive``, ``tail``, ``filter``...).

        Returns:
            The fitted retriever (its labels written into the store).

        Raises:
            EmptyInputError: the store is empty.
            MissingCapabilityError: the store can search neither by cluster nor by candidate rows.
        """
        return cls(store=store, n_clusters=n_clusters, **kwargs).fit()

    @classmethod
    def load(cls, folder: str | Path, store: EmbStore, **kwargs: Any) -> ClusterPrefilterRetriever:
        """Reload clusters saved with :meth:`save` for ``store``.

        Args:
            folder: the folder :meth:`save` wrote.
            store: the store the clusters were fitted on (the same documents, by id).
            **kwargs: settings overriding the saved ones (``k``, ``nprobe``...).

        Returns:
            The retriever, bound to ``store``.

        Raises:
            StaleClustersError: the store does not hold exactly the documents the clusters were fitted on.
        """
        model = ClusterModel.load(folder)
        settings_path = Path(folder) / "retriever.json"
        settings = json.loads(settings_path.read_text()) if settings_path.exists() else {}
        settings.update(kwargs)
        settings["n_clusters"] = model.n_clusters
        retriever = cls(store=store, clusters=model, **settings)
        retriever.ensure_ready()
        return retriever

    def save(self, folder: str | Path) -> Path:
        """Write the clusters (``.npy`` + JSON, labels by document id) and the retriever's settings.

        Args:
            folder: the target folder (created if missing).

        Returns:
            ``folder`` as a ``Path``.
        """
        model = self.cluster_model()
        model.save(folder)
        settings = {
            "k": self.k, "nprobe": self.nprobe, "target_recall": self.target_recall, "adaptive": self.adaptive, "max_clusters": self.max_clusters,
            "bound": self.bound, "tail": self.tail, "seed": self.seed, "engine": self.engine, "stop_rank": self.stop_rank,
            "calibration": self.calibration,
        }
        (Path(folder) / "retriever.json").write_text(json.dumps(settings))
        return Path(folder)

    def fit(
        self, vectors: np.ndarray | None = None, ids: Sequence[str] | None = None, **fit_kwargs: Any
    ) -> ClusterPrefilterRetriever:
        """Cluster the store's documents and write each one's label into the store.

        By default the vectors are ``store.vectors_at(store.all_rows())``. ``vectors`` (N, d) float32 may
        be passed instead (they must be the store's vectors): with ``ids`` in the same order, else in
        ``all_rows()`` order. ``fit_kwargs`` go to :func:`fit_clusters` (``niter``,
        ``train_points_per_cluster``). Raises ``EmptyInputError`` for an empty store.

        Args:
            vectors: (N, d) float32, the store's vectors (default: read from the store).
            ids: the document ids of ``vectors``, in the same order (default: ``all_rows()`` order).
            **fit_kwargs: passed to :func:`~langchain_embcompare.retrievers.clustering.fit_clusters`.

        Returns:
            This retriever (fitted, bound to the store and, without ``nprobe`` or ``adaptive``, calibrated).

        Raises:
            EmptyInputError: the store holds no documents.
            InvalidParameterError: ``vectors`` do not match the store's documents, or a bad setting.
        """
        if vectors is None:
            rows = self.store.all_rows()
            if len(rows) == 0:
                raise EmptyInputError("The store holds no documents: add documents before fitting clusters.")
            vectors = self.store.vectors_at(rows)
        else:
            rows = self.store.all_rows() if ids is None else self.store.rows_of(list(ids))
            if len(rows) != len(vectors) or (rows < 0).any():
                raise InvalidParameterError(
                    f"fit(vectors=...) got {len(vectors)} vectors for a store of {self.store.count()} documents "
                    "(or ids the store does not hold): pass the store's vectors, one per document, or none."
                )
        if ids is None:
            ids = [str(d.id) for d in self.store.documents_at(rows)]
        # fit in document-id order: k-means depends on the order of its input, and row handles are each
        # store's own (positions on FAISS, hashes on Milvus), so this gives the same clusters on every store
        order = np.asarray(sorted(range(len(ids)), key=lambda i: str(ids[i])), dtype=np.int64)
        vectors = np.asarray(vectors)[order]
        ids = [str(ids[i]) for i in order]
        rows = np.asarray(rows, dtype=np.int64)[order]
        n_clusters = self.n_clusters if self.n_clusters is not None else choose_n_clusters(vectors, seed=self.seed)
        self.n_clusters = n_clusters
        self.clusters = fit_clusters(vectors, n_clusters, seed=self.seed, ids=ids, **fit_kwargs)
        self._validate()
        self._bind(rows=np.asarray(rows, dtype=np.int64))
        if self.nprobe is None and not self.adaptive:
            self.calibrate(target_recall=self.target_recall)
        return self

    # ------------------------------------------------------------------ checks

    def cluster_model(self) -> ClusterModel:
        """The fitted clusters (centroids, document ids, labels).

        Returns:
            The :class:`ClusterModel`.

        Raises:
            InvalidParameterError: the retriever has no clusters yet (call :meth:`fit`).
        """
        if self.clusters is None:
            raise InvalidParameterError(
                "The retriever has no clusters yet: call .fit() (or build it with "
                "ClusterPrefilterRetriever.from_store(store, n_clusters=K)) or .load(folder, store)."
            )
        return self.clusters

    def _validate(self) -> None:
        kc = self.cluster_model().n_clusters
        if self.k <= 0:
            raise InvalidParameterError(f"k must be positive, got {self.k}.")
        if self.nprobe is not None and not 1 <= self.nprobe <= kc:
            raise InvalidParameterError(
                f"nprobe={self.nprobe} is outside 1..{kc} (the number of clusters): pass nprobe between 1 and {kc}, "
                "or adaptive=True to let each query choose."
            )
        if self.max_clusters is not None and not self.initial_probes <= self.max_clusters <= kc:
            raise InvalidParameterError(
                f"max_clusters={self.max_clusters} must lie in nprobe..n_clusters ({self.initial_probes}..{kc})."
            )
        if not 0 < self.target_recall <= 1:
            raise InvalidParameterError(f"target_recall={self.target_recall} must be a fraction in (0, 1], e.g. 0.98.")
        if self.stop_rank is not None and self.stop_rank <= 0:
            raise InvalidParameterError(f"stop_rank={self.stop_rank} must be a positive rank (e.g. 10), or None for k.")
        if self.tail <= 0:
            raise InvalidParameterError(f"tail={self.tail} must be > 0 (1.0 is the expected maximum; larger is safer).")

    @property
    def initial_probes(self) -> int:
        """Clusters every query opens first: ``nprobe`` (1 when adaptive without one; a fixed retriever
        without one is calibrated before it searches, so this is then the calibrated value)."""
        return int(self.nprobe or 1)

    @property
    def search_engine(self) -> str:
        """The engine in use: ``"clusters"`` or ``"candidate_rows"`` (``"auto"`` resolved against the store).

        Raises:
            MissingCapabilityError: the store supports neither engine (or not the one asked).
        """
        caps = self.store.capabilities
        if self.engine != "auto":
            self.store.require(self.engine, f"ClusterPrefilterRetriever(engine={self.engine!r})")
            return self.engine
        for engine in ("clusters", "candidate_rows"):
            if engine in caps:
                return engine
        raise MissingCapabilityError(
            f"ClusterPrefilterRetriever needs a store with capability 'clusters' (per-row cluster labels) or "
            f"'candidate_rows' (search given rows); {type(self.store).__name__} has {sorted(caps) or 'none'}."
        )

    def _bind(self, rows: np.ndarray | None = None) -> None:
        """Map the model's document ids to the store's rows, check they are all there, and (engine
        ``"clusters"``) make the store's labels the model's. Done once per model; :meth:`_check_fresh`
        re-checks cheaply on every search."""
        model = self.cluster_model()
        if rows is None:
            if not model.ids:
                raise InvalidParameterError("These clusters carry no document ids; fit them on the store (.fit()).")
            rows = self.store.rows_of(model.ids)
            if (rows < 0).any():
                missing = [model.ids[i] for i in np.flatnonzero(rows < 0)[:5]]
                raise StaleClustersError(
                    f"{int((rows < 0).sum())} documents the clusters were fitted on are not in the store "
                    f"(e.g. {missing}): call .fit() again on this store."
                )
        order = np.argsort(rows, kind="stable")
        self._rows, self._sorted_rows = rows, rows[order]
        self._sorted_labels = model.labels[order].astype(np.int64)
        by_label = np.argsort(model.labels, kind="stable")
        self._members = (rows[by_label], np.searchsorted(model.labels[by_label], np.arange(model.n_clusters + 1)))
        now = self.store.all_rows()
        if not np.array_equal(now, self._sorted_rows):
            raise StaleClustersError(
                f"The clusters were fitted on {len(rows)} documents but the store holds {len(now)}: "
                "call .fit() again after adding or deleting documents."
            )
        self._snapshot = RowsSnapshot(self.store, self._sorted_rows, [model.ids[i] for i in order.tolist()])
        self._bound_to = model
        self._checked_at = None
        if self.search_engine == "clusters":
            self._sync_labels(full=True)

    def _sync_labels(self, full: bool) -> None:
        """Write the model's labels into the store unless it holds them already (all rows, or a sample)."""
        rows, labels = self._sorted_rows, self._sorted_labels
        assert rows is not None and labels is not None
        pick = slice(None) if full else np.linspace(0, len(rows) - 1, min(_LABEL_SAMPLE, len(rows))).astype(np.int64)
        if not np.array_equal(self.store.cluster_labels(rows[pick]), labels[pick]):
            self.store.set_cluster_labels(rows, labels)

    def _check_fresh(self) -> None:
        """Refuse clusters fitted on other documents (:class:`RowsSnapshot`: the rows, and ids at sampled rows)."""
        assert self._snapshot is not None
        if self._snapshot.changed(self.store):
            raise StaleClustersError(
                f"The store's documents changed since the clusters were fitted ({len(self._snapshot.rows)} then, "
                f"{self.store.count()} now): call .fit() again after adding, updating or deleting documents."
            )

    def ensure_ready(self) -> None:
        """Check the settings and bind the clusters to the store (once per cluster model; after that a
        cheap freshness check), so that searches and :meth:`labels_of` can run.

        Raises:
            InvalidParameterError: the retriever has no clusters yet, or a bad setting.
            StaleClustersError: the store does not hold exactly the documents the clusters were fitted on.
            MissingCapabilityError: the store has neither ``"clusters"`` nor ``"candidate_rows"``.
        """
        self._validate()
        if self._bound_to is not self.cluster_model():
            self._bind()
        else:
            # an in-process store counts its writes: none since the last passed check, nothing to re-check
            revision = store_revision(self.store)
            if revision is None or revision != self._checked_at:
                self._check_fresh()
                if self.search_engine == "clusters":
                    self._sync_labels(full=False)
                self._checked_at = revision  # read before the checks: a write during them re-checks next time
        if self.nprobe is None and not self.adaptive:  # no nprobe given: calibrate once, before searching
            self.calibrate(target_recall=self.target_recall)

    # ------------------------------------------------------------------ calibration

    def calibrate(
        self,
        queries: Sequence[str] | np.ndarray | None = None,
        *,
        target_recall: float = 0.98,
        k: int | None = None,
        n_queries: int = 200,
        mode: Literal["auto", "fixed", "adaptive"] = "auto",
        tails: Sequence[float] = (0.5, 0.75, 1.0, 1.25, 1.5, 2.0, 3.0),
        seed: int = 0,
    ) -> Calibration:
        """Choose how clusters are probed from a target recall@``k`` (against exact full-dimension
        search) on held-out queries, set it on this retriever, and return the
        :class:`~langchain_embcompare.retrievers.calibration.Calibration` (kept in :attr:`calibration`,
        saved by :meth:`save`). A retriever built without ``nprobe`` and without ``adaptive=True`` calls
        this (``mode="auto"``, its ``target_recall``) before it first searches.

        * fixed: the smallest ``nprobe`` reaching the target. Its recall is read off the clusters without
          searching (a true neighbour is found exactly when its cluster is among the query's first
          ``nprobe`` by centroid score), then checked with a real search on the store (whose own index may
          be approximate, e.g. Redis HNSW) and raised until the measured recall reaches the target.
        * adaptive: the smallest ``tail`` of ``tails`` whose adaptive search reaches the target.
        * ``mode="auto"`` (default) measures both and keeps the faster (ms per query on this machine):
          at 10k-1M vectors that has been the fixed setting (``benchmarks/results/scale.json``), but the
          choice is measured per corpus, not assumed.

        ``queries``: held-out texts or vectors; default ``n_queries`` pseudo-queries made from stored
        documents, with the target tightened for them (:mod:`~langchain_embcompare.retrievers.calibration`).
        When nothing reaches the target (e.g. an approximate store index) the best setting is kept,
        ``met`` is ``False`` and a ``UserWarning`` says so. Raises ``InvalidParameterError`` (target
        outside (0, 1], unknown mode), ``EmptyInputError`` (empty store).

        Args:
            queries: held-out query texts, or an (m, d) float32 array of query vectors (default: pseudo-queries).
            target_recall: the recall@k to reach, a fraction in (0, 1].
            k: the rank cut-off of the recall (default: the retriever's ``k``).
            n_queries: number of pseudo-queries when ``queries`` is None.
            mode: ``"auto"``, ``"fixed"`` or ``"adaptive"``.
            tails: the adaptive ``tail`` values tried, in increasing order.
            seed: seed of the pseudo-query sample.

        Returns:
            The :class:`~langchain_embcompare.retrievers.calibration.Calibration` record (also set on the retriever).

        Raises:
            InvalidParameterError: target outside (0, 1] or an unknown mode.
            EmptyInputError: the store is empty.
        """
        return calibrate_clusters(self, queries, target_recall=target_recall, k=k, n_queries=n_queries, mode=mode, tails=tails, seed=seed)

    # ------------------------------------------------------------------ cluster selection

    def score_bounds(self, q: np.ndarray) -> np.ndarray:
        """(m, K) estimate of the best score each cluster can hold for each query (adaptive order).

        Args:
            q: (m, d) float32 query vectors.

        Returns:
            (m, K) float score upper estimates, K = the number of clusters.

        Raises:
            InvalidParameterError: the retriever has no clusters yet.
        """
        model = self.cluster_model()
        base = q @ model.means.T
        qnorm = np.linalg.norm(q, axis=1, keepdims=True)
        if self.bound == "exact":
            return base + qnorm * model.radius[None, :]
        kc, r, d = model.components.shape
        proj = (q @ model.components.reshape(kc * r, d).T).reshape(len(q), kc, r)  # one BLAS product
        var = (proj * proj * model.comp_var[None]).sum(2)
        var += model.rest_var[None] * np.maximum(qnorm * qnorm - (proj * proj).sum(2), 0)
        z = np.sqrt(2 * np.log(np.maximum(model.sizes, 2)))[None, :]
        return base + self.tail * z * np.sqrt(np.maximum(var, 0))

    def cluster_order(self, q: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """Per query, clusters in probe order (and, adaptive, their sorted score estimates).

        Args:
            q: (m, d) float32 query vectors.

        Returns:
            ``(order, bounds)``: (m, K) int64 cluster indices, best first, and (adaptive only) the (m, K)
                float score estimates in that order; ``bounds`` is None for a fixed ``nprobe``.

        Raises:
            InvalidParameterError: the retriever has no clusters yet.
        """
        model = self.cluster_model()
        if not self.adaptive:
            return np.argsort(-(q @ model.centroids.T), axis=1, kind="stable"), None
        ub = self.score_bounds(q)
        order = np.argsort(-ub, axis=1, kind="stable")
        return order, np.take_along_axis(ub, order, 1)

    def labels_of(self, rows: np.ndarray) -> np.ndarray:
        """Cluster label of each store row (``-1`` for a row the clusters do not know), int64.

        Args:
            rows: (n,) int64 store row handles.

        Returns:
            (n,) int64 cluster labels.

        Raises:
            InvalidParameterError: the retriever has no clusters yet (call :meth:`fit`).
            StaleClustersError: the store's documents changed since the clusters were fitted.
            MissingCapabilityError: the store has neither ``"clusters"`` nor ``"candidate_rows"``.
            DimensionMismatchError: the query vectors' width differs from the clusters'.
        """
        self.ensure_ready()
        return self._labels_of(rows)

    def _labels_of(self, rows: np.ndarray) -> np.ndarray:
        sr, sl = self._sorted_rows, self._sorted_labels
        assert sr is not None and sl is not None
        rows = np.asarray(rows, dtype=np.int64)
        pos = np.minimum(np.searchsorted(sr, rows), len(sr) - 1)
        return np.where(sr[pos] == rows, sl[pos], -1)

    # ------------------------------------------------------------------ search

    def search_rows(
        self, query_vectors: np.ndarray, k: int | None = None, filter: Any = None
    ) -> tuple[np.ndarray, np.ndarray, list[ClusterSearchStats]]:
        """Prefiltered top-``k`` per query vector: ``(scores, rows)`` (m, k) float32/int64 padded
        ``-inf``/``-1`` (the store protocol's form), and what each query scanned.

        Args:
            query_vectors: (m, d) or (d,) float32 query vectors.
            k: documents per query (default: the retriever's ``k``).
            filter: a filter ANDed with the prefilter (default: the retriever's ``filter``).

        Returns:
            ``(scores, rows, stats)``: (m, k) float32 scores and (m, k) int64 rows, padded with
                ``-inf`` / ``-1``, and one ``ClusterSearchStats`` per query.

        Raises:
            InvalidParameterError: the retriever has no clusters yet (call :meth:`fit`).
            StaleClustersError: the store's documents changed since the clusters were fitted.
            MissingCapabilityError: the store has neither ``"clusters"`` nor ``"candidate_rows"``.
            DimensionMismatchError: the query vectors' width differs from the clusters'.
        """
        self.ensure_ready()
        k = k or self.k
        filt = filter if filter is not None else self.filter
        model = self.cluster_model()
        q = np.ascontiguousarray(np.asarray(query_vectors, dtype=np.float32))
        if q.ndim == 1:
            q = q[None, :]
        if q.shape[1] != model.centroids.shape[1]:
            raise DimensionMismatchError(
                f"{q.shape[1]}-d query vectors cannot search clusters of {model.centroids.shape[1]}-d "
                "documents: embed queries with the store's embeddings."
            )
        if self.store.metric == "cosine":
            q = normalize_rows(q)
        order, ub = self.cluster_order(q)
        if self.search_engine == "clusters":
            def search_lists(qi: np.ndarray, lists: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
                return self.store.search_cluster_lists(q[qi], k, lists, filter=filt)
        else:
            members, bounds = self._members  # type: ignore[misc]

            def search_group(c: int, qi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
                return self.store.search_rows(q[qi], k, filter=filt, candidate_rows=members[bounds[c] : bounds[c + 1]])

            def search_lists(qi: np.ndarray, lists: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
                return open_grouped(qi, lists, k, search_group)

        scores, rows, opened = probe(
            len(q), k, order, ub, search_lists, nprobe=self.initial_probes, adaptive=self.adaptive,
            max_clusters=self.max_clusters, stop_rank=self.stop_rank,
        )
        sizes, n = model.sizes, len(model.labels)
        stats = [ClusterSearchStats([int(c) for c in o], int(sizes[o].sum()), n) for o in opened]
        self.last_stats = stats
        self.stats_history.extend(stats)
        return scores, rows, stats

    def search_vectors(
        self, query_vectors: np.ndarray, k: int | None = None, filter: Any = None
    ) -> tuple[list[list[tuple[Document, float]]], list[ClusterSearchStats]]:
        """Prefiltered top-``k`` (Document, score) lists per query vector, with what each query scanned.

        Args:
            query_vectors: (m, d) or (d,) float32 query vectors.
            k: documents per query (default: the retriever's ``k``).
            filter: a filter ANDed with the prefilter (default: the retriever's ``filter``).

        Returns:
            ``(hits, stats)``: one list of (Document, score) per query, best first, and one
                ``ClusterSearchStats`` per query.

        Raises:
            InvalidParameterError: the retriever has no clusters yet (call :meth:`fit`).
            StaleClustersError: the store's documents changed since the clusters were fitted.
            MissingCapabilityError: the store has neither ``"clusters"`` nor ``"candidate_rows"``.
            DimensionMismatchError: the query vectors' width differs from the clusters'.
        """
        scores, rows, stats = self.search_rows(query_vectors, k=k, filter=filter)
        return self.store.hits(scores, rows), stats

    def search_batch(self, queries: list[str], k: int | None = None, filter: Any = None) -> list[list[Document]]:
        """Many queries at once (what evaluation calls); per-query stats land in :attr:`last_stats`.

        Args:
            queries: the query texts.
            k: documents per query (default: the retriever's ``k``).
            filter: a filter ANDed with the prefilter (default: the retriever's ``filter``).

        Returns:
            One list of Documents per query, best first (metadata as :meth:`search_batch_with_stats`).

        Raises:
            InvalidParameterError: the retriever has no clusters yet (call :meth:`fit`).
            StaleClustersError: the store's documents changed since the clusters were fitted.
            MissingCapabilityError: the store has neither ``"clusters"`` nor ``"candidate_rows"``.
            DimensionMismatchError: the query vectors' width differs from the clusters'.
        """
        return self.search_batch_with_stats(queries, k=k, filter=filter)[0]

    def search_batch_with_stats(
        self, queries: list[str], k: int | None = None, filter: Any = None
    ) -> tuple[list[list[Document]], list[ClusterSearchStats]]:
        """Documents (copies, ``metadata`` + ``score``, ``cluster``, ``clusters_searched``,
        ``scanned_fraction``) per query, and the per-query stats.

        Args:
            queries: the query texts.
            k: documents per query (default: the retriever's ``k``).
            filter: a filter ANDed with the prefilter (default: the retriever's ``filter``).

        Returns:
            ``(docs, stats)``: one list of Documents per query, best first, and one ``ClusterSearchStats`` per query.

        Raises:
            InvalidParameterError: the retriever has no clusters yet (call :meth:`fit`).
            StaleClustersError: the store's documents changed since the clusters were fitted.
            MissingCapabilityError: the store has neither ``"clusters"`` nor ``"candidate_rows"``.
            DimensionMismatchError: the query vectors' width differs from the clusters'.
        """
        q = self.store.embedding.encode_queries(list(queries))
        scores, rows, stats = self.search_rows(q, k=k, filter=filter)
        hits = self.store.hits(scores, rows)
        labels = self._labels_of(rows)  # search_rows checked the store just now
        docs = []
        for row_hits, row_labels, st in zip(hits, labels, stats):
            docs.append([
                Document(
                    page_content=d.page_content,
                    id=d.id,
                    metadata={**d.metadata, "score": s, "cluster": int(lab), "clusters_searched": list(st.clusters),
                              "scanned_fraction": st.scanned_fraction},
                )
                for (d, s), lab in zip(row_hits, row_labels.tolist())  # padding (-1 rows) is trailing
            ])
        return docs, stats

    def stats_summary(self) -> dict[str, float]:
        """Mean ``scanned_fraction`` and ``clusters_opened`` over every query since :meth:`reset_stats`.

        Returns:
            ``{"scanned_fraction": mean, "clusters_opened": mean}`` (NaN before any search).
        """
        return summarize_stats(self.stats_history)

    def reset_stats(self) -> None:
        """Forget the probe statistics gathered so far (``last_stats`` and ``stats_history`` become empty)."""
        self.last_stats = []
        self.stats_history = []
