"""The cluster map: document vectors projected to 2-D, coloured by cluster, with a query and its results.

Why: a cluster prefilter is only as good as its clusters; seeing them (and where a query lands) is the
quickest way to spot a query sitting between clusters. PCA (scikit-learn) is the default because it is
deterministic and also places the query exactly (a linear map); UMAP is used when ``method="umap"`` and
``umap-learn`` is installed. The interactive figure is plotly; the PNG is drawn with matplotlib so it
works offline (plotly's static export, kaleido, needs a Chrome download).

:func:`retriever_map` draws the map of a fitted
:class:`~langchain_embcompare.retrievers.cluster.ClusterPrefilterRetriever` on any store, through the
store protocol only (``all_rows``, ``vectors_at``, ``documents_at``).

Example::

    fig = cluster_map(vectors, labels, texts, query_vector=q, result_ids=[3, 17])
    save_cluster_map(fig, "map.html", "map.png")
    fig = retriever_map(cluster_retriever, "what do product managers do?")
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Literal, Sequence

import numpy as np
import plotly.graph_objects as go

from langchain_embcompare.errors import DimensionMismatchError, EmptyInputError, InvalidParameterError

if TYPE_CHECKING:
    from langchain_embcompare.retrievers.cluster import ClusterPrefilterRetriever

__all__ = ["project_2d", "cluster_map", "retriever_map", "save_cluster_map", "QUERY_TRACE_NAME", "RESULTS_TRACE_NAME"]

QUERY_TRACE_NAME = "query"
RESULTS_TRACE_NAME = "results"
_HOVER_CHARS = 200


def project_2d(
    vectors: np.ndarray,
    query_vector: np.ndarray | None = None,
    method: Literal["pca", "umap"] = "pca",
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Project documents (and optionally the query, with the same fitted map) to 2-D float32."""
    x = np.asarray(vectors, dtype=np.float32)
    if x.ndim != 2 or len(x) == 0:
        raise EmptyInputError("cluster_map needs a non-empty (n, dim) matrix of document vectors.")
    q = None
    if query_vector is not None:
        q = np.asarray(query_vector, dtype=np.float32).reshape(1, -1)
        if q.shape[1] != x.shape[1]:
            raise DimensionMismatchError(
                f"query vector has dim {q.shape[1]} but the document vectors have dim {x.shape[1]}; "
                "embed the query with the same model and dimension as the documents."
            )
    if method == "pca":
        from sklearn.decomposition import PCA

        n_comp = min(2, x.shape[0], x.shape[1])
        pca = PCA(n_components=n_comp, random_state=seed).fit(x)
        xy = _pad2(pca.transform(x))
        qxy = _pad2(pca.transform(q)) if q is not None else None
        return xy, qxy
    if method == "umap":
        try:
            import umap  # type: ignore[import-not-found]
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise InvalidParameterError(
                "method='umap' needs the optional package umap-learn; `pip install umap-learn` "
                "or use method='pca'."
            ) from exc
        reducer = umap.UMAP(n_components=2, random_state=seed, metric="cosine")
        xy = reducer.fit_transform(x).astype(np.float32)
        qxy = reducer.transform(q).astype(np.float32) if q is not None else None
        return xy, qxy
    raise InvalidParameterError(f"unknown projection method {method!r}; use 'pca' or 'umap'.")


def _pad2(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a, dtype=np.float32)
    if a.shape[1] < 2:
        a = np.hstack([a, np.zeros((a.shape[0], 2 - a.shape[1]), np.float32)])
    return a


def _short(text: str) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= _HOVER_CHARS else text[: _HOVER_CHARS - 1] + "…"


def cluster_map(
    vectors: np.ndarray,
    labels: Sequence[int] | np.ndarray,
    texts: Sequence[str],
    query_vector: np.ndarray | None = None,
    result_ids: Sequence[int] | None = None,
    method: Literal["pca", "umap"] = "pca",
    query_text: str | None = None,
    title: str | None = None,
) -> go.Figure:
    """Build the interactive map: one trace per cluster, the query as an X, its results ringed.

    ``result_ids`` are row numbers into ``vectors`` (the retriever's documents order).

    Args:
        vectors: (n, d) float32 document vectors.
        labels: (n,) int cluster label of each vector.
        texts: (n,) document texts, shown on hover.
        query_vector: (d,) float32 query vector, projected with the same map (optional).
        result_ids: row numbers into ``vectors`` of the query's results, ringed on the map.
        method: the 2-D projection: ``"pca"`` (scikit-learn) or ``"umap"`` (needs umap-learn).
        query_text: the query's text, shown on hover.
        title: the figure's title.

    Returns:
        A plotly ``Figure``.

    Raises:
        EmptyInputError: ``vectors`` is empty or not 2-D.
        DimensionMismatchError: the query vector's width differs from the documents'.
        InvalidParameterError: ``labels`` / ``texts`` not one per vector, ``result_ids`` out of range,
            an unknown ``method``, or ``"umap"`` without umap-learn installed.
    """
    x = np.asarray(vectors, dtype=np.float32)
    lab = np.asarray(labels).astype(np.int64).ravel()
    if len(lab) != len(x) or len(texts) != len(x):
        raise InvalidParameterError(
            f"cluster_map got {len(x)} vectors, {len(lab)} labels and {len(texts)} texts; "
            "pass one label and one text per vector, in the same order."
        )
    xy, qxy = project_2d(x, query_vector, method=method)
    fig = go.Figure()
    for c in np.unique(lab):
        rows = np.nonzero(lab == c)[0]
        fig.add_trace(
            go.Scattergl(
                x=xy[rows, 0],
                y=xy[rows, 1],
                mode="markers",
                name=f"cluster {int(c)} ({len(rows)})",
                marker={"size": 5, "opacity": 0.6},
                text=[_short(texts[i]) for i in rows],
                customdata=rows,
                hovertemplate="row %{customdata}<br>%{text}<extra>cluster " + str(int(c)) + "</extra>",
            )
        )
    if result_ids is not None and len(result_ids) > 0:
        rid = np.asarray(list(result_ids), dtype=np.int64)
        if rid.min() < 0 or rid.max() >= len(x):
            raise InvalidParameterError(
                f"result_ids must be row numbers in 0..{len(x) - 1}; got {rid.min()}..{rid.max()}."
            )
        fig.add_trace(
            go.Scatter(
                x=xy[rid, 0],
                y=xy[rid, 1],
                mode="markers+text",
                name=RESULTS_TRACE_NAME,
                marker={"size": 13, "color": "rgba(0,0,0,0)", "line": {"width": 2, "color": "black"}},
                text=[str(r + 1) for r in range(len(rid))],
                textposition="top center",
                hovertext=[f"#{r + 1} (cluster {int(lab[i])}): {_short(texts[i])}" for r, i in enumerate(rid)],
                hoverinfo="text",
            )
        )
    if qxy is not None:
        fig.add_trace(
            go.Scatter(
                x=qxy[:, 0],
                y=qxy[:, 1],
                mode="markers",
                name=QUERY_TRACE_NAME,
                marker={"symbol": "x", "size": 16, "color": "red", "line": {"width": 2, "color": "darkred"}},
                hovertext=[_short(query_text or "query")],
                hoverinfo="text",
            )
        )
    fig.update_layout(
        title=title or f"{len(np.unique(lab))} clusters, {len(x)} documents ({method.upper()} 2-D)",
        xaxis_title=f"{method.upper()} 1",
        yaxis_title=f"{method.upper()} 2",
        template="plotly_white",
        legend={"itemsizing": "constant"},
    )
    return fig


def retriever_map(
    retriever: ClusterPrefilterRetriever,
    query: str,
    k: int | None = None,
    method: Literal["pca", "umap"] = "pca",
    title: str | None = None,
) -> go.Figure:
    """The cluster map of a fitted cluster retriever's store: every document (``store.vectors_at`` of
    ``store.all_rows()``) coloured by the retriever's cluster, ``query`` as an X and its top ``k``
    (default: the retriever's ``k``) ringed, numbered by rank. Works on any store of the package.
    Raises ``EmptyInputError`` for an empty store, ``InvalidParameterError`` if the retriever is not fitted.
    """
    store = retriever.store
    rows = store.all_rows()
    if len(rows) == 0:
        raise EmptyInputError("The store holds no documents: nothing to map.")
    labels = retriever.labels_of(rows)
    qv = store.embedding.encode_queries([query])
    _, hit_rows, _ = retriever.search_rows(qv, k=k)
    hit_rows = hit_rows[0][hit_rows[0] >= 0]
    return cluster_map(
        store.vectors_at(rows), labels, [d.page_content for d in store.documents_at(rows)],
        query_vector=qv[0], result_ids=np.searchsorted(rows, hit_rows), method=method, query_text=query, title=title,
    )


def save_cluster_map(fig: go.Figure, html_path: str | Path | None = None, png_path: str | Path | None = None) -> None:
    """Write the interactive HTML (self-contained) and/or a static PNG drawn with matplotlib from the figure.

    Args:
        fig: the figure of :func:`cluster_map`.
        html_path: where to write the self-contained HTML (None: not written); parent folders are created.
        png_path: where to write the PNG (None: not written); parent folders are created.
    """
    if html_path is not None:
        Path(html_path).parent.mkdir(parents=True, exist_ok=True)
        fig.write_html(str(html_path), include_plotlyjs=True, full_html=True)
    if png_path is not None:
        _figure_to_png(fig, Path(png_path))


def _figure_to_png(fig: go.Figure, path: Path) -> None:
    """Redraw the plotly figure's traces with matplotlib (no browser needed)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    path.parent.mkdir(parents=True, exist_ok=True)
    f, ax = plt.subplots(figsize=(9, 7), dpi=110)
    cmap = plt.get_cmap("tab20")
    ci = 0
    for tr in fig.data:
        xs = np.asarray(tr.x, dtype=float)
        ys = np.asarray(tr.y, dtype=float)
        if tr.name == QUERY_TRACE_NAME:
            ax.scatter(xs, ys, marker="x", s=160, linewidths=3, c="red", label="query", zorder=5)
        elif tr.name == RESULTS_TRACE_NAME:
            ax.scatter(xs, ys, s=110, facecolors="none", edgecolors="black", linewidths=1.6, label="results", zorder=4)
            for j, (a, b) in enumerate(zip(xs, ys)):
                ax.annotate(str(j + 1), (a, b), textcoords="offset points", xytext=(4, 4), fontsize=7)
        else:
            colour = cmap((2 * ci) % 20 + (ci // 10) % 2)  # dark shades first, then light: neighbours differ
            ax.scatter(xs, ys, s=6, alpha=0.6, color=colour, label=tr.name if ci < 20 else None)
            ci += 1
    ax.set_title(fig.layout.title.text or "cluster map")
    ax.set_xlabel(fig.layout.xaxis.title.text or "")
    ax.set_ylabel(fig.layout.yaxis.title.text or "")
    ax.legend(fontsize=6, loc="best", ncol=2)
    f.tight_layout()
    f.savefig(path)
    plt.close(f)
