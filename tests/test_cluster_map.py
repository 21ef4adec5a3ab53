"""The cluster map: real MiniLM vectors of a SciFact slice, clusters from the retriever, HTML + PNG, on every store kind."""

from __future__ import annotations

import json
import re
from pathlib import Path

import matplotlib.image as mpimg
import numpy as np
import pytest
from scifact_slice import with_filter_metadata
from store_fixtures import STORE_PARAMS, new_store

from langchain_embcompare.errors import DimensionMismatchError, InvalidParameterError
from langchain_embcompare.retrievers.cluster import ClusterPrefilterRetriever
from langchain_embcompare.retrievers.cluster_map import (
    QUERY_TRACE_NAME,
    RESULTS_TRACE_NAME,
    cluster_map,
    project_2d,
    retriever_map,
    save_cluster_map,
)


@pytest.fixture(scope="module", params=STORE_PARAMS)
def fitted(request, minilm, scifact_small):
    docs, queries, _ = with_filter_metadata(scifact_small, n_queries=3)
    store = new_store(request.param, minilm, request)
    store.add_documents(docs[:150])
    retriever = ClusterPrefilterRetriever.from_store(store, n_clusters=5, nprobe=2, k=5)
    return store, retriever, next(iter(queries.values()))


def vectors_texts(store):
    rows = store.all_rows()
    return store.vectors_at(rows), [d.page_content for d in store.documents_at(rows)]


def test_map_html_and_png(fitted, tmp_path: Path):
    store, retriever, query = fitted
    results = retriever.invoke(query)
    fig = retriever_map(retriever, query)
    names = [t.name for t in fig.data]
    assert sum(n.startswith("cluster ") for n in names) == 5
    sizes = sorted(int(n.split("(")[1].rstrip(")")) for n in names if n.startswith("cluster "))
    assert sizes == sorted(retriever.clusters.sizes.tolist())  # each document in its cluster's trace
    qtrace = fig.data[names.index(QUERY_TRACE_NAME)]
    assert qtrace.marker.symbol == "x" and len(qtrace.x) == 1
    ringed = fig.data[names.index(RESULTS_TRACE_NAME)]
    assert len(ringed.x) == len(results) == 5
    # the ringed points are the results' own documents, in rank order
    vectors, _ = vectors_texts(store)
    xy, _ = project_2d(vectors)
    pos = np.searchsorted(store.all_rows(), store.rows_of([d.id for d in results]))
    np.testing.assert_allclose(np.c_[ringed.x, ringed.y], xy[pos], atol=1e-5)

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
    vectors, _ = vectors_texts(store)
    xy, qxy = project_2d(vectors, vectors[3])
    np.testing.assert_allclose(qxy[0], xy[3], atol=1e-4)  # PCA is linear: a document's own vector lands on it


def test_map_bad_input(fitted):
    store, retriever, _ = fitted
    vectors, texts = vectors_texts(store)
    labels = retriever.labels_of(store.all_rows())
    with pytest.raises(InvalidParameterError, match="one label and one text per vector"):
        cluster_map(vectors, labels[:-1], texts)
    with pytest.raises(DimensionMismatchError, match="same model and dimension"):
        cluster_map(vectors, labels, texts, query_vector=np.ones(16, np.float32))
    with pytest.raises(InvalidParameterError, match="row numbers"):
        cluster_map(vectors, labels, texts, result_ids=[len(texts) + 5])
    with pytest.raises(InvalidParameterError, match="'pca' or 'umap'"):
        cluster_map(vectors, labels, texts, method="tsne")  # type: ignore[arg-type]
