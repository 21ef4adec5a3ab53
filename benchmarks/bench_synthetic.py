"""How far can a ranking of systems made with synthetic queries be trusted? Measured on SciFact.

The same runs (all-MiniLM-L6-v2 at 384/128/64 d, the model2vec static distill of it at 256/64 d, BM25,
and the hybrids MiniLM+BM25 and static+BM25: 8 runs) are compared twice on the FULL SciFact corpus
(5,183 abstracts; no subset, so the human-label numbers are SciFact's own):

1. under the human labels (the 300 test queries, ``qrels/test.tsv``);
2. under synthetic labels made from the corpus alone (:func:`~langchain_embcompare.evaluation.synthetic.cloze_dataset`,
   ``--n-queries`` inverse-cloze known-item queries per seed; the queried sentence is taken out of its
   document, so the indexed corpus differs from the human one in those documents only);
3. with ``--generator MODEL`` (a chat model spec, :func:`~langchain_embcompare.rerank.chat.make_chat_model`),
   also under LLM-written questions (:func:`~langchain_embcompare.evaluation.synthetic.llm_dataset`,
   ``--llm-queries`` passages of the first seed's draw, ``--llm-max-calls`` budget; replies cached in
   ``$EMBCOMPARE_CACHE/llm/generator.jsonl``); ``--llm-note`` stores a sentence about the generator
   beside the numbers (e.g. that a 135M local model exercises the plumbing, not the method's quality).

For each seed: Kendall's tau between the two rankings of runs by nDCG@10, and the agreement of the
significant pairwise decisions (paired t-test, Holm over the 28 pairs, alpha 0.05)
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
import sys
import time
from pathlib import Path

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from langchain_embcompare.evaluation.compare import RunSpec, compare, lexical_specs  # noqa: E402
from langchain_embcompare.evaluation.datasets import load_beir  # noqa: E402
from langchain_embcompare.evaluation.synthetic import cloze_dataset, llm_cache_path, llm_dataset  # noqa: E402
from langchain_embcompare.evaluation.trust import TRUST_FILE, per_query_scores, trust_summary  # noqa: E402
from langchain_embcompare.rerank.chat import make_chat_model  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SCIFACT = Path(os.environ.get("SCIFACT_DIR", "/work/shared/data/beir/scifact"))


def run_specs(static_only: bool = False) -> list[RunSpec]:
    """8 runs (MiniLM 384/128/64, static 256/64, BM25, two hybrids) or, ``static_only``, 10 runs without
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
    res = compare(specs, ds, latency_queries=0, throughput_texts=16, on_stage=stage)
    # this benchmark re-measures trust: its tables do not cite the shipped measurement it replaces
    if res.labels:
        res.labels.pop("measured_trust", None)
    return res


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dataset", type=Path, default=SCIFACT)
    ap.add_argument("--n-queries", type=int, default=300, help="cloze queries per seed (SciFact has 300 human test queries)")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "synthetic_scifact")
    ap.add_argument("--metric", default="ndcg@10")
    ap.add_argument("--static-only", action="store_true", help="10 runs without MiniLM (see run_specs)")
    ap.add_argument("--generator", default=None, help="chat model spec for LLM-written queries, e.g. "
                    "'openai-compatible:http://127.0.0.1:8080/v1#smollm2'; none: cloze only")
    ap.add_argument("--llm-queries", type=int, default=100, help="passages the generator writes a question for")
    ap.add_argument("--llm-max-calls", type=int, default=None, help="call budget of the generator (None: one per passage)")
    ap.add_argument("--llm-concurrency", type=int, default=2, help="parallel generator calls (a local server answers one at a time)")
    ap.add_argument("--llm-note", default=None, help="a sentence about the generator stored with its trust numbers")
    ap.add_argument("--no-cloze", action="store_true", help="measure only the LLM-written queries (with --generator; "
                    "use another --out): the shipped cloze entry is kept")
    args = ap.parse_args()
    if args.no_cloze and not args.generator:
        ap.error("--no-cloze measures only LLM-written queries: pass --generator MODEL")
    t0 = time.perf_counter()
    stage = lambda s: print(f"[{time.perf_counter() - t0:6.0f}s] {s}", flush=True)  # noqa: E731
    human_ds = load_beir(args.dataset)
    specs = run_specs(args.static_only)
    human = _compare(specs, human_ds, stage)
    human_scores = per_query_scores(human.runs_raw, human_ds.qrels, args.metric)
    command = " ".join(["benchmarks/bench_synthetic.py", *(repr(a) if " " in a else a for a in sys.argv[1:])])
    out: dict = {
        "command": command,
        "dataset": f"SciFact (BEIR, test split: {len(human_ds.queries)} human-labelled queries, {len(human_ds.corpus)} documents, full corpus)",
        "metric": args.metric,
        "runs": [s.label() for s in specs],
        "human": {n: r.quality for n, r in human.runs.items()},
    }
    lines = [human.table_text()]
    if not args.no_cloze:
        out["cloze"] = []
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
    if args.generator:
        llm = make_chat_model(args.generator, role="generator", max_tokens=96)
        stage(f"LLM-written queries: {args.llm_queries} passages, generator {args.generator}")
        syn = llm_dataset(
            human_ds, llm, args.llm_queries, seed=args.seeds[0], max_calls=args.llm_max_calls,
            cache=llm_cache_path("generator"), max_concurrency=args.llm_concurrency,
        )
        res = _compare(specs, syn, stage)
        summary = trust_summary(human_scores, per_query_scores(res.runs_raw, syn.qrels, args.metric), metric=args.metric)
        summary.update({"seed": args.seeds[0], "generator_spec": args.generator, "note": args.llm_note,
                        "manifest": syn.label_provenance, "queries": syn.queries,
                        "synthetic": {n: r.quality for n, r in res.runs.items()}})
        out["llm"] = summary
        f = syn.label_provenance["filters"]
        lines.append(res.table_text())
        lines.append(
            f"llm ({args.generator}): {f['asked']} passages asked, {syn.label_provenance['n_queries']} questions kept; dropped "
            f"invalid {f['invalid']}, leaked {f['leaked']}, echoed {f['echoed']}, duplicates {f['duplicates']}, failed {f['failed']}, not sent {f['not_sent']}; "
            f"Kendall tau {summary['kendall_tau']:.3f} (p {summary['tau_p_value']:.3g}); decisions: human {summary['human_decisions']}, "
            f"synthetic {summary['synthetic_decisions']}, agreeing {summary['agreeing_decisions']} of {summary['decisions_either']} "
            f"({summary['decision_agreement']}); contradictions {summary['contradictions']}"
        )
        print(lines[-1], flush=True)
    out["seconds"] = round(time.perf_counter() - t0, 1)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    json_path = args.out.with_suffix(".json")
    json_path.write_text(json.dumps(out, indent=2, default=str), encoding="utf-8")
    args.out.with_suffix(".txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    source = f"{command} -> {json_path.relative_to(ROOT) if json_path.is_relative_to(ROOT) else json_path}"
    keys = ("runs", "metric", "kendall_tau", "tau_p_value", "pairs", "human_decisions", "synthetic_decisions",
            "decisions_either", "agreeing_decisions", "decision_agreement", "human_decisions_reproduced",
            "contradictions", "alpha", "test", "correction", "seed")
    methods: dict = {}
    if "cloze" in out:
        first = out["cloze"][0]
        taus = [c["kendall_tau"] for c in out["cloze"]]
        agrees = [c["decision_agreement"] for c in out["cloze"] if c["decision_agreement"] is not None]
        methods["cloze"] = {
            **{k: first[k] for k in keys},
            "n_queries": first["manifest"]["n_queries"],
            "seeds": args.seeds,
            "kendall_tau_over_seeds": [min(taus), max(taus)],
            "decision_agreement_over_seeds": [min(agrees), max(agrees)] if agrees else None,
            "source": source,
        }
    if "llm" in out:
        manifest = out["llm"]["manifest"]
        methods["llm"] = {
            **{k: out["llm"][k] for k in keys},
            "n_queries": manifest["n_queries"],
            "requested": manifest["requested"],
            "filters": manifest["filters"],
            "generator": manifest["generator"]["model"],
            "note": args.llm_note,
            "source": source,
        }
    # each method's entry carries its own source: a run measuring one method keeps the other's entry
    shipped_path = ROOT / "langchain_embcompare" / "data" / TRUST_FILE
    old = json.loads(shipped_path.read_text(encoding="utf-8")) if shipped_path.exists() else {}
    same = old.get("dataset") == out["dataset"]
    kept = {m: {"source": old.get("source"), **e} for m, e in (old.get("methods") or {}).items()} if same else {}
    shipped_path.write_text(json.dumps({"dataset": out["dataset"], "methods": {**kept, **methods}}, indent=2), encoding="utf-8")
    print(f"wrote {json_path} and langchain_embcompare/data/{TRUST_FILE} ({sorted(methods)}) in {out['seconds']} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
