"""Redis store benchmark on SciFact with all-MiniLM-L6-v2 -> benchmarks/results/redis.json.

Measures, in one run against one real server:
* quality: nDCG@10 (and recall@100) of Redis FLAT vs FAISS flat (goal: equal within 0.001) and Redis
  HNSW vs Redis FLAT (goal: within 0.005), at 384 d and the Matryoshka 128 d;
* overhead of our store over raw redis-py on the *same* index: ingest rate (our pipelined
  ``upsert_vectors``, which also assigns each document its ``_row`` handle and keeps the row -> id map,
  vs a hand-written redis-py pipeline of ``HSET``) and single-query latency p50/p95 (our
  ``search_vectors``, the FT.SEARCH reply turned straight into (Document, score) hits, vs a hand-written
  ``FT.SEARCH`` returning the document fields and parsing the metadata JSON), as ratios (goal <= 1.10x);
* index memory at 384 / 128 / 64 d from ``FT.INFO`` (vector index) and ``MEMORY USAGE`` (the hashes).

Usage: ``python benchmarks/bench_redis.py [--redis-url URL] [--dims 384 128] [--with-cli] [--latency-only] [--out PATH]``
(``--with-cli`` repeats the quality comparison through ``embcompare eval --store redis --store-url``)
(without ``--redis-url`` / ``REDIS_URL`` it starts its own server via scripts/redis_server.py).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import redis

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from langchain_embcompare.evaluation.datasets import load_beir  # noqa: E402
from langchain_embcompare.evaluation.metrics import evaluate_run  # noqa: E402
from langchain_embcompare.matryoshka import MatryoshkaEmbeddings  # noqa: E402
from langchain_embcompare.stores.redis import (  # noqa: E402
    CONTENT_FIELD,
    ID_FIELD,
    METADATA_FIELD,
    VECTOR_FIELD,
    RedisIndexSpec,
    RedisVectorStore,
)

SCIFACT = Path("/work/shared/data/beir/scifact")
METRICS = ("ndcg@10", "recall@100")


def _server_module():
    spec = importlib.util.spec_from_file_location("embcompare_redis_server", ROOT / "scripts" / "redis_server.py")
    mod = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    sys.modules[spec.name] = mod  # type: ignore[union-attr]
    spec.loader.exec_module(mod)  # type: ignore[union-attr]
    return mod


def _run_from_hits(qids: list[str], hits: list[list[tuple[Any, float]]]) -> dict[str, dict[str, float]]:
    return {q: {d.id: float(s) for d, s in h} for q, h in zip(qids, hits)}


def _faiss_run(dv: np.ndarray, qv: np.ndarray, corpus: list, qids: list[str], emb: MatryoshkaEmbeddings, k: int) -> tuple[dict, str]:
    """FAISS flat (cosine) through the package's store when it exists, else a faiss IndexFlatIP."""
    try:
        from langchain_embcompare.stores.faiss import FaissIndexSpec, FaissVectorStore

        store = FaissVectorStore(emb, FaissIndexSpec(kind="flat", metric="cosine"))
        store.upsert_vectors(dv, corpus)
        return _run_from_hits(qids, store.search_vectors(qv, k)), "langchain_embcompare FaissVectorStore(flat, cosine)"
    except ImportError:
        import faiss

        index = faiss.IndexFlatIP(dv.shape[1])
        index.add(dv)
        scores, rows = index.search(qv, k)
        run = {q: {corpus[r].id: float(s) for r, s in zip(rr, ss)} for q, rr, ss in zip(qids, rows, scores)}
        return run, "faiss.IndexFlatIP on L2-normalised vectors (package FAISS store not available)"


def _raw_mappings(dv: np.ndarray, corpus: list, dtype: str) -> Callable[[], list[tuple[str, dict]]]:
    def build(prefix: str) -> list[tuple[str, dict]]:
        mat = dv.astype(dtype)
        return [
            (f"{prefix}:{d.id}", {ID_FIELD: d.id, CONTENT_FIELD: d.page_content,
                                  METADATA_FIELD: json.dumps(d.metadata), "title": d.metadata["title"],
                                  VECTOR_FIELD: mat[i].tobytes()})
            for i, d in enumerate(corpus)
        ]

    return build  # type: ignore[return-value]


def _raw_ingest(client: redis.Redis, build: Callable, prefix: str, batch: int) -> tuple[float, float]:
    """What a user writes with redis-py alone: build mappings, pipelined HSET in batches.
    Returns (wall seconds, client CPU seconds)."""
    t, c = time.perf_counter(), time.process_time()
    items = build(prefix)
    with client.pipeline(transaction=False) as pipe:
        for i, (key, mapping) in enumerate(items, 1):
            pipe.hset(key, mapping=mapping)
            if i % batch == 0:
                pipe.execute()
        pipe.execute()
    return time.perf_counter() - t, time.process_time() - c


def _raw_search(client: redis.Redis, index: str, vec: bytes, k: int, ef: int | None, prefix: str = "") -> list[tuple[str, float]]:
    """What a user writes with redis-py alone: FT.SEARCH KNN returning the text, the metadata and the
    distance, the id read from the key (``<prefix>:<id>``), parsed to (id, score): the same fields and
    the same wire work as our ``search_vectors`` (an earlier version also returned ``_id``)."""
    knn = f"*=>[KNN {k} @{VECTOR_FIELD} $vector" + (f" EF_RUNTIME {ef}" if ef else "") + " AS vector_distance]"
    res = client.execute_command(
        "FT.SEARCH", index, knn, "PARAMS", 2, "vector", vec, "SORTBY", "vector_distance", "ASC",
        "RETURN", 3, CONTENT_FIELD, METADATA_FIELD, "vector_distance", "LIMIT", 0, k, "DIALECT", 2,
    )
    cut = len(prefix) + 1
    out = []
    if isinstance(res, dict):  # RESP3 (redis-py 8 default)
        for row in res[b"results"]:
            fields = row[b"extra_attributes"]
            json.loads(fields[METADATA_FIELD.encode()])
            out.append((row[b"id"].decode()[cut:], 1.0 - float(fields[b"vector_distance"])))
        return out
    for j in range(1, len(res), 2):  # RESP2
        fields = dict(zip(res[j + 1][::2], res[j + 1][1::2]))
        json.loads(fields[METADATA_FIELD.encode()])
        out.append((res[j].decode()[cut:], 1.0 - float(fields[b"vector_distance"])))
    return out


def _pct(xs: list[float]) -> dict[str, float]:
    a = np.asarray(xs) * 1000
    return {"p50_ms": round(float(np.percentile(a, 50)), 4), "p95_ms": round(float(np.percentile(a, 95)), 4),
            "mean_ms": round(float(a.mean()), 4)}


def _latency(store: RedisVectorStore, qv: np.ndarray, k: int, rounds: int) -> dict[str, Any]:
    """Single-query latency, ours vs raw, interleaved query by query so both see the same load.

    Which side runs a query first alternates: the second run of the same vector finds the server's CPU
    caches warm (the same index nodes, the same documents) and is ~0.1 ms faster, so always putting one
    side first would bias the ratio by ~10-20 % at these ~1 ms latencies.
    """
    client = store.client
    ef = store.spec.ef_search if store.spec.kind == "hnsw" else None
    qb = qv.astype(store.spec.dtype)
    for i in range(min(20, len(qv))):  # warm-up
        store.search_vectors(qv[i : i + 1], k)
        _raw_search(client, store.spec.index_name, qb[i].tobytes(), k, ef, store.spec.prefix)
    ours, raw = [], []
    cpu_ours = cpu_raw = 0.0
    agree = 0
    n = 0
    for r in range(rounds):
        for i in range(len(qv)):
            first_ours = (i + r) % 2 == 0
            for side in ("ours", "raw") if first_ours else ("raw", "ours"):
                t, c = time.perf_counter(), time.process_time()
                if side == "ours":
                    a = store.search_vectors(qv[i : i + 1], k)[0]
                    ours.append(time.perf_counter() - t)
                    cpu_ours += time.process_time() - c
                else:
                    b = _raw_search(client, store.spec.index_name, qb[i].tobytes(), k, ef, store.spec.prefix)
                    raw.append(time.perf_counter() - t)
                    cpu_raw += time.process_time() - c
            agree += [d.id for d, _ in a] == [x for x, _ in b]
            n += 1
    o, rw = _pct(ours), _pct(raw)
    return {"k": k, "n_queries": n, "order": "alternating per query (ours first on half of them)", "ours": o, "raw_redis_py": rw,
            "ratio_p50": round(o["p50_ms"] / rw["p50_ms"], 4), "ratio_p95": round(o["p95_ms"] / rw["p95_ms"], 4),
            "same_top_k_fraction": agree / n,
            "fields_returned": {"ours": "content, _metadata, vector_distance (the id is the key after <prefix>:)",
                                "raw_redis_py": "content, _metadata, vector_distance (the id is the key after <prefix>:)"},
            "client_cpu_ms_per_query": {"ours": round(1000 * cpu_ours / n, 4), "raw_redis_py": round(1000 * cpu_raw / n, 4)}}


def _memory(client: redis.Redis, store: RedisVectorStore, ids: list[str]) -> dict[str, Any]:
    info = store.memory()
    sample = ids[:: max(1, len(ids) // 200)]
    per_key = [client.memory_usage(f"{store.spec.prefix}:{i}", samples=0) or 0 for i in sample]
    return {**{k: round(v, 4) if isinstance(v, float) else v for k, v in info.items()},
            "hash_bytes_per_doc_avg": round(float(np.mean(per_key)), 1),
            "hashes_total_mb_est": round(float(np.mean(per_key)) * len(ids) / 2**20, 3)}


def _cli_eval(url: str, dims: list[int], workdir: Path) -> dict[str, Any]:
    """The same comparison through ``embcompare eval ... --store redis --store-url URL`` (the user's path)."""
    exe = Path(sys.executable).parent / "embcompare"
    out: dict[str, Any] = {}
    for dim in dims:
        row: dict[str, Any] = {}
        for store, index in (("faiss", "flat"), ("redis", "flat"), ("redis", "hnsw")):
            path = workdir / f"{store}_{index}_{dim}.json"
            cmd = [str(exe), "eval", str(SCIFACT), "--dim", str(dim), "--store", store, "--kind", index, "--out", str(path)]
            if store == "redis":
                cmd += ["--store-url", url]
            subprocess.run(cmd, check=True, capture_output=True, text=True)
            r = json.loads(path.read_text())
            row[f"{store}_{index}"] = {"ndcg@10": r["ndcg@10"], "recall@100": r["recall@100"], "mrr@10": r["mrr@10"],
                                       "per_query_ms": round(r["timings"]["per_query_ms"], 3)}
            shown = [c for c in cmd[1:] if c not in ("--out", str(path))]
            row[f"{store}_{index}_command"] = " ".join(["embcompare", *shown])
        row["ndcg10_redis_flat_minus_faiss_flat"] = round(row["redis_flat"]["ndcg@10"] - row["faiss_flat"]["ndcg@10"], 6)
        row["ndcg10_redis_hnsw_minus_redis_flat"] = round(row["redis_hnsw"]["ndcg@10"] - row["redis_flat"]["ndcg@10"], 6)
        out[str(dim)] = row
        print(f"[cli {dim}d] {json.dumps(row)}", flush=True)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--redis-url", default=os.environ.get("REDIS_URL"))
    ap.add_argument("--dims", type=int, nargs="+", default=[384, 128])
    ap.add_argument("--memory-dims", type=int, nargs="+", default=[384, 128, 64])
    ap.add_argument("--latency-rounds", type=int, default=1)
    ap.add_argument("--ingest-repeats", type=int, default=6)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "redis.json"))
    ap.add_argument("--with-cli", action="store_true", help="also run `embcompare eval --store redis` (a few minutes)")
    ap.add_argument("--latency-only", action="store_true",
                    help="only the single-query latency (skip quality, ingest and memory; for iterating on the query path)")
    args = ap.parse_args(argv)

    server = None
    url = args.redis_url
    if not url:
        server = _server_module().RedisServer(appendonly=True).start()
        url = server.url
    client = redis.Redis.from_url(url)
    t0 = time.time()
    ds = load_beir(SCIFACT)
    qids = list(ds.queries)
    base = MatryoshkaEmbeddings("all-MiniLM-L6-v2")
    result: dict[str, Any] = {
        "command": "python benchmarks/bench_redis.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "dataset": "scifact (BEIR, test split)", "n_docs": len(ds.corpus), "n_queries": len(qids),
        "model": base.model_name, "redis_version": client.info("server")["redis_version"],
        "search_module": [m for m in client.module_list() if m[b"name"] == b"search"][0][b"ver"],
        "machine": f"{platform.machine()}, {os.cpu_count()} cpus, {platform.python_version()}",
        "quality": {}, "ingest": {}, "latency": {}, "memory": {},
    }
    try:
        for dim in sorted(set(args.dims) | set(args.memory_dims), reverse=True):
            emb = base.with_dim(dim) if dim != base.native_dim else base
            dv = emb.encode_documents(ds.texts)
            qv = emb.encode_queries([ds.queries[q] for q in qids])
            row: dict[str, Any] = {}
            stores = {}
            for algo in ("flat", "hnsw"):
                spec = RedisIndexSpec(f"bench_{algo}_{dim}", kind=algo, metric="cosine", m=16,
                                      ef_construction=200, ef_search=100, metadata_schema={"title": "text"})
                store = RedisVectorStore(emb, spec, url, overwrite=True)
                t = time.perf_counter()
                store.upsert_vectors(dv, ds.corpus)
                row[f"redis_{algo}_ingest_s"] = round(time.perf_counter() - t, 3)
                stores[algo] = store
                if not args.latency_only:
                    result["memory"].setdefault(str(dim), {})[algo] = _memory(client, store, [d.id for d in ds.corpus])
            if args.latency_only:
                if dim == max(args.dims):
                    for algo, store in stores.items():
                        result["latency"][f"{algo}_{dim}"] = _latency(store, qv, 10, args.latency_rounds)
                        print(f"[latency {algo} {dim}d] {json.dumps(result['latency'][f'{algo}_{dim}'])}", flush=True)
                for store in stores.values():
                    store.drop()
                continue
            if dim in args.dims:
                frun, fname = _faiss_run(dv, qv, ds.corpus, qids, emb, 100)
                row["faiss_flat"] = evaluate_run(frun, ds.qrels, METRICS)
                row["faiss_impl"] = fname
                for algo, store in stores.items():
                    t = time.perf_counter()
                    hits = store.search_vectors(qv, 100)
                    row[f"redis_{algo}_search_all_s"] = round(time.perf_counter() - t, 3)
                    row[f"redis_{algo}"] = evaluate_run(_run_from_hits(qids, hits), ds.qrels, METRICS)
                row["ndcg10_redis_flat_minus_faiss_flat"] = round(row["redis_flat"]["ndcg@10"] - row["faiss_flat"]["ndcg@10"], 6)
                row["ndcg10_redis_hnsw_minus_redis_flat"] = round(row["redis_hnsw"]["ndcg@10"] - row["redis_flat"]["ndcg@10"], 6)
                row["goal_flat_vs_faiss_within_0.001"] = abs(row["ndcg10_redis_flat_minus_faiss_flat"]) <= 0.001
                row["goal_hnsw_vs_flat_within_0.005"] = abs(row["ndcg10_redis_hnsw_minus_redis_flat"]) <= 0.005
                result["quality"][str(dim)] = row
                print(f"[{dim}d] {json.dumps(row)}", flush=True)
            if dim == max(args.dims):
                # Overhead vs raw redis-py on the same (FLAT and HNSW) indexes.
                for algo, store in stores.items():
                    result["latency"][f"{algo}_{dim}"] = _latency(store, qv, 10, args.latency_rounds)
                    print(f"[latency {algo} {dim}d] {json.dumps(result['latency'][f'{algo}_{dim}'])}", flush=True)
                # Ingest: fresh indexes with the FLAT spec, ours and raw interleaved (ABBA) so drift and
                # the machine's load hit both alike; index creation is not timed.
                flat_spec = stores["flat"].spec
                build = _raw_mappings(dv, ds.corpus, flat_spec.dtype)
                ours_t, raw_t, ours_cpu, raw_cpu = [], [], [], []
                for rep in range(args.ingest_repeats):
                    for which in (("ours", "raw") if rep % 2 == 0 else ("raw", "ours")):
                        spec = RedisIndexSpec.from_dict({**flat_spec.to_dict(), "index_name": f"bench_ingest_{rep}_{which}", "prefix": None})
                        fresh = RedisVectorStore(emb, spec, url, overwrite=True)
                        if which == "ours":
                            t, c = time.perf_counter(), time.process_time()
                            fresh.upsert_vectors(dv, ds.corpus)
                            ours_t.append(time.perf_counter() - t)
                            ours_cpu.append(time.process_time() - c)
                        else:
                            wall, cpu = _raw_ingest(client, build, spec.prefix, spec.batch_size)
                            raw_t.append(wall)
                            raw_cpu.append(cpu)
                        assert fresh.count() == len(ds.corpus), (which, fresh.count())
                        fresh.drop()
                n = len(ds.corpus)
                result["ingest"] = {
                    "index": f"flat_{dim} (cosine, float32, title as TEXT, content as TEXT), a fresh index per run",
                    "docs": n, "repeats": args.ingest_repeats, "batch_size": flat_spec.batch_size,
                    "ours_docs_per_s_median": round(n / float(np.median(ours_t)), 1),
                    "raw_redis_py_docs_per_s_median": round(n / float(np.median(raw_t)), 1),
                    "ratio_time_ours_over_raw": round(float(np.median(ours_t)) / float(np.median(raw_t)), 4),
                    "ratio_client_cpu_ours_over_raw": round(float(np.median(ours_cpu)) / float(np.median(raw_cpu)), 4),
                    "ours_s": [round(x, 3) for x in ours_t], "raw_s": [round(x, 3) for x in raw_t],
                    "ours_client_cpu_s": [round(x, 3) for x in ours_cpu], "raw_client_cpu_s": [round(x, 3) for x in raw_cpu],
                    "note": "wall time includes the server's indexing and this machine's load (2 shared cores); "
                            "client CPU is what each side's Python costs",
                }
                print(f"[ingest] {json.dumps(result['ingest'])}", flush=True)
            for store in stores.values():
                store.drop()
        if args.with_cli:
            with tempfile.TemporaryDirectory() as tmp:
                result["cli_eval"] = _cli_eval(url, args.dims, Path(tmp))
        result["elapsed_s"] = round(time.time() - t0, 1)
    finally:
        if server is not None:
            server.cleanup()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
