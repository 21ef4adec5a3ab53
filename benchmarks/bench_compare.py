"""SciFact A/B comparison: four offline models, each at full dimension and 128-d.

Writes ``benchmarks/results/compare_scifact.json`` (the ComparisonResult plus two checks),
``compare_scifact.html`` (the report) and ``compare_scifact.txt`` (the table). The checks:

- ``eval_check``: every run's nDCG@10 against ``embcompare eval --model M [--dim D]`` run as a separate
  process (the real CLI), must agree within 0.001;
- ``ranx_check``: every raw p-value (paired t-test vs the baseline) and every mean against ranx's own
  ``compare`` on the same runs.

Run: ``.venv/bin/python benchmarks/bench_compare.py`` (``--max-queries 50`` for a quick pass).
Embeddings are cached on disk (EMBCOMPARE_CACHE), so a second run re-encodes nothing. Encoding the
5183 SciFact abstracts costs, on 2 CPU cores: MiniLM ~10-15 min, int8 ONNX MiniLM ~15-20 min, mpnet
~60 min (12 layers, 384 tokens), model2vec seconds. ``--warm MODEL`` encodes one model's corpus in
chunks that are cached as they finish, so a long encode can be interrupted and resumed.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")


from langchain_embcompare.errors import EmbCompareError  # noqa: E402
from langchain_embcompare.evaluation.compare import RunSpec, compare  # noqa: E402
from langchain_embcompare.evaluation.datasets import load_beir  # noqa: E402
from langchain_embcompare.evaluation.significance import ranx_compare  # noqa: E402
from langchain_embcompare.models import load_embeddings  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SCIFACT = Path(os.environ.get("SCIFACT_DIR", "/work/shared/data/beir/scifact"))
# short run name -> model name the package resolves offline
MODELS = {
    "minilm": "all-MiniLM-L6-v2",
    "mpnet": "all-mpnet-base-v2",
    "minilm-int8-onnx": "all-MiniLM-L6-v2-int8-onnx",
    "static": "static-minilm",
}
ONNX_ALTERNATIVES = ("paraphrase-MiniLM-L3-v2-onnx", "all-MiniLM-L6-v2-int8-onnx")


def _loadable(model: str) -> str | None:
    try:
        load_embeddings(model)
        return None
    except EmbCompareError as exc:
        return str(exc)[:300]


def _cluster_map_figure(model: str, dim: int, texts: list[str], n_clusters: int = 12):
    """The cluster map (retrievers/cluster_map.py) of the corpus at one dimension, KMeans-labelled."""
    from sklearn.cluster import KMeans

    from langchain_embcompare.matryoshka import MatryoshkaEmbeddings
    from langchain_embcompare.retrievers.cluster_map import cluster_map

    vectors = MatryoshkaEmbeddings(model, dim).encode_documents(texts)  # cached by the comparison
    labels = KMeans(n_clusters=n_clusters, n_init=4, random_state=0).fit_predict(vectors)
    return cluster_map(vectors, labels, texts, title=f"SciFact corpus, {model} @ {dim}-d, {n_clusters} KMeans clusters (PCA)")


def _cli_eval(dataset: Path, model: str, dim: int | None, max_queries: int | None) -> dict:
    """``embcompare eval`` for one model and dimension, run as a user runs it; returns its JSON + the command."""
    exe = Path(sys.executable).with_name("embcompare")
    args = ["eval", str(dataset), "--model", model, "--k", "100"]
    args += ["--dim", str(dim)] if dim else []
    args += ["--max-queries", str(max_queries)] if max_queries else []
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "eval.json"
        subprocess.run([str(exe), *args, "--out", str(out)], check=True, stdout=subprocess.DEVNULL)
        result = json.loads(out.read_text())
    result["command"] = " ".join(["embcompare", *args])
    return result


def _warm(model: str, dataset: Path, chunk: int = 256) -> int:
    """Encode the corpus in chunks, each stored in the disk cache as soon as it is done."""
    from langchain_embcompare.matryoshka import MatryoshkaEmbeddings

    texts = load_beir(dataset).texts
    emb = MatryoshkaEmbeddings(model)
    t0 = time.perf_counter()
    for i in range(0, len(texts), chunk):
        emb.encode_documents(texts[i : i + chunk])
        print(f"{model}: {min(i + chunk, len(texts))}/{len(texts)} in {time.perf_counter() - t0:.0f}s", flush=True)
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dataset", type=Path, default=SCIFACT)
    ap.add_argument("--max-queries", type=int, default=None)
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "compare_scifact")
    ap.add_argument("--latency-queries", type=int, default=50)
    ap.add_argument("--throughput-texts", type=int, default=128)
    ap.add_argument("--models", default=",".join(MODELS), help=f"comma-separated subset of {list(MODELS)}")
    ap.add_argument("--warm", default=None, help="only encode the corpus with this model (fills the cache), in chunks")
    args = ap.parse_args()
    if args.warm:
        return _warm(args.warm, args.dataset)

    t_start = time.perf_counter()
    ds = load_beir(args.dataset, max_queries=args.max_queries)
    print(f"{ds.name}: {len(ds.corpus)} documents, {len(ds.queries)} labelled queries", flush=True)

    unavailable = {}
    wanted = [m.strip() for m in args.models.split(",") if m.strip()]
    bad = [m for m in wanted if m not in MODELS]
    if bad:
        ap.error(f"--models: unknown {bad}; choose from {list(MODELS)}")
    if "minilm" not in wanted:
        ap.error("--models must include minilm (the baseline)")
    models = {m: MODELS[m] for m in wanted}
    for short, model in list(models.items()):
        why = _loadable(model)
        if why and short == "minilm-int8-onnx":
            for alt in ONNX_ALTERNATIVES:
                if _loadable(alt) is None:
                    models[short], why = alt, None
                    break
        if why:
            unavailable[model] = why
            del models[short]
            print(f"NOT LOADABLE: {model}: {why}", flush=True)

    specs = []
    for short, model in models.items():
        specs.append(RunSpec(model=model, name=f"{short}@full"))
        specs.append(RunSpec(model=model, dim=128, name=f"{short}@128"))
    probes = [(q, i) for q, i in (("minilm-int8-onnx@full", "minilm@full"), ("static@128", "minilm@128"), ("mpnet@128", "minilm@128"))
              if q.split("@")[0] in models and i.split("@")[0] in models]

    result = compare(
        specs, ds, baseline="minilm@full", k=100, probes=probes, latency_queries=args.latency_queries,
        throughput_texts=args.throughput_texts, on_stage=lambda s: print(f"[{time.perf_counter() - t_start:7.1f}s] {s}", flush=True),
    )
    data = result.to_dict()

    # check 1: each nDCG@10 equals the single-model `embcompare eval` (the real CLI, in its own process)
    eval_check = {}
    for spec in specs:
        single = _cli_eval(args.dataset, spec.model, spec.dim, args.max_queries)
        ours = data["runs"][spec.label()]["ndcg@10"]
        eval_check[spec.label()] = {"compare": ours, "eval": single["ndcg@10"], "abs_diff": abs(ours - single["ndcg@10"]),
                                    "command": single["command"]}
    data["eval_check"] = {"max_abs_diff": max(v["abs_diff"] for v in eval_check.values()), "runs": eval_check}

    # check 2: p-values and means against ranx's compare on the same runs
    names = [s.label() for s in specs]
    report = ranx_compare({n: result.runs_raw[n] for n in names}, ds.qrels, result.metrics, stat_test="student").to_dict()
    p_diff, mean_diff, rows = [], [], {}
    for n in names:
        for m in result.metrics:
            mean_diff.append(abs(report[n]["scores"][m] - data["runs"][n][m]))
            if n != result.baseline:
                ours, theirs = data["runs"][n]["p_value"][m], report[result.baseline]["comparisons"][n][m]
                p_diff.append(abs(ours - theirs))
                rows.setdefault(n, {})[m] = {"ours": ours, "ranx": theirs, "ours_holm": data["runs"][n]["p_adjusted"][m]}
    data["ranx_check"] = {
        "stat_test": "student (ranx) = scipy.stats.ttest_rel (ours)",
        "max_abs_diff_p_value": float(max(p_diff)),
        "max_abs_diff_mean": float(max(mean_diff)),
        "p_values": rows,
    }
    data["unavailable_models"] = unavailable
    data["models_not_run"] = {
        MODELS[m]: "left out with --models" for m in MODELS if m not in wanted
    }
    data["wall_seconds"] = time.perf_counter() - t_start
    data["machine"] = {"cpus": os.cpu_count(), "load_avg_1m_at_end": os.getloadavg()[0]}

    args.out.parent.mkdir(parents=True, exist_ok=True)
    json_path = args.out.with_suffix(".json")
    json_path.write_text(json.dumps(data, indent=2))
    extra = {}
    if "minilm" in models:
        extra["cluster map"] = _cluster_map_figure(models["minilm"], 128, ds.texts)
    from langchain_embcompare.evaluation.report import write_html

    write_html(data, args.out.with_suffix(".html"), extra_figures=extra, title=f"Embedding comparison: SciFact ({len(names)} runs)")
    table = result.table_text(width=220)
    table += (
        f"\neval check: max |nDCG@10(compare) - nDCG@10(eval)| = {data['eval_check']['max_abs_diff']:.2e}\n"
        f"ranx check: max |p(ours) - p(ranx)| = {data['ranx_check']['max_abs_diff_p_value']:.2e}, "
        f"max |mean(ours) - mean(ranx)| = {data['ranx_check']['max_abs_diff_mean']:.2e}\n"
    )
    if unavailable:
        table += "not loadable: " + "; ".join(unavailable) + "\n"
    if data["models_not_run"]:
        table += "not run: " + "; ".join(f"{k} ({v})" for k, v in data["models_not_run"].items()) + "\n"
    args.out.with_suffix(".txt").write_text(table)
    print(table)
    print(f"wrote {json_path}, {args.out.with_suffix('.html')}, {args.out.with_suffix('.txt')}")
    ok = data["eval_check"]["max_abs_diff"] <= 1e-3 and data["ranx_check"]["max_abs_diff_p_value"] <= 1e-6
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
