"""The cluster map: real MiniLM vectors of a SciFact slice, clusters from the retriever, HTML + PNG."""

from __future__ import annotations

import json
import re
from pathlib import Path

import matplotlib.image as mpimg
import numpy as np
import pytest
from scifact_slice import with_filter_metadata

from langchain_embcompare.errors import DimensionMismatchError, InvalidParameterError
from langchain_embcompare.retrievers.cluster import ClusterPrefilterRetriever
from langchain_embcompare.retrievers.cluster_map import (
    QUERY_TRACE_NAME,
    RESULTS_TRACE_NAME,
    cluster_map,
    project_2d,
    save_cluster_map,
)
from langchain_embcompare.stores.faiss import FaissVectorStore


@pytest.fixture(scope="module")
def fitted(minilm, scifact_small):
    docs, queries, _ = with_filter_metadata(scifact_small, n_queries=3)
    store = FaissVectorStore(minilm)
    store.add_documents(docs[:150])
    retriever = ClusterPrefilterRetriever.from_store(store, n_clusters=5, nprobe=2, k=5)
    return store, retriever, next(iter(queries.values()))


def test_map_html_and_png(fitted, tmp_path: Path):
    store, retriever, query = fitted
    qv = store.embedding.encode_queries([query])[0]
    results = retriever.invoke(query)
    rows = store.rows_of([d.id for d in results])
    fig = cluster_map(store.vectors, retriever.clusters.labels, [d.page_content for d in store.documents],
                      query_vector=qv, result_ids=rows, query_text=query)
    names = [t.name for t in fig.data]
    assert sum(n.startswith("cluster ") for n in names) == 5
    qtrace = fig.data[names.index(QUERY_TRACE_NAME)]
    assert qtrace.marker.symbol == "x" and len(qtrace.x) == 1
    assert len(fig.data[names.index(RESULTS_TRACE_NAME)].x) == len(results)

    html, png = tmp_path / "map.html", tmp_path / "map.png"
    save_cluster_map(fig, html, png)
    text = html.read_text()
    # The query marker is in the figure data embedded in the page.
    assert re.search(r'"name":"query"', text) and re.search(r'"symbol":"x"', text)
    assert json.dumps(query)[1:40] in text  # hover text of the query
    img = mpimg.imread(png)
    assert png.stat().st_size > 20_000 and img.shape[0] > 400 and img.shape[1] > 400
    assert img[..., :3].std() > 0.02  # not a blank canvas
    red = (img[..., 0] > 0.8) & (img[..., 1] < 0.2) & (img[..., 2] < 0.2)
    assert red.sum() > 20  # the red X of the query is drawn


def test_projection_places_query_with_same_map(fitted):
    store, _, _ = fitted
    xy, qxy = project_2d(store.vectors, store.vectors[3])
    np.testing.assert_allclose(qxy[0], xy[3], atol=1e-4)  # PCA is linear: a document's own vector lands on it


def test_map_bad_input(fitted):
    store, retriever, _ = fitted
    texts = [d.page_content for d in store.documents]
    with pytest.raises(InvalidParameterError, match="one label and one text per vector"):
        cluster_map(store.vectors, retriever.clusters.labels[:-1], texts)
    with pytest.raises(DimensionMismatchError, match="same model and dimension"):
        cluster_map(store.vectors, retriever.clusters.labels, texts, query_vector=np.ones(16, np.float32))
    with pytest.raises(InvalidParameterError, match="row numbers"):
        cluster_map(store.vectors, retriever.clusters.labels, texts, result_ids=[len(texts) + 5])
    with pytest.raises(InvalidParameterError, match="'pca' or 'umap'"):
        cluster_map(store.vectors, retriever.clusters.labels, texts, method="tsne")  # type: ignore[arg-type]
