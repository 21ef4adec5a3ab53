"""Cluster-prefiltered retrieval: search only the clusters nearest the query.

Why: most of a corpus is irrelevant to any one query. KMeans (faiss) splits the document vectors into
``K`` clusters; a query scores only the documents of its ``nprobe`` nearest clusters (by centroid
similarity), so it scans a fraction of the corpus. This is the IVF idea made explicit and portable:
on FAISS the cluster id of each row is an int array saved beside the index, on Redis it is the
``cluster`` TAG field, and the cluster choice becomes a prefilter that composes with the user's filter.

**Adaptive mode** decides per query how many clusters to open. Clusters are opened in decreasing
order of an *upper estimate* of the best score they can hold; opening stops when the next cluster's
estimate falls below the current k-th best score (nothing better is expected there), or at
``max_clusters``. Two estimates (``bound=``):

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
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import faiss
import numpy as np
from langchain_core.documents import Document
from pydantic import ConfigDict, Field, PrivateAttr

from langchain_embcompare.retrievers.vector import BatchRetriever
from langchain_embcompare.errors import (
    DimensionMismatchError,
    EmbCompareError,
    EmptyInputError,
    InvalidParameterError,
    SchemaMismatchError,
)

__all__ = [
    "ClusterModel",
    "ClusterPrefilterRetriever",
    "ClusterSearchStats",
    "StaleClustersError",
    "choose_n_clusters",
    "fit_clusters",
]

FORMAT = "langchain-embcompare/clusters"
FORMAT_VERSION = 1
_N_COMPONENTS = 16  # principal directions kept per cluster for the "gauss" estimate


class StaleClustersError(EmbCompareError, ValueError):
    """The store holds other documents than the clusters were fitted on."""


# --------------------------------------------------------------------------- fitted state


@dataclass
class ClusterModel:
    """Fitted clusters: centroids, each document's cluster, and per-cluster score statistics.

    Saved as plain ``.npy`` files plus ``clusters.json`` (no pickle).
    """

    centroids: np.ndarray  # (K, d) unit centroids of spherical KMeans: the probe order
    labels: np.ndarray  # (N,) int32: cluster of row i
    means: np.ndarray  # (K, d) mean member vector: q·mean = mean score in the cluster
    radius: np.ndarray  # (K,) largest member distance from the mean: the exact bound
    components: np.ndarray  # (K, r, d) top principal directions of each cluster
    comp_var: np.ndarray  # (K, r) variance along them
    rest_var: np.ndarray  # (K,) mean variance along the other directions
    ids: list[str] = field(default_factory=list)  # document ids in row order (Redis keys, checks)
    seed: int = 0

    @property
    def n_clusters(self) -> int:
        return int(self.centroids.shape[0])

    @property
    def sizes(self) -> np.ndarray:
        return np.bincount(self.labels, minlength=self.n_clusters)

    def save(self, folder: str | Path) -> Path:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        for name in ("centroids", "labels", "means", "radius", "components", "comp_var", "rest_var"):
            np.save(folder / f"cluster_{name}.npy", getattr(self, name), allow_pickle=False)
        meta = {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "n_clusters": self.n_clusters,
            "n_docs": int(len(self.labels)),
            "dim": int(self.centroids.shape[1]),
            "seed": self.seed,
            "ids": self.ids,
        }
        (folder / "clusters.json").write_text(json.dumps(meta))
        return folder

    @classmethod
    def load(cls, folder: str | Path) -> ClusterModel:
        folder = Path(folder)
        path = folder / "clusters.json"
        if not path.exists():
            raise SchemaMismatchError(f"{folder} holds no clusters.json; fit clusters and save() them there first.")
        meta = json.loads(path.read_text())
        if meta.get("format") != FORMAT or meta.get("version", 0) > FORMAT_VERSION:
            raise SchemaMismatchError(f"{path} is not a readable cluster file (format {meta.get('format')!r}).")
        arrays = {
            name: np.load(folder / f"cluster_{name}.npy", allow_pickle=False)
            for name in ("centroids", "labels", "means", "radius", "components", "comp_var", "rest_var")
        }
        return cls(**arrays, ids=list(meta.get("ids", [])), seed=int(meta.get("seed", 0)))


def fit_clusters(
    vectors: np.ndarray,
    n_clusters: int,
    *,
    seed: int = 0,
    niter: int = 25,
    ids: Sequence[str] | None = None,
    n_components: int = _N_COMPONENTS,
    train_points_per_cluster: int = 256,
) -> ClusterModel:
    """Spherical KMeans (``faiss.Kmeans``) on the vectors, plus the per-cluster statistics.

    faiss trains on a sample of at most ``train_points_per_cluster * K`` vectors; every vector is then
    assigned to its nearest centroid.
    """
    x = np.ascontiguousarray(np.asarray(vectors, dtype=np.float32))
    if x.ndim != 2 or len(x) == 0:
        raise EmptyInputError("Cannot cluster an empty corpus: add documents to the store first.")
    n, d = x.shape
    if not isinstance(n_clusters, (int, np.integer)) or n_clusters < 1:
        raise InvalidParameterError(f"n_clusters must be a positive integer, got {n_clusters!r}.")
    if n_clusters > n:
        raise InvalidParameterError(
            f"n_clusters={n_clusters} is more than the {n} documents in the store: use n_clusters <= {n} "
            f"(about sqrt(N) = {max(1, int(np.sqrt(n)))} is a good start) or leave it None to choose automatically."
        )
    with _few_threads(n * d * int(n_clusters) * niter):
        centroids, labels = _kmeans(x, int(n_clusters), seed, niter, train_points_per_cluster)
    k = int(n_clusters)
    r = max(1, min(n_components, d))
    means = np.zeros((k, d), np.float32)
    radius = np.zeros(k, np.float32)
    comps = np.zeros((k, r, d), np.float32)
    cvar = np.zeros((k, r), np.float32)
    rest = np.zeros(k, np.float32)
    order = np.argsort(labels, kind="stable")
    bounds = np.searchsorted(labels[order], np.arange(k + 1))
    with _few_threads(n * d * d):
        for c in range(k):  # a loop over clusters (not documents): one decomposition each
            members = x[order[bounds[c] : bounds[c + 1]]]
            if len(members) == 0:
                means[c] = centroids[c]
                continue
            mu = members.mean(0)
            centred = members - mu
            means[c] = mu
            radius[c] = float(np.sqrt((centred * centred).sum(1).max()))
            total = float((centred * centred).sum() / len(members))
            if len(members) < d:  # thin SVD of the members is cheaper than the d x d covariance
                _, sv, vt = np.linalg.svd(centred, full_matrices=False)
                evals, evecs_t = (sv * sv) / len(members), vt
            else:
                evals, evecs = np.linalg.eigh(centred.T @ centred / len(members))
                evals, evecs_t = evals[::-1], evecs[:, ::-1].T
            evals = np.maximum(evals, 0)
            rr = min(r, len(evals))
            comps[c, :rr] = evecs_t[:rr]
            cvar[c, :rr] = evals[:rr]
            rest[c] = max(0.0, total - float(evals[:rr].sum())) / max(1, d - rr)
    return ClusterModel(
        centroids=centroids, labels=labels, means=means, radius=radius, components=comps,
        comp_var=cvar, rest_var=rest, ids=list(ids) if ids is not None else [], seed=seed,
    )


@contextmanager
def _few_threads(work: float, threshold: float = 5e9) -> Iterator[None]:
    """One thread for small jobs: OpenMP/BLAS thread teams spin-wait, and on a busy machine a
    two-thread KMeans or SVD of a few hundred vectors was measured 30-100x slower than one thread."""
    if work >= threshold:
        yield
        return
    from threadpoolctl import threadpool_limits

    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        with threadpool_limits(1):
            yield
    finally:
        faiss.omp_set_num_threads(before)


def _kmeans(x: np.ndarray, k: int, seed: int, niter: int, train_points: int) -> tuple[np.ndarray, np.ndarray]:
    km = faiss.Kmeans(x.shape[1], k, niter=niter, seed=seed, spherical=True, verbose=False,
                      max_points_per_centroid=train_points)
    km.train(x)
    return km.centroids.astype(np.float32), km.index.search(x, 1)[1][:, 0].astype(np.int32)


def choose_n_clusters(
    vectors: np.ndarray, candidates: Sequence[int] | None = None, *, sample: int = 2000, seed: int = 0
) -> int:
    """Pick K by the mean silhouette (cosine) of a sample, among prefilter-sized candidates.

    The rule: candidates default to 5 values spaced geometrically from ``sqrt(N)/2`` to ``2 sqrt(N)``
    (capped at ``N/10``): the range where a prefilter both narrows the search (K large enough) and keeps
    clusters big enough to hold a query's neighbours. Silhouette alone favours tiny K on text
    embeddings, so it only arbitrates inside that range; ties go to the smaller K.
    """
    from sklearn.metrics import silhouette_score

    x = np.asarray(vectors, dtype=np.float32)
    n = len(x)
    if n < 4:
        raise InvalidParameterError(f"choose_n_clusters needs at least 4 documents, got {n}; set n_clusters yourself.")
    if candidates is None:
        lo = max(2.0, np.sqrt(n) / 2)
        hi = max(lo, min(2 * np.sqrt(n), n / 10))
        candidates = sorted({int(round(v)) for v in np.geomspace(lo, hi, 5)})
    cands = [int(c) for c in candidates if 2 <= int(c) < n]
    if not cands:
        raise InvalidParameterError(f"no candidate K in {list(candidates)} fits {n} documents (need 2 <= K < N).")
    rng = np.random.default_rng(seed)
    idx = rng.choice(n, size=min(sample, n), replace=False)
    best, best_score = cands[0], -np.inf
    for c in cands:
        with _few_threads(n * x.shape[1] * c * 25):
            labels = _kmeans(x, c, seed, 25, 256)[1]
        if len(np.unique(labels[idx])) < 2:
            continue
        score = float(silhouette_score(x[idx], labels[idx], metric="cosine"))
        if score > best_score + 1e-9:
            best, best_score = c, score
    return best


# --------------------------------------------------------------------------- per-query stats


@dataclass
class ClusterSearchStats:
    """What one query searched: the clusters opened (in order) and the share of the corpus they hold."""

    clusters: list[int]
    scanned_docs: int
    n_docs: int

    @property
    def scanned_fraction(self) -> float:
        return self.scanned_docs / max(1, self.n_docs)

    @property
    def n_clusters_opened(self) -> int:
        return len(self.clusters)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "scanned_fraction": self.scanned_fraction, "n_clusters_opened": self.n_clusters_opened}


def summarize_stats(stats: Sequence[ClusterSearchStats]) -> dict[str, float]:
    """Means over queries, for an evaluation JSON: ``scanned_fraction`` and ``clusters_opened``."""
    if not stats:
        return {"scanned_fraction": float("nan"), "clusters_opened": float("nan")}
    return {
        "scanned_fraction": float(np.mean([s.scanned_fraction for s in stats])),
        "clusters_opened": float(np.mean([s.n_clusters_opened for s in stats])),
    }


# --------------------------------------------------------------------------- the retriever


class ClusterPrefilterRetriever(BatchRetriever):
    """Top-``k`` search restricted to the clusters nearest the query (FAISS or Redis store).

    ``nprobe`` clusters per query, or ``adaptive=True`` (see the module docstring; ``nprobe`` is then
    the number opened before the stopping rule applies, ``max_clusters`` the cap, and ``stop_rank``
    the rank whose score the rule protects: default ``k``; ``stop_rank=10`` keeps an evaluation at
    ``k=100`` from opening clusters only to fill ranks 11-100). ``filter`` (a redisvl
    expression or a LangChain-style dict) is ANDed with the cluster prefilter. Call :meth:`fit` (or
    build with :meth:`from_store`) before searching, or :meth:`load` saved clusters.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    store: Any
    k: int = 4
    n_clusters: int | None = None
    nprobe: int = 1
    adaptive: bool = False
    max_clusters: int | None = None
    bound: Literal["gauss", "exact"] = "gauss"
    tail: float = 1.25
    filter: Any = None
    seed: int = 0
    stop_rank: int | None = None
    engine: Literal["blocks", "selector"] = "blocks"
    clusters: ClusterModel | None = None
    last_stats: list[ClusterSearchStats] = Field(default_factory=list)
    stats_history: list[ClusterSearchStats] = Field(default_factory=list)

    _layout: tuple[np.ndarray, np.ndarray, np.ndarray] | None = PrivateAttr(default=None)
    _row_of: dict[str, int] | None = PrivateAttr(default=None)

    # ------------------------------------------------------------------ construction

    @classmethod
    def from_store(cls, store: Any, n_clusters: int | None = None, **kwargs: Any) -> ClusterPrefilterRetriever:
        """Build and fit in one call (``n_clusters=None`` → :func:`choose_n_clusters`)."""
        return cls(store=store, n_clusters=n_clusters, **kwargs).fit()

    @classmethod
    def load(cls, folder: str | Path, store: Any, **kwargs: Any) -> ClusterPrefilterRetriever:
        """Reload clusters saved with :meth:`save` for ``store`` (checked against its documents)."""
        model = ClusterModel.load(folder)
        settings_path = Path(folder) / "retriever.json"
        settings = json.loads(settings_path.read_text()) if settings_path.exists() else {}
        settings.update(kwargs)
        settings["n_clusters"] = model.n_clusters
        retriever = cls(store=store, clusters=model, **settings)
        retriever._check_fresh(full=True)
        return retriever

    def save(self, folder: str | Path) -> Path:
        """Write the clusters (``.npy`` + JSON) and the retriever's settings to ``folder``."""
        model = self._model()
        model.save(folder)
        settings = {
            "k": self.k, "nprobe": self.nprobe, "adaptive": self.adaptive, "max_clusters": self.max_clusters,
            "bound": self.bound, "tail": self.tail, "seed": self.seed, "engine": self.engine,
        }
        (Path(folder) / "retriever.json").write_text(json.dumps(settings))
        return Path(folder)

    def fit(
        self, vectors: np.ndarray | None = None, ids: Sequence[str] | None = None, **fit_kwargs: Any
    ) -> ClusterPrefilterRetriever:
        """Cluster the store's vectors and record each document's cluster (Redis: the ``cluster`` TAG).

        ``fit_kwargs`` go to :func:`fit_clusters` (``niter``, ``train_points_per_cluster``).
        """
        if vectors is None:
            vectors, ids = _store_vectors(self.store)
        n_clusters = self.n_clusters if self.n_clusters is not None else choose_n_clusters(vectors, seed=self.seed)
        self.n_clusters = n_clusters
        self.clusters = fit_clusters(vectors, n_clusters, seed=self.seed, ids=ids, **fit_kwargs)
        if _is_redis(self.store):
            _write_redis_clusters(self.store, self.clusters.ids, self.clusters.labels)
        self._layout = None
        self._row_of = None
        self._validate()
        return self

    # ------------------------------------------------------------------ checks

    def _model(self) -> ClusterModel:
        if self.clusters is None:
            raise InvalidParameterError(
                "The retriever has no clusters yet: call .fit() (or build it with "
                "ClusterPrefilterRetriever.from_store(store, n_clusters=K)) or .load(folder, store)."
            )
        return self.clusters

    def _validate(self) -> None:
        model = self._model()
        kc = model.n_clusters
        if self.k <= 0:
            raise InvalidParameterError(f"k must be positive, got {self.k}.")
        if not 1 <= self.nprobe <= kc:
            raise InvalidParameterError(
                f"nprobe={self.nprobe} is outside 1..{kc} (the number of clusters): pass nprobe between 1 and {kc}, "
                "or adaptive=True to let each query choose."
            )
        if self.max_clusters is not None and not self.nprobe <= self.max_clusters <= kc:
            raise InvalidParameterError(
                f"max_clusters={self.max_clusters} must lie in nprobe..n_clusters ({self.nprobe}..{kc})."
            )
        if self.stop_rank is not None and self.stop_rank <= 0:
            raise InvalidParameterError(f"stop_rank={self.stop_rank} must be a positive rank (e.g. 10), or None for k.")
        if self.tail <= 0:
            raise InvalidParameterError(f"tail={self.tail} must be > 0 (1.0 is the expected maximum; larger is safer).")

    def _check_fresh(self, full: bool = False) -> None:
        """Refuse clusters fitted on other documents: the count on every search (cheap), ids on load."""
        model = self._model()
        n = _store_count(self.store)
        if n != len(model.labels):
            raise StaleClustersError(
                f"The clusters were fitted on {len(model.labels)} documents but the store holds {n}: "
                "call .fit() again after adding or deleting documents."
            )
        if full and not _is_redis(self.store) and model.ids:
            ids = [d.id for d in self.store.documents]
            if ids != model.ids:
                raise StaleClustersError(
                    "The store's documents (ids/order) differ from those the clusters were fitted on: call .fit() again."
                )

    # ------------------------------------------------------------------ cluster selection

    def score_bounds(self, q: np.ndarray) -> np.ndarray:
        """(m, K) estimate of the best score each cluster can hold for each query (adaptive order)."""
        model = self._model()
        base = q @ model.means.T
        qnorm = np.linalg.norm(q, axis=1, keepdims=True)
        if self.bound == "exact":
            return base + qnorm * model.radius[None, :]
        proj = np.einsum("md,krd->mkr", q, model.components)
        var = (proj * proj * model.comp_var[None]).sum(2)
        var += model.rest_var[None] * np.maximum(qnorm * qnorm - (proj * proj).sum(2), 0)
        z = np.sqrt(2 * np.log(np.maximum(model.sizes, 2)))[None, :]
        return base + self.tail * z * np.sqrt(np.maximum(var, 0))

    def cluster_order(self, q: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """Per query, clusters in probe order (and, adaptive, their sorted score estimates)."""
        model = self._model()
        if not self.adaptive:
            return np.argsort(-(q @ model.centroids.T), axis=1, kind="stable"), None
        ub = self.score_bounds(q)
        order = np.argsort(-ub, axis=1, kind="stable")
        return order, np.take_along_axis(ub, order, 1)

    # ------------------------------------------------------------------ search

    def search_vectors(
        self, query_vectors: np.ndarray, k: int | None = None, filter: Any = None
    ) -> tuple[list[list[tuple[Document, float]]], list[ClusterSearchStats]]:
        """Prefiltered top-``k`` for each query vector, with what each query scanned."""
        self._validate()
        self._check_fresh()
        k = k or self.k
        filt = filter if filter is not None else self.filter
        q = np.ascontiguousarray(np.asarray(query_vectors, dtype=np.float32))
        if q.ndim == 1:
            q = q[None, :]
        if q.shape[1] != self._model().centroids.shape[1]:
            raise DimensionMismatchError(
                f"{q.shape[1]}-d query vectors cannot search clusters of {self._model().centroids.shape[1]}-d "
                "documents: embed queries with the store's embeddings."
            )
        if getattr(self.store, "metric", getattr(getattr(self.store, "spec", None), "metric", "cosine")) == "cosine":
            q = q / np.maximum(np.linalg.norm(q, axis=1, keepdims=True), 1e-12)
        order, ub = self.cluster_order(q)
        if _is_redis(self.store):
            hits, opened = self._search_redis(q, k, filt, order, ub)
        elif self.engine == "selector":
            hits, opened = self._search_selector(q, k, filt, order, ub)
        else:
            hits, opened = self._search_blocks(q, k, filt, order, ub)
        sizes = self._model().sizes
        n = len(self._model().labels)
        stats = [ClusterSearchStats([int(c) for c in o], int(sizes[o].sum()), n) for o in opened]
        self.last_stats = stats
        self.stats_history.extend(stats)
        return hits, stats

    def search_batch(self, queries: list[str], k: int | None = None, filter: Any = None) -> list[list[Document]]:
        """Many queries at once (what evaluation calls); per-query stats land in :attr:`last_stats`."""
        return self.search_batch_with_stats(queries, k=k, filter=filter)[0]

    def search_batch_with_stats(
        self, queries: list[str], k: int | None = None, filter: Any = None
    ) -> tuple[list[list[Document]], list[ClusterSearchStats]]:
        q = self.store.embedding.encode_queries(list(queries))
        hits, stats = self.search_vectors(q, k=k, filter=filter)
        labels = self._label_lookup()
        docs = []
        for row, st in zip(hits, stats):
            docs.append(
                [
                    Document(
                        page_content=d.page_content,
                        id=d.id,
                        metadata={
                            **d.metadata,
                            "score": s,
                            "cluster": labels(d.id),
                            "clusters_searched": list(st.clusters),
                            "scanned_fraction": st.scanned_fraction,
                        },
                    )
                    for d, s in row
                ]
            )
        return docs, stats

    def stats_summary(self) -> dict[str, float]:
        """Mean ``scanned_fraction`` and ``clusters_opened`` over every query since :meth:`reset_stats`."""
        return summarize_stats(self.stats_history)

    def reset_stats(self) -> None:
        self.last_stats = []
        self.stats_history = []

    # ------------------------------------------------------------------ engines

    def _rows(self) -> dict[str, int]:
        """Document id -> row of the fitted clusters (built once)."""
        if self._row_of is None:
            self._row_of = {i: r for r, i in enumerate(self._model().ids)}
        return self._row_of

    def _label_lookup(self):  # noqa: ANN202 - small closure
        model = self._model()
        pos = self._rows()
        return lambda doc_id: int(model.labels[pos[doc_id]]) if doc_id in pos else None

    def _blocks(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Rows sorted by cluster (``perm``), cluster boundaries, and the vectors in that order."""
        if self._layout is None:
            model = self._model()
            perm = np.argsort(model.labels, kind="stable").astype(np.int64)
            bounds = np.searchsorted(model.labels[perm], np.arange(model.n_clusters + 1)).astype(np.int64)
            vecs = np.ascontiguousarray(np.asarray(self.store.vectors, dtype=np.float32)[perm])
            self._layout = (perm, bounds, vecs)
        return self._layout

    def _rounds(self, q: np.ndarray, k: int, order: np.ndarray, ub: np.ndarray | None, search_group, search_set=None):  # noqa: ANN001
        """The probe loop shared by all engines.

        Round 0 opens the first ``nprobe`` clusters of every query; fixed mode stops there. Adaptive
        rounds open each active query's next cluster while its estimate is >= the query's k-th score.
        ``search_group(cluster, query_rows)`` returns (scores (m', k'), ids (m', k')) for those queries;
        ``search_set(query_row, clusters)``, if given, searches one query's first ``nprobe`` clusters in
        one call (one prefiltered query on the store instead of ``nprobe``). Top-k of a union is the
        top-k of the merged per-cluster top-k lists, so both give the same result.
        """
        m = len(q)
        kc = order.shape[1]
        cap = self.max_clusters or kc
        best_s = np.full((m, k), -np.inf, dtype=np.float32)
        best_i = np.full((m, k), -1, dtype=np.int64)
        opened: list[list[int]] = [[] for _ in range(m)]

        def merge(c: int, rows: np.ndarray) -> None:
            s, ids = search_group(c, rows)
            if s.shape[1] == 0:
                return
            cs = np.concatenate([best_s[rows], s], 1)
            ci = np.concatenate([best_i[rows], ids], 1)
            top = np.argsort(-cs, axis=1, kind="stable")[:, :k]
            best_s[rows] = np.take_along_axis(cs, top, 1)
            best_i[rows] = np.take_along_axis(ci, top, 1)

        def open_step(step: int, active: np.ndarray) -> None:
            cl = order[active, step]
            for c in np.unique(cl):
                rows = active[cl == c]
                for r in rows:
                    opened[r].append(int(c))
                merge(int(c), rows)

        if search_set is not None and self.nprobe > 1:
            for r in range(m):
                clusters = [int(c) for c in order[r, : self.nprobe]]
                opened[r].extend(clusters)
                s, ids = search_set(r, clusters)
                cs = np.concatenate([best_s[r], s])
                ci = np.concatenate([best_i[r], ids])
                top = np.argsort(-cs, kind="stable")[:k]
                best_s[r], best_i[r] = cs[top], ci[top]
        else:
            # One search per cluster for every query that probes it among its first nprobe (K calls,
            # not nprobe x K), each query's lists kept in its own slot, then one merge.
            first = order[:, : self.nprobe]
            slot_s = np.full((m, self.nprobe, k), -np.inf, np.float32)
            slot_i = np.full((m, self.nprobe, k), -1, np.int64)
            flat = first.ravel()
            qrow = np.repeat(np.arange(m), self.nprobe)
            slot = np.tile(np.arange(self.nprobe), m)
            srt = np.argsort(flat, kind="stable")
            edges = np.searchsorted(flat[srt], np.arange(kc + 1))
            for c in range(kc):
                sel = srt[edges[c] : edges[c + 1]]
                if len(sel) == 0:
                    continue
                s, ids = search_group(c, qrow[sel])
                slot_s[qrow[sel], slot[sel], : s.shape[1]] = s
                slot_i[qrow[sel], slot[sel], : s.shape[1]] = ids
            cs, ci = slot_s.reshape(m, -1), slot_i.reshape(m, -1)
            top = np.argsort(-cs, axis=1, kind="stable")[:, :k]
            best_s[:] = np.take_along_axis(cs, top, 1)
            best_i[:] = np.take_along_axis(ci, top, 1)
            opened = [list(map(int, row)) for row in first]
        if self.adaptive:
            step = self.nprobe
            active = np.arange(m)
            rank = min(self.stop_rank or k, k)
            while step < min(cap, kc) and len(active):
                kth = best_s[active, rank - 1]
                active = active[ub[active, step] >= kth]
                if len(active):
                    open_step(step, active)
                step += 1
        return best_s, best_i, opened

    def _search_blocks(self, q, k, filt, order, ub):  # noqa: ANN001, ANN202
        """FAISS path: one matmul per opened cluster over its contiguous block of vectors."""
        perm, bounds, vecs = self._blocks()
        allowed = None
        if filt is not None:
            rows = self.store.allowed_rows(filt)
            if rows is not None:
                mask = np.zeros(len(perm), bool)
                mask[rows] = True
                allowed = mask[perm]
        l2 = getattr(self.store, "metric", "cosine") == "l2"

        def search_group(c: int, qrows: np.ndarray):  # noqa: ANN202
            lo, hi = bounds[c], bounds[c + 1]
            block = vecs[lo:hi]
            s = q[qrows] @ block.T
            if l2:
                s = -np.sqrt(np.maximum((q[qrows] ** 2).sum(1)[:, None] - 2 * s + (block**2).sum(1)[None], 0))
            if allowed is not None:
                s[:, ~allowed[lo:hi]] = -np.inf
            kk = min(k, hi - lo)
            if kk == 0:
                return np.zeros((len(qrows), 0), np.float32), np.zeros((len(qrows), 0), np.int64)
            part = np.argpartition(-s, kk - 1, axis=1)[:, :kk]
            ps = np.take_along_axis(s, part, 1)
            ids = perm[lo + part]
            ids[~np.isfinite(ps)] = -1
            return ps, ids

        best_s, best_i, opened = self._rounds(q, k, order, ub, search_group)
        docs = self.store.documents
        hits = [
            [(docs[i], float(s)) for s, i in zip(srow.tolist(), irow.tolist()) if i >= 0 and np.isfinite(s)]
            for srow, irow in zip(best_s, best_i)
        ]
        return hits, opened

    def _search_selector(self, q, k, filt, order, ub):  # noqa: ANN001, ANN202
        """FAISS path through the store's own ``search_vectors_raw(candidate_ids=rows)`` prefilter."""
        perm, bounds, _ = self._blocks()

        def rows_of(clusters) -> np.ndarray:  # noqa: ANN001
            return np.concatenate([perm[bounds[c] : bounds[c + 1]] for c in clusters])

        def search_set(qi: int, clusters: list[int]):  # noqa: ANN202
            s, ids = self.store.search_vectors_raw(q[qi : qi + 1], k, filt, candidate_ids=rows_of(clusters))
            return np.where(ids >= 0, s, -np.inf).astype(np.float32)[0], ids.astype(np.int64)[0]

        def search_group(c: int, qrows: np.ndarray):  # noqa: ANN202
            cand = perm[bounds[c] : bounds[c + 1]]
            if len(cand) == 0:
                return np.zeros((len(qrows), 0), np.float32), np.zeros((len(qrows), 0), np.int64)
            s, ids = self.store.search_vectors_raw(q[qrows], k, filt, candidate_ids=cand)
            s = np.where(ids >= 0, s, -np.inf).astype(np.float32)
            return s, ids.astype(np.int64)

        best_s, best_i, opened = self._rounds(q, k, order, ub, search_group, search_set)
        docs = self.store.documents
        hits = [
            [(docs[i], float(s)) for s, i in zip(srow.tolist(), irow.tolist()) if i >= 0 and np.isfinite(s)]
            for srow, irow in zip(best_s, best_i)
        ]
        return hits, opened

    def _search_redis(self, q, k, filt, order, ub):  # noqa: ANN001, ANN202
        """Redis path: a KNN per (cluster, queries) with the ``cluster`` TAG ANDed to the user's filter."""
        row_of = self._rows()
        found: dict[int, Document] = {}

        def search_group(c: int, qrows: np.ndarray):  # noqa: ANN202
            res = self.store.search_vectors(q[qrows], k, filt, clusters=[c])
            kk = max((len(r) for r in res), default=0)
            s = np.full((len(qrows), kk), -np.inf, np.float32)
            ids = np.full((len(qrows), kk), -1, np.int64)
            for j, hits in enumerate(res):
                for t, (doc, score) in enumerate(hits):
                    r = row_of[doc.id]
                    found[r] = doc
                    s[j, t] = score
                    ids[j, t] = r
            return s, ids

        def search_set(qi: int, clusters: list[int]):  # noqa: ANN202
            res = self.store.search_vectors(q[qi : qi + 1], k, filt, clusters=clusters)[0]
            s = np.full(len(res), -np.inf, np.float32)
            ids = np.full(len(res), -1, np.int64)
            for t, (doc, score) in enumerate(res):
                r = row_of[doc.id]
                found[r] = doc
                s[t], ids[t] = score, r
            return s, ids

        best_s, best_i, opened = self._rounds(q, k, order, ub, search_group, search_set)
        hits = [
            [(found[i], float(s)) for s, i in zip(srow.tolist(), irow.tolist()) if i >= 0 and np.isfinite(s)]
            for srow, irow in zip(best_s, best_i)
        ]
        return hits, opened


# --------------------------------------------------------------------------- store adapters


def _is_redis(store: Any) -> bool:
    return type(store).__name__ == "RedisVectorStore" or hasattr(store, "fetch_vectors") and not hasattr(store, "vectors")


def _store_count(store: Any) -> int:
    if _is_redis(store):
        return int(store.count())
    return len(store.documents)


def _redis_ids(store: Any) -> list[str]:
    """Every document id of a Redis index (SCAN over its key prefix), sorted for a stable row order."""
    prefix = f"{store.spec.prefix}:"
    keys = store.client.scan_iter(match=f"{prefix}*", count=1000)
    return sorted(k.decode()[len(prefix) :] if isinstance(k, bytes) else str(k)[len(prefix) :] for k in keys)


def _store_vectors(store: Any) -> tuple[np.ndarray, list[str]]:
    """(vectors, ids) of every document in the store, row order = ids order."""
    if _is_redis(store):
        ids = _redis_ids(store)
        if not ids:
            raise EmptyInputError("The Redis index holds no documents: add documents before fitting clusters.")
        return store.fetch_vectors(ids), ids
    if not store.documents:
        raise EmptyInputError("The store holds no documents: add documents before fitting clusters.")
    return np.asarray(store.vectors, dtype=np.float32), [d.id for d in store.documents]


def _write_redis_clusters(store: Any, ids: Sequence[str], labels: np.ndarray, batch: int = 1000) -> None:
    """Set each document's ``cluster`` TAG in pipelined batches (Redis re-indexes the hash on HSET)."""
    prefix = store.spec.prefix
    for start in range(0, len(ids), batch):
        with store.client.pipeline(transaction=False) as pipe:
            for doc_id, lab in zip(ids[start : start + batch], labels[start : start + batch].tolist()):
                pipe.hset(f"{prefix}:{doc_id}", "cluster", str(int(lab)))
            pipe.execute()
