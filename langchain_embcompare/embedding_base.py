"""What every embeddings class of this package shares, below the model-name resolution of
:mod:`langchain_embcompare.models` and the image / audio / video models of :mod:`langchain_embcompare.media`:

- the numpy fast path: :class:`ArrayEmbeddings` (an ``encode(texts, prompt=None) -> (n, d) float32``),
  its base class :class:`ArrayEmbeddingsBase` and :func:`encode_texts`, which uses it or falls back to
  LangChain's ``embed_documents`` / ``embed_query``;
- a model's identity: :func:`model_id` (the vector space's name), :func:`native_dim`;
- the cache key of an ``Embeddings`` object (:func:`embedding_cache_key`), and
  :func:`quiet_model_loading` (transformers' load report, kept to what matters).
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
from langchain_core.embeddings import Embeddings

class _Collect(logging.Filter):
    """Keeps the records it stops, so the ones that matter can be re-raised as one clear warning."""

    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def filter(self, record: logging.LogRecord) -> bool:
        self.records.append(record)
        return False


@contextmanager
def quiet_model_loading(what: str) -> Iterator[None]:
    """Silence transformers' weight-loading progress bar and its "LOAD REPORT" for one model load.

    Why: on every load transformers 5 draws a "Loading weights" bar and logs a report of checkpoint
    keys the architecture does not use (for all-MiniLM-L6-v2: the ``position_ids`` buffer), which a
    newcomer reads as an error. Scope: only the ``transformers.modeling_utils`` logger and the
    transformers progress bar, only while this block runs; both are restored after. A report that
    lists MISSING or MISMATCHED weights (part of the model left randomly initialised) is not
    swallowed: it is re-issued as a ``UserWarning`` naming ``what``.
    """
    from transformers.utils import logging as tlog

    logger = logging.getLogger("transformers.modeling_utils")
    catcher = _Collect()
    bars_were_on = tlog.is_progress_bar_enabled()
    logger.addFilter(catcher)
    if bars_were_on:
        tlog.disable_progress_bar()
    try:
        yield
    finally:
        logger.removeFilter(catcher)
        if bars_were_on:
            tlog.enable_progress_bar()
    for record in catcher.records:
        text = record.getMessage()
        if "LOAD REPORT" not in text or any(w in text for w in ("MISSING", "MISMATCH", "CONVERSION")):
            warnings.warn(f"While loading {what}: {text}", UserWarning, stacklevel=3)


@runtime_checkable
class ArrayEmbeddings(Protocol):
    """Embeddings that can hand back a numpy matrix directly (no list-of-floats round trip)."""

    model_id: str

    def encode(self, texts: Sequence[str], prompt: str | None = None) -> np.ndarray: ...


class ArrayEmbeddingsBase(Embeddings):
    """LangChain ``Embeddings`` on top of an ``encode`` that returns a float32 matrix: the base of every
    model class of this package (text, image, audio, video). Subclasses set ``model_id`` and
    ``native_dim`` and implement ``encode(texts, prompt=None) -> (n, dim) float32``."""

    model_id: str = ""
    native_dim: int = 0
    prompts: dict[str, str] = {}

    def encode(self, texts: Sequence[str], prompt: str | None = None) -> np.ndarray:  # pragma: no cover
        raise NotImplementedError

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.encode(texts).tolist()

    def embed_query(self, text: str) -> list[float]:
        return self.encode([text])[0].tolist()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.model_id!r}, dim={self.native_dim})"

    def cache_config(self) -> dict[str, Any]:
        """What decides this model's vectors (see :func:`embedding_cache_key`): name and output size.

        Returns:
            ``{"model_id": str, "native_dim": int}``.
        """
        return {"model_id": self.model_id, "native_dim": self.native_dim}


def model_id(embeddings: Embeddings) -> str:
    """A stable name for the vector space an ``Embeddings`` object produces."""
    for attr in ("model_id", "model", "model_name"):
        value = getattr(embeddings, attr, None)
        if isinstance(value, str) and value:
            dims = getattr(embeddings, "dimensions", None)
            return f"{value}@{dims}" if dims else value
    return type(embeddings).__name__


def native_dim(embeddings: Embeddings) -> int | None:
    """The model's output dimension when it is known without embedding anything."""
    for attr in ("native_dim", "dimensions", "dim"):
        value = getattr(embeddings, attr, None)
        if isinstance(value, int) and value > 0:
            return value
    return None


def encode_texts(
    embeddings: Embeddings, texts: Sequence[str], prompt: str | None = None, *, query: bool = False
) -> np.ndarray:
    """Embed ``texts`` as a float32 matrix ``(len(texts), d)``.

    Objects with the numpy fast path (``encode``, the models of this module) use it: they embed
    queries and documents alike, the difference being the ``prompt``. Any other LangChain
    ``Embeddings`` goes through its own API, so that models which embed the two differently (Cohere's
    and Voyage's ``input_type``, Nomic's task prefixes...) keep doing so: ``query=True`` calls
    ``embed_query`` once per text (LangChain has no batched query call), ``query=False`` calls
    ``embed_documents`` once. ``prompt``, if any, is prepended to each text either way.
    """
    if isinstance(embeddings, ArrayEmbeddings):
        return embeddings.encode(texts, prompt=prompt)
    texts = [f"{prompt}{t}" for t in texts] if prompt else list(texts)
    if query:
        return np.asarray([embeddings.embed_query(t) for t in texts], dtype=np.float32)
    return np.asarray(embeddings.embed_documents(texts), dtype=np.float32)


# --------------------------------------------------------------------------- cache keys

#: Attributes that never change a vector: credentials, transport, batching, progress display.
#: They are left out of cache keys (so a CLI run with a progress bar shares the API run's vectors,
#: and no API key is hashed into a folder name).
RUNTIME_ONLY_FIELDS: frozenset[str] = frozenset(
    {
        "api_key", "key", "secret", "password", "token", "headers", "default_headers", "default_query",
        "client", "async_client", "http_client", "http_async_client", "session",
        "timeout", "request_timeout", "max_retries", "retry_min_seconds", "retry_max_seconds",
        "show_progress", "show_progress_bar", "progress", "verbose", "batch_size", "chunk_size",
        "embed_batch_size", "max_concurrency", "num_workers", "device", "multi_process",
        "proxy", "openai_proxy", "organization", "openai_organization", "callbacks", "cache_folder",
        "cache_dir", "local_files_only",
    }
)
#: Fields that name the model: with one of them in the key, opaque attributes (a client, a loaded
#: network) are taken to follow from the configuration rather than to hold hidden settings.
IDENTITY_FIELDS: tuple[str, ...] = ("model", "model_name", "model_id", "model_path", "repo_id", "deployment", "name")


class _Opaque(Exception):
    """A value with no stable text form (an object, NaN)."""


def _runtime_only(name: str) -> bool:
    name = name.lower()
    return (
        name in RUNTIME_ONLY_FIELDS
        or name.endswith(("_api_key", "_secret", "_password", "_token"))
        or name.startswith("_")
    )


def _stable(value: Any, allow_lists: bool) -> Any:
    """``value`` as JSON-ready data, or :class:`_Opaque`."""
    from enum import Enum

    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise _Opaque
        return value
    if isinstance(value, Enum):
        return _stable(value.value, allow_lists)
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (tuple, list)) and (allow_lists or isinstance(value, tuple)):
        return [_stable(v, allow_lists) for v in value]
    if isinstance(value, (set, frozenset)):
        return sorted((_stable(v, allow_lists) for v in value), key=repr)
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return {k: _stable(v, True) for k, v in sorted(value.items()) if not _runtime_only(k)}
    if isinstance(value, np.generic):
        return _stable(value.item(), allow_lists)
    raise _Opaque


def embedding_cache_key(embeddings: Embeddings) -> dict[str, Any] | None:
    """What determines the vectors of ``embeddings``: ``{"class": "module.Qualname", "config": {...}}``,
    or ``None`` when no stable key can be derived (then vectors must not be cached across objects).

    The configuration is, in this order of preference:

    1. ``embeddings.cache_config()`` when the class defines it (every model class of this package);
    2. for pydantic models (LangChain's integrations: OpenAI, Cohere, Voyage, HuggingFace...), the
       declared fields (``model_dump()``): model name, ``dimensions``, task / input types, prompts,
       encode options...;
    3. otherwise the public instance attributes (``vars()``) holding plain values (numbers, strings,
       tuples, dicts of those); lists there are treated as state (a log of texts seen), not settings.

    Credentials, transport and batching settings (:data:`RUNTIME_ONLY_FIELDS`, names ending in
    ``_api_key`` / ``_token`` / ``_secret``, private names) are left out: they do not change a vector.
    The class itself stands for its class-level settings. If an attribute holds an object with no
    stable text form (a client, a loaded network, a function) and no field names the model
    (:data:`IDENTITY_FIELDS`), the object may hide a setting that changes the vectors, so ``None``
    is returned rather than risk two differently configured objects sharing cached vectors.
    """
    cls = type(embeddings)
    key: dict[str, Any] = {"class": f"{cls.__module__}.{cls.__qualname__}"}
    hook = getattr(embeddings, "cache_config", None)
    if callable(hook):
        try:
            key["config"] = _stable(dict(hook()), allow_lists=True)
        except _Opaque:
            return None
        return key
    dump = getattr(embeddings, "model_dump", None)
    if callable(dump) and hasattr(cls, "model_fields"):
        try:
            items, allow_lists = dict(dump()), True
        except Exception:  # a field pydantic cannot dump: fall back to the attributes
            items, allow_lists = dict(vars(embeddings)), False
    else:
        items, allow_lists = dict(vars(embeddings)), False
    config: dict[str, Any] = {}
    opaque: list[str] = []
    for name, value in sorted(items.items()):
        if _runtime_only(name):
            continue
        if isinstance(value, list) and not allow_lists:
            continue  # state, not a setting (documented above)
        try:
            config[name] = _stable(value, allow_lists)
        except _Opaque:
            if type(value).__name__ != "SecretStr":
                opaque.append(name)
    if opaque and not any(isinstance(config.get(f), str) and config.get(f) for f in IDENTITY_FIELDS):
        return None
    key["config"] = config
    return key


__all__ = [
    "ArrayEmbeddings",
    "ArrayEmbeddingsBase",
    "IDENTITY_FIELDS",
    "RUNTIME_ONLY_FIELDS",
    "embedding_cache_key",
    "encode_texts",
    "model_id",
    "native_dim",
    "quiet_model_loading",
]
