"""RedisVectorStore against a real Redis (fixture ``redis_url``): index kinds x metrics x dtypes, score
parity with brute force, every filter kind (and parity with the in-process evaluator), the store
protocol (rows, documents_at, vectors_at, clusters, vector fields), idempotent loading, guards."""

from __future__ import annotations

import uuid

import numpy as np
import pytest
from langchain_core.documents import Document
from langchain_core.embeddings import DeterministicFakeEmbedding
from redisvl.query.filter import Num, Tag, Text

from langchain_embcompare.errors import (
    DimensionMismatchError,
    MissingCapabilityError,
    EmptyInputError,
    InvalidParameterError,
    InvalidVectorError,
    SchemaMismatchError,
    StoreConnectionError,
    VectorSpaceMismatchError,
)
from langchain_embcompare.filters import evaluate_filter
from langchain_embcompare.matryoshka import MatryoshkaEmbeddings, VectorSpace
from langchain_embcompare.stores.base import normalize_rows
from langchain_embcompare.stores.redis import RedisIndexSpec, RedisVectorStore
from langchain_embcompare.stores.redis_schema import filter_query

N, D = 240, 16
GENRES = ["news", "sport", "science"]
WORDS = ["vaccine", "protein", "climate", "galaxy"]
SCHEMA = {"genre": "tag", "year": "numeric", "title": "text"}


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, list[Document], np.ndarray]:
    rng = np.random.default_rng(42)
    x = rng.standard_normal((N, D)).astype(np.float32)
    docs = [
        Document(
            id=f"doc-{i}",
            page_content=f"document {i} about {WORDS[i % 4]}",
            metadata={"genre": GENRES[i % 3], "year": 1990 + i % 30, "title": f"{WORDS[(i // 4) % 4]} study {i}"},
        )
        for i in range(N)
    ]
    q = rng.standard_normal((6, D)).astype(np.float32)
    return x, docs, q


def _emb() -> MatryoshkaEmbeddings:
    """A deterministic fake model (no disk cache): these tests are about the store, not the model."""
    return MatryoshkaEmbeddings(DeterministicFakeEmbedding(size=D), cache_dir=None)


def _store(url: str, **spec_kw) -> RedisVectorStore:
    spec_kw.setdefault("metadata_schema", SCHEMA)
    spec = RedisIndexSpec(f"t_{uuid.uuid4().hex[:10]}", **spec_kw)
    return RedisVectorStore(_emb(), spec, url, space=VectorSpace("fake-model", D))


def _brute(x: np.ndarray, q: np.ndarray, metric: str, dtype: str) -> np.ndarray:
    """Scores in the package convention, on the vectors as stored (rounded to ``dtype``)."""
    xr, qr = x.astype(dtype).astype(np.float32), q.astype(dtype).astype(np.float32)
    if metric == "cosine":
        xr = xr / np.linalg.norm(xr, axis=1, keepdims=True)
        qr = qr / np.linalg.norm(qr, axis=1, keepdims=True)
        return qr @ xr.T
    if metric == "ip":
        return qr @ xr.T
    return -np.sqrt(((qr[:, None, :] - xr[None, :, :]) ** 2).sum(-1))


@pytest.mark.parametrize("dtype", ["float32", "float16"])
@pytest.mark.parametrize("metric", ["cosine", "ip", "l2"])
@pytest.mark.parametrize("kind", ["flat", "hnsw"])
def test_scores_match_brute_force(redis_url, data, kind, metric, dtype):
    x, docs, q = data
    store = _store(redis_url, kind=kind, metric=metric, dtype=dtype, ef_search=N)
    store.upsert_vectors(x, docs)
    assert store.count() == N
    k = 10
    scores, rows = store.search_rows(q, k)
    assert scores.shape == rows.shape == (len(q), k) and scores.dtype == np.float32 and rows.dtype == np.int64
    assert [d.id for d in store.documents_at(rows[0])] == [d.id for d, _ in store.search_vectors(q[:1], k)[0]]
    res = store.search_vectors(q, k)
    want = _brute(x, q, metric, dtype)
    # float16 cosine: Redis normalises then rounds to fp16, the reference rounds then normalises.
    tol = 1e-5 if dtype == "float32" else 1e-3
    for qi, hits in enumerate(res):
        rows = [int(d.id.split("-")[1]) for d, _ in hits]
        assert rows == np.argsort(-want[qi], kind="stable")[:k].tolist()
        got = np.array([s for _, s in hits])
        np.testing.assert_allclose(got, want[qi, rows], atol=tol, rtol=0)
        assert np.all(np.diff(got) <= 1e-6), "scores must be sorted descending (higher = more similar)"
    store.drop()


def test_loading_twice_leaves_one_copy_and_round_trips(redis_url, data):
    x, docs, _ = data
    store = _store(redis_url)
    ids = store.upsert_vectors(x, docs)
    rows = store.rows_of(ids)
    store.upsert_vectors(x, docs)
    assert store.count() == N
    assert ids[:2] == ["doc-0", "doc-1"]
    np.testing.assert_array_equal(store.rows_of(ids), rows)  # an update keeps the row
    np.testing.assert_array_equal(store.all_rows(), np.sort(rows))
    assert store.rows_of(["doc-3", "missing"]).tolist() == [rows[3], -1]
    got = store.get_by_ids(["doc-5", "missing", "doc-7"])
    assert [d.id for d in got] == ["doc-5", "doc-7"]
    assert got[0].metadata == docs[5].metadata and got[0].page_content == docs[5].page_content
    # cosine: stored unit length (the protocol's vectors_at rule)
    np.testing.assert_allclose(store.vectors_at(rows[[7, 5]]), normalize_rows(x[[7, 5]]), atol=1e-6)
    np.testing.assert_allclose(store.vectors_at(store.rows_of(["doc-7", "doc-5"])), normalize_rows(x[[7, 5]]), atol=1e-6)
    assert [d.id for d in store.documents_at(rows[[9, 2]])] == ["doc-9", "doc-2"]  # fetched: no search before
    store.delete(["doc-5"])
    assert store.count() == N - 1 and store.rows_of(["doc-5"]).tolist() == [-1]
    assert rows[5] not in store.all_rows()
    with pytest.raises(KeyError):
        store.documents_at([rows[5]])
    with pytest.raises(KeyError):
        store.vectors_at([rows[5]])
    with pytest.raises(KeyError):
        store.documents_at([10**9])
    store.drop()


def test_documents_at_after_search_needs_no_round_trip(redis_url, data):
    x, docs, q = data
    store = _store(redis_url)
    ids = store.upsert_vectors(x[:50], docs[:50])
    row_of = dict(zip(ids, store.rows_of(ids).tolist()))
    scores, rows = store.search_rows(q, 5)
    client = store.client

    class NoServer:
        def __getattr__(self, name):
            raise AssertionError(f"documents_at went to the server ({name})")

    store.client = NoServer()
    try:
        got = store.documents_at(rows.ravel())
    finally:
        store.client = client
    assert [row_of[d.id] for d in got] == rows.ravel().tolist()
    first = got[0]
    assert first.page_content == docs[int(first.id.split("-")[1])].page_content
    # an update through this store keeps the row and invalidates its cached document
    store.upsert_vectors(x[:1], [Document(id=first.id, page_content="changed", metadata={"genre": "news"})])
    assert store.rows_of([first.id])[0] == rows[0, 0]
    again = store.documents_at(rows[:1, 0])[0]
    assert (again.page_content, again.metadata) == ("changed", {"genre": "news"})
    store.drop()


@pytest.fixture(scope="module")
def filtered(redis_url, data):
    x, docs, _ = data
    store = _store(redis_url, metric="cosine")
    store.upsert_vectors(x, docs, cluster_ids=np.arange(N) % 5)
    yield store
    store.drop()


def _expected(data, mask: np.ndarray, k: int) -> list[list[str]]:
    x, _, q = data
    s = _brute(x, q, "cosine", "float32")
    s[:, ~mask] = -np.inf
    return [[f"doc-{i}" for i in np.argsort(-row, kind="stable")[: min(k, int(mask.sum()))]] for row in s]


META_CASES = {
    "tag": (Tag("genre") == "news", lambda m, i: m["genre"] == "news"),
    "tag_in": (Tag("genre") == ["news", "sport"], lambda m, i: m["genre"] in ("news", "sport")),
    "tag_ne": (Tag("genre") != "news", lambda m, i: m["genre"] != "news"),
    "tag_case_insensitive": (Tag("genre") == "NEWS", lambda m, i: m["genre"] == "news"),
    "num_range": (Num("year").between(2000, 2005), lambda m, i: 2000 <= m["year"] <= 2005),
    "num_gt": (Num("year") > 2010, lambda m, i: m["year"] > 2010),
    "text_term": (Text("title") % "vaccine", lambda m, i: "vaccine" in m["title"]),
    "text_prefix": (Text("title") % "galax*", lambda m, i: "galaxy" in m["title"]),
    "and": ((Tag("genre") == "science") & (Num("year") < 2000), lambda m, i: m["genre"] == "science" and m["year"] < 2000),
    "or": ((Tag("genre") == "sport") | (Text("title") % "climate"), lambda m, i: m["genre"] == "sport" or "climate" in m["title"]),
    "dict_eq": ({"genre": "sport"}, lambda m, i: m["genre"] == "sport"),
    "dict_ops": ({"genre": {"$in": ["news"]}, "year": {"$gte": 2005, "$lt": 2015}}, lambda m, i: m["genre"] == "news" and 2005 <= m["year"] < 2015),
    "dict_or_text": ({"$or": [{"title": {"$like": "protein"}}, {"year": {"$lte": 1992}}]}, lambda m, i: "protein" in m["title"] or m["year"] <= 1992),
    "dict_nin": ({"genre": {"$nin": ["news", "sport"]}}, lambda m, i: m["genre"] == "science"),
}


@pytest.mark.parametrize("case", sorted(META_CASES))
def test_filters_match_brute_force(filtered, data, case):
    expr, pred = META_CASES[case]
    _, docs, q = data
    mask = np.array([pred(d.metadata, i) for i, d in enumerate(docs)])
    assert 0 < mask.sum() < N, "a filter case must select some but not all documents"
    # the in-process evaluator (FAISS, Milvus parity) reads the same filter the same way
    np.testing.assert_array_equal(evaluate_filter(expr, [d.metadata for d in docs]), mask)
    res = filtered.search_vectors(q, 8, filter=expr)
    assert [[d.id for d, _ in hits] for hits in res] == _expected(data, mask, 8)


def test_cluster_prefilter_and_candidate_rows(filtered, data):
    _, docs, q = data
    cl = np.arange(N) % 5
    res = filtered.search_vectors(q, 5, clusters=[1, 3])
    assert [[d.id for d, _ in h] for h in res] == _expected(data, np.isin(cl, [1, 3]), 5)
    # clusters AND a user filter
    genre = np.array([d.metadata["genre"] for d in docs])
    res = filtered.search_vectors(q, 5, filter={"genre": "news"}, clusters=[2])
    assert [[d.id for d, _ in h] for h in res] == _expected(data, (cl == 2) & (genre == "news"), 5)
    # a dict filter on the reserved cluster tag works too
    res = filtered.search_vectors(q, 5, filter={"cluster": "4"})
    assert [[d.id for d, _ in h] for h in res] == _expected(data, cl == 4, 5)
    cand = filtered.rows_of([f"doc-{i}" for i in range(0, N, 7)])
    res = filtered.search_vectors(q, 4, candidate_rows=cand)
    assert [[d.id for d, _ in h] for h in res] == _expected(data, np.isin(np.arange(N), np.arange(0, N, 7)), 4)
    # clusters=[] and empty candidate_rows select nothing: all padding, like $in: []
    for kw in ({"clusters": []}, {"candidate_rows": np.zeros(0, np.int64)}):
        s, r = filtered.search_rows(q, 4, **kw)
        assert (r == -1).all() and np.isneginf(s).all()
    # labels written later (what the cluster retriever does) are searched the same way
    rows = filtered.rows_of([d.id for d in docs])
    np.testing.assert_array_equal(filtered.cluster_labels(rows), cl)
    filtered.set_cluster_labels(rows, (cl + 1) % 5)
    np.testing.assert_array_equal(filtered.cluster_labels(rows[:7]), ((cl + 1) % 5)[:7])
    res = filtered.search_vectors(q, 5, clusters=[2])
    assert [[d.id for d, _ in h] for h in res] == _expected(data, cl == 1, 5)
    filtered.set_cluster_labels(rows[:3], np.array([-1, -1, -1]))  # a negative label (noise) is a label too
    _, r = filtered.search_rows(q, 5, clusters=[-1])
    assert set(r.ravel().tolist()) == set(rows[:3].tolist()) | {-1}
    filtered.set_cluster_labels(rows, cl)
    assert {"candidate_rows", "clusters", "vector_fields"} <= filtered.capabilities


def test_filter_on_unindexed_field_names_the_fix(filtered, data):
    with pytest.raises(InvalidParameterError, match="metadata_schema"):
        filtered.search_vectors(data[2], 3, filter={"author": "x"})
    with pytest.raises(InvalidParameterError, match="indexed as 'numeric'"):
        filter_query({"year": {"$like": 3}}, {"year": "numeric"})
    with pytest.raises(InvalidParameterError, match="needs a number"):
        filter_query({"year": {"$gte": "2000"}}, {"year": "numeric"})
    with pytest.raises(InvalidParameterError, match="indexed as 'text'"):
        filtered.search_vectors(data[2], 3, filter={"title": "vaccine study 3"})
    with pytest.raises(InvalidParameterError, match="needs numbers"):
        filtered.search_vectors(data[2], 3, filter={"year": "recent"})
    assert filter_query({"genre": "a b", "year": {"$gt": 3}}, {"genre": "tag", "year": "numeric"}) == r"(@genre:{a\ b} @year:[(3.0 +inf])"


def test_extra_vector_field_for_funnel(redis_url, data):
    x, docs, q = data
    small = x[:, :4] / np.linalg.norm(x[:, :4], axis=1, keepdims=True)
    store = _store(redis_url, extra_vector_fields={"vector_small": 4})
    assert store.vector_fields == {"vector_small": 4}
    ids = store.upsert_vectors(x, docs)  # the small field defaults to the re-normalised Matryoshka prefix
    rows = store.rows_of(ids)
    np.testing.assert_allclose(store.vectors_at(rows[[3]], "vector_small"), small[[3]], atol=1e-6)
    store.upsert_vectors(x, docs, extra_vectors={"vector_small": small})
    s, r = store.search_rows(q[:, :4], 5, vector_field="vector_small")
    want = _brute(small, q[:, :4], "cosine", "float32")
    assert r.tolist() == [rows[np.argsort(-w)[:5]].tolist() for w in want]
    np.testing.assert_allclose(s, np.sort(want, axis=1)[:, ::-1][:, :5], atol=1e-5)
    res = store.search_vectors(q[:, :4], 5, vector_field="vector_small")  # the older call shape
    assert [[d.id for d, _ in h] for h in res] == [[f"doc-{i}" for i in np.argsort(-w)[:5]] for w in want]
    np.testing.assert_allclose(store.vectors_at(store.rows_of(["doc-3"]), "vector_small"), small[[3]], atol=1e-7)
    with pytest.raises(DimensionMismatchError):
        store.search_rows(q, 5, vector_field="vector_small")
    with pytest.raises(InvalidParameterError, match="ensure_vector_field"):
        store.search_rows(q[:, :2], 5, vector_field="vector_2")
    store.ensure_vector_field("vector_small", 4)  # declared already: nothing to do
    with pytest.raises(DimensionMismatchError, match="4-d, not 8-d"):
        store.ensure_vector_field("vector_small", 8)
    store.drop()


def test_vector_field_added_later_with_ft_alter(redis_url, data):
    x, docs, q = data
    store = _store(redis_url, kind="hnsw")
    ids = store.upsert_vectors(x[:60], docs[:60])
    rows = store.rows_of(ids)
    store.ensure_vector_field("vector_8", 8)
    assert store.vector_fields == {"vector_8": 8}
    small = normalize_rows(x[:60, :8])
    store.write_vector_field("vector_8", rows, small)
    s, r = store.search_rows(q[:, :8], 3, vector_field="vector_8")
    want = _brute(small, q[:, :8], "cosine", "float32")
    assert r.tolist() == [rows[np.argsort(-w)[:3]].tolist() for w in want]
    np.testing.assert_allclose(store.vectors_at(rows[:2], "vector_8"), small[:2], atol=1e-6)
    # a reopen with the original spec adopts the field recorded beside the index
    again = RedisVectorStore(_emb(), RedisIndexSpec(store.spec.index_name, kind="hnsw", metadata_schema=SCHEMA), redis_url,
                             space=VectorSpace("fake-model", D))
    assert again.vector_fields == {"vector_8": 8}
    np.testing.assert_array_equal(again.search_rows(q[:, :8], 3, vector_field="vector_8")[1], r)
    # new documents get the field's default (the re-normalised prefix) on upsert
    more = store.upsert_vectors(x[60:70], docs[60:70])
    np.testing.assert_allclose(store.vectors_at(store.rows_of(more)[:1], "vector_8"), normalize_rows(x[60:61, :8]), atol=1e-6)
    store.drop()


def test_langchain_interface(redis_url):
    emb = _emb()
    store = RedisVectorStore.from_texts(
        ["red apple", "green pear", "blue sky"],
        emb,
        metadatas=[{"genre": "fruit"}, {"genre": "fruit"}, {"genre": "weather"}],
        ids=["a", "b", "c"],
        spec=RedisIndexSpec(f"t_{uuid.uuid4().hex[:10]}", metadata_schema={"genre": "tag"}),
        redis_url=redis_url,
        space=VectorSpace("fake-model", D),
    )
    top = store.similarity_search("red apple", k=1)
    assert top[0].id == "a" and top[0].page_content == "red apple"
    scored = store.similarity_search_with_score("red apple", k=3, filter={"genre": "fruit"})
    assert [d.id for d, _ in scored][0] == "a" and {d.id for d, _ in scored} == {"a", "b"}
    assert scored[0][1] == pytest.approx(1.0, abs=1e-5)
    rel = store.similarity_search_with_relevance_scores("red apple", k=1)
    assert 0.99 <= rel[0][1] <= 1.0
    docs = store.as_retriever(search_kwargs={"k": 2, "filter": {"genre": "weather"}}).invoke("sky")
    assert [d.id for d in docs] == ["c"]
    # add_documents without ids: each document gets a fresh id (the package's id rule), none is lost
    one = store.add_documents([Document(page_content="no id here")])
    two = store.add_documents([Document(page_content="no id here")])
    assert one != two and store.count() == 5
    # resumable: skip_existing embeds and writes only the missing documents
    store.add_documents([Document(id="a", page_content="changed"), Document(id="d", page_content="new")], skip_existing=True)
    assert store.get_by_ids(["a"])[0].page_content == "red apple" and store.count() == 6
    # ... and needs stable ids: a document without one is refused, not silently duplicated
    with pytest.raises(InvalidParameterError, match="stable document ids"):
        store.add_documents([Document(page_content="no id here")], skip_existing=True)
    assert store.count() == 6
    store.drop()


async def test_async_search(redis_url):
    store = RedisVectorStore.from_texts(
        ["alpha", "beta"], _emb(), ids=["x", "y"],
        spec=RedisIndexSpec(f"t_{uuid.uuid4().hex[:10]}"), redis_url=redis_url, space=VectorSpace("fake-model", D),
    )
    docs = await store.asimilarity_search("beta", k=1)
    assert docs[0].id == "y"
    store.drop()


# --------------------------------------------------------------------------- guards


def test_spec_validation():
    for kw, msg in [
        ({"kind": "ivf"}, "kind 'ivf'"),
        ({"metric": "dot"}, "metric"),
        ({"dtype": "int8"}, "dtype"),
        ({"m": 0}, "m=0"),
        ({"metadata_schema": {"content": "tag"}}, "reserved"),
        ({"metadata_schema": {"x": "geo"}}, "geo"),
        ({"index_name": "has space"}, "index_name"),
        ({"extra_vector_fields": {"vector": 8}}, "clashes"),
        ({"metadata_schema": {"_row": "numeric"}}, "reserved"),
        ({"index_name": "x", "prefix": "x:"}, "store's own keys"),
        ({"ef_search": 0}, "ef_search=0"),
    ]:
        with pytest.raises(InvalidParameterError, match=msg):
            RedisIndexSpec(**kw)
    spec = RedisIndexSpec("x", kind="HNSW", metric="IP", ef_search=64)
    assert (spec.kind, spec.metric, spec.prefix, spec.ef_search) == ("hnsw", "ip", "x:doc", 64)
    assert RedisIndexSpec.from_dict(spec.to_dict()) == spec
    assert "algorithm" not in spec.to_dict() and spec.to_dict()["kind"] == "hnsw"
    # one name per setting: the old algorithm= / ef_runtime= aliases are gone
    for old in ({"algorithm": "hnsw"}, {"ef_runtime": 64}):
        with pytest.raises(TypeError, match=next(iter(old))):
            RedisIndexSpec("x", **old)


def test_existing_index_with_other_schema_is_refused(redis_url, data):
    x, docs, _ = data
    store = _store(redis_url, kind="hnsw", metric="cosine")
    store.upsert_vectors(x[:10], docs[:10])
    name = store.spec.index_name
    space = VectorSpace("fake-model", D)
    emb = _emb()
    with pytest.raises(SchemaMismatchError, match=r"distance_metric: index has cosine, asked for l2"):
        RedisVectorStore(emb, RedisIndexSpec(name, kind="hnsw", metric="l2", metadata_schema=SCHEMA), redis_url, space=space)
    with pytest.raises(SchemaMismatchError, match=r"field 'genre'.*type tag, asked for text"):
        RedisVectorStore(emb, RedisIndexSpec(name, kind="hnsw", metadata_schema={**SCHEMA, "genre": "text"}), redis_url, space=space)
    assert store.count() == 10, "a refused open must not touch the data"
    # same schema: reopened, data kept; from_existing reads the stored spec
    again = RedisVectorStore(emb, RedisIndexSpec(name, kind="hnsw", metadata_schema=SCHEMA), redis_url, space=space)
    assert again.count() == 10
    assert RedisVectorStore.from_existing(name, emb, redis_url, space=space).spec == store.spec
    # overwrite=True drops and rebuilds with the new schema
    rebuilt = RedisVectorStore(emb, RedisIndexSpec(name, metric="l2"), redis_url, space=space, overwrite=True)
    assert rebuilt.count() == 0 and rebuilt.spec.metric == "l2"
    rebuilt.drop()


def test_index_of_the_older_layout_is_refused_naming_the_rebuild(redis_url):
    """An index built before rows and the \\x1f separator (comma-separated tags, no _row) is not reused
    silently: its tags would split "City, Country" and its documents have no rows."""
    import redis as redis_py

    name = f"t_{uuid.uuid4().hex[:10]}"
    redis_py.Redis.from_url(redis_url).execute_command(
        "FT.CREATE", name, "ON", "HASH", "PREFIX", 1, f"{name}:doc", "SCHEMA",
        "cluster", "TAG", "content", "TEXT", "genre", "TAG",
        "vector", "VECTOR", "FLAT", 6, "TYPE", "FLOAT32", "DIM", D, "DISTANCE_METRIC", "COSINE",
    )
    spec = RedisIndexSpec(name, metadata_schema={"genre": "tag"})
    with pytest.raises(SchemaMismatchError) as err:
        RedisVectorStore(_emb(), spec, redis_url, space=VectorSpace("fake-model", D))
    msg = str(err.value)
    assert "field '_row' (numeric) is missing" in msg and "tag field 'genre' separator: index has ','" in msg
    assert "overwrite=True" in msg
    store = RedisVectorStore(_emb(), spec, redis_url, space=VectorSpace("fake-model", D), overwrite=True)
    assert store.count() == 0
    store.drop()


def test_query_from_another_space_is_refused(redis_url, data):
    x, docs, q = data
    store = _store(redis_url)
    store.upsert_vectors(x[:5], docs[:5])
    name = store.spec.index_name
    emb = _emb()
    with pytest.raises(VectorSpaceMismatchError, match=r"model: Redis index .* has 'fake-model', query has 'other-model'"):
        RedisVectorStore(emb, store.spec, redis_url, space=VectorSpace("other-model", D))
    with pytest.raises(VectorSpaceMismatchError, match="query_prompt"):
        store.check_query_space(VectorSpace("fake-model", D, query_prompt="query: "))
    with pytest.raises(DimensionMismatchError, match=r"8-d query vector cannot search the 16-d"):
        store.search_vectors(q[:, :8], 3)
    with pytest.raises(DimensionMismatchError):
        store.upsert_vectors(x[:, :8], docs)
    with pytest.raises(InvalidVectorError, match="NaN"):
        store.upsert_vectors(np.full((1, D), np.nan, dtype=np.float32), docs[:1])
    with pytest.raises(EmptyInputError):
        store.upsert_vectors(np.zeros((0, D), dtype=np.float32), [])
    store.drop()


def test_unreachable_server_names_url_and_fix():
    from redis_fixtures import load_redis_server_module

    port = load_redis_server_module().free_port()
    url = f"redis://user:s3cret@127.0.0.1:{port}"
    with pytest.raises(StoreConnectionError) as err:
        RedisVectorStore(_emb(), RedisIndexSpec("nope"), url, space=VectorSpace("m", D))
    msg = str(err.value)
    assert f"127.0.0.1:{port}" in msg and "docker run -p 6379:6379 redis/redis-stack-server" in msg
    assert "s3cret" not in msg, "the password must not leak into error messages"
    assert isinstance(err.value, ConnectionError)
