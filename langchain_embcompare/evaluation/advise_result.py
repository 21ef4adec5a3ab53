"""The shrink advisor's answer: :class:`Candidate` (one measured setting) and :class:`AdviceResult`
(the one-screen summary, the rich table, JSON, the self-contained HTML report, and the winner as an
``ab.toml`` / Python snippet).

Part of :mod:`langchain_embcompare.evaluation.advise`.
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from langchain_embcompare.evaluation.advise_front import BUDGETS
from langchain_embcompare.evaluation.advise_stats import NonInferiority
from langchain_embcompare.evaluation.compare import RunSpec
from langchain_embcompare.evaluation.results import json_ready

# --- candidates -------------------------------------------------------------------------------------


@dataclass
class Candidate:
    """One measured setting. ``per_query`` = primary-metric scores in ``AdviceResult.query_ids`` order;
    ``top`` = each query's ``top_keep`` best doc ids with scores (for the drill-down)."""

    name: str
    spec: RunSpec
    stage: str
    quality: dict[str, float]
    index_bytes: int | None
    p50_ms: float | None
    usd_per_1m_texts: float | None
    per_query: np.ndarray
    top: dict[str, dict[str, float]] = field(default_factory=dict, repr=False)
    extra: dict[str, Any] = field(default_factory=dict)
    test: NonInferiority | None = None

    def row(self, metric: str) -> dict[str, Any]:
        """The JSON row: ``name``, ``settings``, ``<metric>``, ``index_bytes``, ``p50_ms``, ``usd_per_1m_texts``, test."""
        d: dict[str, Any] = {
            "name": self.name, "stage": self.stage, "settings": _spec_settings(self.spec),
            **self.quality, "index_bytes": self.index_bytes, "p50_ms": self.p50_ms,
            "usd_per_1m_texts": self.usd_per_1m_texts,
        }
        if self.test is not None:
            d["delta"] = self.test.delta
            d["ci"] = [self.test.ci_low, self.test.ci_high]
            d["ci_level"] = self.test.ci_level
            d["p_value"] = self.test.p_value
            d["p_adjusted"] = self.test.p_adjusted
            d["non_inferior"] = self.test.non_inferior
            d["detectable_margin"] = self.test.detectable_margin
        if self.extra:
            d["extra"] = self.extra
        return d


def _spec_settings(spec: RunSpec) -> dict[str, Any]:
    """The spec's fields that differ from a default RunSpec of the same model and store (plus the model),
    minus ``k`` and ``name``: the store's typed options count as default when they equal that store's defaults."""
    d = spec.to_dict()
    defaults = RunSpec(model=spec.model, store=spec.store).to_dict()
    out = {"model": d["model"]}
    for k, v in d.items():
        if k in ("model", "k", "name"):
            continue
        if k in defaults and defaults[k] == v:
            continue
        out[k] = v
    return out


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    return json.dumps(str(v))


# --- the result -------------------------------------------------------------------------------------


@dataclass
class AdviceResult:
    """The advisor's answer: prints (``summary_text``), serialises (``to_dict`` / ``to_json``), reports (``to_html``).

    ``winner`` is None when no cheaper candidate is non-inferior; ``status`` says why:
    ``"non_inferior"`` (a winner), ``"none_non_inferior"`` (the data could detect the margin, no cheaper
    setting passed), ``"underpowered"`` (too few labelled queries for this margin: see
    ``detectable_margin`` and ``queries_needed``), ``"no_cheaper_candidate"`` (nothing cheaper than the
    baseline was measured, e.g. the time budget ran out).

    ``detectable_margin`` is the smallest margin the data could prove (80 % power, level alpha / number of
    candidates) for the cheaper candidate with the least spread of per-query differences: when it is
    above ``margin``, the margin asked is below what these queries can resolve, and ``queries_needed``
    (= n_queries x (detectable_margin / margin)^2, the sample-size formula's scaling) says how many would.

    Args:
        dataset: the data set's name.
        n_documents: documents in the corpus.
        n_queries: labelled queries measured.
        metric: the metric compared, ``name@k`` (e.g. ``"ndcg@10"``).
        margin: the non-inferiority margin, in the metric's units (absolute).
        alpha: the significance level (family-wise, split over the candidates).
        test: the paired test used.
        budgets: the cost axes the fronts are drawn on (e.g. ``"bytes"``, ``"ms"``).
        baseline: the baseline candidate.
        candidates: every other candidate measured.
        winner: the cheapest non-inferior candidate, or None.
        winners: the winner per budget (candidate name or None).
        status: ``"non_inferior"``, ``"none_non_inferior"``, ``"underpowered"`` or ``"no_cheaper_candidate"``.
        detectable_margin: the smallest margin these queries could prove, or None.
        queries_needed: labelled queries needed to prove ``margin``, or None.
        fronts: the Pareto front per budget (candidate names).
        drilldown: the per-query drill-down of the winner against the baseline.
        sweep: facts of the sweep (settings measured, seconds, ...).
        query_ids: the labelled query ids, in measurement order.
        labels: how queries / labels were made when not human (synthetic manifest + measured trust), or None.
    """

    dataset: str
    n_documents: int
    n_queries: int
    metric: str
    margin: float
    alpha: float
    test: str
    budgets: list[str]
    baseline: Candidate
    candidates: list[Candidate]
    winner: Candidate | None
    winners: dict[str, str | None]
    status: str
    detectable_margin: float | None
    queries_needed: int | None
    fronts: dict[str, list[str]]
    drilldown: dict[str, Any]
    sweep: dict[str, Any]
    query_ids: list[str] = field(default_factory=list, repr=False)
    labels: dict[str, Any] | None = None  # how queries/labels were made when not human (synthetic manifest + measured trust)

    # -- the winner as code ---------------------------------------------------------------------------

    def winner_toml(self) -> str | None:
        """An ``ab.toml`` comparing the baseline with the winner (``embcompare compare --config``), or None.

        Returns:
            The TOML text, or None without a winner.
        """
        if self.winner is None:
            return None
        lines = [f"baseline = {json.dumps('baseline')}", f"k = {self.baseline.spec.k}"]
        for name, c in (("baseline", self.baseline), ("advised", self.winner)):
            lines += ["", "[[runs]]", f"name = {json.dumps(name)}"]
            lines += [f"{k} = {_toml_value(v)}" for k, v in _spec_settings(c.spec).items() if v is not None]
        return "\n".join(lines) + "\n"

    def winner_python(self) -> str | None:
        """Python lines that build the winning retriever (the same code path the advisor measured).

        Returns:
            The Python source, or None without a winner.
        """
        if self.winner is None:
            return None
        args = ", ".join(f"{k}={v!r}" for k, v in _spec_settings(self.winner.spec).items() if v is not None)
        return (
            "import dataclasses\n"
            "from langchain_embcompare.evaluation.compare import RunSpec\n"
            "from langchain_embcompare.evaluation.pipeline import build_embeddings, build_retriever, build_store\n"
            f"spec = RunSpec({args}, k={self.winner.spec.k})\n"
            + ("index_spec = dataclasses.replace(spec, precision='float32')  # the funnel rescores float vectors\n"
               if self.winner.spec.retriever == "funnel" else "index_spec = spec\n")
            + "emb = build_embeddings(index_spec, dataset.texts)\n"
            "retriever = build_retriever(spec, build_store(index_spec, emb, dataset))\n"
        )

    # -- serialisation --------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: ``baseline``, ``winner``, ``front``, ``candidates``, ``margin``, ``n_queries``,
        ``detectable_margin`` (+ status, fronts per budget, winners per budget, drill-down, sweep facts).

        Returns:
            A dict of JSON types only.
        """
        m = self.metric
        by_name = {c.name: c for c in self.candidates}
        front_names = list(dict.fromkeys(n for names in self.fronts.values() for n in names))
        front = []
        for n in front_names:
            row = (self.baseline if n == self.baseline.name else by_name[n]).row(m)
            row["fronts"] = [a for a, names in self.fronts.items() if n in names]
            front.append(row)
        winner = None
        if self.winner is not None:
            winner = self.winner.row(m)
            winner["ab_toml"] = self.winner_toml()
            winner["python"] = self.winner_python()
            winner["memory_ratio"] = _ratio(self.winner.index_bytes, self.baseline.index_bytes)
        return json_ready(
            {
                "dataset": self.dataset,
                "n_documents": self.n_documents,
                "n_queries": self.n_queries,
                "metric": m,
                "margin": self.margin,
                "alpha": self.alpha,
                "test": self.test,
                "correction": "holm",
                "budget": self.budgets[0],
                "budgets": self.budgets,
                "status": self.status,
                "detectable_margin": self.detectable_margin,
                "queries_needed": self.queries_needed,
                "baseline": self.baseline.row(m),
                "winner": winner,
                "winners": self.winners,
                "front": front,
                "fronts": self.fronts,
                "candidates": [c.row(m) for c in self.candidates],
                "drilldown": self.drilldown,
                "sweep": self.sweep,
                **({"labels": self.labels} if self.labels else {}),
                "answer": self.summary_text(),
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

    def summary_text(self) -> str:
        """The one-screen answer, plain text.

        Returns:
            Multi-line plain text.
        """
        b, m = self.baseline, self.metric
        lines = [
            f"{self.dataset}: {self.n_queries} labelled queries ({self.label_kind()}), {self.n_documents} documents; "
            f"{self.sweep.get('n_measured', len(self.candidates) + 1)} settings measured in {self.sweep.get('seconds', 0):.0f} s"
            + (" (stopped by the time budget)" if self.sweep.get("truncated") else ""),
            f"baseline {b.name}: {m} {b.quality.get(m, float('nan')):.4f}, index {format_mib(b.index_bytes)}, p50 {format_ms(b.p50_ms)}",
        ]
        budget = self.budgets[0]
        if self.winner is not None:
            w, t = self.winner, self.winner.test
            lines += [
                (f"cheapest on {budget} that is non-inferior at margin {self.margin:g} ({self.test} test, Holm over "
                 f"{len(self.candidates)} candidates, alpha {self.alpha:g}):"),
                f"  {w.name}",
                (f"  {m} {w.quality.get(m, float('nan')):.4f} (difference {t.delta:+.4f}, {t.ci_level:.0%} CI "
                 f"[{t.ci_low:+.4f}, {t.ci_high:+.4f}], adjusted p {t.p_adjusted:.2g}); index {format_mib(w.index_bytes)} "
                 f"({_pct(w.index_bytes, b.index_bytes)} of the baseline), p50 {format_ms(w.p50_ms)}"),
            ]
        elif self.status == "no_cheaper_candidate":
            lines.append(f"no winner: no setting cheaper on {budget} than the baseline was measured"
                         + (" before the time budget ran out." if self.sweep.get("truncated") else "."))
        elif self.status == "underpowered":
            lines += [
                f"no winner: {self.n_queries} labelled queries cannot prove a margin of {self.margin:g}: the smallest "
                f"margin these data could detect is {_f3(self.detectable_margin)}"
                + (f"; label about {self.queries_needed} queries to test {self.margin:g}." if self.queries_needed else "."),
            ]
        else:
            lines += [
                (f"no cheaper setting is non-inferior at margin {self.margin:g} ({self.test} test, Holm over "
                 f"{len(self.candidates)} candidates, alpha {self.alpha:g}); the data could detect a margin of "
                 f"{_f3(self.detectable_margin)}."),
            ]
            best = self._closest()
            if best is not None and best.test is not None:
                lines.append(
                    f"  closest: {best.name}: difference {best.test.delta:+.4f}, CI [{best.test.ci_low:+.4f}, "
                    f"{best.test.ci_high:+.4f}], adjusted p {best.test.p_adjusted:.2g}"
                )
        for axis in self.budgets[1:]:
            lines.append(f"cheapest non-inferior on {axis}: {self.winners.get(axis) or 'none'}")
        for axis, names in self.fronts.items():
            lines.append(f"Pareto front ({m} vs {axis}): {len(names)} settings")
        if self.labels:
            from langchain_embcompare.evaluation.synthetic import provenance_lines
            from langchain_embcompare.evaluation.trust import trust_lines

            lines += provenance_lines(self.labels) + trust_lines(self.labels.get("measured_trust"))
            lines += self._winner_judged_gap()
        return "\n".join(lines)

    def label_kind(self) -> str:
        """How the labels the decision used were made, in a few words: ``"human labels"``,
        ``"SYNTHETIC labels (cloze)"``, or either followed by ``" + LLM-judged labels (model)"``.

        Returns:
            The text.
        """
        labels = self.labels or {}
        kind = f"SYNTHETIC labels ({labels.get('method')})" if labels.get("synthetic") else "human labels"
        judge = labels.get("judge")
        return kind + (f" + LLM-judged labels ({judge.get('model')})" if judge else "")

    def judged_at_10(self) -> dict[str, float]:
        """Judged@10 per setting (the share of its top-10 carrying a label), ``{}`` without a judge.

        Returns:
            setting name -> fraction in [0, 1].
        """
        return dict(((self.labels or {}).get("judge") or {}).get("judged_at_10") or {})

    def _winner_judged_gap(self) -> list[str]:
        """A warning when the winner's Judged@10 and the baseline's differ by more than the judge's gap."""
        from langchain_embcompare.evaluation.judge import JUDGED_GAP

        judged = self.judged_at_10()
        if self.winner is None or self.winner.name not in judged or self.baseline.name not in judged:
            return []
        w, b = judged[self.winner.name], judged[self.baseline.name]
        if abs(w - b) <= JUDGED_GAP:
            return []
        return [
            f"WARNING: the winner's Judged@10 ({w:.0%}) and the baseline's ({b:.0%}) differ by {abs(w - b) * 100:.0f} "
            "points: unjudged documents count as not relevant, so this decision is not reliable (raise the judge's budget)."
        ]

    def _closest(self) -> Candidate | None:
        key = BUDGETS[self.budgets[0]]
        base_v = getattr(self.baseline, key)
        cheaper = [c for c in self.candidates if c.test is not None and strictly_less(getattr(c, key), base_v)]
        return min(cheaper, key=lambda c: c.test.p_adjusted) if cheaper else None

    def to_table(self):
        """A rich Table of the front (quality, CI of the difference, memory, latency, cost)."""
        from rich.table import Table

        m = self.metric
        table = Table(title=f"Pareto front on {self.dataset} (margin {self.margin:g}; * = non-inferior; {self.label_kind()})")
        judged = self.judged_at_10()
        cols = ["setting", m, f"diff [{1 - 2 * self.alpha:.0%} CI]", "adj. p", "index", "p50 ms", "USD/1M"] + (["Judged@10"] if judged else [])
        for col in cols:
            table.add_column(col, justify="left" if col == "setting" else "right", overflow="fold")
        names = list(dict.fromkeys(n for ns in self.fronts.values() for n in ns))
        by = {c.name: c for c in [self.baseline, *self.candidates]}
        for n in sorted(names, key=lambda n: -(by[n].index_bytes or 0)):
            c = by[n]
            t = c.test
            mark = " (baseline)" if c is self.baseline else (" <- winner" if c is self.winner else "")
            table.add_row(
                n + mark,
                f"{c.quality.get(m, float('nan')):.4f}" + ("*" if t and t.non_inferior else ""),
                "-" if t is None else f"{t.delta:+.4f} [{t.ci_low:+.4f},{t.ci_high:+.4f}]",
                "-" if t is None else f"{t.p_adjusted:.2g}",
                format_mib(c.index_bytes), format_ms(c.p50_ms, unit=False),
                "-" if c.usd_per_1m_texts is None else f"{c.usd_per_1m_texts:.4f}",
                *([f"{judged[n]:.0%}" if n in judged else "-"] if judged else []),
            )
        return table

    def to_html(self, path: str | Path, title: str | None = None) -> Path:
        """Self-contained HTML: the answer, the winner's snippet, the fronts (plotly), every candidate, the drill-down.

        Args:
            path: the HTML file to write (parent folders are created).
            title: the page title (default ``"Shrink advisor: <dataset>"``).

        Returns:
            ``path`` as a Path.
        """
        import plotly.offline

        from langchain_embcompare.evaluation.report import (
            REPORT_CSS,
            drilldown_html,
            labels_html,
            pareto_figure,
        )

        m = self.metric
        rows = [self.baseline, *self.candidates]
        data = {
            "labelled": True,
            "runs": {
                c.name: {m: c.quality.get(m), "latency_ms": {"p50": c.p50_ms}, "index_memory_bytes": c.index_bytes,
                         "cost": {"usd_per_million_texts": c.usd_per_1m_texts}}
                for c in rows
            },
        }
        fig = pareto_figure(data, metric=m)
        fig_html = fig.to_html(full_html=False, include_plotlyjs=False, config={"displaylogo": False}) if fig else ""
        d = self.to_dict()
        judged = self.judged_at_10()
        head = ["setting", "stage", m, "diff", "CI", "adj. p", "non-inferior", "index", "p50 ms", "USD/1M", "front"]
        head += ["Judged@10"] if judged else []
        front_of = {n: [a for a, ns in self.fronts.items() if n in ns] for n in (c.name for c in rows)}
        trs = []
        for r in [d["baseline"], *d["candidates"]]:
            ci = r.get("ci") or [None, None]
            name = html.escape(r["name"])
            if r["name"] in self.drilldown:
                name = f"<a href='#dd-{''.join(ch if ch.isalnum() else '-' for ch in r['name'])}'>{name}</a>"
            cells = [
                name, html.escape(str(r.get("stage", ""))), _f4(r.get(m)), _f4s(r.get("delta")),
                "–" if ci[0] is None else f"[{ci[0]:+.4f}, {ci[1]:+.4f}]",
                "–" if r.get("p_adjusted") is None else f"{r['p_adjusted']:.2g}",
                {True: "yes", False: "no"}.get(r.get("non_inferior"), "baseline"),
                format_mib(r.get("index_bytes")), format_ms(r.get("p50_ms"), unit=False),
                "–" if r.get("usd_per_1m_texts") is None else f"{r['usd_per_1m_texts']:.4f}",
                ", ".join(front_of.get(r["name"], [])),
            ]
            if judged:
                cells.append(f"{judged[r['name']]:.1%}" if r["name"] in judged else "–")
            cls = " class='winner'" if self.winner is not None and r["name"] == self.winner.name else ""
            trs.append(f"<tr{cls}>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
        snippet = ""
        if self.winner is not None:
            snippet = (
                "<h2>The winner as a config</h2><pre>" + html.escape(self.winner_toml() or "") + "</pre>"
                "<h2>… and in Python</h2><pre>" + html.escape(self.winner_python() or "") + "</pre>"
            )
        title = title or f"Shrink advisor: {self.dataset}"
        payload = json.dumps(d, default=str).replace("</", "<\\/")
        text = (
            "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
            f"<title>{html.escape(title)}</title><style>{REPORT_CSS} tr.winner{{background:#fff6d5}} pre{{background:#f4f4f4;padding:8px}}</style>"
            f"<script type='text/javascript'>{plotly.offline.get_plotlyjs()}</script></head><body>"
            f"<h1>{html.escape(title)}</h1><section><pre class='answer'>{html.escape(self.summary_text())}</pre></section>"
            + labels_html(self.labels) +
            f"{snippet}<section class='plot-section' data-plot='pareto'>{fig_html}</section>"
            "<section><h2>Every setting measured</h2><table class='summary'><thead><tr>"
            + "".join(f"<th>{html.escape(h)}</th>" for h in head)
            + "</tr></thead><tbody>" + "".join(trs) + "</tbody></table></section>"
            + drilldown_html(self.drilldown, self.baseline.name)
            + f"<script type='application/json' id='advice-data'>{payload}</script></body></html>"
        )
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text, encoding="utf-8")
        return p

    def __str__(self) -> str:
        return self.summary_text()


def _ratio(a: Any, b: Any) -> float | None:
    return None if a is None or not b else float(a) / float(b)


def strictly_less(a: Any, b: Any) -> bool:
    """Whether ``a < b`` with both known (a cost that is None, e.g. a store that cannot tell its bytes, is
    never cheaper nor dearer).

    Args:
        a, b: numbers or None.

    Returns:
        True when both are numbers and ``a < b``.
    """
    return a is not None and b is not None and float(a) < float(b)


def format_mib(b: Any) -> str:
    """Bytes as ``"1.23 MiB"`` (2**20 bytes), ``"-"`` for None.

    Args:
        b: a byte count or None.

    Returns:
        The text.
    """
    return "-" if b is None else f"{float(b) / 2**20:.2f} MiB"


def format_ms(v: Any, unit: bool = True) -> str:
    """Milliseconds with two decimals (``"1.25 ms"``, or ``"1.25"`` with ``unit=False``), ``"-"`` for None.

    Args:
        v: milliseconds or None.
        unit: append ``" ms"``.

    Returns:
        The text.
    """
    return "-" if v is None else f"{float(v):.2f}" + (" ms" if unit else "")


def _pct(a: Any, b: Any) -> str:
    r = _ratio(a, b)
    return "-" if r is None else f"{r:.1%}"


def _f3(v: Any) -> str:
    return "-" if v is None else f"{float(v):.3f}"


def _f4(v: Any) -> str:
    return "–" if v is None else f"{float(v):.4f}"


def _f4s(v: Any) -> str:
    return "–" if v is None else f"{float(v):+.4f}"
