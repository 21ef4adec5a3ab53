"""Selective filters on every approximate store: an exact filtered search equals numpy's exact filtered
top-k, and a calibrated :class:`FilterPolicy` returns k results at recall >= its target at 1 % and 0.1 %.

Real stores (FAISS HNSW / IVF in process, Redis HNSW, Milvus HNSW (Lite and the 2.3.5 server) and IVF_FLAT
(server) on the session's servers), one
generated corpus of 10,000 clustered vectors (32 d) whose ``bucket`` field keeps 1 % (``$lt 10``) or
0.1 % (``$lt 1``: exactly k = 10 rows) of them. The selectivity -> setting rule is checked with
Hypothesis against a direct reading of the rule.
"""

from __future__ import annotations

import json
import uuid

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from langchain_core.documents import Document

from langchain_embcompare.errors import InvalidParameterError
from langchain_embcompare.precomputed.embeddings import PrecomputedEmbeddings
from langchain_embcompare.stores.filtered import (
    FilterBand,
    FilterPolicy,
    FilterSetting,
    calibrate_filter_policy,
    filtered_recall,
)

N, D, K = 10_000, 32, 10
LEVELS = {"1%": 10, "0.1%": 1}


def _data() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    centres = rng.standard_normal((50, D)).astype(np.float32)
    x = centres[rng.integers(0, 50, N)] + 0.7 * rng.standard_normal((N, D)).astype(np.float32)
    q = centres[rng.integers(0, 50, 60)] + 0.7 * rng.standard_normal((60, D)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    bucket = rng.permutation(N) % 1000
    return x, q[:30], q[30:], bucket


X, Q_TEST, Q_CAL, BUCKET = _data()
IDS = [f"d{i}" for i in range(N)]
DOCS = [Document(page_content=f"doc {i}", metadata={"bucket": int(BUCKET[i])}, id=IDS[i]) for i in range(N)]


def _emb() -> PrecomputedEmbeddings:
    return PrecomputedEmbeddings(X[:1], document_ids=["d0"], model_id="synthetic:selectivity", validate=False)


def _exact(b: int) -> tuple[np.ndarray, np.ndarray]:
    """numpy's exact filtered top-k (positions, scores), ties to the lower position."""
    allowed = np.flatnonzero(BUCKET < b)
    s = Q_TEST @ X[allowed].T
    top = np.argsort(-s, axis=1, kind="stable")[:, :K]
    return allowed[top], np.take_along_axis(s, top, 1)


def _faiss(kind: str):
    def make(request):  # noqa: ANN001, ANN202
        from langchain_embcompare.stores.faiss import FaissIndexSpec, FaissVectorStore

        # exact_below=0: the index (not the small-selection numpy scan) answers what the policy leaves to it
        store = FaissVectorStore(_emb(), FaissIndexSpec(kind=kind, metric="cosine", exact_below=0.0, nlist=64, nprobe=4))
        store.upsert_vectors(X, DOCS)
        return store

    return make


def _redis(request):  # noqa: ANN001, ANN202
    from langchain_embcompare.stores.redis import RedisIndexSpec, RedisVectorStore

    spec = RedisIndexSpec(f"sel{uuid.uuid4().hex[:8]}", kind="hnsw", metadata_schema={"bucket": "numeric"}, index_content=False)
    store = RedisVectorStore(_emb(), spec, request.getfixturevalue("redis_url"), overwrite=True)
    store.upsert_vectors(X, DOCS)
    request.addfinalizer(store.drop)
    return store


def _milvus(target: str, kind: str = "hnsw"):
    def make(request):  # noqa: ANN001, ANN202
        from langchain_embcompare.stores.milvus import MilvusVectorStore
        from langchain_embcompare.stores.milvus_schema import MilvusIndexSpec

        uri = request.getfixturevalue("milvus_uri" if target == "lite" else "milvus_server_uri")
        spec = MilvusIndexSpec(f"sel_{uuid.uuid4().hex[:8]}", kind=kind, nlist=64, nprobe=4, metadata_schema={"bucket": "numeric"}, full_text=False,
                               consistency_level="Bounded")  # after flush every row is searchable; Strong waits a tick per call
        store = MilvusVectorStore(_emb(), spec, uri=uri, overwrite=True, timeout=60.0)
        store.upsert_vectors(X, DOCS)
        store.flush()
        return store

    return make


STORES = {
    "faiss-hnsw": _faiss("hnsw"),
    "faiss-ivf": _faiss("ivf"),
    "redis-hnsw": _redis,
    "milvus-lite-hnsw": _milvus("lite"),
    "milvus-server-hnsw": _milvus("server"),
    "milvus-server-ivf": _milvus("server", "ivf"),
}


@pytest.mark.slow
@pytest.mark.integration
@pytest.mark.parametrize("name", list(STORES))
def test_selective_filters_exact_and_calibrated(name: str, request: pytest.FixtureRequest) -> None:
    store = STORES[name](request)
    pos_of = {int(r): i for i, r in enumerate(store.rows_of(IDS).tolist())}

    def positions(rows: np.ndarray) -> np.ndarray:
        return np.vectorize(lambda r: pos_of.get(int(r), -1))(rows)

    for level, b in LEVELS.items():
        flt = {"bucket": {"$lt": b}}
        assert store.filter_count(flt) == int((BUCKET < b).sum()), level
        want_rows, want_scores = _exact(b)
        scores, rows = store.search_rows(Q_TEST, K, filter=flt, exact=True)
        np.testing.assert_array_equal(positions(rows), want_rows, err_msg=f"{name} exact at {level}")
        np.testing.assert_allclose(scores, want_scores, atol=1e-4, err_msg=f"{name} exact scores at {level}")

    policy = calibrate_filter_policy(store, Q_CAL, [{"bucket": {"$lt": b}} for b in (500, 100, 10, 1)], k=K, target_recall=0.98)
    assert [round(b.min_selectivity, 4) for b in policy.bands] == [0.5, 0.1, 0.01, 0.001]
    store.set_filter_policy(FilterPolicy.from_dict(json.loads(json.dumps(policy.to_dict()))))  # as saved and loaded
    for level, b in LEVELS.items():
        want_rows, _ = _exact(b)
        _, rows = store.search_rows(Q_TEST, K, filter={"bucket": {"$lt": b}})
        assert (rows >= 0).sum(1).min() == K, f"{name}: fewer than k results at {level}"
        assert filtered_recall(positions(rows), want_rows) >= 0.95, f"{name} recall at {level} with {policy.choose(b / 1000)}"


def test_exact_refused_with_a_vector_field_and_non_bool() -> None:
    from langchain_embcompare.stores.faiss import FaissVectorStore

    store = FaissVectorStore(_emb())
    store.upsert_vectors(X[:20], DOCS[:20])
    with pytest.raises(InvalidParameterError, match="exact"):
        store.search_rows(Q_TEST[:1], K, exact="yes")
    store.ensure_vector_field("short", 8)
    with pytest.raises(InvalidParameterError, match="vector_field"):
        store.search_rows(Q_TEST[:1, :8], K, vector_field="short", exact=True)
    hnsw_policy = FilterPolicy((FilterBand(0.5, FilterSetting(ef_search=64)),), "hnsw")
    with pytest.raises(InvalidParameterError, match="calibrated on a 'hnsw' index"):
        store.set_filter_policy(hnsw_policy)


# --------------------------------------------------------------------------- the selectivity -> setting rule

settings_st = st.one_of(
    st.just(FilterSetting(exact=True)),
    st.builds(FilterSetting, ef_search=st.integers(1, 4096)),
    st.builds(FilterSetting, nprobe=st.integers(1, 4096)),
)
bands_st = st.dictionaries(st.floats(1e-6, 1.0), settings_st, min_size=1, max_size=6)


@settings(max_examples=200, deadline=None)
@given(bands=bands_st, s=st.floats(0.0, 1.0))
def test_policy_choice_is_the_calibrated_band_at_or_below(bands: dict, s: float) -> None:
    policy = FilterPolicy(tuple(FilterBand(sel, setting) for sel, setting in bands.items()), "hnsw")
    at_or_below = [sel for sel in bands if sel <= s]
    want = bands[max(at_or_below)] if at_or_below else FilterSetting(exact=True)
    assert policy.choose(s) == want
    # conservative: a more selective filter never gets a band calibrated on a less selective one
    assert FilterPolicy.from_dict(json.loads(json.dumps(policy.to_dict()))).choose(s) == want


def test_policy_refuses_bad_input() -> None:
    with pytest.raises(InvalidParameterError, match="selectivity"):
        FilterPolicy((FilterBand(0.1, FilterSetting()),), "hnsw").choose(1.5)
    with pytest.raises(InvalidParameterError, match="min_selectivity"):
        FilterBand(0.0, FilterSetting())
    with pytest.raises(InvalidParameterError, match="index kind"):
        FilterPolicy((FilterBand(0.1, FilterSetting()),), "lsh")
    with pytest.raises(InvalidParameterError, match="two bands"):
        FilterPolicy((FilterBand(0.1, FilterSetting()), FilterBand(0.1, FilterSetting(exact=True))), "ivf")
    with pytest.raises(InvalidParameterError, match="ef_search"):
        FilterSetting(ef_search=0)
