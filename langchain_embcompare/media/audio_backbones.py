"""Audio backbones: the adapter an audio model implements (:class:`AudioBackbone`) and three of them.

One job: turn prepared mono waveforms at a model's sample rate into (n, dim) float32 vectors, batched.
:class:`ResemblyzerBackbone` (offline, the default), :class:`TransformersAudioBackbone` (any transformers
audio encoder, loaded on first use) and :class:`ClapBackbone` (CLAP: texts and audio in one space).
:class:`~langchain_embcompare.media.audio.AudioEmbeddings` decodes, resamples and batches around them.
"""

from __future__ import annotations

import threading
from typing import Any, Protocol, runtime_checkable

import numpy as np

from langchain_embcompare.errors import AudioLoadError, UnknownModelError

__all__ = ["DEFAULT_AUDIO_MODEL", "AudioBackbone", "ClapBackbone", "ResemblyzerBackbone", "TransformersAudioBackbone"]

#: The offline default backbone (GE2E weights inside the ``resemblyzer`` wheel).
DEFAULT_AUDIO_MODEL = "resemblyzer"


@runtime_checkable
class AudioBackbone(Protocol):
    """The adapter an audio model implements to run inside :class:`AudioEmbeddings`.

    Attributes:
        name: the model id (names the vector space and the cache).
        sample_rate: Hz the model takes (inputs are resampled to it).
        dim: output dimension, or None until the model is loaded.
        modality: ``"audio"``, or ``"text+audio"`` when :meth:`embed_texts` embeds texts in the same space.
    """

    name: str
    sample_rate: int
    dim: int | None
    modality: str

    def prepare(self, wave: np.ndarray) -> np.ndarray:
        """One mono float32 waveform at :attr:`sample_rate` -> what :meth:`embed` takes (may trim); runs in decoding threads."""
        ...

    def embed(self, waves: list[np.ndarray]) -> np.ndarray:
        """Prepared waveforms -> (n, dim) float32, batched."""
        ...


class ResemblyzerBackbone:
    """Resemblyzer's GE2E speaker encoder (256-d), batched over the 1.6 s partial windows of many clips.

    Args:
        device: torch device. rate / min_coverage: Resemblyzer's ``embed_utterance`` partial-window
            rate (windows per second) and last-window coverage (its defaults 1.3 and 0.75).
        batch_size: partial windows per LSTM forward pass.
    """

    modality = "audio"
    sample_rate = 16000
    dim: int | None = 256

    def __init__(self, device: str = "cpu", rate: float = 1.3, min_coverage: float = 0.75, batch_size: int = 256) -> None:
        try:
            from resemblyzer import VoiceEncoder
        except ImportError as exc:
            raise UnknownModelError(
                "Audio model 'resemblyzer' needs the resemblyzer package: pip install --no-deps resemblyzer==0.1.4 "
                f"librosa webrtcvad-wheels ({type(exc).__name__}: {exc})"
            ) from exc
        self.encoder = VoiceEncoder(device, verbose=False)
        self.rate, self.min_coverage, self.batch_size = float(rate), float(min_coverage), int(batch_size)
        self.name = DEFAULT_AUDIO_MODEL if (self.rate, self.min_coverage) == (1.3, 0.75) else f"{DEFAULT_AUDIO_MODEL}@rate{self.rate:g}-cov{self.min_coverage:g}"

    def prepare(self, wave: np.ndarray) -> np.ndarray:
        """Resemblyzer's ``preprocess_wav`` on a 16 kHz waveform: volume normalised, long silences trimmed.

        Raises AudioLoadError when nothing is left (no speech detected)."""
        from resemblyzer import preprocess_wav

        out = preprocess_wav(wave)
        if len(out) == 0:
            raise AudioLoadError(
                "no speech detected: Resemblyzer's voice-activity trimming (webrtcvad) left no samples of this clip"
            )
        return out.astype(np.float32, copy=False)

    def embed(self, waves: list[np.ndarray]) -> np.ndarray:
        """Every partial window of every clip through the LSTM in ``batch_size`` chunks; each clip's partial
        embeddings averaged and L2-normalised (Resemblyzer's ``embed_utterance``)."""
        import torch
        from resemblyzer import audio as rz_audio

        windows, counts = [], []
        for wave in waves:  # per clip: its window slices and mel spectrogram (lengths differ)
            wav_slices, mel_slices = self.encoder.compute_partial_slices(len(wave), self.rate, self.min_coverage)
            need = wav_slices[-1].stop
            if need >= len(wave):
                wave = np.pad(wave, (0, need - len(wave)), "constant")
            mel = rz_audio.wav_to_mel_spectrogram(wave)
            windows.extend(mel[s] for s in mel_slices)
            counts.append(len(mel_slices))
        stacked = np.stack(windows).astype(np.float32, copy=False)
        parts = []
        with torch.inference_mode():
            for start in range(0, len(stacked), self.batch_size):
                x = torch.from_numpy(stacked[start : start + self.batch_size]).to(self.encoder.device)
                parts.append(self.encoder(x).float().cpu().numpy())
        partial = np.concatenate(parts)
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        mean = np.add.reduceat(partial, starts, axis=0) / np.asarray(counts, np.float32)[:, None]
        return (mean / np.linalg.norm(mean, axis=1, keepdims=True)).astype(np.float32)


class _LazyHubModel:
    """Loads a transformers model (and its processor) on first use, once, thread-safe."""

    def __init__(self, name: str, device: str) -> None:
        self.hub_name, self.device = name, device
        self._loaded: tuple[Any, Any] | None = None
        self._lock = threading.Lock()

    def _load(self, model_cls: str, processor_cls: str) -> tuple[Any, Any]:
        with self._lock:
            if self._loaded is None:
                import transformers

                from langchain_embcompare.embedding_base import quiet_model_loading

                try:
                    with quiet_model_loading(self.hub_name):
                        processor = getattr(transformers, processor_cls).from_pretrained(self.hub_name)
                        model = getattr(transformers, model_cls).from_pretrained(self.hub_name).eval().to(self.device)
                except Exception as exc:
                    raise UnknownModelError(
                        f"Audio model {self.hub_name!r} cannot be loaded with transformers ({type(exc).__name__}: {str(exc)[:200]}). "
                        "Pass a hub name on a machine with internet, or a local folder saved with save_pretrained "
                        "(the model and its feature extractor / processor)."
                    ) from exc
                self._loaded = (model, processor)
        return self._loaded


def _pooled(output: Any) -> Any:
    """A transformers output -> (n, d) tensor: the tensor itself, ``pooler_output``, else the time-mean of ``last_hidden_state``."""
    if hasattr(output, "dim") and output.dim() == 2:
        return output
    pooled = getattr(output, "pooler_output", None)
    if pooled is not None:
        return pooled
    return output.last_hidden_state.mean(dim=1)


class TransformersAudioBackbone(_LazyHubModel):
    """Any transformers audio encoder (``AutoFeatureExtractor`` + ``AutoModel``), loaded on first use.

    Vectors: ``pooler_output`` when the model has one, else the time-mean of ``last_hidden_state``.
    Clips of equal length share one forward pass (``batch_size`` at most); no padding is used, since it
    changes the outputs of models whose feature encoder uses group norm (wav2vec2-base).
    """

    modality = "audio"

    def __init__(self, name: str, device: str = "cpu", batch_size: int = 16) -> None:
        super().__init__(name, device)
        self.name = f"audio:{name}"
        self.batch_size = int(batch_size)
        self.dim: int | None = None

    @property
    def sample_rate(self) -> int:
        return int(self._model()[1].sampling_rate)

    def _model(self) -> tuple[Any, Any]:
        model, fe = self._load("AutoModel", "AutoFeatureExtractor")
        return model, fe

    def prepare(self, wave: np.ndarray) -> np.ndarray:
        return wave

    def embed(self, waves: list[np.ndarray]) -> np.ndarray:
        import torch

        model, fe = self._model()
        out: list[Any] = [None] * len(waves)
        by_len: dict[int, list[int]] = {}
        for i, w in enumerate(waves):
            by_len.setdefault(len(w), []).append(i)
        with torch.inference_mode():
            for idx in by_len.values():
                for s in range(0, len(idx), self.batch_size):
                    chunk = idx[s : s + self.batch_size]
                    inputs = fe([waves[i] for i in chunk], sampling_rate=fe.sampling_rate, return_tensors="pt")
                    inputs = {k: v.to(self.device) for k, v in inputs.items() if k != "attention_mask"}
                    vecs = _pooled(model(**inputs)).float().cpu().numpy()
                    for i, v in zip(chunk, vecs):
                        out[i] = v
        result = np.stack(out).astype(np.float32)
        self.dim = int(result.shape[1])
        return result


class ClapBackbone(_LazyHubModel):
    """CLAP (contrastive language-audio pretraining, transformers ``ClapModel``): audio and text in one
    space (modality ``"text+audio"``), loaded on first use. The feature extractor pads or crops every
    clip to the model's fixed length, so a whole batch is one forward pass."""

    modality = "text+audio"

    def __init__(self, name: str, device: str = "cpu", batch_size: int = 16) -> None:
        super().__init__(name, device)
        self.name = f"clap:{name}"
        self.batch_size = int(batch_size)
        self.dim: int | None = None

    @property
    def sample_rate(self) -> int:
        return int(self._model()[1].feature_extractor.sampling_rate)

    def _model(self) -> tuple[Any, Any]:
        return self._load("ClapModel", "ClapProcessor")

    def prepare(self, wave: np.ndarray) -> np.ndarray:
        return wave

    def embed(self, waves: list[np.ndarray]) -> np.ndarray:
        import torch

        model, proc = self._model()
        fe = proc.feature_extractor
        parts = []
        with torch.inference_mode():
            for s in range(0, len(waves), self.batch_size):
                inputs = fe(waves[s : s + self.batch_size], sampling_rate=fe.sampling_rate, return_tensors="pt")
                inputs = {k: v.to(self.device) for k, v in inputs.items()}
                parts.append(_pooled(model.get_audio_features(**inputs)).float().cpu().numpy())
        result = np.concatenate(parts).astype(np.float32)
        self.dim = int(result.shape[1])
        return result

    def embed_texts(self, texts: list[str]) -> np.ndarray:
        """Texts -> (n, dim) float32 in the audio space (CLAP's text tower)."""
        import torch

        model, proc = self._model()
        parts = []
        with torch.inference_mode():
            for s in range(0, len(texts), self.batch_size):
                inputs = proc.tokenizer(texts[s : s + self.batch_size], padding=True, truncation=True, return_tensors="pt")
                inputs = {k: v.to(self.device) for k, v in inputs.items()}
                parts.append(_pooled(model.get_text_features(**inputs)).float().cpu().numpy())
        return np.concatenate(parts).astype(np.float32)
