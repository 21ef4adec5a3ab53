"""Typed options of the Redis store (registry name ``"redis"``) and the classmethod that builds a
:class:`~langchain_embcompare.stores.redis.RedisVectorStore` from them (``stores.registry.build_store``)."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from typing import Any, Literal

from langchain_core.embeddings import Embeddings

from langchain_embcompare.errors import InvalidParameterError
from langchain_embcompare.matryoshka import as_matryoshka
from langchain_embcompare.stores.redis_schema import RedisIndexSpec
from langchain_embcompare.stores.registry import StoreOptions, secret_url

__all__ = ["CONNECTION_FIELDS", "RedisOptions", "RedisOptionsMixin"]


class RedisOptions(StoreOptions):
    """How to reach a Redis server and shape the index (like langchain-redis' ``RedisConfig``). The URL's
    password is ``***`` in ``repr`` and in :meth:`to_dict`.

    Args:
        url: ``redis://[user:password@]host:port`` (``rediss://`` for TLS, ``?protocol=3`` for RESP3).
        index_name: the search index (None: named after data set, model, dim, index kind and metric).
        prefix: the documents' key prefix (None: the index name).
        index_content: full-text index the ``content`` field (capability ``"full_text"``).
        dtype: the stored vector type, ``"float32"`` or ``"float16"``.
        m: HNSW links per node.
        ef_construction: HNSW build beam width.
        ef_search: HNSW search beam width.
        metadata_schema: ``{metadata key: "tag" | "numeric" | "text"}`` fields indexed for filters.
        batch_size: documents per pipelined write.
        retries: redis-py attempts per call.
        batch_retries: whole-batch retries of writes.
        max_backoff: the longest wait between batch retries, in seconds.
        connect_timeout: seconds for connecting.
        query_timeout_ms: the server-side limit of one query in ms (``0`` = none).
        socket_timeout: seconds for each reply once connected (None = as long as the server takes).
        ssl_ca_certs: ``rediss://`` only: PEM file of the CA that signed the server's certificate.
        ssl_certfile: ``rediss://`` only: the client certificate (mutual TLS), PEM.
        ssl_keyfile: ``rediss://`` only: the client certificate's private key, PEM.
        ssl_cert_reqs: ``rediss://`` only: verify the server's certificate (None = ``"required"``).
        ssl_check_hostname: ``rediss://`` only: the URL's host must match the certificate (None = on).

    Raises:
        InvalidParameterError: a value of the wrong type.
    """

    url: str = secret_url("redis://localhost:6379")
    index_name: str | None = None
    prefix: str | None = None
    index_content: bool = True
    dtype: Literal["float32", "float16"] = "float32"
    m: int = 16
    ef_construction: int = 200
    ef_search: int = 100
    metadata_schema: Mapping[str, str] = dataclasses.field(default_factory=dict)
    batch_size: int = 500
    retries: int = 3
    batch_retries: int = 10
    max_backoff: float = 5.0
    connect_timeout: float = 5.0
    query_timeout_ms: int = 0
    socket_timeout: float | None = None
    ssl_ca_certs: str | None = None
    ssl_certfile: str | None = None
    ssl_keyfile: str | None = None
    ssl_cert_reqs: Literal["required", "optional", "none"] | None = None
    ssl_check_hostname: bool | None = None

    def may_have_full_text(self) -> bool:
        """Whether the index gets a full-text field.

        Returns:
            ``index_content``.
        """
        return self.index_content


CONNECTION_FIELDS = (
    "retries", "batch_retries", "max_backoff", "connect_timeout", "query_timeout_ms", "socket_timeout",
    "ssl_ca_certs", "ssl_certfile", "ssl_keyfile", "ssl_cert_reqs", "ssl_check_hostname",
)
"""The :class:`RedisOptions` fields passed to the store's constructor as keywords of the same name."""


class RedisOptionsMixin:
    """``options_type`` and ``from_options`` of :class:`~langchain_embcompare.stores.redis.RedisVectorStore`."""

    options_type = RedisOptions

    @classmethod
    def from_options(
        cls,
        options: RedisOptions,
        embedding: Embeddings | str,
        *,
        kind: str = "flat",
        metric: str = "cosine",
        extra_vector_fields: Mapping[str, int] | None = None,
        dataset_name: str | None = None,
        overwrite: bool = True,
    ) -> Any:
        """The Redis store from its registry options; without ``options.index_name`` the index is named
        ``embcompare_<data set>_<model>_<dim>d_<kind>_<metric>``.

        Args:
            options: the :class:`RedisOptions`.
            embedding: LangChain ``Embeddings`` or a model name.
            kind: ``"flat"`` or ``"hnsw"``.
            metric: ``"cosine"``, ``"ip"`` or ``"l2"``.
            extra_vector_fields: ``{field: dim}`` created with the index (a funnel's shortlist field).
            dataset_name: names the index when the options do not.
            overwrite: drop an existing index of that name first.

        Returns:
            The :class:`~langchain_embcompare.stores.redis.RedisVectorStore`.

        Raises:
            InvalidParameterError: an index kind Redis lacks (only ``flat`` and ``hnsw``).
            StoreConnectionError: the server is unreachable (URL redacted).
        """
        if kind not in ("flat", "hnsw"):
            raise InvalidParameterError(f"Redis indexes are 'flat' or 'hnsw', not {kind!r}: use --kind flat|hnsw with this store.")
        emb = as_matryoshka(embedding)
        name = options.index_name
        if name is None:
            model = re.sub(r"[^A-Za-z0-9]+", "-", emb.space.model).strip("-").lower()
            name = re.sub(r"[^A-Za-z0-9_:.-]+", "-", f"embcompare_{dataset_name or 'corpus'}_{model}_{emb.space.dim}d_{kind}_{metric}")
        spec = RedisIndexSpec(
            index_name=name, prefix=options.prefix, kind=kind, metric=metric, dtype=options.dtype,  # type: ignore[arg-type]
            m=options.m, ef_construction=options.ef_construction, ef_search=options.ef_search,
            metadata_schema=dict(options.metadata_schema), extra_vector_fields=dict(extra_vector_fields or {}),
            index_content=options.index_content, batch_size=options.batch_size,
        )
        connection = {f: getattr(options, f) for f in CONNECTION_FIELDS}
        return cls(emb, spec, options.url, overwrite=overwrite, **connection)  # type: ignore[call-arg]
