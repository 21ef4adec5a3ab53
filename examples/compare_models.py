"""A/B compare two embedding models (and a smaller dimension) on labelled data: one function call."""

from langchain_embcompare.data import demo_dataset_path
from langchain_embcompare.evaluation.compare import RunSpec, compare
from langchain_embcompare.evaluation.datasets import load_beir

ds = load_beir(demo_dataset_path())
result = compare(
    [
        RunSpec(model="all-MiniLM-L6-v2", name="minilm"),
        RunSpec(model="all-MiniLM-L6-v2", dim=64, name="minilm@64"),
        RunSpec(model="static-minilm", name="static"),
    ],
    ds,
    k=20,
    metrics=("ndcg@10", "recall@20", "mrr@10"),  # 20 retrieved per query: no cutoff above 20
    latency_queries=10,
    throughput_texts=32,
)
print(result)  # a rich table: nDCG@10 / Recall / MRR with CIs and p-values, agreement, latency, memory, cost
result.to_json("compare.json")
result.to_html("compare.html")  # self-contained, opens offline
print("wrote compare.json and compare.html")
