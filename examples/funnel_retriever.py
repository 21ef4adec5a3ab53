"""Matryoshka funnel retrieval on the bundled demo data set, offline.

Shortlists candidates with 64-d prefixes (raw, and after a PCA rotation: the default
``rotation="auto"`` rotates, as all-MiniLM-L6-v2 is not Matryoshka-trained) or with 1-bit codes,
rescores them with the full 384-d vectors, and compares nDCG@10 with exhaustive full-dimension search.

    python examples/funnel_retriever.py
"""

from __future__ import annotations

from langchain_embcompare.data import demo_dataset_path
from langchain_embcompare.evaluation.datasets import load_beir
from langchain_embcompare.evaluation.metrics import evaluate_run, retrieve_run
from langchain_embcompare.matryoshka import MatryoshkaEmbeddings
from langchain_embcompare.retrievers.funnel import MatryoshkaFunnelRetriever
from langchain_embcompare.stores.faiss import FaissVectorStore


def main() -> None:
    demo = load_beir(demo_dataset_path())
    store = FaissVectorStore(MatryoshkaEmbeddings("all-MiniLM-L6-v2"))
    store.add_documents(demo.corpus)

    def ndcg(retriever) -> float:  # noqa: ANN001
        return evaluate_run(retrieve_run(retriever, demo.queries, k=10), demo.qrels, ["ndcg@10"])["ndcg@10"]

    full = ndcg(store.as_retriever(k=10))
    print(f"exhaustive 384-d nDCG@10 = {full:.4f}")
    for kwargs in (
        {"shortlist_dim": 64, "shortlist": 30, "rotation": None},
        {"shortlist_dim": 64, "shortlist": 30, "rotation": "pca"},
        {"shortlist_dim": None, "shortlist": 30, "precision": "binary"},
    ):
        funnel = MatryoshkaFunnelRetriever(store=store, k=10, **kwargs)
        value = ndcg(funnel)
        print(f"funnel {kwargs}: nDCG@10 = {value:.4f} ({value / full:.1%} of exhaustive)")

    # an HNSW index on the shortlist field, and its knobs chosen from a target recall (pseudo-queries
    # made from the stored documents: no test query is used)
    hnsw_store = FaissVectorStore(MatryoshkaEmbeddings("all-MiniLM-L6-v2"), field_kind="hnsw")
    hnsw_store.add_documents(demo.corpus)
    calibrated = MatryoshkaFunnelRetriever(store=hnsw_store, shortlist_dim=64, k=10)
    cal = calibrated.calibrate(target_recall=0.98)
    value = ndcg(calibrated)
    print(f"calibrated HNSW shortlist {cal.settings}: recall@10 {cal.recall:.3f} on {cal.queries}; "
          f"nDCG@10 = {value:.4f} ({value / full:.1%} of exhaustive)")

    funnel = MatryoshkaFunnelRetriever(store=store, shortlist_dim=64, shortlist=30, rotation="pca", k=3)
    for d in funnel.invoke("writes the launch messaging and positioning for a product"):
        print(f"  {d.metadata['score']:.3f}  {d.metadata.get('category', '')}: {d.page_content[:80]}")


if __name__ == "__main__":
    main()
