"""Selective filters: recall@10, ms/query and results returned at filter selectivity 50 %, 10 %, 1 %, 0.1 %
-> benchmarks/results/filters.json and filters.md.

One run, one corpus (bench_scale's ``realistic`` set: SciFact word windows embedded by a static
MiniLM, 384 d, unit length; or ``gaussian``) with an integer metadata field ``bucket`` (a random
permutation of ``row % 1000``), so ``{"bucket": {"$lt": b}}`` keeps b / 1000 of the rows:
500 -> 50 %, 100 -> 10 %, 10 -> 1 %, 1 -> 0.1 %. The reference is the exact filtered top-10 (numpy over
the allowed rows). Per store:

* ``default``: our store as built, no policy (the index's own ef_search / nprobe, the engine's own
  filtered search: FAISS IDSelector (+ its exact_below rule), Redis's automatic HYBRID_POLICY, Milvus's
  filtered search);
* ``calibrated``: a :class:`~langchain_embcompare.stores.filtered.FilterPolicy` from
  ``calibrate_filter_policy`` on HELD-OUT queries (``--cal-queries``, never the reported ones) at the
  same four selectivities (to recall 0.99, ``--cal-target``: a margin for the reported queries), attached
  with ``set_filter_policy``; each search then counts the filter's
  documents (``filter_count``, timed with the search) and runs the chosen setting;

beside them, in the same run: raw faiss (``index.search`` with an ``IDSelectorBatch`` on the same
``IndexHNSWFlat`` / ``IndexIVFFlat`` object, at its default search settings) and LangChain's own FAISS store
(``langchain_community.vectorstores.FAISS``, its default flat index, ``filter=`` post-filtering the
``fetch_k`` nearest: 20 (its default), 200, 2000). Every search is one query per call (ms/query is the
mean wall time of those calls, filter counting included), one search thread. Milvus collections use
``consistency_level="Bounded"`` (after ``flush``, so every row is searchable): a ``Strong`` call waits for
the server's next time tick, ~200 ms per call here, which would hide everything else.

Usage: ``python benchmarks/bench_filters.py [--set realistic] [--n 100000] [--queries 200] [--cal-queries 100]
[--stores faiss_hnsw faiss_ivf redis_hnsw milvus_server_ivf] [--out benchmarks/results/filters.json]``
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import faiss
import numpy as np
from langchain_core.documents import Document

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_scale import Threads, gaussian, realistic  # noqa: E402

from langchain_embcompare.precomputed.embeddings import PrecomputedEmbeddings  # noqa: E402
from langchain_embcompare.stores.filtered import calibrate_filter_policy, filtered_recall  # noqa: E402

K = 10
BUCKETS = {"50%": 500, "10%": 100, "1%": 10, "0.1%": 1}
ALL_STORES = ("faiss_hnsw", "faiss_ivf", "redis_hnsw", "milvus_lite_hnsw", "milvus_lite_ivf", "milvus_server_hnsw", "milvus_server_ivf")


def load_server(kind: str, data_dir: Path | None = None) -> Any:
    """A started Redis Stack (scripts/redis_server.py) or Milvus 2.3.5 standalone (scripts/milvus_server.py)."""
    import importlib.util

    script = ROOT / "scripts" / f"{kind}_server.py"
    spec = importlib.util.spec_from_file_location(f"embcompare_{kind}_server", script)
    mod = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    sys.modules[spec.name] = mod  # type: ignore[union-attr]
    spec.loader.exec_module(mod)  # type: ignore[union-attr]
    if kind == "redis":
        return mod.RedisServer().start()
    return mod.MilvusStandalone(data_dir=data_dir, auth=True).start()


def flt(b: int) -> dict:
    return {"bucket": {"$lt": b}}


def cell(rows: np.ndarray, truth: np.ndarray, ms: float) -> dict:
    got = (rows >= 0).sum(1)
    need = (truth >= 0).sum(1)
    return {"recall@10": round(filtered_recall(rows, truth), 4), "ms_per_query": round(ms, 3),
            "min_results": int(got.min()), "queries_with_k": round(float((got >= need).mean()), 4)}


def per_query(fn: Callable[[np.ndarray], np.ndarray], q: np.ndarray) -> tuple[np.ndarray, float]:
    """One call per query -> (m, K) positions found, mean ms per call."""
    out = np.full((len(q), K), -1, dtype=np.int64)
    fn(q[:1])  # warm-up (templates, caches)
    t = time.perf_counter()
    for i in range(len(q)):
        r = fn(q[i : i + 1])
        out[i, : r.shape[1]] = r[0, :K]
    return out, 1000 * (time.perf_counter() - t) / len(q)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--set", default="realistic", choices=("realistic", "gaussian"))
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--cal-queries", type=int, default=100)
    ap.add_argument("--target", type=float, default=0.98, help="the recall@10 every cell must reach on the reported queries")
    ap.add_argument("--cal-target", type=float, default=0.99, help="the recall the policy is calibrated to on held-out queries")
    ap.add_argument("--stores", nargs="+", default=["faiss_hnsw", "faiss_ivf", "redis_hnsw", "milvus_server_ivf"], choices=ALL_STORES)
    ap.add_argument("--no-langchain", action="store_true")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "filters.json"))
    args = ap.parse_args()
    th = Threads(search=1, build=2)
    out: dict[str, Any] = {
        "command": "python benchmarks/bench_filters.py " + " ".join(sys.argv[1:]),
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "load_avg_at_start": os.getloadavg()},
        "threads": {"search": th.search, "build": th.build, "faiss_omp_search": 1},
        "set": args.set, "n": args.n, "k": K, "queries": args.queries, "calibration_queries": args.cal_queries,
        "target_recall": args.target, "calibration_target": args.cal_target, "selectivities": {s: b / 1000 for s, b in BUCKETS.items()}, "rows": [], "policies": {},
    }
    t0 = time.perf_counter()
    with th.building():
        x, q, qcal = (gaussian if args.set == "gaussian" else realistic)(args.n, max(args.queries, args.cal_queries), seed=0)
    q, qcal = q[: args.queries], qcal[: args.cal_queries]
    n, d = x.shape
    out["generate_seconds"] = round(time.perf_counter() - t0, 1)
    bucket = np.random.default_rng(1).permutation(n) % 1000
    ids = [str(i) for i in range(n)]
    docs = [Document(page_content=f"doc {i}", metadata={"bucket": int(bucket[i])}, id=ids[i]) for i in range(n)]
    truth = {}
    for s, b in BUCKETS.items():
        allowed = np.flatnonzero(bucket < b)
        sc = q @ x[allowed].T
        top = np.argsort(-sc, axis=1, kind="stable")[:, :K]
        truth[s] = allowed[top]
    emb = PrecomputedEmbeddings(x[:1], document_ids=["0"], model_id=f"synthetic:{args.set}", validate=False)

    def add(system: str, mode: str, s: str, rows: np.ndarray, ms: float, **extra: Any) -> None:
        row = {"system": system, "mode": mode, "selectivity": s, **cell(rows, truth[s], ms), **extra}
        out["rows"].append(row)
        print(json.dumps(row), flush=True)

    def run_store(name: str, store: Any, build_s: float) -> None:
        pos = np.empty(0, dtype=np.int64)
        srows = store.rows_of(ids)
        order = np.argsort(srows)
        sorted_rows = srows[order]

        def to_pos(r: np.ndarray) -> np.ndarray:
            i = np.clip(np.searchsorted(sorted_rows, r), 0, len(sorted_rows) - 1)
            return np.where((r >= 0) & (sorted_rows[i] == r), order[i], -1)

        del pos
        out.setdefault("build_seconds", {})[name] = round(build_s, 1)
        with th.searching():
            for s, b in BUCKETS.items():
                rows, ms = per_query(lambda qq: to_pos(store.search_rows(qq, K, filter=flt(b))[1]), q)
                add(name, "default", s, rows, ms)
            t = time.perf_counter()
            policy = calibrate_filter_policy(store, qcal, [flt(b) for b in BUCKETS.values()], k=K, target_recall=args.cal_target)
            cal_s = time.perf_counter() - t
            out["policies"][name] = {**policy.to_dict(), "calibration_seconds": round(cal_s, 1)}
            store.set_filter_policy(policy)
            for s, b in BUCKETS.items():
                rows, ms = per_query(lambda qq: to_pos(store.search_rows(qq, K, filter=flt(b))[1]), q)
                add(name, "calibrated", s, rows, ms, setting=policy.choose(b / 1000).knobs() or "index defaults")

    tmp = Path(tempfile.mkdtemp(prefix="bench_filters_"))
    for name in args.stores:
        t = time.perf_counter()
        if name.startswith("faiss"):
            from langchain_embcompare.stores.faiss import FaissIndexSpec, FaissVectorStore

            kind = name.split("_")[1]
            with th.building():
                store = FaissVectorStore(emb, FaissIndexSpec(kind=kind, metric="cosine"))
                store.bulk_load(x, docs, ids, normalized=True)
            run_store(name, store, time.perf_counter() - t)
            raw_faiss(name, kind, store.spec, store.index, q, bucket, add, th)
            del store
        elif name == "redis_hnsw":
            from langchain_embcompare.stores.redis import RedisIndexSpec, RedisVectorStore

            srv = load_server("redis")
            try:
                store = RedisVectorStore(emb, RedisIndexSpec("bench_filters", kind="hnsw", metadata_schema={"bucket": "numeric"},
                                                             index_content=False), srv.url, overwrite=True)
                store.upsert_vectors(x, docs)
                wait_redis_indexed(store)
                run_store(name, store, time.perf_counter() - t)
                out["redis_spec"] = {"m": store.spec.m, "ef_construction": store.spec.ef_construction, "ef_search": store.spec.ef_search}
            finally:
                srv.cleanup()
        elif name.startswith("milvus"):
            from langchain_embcompare.stores.milvus import MilvusVectorStore
            from langchain_embcompare.stores.milvus_schema import MilvusIndexSpec

            where, kind = name.split("_")[1:]
            srv = None
            if where == "server":
                srv = load_server("milvus", data_dir=tmp / "milvus_server")
                uri, token = srv.url, srv.root_token
            else:
                uri, token = str(tmp / f"{name}.db"), None
            try:
                spec = MilvusIndexSpec(f"bench_filters_{kind}", kind=kind, metadata_schema={"bucket": "numeric"}, full_text=False,
                                       consistency_level="Bounded")
                store = MilvusVectorStore(emb, spec, uri=uri, token=token, overwrite=True, timeout=120.0)
                store.upsert_vectors(x, docs)
                store.flush()
                run_store(name, store, time.perf_counter() - t)
                out.setdefault("milvus", {})[name] = {"version": str(store.features.version), "index": spec.index_params(),
                                                      "ef_search": spec.ef_search, "nprobe": spec.nprobe}
            finally:
                if srv is not None:
                    srv.stop()
    if not args.no_langchain:
        langchain_faiss(x, q, bucket, ids, add, th)
    out["machine"]["load_avg_at_end"] = os.getloadavg()
    out["total_seconds"] = round(time.perf_counter() - t0, 1)
    Path(args.out).write_text(json.dumps(out, indent=1))
    Path(args.out).with_suffix(".md").write_text(table(out))
    print(table(out))


def wait_redis_indexed(store: Any) -> None:
    """Wait until RediSearch has indexed every written hash (its background indexing)."""
    for _ in range(600):
        info = store.client.ft(store.spec.index_name).info()
        if float(info.get("percent_indexed", 1)) >= 1 and int(info.get("indexing", 0)) == 0:
            return
        time.sleep(0.5)


def raw_faiss(name: str, kind: str, spec: Any, index: Any, q: np.ndarray, bucket: np.ndarray, add: Callable, th: Threads) -> None:
    """Raw faiss calls on the same faiss index object our store built (IndexHNSWFlat / IndexIVFFlat, inner
    product on unit vectors) at its default search settings, an IDSelectorBatch per filter: what a user
    of faiss writes, without a second build of the same index."""
    with th.searching():
        for s, b in BUCKETS.items():
            allowed = np.flatnonzero(bucket < b)

            def search(qq: np.ndarray) -> np.ndarray:
                sel = faiss.IDSelectorBatch(allowed)
                params = (faiss.SearchParametersHNSW(sel=sel, efSearch=spec.ef_search) if kind == "hnsw"
                          else faiss.SearchParametersIVF(sel=sel, nprobe=spec.nprobe))
                return index.search(qq, K, params=params)[1]

            rows, ms = per_query(search, q)
            add(f"raw_{name}", "default", s, rows, ms, setting={"ef_search": spec.ef_search} if kind == "hnsw" else {"nprobe": spec.nprobe})


def langchain_faiss(x: np.ndarray, q: np.ndarray, bucket: np.ndarray, ids: list[str], add: Callable, th: Threads) -> None:
    """LangChain's FAISS store (langchain_community): its default flat index, post-filter over fetch_k."""
    from langchain_community.vectorstores import FAISS
    from langchain_community.vectorstores.utils import DistanceStrategy
    from langchain_core.embeddings import FakeEmbeddings

    texts = [f"doc {i}" for i in range(len(x))]
    with th.building():
        lc = FAISS.from_embeddings(list(zip(texts, x.tolist())), FakeEmbeddings(size=x.shape[1]),
                                   metadatas=[{"bucket": int(b)} for b in bucket], ids=ids,
                                   distance_strategy=DistanceStrategy.MAX_INNER_PRODUCT)
    with th.searching():
        for fetch_k in (20, 200, 2000):
            for s, b in BUCKETS.items():
                def search(qq: np.ndarray) -> np.ndarray:
                    hits = lc.similarity_search_with_score_by_vector(qq[0].tolist(), k=K, filter=flt(b), fetch_k=fetch_k)
                    return np.asarray([[int(doc.id) for doc, _ in hits]], dtype=np.int64).reshape(1, -1)

                rows, ms = per_query(search, q)
                add("langchain_faiss_flat", f"fetch_k={fetch_k}", s, rows, ms)


def table(out: dict) -> str:
    sels = list(BUCKETS)
    lines = [f"# Filtered search: recall@10 / ms per query / fewest results ({out['set']}, n={out['n']}, "
             f"{out['queries']} queries, policy calibrated on {out['calibration_queries']} held-out queries, target {out['target_recall']})",
             "", f"Command: `{out['command']}`; load {out['machine']['load_avg_at_start']} -> {out['machine'].get('load_avg_at_end')}, "
             f"{out['machine']['cpus']} cores, one search thread.", "",
             "| system | mode | " + " | ".join(sels) + " |", "|---|---|" + "---|" * len(sels)]
    groups: dict[tuple[str, str], dict[str, dict]] = {}
    for r in out["rows"]:
        groups.setdefault((r["system"], r["mode"]), {})[r["selectivity"]] = r
    for (system, mode), cells in groups.items():
        vals = []
        for s in sels:
            c = cells.get(s)
            vals.append("" if c is None else f"{c['recall@10']:.3f} / {c['ms_per_query']:.2f} ms / {c['min_results']}")
        lines.append(f"| {system} | {mode} | " + " | ".join(vals) + " |")
    lines += ["", "Ratios of ms/query, calibrated ours over: the same store without a policy; raw faiss (same index); "
              "LangChain FAISS at fetch_k=2000:", "", "| system | vs | " + " | ".join(sels) + " |", "|---|---|" + "---|" * len(sels)]
    for system in dict.fromkeys(r["system"] for r in out["rows"]):
        cal = groups.get((system, "calibrated"))
        if not cal:
            continue
        for label, other in (("no policy", groups.get((system, "default"))), ("raw faiss", groups.get((f"raw_{system}", "default"))),
                             ("LangChain fetch_k=2000", groups.get(("langchain_faiss_flat", "fetch_k=2000")))):
            if other:
                lines.append(f"| {system} | {label} | " + " | ".join(
                    f"{cal[s]['ms_per_query'] / other[s]['ms_per_query']:.2f}" if s in cal and s in other and other[s]["ms_per_query"] else ""
                    for s in sels) + " |")
    lines += ["", "Notes: the FAISS store answers a filter keeping <= max(256, 5 % of rows) with an exact numpy scan "
              "(its `exact_below` rule) whatever the knob, so a FAISS band with a knob at 1 % / 0.1 % is answered "
              "exactly; Redis's `default` is RediSearch's own hybrid policy choice (ad-hoc brute force or batches); "
              "Milvus runs at Bounded consistency after `flush`.", "", "Calibrated settings (selectivity band -> setting):", ""]
    for name, pol in out["policies"].items():
        bands = ", ".join(f"{b['min_selectivity']:g}: " + ("exact" if b["setting"]["exact"] else
                          json.dumps({k: v for k, v in b["setting"].items() if v not in (None, False)})) for b in pol["bands"])
        lines.append(f"- {name}: {bands} (calibration {pol['calibration_seconds']} s)")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
