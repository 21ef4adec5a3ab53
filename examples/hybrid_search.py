"""Keyword, dense and hybrid search side by side, and the fusion weight tuned on labelled queries.

Offline, on the bundled demo set (FAISS + bm25s); with ``--redis-url`` the same hybrid runs on Redis
(Redis KNN + Redis full-text BM25):

    python examples/hybrid_search.py
    python examples/hybrid_search.py --redis-url redis://localhost:6379
"""

from __future__ import annotations

import argparse
import tempfile

from langchain_embcompare import FaissVectorStore, MatryoshkaEmbeddings, load_beir
from langchain_embcompare.data import demo_dataset_path
from langchain_embcompare.evaluation.compare import compare
from langchain_embcompare.retrievers.hybrid import HybridRetriever
from langchain_embcompare.retrievers.lexical import BM25Retriever, lexical_retriever_for


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--redis-url", default=None)
    args = ap.parse_args()

    ds = load_beir(demo_dataset_path())
    emb = MatryoshkaEmbeddings("all-MiniLM-L6-v2")
    store = FaissVectorStore(emb)
    store.add_documents(ds.corpus)

    dense = store.as_retriever(k=10)
    bm25 = BM25Retriever.from_documents(store.documents, k=10)  # bm25s: Lucene, k1=1.5, b=0.75, stemming
    hybrid = HybridRetriever(dense=dense, lexical=bm25, k=10, fusion="rrf")

    query = next(iter(ds.queries.values()))
    print(f"query: {query!r}")
    for d in hybrid.invoke(query)[:3]:
        m = d.metadata
        print(f"  {m['score']:.4f}  dense rank {m['dense_rank']}  BM25 rank {m['lexical_rank']}  {d.page_content[:70]!r}")

    # Tune the fusion (RRF or alpha of the linear mix) on half the labelled queries, check on the rest.
    tuned = HybridRetriever(dense=dense, lexical=bm25, k=10)
    fit = tuned.fit_fusion(ds, heldout=0.5, seed=0)
    print(f"fit_fusion: best {fit.best}, tuning nDCG@10 {fit.tuning_score:.4f}, held-out {fit.heldout_score:.4f} "
          f"(dense alone {fit.heldout_arms['dense']:.4f}, BM25 alone {fit.heldout_arms['lexical']:.4f})")

    # Save the BM25 index (numpy arrays + JSON, no pickle) and load it back.
    with tempfile.TemporaryDirectory() as folder:
        bm25.save(folder)
        assert [d.id for d in BM25Retriever.load(folder).invoke(query)] == [d.id for d in bm25.invoke(query)]

    runs = {"BM25": bm25, "MiniLM": dense, "MiniLM + BM25 (RRF)": hybrid}
    if args.redis_url:
        from langchain_embcompare import RedisIndexSpec, RedisVectorStore

        rstore = RedisVectorStore(emb, RedisIndexSpec("hybrid_example"), args.redis_url, overwrite=True)
        rstore.add_documents(ds.corpus)
        runs["Redis: KNN + full text (RRF)"] = HybridRetriever(
            dense=rstore.as_retriever(k=10), lexical=lexical_retriever_for(rstore, k=10), k=10  # Redis's own BM25
        )
    print(compare(runs, ds, baseline="MiniLM + BM25 (RRF)", k=10, latency_queries=10, throughput_texts=16,
                  metrics=("ndcg@10", "recall@10", "mrr@10")))


if __name__ == "__main__":
    main()
