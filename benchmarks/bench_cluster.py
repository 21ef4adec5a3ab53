"""Cluster prefilter on SciFact with all-MiniLM-L6-v2: nDCG@10 vs the fraction of the corpus scanned.

K = 10 and 64 clusters, nprobe = 1..K, plus the adaptive mode (several ``tail`` settings and the exact
bound), on FAISS and, with ``--redis``, the same clusters on a local Redis (numbers compared).

    python benchmarks/bench_cluster.py [--redis] [--out benchmarks/results/cluster_scifact.json]

Writes the JSON and a plot (``cluster_scifact.png``) beside it.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from langchain_embcompare.evaluation.datasets import load_beir  # noqa: E402
from langchain_embcompare.evaluation.metrics import evaluate_run  # noqa: E402
from langchain_embcompare.matryoshka import MatryoshkaEmbeddings  # noqa: E402
from langchain_embcompare.retrievers.cluster import ClusterModel, ClusterPrefilterRetriever  # noqa: E402
from langchain_embcompare.stores.faiss import FaissVectorStore  # noqa: E402

SCIFACT = Path("/work/shared/data/beir/scifact")
K_VALUES = (10, 64)
TAILS = (0.5, 0.75, 1.0, 1.25, 1.5)


def run_of(qids: list[str], hits) -> dict[str, dict[str, float]]:  # noqa: ANN001
    return {qid: {d.id: float(s) for d, s in h} for qid, h in zip(qids, hits)}


def measure(retriever: ClusterPrefilterRetriever, qids: list[str], q: np.ndarray, qrels, full: float) -> dict:
    retriever.reset_stats()
    t = time.perf_counter()
    hits, stats = retriever.search_vectors(q, k=10)
    seconds = time.perf_counter() - t
    ndcg = evaluate_run(run_of(qids, hits), qrels, ["ndcg@10"])["ndcg@10"]
    summary = retriever.stats_summary()
    return {
        "ndcg@10": round(ndcg, 5),
        "relative_ndcg": round(ndcg / full, 5),
        "scanned_fraction": round(summary["scanned_fraction"], 5),
        "clusters_opened": round(summary["clusters_opened"], 3),
        "ms_per_query": round(1000 * seconds / len(q), 4),
        "_ids": [[d.id for d, _ in h] for h in hits],
    }


def configs(k_clusters: int) -> list[dict]:
    out = [{"nprobe": p} for p in range(1, k_clusters + 1)]
    out += [{"adaptive": True, "tail": t} for t in TAILS]
    out += [{"adaptive": True, "bound": "exact"}]
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=str(ROOT / "benchmarks/results/cluster_scifact.json"))
    ap.add_argument("--redis", action="store_true", help="repeat on a local Redis and compare")
    ap.add_argument("--k-values", type=int, nargs="+", default=list(K_VALUES), help="cluster counts to run (default 10 64)")
    args = ap.parse_args()

    ds = load_beir(SCIFACT)
    emb = MatryoshkaEmbeddings("all-MiniLM-L6-v2")
    store = FaissVectorStore(emb)
    store.add_documents(ds.corpus)
    qids = list(ds.queries)
    q = emb.encode_queries([ds.queries[i] for i in qids])
    exact = store.search_vectors(q, k=10)
    full = evaluate_run(run_of(qids, exact), ds.qrels, ["ndcg@10"])["ndcg@10"]
    print(f"exhaustive nDCG@10 = {full:.4f} ({len(store)} docs, {len(qids)} queries)")

    results: dict = {
        "dataset": "scifact (BEIR test)", "model": "all-MiniLM-L6-v2", "n_docs": len(store), "n_queries": len(qids),
        "exhaustive_ndcg@10": round(full, 5), "platform": platform.platform(), "runs": {},
        "command": "python benchmarks/bench_cluster.py " + " ".join(sys.argv[1:]),
    }
    fitted: dict[int, ClusterModel] = {}
    for kc in args.k_values:
        t = time.perf_counter()
        base = ClusterPrefilterRetriever.from_store(store, n_clusters=kc, seed=0)
        fit_s = time.perf_counter() - t
        fitted[kc] = base.clusters
        rows = []
        for cfg in configs(kc):
            r = ClusterPrefilterRetriever(store=store, clusters=base.clusters, n_clusters=kc, k=10, **cfg)
            m = measure(r, qids, q, ds.qrels, full)
            rows.append({**cfg, **m})
            print(kc, cfg, {k: v for k, v in m.items() if k != "_ids"})
        results["runs"][f"K={kc}"] = {"fit_seconds": round(fit_s, 3), "sizes": base.clusters.sizes.tolist(), "rows": rows}

    if args.redis:
        results["redis"] = compare_redis(store, emb, fitted, qids, q, ds.qrels, full, results)

    for block in results["runs"].values():
        for row in block["rows"]:
            row.pop("_ids", None)
    results["goal"] = goal(results) if "K=64" in results["runs"] else None
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1))
    plot(results, out.with_suffix(".png"))
    print(json.dumps(results["goal"], indent=1))
    print("wrote", out, out.with_suffix(".png"))


def goal(results: dict) -> dict:
    """The issue's target, read off the K=64 rows: adaptive (tail 1.0 and the default 1.25) vs fixed nprobe."""
    rows = results["runs"]["K=64"]["rows"]
    keys = ("relative_ndcg", "scanned_fraction", "clusters_opened")
    adaptive = {f"adaptive_tail_{r['tail']}": {k: r[k] for k in keys} for r in rows if r.get("adaptive") and r.get("tail") in (1.0, 1.25)}
    fixed98 = [r for r in rows if "nprobe" in r and r["relative_ndcg"] >= 0.98]
    return {
        "target": "K=64 adaptive keeps >= 98% of exhaustive nDCG@10 while scanning <= 30% on average",
        **adaptive,
        "met": {name: bool(v["relative_ndcg"] >= 0.98 and v["scanned_fraction"] <= 0.30) for name, v in adaptive.items()},
        "smallest_fixed_nprobe_reaching_98pct": (
            {k: fixed98[0][k] for k in ("nprobe", "relative_ndcg", "scanned_fraction")} if fixed98 else None
        ),
        "redis_identical": (
            {name: f"{v['configs_with_identical_rankings']}/{v['configs']} configs identical rankings, "
                   f"max |diff| {v['max_abs_difference_ndcg_or_scanned']}" for name, v in results["redis"].items() if name.startswith("K=")}
            if "redis" in results else None
        ),
    }


def compare_redis(store, emb, fitted, qids, q, qrels, full, results) -> dict:  # noqa: ANN001
    """The same clusters on Redis (cluster TAG prefilter): every config's ranking and nDCG compared."""
    sys.path.insert(0, str(ROOT / "scripts"))
    from redis_server import RedisServer

    from langchain_embcompare.stores.redis import RedisIndexSpec, RedisVectorStore

    out: dict = {}
    with RedisServer(appendonly=False) as srv:
        rstore = RedisVectorStore(emb, RedisIndexSpec("bench_cluster", metric="cosine"), srv.url, overwrite=True)
        t = time.perf_counter()
        rows = store.all_rows()
        rstore.upsert_vectors(store.vectors_at(rows), store.documents_at(rows))
        out["ingest_seconds"] = round(time.perf_counter() - t, 2)
        for kc, model in fitted.items():
            # the model names documents by id: the Redis retriever maps them to its rows and writes the labels
            faiss_rows = results["runs"][f"K={kc}"]["rows"]
            same_ids = 0
            max_diff = 0.0
            rows = []
            for cfg, frow in zip(configs(kc), faiss_rows):
                r = ClusterPrefilterRetriever(store=rstore, clusters=model, n_clusters=kc, k=10, **cfg)
                m = measure(r, qids, q, qrels, full)
                same_ids += int(m["_ids"] == frow["_ids"])
                max_diff = max(max_diff, abs(m["ndcg@10"] - frow["ndcg@10"]),
                               abs(m["scanned_fraction"] - frow["scanned_fraction"]))
                m.pop("_ids")
                rows.append({**cfg, **m})
            out[f"K={kc}"] = {
                "configs": len(rows), "configs_with_identical_rankings": same_ids,
                "max_abs_difference_ndcg_or_scanned": max_diff, "rows": rows,
            }
            print(f"redis K={kc}: {same_ids}/{len(rows)} identical rankings, max |diff| {max_diff:.2e}")
        rstore.drop()
    return out


def plot(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5.5), dpi=120)
    for name, marker in (("K=10", "o"), ("K=64", "s")):
        if name not in results["runs"]:
            continue
        rows = results["runs"][name]["rows"]
        fixed = [r for r in rows if "nprobe" in r]
        ax.plot([r["scanned_fraction"] for r in fixed], [r["relative_ndcg"] for r in fixed], marker=marker,
                ms=3, lw=1, label=f"{name}, nprobe 1..{len(fixed)}")
        ad = [r for r in rows if r.get("adaptive") and "tail" in r]
        ax.scatter([r["scanned_fraction"] for r in ad], [r["relative_ndcg"] for r in ad], marker="*", s=90,
                   zorder=5, label=f"{name} adaptive (tail {', '.join(str(r['tail']) for r in ad)})")
        for r in ad:
            ax.annotate(str(r["tail"]), (r["scanned_fraction"], r["relative_ndcg"]), fontsize=6,
                        xytext=(3, -8), textcoords="offset points")
    ax.axhline(0.98, color="grey", ls="--", lw=0.8)
    ax.axvline(0.30, color="grey", ls=":", lw=0.8)
    ax.set_xlabel("fraction of the corpus scanned (mean over queries)")
    ax.set_ylabel("nDCG@10 / exhaustive nDCG@10")
    ax.set_title(f"Cluster prefilter, SciFact, all-MiniLM-L6-v2 (exhaustive nDCG@10 = {results['exhaustive_ndcg@10']:.4f})")
    ax.set_ylim(0.5, 1.01)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


if __name__ == "__main__":
    main()
