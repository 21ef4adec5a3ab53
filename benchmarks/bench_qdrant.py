"""Qdrant store check on SciFact with all-MiniLM-L6-v2 -> benchmarks/results/qdrant.json.

Quality only (the proof that a fourth store plugs in through the contract and the registry alone): runs
``embcompare eval DATA --store qdrant`` (qdrant-client local mode, in memory: an exact scan) and
``embcompare eval DATA --store faiss`` (FAISS flat), each in its own process, exactly as a user would,
and records nDCG@10 / recall@100 / MRR@10 of both, their difference and the command lines. The two must
be equal: both searches are exact on the same vectors (MiniLM on SciFact: 0.6451, its MTEB score).
Timings are recorded as the CLI reports them, for information only (local mode scans in Python; a
Qdrant server is what to time).

Usage: ``python benchmarks/bench_qdrant.py [--data PATH] [--out PATH]``
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
from importlib.metadata import version
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCIFACT = Path("/work/shared/data/beir/scifact")
METRICS = ("ndcg@10", "recall@100", "mrr@10")


def run_cli(data: Path, store: str, out: Path) -> tuple[list[str], dict]:
    """``embcompare eval DATA --store STORE --out OUT`` in a fresh process; its result file, parsed."""
    cmd = [str(Path(sys.executable).parent / "embcompare"), "eval", str(data), "--store", store, "--out", str(out)]
    subprocess.run(cmd, check=True, cwd=out.parent, stdout=subprocess.DEVNULL)
    return cmd, json.loads(out.read_text())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=SCIFACT)
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "qdrant.json")
    args = ap.parse_args()
    runs = {}
    with tempfile.TemporaryDirectory() as tmp:
        for store in ("qdrant", "faiss"):
            cmd, res = run_cli(args.data, store, Path(tmp) / f"{store}.json")
            runs[store] = {
                "command": " ".join(["embcompare", *cmd[1:-2]]),
                **{m: res[m] for m in METRICS},
                "n_docs": res["n_docs"], "n_queries": res["n_queries"],
                "per_query_ms": res["timings"]["per_query_ms"], "index_bytes": res.get("index_bytes"),
            }
    result = {
        "what": "SciFact test, all-MiniLM-L6-v2 (384-d, cosine), exact search: Qdrant local mode vs FAISS flat, via the CLI",
        "data": str(args.data),
        "runs": runs,
        "diff": {m: runs["qdrant"][m] - runs["faiss"][m] for m in METRICS},
        "equal": all(runs["qdrant"][m] == runs["faiss"][m] for m in METRICS),
        "versions": {"qdrant-client": version("qdrant-client"), "faiss-cpu": version("faiss-cpu"), "python": platform.python_version()},
    }
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
