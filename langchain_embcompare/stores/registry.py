"""The store registry: store name -> store class, and one typed options object per store.

Evaluation, the retrievers, the CLI and the chains never name a store: they hold a store *name* (data,
e.g. from ``--store``) and its typed options, and build through this module. Adding a store is one
line in :data:`STORES` (the class is named by a ``"module:Class"`` string, so importing the registry
imports no store client: redis-py, pymilvus, qdrant-client load only when their store is built) plus,
in the store's own module:

* an options class, a subclass of :class:`StoreOptions` (a frozen, keyword-only dataclass, like
  langchain-redis' ``RedisConfig``): connection settings and index overrides, the secrets among them
  declared with :func:`secret` / :func:`secret_url`;
* on the store class, ``options_type`` (that class) and a classmethod ``from_options(options,
  embedding, *, kind, metric, extra_vector_fields, dataset_name, overwrite)`` that builds or opens the
  store from them.

Secrets (a token, the password inside a URL) are shown as ``***`` by ``repr`` and never written by
:meth:`StoreOptions.to_dict` (the form saved in run results and reports).

>>> options = options_for("redis", url="redis://localhost:6379", index_name="docs")
>>> store = build_store("redis", options, MatryoshkaEmbeddings("all-MiniLM-L6-v2"), kind="hnsw")
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import types as types_mod
import typing
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal

from langchain_embcompare.errors import InvalidParameterError
from langchain_embcompare.stores.urls import redact

if TYPE_CHECKING:
    from langchain_core.embeddings import Embeddings

    from langchain_embcompare.stores.base import EmbStore

__all__ = [
    "DEFAULT_STORE",
    "STORES",
    "StoreOptions",
    "build_store",
    "options_for",
    "options_type",
    "secret",
    "secret_url",
    "store_class",
    "store_names",
]

STORES: Mapping[str, str] = {
    "faiss": "langchain_embcompare.stores.faiss:FaissVectorStore",
    "redis": "langchain_embcompare.stores.redis:RedisVectorStore",
    "milvus": "langchain_embcompare.stores.milvus:MilvusVectorStore",
    "qdrant": "langchain_embcompare.stores.qdrant:QdrantVectorStore",
}
"""Store name -> ``"module:Class"`` of its :class:`~langchain_embcompare.stores.base.EmbStore` subclass."""

DEFAULT_STORE = "faiss"
"""The store a run uses when none is named (in process, no server)."""


def secret(default: Any = None) -> Any:
    """A :class:`StoreOptions` field holding a secret (a token, a password): ``***`` in ``repr``, left out
    by :meth:`StoreOptions.to_dict`.

    Args:
        default: the field's default.

    Returns:
        The dataclass field.
    """
    return dataclasses.field(default=default, metadata={"secret": "value"})


def secret_url(default: Any = None) -> Any:
    """A :class:`StoreOptions` field holding a URL that may carry a password: its password is ``***`` in
    ``repr`` and in :meth:`StoreOptions.to_dict`.

    Args:
        default: the field's default.

    Returns:
        The dataclass field.
    """
    return dataclasses.field(default=default, metadata={"secret": "url"})


@typing.dataclass_transform(frozen_default=True, kw_only_default=True, field_specifiers=(dataclasses.field, secret, secret_url))
class StoreOptions:
    """Base of every store's typed options (connection settings, index overrides). A subclass is made a
    frozen, keyword-only dataclass by this base (do not decorate it again); it may define
    ``__post_init__`` for its own checks, calling ``super().__post_init__()`` (which checks every value
    against its field's type).

    Raises:
        InvalidParameterError: a value of the wrong type (naming the field and the type it takes).
    """

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        dataclasses.dataclass(frozen=True, kw_only=True, repr=False)(cls)

    def __post_init__(self) -> None:
        hints = typing.get_type_hints(type(self))
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            value = getattr(self, f.name)
            if not _is_instance(value, hints[f.name]):
                raise InvalidParameterError(
                    f"{type(self).__name__}.{f.name}={_shown(f, value)!r}: expected {_type_name(hints[f.name])}."
                )
            if isinstance(value, Mapping):
                object.__setattr__(self, f.name, dict(value))

    def __repr__(self) -> str:
        inner = ", ".join(f"{f.name}={_shown(f, getattr(self, f.name))!r}" for f in dataclasses.fields(self))  # type: ignore[arg-type]
        return f"{type(self).__name__}({inner})"

    __str__ = __repr__

    def to_dict(self) -> dict[str, Any]:
        """The options as a JSON-ready dict, safe to save: secret fields left out, a URL's password ``***``.

        Returns:
            ``{field: value}`` (mappings as dicts).
        """
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            kind = f.metadata.get("secret")
            if kind == "value":
                continue
            value = getattr(self, f.name)
            out[f.name] = redact(value) if kind == "url" else (dict(value) if isinstance(value, Mapping) else value)
        return out

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        """The options' field names, in declaration order.

        Returns:
            The names.
        """
        return tuple(f.name for f in dataclasses.fields(cls))  # type: ignore[arg-type]

    @classmethod
    def url_field(cls) -> str | None:
        """The field holding the store's address (declared with :func:`secret_url`), if any: what the
        CLI's ``--store-url`` sets.

        Returns:
            The field name, or None.
        """
        return next((f.name for f in dataclasses.fields(cls) if f.metadata.get("secret") == "url"), None)  # type: ignore[arg-type]

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, store: str | None = None) -> StoreOptions:
        """Build the options from ``{field: value}``; a string value is converted to the field's type
        (``"5"`` -> 5, ``"true"`` -> True, ``"none"`` -> None, JSON for a mapping), so CLI ``key=value``
        pairs and TOML tables both work.

        Args:
            data: field values.
            store: the store's name, for error messages.

        Returns:
            The options.

        Raises:
            InvalidParameterError: an unknown key (naming it and listing the valid ones), or a value that is
                not of (or convertible to) the field's type.
        """
        names = cls.field_names()
        where = f"store {store!r}" if store else cls.__name__
        unknown = sorted(set(data) - set(names))
        if unknown:
            raise InvalidParameterError(f"Unknown option(s) {unknown} for {where}; valid options: {list(names)}.")
        hints = typing.get_type_hints(cls)
        values = {k: _coerce(f"{where} option {k}", v, hints[k]) for k, v in data.items()}
        return cls(**values)

    def may_have_full_text(self) -> bool:
        """Whether a store opened with these options can have a full-text engine (capability
        ``"full_text"``), known before connecting: evaluation runs a BM25 arm without building the store
        when it cannot. The store's ``capabilities`` decide once it is open.

        Returns:
            False here (no engine); a store with one overrides this.
        """
        return False


def _shown(f: dataclasses.Field, value: Any) -> Any:
    kind = f.metadata.get("secret")
    if kind == "value" and value is not None:
        return "***"
    if kind == "url":
        return redact(value)
    return value


def _union_args(hint: Any) -> tuple[Any, ...]:
    if typing.get_origin(hint) in (typing.Union, types_mod.UnionType):
        return typing.get_args(hint)
    return (hint,)


def _is_instance(value: Any, hint: Any) -> bool:
    for t in _union_args(hint):
        origin = typing.get_origin(t)
        if t is Any:
            return True
        if t is type(None) or t is None:
            if value is None:
                return True
        elif origin is Literal:
            if value in typing.get_args(t):
                return True
        elif origin is not None:
            if isinstance(value, origin if isinstance(origin, type) else object):
                return True
        elif t is float:
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                return True
        elif t is int:
            if isinstance(value, int) and not isinstance(value, bool):
                return True
        elif isinstance(t, type) and isinstance(value, t):
            return True
    return False


def _type_name(hint: Any) -> str:
    names = []
    for t in _union_args(hint):
        if t is type(None):
            names.append("None")
        elif typing.get_origin(t) is Literal:
            names.append(" | ".join(repr(a) for a in typing.get_args(t)))
        else:
            names.append(getattr(typing.get_origin(t) or t, "__name__", str(t)))
    return " or ".join(names)


def _coerce(where: str, value: Any, hint: Any) -> Any:
    """A CLI / TOML string converted to the field's type (non-strings are returned as they are)."""
    if not isinstance(value, str):
        return value
    args = _union_args(hint)
    if str in args or any(typing.get_origin(a) is Literal and value in typing.get_args(a) for a in args):
        return value
    low = value.strip().lower()
    for t in args:
        try:
            if t is type(None) and low in ("none", "null", ""):
                return None
            if t is bool and low in ("true", "1", "yes", "on", "false", "0", "no", "off"):
                return low in ("true", "1", "yes", "on")
            if t is int:
                return int(value)
            if t is float:
                return float(value)
            if typing.get_origin(t) in (dict, Mapping, typing.get_origin(Mapping[str, int])):
                parsed = json.loads(value)
                if isinstance(parsed, dict):
                    return parsed
        except (ValueError, json.JSONDecodeError):
            continue
    raise InvalidParameterError(f"{where}={value!r}: expected {_type_name(hint)}.")


def store_names() -> tuple[str, ...]:
    """The registered store names, in registration order (the CLI's ``--store`` choices).

    Returns:
        The names.
    """
    return tuple(STORES)


def _check_name(name: str) -> str:
    if name not in STORES:
        raise InvalidParameterError(f"Unknown store {name!r}; registered stores: {list(STORES)}.")
    return STORES[name]


def store_class(name: str) -> type[EmbStore]:
    """The store class registered under ``name`` (its module is imported now).

    Args:
        name: a registered store name.

    Returns:
        The :class:`~langchain_embcompare.stores.base.EmbStore` subclass.

    Raises:
        InvalidParameterError: an unknown store (the registered ones are listed).
    """
    module, _, cls = _check_name(name).partition(":")
    return getattr(importlib.import_module(module), cls)


def options_type(name: str) -> type[StoreOptions]:
    """The typed options class of the store ``name`` (``store_class(name).options_type``).

    Args:
        name: a registered store name.

    Returns:
        The :class:`StoreOptions` subclass.

    Raises:
        InvalidParameterError: an unknown store.
    """
    return store_class(name).options_type  # type: ignore[attr-defined, no-any-return]


def options_for(name: str, options: StoreOptions | Mapping[str, Any] | None = None, /, **values: Any) -> StoreOptions:
    """The typed options of store ``name`` from ``values`` (strings are converted to each field's type,
    see :meth:`StoreOptions.from_dict`), or ``options`` checked to be that store's (a mapping is read
    like ``values``; ``values`` then override its fields).

    Args:
        name: a registered store name.
        options: an options object or a mapping of field values, or None.
        **values: field values.

    Returns:
        The store's :class:`StoreOptions` subclass instance.

    Raises:
        InvalidParameterError: an unknown store or option (each named, with the valid ones listed), a
            value of the wrong type, or ``options`` of another store.
    """
    cls = options_type(name)
    if isinstance(options, StoreOptions):
        if not isinstance(options, cls):
            raise InvalidParameterError(
                f"store {name!r} takes {cls.__name__}, got {type(options).__name__}: pass the options of the store you name."
            )
        if not values:
            return options
        values = {**{f: getattr(options, f) for f in cls.field_names()}, **values}
    elif options is not None:
        if not isinstance(options, Mapping):
            raise InvalidParameterError(f"store options for {name!r} must be a {cls.__name__} or a mapping, got {type(options).__name__}.")
        values = {**options, **values}
    return cls.from_dict(values, store=name)


def build_store(
    name: str,
    options: StoreOptions | None,
    embedding: Embeddings | str,
    *,
    kind: str = "flat",
    metric: str = "cosine",
    extra_vector_fields: Mapping[str, int] | None = None,
    dataset_name: str | None = None,
    overwrite: bool = True,
) -> EmbStore:
    """Build (or, with ``overwrite=False``, open) the store ``name`` from its typed options.

    Args:
        name: a registered store name.
        options: the store's options (None: its defaults).
        embedding: LangChain ``Embeddings`` or a model name.
        kind: the index kind (``"flat"``, ``"ivf"``, ``"hnsw"``; a store refuses a kind it lacks by name).
        metric: ``"cosine"``, ``"ip"`` or ``"l2"``.
        extra_vector_fields: ``{field name: dim}`` declared up front (a funnel's shortlist field); a store
            that adds fields on first use may ignore this.
        dataset_name: names the index / collection when the options name none.
        overwrite: drop an existing index of that name first (evaluation rebuilds from its corpus).

    Returns:
        The store.

    Raises:
        InvalidParameterError: an unknown store or bad options; the store's own errors (connection,
            schema, capability) as its constructor raises them.
    """
    opts = options_for(name, options)
    return store_class(name).from_options(  # type: ignore[attr-defined, no-any-return]
        opts, embedding, kind=kind, metric=metric, extra_vector_fields=dict(extra_vector_fields or {}),
        dataset_name=dataset_name, overwrite=overwrite,
    )
