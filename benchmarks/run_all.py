"""Run every offline benchmark in turn, then rebuild the README's benchmark table from the results.

``make benchmarks`` runs this. The full set takes well over an hour on 2 cores (SciFact encodes, the
1M-vector funnel and cluster sweeps); ``--only NAME ...`` runs a subset, ``--list`` names them. Each
script writes ``benchmarks/results/<name>.json``; ``make_table.py`` turns those into the README table.
The two ``real_llm_*`` scripts need a local llama.cpp server and are not run here.

SciFact is read from ``$SCIFACT_DIR`` or ``../shared/data/beir/scifact`` beside the repo.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
EXCLUDE = {"run_all.py", "make_table.py", "real_llm_chains.py", "real_llm_rerank.py"}


def scripts() -> list[Path]:
    return sorted(p for p in HERE.glob("bench_*.py") if p.name not in EXCLUDE)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", nargs="+", default=None, help="benchmark names, e.g. bench_redis bench_milvus")
    ap.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    args = ap.parse_args()
    todo = scripts()
    if args.list:
        print("\n".join(p.stem for p in todo))
        return 0
    if args.only:
        wanted = {n.removesuffix(".py") for n in args.only}
        unknown = wanted - {p.stem for p in todo}
        if unknown:
            print(f"unknown benchmarks {sorted(unknown)}; known: {[p.stem for p in todo]}", file=sys.stderr)
            return 2
        todo = [p for p in todo if p.stem in wanted]
    failed = []
    for path in todo:
        start = time.perf_counter()
        print(f"== {path.stem}", flush=True)
        rc = subprocess.call([sys.executable, str(path)])
        print(f"== {path.stem}: rc {rc} in {time.perf_counter() - start:.0f} s", flush=True)
        if rc:
            failed.append(path.stem)
    rc = subprocess.call([sys.executable, str(HERE / "make_table.py")])
    if failed or rc:
        print(f"failed: {failed or ['make_table']}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
