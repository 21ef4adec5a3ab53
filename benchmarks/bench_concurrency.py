"""Throughput under concurrent clients (issue 25): QPS and per-request latency p50 / p99 at 1, 2, 4 and 8
client threads and from asyncio (N concurrent ``ainvoke`` tasks), for the plain store retriever, the
Matryoshka funnel and the cluster prefilter on FAISS, Redis and Milvus (Lite), beside raw faiss searched
from the same threads.

How a request is made: each client thread (or asyncio task) sends ONE query at a time, as a web server's
request handlers do: ``retriever.invoke(text)`` (LangChain's whole path: callbacks, the query-vector lookup,
the search, the Documents), or the store's search for one query vector (``search_vectors(q[i:i+1], 10)``;
the funnel's and cluster prefilter's ``search_vectors``), or raw faiss's ``index.search(q[i:i+1], 10)``.
asyncio: one event loop, N tasks each awaiting ``ainvoke`` (the store/raw rows await ``loop.run_in_executor``),
on an executor of N threads.

Queries are embedded already: ``PrecomputedEmbeddings`` looks a query text up in a table (no model runs).
Data: ``bench_scale.gaussian`` (unit vectors with SciFact/MiniLM's covariance; needs only the cached MiniLM
SciFact vectors), ``--n`` documents x 384-d (default 100,000: big enough that a flat search is real work,
~3-10 ms, and small enough that the Redis and Milvus ingests fit a short run on this 2-core machine), 200
test queries (cycled), k = 10.

Threads: ``faiss.omp_set_num_threads(1)`` is called IN EVERY client thread (an OpenMP setting is per
thread: set in the main thread it does not reach the clients, which would still run each search's
parallel regions on every core), and BLAS (numpy's matrix products: the funnel's rescoring, the cluster
blocks) is limited to 1 thread with threadpoolctl. So N clients = N busy threads at most; with 2 cores, 4
and 8 clients oversubscribe the CPU, and QPS cannot grow past 2 clients.

Noise control: the machine is shared, so each measured cell alternates ours and its raw-faiss baseline
in ``--rounds`` rounds of ``--seconds`` each, and reports the median QPS of the rounds (latencies pooled);
the load average at start and end of the run is recorded.

    python benchmarks/bench_concurrency.py [--n 100000] [--stores faiss redis milvus] [--seconds 1.0]
        [--rounds 3] [--clients 1 2 4 8] [--out benchmarks/results/concurrency.json]

Writes ``concurrency.json`` (every cell) and ``concurrency.md`` (the QPS-vs-clients tables, ratios to raw
faiss) next to it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import faiss
import numpy as np
from threadpoolctl import threadpool_info, threadpool_limits

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT / "scripts"))

from bench_scale import EF_CONSTRUCTION, HNSW_M, LazyDocs, gaussian  # noqa: E402

from langchain_embcompare.precomputed.embeddings import PrecomputedEmbeddings  # noqa: E402
from langchain_embcompare.retrievers.calibration import recall_at_k  # noqa: E402
from langchain_embcompare.retrievers.cluster import ClusterPrefilterRetriever  # noqa: E402
from langchain_embcompare.retrievers.funnel import MatryoshkaFunnelRetriever  # noqa: E402
from langchain_embcompare.stores.base import EmbRetriever  # noqa: E402
from langchain_embcompare.stores.faiss import FaissVectorStore  # noqa: E402
from langchain_embcompare.stores.faiss_index import FaissIndexSpec  # noqa: E402

K = 10
EF_SEARCH = 64  # HNSW ef_search of our FAISS HNSW store and of raw faiss HNSW (the same knob on both)
TARGET = 0.98  # funnel / cluster calibration target (recall@10 on held-out queries)


# --------------------------------------------------------------------------- load generators


def one_omp_thread() -> None:
    """Called at the start of every client thread: faiss's OpenMP setting is per thread."""
    faiss.omp_set_num_threads(1)


def summarise(lat: list[float], elapsed: float) -> dict:
    a = np.asarray(lat) * 1000
    return {"qps": len(a) / elapsed, "p50_ms": float(np.percentile(a, 50)), "p99_ms": float(np.percentile(a, 99)),
            "requests": len(a), "_lat": a}


def run_threads(fn: Callable[[int], Any], clients: int, seconds: float, nq: int) -> dict:
    """``clients`` threads, each sending one request at a time (query i, i + clients, ...) for ``seconds``."""
    lats: list[list[float]] = [[] for _ in range(clients)]
    start = threading.Barrier(clients + 1)
    t0: list[float] = []

    def client(c: int) -> None:
        one_omp_thread()
        out = lats[c]
        i = c
        start.wait()
        end = t0[0] + seconds
        while True:
            t = time.perf_counter()
            if t >= end:
                break
            fn(i % nq)
            out.append(time.perf_counter() - t)
            i += clients

    threads = [threading.Thread(target=client, args=(c,)) for c in range(clients)]
    for th in threads:
        th.start()
    t0.append(time.perf_counter())
    start.wait()
    for th in threads:
        th.join()
    return summarise([x for lat in lats for x in lat], time.perf_counter() - t0[0])


def run_asyncio(afn: Callable[[int], Awaitable[Any]], tasks: int, seconds: float, nq: int) -> dict:
    """One event loop, ``tasks`` tasks each awaiting one request at a time, on an executor of ``tasks`` threads."""

    async def main() -> dict:
        loop = asyncio.get_running_loop()
        pool = ThreadPoolExecutor(max_workers=tasks, initializer=one_omp_thread)
        loop.set_default_executor(pool)
        lats: list[float] = []
        t0 = time.perf_counter()
        end = t0 + seconds

        async def task(c: int) -> None:
            i = c
            while time.perf_counter() < end:
                t = time.perf_counter()
                await afn(i % nq)
                lats.append(time.perf_counter() - t)
                i += tasks

        await asyncio.gather(*[task(c) for c in range(tasks)])
        out = summarise(lats, time.perf_counter() - t0)
        pool.shutdown(wait=True)
        return out

    return asyncio.run(main())


def in_executor(fn: Callable[[int], Any]) -> Callable[[int], Awaitable[Any]]:
    async def afn(i: int) -> Any:
        return await asyncio.get_running_loop().run_in_executor(None, fn, i)

    return afn


# --------------------------------------------------------------------------- one table row


class Cell:
    """What one row measures: ``fn(i)`` (sync) and ``afn(i)`` (async) answer query i."""

    def __init__(self, name: str, fn: Callable[[int], Any], afn: Callable[[int], Awaitable[Any]] | None = None) -> None:
        self.name, self.fn, self.afn = name, fn, afn or in_executor(fn)


def measure(cells: list[Cell], clients: list[int], args: argparse.Namespace, nq: int) -> dict:
    """Every cell at every concurrency (threads, then asyncio); cells alternate within each round, so a
    load spike from elsewhere hits ours and the baseline alike. Median QPS over rounds, latencies pooled."""
    for c in cells:  # warm up (lazy index builds, first-call imports)
        for i in range(5):
            c.fn(i)
    out: dict = {c.name: {} for c in cells}
    for mode in ("threads", "asyncio"):
        for n in clients:
            got: dict[str, list[dict]] = {c.name: [] for c in cells}
            for _ in range(args.rounds):
                for c in cells:
                    r = run_threads(c.fn, n, args.seconds, nq) if mode == "threads" else run_asyncio(c.afn, n, args.seconds, nq)
                    got[c.name].append(r)
            for name, rs in got.items():
                lat = np.concatenate([r["_lat"] for r in rs])
                out[name][f"{mode}:{n}"] = {
                    "qps": round(statistics.median(r["qps"] for r in rs), 1),
                    "qps_rounds": [round(r["qps"], 1) for r in rs],
                    "p50_ms": round(float(np.percentile(lat, 50)), 3),
                    "p99_ms": round(float(np.percentile(lat, 99)), 3),
                    "requests": int(len(lat)),
                }
            print(mode, n, {name: out[name][f"{mode}:{n}"]["qps"] for name in got}, flush=True)
    return out


# --------------------------------------------------------------------------- the set-ups


def embeddings(x: np.ndarray, q: np.ndarray) -> tuple[PrecomputedEmbeddings, list[str]]:
    texts = [f"query {i}" for i in range(len(q))]
    emb = PrecomputedEmbeddings(x[:1], document_ids=["0"], query_vectors=q, query_texts=texts,
                                model_id="synthetic:gaussian", validate=False)
    return emb, texts


def retriever_cells(prefix: str, retriever: Any, search: Callable[[np.ndarray], Any], q: np.ndarray, texts: list[str]) -> list[Cell]:
    """Two rows per retriever: its search for one query vector, and LangChain's ``invoke`` / ``ainvoke``."""
    return [
        Cell(f"{prefix}/search", lambda i: search(q[i : i + 1])),
        Cell(f"{prefix}/invoke", lambda i: retriever.invoke(texts[i]), lambda i: retriever.ainvoke(texts[i])),
    ]


def recall_of(search_rows: Callable[[np.ndarray], np.ndarray], q: np.ndarray, truth: np.ndarray) -> float:
    return round(recall_at_k(np.concatenate([search_rows(q[i : i + 1]) for i in range(len(q))]), truth), 4)


def faiss_setups(x: np.ndarray, q: np.ndarray, qcal: np.ndarray, truth: np.ndarray, emb: PrecomputedEmbeddings,
                 texts: list[str]) -> list[dict]:
    """Each group: our FAISS rows and the raw faiss index of the same kind, measured side by side."""
    n, d = x.shape
    ids = [str(i) for i in range(n)]
    groups = []

    def store(**spec: Any) -> FaissVectorStore:
        s = FaissVectorStore(emb, FaissIndexSpec(**spec))
        s.bulk_load(x, LazyDocs(n), ids, normalized=True)
        return s

    # plain, flat
    flat = faiss.IndexFlatIP(d)
    flat.add(x)
    s_flat = store()
    plain = EmbRetriever(store=s_flat, k=K)
    groups.append({"group": "faiss plain (flat)", "store": "faiss", "retriever": "plain", "index": "flat",
                   "raw": Cell("raw faiss IndexFlatIP", lambda i: flat.search(q[i : i + 1], K)),
                   "ours": retriever_cells("faiss plain flat", plain, lambda v: s_flat.search_vectors(v, k=K), q, texts),
                   "recall@10": {"raw": 1.0, "ours": recall_of(lambda v: s_flat.search_rows(v, K)[1], q, truth)}})

    # plain, HNSW (same M, efConstruction, ef_search as raw)
    hnsw = faiss.IndexHNSWFlat(d, HNSW_M, faiss.METRIC_INNER_PRODUCT)
    hnsw.hnsw.efConstruction = EF_CONSTRUCTION
    hnsw.hnsw.efSearch = EF_SEARCH
    with threadpool_limits(2):
        faiss.omp_set_num_threads(2)
        hnsw.add(x)
        s_hnsw = store(kind="hnsw", hnsw_m=HNSW_M, ef_construction=EF_CONSTRUCTION, ef_search=EF_SEARCH)
        faiss.omp_set_num_threads(1)
    plain_h = EmbRetriever(store=s_hnsw, k=K)
    raw_hnsw = Cell(f"raw faiss IndexHNSWFlat (M {HNSW_M}, efC {EF_CONSTRUCTION}, ef {EF_SEARCH})", lambda i: hnsw.search(q[i : i + 1], K))
    groups.append({"group": "faiss plain (hnsw)", "store": "faiss", "retriever": "plain_hnsw", "index": "hnsw", "raw": raw_hnsw,
                   "ours": retriever_cells("faiss plain hnsw", plain_h, lambda v: s_hnsw.search_vectors(v, k=K), q, texts),
                   "recall@10": {"raw": recall_of(lambda v: hnsw.search(v, K)[1], q, truth),
                                 "ours": recall_of(lambda v: s_hnsw.search_rows(v, K)[1], q, truth)}})

    # funnel: 128-d PCA shortlist on an HNSW field, calibrated; beside raw HNSW (what users pick instead)
    s_fun = store(field_kind="hnsw", hnsw_m=HNSW_M, ef_construction=EF_CONSTRUCTION)
    funnel = MatryoshkaFunnelRetriever(store=s_fun, shortlist_dim=128, k=K, rotation="pca")
    with threadpool_limits(2):
        faiss.omp_set_num_threads(2)
        funnel.build()
        funnel.shortlist_rows(funnel.query_matrix(q[:1]), K, None, None, None)  # builds the field's index
        faiss.omp_set_num_threads(1)
    cal = funnel.calibrate(qcal, target_recall=TARGET, k=K)
    groups.append({"group": "faiss funnel (128-d hnsw shortlist)", "store": "faiss", "retriever": "funnel", "index": "hnsw",
                   "settings": cal.settings, "raw": raw_hnsw, "retriever_object": funnel,
                   "ours": retriever_cells("faiss funnel", funnel, lambda v: funnel.search_vectors(v, k=K), q, texts),
                   "recall@10": {"raw": groups[-1]["recall@10"]["raw"],
                                 "ours": recall_of(lambda v: funnel.search_rows(v, K)[1], q, truth)}})

    # cluster prefilter: K lists ~ 4 sqrt(N), calibrated fixed nprobe; beside raw IVF with the same lists and nprobe
    kc = int(2 ** round(np.log2(4 * np.sqrt(n))))
    with threadpool_limits(2):
        faiss.omp_set_num_threads(2)
        cluster = ClusterPrefilterRetriever(store=s_flat, n_clusters=kc, k=K).fit(vectors=x, ids=ids, niter=10, train_points_per_cluster=64)
        cluster.search_rows(q[:1], K)
        faiss.omp_set_num_threads(1)
    ccal = cluster.calibrate(qcal, target_recall=TARGET, k=K, mode="fixed")
    cluster = ClusterPrefilterRetriever(store=s_flat, clusters=cluster.clusters, n_clusters=kc, k=K, nprobe=ccal.settings["nprobe"])
    ivf = faiss.IndexIVFFlat(faiss.IndexFlatIP(d), d, kc, faiss.METRIC_INNER_PRODUCT)
    with threadpool_limits(2):
        faiss.omp_set_num_threads(2)
        ivf.train(np.ascontiguousarray(x[np.random.default_rng(0).permutation(n)[: 64 * kc]]))
        ivf.add(x)
        faiss.omp_set_num_threads(1)
    ivf.nprobe = ccal.settings["nprobe"]
    groups.append({"group": f"faiss cluster prefilter ({kc} clusters)", "store": "faiss", "retriever": "cluster", "index": "ivf",
                   "settings": {"n_clusters": kc, **ccal.settings}, "retriever_object": cluster,
                   "raw": Cell(f"raw faiss IndexIVFFlat (nlist {kc}, nprobe {ivf.nprobe})", lambda i: ivf.search(q[i : i + 1], K)),
                   "ours": retriever_cells("faiss cluster", cluster, lambda v: cluster.search_vectors(v, k=K), q, texts),
                   "recall@10": {"raw": recall_of(lambda v: ivf.search(v, K)[1], q, truth),
                                 "ours": recall_of(lambda v: cluster.search_rows(v, K)[1], q, truth)}})
    return groups


def server_setups(name: str, store: Any, x: np.ndarray, q: np.ndarray, truth: np.ndarray, texts: list[str],
                  faiss_groups: list[dict], ingest_seconds: float, retrievers: Sequence[str]) -> list[dict]:
    """The same three retrievers on a server store (Redis / Milvus), already filled with the documents, the
    funnel's small vectors and (HNSW) the same M / efConstruction; the funnel reuses FAISS's rotation and
    calibrated knobs, the cluster prefilter FAISS's fitted clusters and nprobe. Beside the same raw faiss
    indexes as the FAISS groups (re-measured in the same rounds)."""
    by = {g["retriever"]: g for g in faiss_groups if g["store"] == "faiss"}
    q50, t50 = q[:50], truth[:50]  # recall on 50 queries: a server cluster search is one round trip per opened cluster
    groups = []
    plain = EmbRetriever(store=store, k=K)
    groups.append({"group": f"{name} plain (hnsw)", "store": name, "retriever": "plain", "index": "hnsw",
                   "ingest_seconds": ingest_seconds, "raw": by["plain_hnsw"]["raw"],
                   "ours": retriever_cells(f"{name} plain hnsw", plain, lambda v: store.search_vectors(v, k=K), q, texts),
                   "recall@10": {"raw": by["plain_hnsw"]["recall@10"]["raw"],
                                 "ours": recall_of(lambda v: store.search_rows(v, K)[1], q50, t50), "queries": 50}})
    f0 = by["funnel"]["retriever_object"]
    funnel = MatryoshkaFunnelRetriever(store=store, shortlist_dim=f0.shortlist_dim, k=K, rotation="pca", shortlist=f0.shortlist,
                                       shortlist_ef_search=f0.shortlist_ef_search, shortlist_nprobe=f0.shortlist_nprobe)
    funnel.use_rotation(f0.fitted_rotation)
    groups.append({"group": f"{name} funnel (128-d hnsw shortlist)", "store": name, "retriever": "funnel", "index": "hnsw",
                   "settings": by["funnel"]["settings"], "raw": by["funnel"]["raw"],
                   "ours": retriever_cells(f"{name} funnel", funnel, lambda v: funnel.search_vectors(v, k=K), q, texts),
                   "recall@10": {"raw": by["funnel"]["recall@10"]["raw"],
                                 "ours": recall_of(lambda v: funnel.search_rows(v, K)[1], q50, t50), "queries": 50}})
    if "cluster" not in retrievers:
        return groups
    c0 = by["cluster"]["retriever_object"]
    t = time.perf_counter()
    cluster = ClusterPrefilterRetriever(store=store, clusters=c0.clusters, n_clusters=c0.n_clusters, k=K, nprobe=c0.nprobe)
    cluster.search_rows(q[:1], K)  # binds: writes the labels into the store
    groups.append({"group": f"{name} cluster prefilter ({c0.n_clusters} clusters)", "store": name, "retriever": "cluster",
                   "index": "clusters", "settings": by["cluster"]["settings"], "label_write_seconds": round(time.perf_counter() - t, 1),
                   "raw": by["cluster"]["raw"],
                   "ours": retriever_cells(f"{name} cluster", cluster, lambda v: cluster.search_vectors(v, k=K), q, texts),
                   "recall@10": {"raw": by["cluster"]["recall@10"]["raw"],
                                 "ours": recall_of(lambda v: cluster.search_rows(v, K)[1], q50, t50), "queries": 50}})
    return groups


def fill(store: Any, x: np.ndarray, funnel: MatryoshkaFunnelRetriever) -> float:
    """Upsert every document with its vector and the funnel's small vector (one write per document)."""
    from langchain_core.documents import Document

    t = time.perf_counter()
    small = funnel.small_vectors(x)
    for start in range(0, len(x), 10_000):
        stop = min(len(x), start + 10_000)
        docs = [Document(page_content=f"doc {i}", id=str(i)) for i in range(start, stop)]
        store.upsert_vectors(x[start:stop], docs, extra_vectors={funnel.field: small[start:stop]})
    store.flush()
    return round(time.perf_counter() - t, 1)


def redis_groups(x: np.ndarray, q: np.ndarray, truth: np.ndarray, emb: PrecomputedEmbeddings, texts: list[str],
                 faiss_groups: list[dict], stack: Any, retrievers: Sequence[str]) -> list[dict]:
    from redis_server import RedisServer

    from langchain_embcompare.stores.redis import RedisIndexSpec, RedisVectorStore

    funnel = next(g for g in faiss_groups if g["retriever"] == "funnel")["retriever_object"]
    srv = stack.enter_context(RedisServer(appendonly=False))
    spec = RedisIndexSpec("bench_concurrency", kind="hnsw", m=HNSW_M, ef_construction=EF_CONSTRUCTION, ef_search=EF_SEARCH,
                          extra_vector_fields={funnel.field: funnel.small_dim}, index_content=False)
    store = RedisVectorStore(emb, spec, srv.url, overwrite=True)
    return server_setups("redis", store, x, q, truth, texts, faiss_groups, fill(store, x, funnel), retrievers)


def milvus_groups(x: np.ndarray, q: np.ndarray, truth: np.ndarray, emb: PrecomputedEmbeddings, texts: list[str],
                  faiss_groups: list[dict], folder: Path, retrievers: Sequence[str]) -> list[dict]:
    from langchain_embcompare.stores.milvus import MilvusVectorStore
    from langchain_embcompare.stores.milvus_schema import MilvusIndexSpec

    funnel = next(g for g in faiss_groups if g["retriever"] == "funnel")["retriever_object"]
    spec = MilvusIndexSpec("bench_concurrency", kind="hnsw", m=HNSW_M, ef_construction=EF_CONSTRUCTION, ef_search=EF_SEARCH,
                           extra_vector_fields={funnel.field: funnel.small_dim})
    store = MilvusVectorStore(emb, spec, uri=str(folder / "milvus_lite.db"), overwrite=True)
    return server_setups("milvus-lite", store, x, q, truth, texts, faiss_groups, fill(store, x, funnel), retrievers)


# --------------------------------------------------------------------------- report


def load() -> list[float]:
    return [round(v, 2) for v in os.getloadavg()]


def table(results: dict) -> str:
    clients = results["clients"]
    cols = [f"threads:{n}" for n in clients] + [f"asyncio:{n}" for n in clients]
    lines = ["# Throughput under concurrent clients (benchmarks/results/concurrency.json)", "",
             f"{results['dim']}-d vectors (gaussian set; the number of vectors, the command and the load average are "
             f"given per group), k = {K}, one query per request. Machine: {results['cpus']} CPUs. Every client thread runs faiss with 1 OpenMP thread and BLAS with 1 thread, "
             f"so {', '.join(str(c) for c in clients if c > results['cpus'])} clients oversubscribe the "
             f"{results['cpus']} cores: QPS cannot grow past {results['cpus']} clients here.", "",
             "Each cell: QPS (median of rounds) / p50 ms / p99 ms; in brackets, ours / raw faiss QPS of the group's "
             "raw index measured in the same rounds. `search`: the store's (or retriever's) search for one query "
             "vector, returning Documents; `invoke`: `retriever.invoke(text)` / `await retriever.ainvoke(text)`.", ""]
    for g in results["groups"]:
        lines += [f"## {g['group']}", "", f"{g['n']:,} vectors; load average {g['load_start']} -> {g['load_end']}; "
                  f"`{g['command']}`", "", f"recall@10: ours {g['recall@10']['ours']}, raw {g['recall@10']['raw']}"
                  + (f"; settings {g['settings']}" if g.get("settings") else ""), "",
                  "| row | " + " | ".join(cols) + " |", "|---" * (len(cols) + 1) + "|"]
        raw = g["cells"][g["raw"]]
        for name, cell in g["cells"].items():
            parts = []
            for c in cols:
                v = cell[c]
                ratio = "" if name == g["raw"] else f" ({v['qps'] / raw[c]['qps']:.2f})"
                parts.append(f"{v['qps']:,.0f}{ratio} / {v['p50_ms']:.2f} / {v['p99_ms']:.2f}")
            lines.append(f"| {name} | " + " | ".join(parts) + " |")
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--clients", type=int, nargs="+", default=[1, 2, 4, 8])
    ap.add_argument("--seconds", type=float, default=1.0, help="seconds per round of one cell")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--stores", nargs="+", default=["faiss", "redis", "milvus"], choices=["faiss", "redis", "milvus"])
    ap.add_argument("--server-retrievers", nargs="+", default=["plain", "funnel", "cluster"], choices=["plain", "funnel", "cluster"],
                    help="retrievers measured on Redis / Milvus (the cluster prefilter makes one server search per opened cluster)")
    ap.add_argument("--only", default=None, help="measure only groups whose name contains this")
    ap.add_argument("--out", default=str(ROOT / "benchmarks/results/concurrency.json"))
    args = ap.parse_args()
    results: dict = {"command": "python benchmarks/bench_concurrency.py " + " ".join(sys.argv[1:]), "platform": platform.platform(),
                     "cpus": os.cpu_count(), "load_start": load(), "n": args.n, "k": K, "clients": args.clients,
                     "seconds_per_round": args.seconds, "rounds": args.rounds,
                     "threads": {"faiss_omp_per_client": 1, "blas": 1, "asyncio_executor_threads": "= tasks"}}
    t = time.perf_counter()
    faiss.omp_set_num_threads(2)
    with threadpool_limits(2):
        x, q, qcal = gaussian(args.n, args.queries, seed=0)
    results["dim"] = int(x.shape[1])
    results["generate_seconds"] = round(time.perf_counter() - t, 1)
    flat = faiss.IndexFlatIP(x.shape[1])
    flat.add(x)
    truth = flat.search(q, K)[1]
    del flat
    emb, texts = embeddings(x, q)
    faiss.omp_set_num_threads(1)
    with threadpool_limits(1), contextlib.ExitStack() as stack:
        results["blas_after_limit"] = [{k: v for k, v in i.items() if k in ("internal_api", "num_threads")} for i in threadpool_info()]
        groups = faiss_setups(x, q, qcal, truth, emb, texts)
        print(time.strftime("%H:%M:%S"), "faiss built", flush=True)
        if "redis" in args.stores:
            groups += redis_groups(x, q, truth, emb, texts, groups, stack, args.server_retrievers)
        print(time.strftime("%H:%M:%S"), "redis built", flush=True)
        if "milvus" in args.stores:
            groups += milvus_groups(x, q, truth, emb, texts, groups, Path(stack.enter_context(tempfile.TemporaryDirectory())),
                                  args.server_retrievers)
        print(time.strftime("%H:%M:%S"), "milvus built", flush=True)
        if "faiss" not in args.stores:
            groups = [g for g in groups if g["store"] != "faiss"]
        results["groups"] = []
        for g in groups:
            if args.only and args.only not in g["group"]:
                continue
            print("==", time.strftime("%H:%M:%S"), g["group"], g["recall@10"], g.get("settings"), flush=True)
            cells = [g["raw"], *g["ours"]]
            g_out = {k: v for k, v in g.items() if k not in ("raw", "ours", "retriever_object")}
            g_out["raw"] = g["raw"].name
            g_out["cells"] = measure(cells, args.clients, args, len(q))
            results["groups"].append(g_out)
    results["load_end"] = load()
    for g in results["groups"]:
        g.update(n=args.n, command=results["command"], load_start=results["load_start"], load_end=results["load_end"])
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.exists():  # keep the groups of other stores measured by an earlier run (each records its command and load)
        mine = {g["store"] for g in results["groups"]}
        results["groups"] = [g for g in json.loads(out.read_text()).get("groups", []) if g["store"] not in mine] + results["groups"]
    out.write_text(json.dumps(results, indent=1))
    out.with_suffix(".md").write_text(table(results))
    print("wrote", out, out.with_suffix(".md"))


if __name__ == "__main__":
    main()
