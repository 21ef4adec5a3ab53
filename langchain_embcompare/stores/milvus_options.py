"""Typed options of the Milvus store (registry name ``"milvus"``) and the classmethod that builds a
:class:`~langchain_embcompare.stores.milvus.MilvusVectorStore` from them (``stores.registry.build_store``)."""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Mapping
from typing import Any

from langchain_core.embeddings import Embeddings

from langchain_embcompare.matryoshka import as_matryoshka
from langchain_embcompare.stores.milvus_schema import MilvusIndexSpec
from langchain_embcompare.stores.registry import StoreOptions, secret, secret_url

__all__ = ["DEFAULT_URI", "MilvusOptions", "MilvusOptionsMixin"]

DEFAULT_URI = "embcompare_milvus.db"
"""The default Milvus target: a Milvus Lite file in the working folder."""


class MilvusOptions(StoreOptions):
    """How to reach Milvus (a Lite file, a server or a cluster) and shape the collection. The token and a
    URI's password are ``***`` in ``repr``; :meth:`to_dict` leaves the token out.

    Args:
        uri: a Milvus Lite file path, or ``http(s)://host:19530``.
        token: ``"user:password"`` or an API key (None: the ``MILVUS_TOKEN`` environment variable, if set).
        collection: the collection (None: named after data set, model, dim, index kind and metric).
        full_text: Milvus's BM25 function on the text (None: where the server has it, Lite and >= 2.5).
        m: HNSW links per node.
        ef_construction: HNSW build beam width.
        ef_search: HNSW search beam width.
        nlist: IVF lists.
        nprobe: IVF lists searched per query.
        consistency_level: Milvus's consistency level.
        metadata_schema: ``{metadata key: type}`` typed columns for filters.
        batch_size: documents per insert.
        timeout: seconds for connecting.
        call_timeout: seconds per later call (None: no limit).
        retries: tries after the first of a call that finds no server (reads, upserts, deletes, flushes).
        max_backoff: the longest wait between those tries, in seconds (0.5 s doubling up to it).

    Raises:
        InvalidParameterError: a value of the wrong type.
    """

    uri: str = secret_url(DEFAULT_URI)
    token: str | None = secret(None)
    collection: str | None = None
    full_text: bool | None = None
    m: int = 16
    ef_construction: int = 200
    ef_search: int = 128
    nlist: int = 128
    nprobe: int = 16
    consistency_level: str = "Strong"
    metadata_schema: Mapping[str, str] = dataclasses.field(default_factory=dict)
    batch_size: int = 1000
    timeout: float = 10.0
    call_timeout: float | None = None
    retries: int = 3
    max_backoff: float = 5.0

    def may_have_full_text(self) -> bool:
        """Whether the collection may get Milvus's BM25 function (the server's version decides ``None``).

        Returns:
            ``full_text is not False``.
        """
        return self.full_text is not False


class MilvusOptionsMixin:
    """``options_type`` and ``from_options`` of :class:`~langchain_embcompare.stores.milvus.MilvusVectorStore`."""

    options_type = MilvusOptions

    @classmethod
    def from_options(
        cls,
        options: MilvusOptions,
        embedding: Embeddings | str,
        *,
        kind: str = "flat",
        metric: str = "cosine",
        extra_vector_fields: Mapping[str, int] | None = None,
        dataset_name: str | None = None,
        overwrite: bool = True,
    ) -> Any:
        """The Milvus store from its registry options; without ``options.collection`` the collection is
        named ``embcompare_<data set>_<model>_<dim>d_<kind>_<metric>``.

        Args:
            options: the :class:`MilvusOptions`.
            embedding: LangChain ``Embeddings`` or a model name.
            kind: ``"flat"``, ``"ivf"`` or ``"hnsw"``.
            metric: ``"cosine"``, ``"ip"`` or ``"l2"``.
            extra_vector_fields: ``{field: dim}`` created with the collection (a funnel's shortlist field).
            dataset_name: names the collection when the options do not.
            overwrite: drop an existing collection of that name first.

        Returns:
            The :class:`~langchain_embcompare.stores.milvus.MilvusVectorStore`.

        Raises:
            InvalidParameterError: a bad spec value or precision (see the store).
            StoreConnectionError: the server is unreachable (URI redacted).
        """
        emb = as_matryoshka(embedding)
        name = options.collection
        if name is None:
            model = re.sub(r"[^A-Za-z0-9]+", "_", emb.space.model).strip("_").lower()
            dataset = re.sub(r"[^A-Za-z0-9]+", "_", dataset_name or "corpus").strip("_").lower()
            name = f"embcompare_{dataset}_{model}_{emb.space.dim}d_{kind}_{metric}"[:255]
        spec = MilvusIndexSpec(
            collection_name=name, kind=kind, metric=metric, m=options.m, ef_construction=options.ef_construction,  # type: ignore[arg-type]
            ef_search=options.ef_search, nlist=options.nlist, nprobe=options.nprobe, consistency_level=options.consistency_level,
            metadata_schema=dict(options.metadata_schema), extra_vector_fields=dict(extra_vector_fields or {}),
            batch_size=options.batch_size, full_text=options.full_text,
        )
        token = options.token or os.environ.get("MILVUS_TOKEN")
        return cls(emb, spec, options.uri, token=token, overwrite=overwrite, timeout=options.timeout,  # type: ignore[call-arg]
                   call_timeout=options.call_timeout, retries=options.retries, max_backoff=options.max_backoff)
