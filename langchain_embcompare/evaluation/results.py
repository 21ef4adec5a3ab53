"""The result of an A/B comparison: :class:`RunResult` (everything measured for one run) and
:class:`ComparisonResult` (all runs, agreement, significance, probes), which prints itself
(``to_table``/``table_text``), serialises (``to_dict``/``to_json``) and writes the HTML report
(``to_html``). Its one job is holding and presenting numbers; measuring them is
:mod:`~langchain_embcompare.evaluation.measure`'s and running them :func:`~langchain_embcompare.evaluation.compare.compare`'s.
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from langchain_embcompare.evaluation.agreement import AgreementMatrix, Run
from langchain_embcompare.evaluation.cost import CostEstimate
from langchain_embcompare.evaluation.significance import SignificanceResult

__all__ = ["ComparisonResult", "RunResult"]


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


def json_ready(x: Any) -> Any:
    """JSON-safe data: NaN / inf -> None, numpy scalars -> Python, tuples -> lists, keys -> str.

    Args:
        x: nested dicts / lists / tuples of numbers, strings and numpy scalars.

    Returns:
        The same data, ready for ``json.dumps`` (strict JSON, no NaN).
    """
    if isinstance(x, dict):
        return {str(k): json_ready(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [json_ready(v) for v in x]
    if isinstance(x, np.generic):
        x = x.item()
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


@dataclass
class ComparisonResult:
    """The comparison: prints itself (``to_table``), serialises (``to_dict``/``to_json``), reports (``to_html``).

    ``runs_raw[name]`` keeps each run (query id -> doc id -> rank score: the retriever's returned
    order as ``n - rank``; its ``returned_scores`` the scores the documents carried), e.g. for
    ``ranx_compare``.

    Args:
        dataset: the data set's name.
        n_documents: documents in the corpus.
        n_queries: queries run.
        k: documents retrieved per query.
        labelled: whether the data set has relevance labels (metrics are computed only then).
        metrics: the metrics computed, ``name@k``.
        baseline: the baseline run's name, or None.
        runs: per run name, its :class:`RunResult` (scores, timings, sizes).
        agreement: the runs' pairwise top-k agreement (overlap@k, RBO), or None.
        significance: the paired tests against the baseline, or None.
        probes: cross-index probes (queries of one run on another run's index).
        runs_raw: per run name, ``{query id: {doc id: rank score}}``.
        settings: the comparison's own settings (JSON-ready).
        image_examples: thumbnails for the report of an image data set.
        drilldown: per run, the per-query drill-down against the baseline.
        labels: how queries / labels were made when not human, or None.
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
    labels: dict[str, Any] | None = None  # how queries/labels were made when not human (BeirDataset.label_provenance)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict; each run has top-level ``ndcg@10``, ``recall@100``, ``mrr@10`` (fractions).

        Returns:
            A dict of JSON types only.
        """
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
        return json_ready(
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
                **({"labels": self.labels} if self.labels else {}),
            }
        )

    def to_json(self, path: str | Path | None = None, indent: int = 2) -> str:
        """The JSON text; also written to ``path`` when given.

        Args:
            path: file to write (parent folders are created), or None.
            indent: JSON indentation in spaces.

        Returns:
            The JSON text.
        """
        text = json.dumps(self.to_dict(), indent=indent)
        if path is not None:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            Path(path).write_text(text, encoding="utf-8")
        return text

    def to_html(self, path: str | Path, extra_figures: Mapping[str, Any] | None = None, title: str | None = None) -> Path:
        """Self-contained HTML report (plotly inlined); ``extra_figures`` e.g. ``{"cluster map": fig}``.

        Args:
            path: the HTML file to write.
            extra_figures: more plotly figures by section title, or None.
            title: the page title (default ``"Embedding comparison: <dataset>"``).

        Returns:
            The written file's path.
        """
        from langchain_embcompare.evaluation.report import write_html

        return write_html(self.to_dict(), path, extra_figures, title or f"Embedding comparison: {self.dataset}")

    def to_table(self):
        """A rich Table: one row per run."""
        from rich.table import Table

        sig = self.significance
        title = f"{self.dataset}: {self.n_queries} queries, {self.n_documents} documents, k={self.k}"
        if sig is not None and self.baseline:
            title += f" (baseline {self.baseline}; {sig.stat_test} test, {sig.correction}; * = adj. p <= {sig.alpha})"
        if self.labels:
            from langchain_embcompare.evaluation.synthetic import provenance_lines
            from langchain_embcompare.evaluation.trust import trust_lines

            caption = "\n".join(provenance_lines(self.labels) + trust_lines(self.labels.get("measured_trust")))
        table = Table(title=title, caption=caption if self.labels else None)
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
        """The table as plain text (for logs and benchmark files).

        Args:
            width: the table's width in characters.

        Returns:
            The table and the probe lines, plain text.
        """
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
