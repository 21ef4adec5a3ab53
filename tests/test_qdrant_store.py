"""What is particular to the Qdrant store (the shared rules run on it through ``STORE_KINDS``,
``STORE_FACTORIES`` and the generated harness): options, reopening a folder, the recorded space and
metric, row collisions, refused knobs, metadata keys that are JSON-path syntax, named vectors added
to an existing collection, and the registry line."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import HashEmbeddings
from langchain_core.documents import Document

from langchain_embcompare.errors import (
    DimensionMismatchError,
    InvalidParameterError,
    SchemaMismatchError,
    StoreConnectionError,
    VectorSpaceMismatchError,
)
from langchain_embcompare.matryoshka import MatryoshkaEmbeddings
from langchain_embcompare.stores import qdrant as qdrant_module
from langchain_embcompare.stores import registry
from langchain_embcompare.stores.qdrant import QdrantOptions, QdrantVectorStore


def emb(dim: int = 16) -> MatryoshkaEmbeddings:
    return MatryoshkaEmbeddings(HashEmbeddings(dim=dim), cache_dir=None)


DOCS = [
    Document(id="a", page_content="alpha", metadata={"a.b": "X", "year": 2001, "n[0]": 1}),
    Document(id="b", page_content="beta", metadata={"a.b": "y", "year": "2005"}),
    Document(id="c", page_content="gamma", metadata={"a": {"b": "x"}}),
]


def test_options_refuse_two_locations_and_other_locations():
    with pytest.raises(InvalidParameterError, match="one of location, path and url"):
        QdrantOptions(path="/tmp/x", url="http://localhost:6333")
    with pytest.raises(InvalidParameterError, match="location is ':memory:'"):
        QdrantOptions(location="/tmp/x")
    with pytest.raises(InvalidParameterError, match="m and ef_construct"):
        QdrantOptions(m=0)


def test_api_key_never_shown():
    opts = QdrantOptions(url="http://user:pw@127.0.0.1:1", api_key="s3cret-key")
    assert "s3cret-key" not in repr(opts) and "pw" not in repr(opts)
    assert "api_key" not in opts.to_dict() and "pw" not in str(opts.to_dict())
    with pytest.raises(StoreConnectionError) as err:
        QdrantVectorStore(emb(), opts)
    assert "s3cret-key" not in str(err.value) and ":pw@" not in str(err.value)
    assert "127.0.0.1:1" in str(err.value)


def test_unknown_kind_metric_and_quantised_precision_refused():
    with pytest.raises(InvalidParameterError, match="IVF is the FAISS and Milvus"):
        QdrantVectorStore(emb(), kind="ivf")
    with pytest.raises(InvalidParameterError, match="metric must be one of"):
        QdrantVectorStore(emb(), metric="hamming")
    with pytest.raises(InvalidParameterError, match="precision='binary'"):
        QdrantVectorStore(MatryoshkaEmbeddings(HashEmbeddings(dim=16), cache_dir=None, precision="binary"))


def test_search_knobs_local_mode_does_not_have_are_refused():
    store = QdrantVectorStore(emb(), kind="hnsw")
    store.add_documents(DOCS)
    assert store.field_index_kind() == "flat"  # local mode scans exactly whatever the kind
    q = emb().encode_queries(["alpha"])
    with pytest.raises(InvalidParameterError, match="ef_search"):
        store.search_rows(q, 2, ef_search=64)
    with pytest.raises(InvalidParameterError, match="nprobe"):
        store.search_rows(q, 2, nprobe=4)


def test_metadata_keys_with_json_path_syntax_filter_exactly():
    store = QdrantVectorStore(emb())
    store.add_documents(DOCS)
    ids = lambda f: sorted(d.id for d in store.similarity_search("q", k=10, filter=f))  # noqa: E731
    assert ids({"a.b": "x"}) == ["a"]  # the key "a.b", not the nested a -> b of document c
    assert ids({"n[0]": {"$gte": 1}}) == ["a"]
    assert ids({"year": {"$gte": 2003}}) == ["b"]  # a string that reads as a number (filters.as_number)
    assert ids({"a.b": {"$ne": "x"}}) == ["b", "c"]  # a negated leaf keeps documents lacking the key
    assert store.get_by_ids(["c"])[0].metadata == {"a": {"b": "x"}}


def test_folder_reopens_with_its_space_and_metric(tmp_path):
    opts = QdrantOptions(path=str(tmp_path / "q"), collection="kb")
    store = QdrantVectorStore(emb(), opts, metric="l2")
    store.add_documents(DOCS)
    rows = store.rows_of(["a", "b"])
    store.set_cluster_labels(rows, np.array([5, 6]))
    again = QdrantVectorStore(emb(), opts, metric="l2")
    assert again.count() == 3 and list(again.rows_of(["a", "b"])) == list(rows)
    assert list(again.cluster_labels(rows)) == [5, 6]
    with pytest.raises(SchemaMismatchError, match="metric='cosine'"):
        QdrantVectorStore(emb(), opts, metric="cosine")
    with pytest.raises((VectorSpaceMismatchError, DimensionMismatchError)):
        QdrantVectorStore(emb(8), opts, metric="l2")
    fresh = QdrantVectorStore(emb(), opts, metric="cosine", overwrite=True)
    assert fresh.count() == 0


def test_colliding_rows_are_refused_not_merged(monkeypatch):
    store = QdrantVectorStore(emb())
    store.add_documents(DOCS[:1])
    row_a = int(store.rows_of(["a"])[0])
    monkeypatch.setattr(qdrant_module, "row_handles", lambda ids: np.full(len(ids), row_a, np.int64))
    with pytest.raises(InvalidParameterError, match="hash to the same row"):
        store.add_documents(DOCS[1:2])
    assert store.get_by_ids(["a"])[0].page_content == "alpha"
    assert list(store.rows_of(["b"])) == [-1]  # the colliding id is not stored, and not taken for "a"
    store.delete(["b"])
    assert store.count() == 1


def test_vector_field_added_to_a_filled_collection():
    store = QdrantVectorStore(emb())
    store.add_documents(DOCS)
    rows = store.rows_of(["a", "b"])
    store.ensure_vector_field("small", 4)
    store.write_vector_field("small", rows, np.eye(2, 4, dtype=np.float32))
    assert store.vector_fields == {"small": 4}
    scores, found = store.search_rows(np.eye(1, 4, dtype=np.float32), 3, vector_field="small")
    assert list(found[0]) == [rows[0], rows[1], -1]  # "c" has no vector in the field: not in it
    assert np.allclose(scores[0][:2], [1.0, 0.0])
    with pytest.raises(KeyError):
        store.vectors_at(store.rows_of(["c"]), "small")
    with pytest.raises(DimensionMismatchError):
        store.ensure_vector_field("small", 8)


def test_registry_builds_qdrant_from_typed_options():
    assert "qdrant" in registry.store_names()
    opts = registry.options_for("qdrant", location=":memory:", m="8")
    assert isinstance(opts, QdrantOptions) and opts.m == 8
    store = registry.build_store("qdrant", opts, emb(), kind="flat", metric="ip", dataset_name="SciFact small")
    assert isinstance(store, QdrantVectorStore) and store.metric == "ip"
    assert store.name.startswith("embcompare_scifact_small_") and store.name.endswith("_16d_flat_ip")
    with pytest.raises(InvalidParameterError, match="Unknown option"):
        registry.options_for("qdrant", index_name="x")
