"""``embcompare demo``: the whole package at work, offline, on FAISS, in about a minute.

On the bundled demo set (job profiles in neighbouring roles that small models confuse) it embeds with
two offline models, shows quality against Matryoshka dimension, clusters the corpus and draws the map
with a query marked, runs cluster-prefiltered and funnel search, a BM25 arm and a hybrid (MiniLM +
BM25, RRF), compares everything (table + JSON + HTML report), reranks with an LLM when one is
configured, and asks the shrink advisor for the smallest index that is provably not worse than the
full-size one (advice.json / advice.html).
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any, Callable

from langchain_core.retrievers import BaseRetriever

DEMO_QUERY_ID = "q01"
DEMO_K = 20  # documents retrieved per query
DEMO_METRICS = ("ndcg@10", f"recall@{DEMO_K}", "mrr@10")
SHORT_NAMES = {"all-MiniLM-L6-v2": "MiniLM", "static-minilm": "static"}


def _say(msg: str) -> None:
    from rich.console import Console

    Console(stderr=True).print(msg)


def run_demo(
    out_dir: str | Path = ".",
    models: tuple[str, str] = ("all-MiniLM-L6-v2", "static-minilm"),
    rerank: str | None = None,
    say: Callable[[str], None] = _say,
) -> dict[str, Any]:
    """Run the demo; returns the paths written and the comparison's JSON."""
    from langchain_embcompare.data import demo_dataset_path
    from langchain_embcompare.evaluation.compare import compare
    from langchain_embcompare.evaluation.datasets import load_beir
    from langchain_embcompare.matryoshka import MatryoshkaEmbeddings
    from langchain_embcompare.models import static_minilm_built
    from langchain_embcompare.retrievers.cluster import ClusterPrefilterRetriever
    from langchain_embcompare.retrievers.cluster_map import retriever_map, save_cluster_map
    from langchain_embcompare.retrievers.funnel import MatryoshkaFunnelRetriever
    from langchain_embcompare.stores.faiss import FaissVectorStore

    t0 = time.perf_counter()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    ds = load_beir(demo_dataset_path())
    say(f"[bold]Demo set[/]: {len(ds.corpus)} job profiles, {len(ds.queries)} labelled queries (bundled, offline).")

    retrievers: dict[str, BaseRetriever] = {}
    stores: dict[str, FaissVectorStore] = {}
    for model in models:
        if model == "static-minilm" and not static_minilm_built():
            say("distilling the static model from MiniLM (first run only, then cached; 1-2 minutes on a laptop)...")
        base = MatryoshkaEmbeddings(model)
        full = base.output_dim
        dims = [d for d in (full, 128, 64, 32) if d <= full]
        for dim in dict.fromkeys(dims):
            emb = base.with_dim(dim if dim != full else None)
            store = FaissVectorStore(emb)
            store.add_documents(ds.corpus)
            name = f"{SHORT_NAMES.get(model, model)}@{dim}"
            stores[name] = store
            retrievers[name] = store.as_retriever(k=20)
        say(f"embedded with {model} ({full}-d native) at {', '.join(map(str, dims))} d")

    main_name = f"{SHORT_NAMES.get(models[0], models[0])}@{MatryoshkaEmbeddings(models[0]).output_dim}"
    main = stores[main_name]
    cluster = ClusterPrefilterRetriever.from_store(main, n_clusters=8, k=20, adaptive=True, stop_rank=10)
    retrievers[f"{main_name} cluster"] = cluster
    retrievers[f"{main_name} funnel64"] = MatryoshkaFunnelRetriever(store=main, k=20, shortlist_dim=64, shortlist=50)
    say("built cluster-prefiltered (KMeans, 8 clusters, adaptive) and Matryoshka funnel (64-d shortlist) retrievers")

    # The lexical arm and dense + lexical: does the model beat keyword search, and does fusing both beat each?
    from langchain_embcompare.retrievers.hybrid import HybridRetriever
    from langchain_embcompare.retrievers.lexical import BM25Retriever

    bm25 = BM25Retriever.from_documents(ds.corpus, k=20)
    retrievers["BM25"] = bm25
    retrievers[f"{main_name} +BM25 (RRF)"] = HybridRetriever(dense=retrievers[main_name], lexical=bm25, k=20, fusion="rrf")
    say("built a BM25 arm (bm25s, Lucene k1=1.5 b=0.75, English stemming) and a hybrid (MiniLM + BM25, reciprocal rank fusion)")

    rerank = rerank or os.environ.get("EMBCOMPARE_RERANK_MODEL")
    if rerank:
        from langchain_embcompare.rerank import rerank_retriever

        retrievers[f"{main_name} +rerank"] = rerank_retriever(retrievers[main_name], model=rerank, method="sliding", top=10, k=20)
        say(f"pairwise LLM reranking with {rerank}")
    else:
        say(
            "[dim]no chat model configured: skipping LLM reranking "
            "(set EMBCOMPARE_RERANK_MODEL=openai:gpt-4o-mini or openai-compatible:http://127.0.0.1:8080/v1, or pass --rerank)[/]"
        )

    # The cluster map, with one query marked and its results highlighted.
    query = ds.queries[DEMO_QUERY_ID]
    fig = retriever_map(cluster, query, k=10, title=f"Cluster map ({main_name}), query: {query!r}")
    map_html, map_png = out / "cluster_map.html", out / "cluster_map.png"
    save_cluster_map(fig, map_html, map_png)
    say(f"cluster map with the query {query!r} marked: {map_html}, {map_png}")

    say("comparing every retriever on the labelled queries (quality, agreement, latency, memory, cost)...")
    # 20 documents per query, so recall is read at 20: a cutoff above the depth would be mislabelled
    result = compare(retrievers, ds, baseline=main_name, k=DEMO_K, metrics=DEMO_METRICS, latency_queries=20, throughput_texts=64)
    from rich.console import Console

    Console(width=max(160, Console().width)).print(result.to_table())
    json_path, html_path = out / "embcompare-demo.json", out / "report.html"
    result.to_json(json_path)
    result.to_html(html_path, extra_figures={"Cluster map": fig}, title="langchain-embcompare demo")
    say(f"[bold green]wrote[/] {html_path} (open it in a browser, works offline), {json_path}")

    # The shrink advisor: how small can the index get before retrieval gets worse? (vectors come from the cache)
    from langchain_embcompare.evaluation.advise import advise

    say("shrink advisor: sweeping dimension x precision x rotation (+ index kinds, funnel) against the full-size index...")
    advice = advise(ds, models=[models[0]], margin=0.01, budgets=("memory", "latency"), latency_queries=10,
                    throughput_texts=32, cluster=False, indexes=("hnsw",), max_parents=2)
    from rich.markup import escape

    say(escape(advice.summary_text()))
    advice_json, advice_html = out / "advice.json", out / "advice.html"
    advice.to_json(advice_json)
    advice.to_html(advice_html, title="langchain-embcompare demo: shrink advisor")
    say(f"[bold green]wrote[/] {advice_html}, {advice_json}")
    say(f"demo finished in {time.perf_counter() - t0:.0f} s")
    return {
        "report": str(html_path), "json": str(json_path), "map_html": str(map_html), "map_png": str(map_png),
        "result": result.to_dict(), "advice_json": str(advice_json), "advice_html": str(advice_html),
        "advice": advice.to_dict(),
    }


def run_media_demo(out_dir: str | Path = ".", say: Callable[[str], None] = _say) -> dict[str, Any]:
    """The media section (``embcompare demo --media``): find the moment in a video with an image, offline.

    Makes four 8-second clips from the bundled shape images (four images each, 2 s apiece; H.264 via PyAV),
    indexes them as 2-second segments (``VideoEmbeddings`` over EfficientNet-Lite0, one frame per second,
    mean-pooled per segment) in FAISS, and queries with one image of each clip: every hit names the clip
    and the seconds the image is on screen. Audio works the same way (``AudioEmbeddings``; a labelled
    speech set comes from ``scripts/make_audio_set.py``, then ``embcompare eval <folder>``).

    Returns:
        ``{"videos": [paths], "hits": [{"query", "video", "start", "end", "expected_video", "expected_start"}]}``.
    """
    from langchain_embcompare.data import image_dataset_path
    from langchain_embcompare.matryoshka import MatryoshkaEmbeddings
    from langchain_embcompare.media.video import VideoEmbeddings, write_slideshow
    from langchain_embcompare.stores.faiss import FaissVectorStore

    t0 = time.perf_counter()
    shapes = Path(image_dataset_path()) / "corpus"
    folder = Path(out_dir) / "media"
    folder.mkdir(parents=True, exist_ok=True)
    labels = ["circle", "star", "stripes", "arrow", "cross", "ring", "square", "triangle"]
    clips = {f"clip-{c}": [f"{labels[(c * 2 + j) % 8]}-{c * 4 + j:02d}" for j in range(4)] for c in range(4)}
    videos = []
    for name, images in clips.items():
        videos.append(str(folder / f"{name}.mp4"))
        write_slideshow(videos[-1], [str(shapes / f"{i}.png") for i in images], seconds_per_image=2.0)
    say(f"[bold]Media[/]: made {len(videos)} clips of 8 s from the bundled shape images in {folder}")
    video = VideoEmbeddings("efficientnet-lite0", fps=1.0)
    segments = video.segment_documents(videos, segment_seconds=2.0, metadatas=[{"doc_id": n} for n in clips])
    store = FaissVectorStore.from_documents(segments, MatryoshkaEmbeddings(video))
    say(f"indexed {len(segments)} two-second segments ({store.space.model}, modality {store.space.modality})")
    hits = []
    for c, (name, images) in enumerate(clips.items()):
        query = images[(c + 1) % 4]
        top = store.similarity_search(str(shapes / f"{query}.png"), k=1)[0].metadata
        hits.append({"query": query, "video": top["doc_id"].split("#")[0], "start": top["start"], "end": top["end"],
                     "expected_video": name, "expected_start": 2.0 * ((c + 1) % 4)})
        say(f"image {query} -> {hits[-1]['video']} at {top['start']:g}-{top['end']:g} s (shown there at {hits[-1]['expected_start']:g} s)")
    say(f"media demo finished in {time.perf_counter() - t0:.0f} s")
    return {"videos": videos, "hits": hits}


__all__ = ["run_demo", "run_media_demo"]
