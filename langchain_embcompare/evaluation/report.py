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

from langchain_embcompare.ranking import trec_top_k

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
    "image_examples",
    "image_examples_html",
    "thumbnail_data_uri",
    "drilldown_html",
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
        "quality": quality_figure(data, tuple(data.get("metrics") or _QUALITY)),
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
        pre = (r.get("cost") or {}).get("kind") == "precomputed"
        cells += [
            _fmt(lat.get("p50")),
            _fmt(lat.get("p95")),
            "precomputed" if pre else _fmt((r.get("embedding") or {}).get("texts_per_second")),
            _fmt(r.get("index_memory_bytes"), "bytes"),
            "precomputed" if pre else _fmt((r.get("cost") or {}).get("usd_per_million_texts")),
        ]
        rows.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    return (
        "<table class='summary'><thead><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in head) + "</tr></thead><tbody>"
        + "".join(rows) + "</tbody></table>"
    )


def _slug(name: str) -> str:
    return "dd-" + "".join(c if c.isalnum() else "-" for c in name)


def _side_table(rows: list[Mapping[str, Any]]) -> str:
    cells = "".join(
        f"<tr class='{'rel' if r.get('relevance') else 'nonrel'}'><td>{int(r['rank'])}</td>"
        f"<td>{'&#10004; ' + str(int(r['relevance'])) if r.get('relevance') else '&middot;'}</td>"
        f"<td>{html.escape(str(r.get('doc_id', '')))}</td><td class='t'>{html.escape(str(r.get('title', '')))}</td></tr>"
        for r in rows
    )
    return "<table class='side'><tr><th>#</th><th>rel</th><th>doc</th><th>title</th></tr>" + cells + "</table>"


def _examples_html(kind: str, examples: list[Mapping[str, Any]], base_label: str, run_label: str) -> str:
    if not examples:
        return f"<p class='meta'>no {kind}</p>"
    parts = []
    for ex in examples:
        parts.append(
            f"<div class='example'><p><b>{html.escape(str(ex['query_id']))}</b> {html.escape(str(ex.get('query', '')))}"
            f" &nbsp; {html.escape(base_label)} {_fmt(ex.get('baseline'))} &rarr; {_fmt(ex.get('run'))}"
            f" (&Delta; {float(ex.get('delta', 0)):+.4f})</p><div class='pair'>"
            f"<div><b>{html.escape(base_label)}</b>{_side_table(ex.get('baseline_top') or [])}</div>"
            f"<div><b>{html.escape(run_label)}</b>{_side_table(ex.get('run_top') or [])}</div></div></div>"
        )
    return "".join(parts)


def drilldown_html(drill: Mapping[str, Any], baseline: str | None = None) -> str:
    """The per-query drill-down section: a table (wins / ties / losses, effect size) whose cells link to
    each run's largest losses and gains, shown with both top-5 lists side by side (relevance marked).

    ``drill`` is ``{run: drilldown dict}`` as :func:`~langchain_embcompare.evaluation.drilldown.drilldown`
    returns it; empty input gives an empty string.
    """
    if not drill:
        return ""
    base = baseline or "baseline"
    metric = next(iter(drill.values())).get("metric", "ndcg@10")
    rows, details = [], []
    for name, d in drill.items():
        a = _slug(name)
        dz = d.get("effect_size_dz")
        rows.append(
            f"<tr><td>{html.escape(name)}</td>"
            f"<td><a href='#{a}'>{d['wins']} / {d['ties']} / {d['losses']}</a></td>"
            f"<td>{float(d['mean_delta']):+.4f}</td><td>{'–' if dz is None else f'{dz:+.2f}'}</td>"
            f"<td><a href='#{a}-losses'>{len(d.get('largest_losses') or [])} queries</a></td>"
            f"<td><a href='#{a}-gains'>{len(d.get('largest_gains') or [])} queries</a></td></tr>"
        )
        details.append(
            f"<div class='drill' id='{a}'><h3>{html.escape(name)} against {html.escape(base)}</h3>"
            f"<h4 id='{a}-losses'>largest losses</h4>{_examples_html('losses', d.get('largest_losses') or [], base, name)}"
            f"<h4 id='{a}-gains'>largest gains</h4>{_examples_html('gains', d.get('largest_gains') or [], base, name)}</div>"
        )
    head = "".join(
        f"<th>{h}</th>"
        for h in ("run", "wins / ties / losses", f"mean &Delta; {html.escape(metric)}", "effect size d<sub>z</sub>", "largest losses", "largest gains")
    )
    return (
        f"<section class='drilldown'><h2>Per-query drill-down against {html.escape(base)} ({html.escape(metric)})</h2>"
        f"<table class='summary'><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
        + "".join(details)
        + "</section>"
    )


#: The report pages' style sheet (also used by the advisor's HTML page).
REPORT_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#222}
h1{font-size:1.5em}section{margin:28px 0}
table.summary{border-collapse:collapse;font-size:.9em}
table.summary td,table.summary th{border:1px solid #ccc;padding:4px 8px;text-align:right}
table.summary td:first-child,table.summary th:first-child{text-align:left}
.meta{color:#555;font-size:.9em}
.pair{display:flex;gap:16px}table.side{border-collapse:collapse;font-size:.85em}
table.side td,table.side th{border:1px solid #ddd;padding:2px 6px}tr.rel{background:#e8f6e8}
table.side td.t{max-width:420px}.example{margin:10px 0 18px}
"""


# --------------------------------------------------------------------------- image results (thumbnails)


def thumbnail_data_uri(ref: str, size: int = 64) -> str | None:
    """A ``data:image/png;base64,...`` thumbnail (longest side ``size`` px) of an image reference, so the
    report stays one self-contained file; None when the image cannot be read (the report still renders)."""
    import base64
    import io

    from langchain_embcompare.media.images import open_image

    try:
        img = open_image(ref)
    except Exception:  # noqa: BLE001 (a missing thumbnail must not break the report)
        return None
    img.thumbnail((size, size))
    buf = io.BytesIO()
    img.save(buf, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def image_examples(dataset: Any, runs: Mapping[str, Mapping[str, Mapping[str, float]]], n_queries: int = 3, top: int = 5) -> list[dict[str, Any]]:
    """For an image data set (corpus documents with ``metadata["image"]``): the first ``n_queries`` queries
    and each run's ``top`` results, as ``[{"query_id", "query", "query_thumb", "runs": {run: [{"doc_id",
    "score", "relevant", "thumb"}]}}]``; ``[]`` for a text data set (nothing added to the report)."""
    corpus = getattr(dataset, "corpus", None) or []
    if not corpus or "image" not in (corpus[0].metadata or {}):
        return []
    from langchain_embcompare.media.images import is_image_ref

    refs = {str(d.id or d.metadata.get("doc_id")): d.metadata["image"] for d in corpus}
    qrels = getattr(dataset, "qrels", {}) or {}
    out = []
    for qid, query in list(dataset.queries.items())[:n_queries]:
        row: dict[str, Any] = {"query_id": qid, "query": query, "query_thumb": thumbnail_data_uri(query) if is_image_ref(query) else None, "runs": {}}
        for name, run in runs.items():
            if name.startswith("probe:"):
                continue
            ranked = trec_top_k(run.get(qid) or {}, top)  # the order the metrics read (a retrieved run: the retriever's)
            own = getattr(run, "returned_scores", None)  # the scores the retriever's documents carried, to show
            carried = own.get(qid, {}) if own is not None else {} if getattr(run, "depth", None) is not None else ranked
            row["runs"][name] = [
                {"doc_id": d, "score": None if carried.get(d) is None else round(float(carried[d]), 4),
                 "relevant": qrels.get(qid, {}).get(d, 0) > 0, "thumb": thumbnail_data_uri(refs[d]) if d in refs else None}
                for d in ranked
            ]
        out.append(row)
    return out


def image_examples_html(examples: Any) -> str:
    """The report section of :func:`image_examples`: per query, its image and each run's top results as
    thumbnails (green border = relevant, grey = not), score below each. Empty string when there are none."""
    if not examples:
        return ""

    def img(uri: str | None, label: str, cls: str = "") -> str:
        inner = f"<img src='{html.escape(uri)}' alt='{html.escape(label)}'>" if uri else f"<span class='noimg'>{html.escape(label)}</span>"
        return f"<figure class='thumb {cls}'>{inner}<figcaption>{html.escape(label)}</figcaption></figure>"

    blocks = []
    for ex in examples:
        rows = "".join(
            f"<tr><th>{html.escape(name)}</th><td>"
            + "".join(img(h.get("thumb"), h["doc_id"] if h.get("score") is None else f"{h['doc_id']} · {h['score']:.3f}", "rel" if h.get("relevant") else "nonrel") for h in hits)
            + "</td></tr>"
            for name, hits in (ex.get("runs") or {}).items()
        )
        blocks.append(
            f"<div class='image-example'><div class='query'>{img(ex.get('query_thumb'), 'query ' + str(ex.get('query_id', '')))}</div>"
            f"<table>{rows}</table></div>"
        )
    return "<section class='image-results'><h2>Image results (top hits per run; green = relevant)</h2>" + "".join(blocks) + "</section>"


_IMAGE_CSS = (
    ".image-example{display:flex;gap:1em;align-items:flex-start;margin:.8em 0}"
    ".image-results figure.thumb{display:inline-block;margin:2px;text-align:center;font-size:.7em}"
    ".image-results figure.thumb img{width:64px;height:64px;object-fit:contain;border:3px solid #bbb}"
    ".image-results figure.rel img{border-color:#2a2}.image-results th{text-align:left;padding-right:.6em;font-weight:normal}"
)


def labels_html(labels: Mapping[str, Any] | None) -> str:
    """The report section saying how queries and labels were made (synthetic queries, LLM judgments), the
    trust measured for that method (with its data set) and, with a judge, Judged@10 per run and the
    Judged@k-gap warnings; empty string for human labels (``labels`` None)."""
    if not labels:
        return ""
    from langchain_embcompare.evaluation.synthetic import provenance_lines
    from langchain_embcompare.evaluation.trust import trust_lines

    lines = provenance_lines(labels) + trust_lines(labels.get("measured_trust"))
    if labels.get("synthetic") and not labels.get("measured_trust"):
        lines.append("no measured trust ships for this method: treat its ranking of runs as unverified")
    items = "".join(f"<li{' class=warn' if ln.startswith('WARNING') else ''}>{html.escape(ln)}</li>" for ln in lines)
    judged = ((labels.get("judge") or {}).get("judged_at_10")) or {}
    table = (
        "<table class='summary'><thead><tr><th>run</th><th>Judged@10</th></tr></thead><tbody>"
        + "".join(f"<tr><td>{html.escape(n)}</td><td>{float(v):.1%}</td></tr>" for n, v in judged.items())
        + "</tbody></table>"
    ) if judged else ""
    return f"<section class='labels'><h2>How the labels were made</h2><ul>{items}</ul>{table}</section>"


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
        + (("SYNTHETIC labels" if (data.get("labels") or {}).get("synthetic") else "LLM-judged labels" if data.get("labels")
            else "labelled") if data.get("labelled") else "no labels: agreement, latency, memory and cost only")
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
        f"<title>{html.escape(title)}</title><style>{REPORT_CSS}{_IMAGE_CSS if data.get('image_examples') else ''}</style>"
        f"<script type='text/javascript'>{plotly.offline.get_plotlyjs()}</script></head><body>"
        f"<h1>{html.escape(title)}</h1><p class='meta'>{meta}</p>"
        + labels_html(data.get("labels"))
        + f"<section>{_summary_table(data)}</section>"
        + "".join(sections)
        + probe_html
        + image_examples_html(data.get("image_examples"))
        + drilldown_html(data.get("drilldown") or {}, data.get("baseline"))
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
