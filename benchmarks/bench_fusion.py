"""Hybrid fusion cost per query on a SciFact slice -> benchmarks/results/fusion_scifact.json.

Measured in one run, on the first ``--docs`` SciFact documents (default 1,000, the slice of the issue
that measured 2.9 ms of fusion per query) and ``--queries`` test queries, query vectors cached:

* single-query p50 / p95 of the dense arm (MiniLM on FAISS flat), the BM25 arm (bm25s), and the hybrid
  (RRF k = 60 and linear alpha = 0.5, min-max), the arms taking turns on each query; the fusion
  overhead = hybrid p50 - (dense p50 + BM25 p50), per fusion (the target: <= 0.3 ms);
* the fusion alone on the same two 100-long lists per query: our numpy ``fuse_runs`` beside ranx
  (``ranx.fuse``, what users of ranx call, and what the online path called before), as a ratio;
* whether the two give the same rankings on every query (ranx fed each arm's ranks for RRF, as the
  tests do: ranx re-sorts tied scores with an unstable sort).

Usage: ``python benchmarks/bench_fusion.py [--data DIR] [--docs N] [--queries N] [--out PATH]``
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from langchain_embcompare.evaluation.datasets import load_beir  # noqa: E402
from langchain_embcompare.matryoshka import MatryoshkaEmbeddings  # noqa: E402
from langchain_embcompare.retrievers.fusion import fuse_runs, norm_scores, normalise_arm  # noqa: E402
from langchain_embcompare.retrievers.hybrid import HybridRetriever  # noqa: E402
from langchain_embcompare.retrievers.lexical import BM25Retriever  # noqa: E402
from langchain_embcompare.stores.faiss import FaissVectorStore  # noqa: E402


def ranx_fuse(dense: list, lexical: list, fusion: str, alpha: float = 0.5) -> list[list[tuple[str, float]]]:
    """One query at a time through ranx, as an online caller of ranx would (RRF on the arms' ranks)."""
    from ranx import Run, fuse

    out = []
    for d, l in zip(dense, lexical):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if fusion == "rrf":
                runs = [Run({"q": {doc: -float(r) for r, (doc, _) in enumerate(arm)}}) for arm in (d, l)]
                res = fuse(runs, norm=None, method="rrf", params={"k": 60}).to_dict()["q"]
            else:
                lifted = []
                for arm in (d, l):
                    raw = np.array([s for _, s in arm])
                    ids = [doc for doc, _ in arm]
                    lifted.append(Run({"q": dict(zip(ids, normalise_arm(raw, norm_scores(raw), "min-max").tolist()))}))
                res = fuse(lifted, norm=None, method="wsum", params={"weights": [alpha, 1 - alpha]}).to_dict()["q"]
        dr = {doc: r for r, (doc, _) in enumerate(d)}
        lr = {doc: r for r, (doc, _) in enumerate(l)}
        miss = len(d) + len(l)
        out.append(sorted(res.items(), key=lambda x: (-x[1], dr.get(x[0], miss), lr.get(x[0], miss))))
    return out


def p(v: list[float]) -> dict[str, float]:
    return {"p50": float(np.percentile(v, 50)), "p95": float(np.percentile(v, 95)), "n": len(v)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default="/work/shared/data/beir/scifact")
    ap.add_argument("--docs", type=int, default=1000)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--repeats", type=int, default=3, help="passes over the queries (p50 over all)")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "fusion_scifact.json"))
    args = ap.parse_args()
    ds = load_beir(args.data)
    docs = ds.corpus[: args.docs]
    queries = list(ds.queries.values())[: args.queries]
    emb = MatryoshkaEmbeddings("all-MiniLM-L6-v2")
    store = FaissVectorStore.from_documents(docs, emb)
    emb.embed_documents(queries)  # query vectors into the cache: the arms below time search, not the model
    for q in queries:
        emb.embed_query(q)
    dense = store.as_retriever(search_kwargs={"k": 100})
    bm25 = BM25Retriever.from_documents(docs, k=100)
    hybrids = {
        "rrf": HybridRetriever(dense=dense, lexical=bm25, fusion="rrf", k=10, depth=100),
        "linear": HybridRetriever(dense=dense, lexical=bm25, fusion="linear", alpha=0.5, k=10, depth=100),
    }
    arms: dict[str, Any] = {"dense": dense, "bm25": bm25, **{f"hybrid-{n}": h for n, h in hybrids.items()}}
    for r in arms.values():
        r.invoke(queries[0])
    ms: dict[str, list[float]] = {n: [] for n in arms}
    for _ in range(args.repeats):
        for q in queries:
            for n, r in arms.items():
                t0 = time.perf_counter()
                r.invoke(q)
                ms[n].append(1000 * (time.perf_counter() - t0))
    lat = {n: p(v) for n, v in ms.items()}
    arms_p50 = lat["dense"]["p50"] + lat["bm25"]["p50"]
    overhead = {n: lat[f"hybrid-{n}"]["p50"] - arms_p50 for n in hybrids}

    d_lists = [[(d.id, float(s)) for d, s in store.similarity_search_with_score(q, k=100)] for q in queries]
    l_lists = [[(d.id, float(d.metadata["score"])) for d in hits] for hits in bm25.search_batch(queries, k=100)]
    alone: dict[str, Any] = {}
    for fusion in ("rrf", "linear"):
        ours_ms, ranx_ms = [], []
        for d, l in zip(d_lists, l_lists):
            t0 = time.perf_counter()
            fuse_runs([d], [l], fusion=fusion)
            ours_ms.append(1000 * (time.perf_counter() - t0))
            t0 = time.perf_counter()
            ranx_fuse([d], [l], fusion)
            ranx_ms.append(1000 * (time.perf_counter() - t0))
        ours_all = fuse_runs(d_lists, l_lists, fusion=fusion)
        ranx_all = ranx_fuse(d_lists, l_lists, fusion)
        same = sum(
            [x for x, _ in a] == [x for x, _ in b] and np.allclose([s for _, s in a], [s for _, s in b], rtol=1e-12, atol=0)
            for a, b in zip(ours_all, ranx_all)
        )
        alone[fusion] = {
            "ours_ms": p(ours_ms), "ranx_ms": p(ranx_ms),
            "p50_ratio_ours_over_ranx": p(ours_ms)["p50"] / p(ranx_ms)["p50"],
            "queries_identical_to_ranx": int(same), "queries": len(queries),
        }
    result = {
        "data": f"{ds.name}: first {len(docs)} documents, {len(queries)} queries x {args.repeats} passes",
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}",
        "latency_ms": lat,
        "fusion_overhead_ms": overhead,
        "fusion_overhead_target_ms": 0.3,
        "fusion_alone": alone,
    }
    import json

    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({"fusion_overhead_ms": overhead, **{f: {k: v for k, v in a.items() if k != "ours_ms" and k != "ranx_ms"} for f, a in alone.items()}}, indent=1))


if __name__ == "__main__":
    main()
