"""How far can a ranking of systems made with synthetic queries be trusted? Measured on SciFact.

The same runs (all-MiniLM-L6-v2 at 384/128/64 d, the model2vec static distill of it at 256/64 d, BM25,
and the hybrids MiniLM+BM25 and static+BM25: 9 runs) are compared twice on the FULL SciFact corpus
(5,183 abstracts; no subset, so the human-label numbers are SciFact's own):

1. under the human labels (the 300 test queries, ``qrels/test.tsv``);
2. under synthetic labels made from the corpus alone (:func:`~langchain_embcompare.evaluation.synthetic.cloze_dataset`,
   ``--n-queries`` inverse-cloze known-item queries per seed; the queried sentence is taken out of its
   document, so the indexed corpus differs from the human one in those documents only).

For each seed: Kendall's tau between the two rankings of runs by nDCG@10, and the agreement of the
significant pairwise decisions (paired t-test, Holm over the 36 pairs, alpha 0.05)
(:func:`~langchain_embcompare.evaluation.trust.trust_summary`). Writes
``benchmarks/results/synthetic_scifact.json`` / ``.txt`` and ships the first seed's summary (plus the
spread over seeds) in the package as ``langchain_embcompare/data/trust_scifact.json``, which every report
on synthetic labels shows.

Run: ``.venv/bin/python benchmarks/bench_synthetic.py`` (``--seeds 0 1 2``; embeddings are cached on
disk, EMBCOMPARE_CACHE: the first MiniLM encode of SciFact takes 10-15 min on 2 cores, later runs
re-encode only the documents a cloze draw changed).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from langchain_embcompare.evaluation.compare import RunSpec, compare, lexical_specs  # noqa: E402
from langchain_embcompare.evaluation.datasets import load_beir  # noqa: E402
from langchain_embcompare.evaluation.synthetic import cloze_dataset  # noqa: E402
from langchain_embcompare.evaluation.trust import TRUST_FILE, per_query_scores, trust_summary  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SCIFACT = Path(os.environ.get("SCIFACT_DIR", "/work/shared/data/beir/scifact"))


def run_specs(static_only: bool = False) -> list[RunSpec]:
    """9 runs (MiniLM 384/128/64, static 256/64, BM25, two hybrids) or, ``static_only``, 10 runs without
    MiniLM (static 256/128/64/32, BM25 at three settings, three hybrids) for a machine that cannot encode
    SciFact with MiniLM in time."""
    if static_only:
        dense = [RunSpec(model="static-minilm", dim=d, name=f"static@{d or 256}") for d in (None, 128, 64, 32)]
        hybrids = [s for s in lexical_specs(dense[:3]) if s.retriever == "hybrid"]
        # close competitors, where a label set must resolve small differences: BM25 at Anserini's
        # parameters (k1 0.9, b 0.4) and with weak length normalisation (b 0.2)
        hybrids += [
            RunSpec(retriever="bm25", name="bm25(k1=0.9,b=0.4)", bm25_k1=0.9, bm25_b=0.4),
            RunSpec(retriever="bm25", name="bm25(b=0.2)", bm25_b=0.2),
        ]
    else:
        dense = [
            RunSpec(model="all-MiniLM-L6-v2", dim=None, name="minilm@384"),
            RunSpec(model="all-MiniLM-L6-v2", dim=128, name="minilm@128"),
            RunSpec(model="all-MiniLM-L6-v2", dim=64, name="minilm@64"),
            RunSpec(model="static-minilm", dim=None, name="static@256"),
            RunSpec(model="static-minilm", dim=64, name="static@64"),
        ]
        hybrids = [s for s in lexical_specs([dense[0], dense[3]]) if s.retriever == "hybrid"]
    return dense + [RunSpec(retriever="bm25", name="bm25")] + hybrids


def _compare(specs, ds, stage):
    return compare(specs, ds, latency_queries=0, throughput_texts=16, on_stage=stage)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dataset", type=Path, default=SCIFACT)
    ap.add_argument("--n-queries", type=int, default=300, help="cloze queries per seed (SciFact has 300 human test queries)")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "synthetic_scifact")
    ap.add_argument("--metric", default="ndcg@10")
    ap.add_argument("--static-only", action="store_true", help="8 runs without MiniLM (see run_specs)")
    args = ap.parse_args()
    t0 = time.perf_counter()
    stage = lambda s: print(f"[{time.perf_counter() - t0:6.0f}s] {s}", flush=True)  # noqa: E731
    human_ds = load_beir(args.dataset)
    specs = run_specs(args.static_only)
    human = _compare(specs, human_ds, stage)
    human_scores = per_query_scores(human.runs_raw, human_ds.qrels, args.metric)
    out: dict = {
        "command": f"benchmarks/bench_synthetic.py{' --static-only' if args.static_only else ''} --n-queries {args.n_queries} --seeds {' '.join(map(str, args.seeds))}",
        "dataset": f"SciFact (BEIR, test split: {len(human_ds.queries)} human-labelled queries, {len(human_ds.corpus)} documents, full corpus)",
        "metric": args.metric,
        "runs": [s.label() for s in specs],
        "human": {n: r.quality for n, r in human.runs.items()},
        "cloze": [],
    }
    lines = [human.table_text()]
    for seed in args.seeds:
        syn = cloze_dataset(human_ds, args.n_queries, seed=seed)
        res = _compare(specs, syn, stage)
        summary = trust_summary(human_scores, per_query_scores(res.runs_raw, syn.qrels, args.metric), metric=args.metric)
        summary.update({"seed": seed, "manifest": syn.label_provenance, "synthetic": {n: r.quality for n, r in res.runs.items()}})
        out["cloze"].append(summary)
        lines.append(res.table_text())
        lines.append(
            f"seed {seed}: Kendall tau {summary['kendall_tau']:.3f} (p {summary['tau_p_value']:.3g}); decisions: human "
            f"{summary['human_decisions']}, synthetic {summary['synthetic_decisions']}, agreeing {summary['agreeing_decisions']} "
            f"of {summary['decisions_either']} ({summary['decision_agreement']}); contradictions {summary['contradictions']}"
        )
        print(lines[-1], flush=True)
    out["seconds"] = round(time.perf_counter() - t0, 1)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(out, indent=2, default=str), encoding="utf-8")
    args.out.with_suffix(".txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    first = out["cloze"][0]
    taus = [c["kendall_tau"] for c in out["cloze"]]
    agrees = [c["decision_agreement"] for c in out["cloze"] if c["decision_agreement"] is not None]
    shipped = {
        "dataset": out["dataset"],
        "source": f"benchmarks/bench_synthetic.py{' --static-only' if args.static_only else ''} -> "
        f"{args.out.with_suffix('.json').relative_to(ROOT) if args.out.is_relative_to(ROOT) else args.out.with_suffix('.json')}",
        "methods": {
            "cloze": {
                **{k: first[k] for k in ("runs", "metric", "kendall_tau", "tau_p_value", "pairs", "human_decisions",
                                         "synthetic_decisions", "decisions_either", "agreeing_decisions",
                                         "decision_agreement", "human_decisions_reproduced", "contradictions",
                                         "alpha", "test", "correction", "seed")},
                "n_queries": first["manifest"]["n_queries"],
                "seeds": args.seeds,
                "kendall_tau_over_seeds": [min(taus), max(taus)],
                "decision_agreement_over_seeds": [min(agrees), max(agrees)] if agrees else None,
            }
        },
    }
    (ROOT / "langchain_embcompare" / "data" / TRUST_FILE).write_text(json.dumps(shipped, indent=2), encoding="utf-8")
    print(f"wrote {args.out.with_suffix('.json')} and langchain_embcompare/data/{TRUST_FILE} in {out['seconds']} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
