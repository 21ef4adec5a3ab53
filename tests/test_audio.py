"""Audio through the same path as text and images: AudioEmbeddings, stores, Matryoshka, modality, CLI.

The real Resemblyzer encoder (weights inside its PyPI wheel) runs on ``tests/data/audio-small`` (made by
``scripts/make_audio_set.py --speakers 4 --docs 3 --queries 1 --format ogg``: 4 espeak-ng speakers x 3
sentences, 1 new sentence per speaker as query); those tests are marked integration. The transformers
adapter runs on a tiny randomly initialised wav2vec2 saved to a temporary folder (plumbing only).
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import numpy as np
import pytest

from langchain_embcompare import (
    AudioEmbeddings,
    AudioLoadError,
    FaissVectorStore,
    InvalidParameterError,
    MatryoshkaEmbeddings,
    ModalityMismatchError,
    UnknownModelError,
    load_beir,
    load_embeddings,
)
from langchain_embcompare.media.audio import ResemblyzerBackbone, decode_audio, is_audio_ref
from tests.conftest import HashEmbeddings

DATA = Path(__file__).resolve().parent / "data" / "audio-small"


@pytest.fixture(scope="session")
def resemblyzer():
    return AudioEmbeddings()


@pytest.fixture(scope="session")
def speech():
    return load_beir(DATA)


def _cos(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(-1) / np.linalg.norm(a, axis=-1) / np.linalg.norm(b, axis=-1)


# --------------------------------------------------------------------------- the Resemblyzer path


@pytest.mark.integration
def test_file_embedding_equals_raw_resemblyzer(resemblyzer, speech):
    from resemblyzer import preprocess_wav

    paths = speech.texts + list(speech.queries.values())
    ours = resemblyzer.encode(paths)  # one batched LSTM pass over every partial window
    raw = np.stack([resemblyzer.backbone.encoder.embed_utterance(preprocess_wav(p)) for p in paths])
    assert ours.shape == (16, 256) and ours.dtype == np.float32
    assert _cos(ours, raw).min() >= 0.999


@pytest.mark.integration
def test_every_input_form_embeds_like_the_file(resemblyzer, speech, tmp_path):
    import soundfile as sf

    path = speech.texts[0]
    wave, rate = sf.read(path, dtype="float32")
    data = Path(path).read_bytes()
    uri = "data:audio/ogg;base64," + base64.b64encode(data).decode()
    inputs = [path, Path(path).resolve().as_uri(), data, uri, (wave, rate), f"{path}#t=0"]
    vecs = resemblyzer.encode(inputs)
    assert _cos(vecs, vecs[0]).min() >= 0.9999
    at16k = resemblyzer.encode([wave])  # a bare array is read at input_rate (16 kHz), which it is
    assert _cos(at16k[0], vecs[0]) >= 0.9999
    cut = resemblyzer.encode([f"{path}#t=0,1"])  # a fragment embeds only its second of audio
    assert _cos(cut[0], vecs[0]) < 0.9999


@pytest.mark.integration
def test_speaker_retrieval_through_matryoshka_store_and_save_load(resemblyzer, speech, tmp_path):
    emb = MatryoshkaEmbeddings(resemblyzer, dim=64, cache_dir=tmp_path / "cache").fit_rotation(speech.texts)
    assert emb.space.modality == "audio" and emb.space.dim == 64 and emb.space.rotation
    store = FaissVectorStore.from_documents(speech.corpus, emb)
    right = 0
    for qid, query in speech.queries.items():
        top = store.similarity_search(query, k=3)
        right += sum(d.metadata["speaker"] == qid.split("-")[1] for d in top)
    assert right >= 9  # of 12 (chance: 3): the 3 nearest utterances are mostly the same speaker's
    folder = store.save_local(tmp_path / "index")
    assert json.loads((Path(folder) / "store.json").read_text())["space"]["modality"] == "audio"
    loaded = FaissVectorStore.load_local(folder)  # rebuilds "resemblyzer" by name, rotation from disk
    q = next(iter(speech.queries.values()))
    assert [d.id for d in loaded.similarity_search(q, k=3)] == [d.id for d in store.similarity_search(q, k=3)]


@pytest.mark.integration
def test_precisions_and_binary_needs_a_rotation(resemblyzer, speech):
    base = MatryoshkaEmbeddings(resemblyzer, cache_dir=None)
    with pytest.raises(InvalidParameterError, match="all 32 dimensions.*>= 0"):  # ReLU'd GE2E vectors: all signs +
        FaissVectorStore.from_documents(speech.corpus, base.with_dim(32, precision="binary"))
    rotated = base.fit_rotation(speech.texts)
    q = next(iter(speech.queries.values()))
    for precision in ("int8", "binary"):
        store = FaissVectorStore.from_documents(speech.corpus, rotated.with_dim(32, precision=precision))
        assert store.space.precision == precision and len(store.similarity_search(q, k=3)) == 3


@pytest.mark.integration
def test_bad_audio_refuses_the_batch_naming_every_input(resemblyzer, speech, tmp_path):
    import soundfile as sf

    corrupt = tmp_path / "corrupt.wav"
    corrupt.write_bytes(b"RIFF\x00\x00\x00\x00WAVEfmt garbage")
    silent = tmp_path / "silent.wav"
    sf.write(silent, np.zeros(16000, np.float32), 16000)
    missing = str(tmp_path / "missing.flac")
    with pytest.raises(AudioLoadError) as exc:
        resemblyzer.encode([speech.texts[0], str(corrupt), missing, str(silent)])
    assert set(exc.value.failures) == {str(corrupt), missing, str(silent)}
    assert exc.value.failures[missing] == "file not found"
    assert "no speech detected" in exc.value.failures[str(silent)]
    assert "3 of 4 audio inputs" in str(exc.value)


def test_text_into_audio_model_and_audio_index_is_refused_by_name(tmp_path):
    fake = AudioEmbeddings(_FakeBackbone(), model_id="fake-audio")
    with pytest.raises(ModalityMismatchError, match="'a dog barking'.*audio-only"):
        fake.encode(["a dog barking"])
    wav = _tone_file(tmp_path / "tone.wav", 440)
    store = FaissVectorStore.from_texts([wav], MatryoshkaEmbeddings(fake, cache_dir=None))
    with pytest.raises(ModalityMismatchError, match="text query.*audio-only"):
        store.check_query_embedding(MatryoshkaEmbeddings(HashEmbeddings(4), cache_dir=None))
    with pytest.raises(InvalidParameterError, match="prompts are for text"):
        fake.encode([wav], prompt="query: ")


# --------------------------------------------------------------------------- adapters, names, keys


class _FakeBackbone:
    """The AudioBackbone adapter in 10 lines: a 4-band energy profile of the waveform."""

    name = "fake-audio"
    sample_rate = 8000
    dim = 4
    modality = "audio"

    def __init__(self) -> None:
        self.batches: list[int] = []

    def prepare(self, wave):
        return wave

    def embed(self, waves):
        self.batches.append(len(waves))
        spec = [np.abs(np.fft.rfft(w, n=256))[1:129].reshape(4, 32).sum(1) for w in waves]
        return np.asarray(spec, np.float32)


def _tone_file(path: Path, hz: float, rate: int = 16000, seconds: float = 0.5) -> str:
    import soundfile as sf

    t = np.arange(int(rate * seconds)) / rate
    sf.write(path, (0.3 * np.sin(2 * np.pi * hz * t)).astype(np.float32), rate)
    return str(path)


def test_custom_backbone_batches_resamples_and_keys(tmp_path):
    backbone = _FakeBackbone()
    emb = AudioEmbeddings(backbone, batch_size=2, num_workers=1)
    files = [_tone_file(tmp_path / f"t{i}.wav", hz) for i, hz in enumerate((300, 1200, 2500))]
    vecs = emb.encode(files)
    assert vecs.shape == (3, 4) and backbone.batches == [2, 1]  # batch_size clips per embed call
    assert vecs[0].argmax() == 0 and vecs[2].argmax() > vecs[1].argmax() >= vecs[0].argmax()  # 16 kHz resampled to 8 kHz
    keys = emb.cache_keys(files + [np.zeros(10, np.float32)])
    assert keys[0].startswith("file\x00") and keys[3].startswith("array\x0016000\x00")
    before = keys[0]
    _tone_file(tmp_path / "t0.wav", 900, seconds=0.6)  # the file changes: so does its key
    assert emb.cache_keys([files[0]])[0] != before
    assert is_audio_ref("x.FLAC") and is_audio_ref("https://h/a.mp3#t=1,2") and not is_audio_ref("a text")


def test_transformers_audio_adapter_with_a_tiny_wav2vec2(tmp_path):
    from transformers import Wav2Vec2Config, Wav2Vec2FeatureExtractor, Wav2Vec2Model

    cfg = Wav2Vec2Config(
        hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32, conv_dim=(8, 8),
        conv_stride=(5, 4), conv_kernel=(10, 8), num_conv_pos_embeddings=8, num_conv_pos_embedding_groups=2,
    )
    folder = tmp_path / "tiny-wav2vec2"
    Wav2Vec2Model(cfg).save_pretrained(folder)
    Wav2Vec2FeatureExtractor(sampling_rate=16000).save_pretrained(folder)
    emb = load_embeddings(f"audio:{folder}")
    assert isinstance(emb, AudioEmbeddings) and emb.native_dim is None  # named, not loaded yet
    files = [_tone_file(tmp_path / f"t{i}.wav", hz, seconds=s) for i, (hz, s) in enumerate([(300, 0.5), (900, 0.5), (500, 0.3)])]
    together = emb.encode(files)
    alone = np.concatenate([emb.encode([f]) for f in files])
    assert together.shape == (3, 16) and emb.native_dim == 16
    np.testing.assert_allclose(together, alone, atol=1e-5)  # equal-length clips batched, no padding effect
    assert MatryoshkaEmbeddings(emb, dim=8, cache_dir=None).encode_documents(files).shape == (3, 8)


def test_hub_audio_names_load_lazily_and_fail_by_name(tmp_path):
    clap = AudioEmbeddings(f"clap:{tmp_path / 'no-such-clap'}")
    assert clap.modality == "text+audio" and clap.model_id.startswith("clap:")  # nothing loaded yet
    with pytest.raises(UnknownModelError, match="no-such-clap"):
        clap.encode(["a dog barking"])  # CLAP takes texts; loading fails with the name
    with pytest.raises(UnknownModelError, match="Unknown audio model 'wav2vec'"):
        AudioEmbeddings("wav2vec")
    with pytest.raises(InvalidParameterError, match="input_rate"):
        AudioEmbeddings(_FakeBackbone(), input_rate=0)


def test_decode_audio_errors_and_stereo(tmp_path):
    import soundfile as sf

    stereo = tmp_path / "stereo.wav"
    sf.write(stereo, np.stack([np.ones(800), -np.ones(800) * 0.5], axis=1).astype(np.float32), 8000)
    wave, rate = decode_audio(str(stereo), 16000)
    assert rate == 8000 and wave.shape == (800,) and np.allclose(wave, 0.25, atol=1e-3)  # channels averaged
    with pytest.raises(ValueError, match="starts after the end"):
        decode_audio(f"{stereo}#t=5,6", 16000)
    with pytest.raises(ValueError, match="NaN"):
        decode_audio(np.array([0.0, np.nan], np.float32), 16000)


@pytest.mark.integration
def test_resemblyzer_is_an_offline_model_and_cli_evaluates_audio(tmp_path):
    from typer.testing import CliRunner

    from langchain_embcompare.cli import app
    from langchain_embcompare.models import offline_models

    assert "resemblyzer" in offline_models()
    assert isinstance(load_embeddings("resemblyzer").backbone, ResemblyzerBackbone)
    out = tmp_path / "r.json"
    res = CliRunner().invoke(app, ["eval", str(DATA), "--k", "10", "--metrics", "ndcg@10,recall@10", "--out", str(out)])
    assert res.exit_code == 0, res.output
    result = json.loads(out.read_text())
    assert result["space"]["modality"] == "audio" and result["settings"]["model"] == "resemblyzer"
    assert result["ndcg@10"] >= 0.8 and result["recall@10"] == 1.0
    bad = CliRunner().invoke(app, ["eval", str(DATA), "--modality", "image"])
    assert bad.exit_code == 2 and "holds audio documents" in bad.output
