"""Matryoshka funnel (and cluster prefilter) quality on SciFact and speed at scale (10k .. 1M vectors).

Part 1, quality: SciFact test, all-MiniLM-L6-v2 (384-d), nDCG@10 of the funnel relative to exhaustive
full-dimension search: 128-d shortlist of 50 (raw prefix, and after a PCA rotation since MiniLM is not
Matryoshka-trained), and binary shortlists (1 bit/dim, Hamming) rescored in float.

Part 2, speed: synthetic unit vectors, 384-d, drawn to look like MiniLM's: a Gaussian mixture whose
covariance is SciFact's document covariance (its PCA spectrum and axes), topic centres plus
within-topic spread, queries drawn like documents but noisier. The same queries, the same run: exact
flat search with raw faiss (``IndexFlatIP``, the baseline) vs the funnel retriever (float 64/128-d prefix
after PCA rotation, and binary) vs the cluster prefilter retriever; speed-ups are ratios to the
baseline's time, recall@10 is against the exact top-10. Each timing is the best of ``--repeats``.

    python benchmarks/bench_funnel.py [--sizes 10000 100000 1000000] [--queries 200]
"""

from __future__ import annotations

import argparse
import gc
import json
import platform
import sys
import time
from pathlib import Path

import faiss
import numpy as np
from langchain_core.documents import Document

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from langchain_embcompare.evaluation.datasets import load_beir  # noqa: E402
from langchain_embcompare.evaluation.metrics import evaluate_run  # noqa: E402
from langchain_embcompare.matryoshka import MatryoshkaEmbeddings  # noqa: E402
from langchain_embcompare.retrievers.cluster import ClusterPrefilterRetriever  # noqa: E402
from langchain_embcompare.errors import InvalidParameterError  # noqa: E402
from langchain_embcompare.matryoshka import VectorSpace  # noqa: E402
from langchain_embcompare.stores.cluster_blocks import ClusterBlocks  # noqa: E402
from langchain_embcompare.retrievers.funnel import MatryoshkaFunnelRetriever  # noqa: E402
from langchain_embcompare.stores.base import EmbStore, SearchRequest, exact_scores, top_k  # noqa: E402
from langchain_embcompare.stores.faiss import FaissVectorStore  # noqa: E402

SCIFACT = Path("/work/shared/data/beir/scifact")


# --------------------------------------------------------------------------- part 1: quality


def quality(store: FaissVectorStore, qids: list[str], q: np.ndarray, qrels) -> dict:  # noqa: ANN001
    def ndcg(hits) -> float:  # noqa: ANN001
        run = {qid: {d.id: float(s) for d, s in h} for qid, h in zip(qids, hits)}
        return evaluate_run(run, qrels, ["ndcg@10"])["ndcg@10"]

    full = ndcg(store.search_vectors(q, k=10))
    rows = []
    grid = [
        {"shortlist_dim": 128, "shortlist": 50, "rotation": None},
        {"shortlist_dim": 128, "shortlist": 100, "rotation": None},
        {"shortlist_dim": 128, "shortlist": 50, "rotation": "pca"},
        {"shortlist_dim": 64, "shortlist": 50, "rotation": "pca"},
        {"shortlist_dim": 64, "shortlist": 100, "rotation": "pca"},
        {"shortlist_dim": None, "shortlist": 30, "precision": "binary"},
        {"shortlist_dim": None, "shortlist": 50, "precision": "binary"},
        {"shortlist_dim": None, "shortlist": 100, "precision": "binary"},
        {"shortlist_dim": 384, "shortlist": 50, "precision": "binary", "rotation": "pca"},
    ]
    for cfg in grid:
        funnel = MatryoshkaFunnelRetriever(store=store, k=10, **cfg)
        t = time.perf_counter()
        hits = funnel.search_vectors(q)
        ms = 1000 * (time.perf_counter() - t) / len(q)
        value = ndcg(hits)
        rows.append({**cfg, "ndcg@10": round(value, 5), "relative_ndcg": round(value / full, 5), "ms_per_query": round(ms, 3)})
        print("quality", rows[-1])
    return {"full_dim_ndcg@10": round(full, 5), "rows": rows}


# --------------------------------------------------------------------------- part 2: speed


class ArrayStore(EmbStore):
    """The smallest store of the package's protocol, for synthetic vectors: the vectors in memory, exact
    flat search with faiss (``IndexFlatIP``), cluster labels answered with contiguous blocks
    (:class:`ClusterBlocks`, what an in-process store does), extra vector fields as faiss flat
    indexes, documents made on demand. Unit vectors, cosine metric; no metadata, so no filters."""

    metric = "cosine"
    capabilities = frozenset({"candidate_rows", "clusters", "vector_fields"})

    def __init__(self, vectors: np.ndarray) -> None:
        self.embedding = None  # type: ignore[assignment]  # queries arrive as vectors
        self._v = np.ascontiguousarray(vectors, dtype=np.float32)
        self._rows = np.arange(len(vectors), dtype=np.int64)
        self._index: dict[str | None, faiss.Index] = {}
        self._fields: dict[str, np.ndarray] = {}
        self._labels = np.full(len(vectors), -1, np.int64)
        self._blocks: ClusterBlocks | None = None

    @property
    def space(self) -> VectorSpace:
        return VectorSpace(model="synthetic", dim=self._v.shape[1])

    def count(self) -> int:
        return len(self._v)

    def all_rows(self) -> np.ndarray:
        return self._rows

    def rows_of(self, ids):  # noqa: ANN001, ANN201
        return np.asarray([int(i) for i in ids], dtype=np.int64)

    def documents_at(self, rows):  # noqa: ANN001, ANN201
        return [Document(page_content="", id=str(int(r))) for r in np.asarray(rows).ravel()]

    def vectors_at(self, rows, vector_field=None):  # noqa: ANN001, ANN201
        src = self._v if vector_field is None else self._fields[vector_field]
        return src[np.asarray(rows, dtype=np.int64)]

    def set_cluster_labels(self, rows, labels):  # noqa: ANN001, ANN201
        self._labels[np.asarray(rows, dtype=np.int64)] = labels
        self._blocks = ClusterBlocks(self._v, self._labels, metric="cosine")  # the cluster-ordered copy

    def cluster_labels(self, rows):  # noqa: ANN001, ANN201
        return self._labels[np.asarray(rows, dtype=np.int64)]

    @property
    def vector_fields(self) -> dict[str, int]:
        return {name: v.shape[1] for name, v in self._fields.items()}

    def ensure_vector_field(self, name, dim):  # noqa: ANN001, ANN201
        self._fields.setdefault(name, np.zeros((len(self._v), dim), np.float32))

    def write_vector_field(self, name, rows, vectors):  # noqa: ANN001, ANN201
        self._fields[name][np.asarray(rows, dtype=np.int64)] = vectors
        self._index.pop(name, None)

    def upsert_vectors(self, vectors, documents, **kwargs):  # noqa: ANN001, ANN003, ANN201
        raise InvalidParameterError("ArrayStore is read-only: build it from its vectors.")

    def delete(self, ids=None, **kwargs):  # noqa: ANN001, ANN003, ANN201
        raise InvalidParameterError("ArrayStore is read-only: build it from its vectors.")

    def get_by_ids(self, ids, /):  # noqa: ANN001, ANN201
        return self.documents_at([int(i) for i in ids if 0 <= int(i) < len(self._v)])

    def index_bytes(self) -> int:
        return self._v.nbytes + sum(v.nbytes for v in self._fields.values())

    def _search(self, q, k, request: SearchRequest):  # noqa: ANN001, ANN201
        if request.filter is not None:
            raise InvalidParameterError("ArrayStore has no metadata: no filters.")
        if request.clusters is not None:
            return self._blocks.search(q, k, list(request.clusters))
        if request.candidate_rows is not None:
            rows = request.candidate_rows
            return top_k(exact_scores(q, self._v[rows], "cosine"), k, rows)
        vector_field = request.vector_field
        index = self._index.get(vector_field)
        if index is None:
            src = self._v if vector_field is None else self._fields[vector_field]
            index = self._index[vector_field] = faiss.IndexFlatIP(src.shape[1])
            index.add(src)
        scores, rows = index.search(q, k)
        return np.where(rows >= 0, scores, -np.inf).astype(np.float32), rows


class Generator:
    """Unit vectors with SciFact/MiniLM's covariance: topic centre + within-topic spread, normalised."""

    def __init__(self, real: np.ndarray, seed: int = 0, topic_share: float = 0.3, docs_per_topic: int = 100) -> None:
        self.mean = real.mean(0).astype(np.float32)
        cov = np.cov(real.T).astype(np.float64)
        evals, evecs = np.linalg.eigh(cov)
        self.axes = evecs[:, ::-1].astype(np.float32)
        self.scale = np.sqrt(np.maximum(evals[::-1], 0)).astype(np.float32)
        self.topic_share = topic_share
        self.docs_per_topic = docs_per_topic
        self.rng = np.random.default_rng(seed)

    def _gauss(self, n: int, share: float) -> np.ndarray:
        z = self.rng.standard_normal((n, len(self.scale)), dtype=np.float32)
        return (z * (self.scale * np.sqrt(share))) @ self.axes.T

    def corpus(self, n: int, n_queries: int) -> tuple[np.ndarray, np.ndarray]:
        n_topics = max(1, n // self.docs_per_topic)
        centres = self.mean + self._gauss(n_topics, self.topic_share)
        x = np.empty((n, len(self.mean)), np.float32)
        for start in range(0, n, 100_000):  # chunks keep the temporaries small
            stop = min(n, start + 100_000)
            x[start:stop] = centres[self.rng.integers(0, n_topics, stop - start)] + self._gauss(stop - start, 1 - self.topic_share)
        qs = centres[self.rng.integers(0, n_topics, n_queries)] + 1.2 * self._gauss(n_queries, 1 - self.topic_share)
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        qs /= np.linalg.norm(qs, axis=1, keepdims=True)
        return x, qs.astype(np.float32)


def best_time(fn, repeats: int):  # noqa: ANN001, ANN201
    best, out = float("inf"), None
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def recall(ids: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean([len(set(a[a >= 0]) & set(b)) / len(b) for a, b in zip(ids, truth)]))


def speed(gen: Generator, n: int, n_queries: int, repeats: int) -> dict:
    t = time.perf_counter()
    x, q = gen.corpus(n, n_queries)
    out: dict = {"n": n, "dim": x.shape[1], "queries": n_queries, "generate_seconds": round(time.perf_counter() - t, 1)}
    flat = faiss.IndexFlatIP(x.shape[1])
    flat.add(x)
    base_s, (_, truth) = best_time(lambda: flat.search(q, 10), repeats)
    out["baseline_faiss_flat"] = {"ms_per_query": round(1000 * base_s / n_queries, 4)}
    print(n, "flat", out["baseline_faiss_flat"])
    store = ArrayStore(x)
    rows = []

    def add(name: str, cfg: dict, build_s: float, seconds: float, ids: np.ndarray, extra: dict | None = None) -> None:
        rows.append({"method": name, **cfg, "build_seconds": round(build_s, 2),
                     "ms_per_query": round(1000 * seconds / n_queries, 4),
                     "speedup_vs_flat": round(base_s / seconds, 2), "recall@10": round(recall(ids, truth), 4), **(extra or {})})
        print(n, rows[-1])

    funnels = [
        {"shortlist_dim": 128, "shortlist": 50, "rotation": "pca"},
        {"shortlist_dim": 128, "shortlist": 100, "rotation": "pca"},
        {"shortlist_dim": 64, "shortlist": 200, "rotation": "pca"},
        {"shortlist_dim": 64, "shortlist": 500, "rotation": "pca"},
        {"shortlist_dim": None, "shortlist": 200, "precision": "binary"},
        {"shortlist_dim": None, "shortlist": 500, "precision": "binary"},
    ]
    rotation = None  # one PCA fit shared by the rotated funnels (it depends on the vectors only)
    for cfg in funnels:
        funnel = MatryoshkaFunnelRetriever(store=store, k=10, **cfg)
        t = time.perf_counter()
        funnel.build(rotation=rotation if funnel.rotates else None)
        rotation = funnel.fitted_rotation if funnel.rotates else rotation
        build_s = time.perf_counter() - t
        seconds, (_, ids) = best_time(lambda: funnel.search_rows(q, 10), repeats)
        add("funnel", cfg, build_s, seconds, ids)
        del funnel
        gc.collect()

    kc = int(2 ** round(np.log2(np.sqrt(n))))  # ~sqrt(N) clusters: 128, 256, 1024
    t = time.perf_counter()
    cluster = ClusterPrefilterRetriever(store=store, n_clusters=kc, k=10).fit(
        vectors=x, ids=[str(i) for i in range(n)], niter=10, train_points_per_cluster=64
    )  # fitting writes the labels: the store builds its cluster-ordered copy then, not while searching
    build_s = time.perf_counter() - t
    for cfg in ({"nprobe": max(1, kc // 16)}, {"nprobe": max(1, kc // 8)}, {"nprobe": max(1, kc // 4)},
                {"adaptive": True, "tail": 1.25, "max_clusters": kc // 4}):
        r = ClusterPrefilterRetriever(store=store, clusters=cluster.clusters, n_clusters=kc, k=10, **cfg)
        seconds, (hits, stats) = best_time(lambda: r.search_vectors(q, 10), repeats)
        ids = np.array([[int(d.id) for d, _ in h] + [-1] * (10 - len(h)) for h in hits])
        scanned = float(np.mean([s.scanned_fraction for s in stats]))
        add("cluster", {"n_clusters": kc, **cfg}, build_s, seconds, ids, {"scanned_fraction": round(scanned, 4)})

    # raw faiss IVF with the same number of lists, side by side with the cluster prefilter
    quant = faiss.IndexFlatIP(x.shape[1])
    ivf = faiss.IndexIVFFlat(quant, x.shape[1], kc, faiss.METRIC_INNER_PRODUCT)
    t = time.perf_counter()
    ivf.cp.max_points_per_centroid = 64
    ivf.train(x)
    ivf.add(x)
    build_s = time.perf_counter() - t
    for nprobe in (max(1, kc // 16), max(1, kc // 8), max(1, kc // 4)):
        ivf.nprobe = nprobe
        seconds, (_, ids) = best_time(lambda: ivf.search(q, 10), repeats)
        add("raw_faiss_ivf", {"nlist": kc, "nprobe": nprobe}, build_s, seconds, ids)
    out["rows"] = rows
    del x, flat, ivf, store, cluster
    gc.collect()
    return out


def main() -> None:
    from threadpoolctl import threadpool_limits

    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--skip-quality", action="store_true")
    ap.add_argument("--threads", type=int, default=1,
                    help="threads for faiss and BLAS, the same for every method (default 1: on a shared machine "
                         "OpenMP/BLAS thread teams spin-wait and multi-threaded timings turn to noise)")
    ap.add_argument("--out", default=str(ROOT / "benchmarks/results/funnel.json"))
    args = ap.parse_args()
    faiss.omp_set_num_threads(args.threads)
    with threadpool_limits(args.threads):
        run(args)


def run(args: argparse.Namespace) -> None:

    ds = load_beir(SCIFACT)
    emb = MatryoshkaEmbeddings("all-MiniLM-L6-v2")
    store = FaissVectorStore(emb)
    store.add_documents(ds.corpus)
    qids = list(ds.queries)
    q = emb.encode_queries([ds.queries[i] for i in qids])
    results: dict = {
        "command": "python benchmarks/bench_funnel.py " + " ".join(sys.argv[1:]),
        "platform": platform.platform(), "threads": args.threads,
    }
    if not args.skip_quality:
        results["quality_scifact_minilm"] = quality(store, qids, q, ds.qrels)
    gen = Generator(store.vectors_at(store.all_rows()))
    results["speed_synthetic"] = [speed(gen, n, args.queries, args.repeats) for n in args.sizes]
    results["growth"] = growth(results["speed_synthetic"])
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1))
    print(json.dumps(results["growth"], indent=1))
    print("wrote", out)


def growth(blocks: list[dict]) -> dict:
    """ms per query of each method at each size, to show how cost grows from 10k to 1M."""
    table: dict = {"baseline_faiss_flat": {b["n"]: b["baseline_faiss_flat"]["ms_per_query"] for b in blocks}}
    for b in blocks:
        for r in b["rows"]:
            key = r["method"] + ":" + ",".join(
                f"{k}={r[k]}" for k in ("shortlist_dim", "shortlist", "precision", "rotation", "nprobe", "adaptive", "nlist")
                if k in r and r[k] is not None
            )
            table.setdefault(key, {})[b["n"]] = {"ms_per_query": r["ms_per_query"], "speedup": r["speedup_vs_flat"],
                                                 "recall@10": r["recall@10"]}
    return table


if __name__ == "__main__":
    main()
