"""The shrink advisor on SciFact with all-MiniLM-L6-v2: which setting, how fast, how many encodes.

Writes ``benchmarks/results/advise_scifact.json``: the advisor's JSON (baseline, winner, front,
candidates, margin, n_queries, detectable_margin, drill-down) plus a ``bench`` section:

- ``seconds``: the advisor's wall time (this run; the machine's load average is recorded beside it);
- ``sweep_size``: settings planned, measured, skipped by the refinement stop, and the brute-force grid
  (every dim x precision x rotation x index / retriever variant) the smart sweep replaces;
- ``encodes``: batches and texts sent to the model through the vector cache, counted by wrapping
  ``langchain_embcompare.matryoshka.encode_texts``: the corpus once per model at most (zero batches when
  the disk cache already held the vectors), never once per setting;
- ``brute_force``: the side-by-side ratio: a brute-force sweep re-encodes the corpus for every setting
  (the raw library way: sentence-transformers ``encode`` per configuration), estimated as settings x
  the measured corpus encode time, against the advisor's measured time;
- ``quarter_memory``: the best setting at <= 25 % of the float32 index memory, its test, and whether it
  is non-inferior at the margin.

Run: ``.venv/bin/python benchmarks/bench_advise.py`` (``--max-queries 100`` for a quicker pass;
``--cache-dir`` to use a fresh vector cache so the encode is measured). Encoding the 5183 SciFact
abstracts with MiniLM costs ~10-15 min on 2 idle CPU cores; the vectors are cached on disk.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import langchain_embcompare.matryoshka as matryoshka_mod
from langchain_embcompare.evaluation.advise import advise
from langchain_embcompare.evaluation.datasets import load_beir
from langchain_embcompare.matryoshka import MatryoshkaEmbeddings

ROOT = Path(__file__).resolve().parents[1]
SCIFACT = Path(os.environ.get("SCIFACT_DIR", "/work/shared/data/beir/scifact"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=SCIFACT)
    ap.add_argument("--model", default="all-MiniLM-L6-v2")
    ap.add_argument("--margin", type=float, default=0.01)
    ap.add_argument("--max-queries", type=int, default=None)
    ap.add_argument("--cache-dir", default=None, help="vector cache folder (default: the package's disk cache)")
    ap.add_argument("--time-budget", type=float, default=None)
    ap.add_argument("--latency-queries", type=int, default=10)
    ap.add_argument("--state", type=Path, default=None, help="resumable sweep state (JSON)")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "advise_scifact.json")
    args = ap.parse_args()

    ds = load_beir(args.data, max_queries=args.max_queries)
    corpus = set(ds.texts)
    calls: list[dict] = []
    real = matryoshka_mod.encode_texts

    def counting(embeddings, texts, prompt=None):
        t0 = time.perf_counter()
        out = real(embeddings, texts, prompt)
        calls.append({"texts": len(texts), "corpus_texts": sum(1 for t in texts if t in corpus), "seconds": time.perf_counter() - t0})
        return out

    matryoshka_mod.encode_texts = counting
    kw = {} if args.cache_dir is None else {"cache_dir": args.cache_dir}
    model = MatryoshkaEmbeddings(args.model, **kw)
    t0 = time.perf_counter()
    res = advise(
        ds, models=[model], margin=args.margin, budgets=("memory", "latency", "cost"), latency_queries=args.latency_queries,
        throughput_texts=32, time_budget_s=args.time_budget, state=args.state,
        on_stage=lambda s: print(f"{time.perf_counter() - t0:7.1f}s {s}", flush=True),
    )
    seconds = time.perf_counter() - t0
    d = res.to_dict()

    # the brute-force grid the smart sweep replaces
    from langchain_embcompare.evaluation.advise import default_dims

    nat = res.sweep["models"][model.model_name]["native_dim"]
    dims = default_dims(nat, 32)
    shapes = sum(3 if d_ % 8 == 0 else 2 for d_ in dims) + sum(3 if d_ % 8 == 0 else 2 for d_ in dims if d_ != nat)
    grid = shapes * (1 + 2 + 2) + 3  # each shape x (flat, hnsw, ivf, cluster adaptive, cluster nprobe 2) + funnels
    info = res.sweep["models"][model.model_name]
    tps = (info.get("throughput") or {}).get("texts_per_second")
    corpus_encode_s = len(ds.texts) / tps if tps else None
    base_b = res.baseline.index_bytes
    quarter = [c for c in res.candidates if c.index_bytes is not None and c.index_bytes <= 0.25 * base_b and c.test is not None]
    q_ni = [c for c in quarter if c.test.non_inferior]
    best_q = min(q_ni, key=lambda c: c.index_bytes) if q_ni else (min(quarter, key=lambda c: c.test.p_adjusted) if quarter else None)
    d["bench"] = {
        "seconds": seconds,
        "load_average_1m": os.getloadavg()[0],
        "cpu_count": os.cpu_count(),
        "note": "2-core machine shared with other jobs (load average above): latencies and throughput are inflated.",
        "sweep_size": {
            "planned": res.sweep["n_planned"], "measured": res.sweep["n_measured"],
            "not_measured_by_refinement_stop": res.sweep["n_not_measured_by_refinement_stop"],
            "skipped": len(res.sweep["skipped"]), "brute_force_grid": grid,
        },
        "encodes": {
            "batches": len(calls), "texts": sum(c["texts"] for c in calls),
            "corpus_texts": sum(c["corpus_texts"] for c in calls), "n_documents": len(ds.texts),
            "corpus_passes": sum(c["corpus_texts"] for c in calls) / len(ds.texts),
            "seconds": sum(c["seconds"] for c in calls),
        },
        "brute_force": {
            "corpus_encode_s_estimate": corpus_encode_s,
            "estimated_seconds": None if corpus_encode_s is None else grid * corpus_encode_s + seconds,
            "ratio_vs_advisor": None if corpus_encode_s is None else (grid * corpus_encode_s + seconds) / seconds,
            "how": "brute force = every grid setting re-encodes the corpus (len(corpus) / measured texts_per_second) "
                   "plus this run's measuring time; ours = this run, measured",
        },
        "quarter_memory": None if best_q is None else {
            "name": best_q.name, "index_bytes": best_q.index_bytes, "memory_ratio": best_q.index_bytes / base_b,
            "ndcg@10": best_q.quality["ndcg@10"], **best_q.test.to_dict(),
        },
        "command": "python benchmarks/bench_advise.py" + (f" --max-queries {args.max_queries}" if args.max_queries else ""),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(d, indent=2))
    args.out.with_suffix(".txt").write_text(res.summary_text() + "\n\n" + (res.winner_toml() or "") + "\n")
    print(res.summary_text())
    print(json.dumps(d["bench"], indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
