"""The Milvus store on Milvus Lite: protocol, score convention, guards, capabilities, LangChain surface."""

from __future__ import annotations

import asyncio
import time

import numpy as np
import pytest
from conftest import HashEmbeddings as _Hash
from langchain_core.documents import Document
from milvus_fixtures import milvus_collection, milvus_uri  # noqa: F401

from langchain_embcompare.errors import (
    DimensionMismatchError,
    InvalidParameterError,
    InvalidVectorError,
    MissingCapabilityError,
    SchemaMismatchError,
    StoreConnectionError,
    VectorSpaceMismatchError,
)
from langchain_embcompare.matryoshka import MatryoshkaEmbeddings
from langchain_embcompare.stores.base import exact_scores, normalize_rows, top_k
from langchain_embcompare.stores.milvus import MilvusIndexSpec, MilvusVectorStore, row_handles
from langchain_embcompare.stores.urls import redact

DIM = 16


def HashEmbeddings(dim: int = DIM, name: str | None = None) -> _Hash:  # noqa: N802
    """The conftest fake under a name of its own per dim (the embedding cache is keyed by model name)."""
    return _Hash(dim, name=name or f"milvus-hash-{dim}")


def docs_and_vectors(n: int = 60, seed: int = 0) -> tuple[list[Document], np.ndarray]:
    rng = np.random.default_rng(seed)
    docs = [Document(page_content=f"text {i}", metadata={"i": i, "genre": ["a", "b", "c"][i % 3]}, id=f"id{i}") for i in range(n)]
    return docs, rng.standard_normal((n, DIM)).astype(np.float32)


def make(uri: str, name: str, dim: int = DIM, **spec: object) -> MilvusVectorStore:
    return MilvusVectorStore(HashEmbeddings(dim), MilvusIndexSpec(name, **spec), uri=uri, overwrite=True)


@pytest.mark.parametrize("metric", ["cosine", "ip", "l2"])
def test_flat_matches_exact_search_scores_and_ranking(milvus_uri, milvus_collection, metric):  # noqa: F811
    store = make(milvus_uri, milvus_collection, metric=metric)
    docs, vectors = docs_and_vectors()
    store.upsert_vectors(vectors, docs)
    queries = np.random.default_rng(1).standard_normal((5, DIM)).astype(np.float32)
    scores, rows = store.search_rows(queries, 10)
    if metric == "cosine":
        exp_s, exp_r = top_k(exact_scores(normalize_rows(queries), normalize_rows(vectors), metric), 10)
    else:
        exp_s, exp_r = top_k(exact_scores(queries, vectors, metric), 10)
    assert [[d.id for d in store.documents_at(r)] for r in rows] == [[f"id{j}" for j in r] for r in exp_r]
    np.testing.assert_allclose(scores, exp_s, rtol=1e-5, atol=1e-5)
    if metric == "l2":
        assert (scores <= 0).all()  # minus the Euclidean distance, not Milvus's squared distance


@pytest.mark.parametrize("kind", ["hnsw", "ivf"])
def test_approximate_kinds_find_the_exact_neighbours_on_a_small_set(milvus_uri, milvus_collection, kind):  # noqa: F811
    store = make(milvus_uri, milvus_collection, kind=kind, nlist=4, nprobe=4)
    docs, vectors = docs_and_vectors()
    store.upsert_vectors(vectors, docs)
    info = store.client.describe_index(store.name, "vector")
    assert info["index_type"] == {"hnsw": "HNSW", "ivf": "IVF_FLAT"}[kind]
    q = vectors[:3] + 0.01
    _, rows = store.search_rows(q, 1)
    assert [d.id for d in store.documents_at(rows[:, 0])] == ["id0", "id1", "id2"]


def test_empty_store_and_match_nothing_filters_return_nothing(milvus_uri, milvus_collection):  # noqa: F811
    store = make(milvus_uri, milvus_collection)
    assert store.similarity_search("anything", k=3) == []
    scores, rows = store.search_rows(np.ones((2, DIM), np.float32), 3)
    assert (rows == -1).all() and np.isneginf(scores).all()
    docs, vectors = docs_and_vectors(6)
    store.upsert_vectors(vectors, docs)
    assert store.similarity_search("x", k=3, filter={"genre": {"$in": []}}) == []
    assert store.similarity_search("x", k=3, filter={"genre": "zzz"}) == []
    assert len(store.similarity_search("x", k=3, filter={"genre": {"$nin": []}})) == 3
    _, rows = store.search_rows(np.ones((1, DIM), np.float32), 10)
    assert (rows[0, 6:] == -1).all() and (rows[0, :6] >= 0).all()


def test_upsert_replaces_delete_unknown_get_by_ids(milvus_uri, milvus_collection):  # noqa: F811
    store = make(milvus_uri, milvus_collection)
    docs, vectors = docs_and_vectors(5)
    assert store.upsert_vectors(vectors, docs) == [d.id for d in docs]
    row = store.rows_of(["id2"])[0]
    new = Document(page_content="changed", metadata={"genre": "z"}, id="id2")
    store.upsert_vectors(vectors[2:3] * -1, [new])
    assert store.count() == 5
    assert store.get_by_ids(["id2"])[0].page_content == "changed"
    assert store.rows_of(["id2"])[0] == row  # rows are a hash of the id: an upsert keeps the row
    np.testing.assert_allclose(store.vectors_at([row]), normalize_rows(-vectors[2:3]), atol=1e-6)
    assert store.delete(["id0", "no-such-id"]) is True
    assert store.count() == 4
    assert [d.id for d in store.get_by_ids(["id4", "nope", "id1"])] == ["id4", "id1"]
    assert store.rows_of(["id0", "id1"]).tolist() == [-1, int(row_handles(["id1"])[0])]
    assert store.delete() is True and store.count() == 0
    # a batch naming one id twice keeps the last
    store.upsert_vectors(vectors[:2], [Document(page_content="first", id="dup"), Document(page_content="last", id="dup")])
    assert store.count() == 1 and store.get_by_ids(["dup"])[0].page_content == "last"


def test_ids_rule_documents_without_ids_never_collapse(milvus_uri, milvus_collection):  # noqa: F811
    store = make(milvus_uri, milvus_collection)
    ids = store.add_texts(["same", "same", "other"])
    assert len(set(ids)) == 3 and store.count() == 3
    assert store.add_texts(["x"], ids=["given"]) == ["given"]
    assert store.add_documents([Document(page_content="y", metadata={"doc_id": "from-meta"})]) == ["from-meta"]


def test_protocol_reads(milvus_uri, milvus_collection):  # noqa: F811
    store = make(milvus_uri, milvus_collection)
    docs, vectors = docs_and_vectors(8)
    store.upsert_vectors(vectors, docs)
    rows = store.all_rows()
    assert rows.dtype == np.int64 and len(rows) == 8 and (np.diff(rows) > 0).all()
    picked = store.rows_of(["id5", "id1"])
    assert [d.id for d in store.documents_at(picked)] == ["id5", "id1"]
    assert store.documents_at(picked)[0].metadata == {"i": 5, "genre": "c"}
    v = store.vectors_at(picked)
    assert v.dtype == np.float32 and v.shape == (2, DIM)
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1, atol=1e-6)
    with pytest.raises(KeyError):
        store.documents_at([12345])


def test_candidate_rows_clusters_and_extra_vector_fields(milvus_uri, milvus_collection):  # noqa: F811
    store = make(milvus_uri, milvus_collection, extra_vector_fields={"vector_4": 4})
    assert store.capabilities == {"candidate_rows", "clusters", "vector_fields", "full_text"}  # full_text: Lite's BM25
    assert store.vector_fields == {"vector_4": 4}
    docs, vectors = docs_and_vectors(30)
    store.upsert_vectors(vectors, docs)
    rows = store.rows_of([d.id for d in docs])
    # candidate rows: only those come back
    _, got = store.search_rows(vectors[:1], 5, candidate_rows=rows[10:13])
    assert set(got[0][got[0] >= 0].tolist()) == set(rows[10:13].tolist())
    assert (store.search_rows(vectors[:1], 5, candidate_rows=np.zeros(0, np.int64))[1] == -1).all()
    # clusters
    labels = np.arange(30) % 3
    store.set_cluster_labels(rows, labels)
    assert store.cluster_labels(rows[:4]).tolist() == [0, 1, 2, 0]
    _, got = store.search_rows(vectors[:1], 30, clusters=[1])
    found = got[0][got[0] >= 0]
    assert len(found) == 10 and set(store.cluster_labels(found).tolist()) == {1}
    # an upsert keeps the label
    store.upsert_vectors(vectors[1:2], [docs[1]])
    assert store.cluster_labels(rows[1:2]).tolist() == [1]
    # the extra field holds the re-normalised 4-d prefix, and is searchable
    np.testing.assert_allclose(store.vectors_at(rows[:3], "vector_4"), normalize_rows(vectors[:3, :4]), atol=1e-6)
    s, r = store.search_rows(vectors[:1, :4], 1, vector_field="vector_4")
    assert r[0, 0] == rows[0] and s[0, 0] == pytest.approx(1.0, abs=1e-5)
    new = np.random.default_rng(3).standard_normal((2, 4)).astype(np.float32)
    store.write_vector_field("vector_4", rows[:2], new)
    np.testing.assert_allclose(store.vectors_at(rows[:2], "vector_4"), normalize_rows(new), atol=1e-6)
    store.ensure_vector_field("vector_4", 4)
    with pytest.raises(InvalidParameterError, match="extra_vector_fields"):
        store.ensure_vector_field("vector_8", 8)
    with pytest.raises(InvalidParameterError, match="vector_8"):
        store.search_rows(vectors[:1, :8], 1, vector_field="vector_8")


def test_guards_dimension_nan_counts(milvus_uri, milvus_collection):  # noqa: F811
    store = make(milvus_uri, milvus_collection)
    docs, vectors = docs_and_vectors(3)
    with pytest.raises(DimensionMismatchError):
        store.upsert_vectors(vectors[:, :8], docs)
    bad = vectors.copy()
    bad[1, 2] = np.nan
    with pytest.raises(InvalidVectorError):
        store.upsert_vectors(bad, docs)
    with pytest.raises(InvalidParameterError):
        store.upsert_vectors(vectors[:2], docs)
    store.upsert_vectors(vectors, docs)
    with pytest.raises(DimensionMismatchError):
        store.search_rows(np.ones((1, 8), np.float32), 2)
    with pytest.raises(InvalidParameterError, match="16384"):
        store.search_rows(np.ones((1, DIM), np.float32), 20000)
    with pytest.raises(InvalidParameterError, match="max_text_bytes"):
        store.upsert_vectors(vectors[:1], [Document(page_content="é" * 40000, id="long")])


def test_reopen_checks_space_and_schema(milvus_uri, milvus_collection):  # noqa: F811
    store = make(milvus_uri, milvus_collection, kind="hnsw", metadata_schema={"genre": "tag"})
    docs, vectors = docs_and_vectors(4)
    store.upsert_vectors(vectors, docs)
    same = MilvusVectorStore(HashEmbeddings(DIM), MilvusIndexSpec(milvus_collection, kind="hnsw", metadata_schema={"genre": "tag"}, ef_search=50), uri=milvus_uri)
    assert same.count() == 4  # query-time knobs may differ
    reopened = MilvusVectorStore.from_existing(milvus_collection, HashEmbeddings(DIM), milvus_uri)
    assert reopened.spec.kind == "hnsw" and reopened.spec.metadata_schema == {"genre": "tag"}
    with pytest.raises(SchemaMismatchError, match="index: collection has HNSW, asked for FLAT"):
        MilvusVectorStore(HashEmbeddings(DIM), MilvusIndexSpec(milvus_collection, metadata_schema={"genre": "tag"}), uri=milvus_uri)
    with pytest.raises(SchemaMismatchError, match="metadata_schema"):
        MilvusVectorStore(HashEmbeddings(DIM), MilvusIndexSpec(milvus_collection, kind="hnsw"), uri=milvus_uri)
    with pytest.raises(SchemaMismatchError, match="dim 16, asked for 8"):
        MilvusVectorStore(HashEmbeddings(8), MilvusIndexSpec(milvus_collection, kind="hnsw", metadata_schema={"genre": "tag"}), uri=milvus_uri)
    with pytest.raises(VectorSpaceMismatchError, match="milvus-other-model"):
        MilvusVectorStore(HashEmbeddings(DIM, name="milvus-other-model"), MilvusIndexSpec(milvus_collection, kind="hnsw", metadata_schema={"genre": "tag"}), uri=milvus_uri)
    with pytest.raises(InvalidParameterError, match="No Milvus collection"):
        MilvusVectorStore.from_existing("no_such_collection", HashEmbeddings(DIM), milvus_uri)


def test_unsupported_precisions_and_options_raise(milvus_uri):  # noqa: F811
    for precision in ("binary", "int8"):
        emb = MatryoshkaEmbeddings(HashEmbeddings(DIM), precision=precision)
        with pytest.raises(InvalidParameterError, match=f"precision='{precision}'.*FAISS"):
            MilvusVectorStore(emb, MilvusIndexSpec("p"), uri=milvus_uri)
    with pytest.raises(InvalidParameterError, match="kind"):
        MilvusIndexSpec(kind="diskann")
    with pytest.raises(InvalidParameterError, match="reserved"):
        MilvusIndexSpec(metadata_schema={"row": "tag"})
    with pytest.raises(InvalidParameterError, match="consistency_level"):
        MilvusIndexSpec(consistency_level="Sometimes")


def test_unreachable_server_fails_fast_naming_the_uri_without_the_token():
    t0 = time.perf_counter()
    with pytest.raises(StoreConnectionError) as err:
        MilvusVectorStore(HashEmbeddings(DIM), uri="http://root:s3cret@127.0.0.1:1", token="root:s3cret", timeout=3)
    assert time.perf_counter() - t0 < 10
    assert "127.0.0.1:1" in str(err.value) and "s3cret" not in str(err.value)
    assert redact("https://u:pw@h:19530") == "https://u:***@h:19530"


def test_mmr_async_and_retriever(milvus_uri, milvus_collection):  # noqa: F811
    store = make(milvus_uri, milvus_collection)
    texts = ["apples", "apples", "apples", "bananas", "cherries"]
    store.add_texts(texts, [{"n": i} for i in range(5)], ids=[f"t{i}" for i in range(5)])
    mmr = store.max_marginal_relevance_search("apples", k=2, fetch_k=5, lambda_mult=0.1)
    assert len(mmr) == 2 and mmr[0].page_content == "apples" and mmr[1].page_content != "apples"
    hits = asyncio.run(store.asimilarity_search("apples", k=3))
    assert [d.page_content for d in hits] == ["apples"] * 3
    docs = store.as_retriever(search_kwargs={"k": 2, "filter": {"n": {"$gte": 3}}}).invoke("bananas")
    assert [d.id for d in docs][0] == "t3" and all(d.metadata["n"] >= 3 for d in docs)


def test_index_api_incremental_and_full_cleanup(milvus_uri, milvus_collection):  # noqa: F811
    from langchain_core.indexing import InMemoryRecordManager, index

    store = make(milvus_uri, milvus_collection)
    rm = InMemoryRecordManager(namespace="milvus-test")
    rm.create_schema()
    docs = [Document(page_content=f"page {i}", metadata={"source": f"s{i % 2}"}) for i in range(4)]
    r = index(docs, rm, store, cleanup="incremental", source_id_key="source", key_encoder="sha256")
    assert r["num_added"] == 4 and store.count() == 4
    r = index(docs, rm, store, cleanup="incremental", source_id_key="source", key_encoder="sha256")
    assert r["num_skipped"] == 4 and r["num_added"] == 0 and store.count() == 4
    changed = [Document(page_content="page 0 v2", metadata={"source": "s0"}), *docs[1:2]]
    r = index(changed, rm, store, cleanup="incremental", source_id_key="source", key_encoder="sha256")
    # s0 keeps only "page 0 v2", s1 only "page 1": pages 0, 2 and 3 go
    assert r["num_added"] == 1 and r["num_deleted"] == 3 and store.count() == 2
    r = index(docs[:1], rm, store, cleanup="full", source_id_key="source", key_encoder="sha256")
    assert store.count() == 1 and r["num_added"] == 1 and r["num_deleted"] == 2
    assert store.similarity_search("page 0", k=5)[0].page_content == "page 0"


def test_missing_capability_error_is_not_raised_for_declared_ones(milvus_uri, milvus_collection):  # noqa: F811
    store = make(milvus_uri, milvus_collection)
    for cap in ("candidate_rows", "clusters", "vector_fields"):
        store.require(cap, "x")
    with pytest.raises(MissingCapabilityError):
        store.require("something_else", "x")


def test_metadata_json_cannot_hold_is_refused_and_tuples_become_lists(milvus_uri, milvus_collection):  # noqa: F811
    """The input rules of every store (docs/concepts/input-rules.md; all stores: tests/test_input_rules.py)."""
    from langchain_embcompare.errors import InvalidDocumentError

    store = make(milvus_uri, milvus_collection)
    docs = [Document(page_content="a", id="a", metadata={"s": {"x"}}), Document(page_content="b", id="b", metadata={"n": 1})]
    with pytest.raises(InvalidDocumentError, match=r"document 'a': metadata\['s'\] is a builtins.set"):
        store.upsert_vectors(np.ones((2, DIM), np.float32), docs)
    docs[0] = Document(page_content="a", id="a", metadata={"t": (1, 2)})
    store.upsert_vectors(np.ones((2, DIM), np.float32), docs)
    got = {d.id: d.metadata for d in store.get_by_ids(["a", "b"])}
    assert got == {"a": {"t": [1, 2]}, "b": {"n": 1}}


def test_bulk_load_then_upsert_into_a_non_empty_collection(milvus_uri, milvus_collection):  # noqa: F811
    """The first load skips the look-up of stored ids (empty collection); later ones replace, never duplicate."""
    store = make(milvus_uri, milvus_collection, batch_size=7)
    docs, vectors = docs_and_vectors(20)
    store.upsert_vectors(vectors, docs)
    store.upsert_vectors(vectors[5:15], docs[5:15])
    assert store.count() == 20 and len(np.unique(store.all_rows())) == 20
    hits = store.search_vectors(vectors[:1], k=20)[0]
    assert len({d.id for d, _ in hits}) == 20
