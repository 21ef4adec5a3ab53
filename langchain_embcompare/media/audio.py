"""Audio embeddings on the same path as text and images: :class:`AudioEmbeddings` and its backbones.

An input is an audio *reference* (a local path, ``file://`` / ``http(s)://`` / ``data:audio/...`` URI,
optionally with a ``#t=start,end`` Media Fragment to cut seconds ``start`` to ``end``), the encoded
file's ``bytes``, a 1-d waveform (``np.ndarray`` at ``AudioEmbeddings(input_rate=...)`` Hz) or a
``(waveform, sample_rate)`` pair. Files are decoded with soundfile (WAV, FLAC, OGG/Vorbis/Opus, MP3,
AIFF...), falling back to PyAV (FFmpeg) for other containers (M4A, MP4 audio tracks); channels are
averaged to mono and resampled to the backbone's rate with ``librosa.resample`` (soxr).

Backbones (the :class:`AudioBackbone` adapter: ``sample_rate``, ``dim``, ``prepare(wave)``, ``embed(waves)``,
optionally ``embed_texts(texts)``):

- ``"resemblyzer"`` (default, offline): the GE2E speaker encoder shipped in the PyPI ``resemblyzer`` wheel
  (Wan et al. 2018, "Generalized End-to-End Loss for Speaker Verification"; 256-d, L2-normalised,
  non-negative). ``prepare`` is Resemblyzer's own ``preprocess_wav`` (volume to -30 dBFS, webrtcvad
  silence trimming); ``embed`` runs every 1.6 s partial window of every clip of a batch through the
  LSTM in one forward pass and averages each clip's partials (Resemblyzer's ``embed_utterance``,
  batched: the same vector, cosine >= 0.999, tested).
- ``"audio:<hub name or folder>"``: any transformers audio encoder (wav2vec2, HuBERT, WavLM, AST, Whisper
  encoder...) through ``AutoFeatureExtractor`` + ``AutoModel``: ``pooler_output`` where the model has
  one, else the mean of ``last_hidden_state`` over time. Clips of equal length share a forward pass
  (no padding, which changes the outputs of group-norm feature encoders such as wav2vec2-base).
- ``"clap:<hub name or folder>"`` (e.g. ``clap:laion/clap-htsat-unfused``): CLAP (Wu et al. 2023), audio and
  text in one space (modality ``"text+audio"``): a text query searches an audio index.

Hub models load lazily, on first use (so naming one never downloads anything until it is used).
Bad input refuses the whole batch with one :class:`~langchain_embcompare.errors.AudioLoadError` naming
every bad input and why; a text given to an audio-only model raises
:class:`~langchain_embcompare.errors.ModalityMismatchError`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import numpy as np

from langchain_embcompare.embedding_base import ArrayEmbeddingsBase
from langchain_embcompare.errors import (
    AudioLoadError,
    EmptyInputError,
    InvalidParameterError,
    ModalityMismatchError,
    UnknownModelError,
)
from langchain_embcompare.media.audio_backbones import (
    DEFAULT_AUDIO_MODEL,
    AudioBackbone,
    ClapBackbone,
    ResemblyzerBackbone,
    TransformersAudioBackbone,
)
from langchain_embcompare.media.batch import MediaBatchLoader
from langchain_embcompare.media.refs import REMOTE_SCHEMES, has_suffix, local_path, open_media, short_ref, split_fragment

__all__ = [
    "AUDIO_SUFFIXES",
    "DEFAULT_AUDIO_MODEL",
    "AudioBackbone",
    "AudioEmbeddings",
    "ClapBackbone",
    "ResemblyzerBackbone",
    "TransformersAudioBackbone",
    "decode_audio",
    "is_audio_model_name",
    "is_audio_ref",
]

#: File name endings read as audio.
AUDIO_SUFFIXES = frozenset({".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".aiff", ".aif", ".au", ".m4a", ".aac", ".wma", ".caf", ".w64"})


def is_audio_ref(item: Any) -> bool:
    """Whether ``item`` is meant as audio: ``bytes``, a waveform array or ``(array, rate)`` pair, a
    ``data:audio/`` URI, or a path / URI whose name ends in an audio suffix (:data:`AUDIO_SUFFIXES`)."""
    if isinstance(item, (bytes, bytearray, np.ndarray)):
        return True
    if isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], np.ndarray):
        return True
    return has_suffix(item, AUDIO_SUFFIXES, "audio")


def _looks_like_reference(item: str) -> bool:
    """A string an audio-only model reads as a reference even without an audio suffix: a URI or an existing file."""
    if is_audio_ref(item) or item.lower().startswith(REMOTE_SCHEMES + ("file://", "data:")):
        return True
    if len(item) > 4096 or "\n" in item:
        return False
    try:
        path = local_path(split_fragment(item)[0])
        return path is not None and path.is_file()
    except (OSError, ValueError):
        return False


def is_audio_model_name(name: str) -> bool:
    """Whether ``load_embeddings(name)`` builds an :class:`AudioEmbeddings`: ``resemblyzer``, ``audio:`` or ``clap:``."""
    key = name.lower()
    return key == DEFAULT_AUDIO_MODEL or key.startswith(("audio:", "clap:"))


# --------------------------------------------------------------------------- decoding


def decode_audio(item: Any, input_rate: int, fetched: dict[str, bytes] | None = None, timeout: float = 30.0) -> tuple[np.ndarray, int]:
    """An input -> ``(mono float32 waveform, sample rate)``, cut to its ``#t=`` fragment if it has one.

    Raises ``OSError`` / ``ValueError`` (unreadable, undecodable, or an empty fragment)."""
    if isinstance(item, tuple):
        wave, rate = np.asarray(item[0]), int(item[1])
        frag = None
    elif isinstance(item, np.ndarray):
        wave, rate, frag = item, int(input_rate), None
    else:
        frag = split_fragment(item)[1] if isinstance(item, str) else None
        wave, rate = _decode_file(open_media(item, fetched, timeout))
    wave = np.asarray(wave, dtype=np.float32)
    if wave.ndim == 2:  # (samples, channels) -> mono, as librosa.to_mono averages
        wave = wave.mean(axis=1, dtype=np.float32)
    if wave.ndim != 1:
        raise ValueError(f"a waveform must be 1-d (samples) or 2-d (samples, channels), got shape {wave.shape}")
    if frag is not None:
        a = int(round(frag.start * rate))
        b = len(wave) if frag.end is None else int(round(frag.end * rate))
        if a >= len(wave):
            raise ValueError(f"the fragment #{frag} starts after the end of the audio ({len(wave) / rate:.2f} s)")
        wave = wave[a:b]
    if wave.size == 0:
        raise ValueError("no samples (empty audio)")
    if not np.isfinite(wave).all():
        raise ValueError("the waveform holds NaN or infinity")
    return np.ascontiguousarray(wave), rate


def _decode_file(src: Any) -> tuple[np.ndarray, int]:
    """Decode with soundfile; formats it cannot read (M4A, AAC, video containers) with PyAV."""
    import soundfile as sf

    try:
        wave, rate = sf.read(src, dtype="float32", always_2d=True)
        return wave, int(rate)
    except sf.LibsndfileError as first:
        if hasattr(src, "seek"):
            src.seek(0)
        try:
            import av
        except ImportError:
            raise first from None
        try:
            with av.open(src) as container:
                if not container.streams.audio:
                    raise ValueError("the file has no audio stream") from first
                stream = container.streams.audio[0]
                resampler = av.AudioResampler(format="flt", layout="mono", rate=stream.rate or 16000)
                chunks = [
                    out.to_ndarray().reshape(-1)
                    for frame in container.decode(stream)
                    for out in resampler.resample(frame)
                ]
                rate = int(stream.rate or 16000)
        except av.error.FFmpegError:
            raise first from None
        return (np.concatenate(chunks) if chunks else np.zeros(0, np.float32)), rate


def _resample(wave: np.ndarray, rate: int, target: int) -> np.ndarray:
    if rate == target:
        return wave
    import librosa

    return librosa.resample(wave, orig_sr=rate, target_sr=target).astype(np.float32, copy=False)


# --------------------------------------------------------------------------- the embeddings


class AudioEmbeddings(ArrayEmbeddingsBase):
    """An audio model as LangChain ``Embeddings``: audio references (or bytes / waveforms) -> vectors.

    Wrap it in :class:`~langchain_embcompare.matryoshka.MatryoshkaEmbeddings` (or pass it to a store) for
    the Matryoshka cut, PCA rotation, int8 / binary precision, stores, retrievers, ``compare``, the
    advisor and reports, as for text. Its :class:`~langchain_embcompare.matryoshka.VectorSpace` carries
    ``modality="audio"`` (``"text+audio"`` for CLAP), so a text query into an audio index is refused by name.

    Args:
        model: ``"resemblyzer"`` (default, offline), ``"audio:<hub name or folder>"`` (transformers audio
            encoder), ``"clap:<hub name or folder>"`` (CLAP), or an :class:`AudioBackbone` (then ``model_id``
            defaults to its ``name``).
        input_rate: sample rate (Hz) of bare ``np.ndarray`` waveforms (default 16,000).
        batch_size: clips decoded and embedded per step. num_workers: decoding threads (default min(4, CPUs)).
        device: torch device. timeout: seconds for an http(s) fetch. model_id: overrides the vector-space name.

    Raises:
        UnknownModelError: an unknown model name, or a backbone library that is not installed.
        AudioLoadError: (when embedding) any unreadable input; the whole batch is refused.
        ModalityMismatchError: (when embedding) a text given to an audio-only model.
        InvalidParameterError: a non-positive ``batch_size`` or ``input_rate``.
    """

    def __init__(
        self,
        model: str | AudioBackbone = DEFAULT_AUDIO_MODEL,
        *,
        input_rate: int = 16000,
        batch_size: int = 64,
        num_workers: int | None = None,
        device: str = "cpu",
        timeout: float = 30.0,
        model_id: str | None = None,
    ) -> None:
        if int(batch_size) <= 0:
            raise InvalidParameterError(f"batch_size must be a positive integer, got {batch_size!r}.")
        if int(input_rate) <= 0:
            raise InvalidParameterError(f"input_rate must be a positive sample rate in Hz, got {input_rate!r}.")
        if isinstance(model, str):
            key = model.lower()
            if key == DEFAULT_AUDIO_MODEL:
                backbone: Any = ResemblyzerBackbone(device)
            elif key.startswith("audio:"):
                backbone = TransformersAudioBackbone(model.split(":", 1)[1], device)
            elif key.startswith("clap:"):
                backbone = ClapBackbone(model.split(":", 1)[1], device)
            else:
                raise UnknownModelError(
                    f"Unknown audio model {model!r}: use 'resemblyzer' (offline speaker encoder), "
                    "'audio:<transformers hub name or folder>' or 'clap:<hub name or folder>' (text <-> audio), "
                    "or pass an AudioBackbone."
                )
        elif isinstance(model, AudioBackbone):
            backbone = model
        else:
            raise UnknownModelError(f"AudioEmbeddings(model=...) takes a name or an AudioBackbone, got {type(model).__name__}.")
        self.backbone = backbone
        self.model_id = model_id or backbone.name
        self.modality = str(backbone.modality)
        self.input_rate = int(input_rate)
        self.batch_size = int(batch_size)
        self.loader = MediaBatchLoader("audio", AudioLoadError, num_workers, timeout)

    @property
    def native_dim(self) -> int | None:  # type: ignore[override]
        """The output dimension (None for a hub model not loaded yet)."""
        return self.backbone.dim

    @property
    def embeds_text(self) -> bool:
        """Whether texts embed into the same space (CLAP)."""
        return "text" in self.modality.split("+")

    def cache_config(self) -> dict[str, Any]:
        """Model id and output size (the input rate of bare arrays is in each array's key).

        Returns:
            ``{"model_id": str, "modality": str}``.
        """
        return {"model_id": self.model_id, "modality": self.modality}

    def _who(self) -> str:
        return f"AudioEmbeddings({self.model_id!r})"

    def _split(self, items: Sequence[Any]) -> np.ndarray:
        """Which inputs are audio (True) and which texts (False); refuses texts for an audio-only model."""
        kinds = np.asarray([not isinstance(t, str) or _looks_like_reference(t) for t in items], dtype=bool)
        if not kinds.all() and not self.embeds_text:
            texts = [t for t, k in zip(items, kinds) if not k]
            sample = ", ".join(repr(short_ref(t, 60)) for t in texts[:3])
            raise ModalityMismatchError(
                f"{self._who()} embeds audio (modality 'audio') but got {len(texts)} text input(s) that are not audio "
                f"paths or URIs: {sample}. A text query cannot search an audio-only index: pass audio paths/URIs, "
                "bytes or waveforms, or use a CLAP model ('clap:<name>') whose texts and audio share one space."
            )
        return kinds

    def _array_key(self, item: Any) -> str:
        wave, rate = (item[0], int(item[1])) if isinstance(item, tuple) else (item, self.input_rate)
        arr = np.ascontiguousarray(np.asarray(wave, dtype=np.float32))
        return f"array\x00{rate}\x00{arr.shape}\x00" + hashlib.sha1(arr.tobytes()).hexdigest()

    def cache_keys(self, inputs: Sequence[Any]) -> list[str]:
        """Keys the vectors are cached under: file path + size + mtime, SHA-1 of bytes / waveform (+ rate),
        ``text\\0<text>`` for CLAP texts; raises what :meth:`encode` would for bad input.

        Args:
            inputs: audio paths, URIs, raw bytes, waveforms (1-D float arrays at the input rate, or
                ``(waveform, sample_rate_hz)`` tuples) and, for CLAP, texts.

        Returns:
            One cache key (str) per input, in input order.

        Raises:
            ModalityMismatchError: a text input to an audio-only model.
            AudioLoadError: an audio input cannot be read (naming every bad input).
        """
        items = list(inputs)
        kinds = self._split(items)
        audio = [t for t, k in zip(items, kinds) if k]
        keys = iter(self.loader.keys(audio, self._who(), key_of=lambda x: self._array_key(x) if not isinstance(x, (str, bytes, bytearray)) else _ref_key(self.loader, x)))
        return [next(keys) if k else "text\x00" + t for t, k in zip(items, kinds)]

    def _decode(self, item: Any) -> np.ndarray:
        wave, rate = decode_audio(item, self.input_rate, self.loader.fetched, self.loader.timeout)
        return self.backbone.prepare(_resample(wave, rate, self.backbone.sample_rate))

    def encode(self, texts: Sequence[Any], prompt: str | None = None) -> np.ndarray:
        """Audio inputs (and, for CLAP, texts) -> (n, dim) float32, in input order.

        Clips are decoded in ``num_workers`` threads and embedded ``batch_size`` at a time. ``prompt``
        applies to CLAP texts only; an audio-only model refuses one.

        Args:
            texts: audio inputs as for :meth:`cache_keys` and, for CLAP, texts.
            prompt: a prompt prepended to CLAP texts, or None.

        Returns:
            (n, dim) float32 array.

        Raises:
            EmptyInputError: ``texts`` is empty.
            InvalidParameterError: a ``prompt`` for an audio-only model.
            ModalityMismatchError: a text input to an audio-only model.
            AudioLoadError: an audio input cannot be read or decoded (naming every bad input; nothing is embedded).
        """
        items = list(texts)
        if not items:
            raise EmptyInputError("Nothing to embed: got an empty list of audio inputs. Pass at least one audio path or URI.")
        if prompt and not self.embeds_text:
            raise InvalidParameterError(f"{self._who()} got prompt {prompt!r}: prompts are for text; drop prompts= / query_prompt=.")
        kinds = self._split(items)
        out: np.ndarray | None = None
        audio_idx = np.flatnonzero(kinds)
        for start in range(0, len(audio_idx), self.batch_size):
            idx = audio_idx[start : start + self.batch_size]
            waves = self.loader.load([items[i] for i in idx], self._decode, self._who())
            vecs = self.backbone.embed(waves)
            if out is None:
                out = np.empty((len(items), vecs.shape[1]), np.float32)
            out[idx] = vecs
        if (~kinds).any():
            texts_in = [f"{prompt or ''}{t}" for t, k in zip(items, kinds) if not k]
            vecs = self.backbone.embed_texts(texts_in)
            if out is None:
                out = np.empty((len(items), vecs.shape[1]), np.float32)
            out[~kinds] = vecs
        assert out is not None
        return out

    def __repr__(self) -> str:
        return f"AudioEmbeddings({self.model_id!r}, dim={self.native_dim})"


def _ref_key(loader: MediaBatchLoader, ref: Any) -> str:
    from langchain_embcompare.media.refs import media_cache_key

    return media_cache_key(ref, loader.fetched, loader.timeout)
