"""Cluster-prefiltered retrieval on the bundled demo data set (300 job profiles, 12 roles), offline.

Fits 12 clusters on the document vectors, then answers queries by searching only the nearest clusters
(fixed nprobe, and adaptive), prints what each query scanned, compares nDCG@10 with exhaustive search,
and writes the cluster map (HTML + PNG) with the last query and its results.

    python examples/cluster_retriever.py [--out /tmp/embcompare_cluster_map]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from langchain_embcompare.data import demo_dataset_path
from langchain_embcompare.evaluation.datasets import load_beir
from langchain_embcompare.evaluation.metrics import evaluate_run, retrieve_run
from langchain_embcompare.matryoshka import MatryoshkaEmbeddings
from langchain_embcompare.retrievers.cluster import ClusterPrefilterRetriever
from langchain_embcompare.retrievers.cluster_map import cluster_map, save_cluster_map
from langchain_embcompare.stores.faiss import FaissVectorStore


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="/tmp/embcompare_cluster_map")
    args = ap.parse_args()

    demo = load_beir(demo_dataset_path())
    store = FaissVectorStore(MatryoshkaEmbeddings("all-MiniLM-L6-v2"))
    store.add_documents(demo.corpus)

    fixed = ClusterPrefilterRetriever.from_store(store, n_clusters=12, nprobe=2, k=5)
    adaptive = ClusterPrefilterRetriever(store=store, clusters=fixed.clusters, n_clusters=12, adaptive=True, k=5)

    query = "who decides which features get built and in what order"
    docs, stats = adaptive.search_batch_with_stats([query])
    print(f"query: {query!r}")
    print(f"adaptive search opened clusters {stats[0].clusters} = {stats[0].scanned_fraction:.0%} of the corpus")
    for d in docs[0]:
        print(f"  {d.metadata['score']:.3f}  cluster {d.metadata['cluster']:>2}  {d.metadata.get('category', '')}: {d.page_content[:70]}")

    exhaustive = store.as_retriever(k=10)
    full = evaluate_run(retrieve_run(exhaustive, demo.queries, k=10), demo.qrels, ["ndcg@10"])["ndcg@10"]
    print(f"\nexhaustive nDCG@10 = {full:.4f}")
    calibrated = ClusterPrefilterRetriever(store=store, clusters=fixed.clusters, n_clusters=12, k=5)  # no nprobe
    calibrated.search_batch([query])  # calibrates itself first (target recall 0.99 on pseudo-queries)
    print(f"calibrated: {calibrated.calibration['settings']} (recall@5 {calibrated.calibration['recall']:.3f} "
          f"on {calibrated.calibration['queries']})")
    for name, r in (("nprobe=2", fixed), ("adaptive", adaptive), ("calibrated", calibrated)):
        r.reset_stats()
        ndcg = evaluate_run(retrieve_run(r, demo.queries, k=10), demo.qrels, ["ndcg@10"])["ndcg@10"]
        s = r.stats_summary()
        print(f"{name:>9}: nDCG@10 = {ndcg:.4f} ({ndcg / full:.1%} of exhaustive), "
              f"scanned {s['scanned_fraction']:.1%} of the corpus, {s['clusters_opened']:.1f} clusters per query")

    fig = cluster_map(store.vectors, fixed.clusters.labels, [d.page_content for d in store.documents],
                      query_vector=store.embedding.encode_queries([query])[0],
                      result_ids=store.rows_of([d.id for d in docs[0]]), query_text=query)
    out = Path(args.out)
    save_cluster_map(fig, out.with_suffix(".html"), out.with_suffix(".png"))
    print(f"\ncluster map: {out.with_suffix('.html')} and {out.with_suffix('.png')}")


if __name__ == "__main__":
    main()
