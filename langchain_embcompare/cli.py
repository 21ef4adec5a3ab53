"""``embcompare``: evaluate, compare, map and demo from the shell (typer + rich)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from langchain_embcompare.stores.registry import DEFAULT_STORE, store_names

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Choose, shrink, tune and prove your retrieval.")
console = Console(stderr=True, log_path=False)


def _fail(exc: Exception) -> None:
    console.print(f"[bold red]error:[/] {exc}", soft_wrap=True)
    raise typer.Exit(code=2)


def _parse_metrics(text: Optional[str]) -> Optional[tuple[str, ...]]:
    """``--metrics ndcg@10,recall@20`` -> a checked tuple; None -> None: the defaults, which follow the
    retrieval depth (``metrics_for_depth``), while named metrics keep their cutoff or fail."""
    from langchain_embcompare.evaluation.metrics import check_cutoffs

    if not text:
        return None
    metrics = tuple(m.strip() for m in text.split(",") if m.strip())
    check_cutoffs(metrics, None)  # names only: an unknown metric fails before any work
    return metrics


MODALITIES = ("auto", "text", "image", "audio", "video")

STORE_HELP = f"The vector store: {' | '.join(store_names())} (its options: --store-url, --store-option)."
STORE_URL_HELP = "The store's address (its URL option; a password in it is never printed or saved)."
STORE_OPTION_HELP = "A store option KEY=VALUE (repeat), e.g. index_name=docs; an unknown key is refused, naming the valid ones."


def _store_options(store: str, store_url: Optional[str], pairs: list[str]):
    """``--store-url`` and ``--store-option KEY=VALUE`` -> the store's typed options (through the store
    registry: an unknown store or key is refused by name, a value converted to its field's type)."""
    from langchain_embcompare.errors import InvalidParameterError
    from langchain_embcompare.stores.registry import options_for, options_type

    values: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise InvalidParameterError(f"--store-option {pair!r}: expected KEY=VALUE, e.g. index_name=docs.")
        values[key.strip()] = value
    if store_url is not None:
        url_field = options_type(store).url_field()
        if url_field is None:
            raise InvalidParameterError(f"--store-url: store {store!r} takes no URL (its options: {list(options_type(store).field_names())}).")
        values.setdefault(url_field, store_url)
    return options_for(store, **values)


def _models_for(dataset_dir: Optional[Path], modality: str, models: list[str]) -> list[str]:
    """``--modality`` (default ``auto``: the data's own, from its corpus rows' ``image`` / ``audio`` / ``video``
    field) -> the models to run: the named ones, else that modality's default model. A ``--modality`` the
    data contradicts is refused, naming both."""
    from langchain_embcompare.errors import InvalidParameterError
    from langchain_embcompare.evaluation.datasets import peek_modality
    from langchain_embcompare.models import default_model

    if modality not in MODALITIES:
        raise InvalidParameterError(f"--modality {modality!r}: use one of {', '.join(MODALITIES)}.")
    data = peek_modality(dataset_dir) if dataset_dir is not None else "text"
    if modality != "auto" and dataset_dir is not None and data != modality:
        raise InvalidParameterError(
            f"--modality {modality} but {dataset_dir} holds {data} documents (corpus rows with "
            f"{'a ' + repr(data) + ' field' if data != 'text' else 'no image/audio/video field'}): drop --modality or fix the data."
        )
    return list(models) or [default_model(data if modality == "auto" else modality)]


def _eval_table(title: str, rows: list[dict], metrics: tuple[str, ...] = ("ndcg@10", "recall@100", "mrr@10")) -> Table:
    table = Table(title=title)
    for col in ("run", *metrics, "ms/query", "bytes/vec"):
        table.add_column(col, justify="right" if col != "run" else "left")
    for r in rows:
        space = r.get("space") or {}
        table.add_row(
            ("bm25 (bm25s)" if space == {} else r["settings"]["model"] + f" {space['dim']}d {r['settings']['precision']}")
            + (f" {r['settings']['retriever']}" if r["settings"].get("retriever") in ("bm25", "hybrid") and space else ""),
            *(f"{r[m]:.4f}" if m in r else "-" for m in metrics),
            f"{r['timings']['per_query_ms']:.2f}",
            f"{r.get('bytes_per_vector', 0):.0f}",
        )
    return table


@app.command("eval")
def eval_cmd(
    dataset_dir: Path = typer.Argument(..., exists=True, file_okay=False, help="A BEIR-format folder."),
    model: Optional[str] = typer.Option(
        None, help="Model name, path, or openai:<model> (default: by modality: all-MiniLM-L6-v2, efficientnet-lite0, resemblyzer, video:efficientnet-lite0)."
    ),
    modality: str = typer.Option("auto", "--modality", help="auto (from the data's corpus rows) | text | image | audio | video"),
    dim: Optional[int] = typer.Option(None, help="Matryoshka dimension (default: the model's)."),
    precision: str = typer.Option("float32", help="float32 | int8 | binary"),
    rotation: str = typer.Option("none", help="none | pca (fitted on the corpus)"),
    prompts: Optional[str] = typer.Option(None, help="Prompt preset: nomic | e5 | bge | model"),
    layer_norm: bool = typer.Option(False, "--layer-norm", help="Layer-norm before truncation (nomic v1.5 recipe)."),
    kind: str = typer.Option("flat", "--kind", help="Index kind: flat | ivf | hnsw."),
    metric: str = typer.Option("cosine", help="cosine | ip | l2"),
    store: str = typer.Option(DEFAULT_STORE, help=STORE_HELP),
    store_url: Optional[str] = typer.Option(None, "--store-url", envvar="EMBCOMPARE_STORE_URL", help=STORE_URL_HELP),
    store_option: list[str] = typer.Option([], "--store-option", help=STORE_OPTION_HELP),
    retriever: str = typer.Option("plain", help="plain | cluster | funnel | bm25 | hybrid (bm25 needs no embedding model)"),
    fusion: str = typer.Option("rrf", help="hybrid: rrf | linear"),
    alpha: float = typer.Option(0.5, help="hybrid linear: weight of the dense arm (BM25 gets 1 - alpha)."),
    rrf_k: int = typer.Option(60, help="hybrid rrf: the RRF constant."),
    bm25_k1: float = typer.Option(1.5, help="bm25/hybrid: BM25 k1 (bm25s default)."),
    bm25_b: float = typer.Option(0.75, help="bm25/hybrid: BM25 b (bm25s default)."),
    lexical_engine: str = typer.Option("auto", help="bm25/hybrid: auto (the store's own full-text engine where it declares one, else bm25s) | bm25s | store"),
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
    vectors: Optional[Path] = typer.Option(None, help="Precomputed vectors table; --model then names its vector column."),
    vector_column: Optional[str] = typer.Option(None, "--vector-column", help="With --vectors: the column (default: --model)."),
    query_vectors: Optional[Path] = typer.Option(None, help="With --vectors: a table of query vectors."),
    id_column: Optional[str] = typer.Option(None, help="With --vectors: the id column (default: _id, else id)."),
    normalize: bool = typer.Option(False, "--normalize", help="With --vectors: renormalise non-unit vectors."),
    keep_identical_ids: bool = typer.Option(
        False, "--keep-identical-ids", help="Score a retrieved document whose id is the query id (BEIR drops it by default)."
    ),
    metrics: Optional[str] = typer.Option(
        None, help="Comma-separated name@k; no cutoff may exceed --k. Default ndcg@10,recall@100,mrr@10, each lowered to the retrieval depth (--k, a funnel's --shortlist) where deeper."
    ),
) -> None:
    """Evaluate one retrieval set-up on a BEIR data set: nDCG@10, Recall@100, MRR@10 (+ timings)."""
    from langchain_embcompare.errors import EmbCompareError
    from langchain_embcompare.evaluation.datasets import load_beir
    from langchain_embcompare.evaluation.metrics import metrics_for_depth
    from langchain_embcompare.evaluation.pipeline import EvalSettings, retrieval_depth, run_eval

    try:
        model = _models_for(dataset_dir, modality, [model] if model else [])[0]
        settings = EvalSettings(
            model=model, dim=dim, precision=precision, rotation=rotation, prompts=prompts, layer_norm=layer_norm,
            store=store, store_options=_store_options(store, store_url, store_option), kind=kind, metric=metric, retriever=retriever, clusters=clusters,
            nprobe=nprobe, adaptive=adaptive, shortlist_dim=shortlist_dim, shortlist=shortlist, rerank=rerank,
            rerank_method=rerank_method, rerank_top=rerank_top, k=k, ignore_identical_ids=not keep_identical_ids,
            vectors=str(vectors) if vectors else None, vector_column=vector_column,
            query_vectors=str(query_vectors) if query_vectors else None, id_column=id_column, normalize=normalize,
            fusion=fusion, alpha=alpha, rrf_k=rrf_k, bm25_k1=bm25_k1, bm25_b=bm25_b, lexical_engine=lexical_engine,
            progress=True,
        )
        named = _parse_metrics(metrics)
        metric_list = metrics_for_depth(named, retrieval_depth(settings))[0]  # the table's columns; run_eval says what changed
        dataset = load_beir(dataset_dir, split=split, max_queries=max_queries, require_qrels=True)
        result = run_eval(dataset, settings, metrics=named, on_stage=lambda s: console.log(f"{settings.label()}: {s}"))
    except EmbCompareError as exc:
        _fail(exc)
    console.print(
        _eval_table(f"{dataset.name} ({len(dataset.queries)} queries, {len(dataset.corpus)} docs)", [result], metric_list)
    )
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
    model: list[str] = typer.Option([], "--model", help="Short form: a model to compare (repeat; default: the modality's default model)."),
    modality: str = typer.Option("auto", "--modality", help="Short form: auto (from the data's corpus rows) | text | image | audio | video"),
    dims: Optional[str] = typer.Option(None, help="Short form: comma-separated dims, e.g. full,128 (default: full)."),
    precision: str = typer.Option("float32", help="Short form: float32 | int8 | binary"),
    kind: str = typer.Option("flat", "--kind", help="Short form: index kind flat | ivf | hnsw."),
    store: str = typer.Option(DEFAULT_STORE, help="Short form: " + STORE_HELP),
    store_url: Optional[str] = typer.Option(None, "--store-url", envvar="EMBCOMPARE_STORE_URL", help="Short form: " + STORE_URL_HELP),
    store_option: list[str] = typer.Option([], "--store-option", help="Short form: " + STORE_OPTION_HELP),
    lexical: bool = typer.Option(False, "--lexical", help="Short form: add a BM25 run and, per model, a hybrid (model + BM25) run."),
    fusion: str = typer.Option("rrf", help="Short form, hybrid runs: rrf | linear"),
    alpha: float = typer.Option(0.5, help="Short form, hybrid linear: weight of the dense arm."),
    baseline: Optional[str] = typer.Option(None, help="Run the others are tested against (default: the first)."),
    k: int = typer.Option(100, help="Documents retrieved per query."),
    max_queries: Optional[int] = typer.Option(None, help="Use the first N labelled queries only."),
    json_out: Optional[Path] = typer.Option(None, "--json", help="Write the comparison JSON here."),
    html: Optional[Path] = typer.Option(None, help="Write the self-contained HTML report here."),
    vectors: Optional[Path] = typer.Option(
        None, help="Precomputed vectors: a table (Parquet, .npy/.npz, JSONL, datasets folder) with an id column and one vector column per model."
    ),
    vector_column: list[str] = typer.Option([], "--vector-column", help="With --vectors: a model column to compare (repeat; default: every vector column)."),
    query_vectors: Optional[Path] = typer.Option(None, help="With --vectors: a table of query vectors (default: query ids are looked up in --vectors)."),
    id_column: Optional[str] = typer.Option(None, help="With --vectors: the id column (default: _id, else id)."),
    normalize: bool = typer.Option(False, "--normalize", help="With --vectors: renormalise non-unit vectors instead of refusing them."),
    queries: Optional[str] = typer.Option(
        None, help="A queries FILE (one per line; label-free) for a folder of documents or a corpus.jsonl alone, or "
        "synthetic:cloze (known-item queries from the corpus, no LLM) | synthetic:llm (with --generator): labelled, synthetic."
    ),
    generator: Optional[str] = typer.Option(None, help="synthetic:llm: the chat model writing questions, e.g. openai:gpt-4o-mini, openai-compatible:http://127.0.0.1:8080/v1#model."),
    synthetic_queries: int = typer.Option(200, help="synthetic:*: documents drawn (one query each; seeded, stratified by length)."),
    save_queries: Optional[Path] = typer.Option(None, help="synthetic:*: also write the synthetic set here as a BEIR folder (reusable, editable)."),
    judge: Optional[str] = typer.Option(None, help="Grade the pooled top-10 of every run 0-3 with this chat model (UMBRELA prompt): LLM relevance labels."),
    llm_max_calls: Optional[int] = typer.Option(None, help="Budget: most calls the generator (and, apart, the judge) may send."),
    seed: int = typer.Option(0, help="synthetic:*: seed of the draw."),
    corpus: Optional[Path] = typer.Option(None, help="When DATASET_DIR is a question/answer file: the passages it names by id."),
    keep_identical_ids: bool = typer.Option(
        False, "--keep-identical-ids", help="Score a retrieved document whose id is the query id (BEIR drops it by default)."
    ),
    metrics: Optional[str] = typer.Option(
        None, help="Short form: comma-separated name@k; no cutoff may exceed --k. Default ndcg@10,recall@100,mrr@10, each lowered to the retrieval depth where deeper."
    ),
) -> None:
    """A/B compare embedding models and retrievers: quality + significance, agreement, latency, memory, cost.

    DATASET_DIR is a BEIR folder, a question/answer .csv/.jsonl, a folder of documents (with --queries), or
    irds:<ir_datasets name>. --vectors compares precomputed embeddings instead of (or beside) --model ones."""
    from langchain_embcompare.errors import EmbCompareError
    from langchain_embcompare.evaluation.compare import compare, compare_from_config, load_config, parse_dims, specs_from_models
    from langchain_embcompare.evaluation.loaders import dataset_report, load_dataset

    try:
        stage = lambda s: console.log(s)  # noqa: E731
        if config is not None:
            given = [f"--{n.replace('_', '-')}" for n, v in (("vectors", vectors), ("vector_column", vector_column),
                     ("query_vectors", query_vectors), ("id_column", id_column), ("normalize", normalize),
                     ("queries", queries), ("corpus", corpus), ("generator", generator), ("judge", judge),
                     ("save_queries", save_queries)) if v]
            if given:
                from langchain_embcompare.errors import InvalidParameterError

                raise InvalidParameterError(
                    f"{', '.join(given)} cannot be combined with --config: put vectors/vector_column/query_vectors/"
                    "id_column/normalize in the config's [defaults] or [[runs]]."
                )
            cfg = load_config(config)
            if json_out:
                cfg.json = str(json_out)
            if html:
                cfg.html = str(html)
            for run in cfg.runs:
                run.progress = True
                if keep_identical_ids:
                    run.ignore_identical_ids = False
            result = compare_from_config(cfg, dataset_dir, on_stage=stage)
        else:
            if dataset_dir is None:
                raise typer.BadParameter("pass DATASET_DIR (or --config with dataset=)")
            dim_list = parse_dims(dims) if dims else None
            common = dict(
                precision=precision, kind=kind, store=store, store_options=_store_options(store, store_url, store_option),
                ignore_identical_ids=not keep_identical_ids,
            )
            if vectors is None and (vector_column or query_vectors or id_column or normalize):
                from langchain_embcompare.errors import InvalidParameterError

                raise InvalidParameterError("--vector-column/--query-vectors/--id-column/--normalize need --vectors TABLE.")
            if vectors is None:
                model = _models_for(dataset_dir, modality, model)
            specs = specs_from_models(model, dim_list, **common) if model or vectors is None else []
            if vectors is not None:
                from langchain_embcompare.evaluation.compare import specs_from_vectors

                specs += specs_from_vectors(
                    vectors, vector_column or None, dim_list, query_vectors=query_vectors, id_column=id_column,
                    normalize=normalize, **common,
                )
            if lexical:
                from langchain_embcompare.evaluation.compare import lexical_specs

                specs += lexical_specs(specs, fusion=fusion, alpha=alpha)
            for spec in specs:
                spec.progress = True
            ds = _labelled_dataset(dataset_dir, queries, generator, synthetic_queries, seed, save_queries, llm_max_calls, max_queries, corpus)
            console.log(f"read {dataset_report(ds)}")
            result = compare(
                specs, ds, baseline=baseline, k=k, metrics=_parse_metrics(metrics), on_stage=stage,
                relevance_judge=_judge(judge, llm_max_calls),
            )
            if json_out:
                result.to_json(json_out)
            if html:
                result.to_html(html)
    except (EmbCompareError, ValueError) as exc:
        _fail(exc)
    Console(width=max(160, Console().width)).print(result.to_table())
    for path in (json_out, html, save_queries):
        if path:
            console.print(f"wrote {path}")


def _labelled_dataset(source, queries, generator, n_queries, seed, save_to, max_calls, max_queries, corpus):
    """``--queries synthetic:*`` -> a synthetic set from the corpus of any data shape; otherwise the data as
    given (``--queries FILE`` keeps its meaning). ``--generator`` / ``--save-queries`` without ``synthetic:*``
    are refused by name (they would silently do nothing)."""
    from langchain_embcompare.errors import InvalidParameterError
    from langchain_embcompare.evaluation.loaders import load_dataset
    from langchain_embcompare.evaluation.synthetic import parse_queries_option, synthetic_from_source

    method = parse_queries_option(queries)
    if method is None:
        stray = [n for n, v in (("--generator", generator), ("--save-queries", save_to)) if v]
        if stray:
            raise InvalidParameterError(f"{', '.join(stray)} only work with --queries synthetic:cloze or synthetic:llm.")
        return load_dataset(source, max_queries=max_queries, queries=Path(queries) if queries else None, corpus=corpus)
    console.log(f"making synthetic queries ({method}) from the documents of {source}")
    ds = synthetic_from_source(
        source, method, generator=generator, n_queries=n_queries, seed=seed, corpus=corpus, save_to=save_to, max_calls=max_calls
    )
    if max_queries is not None:
        ds.queries = dict(list(ds.queries.items())[:max_queries])
        ds.qrels = {q: v for q, v in ds.qrels.items() if q in ds.queries}
    return ds


def _judge(spec, max_calls):
    """``--judge MODEL`` -> a RelevanceJudge (replies cached on disk), or None."""
    if not spec:
        return None
    from langchain_embcompare.evaluation.judge import RelevanceJudge
    from langchain_embcompare.evaluation.synthetic import llm_cache_path
    from langchain_embcompare.rerank.chat import make_chat_model

    return RelevanceJudge(make_chat_model(spec, role="judge"), cache=llm_cache_path("judge"), max_calls=max_calls)


@app.command("advise")
def advise_cmd(
    dataset_dir: Path = typer.Argument(
        ..., help="A labelled BEIR folder or question/answer file; with --queries synthetic:*, any data shape (a corpus.jsonl alone, a folder of documents)."
    ),
    model: list[str] = typer.Option([], "--model", help="A model to sweep (repeat); default all-MiniLM-L6-v2."),
    baseline: Optional[str] = typer.Option(None, help="Baseline model (native dim, float32, exact index); default: the first --model."),
    margin: float = typer.Option(0.01, help="Largest nDCG@10 loss accepted as 'not worse' (metric units)."),
    budget: list[str] = typer.Option([], "--budget", help="memory | latency | cost (repeat; the first picks the winner)."),
    dims: Optional[str] = typer.Option(None, help="Dimensions to try, e.g. full,256,128 (default: native down to 32)."),
    test: str = typer.Option("t", help="t | bootstrap (one-sided paired test, Holm-corrected)."),
    alpha: float = typer.Option(0.05, help="One-sided test level."),
    k: int = typer.Option(100, help="Documents retrieved per query."),
    max_queries: Optional[int] = typer.Option(None, help="Use the first N labelled queries only."),
    time_budget: Optional[float] = typer.Option(None, help="Stop measuring new settings after this many seconds."),
    state: Optional[Path] = typer.Option(None, help="Resumable sweep: measured settings are saved here and reused."),
    latency_queries: int = typer.Option(20, help="Single queries timed per setting."),
    json_out: Optional[Path] = typer.Option(None, "--json", help="Write the advice JSON here."),
    html: Optional[Path] = typer.Option(None, help="Write the self-contained HTML report here."),
    queries: Optional[str] = typer.Option(None, help="synthetic:cloze (no LLM) | synthetic:llm (with --generator): labelled queries made from the corpus."),
    generator: Optional[str] = typer.Option(None, help="synthetic:llm: the chat model writing questions (e.g. openai:gpt-4o-mini)."),
    synthetic_queries: int = typer.Option(200, help="synthetic:*: documents drawn (one query each)."),
    save_queries: Optional[Path] = typer.Option(None, help="synthetic:*: also write the synthetic set here as a BEIR folder."),
    judge: Optional[str] = typer.Option(
        None, help="Grade the pooled top-10 of every setting measured 0-3 with this chat model (UMBRELA prompt, one pass, "
        "cached) and decide on those LLM-judged labels (merged with the data's own, the higher grade kept); Judged@10 per setting."
    ),
    llm_max_calls: Optional[int] = typer.Option(None, help="Budget: most calls the generator (and, apart, the judge) may send."),
    seed: int = typer.Option(0, help="synthetic:*: seed of the draw."),
    corpus: Optional[Path] = typer.Option(None, help="When DATASET_DIR is a question/answer file: the passages it names by id."),
    precisions: str = typer.Option("float32,int8,binary", help="Precisions to sweep, comma-separated."),
    rotations: str = typer.Option("none,pca", help="Rotations to sweep, comma-separated: none | pca."),
    indexes: str = typer.Option("hnsw,ivf", help="Index kinds tried beside the exact one, comma-separated: hnsw | ivf (none: only exact)."),
    cluster: bool = typer.Option(True, "--cluster/--no-cluster", help="Also try the cluster prefilter."),
    funnel: bool = typer.Option(True, "--funnel/--no-funnel", help="Also try the funnel (float and binary shortlists)."),
    hybrid: Optional[bool] = typer.Option(None, "--hybrid/--no-hybrid", help="Also try the hybrid (vector + BM25) arm (default: when available)."),
) -> None:
    """The shrink advisor: the cheapest setting provably not worse than the baseline (+ Pareto fronts, drill-down).

    Labels: the data set's own (human), synthetic ones (--queries synthetic:cloze | synthetic:llm) and/or
    LLM judgments of every setting's top-10 (--judge MODEL); the answer, the JSON and the report say which."""
    from langchain_embcompare.errors import EmbCompareError
    from langchain_embcompare.evaluation.advise import AdviseOptions, advise
    from langchain_embcompare.evaluation.compare import parse_dims
    from langchain_embcompare.evaluation.synthetic import parse_queries_option

    try:
        if queries is not None and parse_queries_option(queries) is None:
            from langchain_embcompare.errors import InvalidParameterError

            raise InvalidParameterError(
                f"advise --queries {queries!r}: the advisor needs labels; use --queries synthetic:cloze or synthetic:llm "
                "(or a labelled data set)."
            )
        ds = _labelled_dataset(dataset_dir, queries, generator, synthetic_queries, seed, save_queries, llm_max_calls, max_queries, corpus)
        models = model or ["all-MiniLM-L6-v2"]
        dim_list = parse_dims(dims)
        if dim_list is not None:
            from langchain_embcompare.matryoshka import MatryoshkaEmbeddings

            native = MatryoshkaEmbeddings(models[0]).output_dim if None in dim_list else None
            dim_list = [d if d is not None else native for d in dim_list]
        axes = {name: [x.strip() for x in text.split(",") if x.strip()]
                for name, text in (("precisions", precisions), ("rotations", rotations), ("indexes", indexes))}
        axes["indexes"] = [x for x in axes["indexes"] if x != "none"]  # --indexes none: the exact index only
        options = AdviseOptions(
            models=models, baseline=baseline, margin=margin, budgets=budget or ["memory"], dims=dim_list,
            test=test, alpha=alpha, k=k, time_budget_s=time_budget, state=state, latency_queries=latency_queries,
            cluster=cluster, funnel=funnel, hybrid=hybrid, relevance_judge=_judge(judge, llm_max_calls), progress=True,
            **axes,
        )
        result = advise(ds, options)
        if json_out:
            result.to_json(json_out)
        if html:
            result.to_html(html)
    except (EmbCompareError, ValueError) as exc:
        _fail(exc)
    out = Console(width=max(160, Console().width))
    out.print(result.to_table())
    out.print(result.summary_text(), soft_wrap=True, highlight=False, markup=False)
    if result.winner is not None:
        out.print("\n[bold]ab.toml[/] (embcompare compare --config ab.toml)")
        out.print(result.winner_toml(), highlight=False, markup=False)
    for path in (json_out, html, save_queries):
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
    from langchain_embcompare.retrievers.cluster_map import retriever_map, save_cluster_map
    from langchain_embcompare.stores.registry import build_store

    try:
        ds = load_beir(dataset_dir)
        store = build_store(DEFAULT_STORE, None, MatryoshkaEmbeddings(model, dim))  # in process
        with console.status("embedding"):
            store.add_documents(ds.corpus)
        retriever = ClusterPrefilterRetriever.from_store(store, n_clusters=clusters, k=10, adaptive=True)
        query = query or next(iter(ds.queries.values()))
        fig = retriever_map(retriever, query, method=method)  # the store protocol only
        save_cluster_map(fig, html, png)
    except EmbCompareError as exc:
        _fail(exc)
    console.print(f"wrote {html}" + (f" and {png}" if png else ""))


@app.command("demo")
def demo_cmd(
    out: Path = typer.Option(Path("."), help="Folder for report.html, the JSON and the cluster map."),
    rerank: Optional[str] = typer.Option(None, envvar="EMBCOMPARE_RERANK_MODEL", help="Chat model for PRP reranking."),
    media: bool = typer.Option(False, "--media", help="Also the media section: find the moment in generated videos with an image."),
) -> None:
    """The main job: the whole package on the bundled demo set, offline, on FAISS."""
    from langchain_embcompare.demo import run_demo, run_media_demo

    run_demo(out, rerank=rerank)
    if media:
        run_media_demo(out)


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
