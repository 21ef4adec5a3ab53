"""Image embeddings as LangChain ``Embeddings``: :class:`ImageEmbeddings` (a vision backbone's pooled
features) and :class:`ClipEmbeddings` (CLIP: texts and images in one space).

One job: turn lists of image references (and, for CLIP, texts) into (n, dim) float32 arrays on the
package's fast path (``encode`` / ``cache_keys`` of :class:`~langchain_embcompare.embedding_base.ArrayEmbeddingsBase`).
Decoding runs in threads (:class:`_ImageLoaderMixin`), one batch ahead of the model; any unreadable
input refuses the whole batch with one ``ImageLoadError`` naming every failure (:mod:`.image_refs`).
Backbones come from :mod:`.image_backbones`.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from langchain_embcompare.embedding_base import ArrayEmbeddingsBase
from langchain_embcompare.errors import (
    EmptyInputError,
    ImageLoadError,
    InvalidParameterError,
    UnknownModelError,
)
from langchain_embcompare.media.image_backbones import (
    DEFAULT_IMAGE_MODEL,
    Backbone,
    file_sha1,
    load_efficientnet_pytorch,
    load_timm,
    load_torchvision,
)
from langchain_embcompare.media.refs import media_cache_key
from langchain_embcompare.media.image_refs import (
    failure_reason,
    is_image_ref,
    open_image,
    raise_failures,
    refuse_text,
)

__all__ = ["ClipEmbeddings", "ImageEmbeddings"]


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
                keys.append(media_cache_key(ref, self._fetched, self.timeout))
            except Exception as exc:  # noqa: BLE001 (collected and raised below, naming every input)
                failures[ref] = failure_reason(exc, ref)
        if failures:  # the error path: decode the others too, so that one error names every bad input
            for ref in refs:
                if ref not in failures:
                    why = self._decode_one(ref, lambda im: None)[1]
                    if why is not None:
                        failures[ref] = why
            self._fetched.clear()
            raise_failures({r: failures[r] for r in refs if r in failures}, len(refs), who)
        return keys

    def _decode_one(self, ref: str, fn: Callable[[Any], Any]) -> tuple[Any, str | None]:
        """(transformed image, None) or (None, reason)."""
        try:
            return fn(open_image(ref, self._fetched, self.timeout)), None
        except Exception as exc:  # noqa: BLE001 (every failure is reported by the caller)
            return None, failure_reason(exc, ref)

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
            raise_failures(failures, len(refs), who)
        return [r for r, _ in results]


class ImageEmbeddings(_ImageLoaderMixin, ArrayEmbeddingsBase):
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
        InvalidParameterError: a non-positive ``batch_size``, or a ``Backbone`` given without ``model_id``.
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
            backbone = load_timm(arch, pretrained)
        elif kind == "torchvision":
            backbone = load_torchvision(arch, pretrained)
        elif kind == "" and (arch == "efficientnet-lite0" or arch.startswith("efficientnet-b")):
            if arch.startswith("efficientnet-b") and arch not in {f"efficientnet-b{i}" for i in range(8)}:
                raise UnknownModelError(f"Unknown image model {model!r}: efficientnet-pytorch has efficientnet-b0 ... -b7.")
            if weights is not None and not Path(weights).is_file():
                raise UnknownModelError(f"Image weights file {str(weights)!r} does not exist: pass a state-dict file saved with torch.save.")
            backbone = load_efficientnet_pytorch(arch, weights, pretrained, seed)
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
                model_id = f"image:{Path(weights).resolve()}#{file_sha1(Path(weights))[:12]}"
                if arch != DEFAULT_IMAGE_MODEL:
                    model_id = f"{arch}@{model_id}"
            elif not pretrained:
                model_id = f"{model}@random" + (f"-seed{seed}" if seed else "")
            else:
                model_id = model
        self.model_id = model_id

    # -- the fast path -----------------------------------------------------------------------------

    def cache_keys(self, inputs: Sequence[str]) -> list[str]:
        """Cache keys of ``inputs`` (see the module docstring); raises what :meth:`encode` would for bad input.

        Args:
            inputs: image paths or URIs.

        Returns:
            One cache key (str) per input, in input order.

        Raises:
            ModalityMismatchError: an input is a text, not an image reference.
            ImageLoadError: an image cannot be read (naming every bad input).
        """
        refuse_text(inputs, f"ImageEmbeddings({self.model_id!r})")
        return self._image_keys(inputs, f"ImageEmbeddings({self.model_id!r})")

    def _forward(self, batch: np.ndarray) -> np.ndarray:
        import torch

        with torch.inference_mode():
            x = torch.from_numpy(batch).to(self.device)
            return self.backbone.features(x).float().cpu().numpy()

    def encode(self, texts: Sequence[str], prompt: str | None = None) -> np.ndarray:
        """Image references -> (n, native_dim) float32 pooled features, in input order.

        Decoding runs in ``num_workers`` threads, one batch ahead of the model. ``prompt`` must be None
        (prompts are for text models).

        Args:
            texts: image paths or URIs.
            prompt: must be None.

        Returns:
            (n, native_dim) float32 array.

        Raises:
            InvalidParameterError: a ``prompt`` was given.
            EmptyInputError: ``texts`` is empty.
            ModalityMismatchError: an input is a text, not an image reference.
            ImageLoadError: an image cannot be read or decoded (naming every bad input; nothing is embedded).
        """
        refs = list(texts)
        who = f"ImageEmbeddings({self.model_id!r})"
        if prompt:
            raise InvalidParameterError(f"{who} got prompt {prompt!r}: prompts are for text models; drop prompts= / query_prompt=.")
        if not refs:
            raise EmptyInputError("Nothing to embed: got an empty list of images. Pass at least one image path or URI.")
        refuse_text(refs, who)
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
                raise_failures(failures, len(refs), who)
            return out
        finally:
            self._fetched.clear()

    def classify(self, refs: Sequence[str]) -> np.ndarray:
        """ImageNet logits (n, 1000) float32 of the backbone's own classifier head (efficientnet models).

        Args:
            refs: image paths or URIs.

        Returns:
            (n, 1000) float32 ImageNet logits.

        Raises:
            InvalidParameterError: the model was loaded without its classifier head.
            ImageLoadError: an image cannot be read (as :meth:`encode`).
        """
        if self.backbone.classify is None:
            raise InvalidParameterError(f"{self.model_id!r} was loaded without its classifier head.")
        import torch

        feats = self.encode(refs)
        with torch.inference_mode():
            return self.backbone.classify(torch.from_numpy(feats).to(self.device)).float().cpu().numpy()

    def embed_image(self, uris: list[str]) -> list[list[float]]:
        """LangChain's image-embedding call (as ``OpenCLIPEmbeddings.embed_image``): one vector per URI.

        Args:
            uris: image paths or URIs.

        Returns:
            One list of ``native_dim`` floats per URI.

        Raises:
            ImageLoadError: an image cannot be read (as :meth:`encode`).
        """
        return self.encode(uris).tolist()

    def __repr__(self) -> str:
        return f"ImageEmbeddings({self.model_id!r}, dim={self.native_dim})"


class ClipEmbeddings(_ImageLoaderMixin, ArrayEmbeddingsBase):
    """A CLIP model through sentence-transformers: texts and images in one space.

    Each input is embedded as an image when :func:`is_image_ref` says so (an image URI, a name with an
    image suffix, or an existing file), else as text; so ``store.similarity_search("a red star")`` searches
    an index of image paths. ``model`` is a hub name (``"sentence-transformers/clip-ViT-B-32"``,
    ``"openai/clip-vit-base-patch32"``; needs internet) or a local folder saved by
    ``CLIPModel.save_pretrained`` + ``CLIPProcessor.save_pretrained``.

    Args:
        model: a hub name or a local folder of a saved CLIP model.
        batch_size: inputs per model call.
        num_workers: image-decoding threads (default: min(4, CPU count)).
        device: torch device (default: sentence-transformers' choice).
        timeout: seconds to wait for one remote image.
        model_id: the name recorded in results and cache keys (default: ``model``).
        **model_kwargs: passed to ``SentenceTransformer``.

    Raises:
        UnknownModelError: the model cannot be loaded.
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
        """``file``/``bytes`` keys for images (as :class:`ImageEmbeddings`), ``text\\0<text>`` for texts.

        Args:
            inputs: texts and image references, mixed.

        Returns:
            One cache key (str) per input, in input order.

        Raises:
            ImageLoadError: an image cannot be read (naming every bad input).
        """
        who = f"ClipEmbeddings({self.model_id!r})"
        kinds = [is_image_ref(t) for t in inputs]
        img_keys = iter(self._image_keys([t for t, k in zip(inputs, kinds) if k], who))
        return [next(img_keys) if k else "text\x00" + t for t, k in zip(inputs, kinds)]

    def encode(self, texts: Sequence[str], prompt: str | None = None) -> np.ndarray:
        """Texts and image references -> (n, dim) float32, in input order (``prompt`` applies to texts).

        Args:
            texts: texts and image references, mixed.
            prompt: a prompt prepended to the texts (not to images), or None.

        Returns:
            (n, native_dim) float32 array.

        Raises:
            EmptyInputError: ``texts`` is empty.
            ImageLoadError: an image cannot be read or decoded (naming every bad input).
        """
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
        """LangChain's image-embedding call: one vector per image URI (refuses non-image inputs).

        Args:
            uris: image paths or URIs.

        Returns:
            One list of ``native_dim`` floats per URI.

        Raises:
            ImageLoadError: an input is not an image reference, or cannot be read.
        """
        bad = [u for u in uris if not is_image_ref(u)]
        if bad:
            raise ImageLoadError(f"embed_image got {len(bad)} inputs that are not image paths or URIs: {bad[:3]!r}.", {b: "not an image reference" for b in bad})
        return self.encode(uris).tolist()

    def __repr__(self) -> str:
        return f"ClipEmbeddings({self.model_id!r}, dim={self.native_dim})"

