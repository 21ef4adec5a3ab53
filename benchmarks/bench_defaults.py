"""SciFact quality of every speed default (issue 19): nDCG@10 of each retriever as built with its
defaults, relative to exhaustive search, with all-MiniLM-L6-v2 on the FAISS store (SciFact test: 5,183
documents, 300 queries). Goal: >= 99.5 % of exhaustive nDCG@10 for each.

Rows: the funnel with its defaults (128-d PCA shortlist of 50), the funnel after ``calibrate()`` on
held-out documents (no queries: the default protocol) at target recall@10 0.98, on a flat and on an
HNSW shortlist field; the cluster prefilter with its defaults (K chosen by silhouette, ``nprobe``
calibrated at fit on held-out documents) and with ``adaptive=True``; ``embcompare eval --retriever
cluster``'s settings. Calibration never sees the test queries.

    python benchmarks/bench_defaults.py [--out benchmarks/results/defaults_scifact.json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from langchain_embcompare.evaluation.datasets import load_beir  # noqa: E402
from langchain_embcompare.evaluation.metrics import evaluate_run  # noqa: E402
from langchain_embcompare.matryoshka import MatryoshkaEmbeddings  # noqa: E402
from langchain_embcompare.retrievers.cluster import ClusterPrefilterRetriever  # noqa: E402
from langchain_embcompare.retrievers.funnel import MatryoshkaFunnelRetriever  # noqa: E402
from langchain_embcompare.stores.faiss import FaissVectorStore  # noqa: E402

SCIFACT = Path(os.environ.get("SCIFACT_DIR", ROOT.parent / "shared" / "data" / "beir" / "scifact"))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=str(ROOT / "benchmarks/results/defaults_scifact.json"))
    args = ap.parse_args()
    ds = load_beir(SCIFACT)
    emb = MatryoshkaEmbeddings("all-MiniLM-L6-v2")
    qids = list(ds.queries)
    q = emb.encode_queries([ds.queries[i] for i in qids])
    rows = []

    def ndcg(hits) -> float:  # noqa: ANN001
        run = {qid: {d.id: float(s) for d, s in h} for qid, h in zip(qids, hits)}
        return evaluate_run(run, ds.qrels, ["ndcg@10"])["ndcg@10"]

    stores = {}
    for field_kind in ("flat", "hnsw"):
        s = FaissVectorStore(emb, field_kind=field_kind)
        s.add_documents(ds.corpus)
        stores[field_kind] = s
    store = stores["flat"]
    full = ndcg(store.search_vectors(q, k=10))

    def add(name: str, hits, **extra) -> None:  # noqa: ANN001, ANN003
        value = ndcg(hits)
        rows.append({"retriever": name, "ndcg@10": round(value, 5), "relative_ndcg": round(value / full, 5),
                     "goal_99.5%": value / full >= 0.995, **extra})
        print(rows[-1], flush=True)

    funnel = MatryoshkaFunnelRetriever(store=store, k=10)
    add("funnel defaults (128-d PCA shortlist of 50, flat field)", funnel.search_vectors(q))
    for field_kind, s in stores.items():
        f = MatryoshkaFunnelRetriever(store=s, k=10)
        t = time.perf_counter()
        cal = f.calibrate(target_recall=0.98)
        add(f"funnel calibrate(target_recall=0.98), {field_kind} field", f.search_vectors(q),
            settings=cal.settings, calibrated_recall=cal.recall, calibration_seconds=round(time.perf_counter() - t, 1))
    t = time.perf_counter()
    cluster = ClusterPrefilterRetriever.from_store(store, k=10)
    hits, stats = cluster.search_vectors(q)
    add("cluster defaults (K by silhouette, nprobe calibrated at fit)", hits, n_clusters=cluster.n_clusters,
        settings=cluster.calibration["settings"], calibrated_recall=cluster.calibration["recall"],
        fit_seconds=round(time.perf_counter() - t, 1),
        scanned_fraction=round(sum(z.scanned_fraction for z in stats) / len(stats), 4))
    adaptive = ClusterPrefilterRetriever(store=store, clusters=cluster.clusters, n_clusters=cluster.n_clusters, k=10, adaptive=True)
    hits, stats = adaptive.search_vectors(q)
    add("cluster adaptive=True (tail 1.25)", hits, scanned_fraction=round(sum(z.scanned_fraction for z in stats) / len(stats), 4))
    out = {"command": "python benchmarks/bench_defaults.py " + " ".join(sys.argv[1:]), "dataset": "scifact test (BEIR)",
           "model": "all-MiniLM-L6-v2", "store": "FaissVectorStore (flat)", "exhaustive_ndcg@10": round(full, 5), "rows": rows}
    Path(args.out).write_text(json.dumps(out, indent=1))
    print("wrote", args.out)


if __name__ == "__main__":
    main()
