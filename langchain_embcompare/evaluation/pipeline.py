"""One evaluation run from settings: embed -> index -> retrieve (-> rerank) -> score.

:class:`EvalSettings` is the single description of a run, shared by ``embcompare eval`` and
``compare``: model x dim x precision x rotation x store x index x retriever x rerank.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from langchain_core.retrievers import BaseRetriever

from langchain_embcompare.errors import InvalidParameterError
from langchain_embcompare.evaluation.datasets import BeirDataset
from langchain_embcompare.evaluation.metrics import Run, evaluate_run, metrics_for_depth, retrieve_run
from langchain_embcompare.matryoshka import MatryoshkaEmbeddings
from langchain_embcompare.errors import MissingCapabilityError
from langchain_embcompare.stores import registry
from langchain_embcompare.stores.base import EmbStore
from langchain_embcompare.stores.registry import DEFAULT_STORE, StoreOptions

logger = logging.getLogger(__name__)


@dataclass
class EvalSettings:
    """Everything that defines one retrieval run. Field names match the CLI options.

    Args:
        model: the embedding model name (or, with ``vectors``, the run's name and default column).
        dim: Matryoshka dimension (None: the model's full dimension).
        precision: ``"float32"``, ``"int8"`` or ``"binary"``.
        rotation: ``"none"`` or ``"pca"`` (fitted on the corpus' document vectors).
        prompts: a prompt preset (``"nomic"``, ``"e5"``, ``"bge"``, ``"model"``) or None.
        layer_norm: apply a layer-norm before truncation.
        store: a registered store name (:func:`~langchain_embcompare.stores.registry.store_names`).
        store_options: the store's typed options (its :class:`~langchain_embcompare.stores.registry.StoreOptions`
            subclass), or a mapping of their fields (converted by
            :func:`~langchain_embcompare.stores.registry.options_for`); None: the store's defaults.
        kind: the index kind: ``"flat"``, ``"ivf"`` or ``"hnsw"``.
        metric: ``"cosine"``, ``"ip"`` or ``"l2"``.
        retriever: ``"plain"``, ``"cluster"``, ``"funnel"``, ``"bm25"`` or ``"hybrid"``.
        clusters: number of clusters (cluster retriever; None: chosen from the corpus size).
        nprobe: clusters opened per query (cluster retriever; None: calibrated).
        adaptive: adaptive cluster probing.
        shortlist_dim: the funnel's shortlist dimension.
        shortlist: the funnel's shortlist length.
        rerank: a judge model spec (see :func:`~langchain_embcompare.rerank.chat.make_chat_model`), or None.
        rerank_method: ``"allpairs"``, ``"sorting"`` or ``"sliding"``.
        rerank_top: documents reranked per query.
        k: documents retrieved per query.
        vectors: a table of precomputed vectors (Parquet, .npy, .npz, JSONL, datasets folder), or None.
        vector_column: the table's column for this run (default: ``model``).
        query_vectors: a table of query vectors (default: queries are rows of ``vectors``).
        id_column: the tables' id column (default: ``_id``, else ``id``).
        normalize: renormalise non-unit precomputed vectors instead of refusing them.
        ignore_identical_ids: BEIR's rule: a retrieved document whose id equals the query id is not scored.
        fusion: hybrid fusion, ``"rrf"`` or ``"linear"``.
        alpha: hybrid linear weight of the dense arm, in [0, 1].
        rrf_k: the RRF constant.
        hybrid_dense: the hybrid's dense arm: ``"plain"``, ``"cluster"`` or ``"funnel"``.
        lexical_engine: ``"auto"``, ``"bm25s"`` or ``"store"`` (the store's own full-text engine).
        bm25_k1: BM25 k1.
        bm25_b: BM25 b.
        bm25_method: the bm25s variant.
        stemmer: PyStemmer language, or None.
        stopwords: bm25s stopword list name, or None.
        cluster_options: more keyword arguments of ``ClusterPrefilterRetriever.from_store`` (cluster retriever).
        funnel_options: more fields of ``MatryoshkaFunnelRetriever`` (funnel retriever).
        progress: show the model's own progress bar while encoding (display only; not recorded by :meth:`to_dict`).

    Raises:
        InvalidParameterError: an unknown choice, store or store option (named), a setting that needs another
            (``vectors``), ``prompts`` with precomputed vectors, ``alpha`` outside [0, 1], or a bad BM25 setting.
    """

    model: str = "all-MiniLM-L6-v2"
    dim: int | None = None
    precision: str = "float32"
    rotation: str = "none"  # "none" | "pca" (fitted on the corpus' document vectors)
    prompts: str | None = None  # "nomic" | "e5" | "bge" | "model"
    layer_norm: bool = False
    store: str = DEFAULT_STORE  # a registered store name (stores/registry.py)
    store_options: StoreOptions | Mapping[str, Any] | None = None  # the store's typed options (a mapping is converted)
    kind: str = "flat"  # the index kind: flat | ivf | hnsw (each store refuses a kind it lacks)
    metric: str = "cosine"
    retriever: str = "plain"  # plain | cluster | funnel | bm25 | hybrid
    clusters: int | None = None
    nprobe: int | None = None
    adaptive: bool = False
    shortlist_dim: int | None = None
    shortlist: int = 50
    rerank: str | None = None
    rerank_method: str = "allpairs"
    rerank_top: int = 20
    k: int = 100
    # precomputed vectors (bring your own): a table instead of a model; `model` names the run (and the column)
    vectors: str | None = None  # Parquet / .npy / .npz / JSONL / datasets folder (langchain_embcompare.precomputed)
    vector_column: str | None = None  # the table's column for this run (default: model)
    query_vectors: str | None = None  # a table of query vectors (default: queries are rows of `vectors`)
    id_column: str | None = None  # the tables' id column (default: _id, else id)
    normalize: bool = False  # renormalise non-unit precomputed vectors instead of refusing them
    #: BEIR's rule: a retrieved document whose id equals the query id is not scored (CLI: --keep-identical-ids turns it off).
    ignore_identical_ids: bool = True
    # lexical / hybrid (retrievers/lexical.py, retrievers/hybrid.py); BM25 defaults are bm25s'
    fusion: str = "rrf"  # hybrid: rrf | linear
    alpha: float = 0.5  # hybrid linear: weight of the dense arm (1 - alpha for BM25)
    rrf_k: int = 60  # hybrid rrf: the RRF constant
    hybrid_dense: str = "plain"  # hybrid: the dense arm, plain | cluster | funnel
    lexical_engine: str = "auto"  # auto (the store's own full text where it declares one, else bm25s) | bm25s | store
    bm25_k1: float = 1.5
    bm25_b: float = 0.75
    bm25_method: str = "lucene"
    stemmer: str | None = "english"  # PyStemmer language, or None
    stopwords: str | None = "en"  # bm25s stopword list name, or None
    cluster_options: Mapping[str, Any] = field(default_factory=dict)  # more ClusterPrefilterRetriever.from_store keywords
    funnel_options: Mapping[str, Any] = field(default_factory=dict)  # more MatryoshkaFunnelRetriever fields
    progress: bool = False  # the model's progress bar while encoding (display only, not recorded)

    def __post_init__(self) -> None:
        self.store_options = registry.options_for(self.store, self.store_options)  # unknown store / option named
        self.cluster_options = dict(self.cluster_options)
        self.funnel_options = dict(self.funnel_options)
        checks = {
            "rotation": ("none", "pca"),
            "retriever": ("plain", "cluster", "funnel", "bm25", "hybrid"),
            "fusion": ("rrf", "linear"),
            "hybrid_dense": ("plain", "cluster", "funnel"),
            "lexical_engine": ("auto", "bm25s", "store"),
            "precision": ("float32", "int8", "binary"),
            "metric": ("cosine", "ip", "l2"),
            "kind": ("flat", "ivf", "hnsw"),
        }
        for name, allowed in checks.items():
            if getattr(self, name) not in allowed:
                raise InvalidParameterError(f"{name} must be one of {allowed}, got {getattr(self, name)!r}.")
        if not self.vectors:
            for name in ("vector_column", "query_vectors", "id_column"):
                if getattr(self, name) is not None:
                    raise InvalidParameterError(f"{name}={getattr(self, name)!r} needs vectors=<table> (precomputed vectors).")
            if self.normalize:
                raise InvalidParameterError("normalize=True applies to precomputed vectors: set vectors=<table> too.")
        elif self.prompts is not None:
            raise InvalidParameterError(
                f"prompts={self.prompts!r} cannot apply to precomputed vectors (vectors={self.vectors!r}): "
                "prompts are part of how the vectors were computed. Drop prompts."
            )
        if not 0.0 <= float(self.alpha) <= 1.0:
            raise InvalidParameterError(f"alpha must lie in [0, 1] (weight of the dense arm), got {self.alpha!r}.")
        if self.lexical_engine == "store" and not self.options.may_have_full_text():
            raise InvalidParameterError(
                f"lexical_engine='store' needs a store with its own full-text engine; store={self.store!r} with "
                f"{self.options!r} has none: use lexical_engine='bm25s' (or 'auto')."
            )
        if self.retriever in ("bm25", "hybrid"):
            self.bm25_settings()  # validates k1, b, method, stemmer, stopwords now, not mid-run

    @property
    def options(self) -> StoreOptions:
        """The store's typed options (``store_options`` after ``__post_init__`` converted it)."""
        assert isinstance(self.store_options, StoreOptions)
        return self.store_options

    @property
    def lexical_only(self) -> bool:
        """A BM25 run on the in-process index: no embedding model is loaded."""
        # a store that cannot have a full-text engine gives bm25s under "auto" too, so it need not be built
        return self.retriever == "bm25" and (self.lexical_engine == "bm25s" or not self.options.may_have_full_text())

    def bm25_settings(self):
        """The :class:`~langchain_embcompare.retrievers.lexical.BM25Settings` these settings name."""
        from langchain_embcompare.retrievers.lexical import BM25Settings

        return BM25Settings(k1=self.bm25_k1, b=self.bm25_b, method=self.bm25_method, stemmer=self.stemmer, stopwords=self.stopwords)

    def label(self) -> str:
        """A readable one-line name of the settings: model / dim / precision / rotation / store / index kind
        and the retriever's knobs (``bm25/bm25s/k1=../b=..`` for a lexical-only run).

        Returns:
            The label, e.g. ``all-MiniLM-L6-v2/128d/float32/faiss/flat``.
        """
        if self.lexical_only:
            return f"bm25/bm25s/k1={self.bm25_k1}/b={self.bm25_b}"
        parts = [self.model, f"{self.dim or 'full'}d", self.precision]
        if self.rotation != "none":
            parts.append(self.rotation)
        parts += [self.store, self.kind]
        if self.retriever == "hybrid":
            parts.append(f"hybrid-{self.fusion}" + (f"{self.alpha:g}" if self.fusion == "linear" else ""))
        elif self.retriever != "plain":
            parts.append(self.retriever)
        if self.rerank:
            parts.append(f"rerank-{self.rerank_method}")
        return "/".join(str(p) for p in parts)

    def to_dict(self) -> dict[str, Any]:
        """Every setting as a JSON-ready dict, safe to save: ``store_options`` by its ``to_dict()`` (no
        secrets), ``progress`` (display only) left out.

        Returns:
            ``{field: value}`` for every field but ``progress``.
        """
        d: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "progress":
                continue
            d[f.name] = self.options.to_dict() if f.name == "store_options" else (dict(value) if isinstance(value, Mapping) else value)
        return d


def build_embeddings(
    settings: EvalSettings,
    corpus_texts: list[str] | None = None,
    base: MatryoshkaEmbeddings | None = None,
    dataset: BeirDataset | None = None,
) -> MatryoshkaEmbeddings:
    """The run's embeddings. ``base`` (an earlier run's embeddings) shares its in-memory vectors when
    model and prompts match, so N specs of one model encode the corpus once. Models themselves are
    loaded once per process (``load_embeddings`` caches them). With ``settings.vectors`` the vectors come
    from that table, bound to ``dataset``'s documents and queries by id (no model is loaded)."""
    model: Any = settings.model
    if settings.vectors:
        if dataset is None:
            raise InvalidParameterError("Precomputed vectors are matched to documents by id: pass dataset= to build_embeddings.")
        from langchain_embcompare.precomputed import precomputed_from_dataset

        model = precomputed_from_dataset(
            dataset, settings.vectors, settings.vector_column or settings.model, query_vectors=settings.query_vectors,
            id_column=settings.id_column, normalize=settings.normalize,
        )
        base = None  # two tables may share a column name: never share vectors between precomputed runs
    emb = MatryoshkaEmbeddings(
        model, settings.dim, prompts=settings.prompts, layer_norm=settings.layer_norm, precision=settings.precision
    )
    if settings.progress and hasattr(emb.base, "show_progress"):
        emb.base.show_progress = True  # the model's own progress bar while encoding (CLI runs)
    if base is not None and (base.model_name, base.query_prompt, base.document_prompt) == (
        emb.model_name,
        emb.query_prompt,
        emb.document_prompt,
    ):
        emb.share_caches(base)
    if settings.rotation == "pca":
        if not corpus_texts:
            raise InvalidParameterError("rotation='pca' is fitted on document texts: pass the corpus.")
        emb = emb.fit_rotation(corpus_texts)
    return emb


def build_store(settings: EvalSettings, embeddings: MatryoshkaEmbeddings, dataset: BeirDataset) -> EmbStore:
    """Index the corpus in the store the settings name, built through the store registry from the
    settings' typed store options (an index named after the data set is rebuilt from the corpus).

    Args:
        settings: the run's settings (``store``, ``store_options``, ``kind``, ``metric``; a funnel's
            ``shortlist_dim`` declares its shortlist vector field up front).
        embeddings: the run's embeddings.
        dataset: the corpus to index.

    Returns:
        The store holding the corpus, flushed (searchable through its built index).

    Raises:
        InvalidParameterError: an index kind or option the store refuses (named).
    """
    vectors = embeddings.encode_documents(dataset.texts)
    funnel = settings.retriever == "funnel" or (settings.retriever == "hybrid" and settings.hybrid_dense == "funnel")
    fields_ = {f"vector_{int(settings.shortlist_dim)}": int(settings.shortlist_dim)} if funnel and settings.shortlist_dim else {}
    store = registry.build_store(
        settings.store, settings.options, embeddings, kind=settings.kind, metric=settings.metric,
        extra_vector_fields=fields_, dataset_name=dataset.name, overwrite=True,
    )
    store.upsert_vectors(vectors, dataset.corpus)
    store.flush()  # measure the index asked for, not a store's interim structure (stores/base.py)
    return store


def build_lexical(settings: EvalSettings, store: EmbStore | None = None, documents: list | None = None) -> BaseRetriever:
    """The BM25 arm: the store's own full-text engine (capability ``"full_text"``) when ``lexical_engine``
    is ``"auto"`` or ``"store"`` and the store declares one, else bm25s over ``documents`` (or every
    document the store holds, ``store.iter_documents()``).

    Args:
        settings: the run's settings (``lexical_engine``, ``k``, the BM25 settings).
        store: the run's store, or None (bm25s over ``documents``).
        documents: the corpus for bm25s, or None (the store's documents).

    Returns:
        A ``StoreFullTextRetriever`` or a ``BM25Retriever``.

    Raises:
        MissingCapabilityError: ``lexical_engine="store"`` on a store without an engine.
        InvalidParameterError: BM25 settings other than the defaults with the store's own engine (whose
            parameters are its own), or neither a store nor documents.
    """
    from langchain_embcompare.retrievers.lexical import BM25Retriever, lexical_retriever_for

    if store is not None and settings.lexical_engine != "bm25s":
        if "full_text" in store.capabilities:
            fixed = {"bm25_k1": 1.5, "bm25_b": 0.75, "bm25_method": "lucene", "stemmer": "english", "stopwords": "en"}
            changed = sorted(name for name, default in fixed.items() if getattr(settings, name) != default)
            if changed:
                raise InvalidParameterError(
                    f"{', '.join(changed)} set, but the BM25 arm is the store's own full-text engine, whose "
                    f"parameters are its own ({store.full_text_settings()}): pass lexical_engine='bm25s' to use them."
                )
            return lexical_retriever_for(store, engine="store", k=settings.k)
        if settings.lexical_engine == "store":
            raise store.missing("full_text", "lexical_engine='store' (use 'bm25s' or 'auto')")
        if documents is None:
            return lexical_retriever_for(store, engine="bm25s", k=settings.k, settings=settings.bm25_settings())
    if documents is None:
        if store is None:
            raise InvalidParameterError("build_lexical needs a store or documents to index for BM25.")
        return lexical_retriever_for(store, engine="bm25s", k=settings.k, settings=settings.bm25_settings())
    return BM25Retriever.from_documents(list(documents), k=settings.k, settings=settings.bm25_settings())


def build_retriever(settings: EvalSettings, store: EmbStore, documents: list | None = None) -> BaseRetriever:
    """Plain, cluster-prefiltered, funnel, BM25 or hybrid retriever over ``store``, optionally reranked.
    ``documents`` (the corpus) feeds an in-process BM25 index where the store exposes none."""
    if settings.retriever == "bm25":
        retriever: BaseRetriever = build_lexical(settings, store, documents)
    elif settings.retriever == "hybrid":
        from dataclasses import replace

        from langchain_embcompare.retrievers.hybrid import HybridRetriever

        dense = build_retriever(replace(settings, retriever=settings.hybrid_dense, rerank=None), store)
        retriever = HybridRetriever(
            dense=dense, lexical=build_lexical(settings, store, documents), k=settings.k, fusion=settings.fusion,
            alpha=settings.alpha, rrf_k=settings.rrf_k, depth=max(settings.k, 100),
        )
    elif settings.retriever == "cluster":
        from langchain_embcompare.retrievers.cluster import ClusterPrefilterRetriever

        kw: dict[str, Any] = {"k": settings.k, "n_clusters": settings.clusters, "adaptive": settings.adaptive}
        if settings.nprobe is not None:
            kw["nprobe"] = settings.nprobe
        if settings.adaptive:
            kw["stop_rank"] = min(10, settings.k)  # protect the ranks nDCG@10 reads, not 11..k
        retriever = ClusterPrefilterRetriever.from_store(store, **{**kw, **settings.cluster_options})
    elif settings.retriever == "funnel":
        from langchain_embcompare.retrievers.funnel import MatryoshkaFunnelRetriever

        retriever = MatryoshkaFunnelRetriever(
            store=store,
            k=min(settings.k, settings.shortlist),
            shortlist_dim=settings.shortlist_dim,
            shortlist=settings.shortlist,
            precision="binary" if settings.precision == "binary" else "float32",
            **settings.funnel_options,
        )
    else:
        retriever = store.as_retriever(k=settings.k)
    if settings.rerank:
        from langchain_embcompare.rerank import rerank_retriever

        retriever = rerank_retriever(retriever, settings)
    return retriever


def run_eval(
    dataset: BeirDataset,
    settings: EvalSettings,
    metrics: Sequence[str] | None = None,
    base: MatryoshkaEmbeddings | None = None,
    on_stage: Callable[[str], None] | None = None,
    return_run: bool = False,
) -> dict[str, Any] | tuple[dict[str, Any], Run]:
    """Evaluate one settings tuple on a labelled data set; returns the JSON-ready result.

    ``metrics``: ``name@k`` metrics; None = the defaults (``DEFAULT_METRICS``), each lowered to the
    retrieval depth (:func:`retrieval_depth`) where it reads deeper, with a one-line note to
    ``on_stage`` (else the log, at WARNING) and in the result (``metrics_note``); a metric named here
    that reads deeper than the depth raises :class:`~langchain_embcompare.errors.MetricCutoffError`
    before any model is loaded (:func:`~langchain_embcompare.evaluation.metrics.metrics_for_depth`).

    Args:
        dataset: the corpus, queries and qrels (without qrels only timings and sizes are measured).
        settings: the run's settings.
        metrics: ``name@k`` metrics (e.g. ``"ndcg@10"``), or None for the defaults.
        base: an already loaded model to reuse (its vectors are cached), or None.
        on_stage: called with a short text as each stage starts (progress display), or None.
        return_run: also return the ranked run.

    Returns:
        The result dict: one float per metric, ``dataset``, ``n_docs``, ``n_queries``, ``settings``,
            ``space``, ``timings`` (seconds; ``per_query_ms`` in ms), ``index_bytes`` and ``bytes_per_vector``
            where the store measures them, the retriever's ``stats_summary()``; with ``return_run``, the pair
            ``(result, run)``, ``run`` = ``{query id: {doc id: score}}``.

    Raises:
        MetricCutoffError: a metric named in ``metrics`` reads deeper than the retrieval depth.
        InvalidParameterError: settings the chosen store or retriever cannot honour.
    """
    stage = on_stage or (lambda s: None)
    depth = retrieval_depth(settings)
    metrics, note = metrics_for_depth(metrics, depth if dataset.qrels else None)  # before any model is loaded
    if note:
        (on_stage or logger.warning)(note)
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    if settings.lexical_only:
        out = _run_lexical_eval(dataset, settings, metrics, stage, return_run)
        if note:
            (out[0] if return_run else out)["metrics_note"] = note  # type: ignore[index]
        return out
    stage("loading the model")
    index_settings = settings
    if settings.retriever == "funnel" and settings.precision != "float32":
        # the funnel's precision is the shortlist's; the store keeps full float vectors to rescore
        from dataclasses import replace

        index_settings = replace(settings, precision="float32")
    emb = build_embeddings(index_settings, dataset.texts, base=base, dataset=dataset)
    t1 = time.perf_counter()
    stage("embedding and indexing the corpus")
    store = build_store(index_settings, emb, dataset)
    t2 = time.perf_counter()
    timings["embed_and_index_s"] = t2 - t0
    timings["fit_s"] = t1 - t0
    stage("retrieving")
    retriever = build_retriever(settings, store, documents=dataset.corpus)
    search_t: dict[str, Any] = {}
    run = retrieve_run(retriever, dataset.queries, k=settings.k, timings=search_t)
    timings["search_s"] = search_t["seconds"]
    timings["per_query_ms"] = search_t["per_query_ms"]
    scores = (
        evaluate_run(run, dataset.qrels, metrics, ignore_identical_ids=settings.ignore_identical_ids, k=depth)
        if dataset.qrels
        else {}
    )
    result: dict[str, Any] = {
        **scores,
        "dataset": dataset.name,
        "n_docs": len(dataset.corpus),
        "n_queries": len(dataset.queries),
        "settings": settings.to_dict(),
        "space": store.space.to_dict(),
        "timings": timings,
    }
    if note:
        result["metrics_note"] = note
    try:
        result["index_bytes"] = store.index_bytes()
        result["bytes_per_vector"] = result["index_bytes"] / max(1, len(dataset.corpus))
    except MissingCapabilityError:  # a store that cannot report its size: no memory column
        pass
    stats = getattr(retriever, "stats_summary", None)
    if callable(stats):
        result.update(stats())
    return (result, run) if return_run else result


def retrieval_depth(settings: EvalSettings) -> int:
    """Documents the settings' retriever returns per query: ``k``, or the funnel's shortlist when smaller."""
    return min(settings.k, settings.shortlist) if settings.retriever == "funnel" else settings.k


def _run_lexical_eval(
    dataset: BeirDataset, settings: EvalSettings, metrics: tuple[str, ...], stage: Callable[[str], None], return_run: bool
) -> dict[str, Any] | tuple[dict[str, Any], Run]:
    """``--retriever bm25`` on the in-process index: tokenise, index, retrieve, score; no model."""
    t0 = time.perf_counter()
    stage("indexing the corpus for BM25 (bm25s)")
    retriever = build_lexical(settings, documents=dataset.corpus)
    t1 = time.perf_counter()
    stage("retrieving")
    search_t: dict[str, Any] = {}
    run = retrieve_run(retriever, dataset.queries, k=settings.k, timings=search_t)
    scores = evaluate_run(run, dataset.qrels, metrics) if dataset.qrels else {}
    index_bytes = retriever.index_bytes()  # type: ignore[attr-defined]
    result: dict[str, Any] = {
        **scores,
        "dataset": dataset.name,
        "n_docs": len(dataset.corpus),
        "n_queries": len(dataset.queries),
        "settings": settings.to_dict(),
        "space": None,
        "timings": {"embed_and_index_s": t1 - t0, "fit_s": 0.0, "search_s": search_t["seconds"], "per_query_ms": search_t["per_query_ms"]},
        "index_bytes": index_bytes,
        "bytes_per_vector": index_bytes / max(1, len(dataset.corpus)),
        **retriever.stats_summary(),  # type: ignore[attr-defined]
    }
    return (result, run) if return_run else result


__all__ = ["EvalSettings", "build_embeddings", "build_store", "build_lexical", "build_retriever", "run_eval", "retrieval_depth"]
