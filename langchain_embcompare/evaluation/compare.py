"""A/B comparison: N retrievers (or run specs) on the same queries -> one result that prints,
serialises and writes an HTML report.

Per run: nDCG@10 / Recall@100 / MRR@10 with bootstrap intervals and a paired test against a
baseline (Holm-corrected), single-query latency p50/p95, embedding throughput, index memory and the
cost per million texts; between every pair of runs: overlap@k, rank-biased overlap, rank
correlation on shared documents, score-distribution distance. Without labels (documents + queries
only) it reports agreement, latency, memory and cost.

Two ways in:

- ``compare({"mine": retriever_a, "theirs": retriever_b}, dataset)``: any LangChain retrievers;
- ``compare([RunSpec(model="all-MiniLM-L6-v2"), RunSpec(model="all-MiniLM-L6-v2", dim=128)], dataset)``:
  runs built here from specs (the same :class:`EvalSettings` as ``embcompare eval``, so the numbers
  match), one at a time; a model is loaded and encoded once however many dims/indexes use it.
  Only here can a cross-model probe (``probes=[("C", "A")]``: query model C's vectors against
  model A's index, equal dimensions only) measure how far C's queries land from A's own results.
"""

from __future__ import annotations

import dataclasses
import io
import json
import math
import time
import tomllib
import types as types_mod
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings
from langchain_core.retrievers import BaseRetriever

from langchain_embcompare.errors import (
    DimensionMismatchError,
    EmptyInputError,
    InvalidParameterError,
)
from langchain_embcompare.evaluation.agreement import AgreementMatrix, Run, agreement_matrix, pair_agreement
from langchain_embcompare.evaluation.cost import (
    DEFAULT_MACHINE_USD_PER_HOUR,
    CostEstimate,
    cost_per_million,
    is_api_model,
)
from langchain_embcompare.evaluation.datasets import BeirDataset
from langchain_embcompare.evaluation.metrics import DEFAULT_METRICS, check_cutoffs, evaluate_run, retrieve_run
from langchain_embcompare.evaluation.pipeline import EvalSettings, build_embeddings, build_retriever, build_store, retrieval_depth
from langchain_embcompare.evaluation.significance import (
    CORRECTIONS,
    STAT_TESTS,
    SignificanceResult,
    per_query_matrix,
    significance_vs_baseline,
)

__all__ = [
    "RunSpec",
    "RunResult",
    "ComparisonResult",
    "CompareConfig",
    "ConfigError",
    "compare",
    "specs_from_models",
    "specs_from_vectors",
    "lexical_specs",
    "retriever_kind",
    "parse_dims",
    "load_config",
    "compare_from_config",
]


class ConfigError(InvalidParameterError):
    """A bad field in an ``ab.toml`` comparison config; the message names the field."""


@dataclass
class RunSpec(EvalSettings):
    """One run to build: :class:`EvalSettings` (model, dim, precision, store, retriever, rerank and their
    options) plus a display ``name`` (default: the settings' label, e.g. ``all-MiniLM-L6-v2/128d/float32/faiss/flat``)."""

    name: str | None = None

    def label(self) -> str:
        return self.name or super().label()

    def to_dict(self) -> dict[str, Any]:
        d = super().to_dict()
        d.pop("name", None)
        return d


@dataclass
class RunResult:
    """Everything measured for one run."""

    name: str
    model: str | None = None
    dim: int | None = None
    spec: dict[str, Any] | None = None
    quality: dict[str, float] = field(default_factory=dict)
    latency_ms: dict[str, float] = field(default_factory=dict)
    batch_ms_per_query: float | None = None
    embedding: dict[str, float] = field(default_factory=dict)
    index_memory_bytes: int | None = None
    cost: CostEstimate | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _clean(x: Any) -> Any:
    """JSON-safe: NaN -> None, numpy scalars -> Python."""
    if isinstance(x, dict):
        return {str(k): _clean(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_clean(v) for v in x]
    if isinstance(x, np.generic):
        x = x.item()
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


@dataclass
class ComparisonResult:
    """The comparison: prints itself (``to_table``), serialises (``to_dict``/``to_json``), reports (``to_html``).

    ``runs_raw[name]`` keeps each run (query id -> doc id -> score), e.g. for ``ranx_compare``.
    """

    dataset: str
    n_documents: int
    n_queries: int
    k: int
    labelled: bool
    metrics: list[str]
    baseline: str | None
    runs: dict[str, RunResult]
    agreement: AgreementMatrix | None
    significance: SignificanceResult | None = None
    probes: list[dict[str, Any]] = field(default_factory=list)
    runs_raw: dict[str, Run] = field(default_factory=dict, repr=False)
    settings: dict[str, Any] = field(default_factory=dict)
    image_examples: list[dict[str, Any]] = field(default_factory=list, repr=False)  # image data sets: report thumbnails
    drilldown: dict[str, Any] = field(default_factory=dict)  # run -> per-query drill-down vs the baseline

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict; each run has top-level ``ndcg@10``, ``recall@100``, ``mrr@10`` (fractions)."""
        runs: dict[str, Any] = {}
        for name, r in self.runs.items():
            d: dict[str, Any] = {"model": r.model, "dim": r.dim, "spec": r.spec}
            if self.labelled:
                d.update(r.quality)
                if self.significance is not None:
                    per = self.significance.runs[name]
                    d["ci"] = {m: [per[m].interval.low, per[m].interval.high] for m in self.metrics}
                    d["delta_vs_baseline"] = {m: per[m].delta for m in self.metrics}
                    d["p_value"] = {m: per[m].p_value for m in self.metrics}
                    d["p_adjusted"] = {m: per[m].p_adjusted for m in self.metrics}
                    d["significant"] = {m: per[m].significant for m in self.metrics}
            d["latency_ms"] = r.latency_ms
            d["batch_ms_per_query"] = r.batch_ms_per_query
            d["embedding"] = r.embedding
            d["index_memory_bytes"] = r.index_memory_bytes
            d["cost"] = r.cost.to_dict() if r.cost else None
            if r.extra:
                d["extra"] = r.extra
            runs[name] = d
        sig = self.significance
        return _clean(
            {
                "dataset": self.dataset,
                "n_documents": self.n_documents,
                "n_queries": self.n_queries,
                "k": self.k,
                "labelled": self.labelled,
                "metrics": self.metrics if self.labelled else [],
                "baseline": self.baseline,
                "stat_test": sig.stat_test if sig else None,
                "correction": sig.correction if sig else None,
                "alpha": sig.alpha if sig else None,
                "confidence": sig.confidence if sig else None,
                "settings": self.settings,
                "runs": runs,
                "agreement": self.agreement.to_dict() if self.agreement else None,
                "probes": self.probes,
                **({"image_examples": self.image_examples} if self.image_examples else {}),
                "drilldown": self.drilldown,
            }
        )

    def to_json(self, path: str | Path | None = None, indent: int = 2) -> str:
        """The JSON text; also written to ``path`` when given."""
        text = json.dumps(self.to_dict(), indent=indent)
        if path is not None:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            Path(path).write_text(text, encoding="utf-8")
        return text

    def to_html(self, path: str | Path, extra_figures: Mapping[str, Any] | None = None, title: str | None = None) -> Path:
        """Self-contained HTML report (plotly inlined); ``extra_figures`` e.g. ``{"cluster map": fig}``."""
        from langchain_embcompare.evaluation.report import write_html

        return write_html(self.to_dict(), path, extra_figures, title or f"Embedding comparison: {self.dataset}")

    def to_table(self):
        """A rich Table: one row per run."""
        from rich.table import Table

        sig = self.significance
        title = f"{self.dataset}: {self.n_queries} queries, {self.n_documents} documents, k={self.k}"
        if sig is not None and self.baseline:
            title += f" (baseline {self.baseline}; {sig.stat_test} test, {sig.correction}; * = adj. p <= {sig.alpha})"
        table = Table(title=title)
        # the run name is what tells rows apart: other columns wrap before it is cut
        longest = max((len(n) for n in self.runs), default=3)
        table.add_column("run", justify="left", min_width=min(40, longest), overflow="fold")
        table.add_column("kind", justify="left")  # lexical | dense | hybrid
        if self.labelled:
            for m in self.metrics:
                table.add_column(m, justify="right")
        table.add_column(f"RBO vs {self.baseline or 'first'}", justify="right")
        for col in ("p50 ms", "p95 ms", "texts/s", "index MiB", "USD/1M texts"):
            table.add_column(col, justify="right")
        names = list(self.runs)
        ref = self.baseline or names[0]
        rbo = self.agreement.matrix("rbo") if self.agreement else None
        for i, (name, r) in enumerate(self.runs.items()):
            cells = [name, str(r.extra.get("kind", "dense"))]
            if self.labelled:
                for m in self.metrics:
                    v = r.quality.get(m)
                    cell = "-" if v is None else f"{v:.4f}"
                    if sig is not None:
                        s = sig.runs[name][m]
                        cell += f" [{s.interval.low:.3f},{s.interval.high:.3f}]"
                        if s.significant:
                            cell += "*"
                    cells.append(cell)
            cells.append("-" if rbo is None else f"{rbo[names.index(ref), i]:.3f}")
            mib = None if r.index_memory_bytes is None else r.index_memory_bytes / 2**20
            pre = r.cost is not None and r.cost.kind == "precomputed"
            cells += [
                _f(r.latency_ms.get("p50"), ".2f"),
                _f(r.latency_ms.get("p95"), ".2f"),
                "precomputed" if pre else _f(r.embedding.get("texts_per_second"), ".1f"),
                _f(mib, ".2f"),
                "precomputed" if pre else _f(r.cost.usd_per_million_texts if r.cost else None, ".4f"),
            ]
            table.add_row(*cells)
        return table

    def table_text(self, width: int = 200) -> str:
        """The table as plain text (for logs and benchmark files)."""
        from rich.console import Console

        buf = io.StringIO()
        Console(file=buf, width=width, color_system=None).print(self.to_table())
        for p in self.probes:
            buf.write(
                f"probe: queries of {p['query_run']} on the index of {p['index_run']}: "
                f"overlap@{p['k']}={p['overlap']:.3f} RBO={p['rbo']:.3f}"
                + (f" nDCG@10={p['ndcg@10']:.4f}" if p.get("ndcg@10") is not None else "")
                + "\n"
            )
        return buf.getvalue()

    def __rich__(self):
        return self.to_table()

    def __str__(self) -> str:
        return self.table_text()


def _f(v: float | None, fmt: str) -> str:
    return "-" if v is None or (isinstance(v, float) and not math.isfinite(v)) else format(v, fmt)


# --- building blocks -------------------------------------------------------------------------------


def _as_dataset(dataset: Any) -> BeirDataset:
    """A BeirDataset, or (documents, queries) without labels."""
    if isinstance(dataset, BeirDataset):
        ds = dataset
    elif isinstance(dataset, tuple) and len(dataset) == 2:
        docs_in, queries_in = dataset
        docs = []
        for i, d in enumerate(docs_in):
            if isinstance(d, Document):
                doc_id = str(d.id or d.metadata.get("doc_id") or f"doc{i}")
                docs.append(Document(page_content=d.page_content, metadata={**d.metadata, "doc_id": doc_id}, id=doc_id))
            elif isinstance(d, str):
                docs.append(Document(page_content=d, metadata={"doc_id": f"doc{i}"}, id=f"doc{i}"))
            else:
                raise InvalidParameterError(f"documents[{i}] is a {type(d).__name__}: pass Documents or strings.")
        if isinstance(queries_in, Mapping):
            queries = {str(k): str(v) for k, v in queries_in.items()}
        else:
            queries = {f"q{i}": str(q) for i, q in enumerate(queries_in)}
        ds = BeirDataset(name="custom", corpus=docs, queries=queries, qrels={})
    else:
        raise InvalidParameterError(
            "dataset must be a BeirDataset (load_beir(path)) or a (documents, queries) tuple for label-free mode."
        )
    if not ds.corpus:
        raise EmptyInputError("The data set has no documents to index.")
    if not ds.queries:
        raise EmptyInputError("The data set has no queries to compare the runs on.")
    return ds


def _image_examples(ds: BeirDataset, runs: Mapping[str, Run]) -> list[dict[str, Any]]:
    """Thumbnails of a few queries' top hits for the report, when the corpus is images (else [])."""
    from langchain_embcompare.evaluation.report import image_examples

    return image_examples(ds, runs)


def _percentiles(ms: Sequence[float]) -> dict[str, float]:
    a = np.asarray(ms, dtype=np.float64)
    if a.size == 0:
        return {}
    return {"p50": float(np.percentile(a, 50)), "p95": float(np.percentile(a, 95)), "mean": float(a.mean()), "n": int(a.size)}


def _matryoshka(obj: Any):
    from langchain_embcompare.matryoshka import MatryoshkaEmbeddings

    return obj if isinstance(obj, MatryoshkaEmbeddings) else None


def _find(retriever: Any, attrs: tuple[str, ...], depth: int = 4) -> Any:
    """Follow store / vectorstore / base_retriever links to the first attribute in ``attrs``."""
    seen = [retriever]
    for _ in range(depth):
        nxt = []
        for obj in seen:
            for a in attrs:
                v = getattr(obj, a, None)
                if v is not None:
                    return v
            for link in ("store", "vectorstore", "base_retriever", "retriever", "dense"):
                v = getattr(obj, link, None)
                if v is not None:
                    nxt.append(v)
        seen = nxt
    return None


def _store_of(retriever: Any) -> Any:
    for link in ("store", "vectorstore"):
        v = getattr(retriever, link, None)
        if v is not None:
            return v
    base = getattr(retriever, "base_retriever", None) or getattr(retriever, "dense", None)  # rerank / hybrid
    return _store_of(base) if base is not None else None


def _embeddings_of(retriever: Any) -> Embeddings | None:
    store = _store_of(retriever)
    if store is None:
        return None
    emb = getattr(store, "embedding", None) or getattr(store, "embeddings", None)
    if emb is None:
        emb = getattr(store, "embedding_function", None)
    return emb if isinstance(emb, Embeddings) else None


def _index_bytes(retriever: Any) -> int | None:
    lexical = getattr(retriever, "lexical", None)  # hybrid: the dense store's bytes + the BM25 index's
    if lexical is not None and callable(getattr(lexical, "index_bytes", None)):
        dense = _index_bytes(getattr(retriever, "dense", None))
        return None if dense is None else dense + int(lexical.index_bytes())
    if callable(getattr(retriever, "index_bytes", None)):  # BM25Retriever: its sparse index
        return int(retriever.index_bytes())
    store = _store_of(retriever)
    if store is None:
        return None
    if hasattr(store, "index_bytes"):
        try:
            return int(store.index_bytes())
        except Exception:  # a server store that cannot tell
            return None
    index = getattr(store, "index", None)  # LangChain's own FAISS store
    if index is not None:
        try:
            import faiss

            return int(faiss.serialize_index(index).nbytes)
        except Exception:
            return None
    return None


def retriever_kind(retriever: Any) -> str:
    """``"hybrid"`` (dense + lexical fused), ``"lexical"`` (BM25) or ``"dense"``; a reranker wrapping
    one keeps its base's kind."""
    from langchain_embcompare.retrievers.hybrid import HybridRetriever
    from langchain_embcompare.retrievers.lexical import BM25Retriever, RedisFullTextRetriever

    for _ in range(4):
        if isinstance(retriever, HybridRetriever):
            return "hybrid"
        if isinstance(retriever, (BM25Retriever, RedisFullTextRetriever)):
            return "lexical"
        base = getattr(retriever, "base_retriever", None)
        if base is None:
            break
        retriever = base
    return "dense"


def _model_name(emb: Embeddings | None) -> str | None:
    if emb is None:
        return None
    m = _matryoshka(emb)
    if m is not None:
        return m.model_name
    from langchain_embcompare.models import model_id

    return model_id(emb)


def _encode_uncached(emb: Embeddings, texts: list[str], query: bool) -> None:
    """Embed through the model itself, bypassing the package's embedding cache (for honest timings)."""
    from langchain_embcompare.models import encode_texts

    m = _matryoshka(emb)
    if m is not None:
        encode_texts(m.base, texts, m.query_prompt if query else m.document_prompt, query=query)
    elif query:
        for t in texts:
            emb.embed_query(t)
    else:
        emb.embed_documents(texts)


def _precomputed(emb: Embeddings | None) -> bool:
    from langchain_embcompare.precomputed import is_precomputed

    return emb is not None and is_precomputed(emb)


def _precomputed_cost(model: str) -> tuple[dict[str, Any], CostEstimate]:
    """Precomputed vectors: no throughput or cost was measured, so none is invented (the table says "precomputed")."""
    return {"source": "precomputed"}, CostEstimate(model=model, kind="precomputed", usd_per_million_texts=float("nan"))


def _throughput(emb: Embeddings, texts: list[str]) -> dict[str, float]:
    """Documents per second, measured on ``texts`` after a 2-text warm-up, caches bypassed."""
    _encode_uncached(emb, texts[:2], query=False)
    t0 = time.perf_counter()
    _encode_uncached(emb, texts, query=False)
    secs = time.perf_counter() - t0
    return {"texts_per_second": len(texts) / secs if secs > 0 else float("nan"), "n_texts": len(texts), "seconds": secs}


def _latency(retriever: BaseRetriever, emb: Embeddings | None, queries: list[str]) -> list[float]:
    """Milliseconds per query, one query at a time.

    The package's embeddings cache query vectors (the quality run just filled it), so for them a query's
    latency = retriever call (cache hit) + the model's own time to embed that query, measured uncached.
    """
    ms = []
    retriever.invoke(queries[0])  # warm-up
    cached = _matryoshka(emb) is not None
    for q in queries:
        t0 = time.perf_counter()
        retriever.invoke(q)
        t1 = time.perf_counter()
        if cached:
            _encode_uncached(emb, [q], query=True)
        t2 = time.perf_counter()
        ms.append(1000 * ((t1 - t0) + (t2 - t1 if cached else 0.0)))
    return ms


def parse_dims(text: str | None) -> list[int | None] | None:
    """``"384,128,full"`` -> ``[384, 128, None]`` (the CLI's ``--dims``); None/empty -> None."""
    if text is None or not str(text).strip():
        return None
    out: list[int | None] = []
    for tok in str(text).split(","):
        tok = tok.strip().lower()
        if tok in ("full", "native", "none"):
            out.append(None)
        elif tok.isdigit() and int(tok) > 0:
            out.append(int(tok))
        else:
            raise InvalidParameterError(f"--dims {text!r}: {tok!r} is not a positive integer or 'full' (e.g. --dims full,256,128).")
    return out


def specs_from_models(models: Sequence[str], dims: Sequence[int | None] | None = None, **common: Any) -> list[RunSpec]:
    """The CLI short form: every model at every dim (None = full), other settings shared.

    Names are ``<model>@<dim|full>``.
    """
    if not models:
        raise InvalidParameterError("Name at least one model (--model A --model B).")
    out = []
    for model in models:
        for dim in dims or [None]:
            out.append(RunSpec(model=model, dim=dim, name=f"{model}@{dim or 'full'}", **common))
    return out


def specs_from_vectors(
    vectors: str | Path,
    columns: Sequence[str] | None = None,
    dims: Sequence[int | None] | None = None,
    *,
    query_vectors: str | Path | None = None,
    id_column: str | None = None,
    normalize: bool = False,
    **common: Any,
) -> list[RunSpec]:
    """The CLI's ``--vectors``: every model column of the table (or ``columns``) at every dim (None = full).

    Names are ``<column>@<dim|full>``; the column is the run's model name.
    """
    from langchain_embcompare.precomputed import vector_columns

    cols = list(columns) if columns else vector_columns(vectors, id_column, normalize)
    if not cols:
        raise InvalidParameterError(f"{vectors} has no vector column (a list of floats per row).")
    out = []
    for col in cols:
        for dim in dims or [None]:
            out.append(
                RunSpec(
                    model=col, dim=dim, name=f"{col}@{dim or 'full'}", vectors=str(vectors), vector_column=col,
                    query_vectors=None if query_vectors is None else str(query_vectors), id_column=id_column,
                    normalize=normalize, **common,
                )
            )
    return out


def lexical_specs(specs: Sequence[RunSpec], fusion: str = "rrf", alpha: float = 0.5) -> list[RunSpec]:
    """The lexical arms beside dense ``specs``: one BM25 run (``bm25``; no model) and, per dense spec,
    its hybrid with BM25 (``<name>+bm25``), on the same store (the CLI's ``compare --lexical``)."""
    out = [RunSpec(retriever="bm25", name="bm25")]
    for s in specs:
        if s.retriever in ("bm25", "hybrid"):
            continue
        out.append(dataclasses.replace(s, retriever="hybrid", hybrid_dense=s.retriever, fusion=fusion, alpha=alpha,
                                       name=f"{s.label()}+bm25", extra=dict(s.extra)))
    return out


# --- compare ---------------------------------------------------------------------------------------


def compare(
    retrievers: Mapping[str, BaseRetriever] | Sequence[RunSpec | EvalSettings],
    dataset: BeirDataset | tuple[Sequence[Document | str], Mapping[str, str] | Sequence[str]],
    baseline: str | None = None,
    k: int = 100,
    metrics: Sequence[str] = DEFAULT_METRICS,
    *,
    stat_test: str = "student",
    correction: str = "holm",
    alpha: float = 0.05,
    confidence: float = 0.95,
    n_resamples: int = 2000,
    overlap_k: int = 10,
    rbo_p: float = 0.9,
    latency_queries: int = 50,
    throughput_texts: int = 256,
    prices: Mapping[str, float] | None = None,
    usd_per_hour: float = DEFAULT_MACHINE_USD_PER_HOUR,
    probes: Sequence[tuple[str, str]] = (),
    on_stage: Callable[[str], None] | None = None,
    seed: int = 0,
    ignore_identical_ids: bool | None = None,
) -> ComparisonResult:
    """Run every retriever (or build every spec) on the data set's queries and compare them.

    ``baseline`` names the run the others are tested against (default: the first). ``dataset`` is a
    :class:`BeirDataset` or ``(documents, queries)`` for label-free mode. ``probes`` (spec mode only)
    lists ``(query_run, index_run)`` pairs of equal dimension. ``ignore_identical_ids`` (BEIR's rule,
    one for the whole comparison; default: the specs' common setting, else True): a retrieved document
    whose id is the query id is not scored.
    A metric cutoff above ``k`` (or a funnel spec's shortlist) raises ``MetricCutoffError``.
    """
    stage = on_stage or (lambda s: None)
    ds = _as_dataset(dataset)
    labelled = bool(ds.qrels)
    if not isinstance(k, int) or k < 1:
        raise InvalidParameterError(f"k={k!r} must be a positive integer (documents retrieved per query).")
    if stat_test not in STAT_TESTS:
        raise InvalidParameterError(f"stat_test={stat_test!r}: use one of {STAT_TESTS}.")
    if correction not in CORRECTIONS:
        raise InvalidParameterError(f"correction={correction!r}: use one of {CORRECTIONS}.")
    spec_mode = not isinstance(retrievers, Mapping)
    if spec_mode:
        specs = [
            dataclasses.replace(s, k=k) if isinstance(s, RunSpec) else RunSpec(**{**s.to_dict(), "k": k}, extra=dict(s.extra))
            for s in retrievers
        ]
        names = [s.label() for s in specs]
        rules = {s.label(): s.ignore_identical_ids for s in specs}
        if ignore_identical_ids is None and len(set(rules.values())) == 1:
            ignore_identical_ids = next(iter(rules.values()))
        if ignore_identical_ids is None or set(rules.values()) != {ignore_identical_ids}:
            raise InvalidParameterError(
                f"The runs' ignore_identical_ids settings {rules} differ from each other or from the comparison's "
                f"({ignore_identical_ids}): one scoring rule per comparison, so that the runs are comparable. "
                "Set it once (compare(..., ignore_identical_ids=...), or defaults.ignore_identical_ids in ab.toml)."
            )
        if labelled:
            for s in specs:
                check_cutoffs(metrics, retrieval_depth(s))
    else:
        ignore_identical_ids = True if ignore_identical_ids is None else ignore_identical_ids
        if labelled:
            check_cutoffs(metrics, k)
        specs = []
        names = list(retrievers)
        for n, r in retrievers.items():
            if not isinstance(r, BaseRetriever):
                raise InvalidParameterError(f"retrievers[{n!r}] is a {type(r).__name__}, not a LangChain BaseRetriever.")
        if probes:
            raise InvalidParameterError(
                "Cross-model probes need runs built from specs (each model with its own index): pass RunSpecs, not retrievers."
            )
    if not names:
        raise EmptyInputError("Nothing to compare: pass at least one retriever or run spec.")
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise InvalidParameterError(f"Run names must be unique; repeated: {dupes}. Give each spec a name=.")
    if baseline is None:
        baseline = names[0]
    if baseline not in names:
        raise InvalidParameterError(f"baseline={baseline!r} is not one of the runs {names}.")
    probe_index = {idx for _, idx in probes}
    lexical_names = {n for s, n in zip(specs, names) if s.lexical_only}
    for q, idx in probes:
        if {q, idx} & lexical_names:
            raise InvalidParameterError(f"probe ({q!r}, {idx!r}): a BM25 run has no vectors to probe; probe dense runs only.")
    for q, idx in probes:
        for role, n in (("query run", q), ("index run", idx)):
            if n not in names:
                raise InvalidParameterError(f"probe ({q!r}, {idx!r}): {role} {n!r} is not one of the runs {names}.")

    texts = ds.texts
    rng = np.random.default_rng(seed)
    sample_docs = [texts[i] for i in rng.choice(len(texts), min(throughput_texts, len(texts)), replace=False)]
    qids = list(ds.queries)
    lat_q = [ds.queries[qids[i]] for i in rng.choice(len(qids), min(latency_queries, len(qids)), replace=False)]

    results: dict[str, RunResult] = {}
    runs: dict[str, Run] = {}
    bases: dict[str, Any] = {}
    throughput_cache: dict[tuple[str, str | None], dict[str, float]] = {}
    kept_stores: dict[str, Any] = {}
    kept_embs: dict[str, Any] = {}

    def measure(name: str, retriever: BaseRetriever, emb: Embeddings | None, res: RunResult) -> None:
        stage(f"{name}: retrieving {len(qids)} queries")
        timings: dict[str, Any] = {}
        runs[name] = retrieve_run(retriever, ds.queries, k=k, timings=timings)
        runs[name].ignore_identical_ids = ignore_identical_ids  # read by every metric computed from it
        res.batch_ms_per_query = timings.get("per_query_ms")
        if labelled:
            res.quality = evaluate_run(runs[name], ds.qrels, metrics)
        if latency_queries > 0:
            stage(f"{name}: timing {len(lat_q)} single queries")
            res.latency_ms = _percentiles(_latency(retriever, emb, lat_q))
        res.index_memory_bytes = _index_bytes(retriever)
        res.extra.setdefault("kind", retriever_kind(retriever))
        model = res.model
        if emb is not None and model is not None and _precomputed(emb):
            res.embedding, res.cost = _precomputed_cost(model)
            res.extra["query_embedding"] = "precomputed: latency is retrieval plus a table lookup, no model call"
        elif emb is not None and model is not None:
            api = is_api_model(model, prices)
            key = (model, getattr(emb, "document_prompt", None))
            if not api and key not in throughput_cache:
                stage(f"{name}: measuring embedding throughput on {len(sample_docs)} documents")
                throughput_cache[key] = _throughput(emb, sample_docs)
            res.embedding = dict(throughput_cache.get(key, {}))
            res.cost = cost_per_million(
                model, texts=sample_docs, texts_per_second=res.embedding.get("texts_per_second"),
                prices=prices, usd_per_hour=usd_per_hour,
            )

    if spec_mode:
        for spec, name in zip(specs, names):
            if spec.lexical_only:  # BM25 on the in-process index: no model, no embeddings
                from langchain_embcompare.evaluation.pipeline import build_lexical

                stage(f"{name}: indexing {len(texts)} documents for BM25")
                retriever = build_lexical(spec, documents=ds.corpus)
                res = RunResult(name=name, model="bm25", dim=None, spec=spec.to_dict())
                measure(name, retriever, None, res)
                res.extra.update(retriever.stats_summary())  # type: ignore[attr-defined]
                results[name] = res
                continue
            stage(f"{name}: loading {spec.vectors or spec.model}")
            base = bases.get(spec.model)
            emb = build_embeddings(spec, texts, base=base, dataset=ds)
            if base is None and not spec.vectors:
                bases[spec.model] = emb
            res = RunResult(name=name, model=emb.model_name, dim=emb.output_dim, spec=spec.to_dict())
            key = (emb.model_name, emb.document_prompt)
            if not _precomputed(emb) and not is_api_model(emb.model_name, prices) and key not in throughput_cache:
                # before the corpus is encoded: nothing is warm but the model itself
                stage(f"{name}: measuring embedding throughput on {len(sample_docs)} documents")
                throughput_cache[key] = _throughput(emb, sample_docs)
            stage(f"{name}: embedding and indexing {len(texts)} documents")
            store = build_store(spec, emb, ds)
            retriever = build_retriever(spec, store, documents=ds.corpus)
            measure(name, retriever, emb, res)
            if getattr(retriever, "stats_summary", None) is not None:
                res.extra.update(retriever.stats_summary())
            results[name] = res
            if name in probe_index:
                kept_stores[name] = store
            kept_embs[name] = emb
    else:
        for name, retriever in retrievers.items():
            emb = _embeddings_of(retriever)
            m = _matryoshka(emb)
            space = getattr(_store_of(retriever), "space", None)
            res = RunResult(
                name=name,
                model=_model_name(emb),
                dim=getattr(space, "dim", None) or (m.output_dim if m is not None else None),
            )
            measure(name, retriever, emb, res)
            results[name] = res

    stage("agreement between runs")
    agreement = agreement_matrix(runs, k=overlap_k, p=rbo_p, depth=k) if len(runs) >= 2 else None
    significance = None
    if labelled:
        stage("confidence intervals and significance")
        scores = {n: per_query_matrix(runs[n], ds.qrels, list(metrics))[1] for n in names}
        significance = significance_vs_baseline(
            scores, list(metrics), baseline=baseline, stat_test=stat_test, correction=correction,
            alpha=alpha, confidence=confidence, n_resamples=n_resamples, seed=seed,
        )
    drill: dict[str, Any] = {}
    if labelled and len(names) >= 2:
        from langchain_embcompare.evaluation.drilldown import doc_titles, drilldowns

        stage("per-query drill-down against the baseline")
        drill = drilldowns({n: runs[n] for n in names}, baseline, ds.qrels, ds.queries, doc_titles(ds.corpus), metric=metrics[0])

    probe_rows = []
    for q_run, idx_run in probes:
        stage(f"probe: {q_run} queries on {idx_run}'s index")
        store, emb = kept_stores[idx_run], kept_embs[q_run]
        q_dim, i_dim = emb.output_dim, store.space.dim
        if q_dim != i_dim:
            raise DimensionMismatchError(
                f"probe ({q_run!r} -> {idx_run!r}): query vectors have dim {q_dim} but the index has dim {i_dim}; "
                "a cross-model probe needs equal dimensions (truncate one with dim=...)."
            )
        vectors = emb.encode_queries(list(ds.queries.values()))
        hits = store.search_vectors(vectors, k=k)
        probe_run = {qid: {(d.id or d.metadata.get("doc_id")): float(s) for d, s in h} for qid, h in zip(qids, hits)}
        pa = pair_agreement(probe_run, runs[idx_run], k=overlap_k, p=rbo_p, depth=k)
        row = {"query_run": q_run, "index_run": idx_run, "k": overlap_k, "p": rbo_p, **pa.to_dict()}
        if labelled:
            row.update(evaluate_run(probe_run, ds.qrels, metrics, ignore_identical_ids=ignore_identical_ids))
        probe_rows.append(_clean(row))
        runs[f"probe:{q_run}->{idx_run}"] = probe_run

    return ComparisonResult(
        dataset=ds.name,
        n_documents=len(ds.corpus),
        n_queries=len(ds.queries),
        k=k,
        labelled=labelled,
        metrics=list(metrics),
        baseline=baseline,
        runs=results,
        agreement=agreement,
        significance=significance,
        probes=probe_rows,
        runs_raw=runs,
        image_examples=_image_examples(ds, runs),
        drilldown=drill,
        settings={
            "overlap_k": overlap_k, "rbo_p": rbo_p, "latency_queries": len(lat_q) if latency_queries > 0 else 0,
            "throughput_texts": len(sample_docs), "usd_per_hour": usd_per_hour, "prices": dict(prices or {}),
            "ignore_identical_ids": ignore_identical_ids,
        },
    )


# --- ab.toml ---------------------------------------------------------------------------------------


@dataclass
class CompareConfig:
    """A parsed ``ab.toml``: the runs and every :func:`compare` option."""

    runs: list[RunSpec]
    dataset: str | None = None
    split: str = "test"
    max_queries: int | None = None
    baseline: str | None = None
    k: int = 100
    metrics: list[str] = field(default_factory=lambda: list(DEFAULT_METRICS))
    stat_test: str = "student"
    correction: str = "holm"
    alpha: float = 0.05
    confidence: float = 0.95
    overlap_k: int = 10
    rbo_p: float = 0.9
    latency_queries: int = 50
    throughput_texts: int = 256
    probes: list[tuple[str, str]] = field(default_factory=list)
    prices: dict[str, float] = field(default_factory=dict)
    usd_per_hour: float = DEFAULT_MACHINE_USD_PER_HOUR
    json: str | None = None
    html: str | None = None

    def compare_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for :func:`compare` (everything but the runs and the data set)."""
        return {
            "baseline": self.baseline, "k": self.k, "metrics": tuple(self.metrics), "stat_test": self.stat_test,
            "correction": self.correction, "alpha": self.alpha, "confidence": self.confidence,
            "overlap_k": self.overlap_k, "rbo_p": self.rbo_p, "latency_queries": self.latency_queries,
            "throughput_texts": self.throughput_texts, "probes": list(self.probes), "prices": dict(self.prices),
            "usd_per_hour": self.usd_per_hour,
        }


_TOP_TYPES: dict[str, tuple[type, ...]] = {
    "dataset": (str,), "split": (str,), "max_queries": (int,), "baseline": (str,), "k": (int,),
    "metrics": (list,), "stat_test": (str,), "correction": (str,), "alpha": (float, int),
    "confidence": (float, int), "overlap_k": (int,), "rbo_p": (float,), "latency_queries": (int,),
    "throughput_texts": (int,), "defaults": (dict,), "runs": (list,), "probes": (list,), "cost": (dict,),
    "output": (dict,),
}


def _spec_types() -> dict[str, tuple[type, ...]]:
    """Allowed TOML value types of each RunSpec field, read from its annotations."""
    hints = typing.get_type_hints(RunSpec)
    out = {}
    for f in fields(RunSpec):
        hint = hints[f.name]
        union = typing.get_origin(hint) in (typing.Union, types_mod.UnionType)
        args = typing.get_args(hint) if union else (hint,)
        types = tuple(a for a in args if a is not type(None))
        types = tuple(typing.get_origin(t) or t for t in types)
        if float in types:
            types = (*types, int)
        out[f.name] = types
    return out


def _check_type(where: str, value: Any, types: tuple[type, ...]) -> None:
    if isinstance(value, bool) and bool not in types:
        ok = False
    else:
        ok = isinstance(value, types)
    if not ok:
        want = " or ".join(t.__name__ for t in types)
        raise ConfigError(f"{where} = {value!r}: expected {want}.")


def _parse_config(raw: Mapping[str, Any], source: str) -> CompareConfig:
    unknown = sorted(set(raw) - set(_TOP_TYPES))
    if unknown:
        raise ConfigError(f"{source}: unknown field {unknown[0]!r}; allowed top-level fields: {sorted(_TOP_TYPES)}.")
    for key, value in raw.items():
        _check_type(f"{source}: {key}", value, _TOP_TYPES[key])
    spec_types = _spec_types()
    defaults = dict(raw.get("defaults", {}))
    for key, value in defaults.items():
        if key not in spec_types or key == "name":
            raise ConfigError(f"{source}: defaults.{key}: unknown run field; allowed: {sorted(set(spec_types) - {'name'})}.")
        _check_type(f"{source}: defaults.{key}", value, spec_types[key])
    runs_raw = raw.get("runs") or []
    if not runs_raw:
        raise ConfigError(f"{source}: runs: no [[runs]] table; add at least one, e.g. [[runs]] model = \"all-MiniLM-L6-v2\".")
    specs = []
    for i, run in enumerate(runs_raw):
        where = f"{source}: runs[{i}]"
        if not isinstance(run, dict):
            raise ConfigError(f"{where}: expected a [[runs]] table, got {type(run).__name__}.")
        for key, value in run.items():
            if key not in spec_types:
                raise ConfigError(f"{where}.{key}: unknown run field; allowed: {sorted(spec_types)}.")
            _check_type(f"{where}.{key}", value, spec_types[key])
        merged = {**defaults, **run}
        if "model" not in merged:
            raise ConfigError(f"{where}.model: missing; every run needs a model (or set defaults.model).")
        try:
            specs.append(RunSpec(**merged))
        except InvalidParameterError as exc:
            raise ConfigError(f"{where} ({merged.get('name') or merged['model']}): {exc}") from exc
    names = [s.label() for s in specs]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ConfigError(f"{source}: runs: names must be unique, repeated {dupes}; add name = \"...\" to those runs.")
    cfg = CompareConfig(runs=specs)
    for key in ("dataset", "split", "max_queries", "baseline", "k", "stat_test", "correction", "overlap_k",
                "latency_queries", "throughput_texts"):
        if key in raw:
            setattr(cfg, key, raw[key])
    for key in ("alpha", "confidence", "rbo_p"):
        if key in raw:
            setattr(cfg, key, float(raw[key]))
    if "metrics" in raw:
        from langchain_embcompare.evaluation.metrics import _parse

        for j, m in enumerate(raw["metrics"]):
            try:
                _parse(str(m))
            except InvalidParameterError as exc:
                raise ConfigError(f"{source}: metrics[{j}]: {exc}") from exc
        cfg.metrics = [str(m) for m in raw["metrics"]]
    if cfg.baseline is not None and cfg.baseline not in names:
        raise ConfigError(f"{source}: baseline = {cfg.baseline!r} is not a run name; runs are {names}.")
    for key, allowed in (("stat_test", STAT_TESTS), ("correction", CORRECTIONS)):
        if getattr(cfg, key) not in allowed:
            raise ConfigError(f"{source}: {key} = {getattr(cfg, key)!r}: use one of {allowed}.")
    for key in ("k", "overlap_k"):
        if getattr(cfg, key) < 1:
            raise ConfigError(f"{source}: {key} = {getattr(cfg, key)}: must be >= 1.")
    for key in ("alpha", "confidence", "rbo_p"):
        if not 0 < getattr(cfg, key) < 1:
            raise ConfigError(f"{source}: {key} = {getattr(cfg, key)}: must lie strictly between 0 and 1.")
    for j, probe in enumerate(raw.get("probes", [])):
        if not isinstance(probe, dict) or set(probe) != {"query", "index"}:
            raise ConfigError(f"{source}: probes[{j}]: expected {{query = \"<run>\", index = \"<run>\"}}, got {probe!r}.")
        for role in ("query", "index"):
            if probe[role] not in names:
                raise ConfigError(f"{source}: probes[{j}].{role} = {probe[role]!r} is not a run name; runs are {names}.")
        cfg.probes.append((probe["query"], probe["index"]))
    cost = raw.get("cost", {})
    for key in cost:
        if key not in ("usd_per_hour", "prices"):
            raise ConfigError(f"{source}: cost.{key}: unknown field; allowed: ['prices', 'usd_per_hour'].")
    if "usd_per_hour" in cost:
        _check_type(f"{source}: cost.usd_per_hour", cost["usd_per_hour"], (float, int))
        if cost["usd_per_hour"] < 0:
            raise ConfigError(f"{source}: cost.usd_per_hour = {cost['usd_per_hour']}: must be >= 0.")
        cfg.usd_per_hour = float(cost["usd_per_hour"])
    prices = cost.get("prices", {})
    _check_type(f"{source}: cost.prices", prices, (dict,))
    for model, price in prices.items():
        _check_type(f"{source}: cost.prices.{model}", price, (float, int))
        if price < 0:
            raise ConfigError(f"{source}: cost.prices.{model} = {price}: USD per 1M tokens must be >= 0.")
        cfg.prices[model] = float(price)
    output = raw.get("output", {})
    for key, value in output.items():
        if key not in ("json", "html"):
            raise ConfigError(f"{source}: output.{key}: unknown field; allowed: ['html', 'json'].")
        _check_type(f"{source}: output.{key}", value, (str,))
        setattr(cfg, key, value)
    return cfg


def load_config(path: str | Path) -> CompareConfig:
    """Read an ``ab.toml``; a bad field raises :class:`ConfigError` naming it (e.g. ``runs[1].dim``).

    Example::

        dataset = "data/scifact"          # optional: the CLI's DATASET_DIR wins
        baseline = "minilm"
        k = 100
        [defaults]
        store = "faiss"
        [[runs]]
        name = "minilm"
        model = "all-MiniLM-L6-v2"
        [[runs]]
        name = "minilm-128"
        model = "all-MiniLM-L6-v2"
        dim = 128
        [[probes]]
        query = "static-128"
        index = "minilm-128"
        [cost]
        usd_per_hour = 0.10
        [cost.prices]
        "text-embedding-3-small" = 0.02
        [output]
        json = "out.json"
        html = "report.html"
    """
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"Config file {p} does not exist: pass the path of an ab.toml.")
    try:
        raw = tomllib.loads(p.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{p}: not valid TOML ({exc}).") from exc
    return _parse_config(raw, str(p))


def compare_from_config(
    config: CompareConfig | str | Path,
    dataset_dir: str | Path | None = None,
    on_stage: Callable[[str], None] | None = None,
) -> ComparisonResult:
    """Load the data set (``dataset_dir`` or the config's ``dataset``), run :func:`compare`, write outputs."""
    from langchain_embcompare.evaluation.loaders import load_dataset

    cfg = config if isinstance(config, CompareConfig) else load_config(config)
    where = dataset_dir or cfg.dataset
    if where is None:
        raise ConfigError("No data set: pass DATASET_DIR or set dataset = \"<BEIR folder>\" in the config.")
    ds = load_dataset(where, split=cfg.split, max_queries=cfg.max_queries)
    result = compare(cfg.runs, ds, on_stage=on_stage, **cfg.compare_kwargs())
    if cfg.json:
        result.to_json(cfg.json)
    if cfg.html:
        result.to_html(cfg.html)
    return result
