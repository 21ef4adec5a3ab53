"""Image references: recognise them, key them for the cache, decode them, and explain every failure.

One job: everything about an image *reference* (a local path, a ``file://`` URI, an ``http(s)://`` URL
or a ``data:image/...;base64,`` URI) before a model sees it. :func:`is_image_ref` tells an image from
a text; :func:`~langchain_embcompare.media.refs.media_cache_key` (shared by every modality) is the key a vector
is cached under (path + size + mtime for a file, SHA-1 of the bytes otherwise); :func:`open_image` decodes to 8-bit RGB (every Pillow mode, :func:`to_rgb`); :func:`failure_reason` words a
failure, and :func:`raise_failures` refuses a whole batch with one
:class:`~langchain_embcompare.errors.ImageLoadError` naming every bad input. :func:`check_images` and
:func:`drop_unreadable` validate a list of references / documents up front.
"""

from __future__ import annotations

import binascii
import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.request import urlopen

from langchain_core.documents import Document

from langchain_embcompare.errors import ImageLoadError, ModalityMismatchError
from langchain_embcompare.media.refs import REMOTE_SCHEMES, data_uri_bytes, local_path, short_ref

__all__ = [
    "IMAGE_SUFFIXES",
    "check_images",
    "drop_unreadable",
    "failure_reason",
    "is_image_ref",
    "open_image",
    "raise_failures",
    "refuse_text",
    "to_rgb",
]

#: File name endings read as images (Pillow opens all of them).
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".gif", ".bmp", ".webp", ".tif", ".tiff", ".ppm", ".pgm", ".pbm", ".ico"})
_MAX_PATH = 4096


# --------------------------------------------------------------------------- references


def is_image_ref(item: str) -> bool:
    """Whether ``item`` is meant as an image: an http(s)/file/data:image URI, a name ending in an image
    suffix (:data:`IMAGE_SUFFIXES`, existing or not) or an existing file. Anything else is text."""
    if not isinstance(item, str) or not item or len(item) > _MAX_PATH or "\n" in item:
        return isinstance(item, str) and item.startswith("data:image/")
    low = item.lower()
    if low.startswith(REMOTE_SCHEMES) or low.startswith(("file://", "data:image/")):
        return True
    path = Path(item).expanduser()
    if path.suffix.lower() in IMAGE_SUFFIXES:
        return True
    try:
        return path.is_file()
    except OSError:
        return False


def _unit_range(values: Any, is_float: bool) -> Any:
    """High-depth grey values (float64 array) -> [0, 1]: divided by the smallest standard range that
    holds them (``[0, 1]`` for float data only, then ``[0, 255]``, then ``[0, 65535]``), else by the
    data's own ``(v - min) / (max - min)``; NaN and +-inf read as the range's 0."""
    import numpy as np

    finite = np.isfinite(values)
    v = np.where(finite, values, 0.0)
    lo, hi = (float(v[finite].min()), float(v[finite].max())) if finite.any() else (0.0, 0.0)
    if lo >= 0 and (hi <= 1.0 and is_float):
        return v
    for top in (255.0, 65535.0):
        if lo >= 0 and hi <= top:
            return v / top
    return (v - lo) / (hi - lo)  # outside 0..65535 (negative, or 32-bit): the data's own range


def to_rgb(img: Any) -> Any:
    """Any Pillow image as the 8-bit RGB picture a viewer shows: what every image model here embeds.

    * EXIF orientation applied (``ImageOps.exif_transpose``): a phone photo is embedded upright.
    * High bit depth (modes ``I;16``, ``I;16B``, ``I;16L``, ``I;16N``, ``I`` (int32), ``F`` (float32);
      scans, medical images, depth maps) is *scaled*, never clipped: Pillow's own ``convert("L")``
      clips every value above 255 to white, so a 16-bit scan became an almost white picture. The
      grey values are divided by the smallest standard range that holds them, ``[0, 255]`` (8-bit
      data in a wider container), then ``[0, 65535]`` (16-bit, OpenCV's and scikit-image's
      ``uint16 -> uint8`` convention), ``[0, 1]`` first for float data; data outside all of these
      (negative values, 32-bit integers) is stretched by its own min..max. NaN / inf pixels read as 0.
      A 12-bit scan in a 16-bit file is therefore shown as 16-bit data (darker), as those libraries do.
    * Transparency (``RGBA``, ``LA``, ``PA``, ``La``, ``RGBa``, ``P`` or ``L`` / ``RGB`` with a
      ``transparency`` key) composited on white.
    * Everything else (``1``, ``L``, ``P``, ``CMYK``, ``YCbCr``, ``LAB``, ``HSV``, ``RGBX``) by Pillow's
      ``convert("RGB")`` (``1`` -> 0 / 255; ``CMYK`` without an ICC profile by Pillow's naive formula).

    Args:
        img: a ``PIL.Image.Image`` of any mode (not modified).

    Returns:
        A new ``PIL.Image.Image`` of mode ``RGB`` (uint8), the same size after EXIF orientation.
    """
    import numpy as np
    from PIL import Image, ImageOps

    img = ImageOps.exif_transpose(img) or img
    mode = img.mode
    if mode.startswith("I;16") or mode in ("I", "F"):
        grey = _unit_range(np.asarray(img, dtype=np.float64), mode == "F")
        return Image.fromarray(np.rint(grey * 255.0).astype(np.uint8)).convert("RGB")
    if mode in ("RGBA", "LA", "PA", "La", "RGBa") or "transparency" in img.info:
        rgba = img.convert("RGBA") if mode not in ("La",) else img.convert("LA").convert("RGBA")
        out = Image.new("RGB", rgba.size, (255, 255, 255))
        out.paste(rgba, mask=rgba.getchannel("A"))
        return out
    return img.convert("RGB")


def open_image(ref: str, fetched: dict[str, bytes] | None = None, timeout: float = 30.0):
    """Decode ``ref`` fully into an 8-bit RGB ``PIL.Image`` (:func:`to_rgb`: every mode, 16-bit
    scaled, transparency composited on white, EXIF orientation applied).

    Raises ``OSError`` (missing / unreadable / truncated file, unreachable URL),
    ``PIL.UnidentifiedImageError`` (not an image) or ``ValueError`` (malformed data URI)."""
    from PIL import Image

    path = local_path(ref)
    if path is not None:
        src: Any = str(path)
    elif fetched is not None and ref in fetched:
        src = io.BytesIO(fetched[ref])
    elif ref.lower().startswith("data:"):
        src = io.BytesIO(data_uri_bytes(ref))
    else:
        with urlopen(ref, timeout=timeout) as resp:
            src = io.BytesIO(resp.read())
    with Image.open(src) as img:
        img.load()
        return to_rgb(img)


def failure_reason(exc: BaseException, ref: str) -> str:
    """Why ``ref`` could not be read, in words, from the exception ``exc`` its loading raised."""
    from PIL import UnidentifiedImageError

    if isinstance(exc, FileNotFoundError):
        return "file not found"
    if isinstance(exc, IsADirectoryError):
        return "a folder, not an image file"
    if isinstance(exc, UnidentifiedImageError):
        return "not an image (Pillow cannot identify the file's format)"
    if isinstance(exc, (binascii.Error, ValueError)) and ref.lower().startswith("data:"):
        return f"malformed data URI ({exc})"
    if isinstance(exc, OSError) and ref.lower().startswith(REMOTE_SCHEMES):
        return f"cannot be fetched ({type(exc).__name__}: {exc})"
    if isinstance(exc, (OSError, SyntaxError, ValueError)):
        return f"corrupt or truncated image ({type(exc).__name__}: {exc})"
    return f"{type(exc).__name__}: {exc}"


def raise_failures(failures: dict[str, str], total: int, what: str) -> None:
    """Refuse a batch of ``total`` inputs to ``what``: raise ``ImageLoadError`` naming (up to 10 of) ``failures`` ``{ref: reason}``."""
    listing = "; ".join(f"{short_ref(ref)!r}: {why}" for ref, why in list(failures.items())[:10])
    more = f" (and {len(failures) - 10} more)" if len(failures) > 10 else ""
    raise ImageLoadError(
        f"{len(failures)} of {total} image inputs to {what} cannot be read, so the whole batch was refused and "
        f"nothing of it was embedded or indexed: {listing}{more}. Fix or remove these files "
        "(langchain_embcompare.media.images.drop_unreadable(documents) splits them off), then retry.",
        failures,
    )


def refuse_text(items: Sequence[str], who: str) -> None:
    """Raise ``ModalityMismatchError`` (naming up to 3) when ``items`` hold texts that are not image references; ``who`` names the model."""
    texts = [t for t in items if not is_image_ref(t)]
    if texts:
        sample = ", ".join(repr(short_ref(t, 60)) for t in texts[:3])
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
            failures[ref] = failure_reason(exc, ref)
    return failures


def drop_unreadable(documents: Sequence[Document], timeout: float = 30.0) -> tuple[list[Document], dict[str, str]]:
    """Split image documents (reference in ``page_content``) into the readable ones and the failures.

    Returns ``(kept_documents, {reference: reason})``; use it before ``add_documents`` to index the rest
    of a batch when some images are broken (``add_documents`` itself refuses the whole batch)."""
    failures = check_images([d.page_content for d in documents], timeout=timeout)
    return [d for d in documents if d.page_content not in failures], failures

