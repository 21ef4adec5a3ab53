"""Loading precomputed vectors: Parquet -> FAISS store, ours against a plain pyarrow + faiss script.

Writes a Parquet table of N unit vectors (default 1,000,000 x 384 float32, ``_id`` + a
``fixed_size_list<float>`` column, 100k-row groups), then runs each side in its own fresh subprocess
(so peak RSS is that side's alone):

* ``raw``: ``pyarrow.parquet.read_table`` -> ids ``to_pylist`` -> ``combine_chunks().flatten().to_numpy()``
  -> ``faiss.IndexFlatIP.add``: what a user would write by hand;
* ``ours``: ``langchain_embcompare.precomputed.faiss_store_from_vectors(path)``: validated load (ids,
  dimension, NaN, unit length) into a LangChain ``FaissVectorStore`` (flat, cosine);
* ``ours_add_vectors`` (``--add-vectors``): ``load_vectors`` + ``FaissVectorStore.add_vectors`` with one
  ``Document`` per row, the generic path, for contrast.

Each side reports wall seconds (from before the read to after the add; imports excluded) and peak RSS
(``ru_maxrss``, imports included, and the RSS after imports). Both sides then search the same 5 query
vectors and must return the same top-10 ids. Result: benchmarks/results/vectors.json with the ratios
(goal: time <= 1.2x, peak memory <= 1.5x).

    python benchmarks/bench_vectors.py                 # 1M x 384
    python benchmarks/bench_vectors.py --rows 100000 --add-vectors
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def _rss_kib() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def write_table(path: Path, rows: int, dim: int, seed: int = 0, group: int = 100_000) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    schema = pa.schema([("_id", pa.string()), ("emb", pa.list_(pa.float32(), dim))])
    with pq.ParquetWriter(path, schema) as writer:
        for start in range(0, rows, group):
            n = min(group, rows - start)
            x = rng.standard_normal((n, dim), dtype=np.float32)
            x /= np.linalg.norm(x, axis=1, keepdims=True)
            ids = pa.array([f"doc{i:08d}" for i in range(start, start + n)])
            writer.write_table(pa.table({"_id": ids, "emb": pa.FixedSizeListArray.from_arrays(pa.array(x.ravel()), dim)}, schema=schema))


def _queries(dim: int) -> np.ndarray:
    q = np.random.default_rng(123).standard_normal((5, dim), dtype=np.float32)
    return q / np.linalg.norm(q, axis=1, keepdims=True)


def side(kind: str, path: str, dim: int) -> dict:
    if kind == "raw":
        import faiss
        import pyarrow.parquet as pq

        base = _rss_kib()
        t0 = time.perf_counter()
        table = pq.read_table(path, columns=["_id", "emb"])
        ids = table.column("_id").to_pylist()
        x = table.column("emb").combine_chunks().flatten().to_numpy().reshape(-1, dim)
        index = faiss.IndexFlatIP(dim)
        index.add(x)
        seconds = time.perf_counter() - t0
        _, rows = index.search(_queries(dim), 10)
        top = [[ids[r] for r in row] for row in rows]
        n = index.ntotal
    else:
        sys.path.insert(0, str(ROOT))
        from langchain_embcompare.precomputed import faiss_store_from_vectors, load_vectors
        from langchain_embcompare.stores.faiss import FaissVectorStore

        base = _rss_kib()
        t0 = time.perf_counter()
        if kind == "ours":
            store = faiss_store_from_vectors(path, "emb")
        else:
            from langchain_core.documents import Document

            from langchain_embcompare.precomputed import PrecomputedEmbeddings

            table = load_vectors(path, vector_columns=["emb"])
            m = table.column("emb")
            store = FaissVectorStore(PrecomputedEmbeddings(m, document_ids=table.ids, model_id="emb", validate=False))
            store.upsert_vectors(m, [Document(page_content="", metadata={"doc_id": i}, id=i) for i in table.ids])
        seconds = time.perf_counter() - t0
        top = [[d.id for d, _ in hits] for hits in store.search_vectors(_queries(dim), k=10)]
        n = len(store)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    return {"side": kind, "seconds": seconds, "peak_rss_bytes": peak * 1024, "rss_after_imports_bytes": base * 1024, "rows": n, "top10": top}


def run_side(kind: str, path: Path, dim: int) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--side", kind, "--path", str(path), "--dim", str(dim)],
        check=True, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "2")},
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--repeats", type=int, default=1, help="runs per side (each in a fresh process); the best time is kept")
    ap.add_argument("--add-vectors", action="store_true", help="also time the generic add_vectors path (slow at 1M)")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "vectors.json")
    ap.add_argument("--side", help=argparse.SUPPRESS)
    ap.add_argument("--path", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.side:
        print(json.dumps(side(args.side, args.path, args.dim)))
        return

    with tempfile.TemporaryDirectory(prefix="bench-vectors-") as tmp:
        path = Path(tmp) / "vectors.parquet"
        t0 = time.perf_counter()
        write_table(path, args.rows, args.dim)
        print(f"wrote {args.rows} x {args.dim} to {path} ({path.stat().st_size / 2**20:.0f} MiB) in {time.perf_counter() - t0:.1f}s", flush=True)
        kinds = ["raw", "ours"] + (["ours_add_vectors"] if args.add_vectors else [])
        results: dict[str, dict] = {}
        for _ in range(args.repeats):
            for kind in kinds:  # interleaved, so machine load drifts hit both sides alike
                r = run_side(kind, path, args.dim)
                print(f"{kind:>17}: {r['seconds']:.2f}s, peak RSS {r['peak_rss_bytes'] / 2**30:.2f} GiB", flush=True)
                if kind not in results or r["seconds"] < results[kind]["seconds"]:
                    peak = max(r["peak_rss_bytes"], results.get(kind, {}).get("peak_rss_bytes", 0))
                    results[kind] = {**r, "peak_rss_bytes": peak}
    same = all(results[k]["top10"] == results["raw"]["top10"] for k in results)
    raw, ours = results["raw"], results["ours"]
    report = {
        "benchmark": "precomputed vectors: Parquet -> FAISS store",
        "rows": args.rows,
        "dim": args.dim,
        "repeats": args.repeats,
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs visible, shared with other jobs (loaded)",
        "sides": {k: {kk: vv for kk, vv in v.items() if kk != "top10"} for k, v in results.items()},
        "same_top10": same,
        "time_ratio": ours["seconds"] / raw["seconds"],
        "peak_memory_ratio": ours["peak_rss_bytes"] / raw["peak_rss_bytes"],
        "goal": {"time_ratio": 1.2, "peak_memory_ratio": 1.5},
    }
    if "ours_add_vectors" in results:
        gen = results["ours_add_vectors"]
        report["add_vectors_time_ratio"] = gen["seconds"] / raw["seconds"]
        report["add_vectors_peak_memory_ratio"] = gen["peak_rss_bytes"] / raw["peak_rss_bytes"]
    report["meets_goal"] = report["time_ratio"] <= 1.2 and report["peak_memory_ratio"] <= 1.5 and same
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    print(json.dumps({k: v for k, v in report.items() if k != "sides"}, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
