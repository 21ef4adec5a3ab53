"""A self-contained HTML report of a comparison: one file, plotly.js inlined, opens offline.

Input is the JSON-ready dict of ``ComparisonResult.to_dict()`` (so a saved JSON can be re-rendered
without re-running anything), plus optional extra plotly figures (e.g. the cluster map from
``langchain_embcompare.retrievers.cluster_map.cluster_map``).

Plots: quality bars with confidence intervals, nDCG@10 against the Matryoshka dimension per model,
quality against latency / memory / cost with each Pareto front, and the agreement heatmap (a menu
switches between RBO, overlap@k, Kendall tau, ...). Without labels the quality plots are replaced
by a latency / memory / cost plot.
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import plotly.graph_objects as go
import plotly.offline
from plotly.colors import qualitative
from plotly.subplots import make_subplots

__all__ = [
    "quality_figure",
    "dimension_figure",
    "pareto_figure",
    "efficiency_figure",
    "agreement_figure",
    "report_figures",
    "build_html",
    "write_html",
    "pareto_front",
]

_QUALITY = ("ndcg@10", "recall@100", "mrr@10")
_SYMBOLS = ("circle", "diamond", "square", "triangle-up")
_AGREEMENT_LABELS = {
    "rbo": "rank-biased overlap",
    "overlap": "overlap@k",
    "kendall": "Kendall tau (shared docs)",
    "spearman": "Spearman rho (shared docs)",
    "wasserstein": "score Wasserstein distance",
    "ks": "score KS statistic",
}


def _runs(data: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    return dict(data.get("runs", {}))


def _num(x: Any) -> float:
    return float("nan") if x is None else float(x)


def pareto_front(cost: np.ndarray, quality: np.ndarray) -> np.ndarray:
    """Indices of the points no other point beats (lower-or-equal cost and higher-or-equal quality), by cost."""
    cost, quality = np.asarray(cost, float), np.asarray(quality, float)
    ok = np.flatnonzero(np.isfinite(cost) & np.isfinite(quality))
    order = ok[np.lexsort((-quality[ok], cost[ok]))]
    front, best = [], -np.inf
    for i in order:
        if quality[i] > best:
            front.append(i)
            best = quality[i]
    return np.asarray(front, dtype=np.int64)


def quality_figure(data: Mapping[str, Any], metrics: tuple[str, ...] = _QUALITY) -> go.Figure | None:
    """Grouped bars per run and metric, error bars = the bootstrap interval; * marks significance."""
    runs = _runs(data)
    metrics = tuple(m for m in metrics if any(m in r for r in runs.values()))
    if not data.get("labelled") or not metrics:
        return None
    names = list(runs)
    fig = go.Figure()
    for m in metrics:
        means = np.array([_num(runs[n].get(m)) for n in names])
        lo = np.array([_num(runs[n].get("ci", {}).get(m, [None, None])[0]) for n in names])
        hi = np.array([_num(runs[n].get("ci", {}).get(m, [None, None])[1]) for n in names])
        sig = ["*" if runs[n].get("significant", {}).get(m) else "" for n in names]
        pvals = [runs[n].get("p_adjusted", {}).get(m) for n in names]
        fig.add_bar(
            name=m,
            x=names,
            y=means,
            error_y=dict(type="data", symmetric=False, array=np.nan_to_num(hi - means), arrayminus=np.nan_to_num(means - lo)),
            text=[f"{v:.3f}{s}" for v, s in zip(means, sig)],
            textposition="outside",
            customdata=np.array([[_num(a), _num(b), _num(p)] for a, b, p in zip(lo, hi, pvals)]),
            hovertemplate="%{x}<br>" + m + " = %{y:.4f}<br>CI [%{customdata[0]:.4f}, %{customdata[1]:.4f}]"
            "<br>adjusted p vs baseline = %{customdata[2]:.3g}<extra></extra>",
        )
    base = data.get("baseline")
    conf = data.get("confidence", 0.95)
    fig.update_layout(
        title=f"Quality with {conf:.0%} bootstrap intervals (* = significant vs baseline {base!s}, "
        f"{data.get('stat_test', '')}, {data.get('correction', '')}-corrected)",
        barmode="group",
        yaxis=dict(title="score", range=[0, 1.12]),
        legend=dict(orientation="h"),
    )
    return fig


def dimension_figure(data: Mapping[str, Any], metric: str = "ndcg@10") -> go.Figure | None:
    """One line per model: quality against its (Matryoshka) dimension."""
    runs = _runs(data)
    if not data.get("labelled"):
        return None
    by_model: dict[str, list[tuple[int, float, float, float, str]]] = {}
    for name, r in runs.items():
        if r.get("dim") is None or r.get(metric) is None:
            continue
        lo, hi = r.get("ci", {}).get(metric, [r[metric], r[metric]])
        by_model.setdefault(str(r.get("model") or name), []).append((int(r["dim"]), r[metric], _num(lo), _num(hi), name))
    if not by_model:
        return None
    fig = go.Figure()
    for model, pts in by_model.items():
        pts.sort()
        d = np.array([p[0] for p in pts])
        y = np.array([p[1] for p in pts])
        lo = np.array([p[2] for p in pts])
        hi = np.array([p[3] for p in pts])
        fig.add_scatter(
            x=d,
            y=y,
            mode="lines+markers",
            name=model,
            text=[p[4] for p in pts],
            error_y=dict(type="data", symmetric=False, array=np.nan_to_num(hi - y), arrayminus=np.nan_to_num(y - lo)),
            hovertemplate="%{text}<br>dim %{x}<br>" + metric + " = %{y:.4f}<extra></extra>",
        )
    fig.update_layout(
        title=f"{metric} against embedding dimension (Matryoshka truncation)",
        xaxis=dict(title="dimension", type="log"),
        yaxis=dict(title=metric),
    )
    return fig


_AXES = (
    ("latency_p50_ms", "latency p50 per query (ms)"),
    ("index_memory_bytes", "index memory (bytes)"),
    ("cost_usd_per_million_texts", "cost per million texts (USD)"),
)


def _axis_values(runs: dict[str, dict[str, Any]], key: str) -> np.ndarray:
    if key == "latency_p50_ms":
        return np.array([_num((r.get("latency_ms") or {}).get("p50")) for r in runs.values()])
    if key == "cost_usd_per_million_texts":
        return np.array([_num((r.get("cost") or {}).get("usd_per_million_texts")) for r in runs.values()])
    return np.array([_num(r.get(key)) for r in runs.values()])


def pareto_figure(data: Mapping[str, Any], metric: str = "ndcg@10") -> go.Figure | None:
    """Quality against latency, memory and cost; the dashed line joins each panel's Pareto front.

    Each run is one colour across the three panels with one legend entry (clicking it hides the run
    everywhere): text labels next to the markers collide as soon as two runs cost about the same.
    """
    runs = _runs(data)
    if not data.get("labelled"):
        return None
    names = list(runs)
    q = np.array([_num(r.get(metric)) for r in runs.values()])
    palette = qualitative.Plotly + qualitative.D3
    fig = make_subplots(rows=1, cols=3, subplot_titles=[t for _, t in _AXES], shared_yaxes=True)
    for col, (key, title) in enumerate(_AXES, start=1):
        x = _axis_values(runs, key)
        for i, name in enumerate(names):
            fig.add_scatter(
                x=[x[i]], y=[q[i]], mode="markers", name=name, legendgroup=name, showlegend=col == 1,
                marker=dict(size=11, color=palette[i % len(palette)], symbol=_SYMBOLS[i // len(palette) % len(_SYMBOLS)],
                            line=dict(width=1, color="white")),
                row=1, col=col, hovertemplate=f"{name}<br>{title} = %{{x:.4g}}<br>{metric} = %{{y:.4f}}<extra></extra>",
            )
        front = pareto_front(x, q)
        if front.size:
            fig.add_scatter(
                x=x[front], y=q[front], mode="lines", line=dict(dash="dash", color="grey"), name="Pareto front",
                legendgroup="Pareto front", showlegend=col == 1, row=1, col=col, hoverinfo="skip",
            )
        positive = x[np.isfinite(x) & (x > 0)]
        fig.update_xaxes(title_text=title, type="log" if positive.size and positive.max() / positive.min() > 20 else "linear", row=1, col=col)
    fig.update_yaxes(title_text=metric, row=1, col=1)
    fig.update_layout(title=f"{metric} against latency, memory and cost (up and left is better)", height=480)
    return fig


def efficiency_figure(data: Mapping[str, Any]) -> go.Figure | None:
    """Label-free mode: latency against cost, marker size = index memory."""
    runs = _runs(data)
    if not runs:
        return None
    names = list(runs)
    lat = _axis_values(runs, "latency_p50_ms")
    cost = _axis_values(runs, "cost_usd_per_million_texts")
    mem = _axis_values(runs, "index_memory_bytes")
    size = 10 + 30 * np.nan_to_num(mem / np.nanmax(mem)) if np.any(np.isfinite(mem)) else 12
    fig = go.Figure(
        go.Scatter(
            x=cost, y=lat, mode="markers+text", text=names, textposition="top center", cliponaxis=False,
            marker=dict(size=size), customdata=np.nan_to_num(mem),
            hovertemplate="%{text}<br>cost %{x:.4g} USD / 1M texts<br>p50 %{y:.2f} ms<br>index %{customdata:.3s}B<extra></extra>",
        )
    )
    fig.update_layout(
        title="Latency against cost (marker size = index memory)",
        xaxis=dict(title="cost per million texts (USD)"),
        yaxis=dict(title="latency p50 per query (ms)"),
    )
    return fig


def agreement_figure(data: Mapping[str, Any], default: str = "rbo") -> go.Figure | None:
    """Heatmap of pairwise agreement; the menu switches metric."""
    agreement = data.get("agreement") or {}
    names = agreement.get("names") or []
    mats = agreement.get("metrics") or {}
    if len(names) < 2 or not mats:
        return None
    keys = [k for k in _AGREEMENT_LABELS if k in mats]
    default = default if default in keys else keys[0]

    def z(k: str) -> np.ndarray:
        return np.array([[_num(v) for v in row] for row in mats[k]], dtype=float)

    def text(k: str) -> list[list[str]]:
        return [["" if np.isnan(v) else f"{v:.2f}" for v in row] for row in z(k)]

    fig = go.Figure(
        go.Heatmap(
            z=z(default), x=names, y=names, text=text(default), texttemplate="%{text}",
            colorscale="Viridis", zmin=None, hovertemplate="%{y} vs %{x}: %{z:.4f}<extra></extra>",
        )
    )
    buttons = [
        dict(label=_AGREEMENT_LABELS[k], method="update", args=[{"z": [z(k)], "text": [text(k)]}, {"title.text": _title(k, agreement)}])
        for k in keys
    ]
    fig.update_layout(
        title=_title(default, agreement),
        updatemenus=[dict(buttons=buttons, direction="down", x=1.0, xanchor="right", y=1.15, yanchor="top")],
        yaxis=dict(autorange="reversed"),
        height=max(420, 60 * len(names) + 180),
    )
    return fig


def _title(k: str, agreement: Mapping[str, Any]) -> str:
    extra = f" (k={agreement.get('k')})" if k == "overlap" else f" (p={agreement.get('p')})" if k == "rbo" else ""
    return f"Agreement between runs: {_AGREEMENT_LABELS[k]}{extra}"


def report_figures(data: Mapping[str, Any], extra_figures: Mapping[str, go.Figure] | None = None) -> dict[str, go.Figure]:
    """Every figure the report shows, in order, by a short id."""
    figs = {
        "quality": quality_figure(data),
        "dimension": dimension_figure(data),
        "pareto": pareto_figure(data),
        "efficiency": None if data.get("labelled") else efficiency_figure(data),
        "agreement": agreement_figure(data),
    }
    out = {k: f for k, f in figs.items() if f is not None}
    for name, fig in (extra_figures or {}).items():
        if not isinstance(fig, go.Figure):
            from langchain_embcompare.errors import InvalidParameterError

            raise InvalidParameterError(f"extra figure {name!r} is a {type(fig).__name__}, not a plotly Figure.")
        out[name] = fig
    return out


def _fmt(v: Any, kind: str = "") -> str:
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return "–"
    if kind == "bytes":
        v = float(v)
        for unit in ("B", "KiB", "MiB", "GiB"):
            if v < 1024 or unit == "GiB":
                return f"{v:.1f} {unit}" if unit != "B" else f"{int(v)} B"
            v /= 1024
    if kind == "p":
        return f"{float(v):.3g}"
    if isinstance(v, float):
        return f"{v:.4f}" if abs(v) < 10 else f"{v:,.1f}"
    return html.escape(str(v))


def _summary_table(data: Mapping[str, Any]) -> str:
    runs = _runs(data)
    labelled = bool(data.get("labelled"))
    metrics = [m for m in data.get("metrics", _QUALITY)] if labelled else []
    head = ["run", "kind"] + [f"{m} [CI]" for m in metrics] + (["adj. p (nDCG@10)"] if labelled and data.get("baseline") else [])
    head += ["p50 ms", "p95 ms", "texts/s", "index", "USD / 1M texts"]
    rows = []
    for name, r in runs.items():
        cells = [html.escape(name) + (" <b>(baseline)</b>" if name == data.get("baseline") else "")]
        cells.append(html.escape(str((r.get("extra") or {}).get("kind", "dense"))))  # lexical | dense | hybrid
        for m in metrics:
            lo, hi = (r.get("ci") or {}).get(m, [None, None])
            cells.append(f"{_fmt(r.get(m))} [{_fmt(lo)}, {_fmt(hi)}]")
        if labelled and data.get("baseline"):
            cells.append(_fmt((r.get("p_adjusted") or {}).get("ndcg@10"), "p"))
        lat = r.get("latency_ms") or {}
        cells += [
            _fmt(lat.get("p50")),
            _fmt(lat.get("p95")),
            _fmt((r.get("embedding") or {}).get("texts_per_second")),
            _fmt(r.get("index_memory_bytes"), "bytes"),
            _fmt((r.get("cost") or {}).get("usd_per_million_texts")),
        ]
        rows.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    return (
        "<table class='summary'><thead><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in head) + "</tr></thead><tbody>"
        + "".join(rows) + "</tbody></table>"
    )


_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#222}
h1{font-size:1.5em}section{margin:28px 0}
table.summary{border-collapse:collapse;font-size:.9em}
table.summary td,table.summary th{border:1px solid #ccc;padding:4px 8px;text-align:right}
table.summary td:first-child,table.summary th:first-child{text-align:left}
.meta{color:#555;font-size:.9em}
"""


def build_html(
    data: Mapping[str, Any],
    extra_figures: Mapping[str, go.Figure] | None = None,
    title: str = "Embedding comparison",
) -> str:
    """The report as one HTML string (plotly.js inlined once, every figure a ``div.plot-section``)."""
    figs = report_figures(data, extra_figures)
    meta = (
        f"data set <b>{html.escape(str(data.get('dataset', '')))}</b> · {data.get('n_documents', '?')} documents · "
        f"{data.get('n_queries', '?')} queries · k={data.get('k', '?')} · "
        + ("labelled" if data.get("labelled") else "no labels: agreement, latency, memory and cost only")
    )
    sections = []
    builtin = {"quality", "dimension", "pareto", "efficiency", "agreement"}
    for i, (fid, fig) in enumerate(figs.items()):
        div = fig.to_html(full_html=False, include_plotlyjs=False, div_id=f"plot-{i}", config={"displaylogo": False})
        heading = "" if fid in builtin else f"<h2>{html.escape(fid)}</h2>"
        sections.append(f"<section class='plot-section' data-plot='{html.escape(fid)}'>{heading}{div}</section>")
    probes = data.get("probes") or []
    probe_html = ""
    if probes:
        items = "".join(
            f"<li>queries of <b>{html.escape(p['query_run'])}</b> against the index of <b>{html.escape(p['index_run'])}</b>: "
            f"overlap@{p.get('k', '')} = {_fmt(p.get('overlap'))}, RBO = {_fmt(p.get('rbo'))}"
            + (f", nDCG@10 = {_fmt(p.get('ndcg@10'))}" if p.get("ndcg@10") is not None else "")
            + "</li>"
            for p in probes
        )
        probe_html = f"<section><h2>Cross-model probes (how far from the index model's own results)</h2><ul>{items}</ul></section>"
    payload = json.dumps(data, default=str).replace("</", "<\\/")  # safe inside <script>
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title><style>{_CSS}</style>"
        f"<script type='text/javascript'>{plotly.offline.get_plotlyjs()}</script></head><body>"
        f"<h1>{html.escape(title)}</h1><p class='meta'>{meta}</p>"
        f"<section>{_summary_table(data)}</section>"
        + "".join(sections)
        + probe_html
        + f"<script type='application/json' id='comparison-data'>{payload}</script>"
        + "</body></html>"
    )


def write_html(
    data: Mapping[str, Any],
    path: str | Path,
    extra_figures: Mapping[str, go.Figure] | None = None,
    title: str = "Embedding comparison",
) -> Path:
    """Write :func:`build_html` to ``path`` (parents created); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(build_html(data, extra_figures, title), encoding="utf-8")
    return path
