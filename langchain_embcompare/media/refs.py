"""Media references of every modality: recognise them, read their bytes, key them for the cache, name failures.

One job: what a media input *is* before a model decodes it. An input is a reference the way LangChain's
multimodal embeddings take them (``OpenCLIPEmbeddings.embed_image(uris)``):

- a local path or a ``file://`` URI;
- an ``http(s)://`` URL (fetched once per batch, the bytes kept in a ``fetched`` dict);
- a ``data:<type>/<subtype>;base64,...`` URI;
- raw ``bytes`` (a whole encoded file: WAV, MP4...);
- a W3C Media Fragment on any of the above (``clip.mp4#t=10,20``: seconds 10 to 20), for time-based media.

:func:`media_cache_key` is the key a vector is cached under (``file\\0<abs path>\\0<size>\\0<mtime_ns>`` for
a file, ``bytes\\0<sha1>`` for everything read into memory, plus the fragment), so a changed file is never
served a stale vector. :func:`raise_media_failures` refuses a whole batch with one error of the modality's
class (:class:`~langchain_embcompare.errors.AudioLoadError`, ...), naming every bad input and why.
"""

from __future__ import annotations

import base64
import hashlib
import io
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit
from urllib.request import url2pathname, urlopen

from langchain_embcompare.errors import MediaLoadError

__all__ = [
    "REMOTE_SCHEMES",
    "TimeRange",
    "data_uri_bytes",
    "describe_failure",
    "has_suffix",
    "local_path",
    "media_cache_key",
    "open_media",
    "raise_media_failures",
    "read_media_bytes",
    "short_ref",
    "split_fragment",
]

#: URL schemes fetched over the network.
REMOTE_SCHEMES = ("http://", "https://")
_MAX_PATH = 4096
_FRAGMENT = re.compile(r"#t=(?:npt:)?([0-9.]*)(?:,([0-9.]+))?$")


@dataclass(frozen=True)
class TimeRange:
    """A time range of a media file in seconds, from a ``#t=start,end`` Media Fragment (W3C Media Fragments
    URI 1.0, temporal dimension, normal play time). ``end`` None means "to the end"."""

    start: float = 0.0
    end: float | None = None

    def __str__(self) -> str:
        return f"t={self.start:g}" + (f",{self.end:g}" if self.end is not None else "")


def split_fragment(ref: str) -> tuple[str, TimeRange | None]:
    """``"clip.mp4#t=10,20"`` -> ``("clip.mp4", TimeRange(10, 20))``; no (or another) fragment -> ``(ref, None)``.

    Raises ``ValueError`` for a ``#t=`` fragment whose start is not before its end."""
    if not isinstance(ref, str) or ref.startswith("data:"):
        return ref, None
    m = _FRAGMENT.search(ref)
    if m is None:
        return ref, None
    start = float(m.group(1)) if m.group(1) else 0.0
    end = float(m.group(2)) if m.group(2) else None
    if end is not None and end <= start:
        raise ValueError(f"media fragment #t={m.group(1)},{m.group(2)}: the end must come after the start")
    return ref[: m.start()], TimeRange(start, end)


def short_ref(ref: Any, n: int = 120) -> str:
    """A reference shortened for messages (``bytes`` and arrays by their size)."""
    if isinstance(ref, (bytes, bytearray)):
        return f"<{len(ref)} bytes>"
    if not isinstance(ref, str):
        shape = getattr(ref, "shape", None)
        return f"<array {tuple(shape)}>" if shape is not None else f"<{type(ref).__name__}>"
    return ref if len(ref) <= n else ref[: n - 3] + "..."


def local_path(ref: str) -> Path | None:
    """The file a reference names (plain path or ``file://`` URI); None for URLs and data URIs."""
    low = ref.lower()
    if low.startswith(REMOTE_SCHEMES) or low.startswith("data:"):
        return None
    if low.startswith("file://"):
        return Path(url2pathname(unquote(urlsplit(ref).path)))
    return Path(ref).expanduser()


def has_suffix(item: Any, suffixes: frozenset[str], mime: str) -> bool:
    """Whether a string names media of one kind: a ``data:<mime>/`` URI, an http(s)/file URI or path whose
    name ends in one of ``suffixes`` (fragment ignored). Used by each modality's ``is_<modality>_ref``."""
    if not isinstance(item, str) or not item:
        return False
    if item.startswith(f"data:{mime}/"):
        return True
    if len(item) > _MAX_PATH or "\n" in item:
        return False
    base, _ = split_fragment(item)
    name = urlsplit(base).path if base.lower().startswith(REMOTE_SCHEMES + ("file://",)) else base
    return Path(name).suffix.lower() in suffixes


def data_uri_bytes(ref: str) -> bytes:
    """The payload of a ``data:`` URI (base64 or percent-encoded). Raises ``binascii.Error`` / ``ValueError``."""
    head, _, payload = ref.partition(",")
    if ";base64" not in head:
        return unquote(payload).encode("latin-1")
    return base64.b64decode(payload, validate=True)


def read_media_bytes(ref: str | bytes, fetched: dict[str, bytes] | None = None, timeout: float = 30.0) -> bytes:
    """The encoded bytes of a reference without its fragment (a file, URL, data URI, or ``bytes`` as given).

    Raises ``OSError`` (missing file, unreachable URL) or ``ValueError`` (malformed data URI)."""
    if isinstance(ref, (bytes, bytearray)):
        return bytes(ref)
    base, _ = split_fragment(ref)
    if fetched is not None and base in fetched:
        return fetched[base]
    path = local_path(base)
    if path is not None:
        return path.read_bytes()
    if base.lower().startswith("data:"):
        data = data_uri_bytes(base)
    else:
        with urlopen(base, timeout=timeout) as resp:
            data = resp.read()
    if fetched is not None:
        fetched[base] = data
    return data


def open_media(ref: str | bytes, fetched: dict[str, bytes] | None = None, timeout: float = 30.0) -> str | io.BytesIO:
    """What a decoder opens: the path of a local file, else an in-memory file of the bytes."""
    if isinstance(ref, str):
        path = local_path(split_fragment(ref)[0])
        if path is not None:
            if not path.is_file():
                raise FileNotFoundError(f"{path} does not exist" if not path.exists() else f"{path} is not a file")
            return str(path)
    return io.BytesIO(read_media_bytes(ref, fetched, timeout))


def media_cache_key(ref: str | bytes, fetched: dict[str, bytes] | None = None, timeout: float = 30.0) -> str:
    """The key a vector of ``ref`` is cached under: ``file\\0<abs path>\\0<size>\\0<mtime_ns>`` for a file,
    ``bytes\\0<sha1>`` for a data URI, URL or ``bytes`` (URL bytes are fetched once and kept in ``fetched``);
    a ``#t=`` fragment is appended. Raises ``OSError`` / ``ValueError`` when the reference cannot be read."""
    if isinstance(ref, (bytes, bytearray)):
        return "bytes\x00" + hashlib.sha1(ref).hexdigest()
    base, frag = split_fragment(ref)
    tail = f"\x00{frag}" if frag is not None else ""
    path = local_path(base)
    if path is not None:
        st = path.resolve().stat()
        if not path.is_file():
            raise IsADirectoryError(f"{path} is not a file")
        return f"file\x00{path.resolve()}\x00{st.st_size}\x00{st.st_mtime_ns}{tail}"
    return "bytes\x00" + hashlib.sha1(read_media_bytes(base, fetched, timeout)).hexdigest() + tail


def raise_media_failures(
    failures: dict[Any, str], total: int, what: str, error: type[MediaLoadError], modality: str
) -> None:
    """Refuse a batch of ``total`` inputs to ``what``: raise ``error`` naming (up to 10 of) ``failures``
    ``{input: reason}``; nothing of the batch was embedded or indexed."""
    listing = "; ".join(f"{short_ref(ref)!r}: {why}" for ref, why in list(failures.items())[:10])
    more = f" (and {len(failures) - 10} more)" if len(failures) > 10 else ""
    raise error(
        f"{len(failures)} of {total} {modality} inputs to {what} cannot be read, so the whole batch was refused and "
        f"nothing of it was embedded or indexed: {listing}{more}. Fix or remove these inputs, then retry.",
        {short_ref(k, 10_000): v for k, v in failures.items()},
    )


def describe_failure(exc: BaseException, ref: Any, modality: str) -> str:
    """Why ``ref`` could not be read, in words, from the exception its loading raised."""
    import binascii

    is_str = isinstance(ref, str)
    if isinstance(exc, FileNotFoundError):
        return "file not found"
    if isinstance(exc, IsADirectoryError):
        return f"a folder, not a {modality} file"
    if isinstance(exc, (binascii.Error, ValueError)) and is_str and ref.lower().startswith("data:"):
        return f"malformed data URI ({exc})"
    if isinstance(exc, OSError) and is_str and ref.lower().startswith(REMOTE_SCHEMES):
        return f"cannot be fetched ({type(exc).__name__}: {exc})"
    return f"not a readable {modality} file ({type(exc).__name__}: {str(exc)[:200]})"
