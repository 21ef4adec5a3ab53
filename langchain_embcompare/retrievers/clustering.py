"""Fitting clusters for the cluster prefilter, and the fitted state saved beside an index.

Spherical KMeans (``faiss.Kmeans``) on the document vectors, plus per-cluster score statistics the
adaptive probe uses (see :mod:`langchain_embcompare.retrievers.cluster`): each cluster's mean member,
its radius (largest member distance from the mean) and its top principal directions with their
variances. :class:`ClusterModel` is store-independent: labels are kept per document id (``ids``), so one
fitted model serves any store holding the same documents (FAISS rows and Redis keys differ).
:func:`choose_n_clusters` picks K when the caller does not.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import faiss
import numpy as np

from langchain_embcompare.errors import EmbCompareError, EmptyInputError, InvalidParameterError, SchemaMismatchError

__all__ = [
    "ClusterModel",
    "StaleClustersError",
    "choose_n_clusters",
    "few_threads",
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

    ``labels[i]`` is the cluster of the document ``ids[i]``: the model names documents by id, not by a
    store's rows, so it can be reused on another store holding the same documents (the retriever maps
    ids to that store's rows with ``store.rows_of``). Arrays are float32 except ``labels`` (int32).
    Saved as plain ``.npy`` files plus ``clusters.json`` (no pickle); :meth:`load` raises
    ``SchemaMismatchError`` naming the folder when it holds no readable clusters.
    """

    centroids: np.ndarray  # (K, d) unit centroids of spherical KMeans: the probe order
    labels: np.ndarray  # (N,) int32: cluster of row i
    means: np.ndarray  # (K, d) mean member vector: q·mean = mean score in the cluster
    radius: np.ndarray  # (K,) largest member distance from the mean: the exact bound
    components: np.ndarray  # (K, r, d) top principal directions of each cluster
    comp_var: np.ndarray  # (K, r) variance along them
    rest_var: np.ndarray  # (K,) mean variance along the other directions
    ids: list[str] = field(default_factory=list)  # document id of each label (labels[i] is ids[i]'s cluster)
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
        ids = [str(i) for i in meta.get("ids", [])]
        if ids and len(ids) != len(arrays["labels"]):
            raise SchemaMismatchError(
                f"{path} names {len(ids)} documents but {folder}/cluster_labels.npy holds {len(arrays['labels'])} "
                "labels: the files come from different fits; save the clusters again."
            )
        return cls(**arrays, ids=ids, seed=int(meta.get("seed", 0)))


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

    ``vectors``: (N, d) float32 (for cosine stores, the stored unit vectors); ``ids``: the N document ids
    in the same order (kept on the model). faiss trains on a sample of at most
    ``train_points_per_cluster * K`` vectors; every vector is then assigned to its nearest centroid.
    Raises ``EmptyInputError`` (no vectors) or ``InvalidParameterError`` (K not in 1..N, ids of another
    length).
    """
    x = np.ascontiguousarray(np.asarray(vectors, dtype=np.float32))
    if x.ndim != 2 or len(x) == 0:
        raise EmptyInputError("Cannot cluster an empty corpus: add documents to the store first.")
    n, d = x.shape
    if ids is not None and len(ids) != n:
        raise InvalidParameterError(f"Got {len(ids)} ids for {n} vectors: pass one document id per vector.")
    if not isinstance(n_clusters, (int, np.integer)) or n_clusters < 1:
        raise InvalidParameterError(f"n_clusters must be a positive integer, got {n_clusters!r}.")
    if n_clusters > n:
        raise InvalidParameterError(
            f"n_clusters={n_clusters} is more than the {n} documents in the store: use n_clusters <= {n} "
            f"(about sqrt(N) = {max(1, int(np.sqrt(n)))} is a good start) or leave it None to choose automatically."
        )
    with few_threads(n * d * int(n_clusters) * niter):
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
    with few_threads(n * d * d):
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
def few_threads(work: float, threshold: float = 5e9) -> Iterator[None]:
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
    # min_points_per_centroid=1: small corpora are clustered as asked, without faiss's stderr warning
    # ("please provide at least ... training points"), which reads as an error to a newcomer
    km = faiss.Kmeans(x.shape[1], k, niter=niter, seed=seed, spherical=True, verbose=False,
                      max_points_per_centroid=train_points, min_points_per_centroid=1)
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
        with few_threads(n * x.shape[1] * c * 25):
            labels = _kmeans(x, c, seed, 25, 256)[1]
        if len(np.unique(labels[idx])) < 2:
            continue
        score = float(silhouette_score(x[idx], labels[idx], metric="cosine"))
        if score > best_score + 1e-9:
            best, best_score = c, score
    return best


