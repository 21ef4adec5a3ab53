"""The shrink advisor's measuring: :class:`SettingMeasurer` encodes each model's corpus and queries once
(every dimension, precision and rotation is derived from those native vectors), measures one setting at
a time (quality per query, index memory, single-query latency, embedding cost) and keeps the
resumable state (every measured setting saved to a JSON file, reused by a rerun).

Part of :mod:`langchain_embcompare.evaluation.advise`.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from langchain_embcompare.errors import EmbCompareError, InvalidParameterError
from langchain_embcompare.evaluation.advise_options import AdviseOptions
from langchain_embcompare.evaluation.advise_result import Candidate, format_mib, format_ms
from langchain_embcompare.evaluation.advise_sweep import Stages, fingerprint, memory_bytes
from langchain_embcompare.evaluation.compare import RunSpec
from langchain_embcompare.evaluation.cost import cost_per_million, is_api_model
from langchain_embcompare.evaluation.datasets import BeirDataset
from langchain_embcompare.evaluation.measure import encode_uncached, percentiles, throughput
from langchain_embcompare.evaluation.metrics import check_cutoffs, metrics_for_depth, retrieve_run
from langchain_embcompare.evaluation.pipeline import build_retriever, build_store
from langchain_embcompare.evaluation.results import json_ready
from langchain_embcompare.evaluation.significance import per_query_matrix
from langchain_embcompare.ranking import trec_top_k

logger = logging.getLogger(__name__)


class SettingMeasurer:
    """Measures the advisor's settings one at a time, sharing what can be shared between them.

    Each model's corpus and queries are encoded once, at native dimension, on first use; a store is built
    once per (model, dim, precision, rotation, index kind); a setting measured before (in this sweep, or
    in ``options.state`` from an earlier one) is not measured again.

    Args:
        dataset: the labelled data set.
        options: the sweep's options (models, k, metric, latency queries, state, time budget, ...).
        t_start: ``time.perf_counter()`` when the sweep started (the time budget counts from it).

    Raises:
        InvalidParameterError: ``options.state`` is not an advisor state, or was written for other data.
        MetricCutoffError: the primary metric reads deeper than ``k``.
    """

    def __init__(self, dataset: BeirDataset, options: AdviseOptions, t_start: float) -> None:
        from langchain_embcompare.matryoshka import MatryoshkaEmbeddings

        self.ds = dataset
        self.opts = options
        self.t_start = t_start
        self.ui = Stages(options.on_stage, options.progress)
        rng = np.random.default_rng(options.seed)
        texts = self.texts = dataset.texts
        self.sample_docs = [texts[i] for i in rng.choice(len(texts), min(options.throughput_texts, len(texts)), replace=False)]
        self.all_qids = list(dataset.queries)
        n_lat = min(options.latency_queries, len(self.all_qids))
        self.lat_qids = [self.all_qids[i] for i in rng.choice(len(self.all_qids), n_lat, replace=False)]
        self.state_path = Path(options.state) if options.state is not None else None
        self.saved: dict[str, Any] = {"fingerprint": fingerprint(dataset, options.k, options.metric), "models": {}, "rows": {}}
        self._load_state()
        self.n_resumed = 0
        self.bases: dict[str, Any] = {}
        self.rotated: dict[str, Any] = {}
        self.model_info: dict[str, dict[str, Any]] = {}
        self.model_names: list[str] = []
        self.cache_size: dict[str, dict[Any, int]] = {}
        for m in options.models:
            name = m.model_name if isinstance(m, MatryoshkaEmbeddings) else str(m)
            self.model_names.append(name)
            self.bases[name] = m
        check_cutoffs([options.metric], options.k)  # the primary metric is the caller's: deeper than k is refused
        secondary, note = metrics_for_depth(None, options.k, defaults=("recall@100",))  # a default: follows the depth
        if note:
            (options.on_stage or logger.warning)(note)
        self.metrics = [options.metric] + [x for x in secondary if x != options.metric]
        self.qids: list[str] = []
        self.measured: dict[str, Candidate] = {}
        self.skipped: list[dict[str, Any]] = []
        self.stores: dict[tuple, Any] = {}
        self.truncated = False

    # -- resumable state ---------------------------------------------------------------------------

    def _load_state(self) -> None:
        path = self.state_path
        if path is None or not path.exists():
            return
        try:
            loaded = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise InvalidParameterError(f"{path}: not a JSON advisor state ({exc}); delete it or pass another state path.") from exc
        fp = self.saved["fingerprint"]
        if loaded.get("fingerprint") != fp:
            raise InvalidParameterError(
                f"{path} was written for other data or settings (fingerprint {loaded.get('fingerprint')} != {fp}: "
                "corpus, labelled queries, k or metric differ); delete it or pass another state path."
            )
        self.saved = loaded

    def save_state(self) -> None:
        """Write every measured setting to ``options.state`` (atomically: a temporary file, then a rename)."""
        if self.state_path is None:
            return
        self.state_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.state_path.with_suffix(self.state_path.suffix + ".tmp")
        tmp.write_text(json.dumps(json_ready(self.saved)), encoding="utf-8")
        os.replace(tmp, self.state_path)

    # -- models ----------------------------------------------------------------------------------------

    def base_of(self, model: str) -> Any:
        """The model's MatryoshkaEmbeddings, encoded once (corpus + queries) on first use, with its
        throughput, cost and per-query embedding time measured (or resumed from the state).

        Args:
            model: a model name of the sweep.

        Returns:
            The MatryoshkaEmbeddings at native dimension.
        """
        from langchain_embcompare.matryoshka import MatryoshkaEmbeddings

        b = self.bases.get(model)
        if not isinstance(b, MatryoshkaEmbeddings):
            b = MatryoshkaEmbeddings(b if b is not None else model)
            self.bases[model] = b
        if model in self.model_info:
            return b
        ds, opts = self.ds, self.opts
        self.ui.step(f"{model}: encoding {len(self.texts)} documents and {len(self.all_qids)} queries once, at native dimension")
        t0 = time.perf_counter()
        roles = {(b.document_prompt, "document"), (b.query_prompt, "query")}
        before = {(pr, role): len(b.vector_cache(pr, role)) for pr, role in roles}
        b.encode_documents(self.texts)
        b.encode_queries(list(ds.queries.values()))
        info: dict[str, Any] = {"encode_s": time.perf_counter() - t0, "native_dim": b.output_dim}
        self.cache_size[model] = before
        mi = self.saved["models"].get(model)
        if mi is not None:  # resumed: reuse the measured model facts
            info.update(mi)
        else:
            if not is_api_model(b.model_name, opts.prices):
                info["throughput"] = throughput(b, self.sample_docs)
            cost = cost_per_million(
                b.model_name, texts=self.sample_docs, texts_per_second=(info.get("throughput") or {}).get("texts_per_second"),
                prices=opts.prices, usd_per_hour=opts.usd_per_hour,
            )
            info["usd_per_1m_texts"] = cost.usd_per_million_texts
            qms = []
            for qid in self.lat_qids:
                t1 = time.perf_counter()
                encode_uncached(b, [ds.queries[qid]], query=True)
                qms.append(1000 * (time.perf_counter() - t1))
            info["query_embed_ms"] = qms
            self.saved["models"][model] = {k2: v for k2, v in info.items() if k2 != "encode_s"}
        self.model_info[model] = info
        return b

    def native(self, model: str) -> int:
        """The model's native dimension (from the model, else the resumed state, else by loading it).

        Args:
            model: a model name of the sweep.

        Returns:
            The native dimension.
        """
        from langchain_embcompare.matryoshka import MatryoshkaEmbeddings

        b = self.bases.get(model)
        if isinstance(b, MatryoshkaEmbeddings) and b.native_dim:
            return int(b.native_dim)
        mi = self.saved["models"].get(model)
        if mi and mi.get("native_dim"):
            return int(mi["native_dim"])
        return int(self.base_of(model).output_dim)

    def emb_for(self, spec: RunSpec) -> Any:
        """The embeddings of one setting, derived from the model's native vectors (rotation fitted once).

        Args:
            spec: the setting.

        Returns:
            The MatryoshkaEmbeddings at the spec's dim, precision and rotation.
        """
        b = self.base_of(spec.model)
        if spec.rotation == "pca":
            if spec.model not in self.rotated:
                self.rotated[spec.model] = b.fit_rotation(self.texts)
            b = self.rotated[spec.model]
        return b.with_dim(spec.dim, precision=spec.precision)

    def texts_encoded(self) -> dict[str, int]:
        """Texts each model embedded through its cache during the sweep (0 when the disk cache was warm).

        Returns:
            model name -> texts embedded.
        """
        return {m: sum(len(self.bases[m].vector_cache(*key)) - n for key, n in self.cache_size[m].items()) for m in self.model_info}

    # -- one setting -------------------------------------------------------------------------------------

    def over_budget(self) -> bool:
        """Whether the time budget is spent (and then remember that the sweep was cut short).

        Returns:
            True when ``options.time_budget_s`` has passed since the sweep started.
        """
        budget = self.opts.time_budget_s
        if budget is not None and time.perf_counter() - self.t_start > budget:
            self.truncated = True
            return True
        return False

    def measure(self, spec: RunSpec, stage: str) -> Candidate | None:
        """Measure one setting (or take it from this sweep or the resumable state).

        Args:
            spec: the setting.
            stage: the stage that asked (``"baseline"``, ``"shape"``, ``"index"``, ``"cluster"``, ``"funnel"``, ``"hybrid"``).

        Returns:
            The :class:`Candidate`, or None when it was skipped (an unsupported combination, recorded in
            :attr:`skipped`) or the time budget is spent (the baseline is always measured).

        Raises:
            InvalidParameterError: the query order changed between settings (an internal error).
        """
        opts, ds = self.opts, self.ds
        name = spec.label()
        if name in self.measured:
            return self.measured[name]
        row = self.saved["rows"].get(name)
        if row is not None:
            self.qids = row["qids"]
            c = Candidate(
                name=name, spec=spec, stage=stage, quality=row["quality"], index_bytes=row["index_bytes"],
                p50_ms=row["p50_ms"], usd_per_1m_texts=row["usd_per_1m_texts"],
                per_query=np.asarray(row["per_query"], dtype=np.float64), top=row["top"], extra=row.get("extra", {}),
            )
            self.measured[name] = c
            self.n_resumed += 1
            self.ui.step(f"{name}: resumed from {self.state_path}")
            return c
        if stage != "baseline" and self.over_budget():  # the baseline is always measured
            return None
        try:
            # the funnel's precision is its shortlist's: the store keeps float vectors to rescore (as run_eval does)
            store_spec = dataclasses.replace(spec, precision="float32", name=None) if spec.retriever == "funnel" else spec
            emb = self.emb_for(store_spec)
            key = (spec.model, store_spec.dim, store_spec.precision, spec.rotation, spec.kind)
            store = self.stores.get(key)
            if store is None:
                store = build_store(store_spec, emb, ds)
                self.stores[key] = store
            retriever = build_retriever(spec, store)
            run = retrieve_run(retriever, ds.queries, k=opts.k)
            qids_here, mat = per_query_matrix(run, ds.qrels, self.metrics)
            lat = []
            if self.lat_qids:
                retriever.invoke(ds.queries[self.lat_qids[0]])  # warm-up
                qms = self.model_info[spec.model]["query_embed_ms"]
                for qid, model_ms in zip(self.lat_qids, qms):
                    t0 = time.perf_counter()
                    retriever.invoke(ds.queries[qid])  # query vector cached: this is the search
                    lat.append(1000 * (time.perf_counter() - t0) + model_ms)
            nbytes, extra = memory_bytes(retriever, store, store_spec)
        except (EmbCompareError, ValueError, RuntimeError, NotImplementedError) as exc:
            # an unsupported combination (faiss raises RuntimeError): recorded in sweep.skipped and the stage log
            self.skipped.append({"name": name, "stage": stage, "reason": f"{type(exc).__name__}: {exc}"})
            self.ui.step(f"{name}: skipped ({type(exc).__name__}: {exc})")
            return None
        if self.qids and qids_here != self.qids:
            raise InvalidParameterError("internal: query order changed between settings")
        self.qids = qids_here
        top = {q: trec_top_k(run.get(q, {}), 10) for q in self.qids}  # the retriever's order (rank scores)
        c = Candidate(
            name=name, spec=spec, stage=stage,
            quality={mm: float(mat[j].mean()) for j, mm in enumerate(self.metrics)},
            index_bytes=nbytes, p50_ms=percentiles(lat).get("p50") if lat else None,
            usd_per_1m_texts=self.model_info[spec.model].get("usd_per_1m_texts"),
            per_query=mat[0].copy(), top=top, extra=extra,
        )
        self.measured[name] = c
        self.saved["rows"][name] = {
            "qids": self.qids, "quality": c.quality, "index_bytes": c.index_bytes, "p50_ms": c.p50_ms,
            "usd_per_1m_texts": c.usd_per_1m_texts, "per_query": c.per_query.tolist(), "top": top, "extra": extra,
        }
        self.save_state()
        self.ui.step(f"{name}: {opts.metric} {c.quality[opts.metric]:.4f}, index {format_mib(c.index_bytes)}, p50 {format_ms(c.p50_ms)}")
        return c
