"""Redis vector store: the shared, scale-out path, on the package's store protocol (stores/base.py).

Why Redis: FAISS lives in one process; a Redis index is shared by many app servers and grows past one
machine (Redis Cluster, Redis Cloud). The store keeps the package's contract:

* one vector space per index (model, dim, prompts, precision) stored beside it and checked on open;
* the package's score convention (higher = more similar): cosine -> cosine similarity, ip -> inner
  product, l2 -> minus Euclidean distance (Redis returns ``1 - cos``, ``1 - ip`` and the *squared* L2);
* hybrid queries: a redisvl ``FilterExpression`` or a LangChain-style dict, a true prefilter of the KNN
  (translated in :mod:`~langchain_embcompare.stores.redis_schema`);
* ingestion in pipelined batches, retried with exponential backoff through connection drops and server
  restarts, resumable (``skip_existing``).

Document ids follow the package rule (``ids[i]``, else ``Document.id``, else ``metadata["doc_id"]``,
else a fresh UUID4): a document's key is ``<prefix>:<id>``, so adding an id again updates it (text,
metadata, vector) and two documents without ids never collapse into one. Resuming an ingest
(``skip_existing=True``) therefore needs ids that are stable across runs: it refuses documents without
an explicit id.

Rows (the protocol's int64 handles) are a NUMERIC ``_row`` field assigned at first insert from a
counter key (inside the one-round-trip upsert script) and kept on update; ``<index>:meta:rows`` (a HASH) maps row ->
id. ``search_rows`` RETURNs ``_row`` and the document fields (the id is the key after ``<prefix>:``); the
documents of its last replies stay in a bounded cache, so ``documents_at`` after it costs no round trip.
``search_vectors`` (LangChain's hits) asks for the document fields only and builds the (Document, score)
pairs straight from the replies (issue 19: a single query within a few % of raw redis-py).

Start a server with ``docker run -p 6379:6379 redis/redis-stack-server:latest`` (or Redis 8 / Redis
Cloud), or ``python scripts/redis_server.py start``, and pass ``redis_url``.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

import numpy as np
import redis
from langchain_core.embeddings import Embeddings
from redisvl.index import SearchIndex

from langchain_embcompare.errors import InvalidParameterError, SchemaMismatchError, StorePermissionError, StoreTimeoutError
from langchain_embcompare.matryoshka import MatryoshkaEmbeddings, VectorSpace, as_matryoshka
from langchain_embcompare.stores.base import EmbStore
from langchain_embcompare.stores.redis_io import (
    DOCKER_HINT,
    TLS_OPTIONS,
    acl_rule,
    call,
    make_client,
)
from langchain_embcompare.stores.redis_fulltext import RedisFullTextMixin
from langchain_embcompare.stores.redis_options import RedisOptions, RedisOptionsMixin
from langchain_embcompare.stores.redis_search import RedisSearchMixin
from langchain_embcompare.stores.redis_schema import (
    CLUSTER_FIELD,
    CONTENT_FIELD,
    ID_FIELD,
    METADATA_FIELD,
    RESERVED_FIELDS,
    ROW_FIELD,
    TAG_SEPARATOR,
    VECTOR_FIELD,
    RedisIndexSpec,
    overlapping_indexes,
    schema_differences,
)
from langchain_embcompare.stores.urls import redact

logger = logging.getLogger(__name__)  # langchain_embcompare.stores.redis: the Redis store's one log channel

__all__ = [
    "CLUSTER_FIELD",
    "CONTENT_FIELD",
    "DOCKER_HINT",
    "ID_FIELD",
    "METADATA_FIELD",
    "RESERVED_FIELDS",
    "ROW_FIELD",
    "TAG_SEPARATOR",
    "VECTOR_FIELD",
    "RedisIndexSpec",
    "RedisVectorStore",
    "RedisOptions",
]


class RedisVectorStore(RedisSearchMixin, RedisFullTextMixin, RedisOptionsMixin, EmbStore):
    """A LangChain ``VectorStore`` on Redis vector search implementing the package's store protocol.

    >>> store = RedisVectorStore(MatryoshkaEmbeddings("all-MiniLM-L6-v2", dim=128),
    ...                          RedisIndexSpec("docs", kind="hnsw"), redis_url="redis://localhost:6379")
    >>> store.add_documents(docs); store.similarity_search("query", k=4, filter={"genre": "news"})

    Capabilities: ``"candidate_rows"`` (Redis ``INKEYS``), ``"clusters"`` (the ``cluster`` TAG) and
    ``"vector_fields"`` (the spec's extra vector fields; ``ensure_vector_field`` adds one with
    ``FT.ALTER``). Opening an index that exists checks its schema and vector space against the ones
    asked for, unless ``overwrite=True``.

    Args:
        embedding: LangChain ``Embeddings`` or a model name (wrapped in ``MatryoshkaEmbeddings``).
        spec: :class:`RedisIndexSpec` (default: a flat cosine index).
        redis_url: the server URL (``?protocol=3`` for RESP3).
        overwrite: drop the index and its documents first.
        space: the vector space to record (default: the embeddings').
        client: an open ``redis.Redis`` client to use instead of connecting.
        retries: redis-py retries per call after the first try (exponential backoff from 50 ms, capped at
            1 s): rides over a dropped connection or a server still loading its data after a restart.
        batch_retries: whole-batch retries of writes and row reads on top of ``retries`` (backoff from 50 ms
            doubling up to ``max_backoff``): rides over a server restart in the middle of an ingest.
        max_backoff: the longest wait between batch retries, in seconds.
        connect_timeout: seconds for connecting (TCP and the TLS handshake).
        socket_timeout: seconds for each reply once connected (read and write); ``None`` (the default) =
            as long as the server takes; a reply that takes longer raises ``StoreTimeoutError``.
        ssl_ca_certs: ``rediss://`` only: PEM file of the CA that signed the server's certificate.
        ssl_certfile: ``rediss://`` only: the client certificate (mutual TLS), PEM.
        ssl_keyfile: ``rediss://`` only: the client certificate's private key, PEM.
        ssl_cert_reqs: ``rediss://`` only: ``"required"`` (default: the server's certificate is verified),
            ``"optional"`` or ``"none"``.
        ssl_check_hostname: ``rediss://`` only: the URL's host must match the server's certificate
            (default: on).
        query_timeout_ms: the server-side limit of one query in milliseconds (sent as
            ``FT.SEARCH ... TIMEOUT``); ``0`` (the default) = none, so every answer is whole whatever the
            server's own ``TIMEOUT`` setting (RediSearch's default, 500 ms with ``ON_TIMEOUT RETURN``,
            would silently return a partial top-k from a busy server); a positive limit raises
            ``StoreTimeoutError`` when a query hits it (needs RESP3, ``?protocol=3``).

    Raises:
        InvalidParameterError: a negative ``query_timeout_ms``, a key prefix overlapping another index's,
            a bad timeout or retry count, a TLS option that is unknown, given with a ``redis://`` URL or
            names a missing file, or TLS options / ``socket_timeout`` given with ``client=``.
        StoreConnectionError: a subclass naming the fault and its fix (URL redacted):
            ``StoreUnreachableError``, ``StoreAuthenticationError``, ``StorePermissionError`` (an ACL
            refused a command or key: names it and the rule to add; ``acl_rule`` gives the whole line),
            ``StoreTLSError``, ``StoreTimeoutError``.
        SchemaMismatchError: an existing index with another schema (naming the difference).
        VectorSpaceMismatchError: an existing index from another vector space.
        DimensionMismatchError: an existing index of another dimension.
    """

    capabilities = frozenset({"candidate_rows", "clusters", "vector_fields", "full_text"})

    def __init__(
        self,
        embedding: Embeddings | str,
        spec: RedisIndexSpec | None = None,
        redis_url: str = "redis://localhost:6379",
        *,
        overwrite: bool = False,
        space: VectorSpace | None = None,
        client: redis.Redis | None = None,
        retries: int = 3,
        batch_retries: int = 10,
        max_backoff: float = 5.0,
        connect_timeout: float = 5.0,
        query_timeout_ms: int = 0,
        socket_timeout: float | None = None,
        ssl_ca_certs: str | None = None,
        ssl_certfile: str | None = None,
        ssl_keyfile: str | None = None,
        ssl_cert_reqs: str | None = None,
        ssl_check_hostname: bool | None = None,
    ) -> None:
        if not isinstance(query_timeout_ms, (int, np.integer)) or isinstance(query_timeout_ms, bool) or query_timeout_ms < 0:
            raise InvalidParameterError(f"query_timeout_ms={query_timeout_ms!r} must be a whole number of milliseconds >= 0 (0 = no limit).")
        self.query_timeout_ms = int(query_timeout_ms)
        self.embedding: MatryoshkaEmbeddings = as_matryoshka(embedding)
        self.spec = spec or RedisIndexSpec()
        self.metric = self.spec.metric
        self.redis_url = redis_url
        self.batch_retries = batch_retries
        self.max_backoff = max_backoff
        self._space: VectorSpace = space if space is not None else self.embedding.space
        tls = {"ssl_ca_certs": ssl_ca_certs, "ssl_certfile": ssl_certfile, "ssl_keyfile": ssl_keyfile,
               "ssl_cert_reqs": ssl_cert_reqs, "ssl_check_hostname": ssl_check_hostname}
        if client is not None:
            ignored = sorted(k for k, v in {**tls, "socket_timeout": socket_timeout}.items() if v is not None)
            if ignored:
                raise InvalidParameterError(
                    f"{ignored} set up the connection this store opens, but client= is an open one: pass them to "
                    "that client (redis.Redis.from_url(url, ssl_ca_certs=...)), or drop client=."
                )
        self.client = client if client is not None else make_client(redis_url, retries, connect_timeout, socket_timeout, **tls)
        call(redis_url, self.client.ping, self.spec.index_name, self.spec.prefix)
        self._init_rows()
        self._set_spec(self.spec)
        self._open(overwrite)

    # ------------------------------------------------------------------ open / guards

    @property
    def space(self) -> VectorSpace:
        """The vector space of this index (model, dim, prompts, precision)."""
        return self._space

    @property
    def meta_key(self) -> str:
        """The key holding this index's vector space and spec (JSON)."""
        return f"{self.spec.index_name}:space"

    def _set_spec(self, spec: RedisIndexSpec) -> None:
        self.spec = spec
        # full text needs the content TEXT field: an index without it has no engine (the lexical arm uses bm25s)
        self.capabilities = type(self).capabilities if spec.index_content else type(self).capabilities - {"full_text"}
        self._dtype = spec.np_dtype
        self.schema = spec.index_schema(self._space.dim)
        self.index = SearchIndex(self.schema, redis_client=self.client, owns_client=False)
        self._templates: dict[Any, tuple[list[Any], int]] = {}

    def _write_meta(self) -> None:
        meta = {"space": self._space.to_dict(), "spec": self.spec.to_dict()}
        self._call(lambda: self.client.set(self.meta_key, json.dumps(meta)))

    def _drop_all(self) -> None:
        self._call(lambda: self.index.delete(drop=True))
        self._call(lambda: self.client.delete(self.meta_key, self.rows_key, self.counter_key))
        self._forget()

    def _open(self, overwrite: bool) -> None:
        exists = self._call(self.index.exists)
        if exists and overwrite:
            self._drop_all()
            exists = False
        if exists:
            self._check_existing()
            return
        self._refuse_overlapping_prefix()
        self._call(lambda: self.index.create(overwrite=False))
        self.wait_until_indexed()
        self._write_meta()

    def wait_until_indexed(self, timeout: float = 600.0) -> None:
        """Block until the query engine's background scan of this index is over.

        ``FT.CREATE`` (and ``FT.ALTER``) start a scan of the *whole* keyspace for keys under the index's
        prefix. A document written while that scan runs is indexed when it is written and again when the
        scan reaches its key: the first version stays in the full-text statistics (documents per term,
        total length) until the engine's garbage collector runs, so BM25 scores come out wrong (measured:
        4 documents written during the scan of a 400,000-key server scored 0.431 instead of 2.495). On a
        server holding many keys the scan takes seconds, so the store waits for it before its first write.

        Args:
            timeout: seconds to wait at most.

        Raises:
            StoreTimeoutError: the scan is still running after ``timeout`` seconds (the message gives its
                progress).
        """
        deadline = time.monotonic() + timeout
        delay = 0.01
        while True:
            info = self._call(self.index.info)
            if not int(float(info.get("indexing", 0) or 0)):
                return
            if time.monotonic() > deadline:
                raise StoreTimeoutError(
                    f"Redis index {self.spec.index_name!r}: its background scan of the keyspace is still running after "
                    f"{timeout:g} s ({float(info.get('percent_indexed', 0)) * 100:.0f} % done); writing now would index "
                    "documents twice. Wait, or use a server (or database number) holding fewer unrelated keys."
                )
            time.sleep(delay)
            delay = min(0.5, delay * 2)

    def index_prefixes(self) -> dict[str, list[str]]:
        """Every search index on this server and its key prefixes (``FT._LIST`` + ``FT.INFO``).

        An index this connection's user may not inspect (an ACL user limited to this store's keys: the
        query engine checks an index's name as a key) is left out, and a warning names it.

        Returns:
            ``{index name: key prefixes}``.

        Raises:
            StoreConnectionError: the server is unreachable.
        """
        out: dict[str, list[str]] = {}
        hidden: list[str] = []
        for raw in self._call(lambda: self.client.execute_command("FT._LIST")):
            name = raw.decode() if isinstance(raw, bytes) else str(raw)
            try:
                info = self._call(lambda: self.client.ft(name).info())
            except StorePermissionError:
                hidden.append(name)
                continue
            definition = info.get("index_definition", info.get(b"index_definition", []))
            if not isinstance(definition, dict):
                definition = dict(zip(definition[::2], definition[1::2]))
            prefixes = definition.get("prefixes", definition.get(b"prefixes", []))
            out[name] = [p.decode() if isinstance(p, bytes) else str(p) for p in prefixes]
        if hidden:
            logger.warning(
                "Redis user may not read the definition of index(es) %s (FT.INFO checks the index name as a key), so "
                "their key prefixes were not checked against %r: make sure none overlaps it.", hidden, self.spec.prefix,
            )
        return out

    def _refuse_overlapping_prefix(self) -> None:
        """Before creating the index: refuse a key prefix that overlaps another index's (one would hold,
        count, find and delete the other's documents; :func:`.redis_schema.overlapping_indexes`)."""
        clash = overlapping_indexes(str(self.spec.prefix), self.index_prefixes())
        if clash:
            raise InvalidParameterError(
                f"Redis index {self.spec.index_name!r} (key prefix {self.spec.prefix!r}) would share keys with the "
                f"existing index(es) {clash}: RediSearch indexes every key that starts with a prefix, so one store "
                "would hold, find and delete the other's documents. Pick a name (or prefix) that neither starts "
                "with the other's prefix nor is a prefix of it, e.g. without ':'."
            )

    def _check_existing(self) -> None:
        """Refuse to reuse an index built with another schema or from another vector space. Extra vector
        fields added later (``ensure_vector_field``) and recorded beside the index are adopted."""
        name = self.spec.index_name
        raw = self._call(lambda: self.client.get(self.meta_key))
        stored = json.loads(raw) if raw is not None else None
        if stored is not None:
            have = dict(stored.get("spec", {}).get("extra_vector_fields", {}))
            asked = self.spec.extra_vector_fields
            if all(have.get(f) == d for f, d in asked.items()) and set(have) > set(asked):
                self._set_spec(RedisIndexSpec.from_dict({**self.spec.to_dict(), "extra_vector_fields": have}))
        existing = self._call(lambda: SearchIndex.from_existing(name, redis_client=self.client).schema)
        diffs = schema_differences(existing, self.schema)
        if diffs:
            raise SchemaMismatchError(
                f"Redis index {name!r} exists with another schema: {'; '.join(diffs)}. Open it with the spec it "
                f"was built with (RedisVectorStore.from_existing({name!r}, embedding, redis_url)), pick another "
                f"index_name, or pass overwrite=True to drop and rebuild it (an index built by an older version "
                f"of this package lacks the _row field and the \\x1f tag separator: rebuild it)."
            )
        if stored is None:
            self._write_meta()
            return
        VectorSpace.from_dict(stored["space"]).check_same(self._space, where=f"Redis index {name!r}")

    @classmethod
    def from_existing(
        cls, index_name: str, embedding: Embeddings, redis_url: str = "redis://localhost:6379", **kwargs: Any
    ) -> RedisVectorStore:
        """Open an index with the spec it was stored with (the embedding's space is checked against it).

        Args:
            index_name: the index to open.
            embedding: LangChain ``Embeddings`` or a model name.
            redis_url: the server URL.
            **kwargs: ``client`` and the other keywords of :class:`RedisVectorStore`.

        Returns:
            The store on that index.

        Raises:
            InvalidParameterError: no index of this package has that name.
            StoreConnectionError: the server is unreachable.
            SchemaMismatchError: the index's schema differs from its recorded spec.
            VectorSpaceMismatchError: ``embedding`` produces another vector space than the recorded one.
            DimensionMismatchError: ``embedding`` has another dimension.
        """
        client = kwargs.pop("client", None)
        if client is None:  # the connection keywords make this client (and are not passed on beside it)
            keys = ("connect_timeout", "socket_timeout", *TLS_OPTIONS)
            client = make_client(redis_url, kwargs.get("retries", 3), **{k: kwargs.pop(k) for k in keys if k in kwargs})
        raw = call(redis_url, lambda: client.get(f"{index_name}:space"), index_name)
        if raw is None:
            raise InvalidParameterError(
                f"No index {index_name!r} made by this package at {redact(redis_url)} (key {index_name}:space is "
                f"missing). Build it first with RedisVectorStore(embedding, RedisIndexSpec({index_name!r}), redis_url)."
            )
        spec = RedisIndexSpec.from_dict(json.loads(raw)["spec"])
        return cls(embedding, spec, redis_url, client=client, **kwargs)

    def check_query_space(self, space: VectorSpace) -> None:
        """Refuse a query vector space that is not this index's.

        Args:
            space: the vector space of the query embeddings.

        Raises:
            DimensionMismatchError: another dimension.
            VectorSpaceMismatchError: another model, prompts, rotation or precision.
            ModalityMismatchError: no shared modality.
        """
        self._space.check_same(space, where=f"Redis index {self.spec.index_name!r}")

    # ------------------------------------------------------------------ index-wide

    def drop(self) -> None:
        """Drop the index, its documents, its row bookkeeping and its stored space."""
        self._drop_all()

    def index_bytes(self) -> int:
        """Bytes of the vector index(es) as Redis reports them (``FT.INFO vector_index_sz_mb``).

        Returns:
            The size in bytes.
        """
        return int(self.memory()["vector_index_sz_mb"] * 2**20)

    def count(self) -> int:
        """Number of indexed (searchable) documents (``num_docs`` from ``FT.INFO``).

        Returns:
            The document count.

        Raises:
            StoreConnectionError: the server is unreachable.
        """
        return int(self._call(self.index.info)["num_docs"])

    def memory(self) -> dict[str, float]:
        """Index memory from ``FT.INFO``.

        Returns:
            ``{"vector_index_sz_mb", "inverted_sz_mb", "total_index_memory_sz_mb"}`` in MB (2**20 bytes),
                and ``"num_docs"``.

        Raises:
            StoreConnectionError: the server is unreachable.
        """
        info = self._call(self.index.info)
        return {
            "vector_index_sz_mb": float(info["vector_index_sz_mb"]),
            "inverted_sz_mb": float(info["inverted_sz_mb"]),
            "total_index_memory_sz_mb": float(info.get("total_index_memory_sz_mb", 0.0)),
            "num_docs": int(info["num_docs"]),
        }

    def _call(self, fn: Any) -> Any:
        return call(self.redis_url, fn, self.spec.index_name, self.spec.prefix)

    def acl_rule(self, user: str = "app", password: str = "<password>") -> str:
        """The least-privilege ``ACL SETUSER`` line for this store (:func:`.redis_io.acl_rule`): its key
        patterns (the index name and ``<index>:*``) and exactly the commands it sends.

        Args:
            user: the ACL user name.
            password: the user's password.

        Returns:
            The line, to run as an admin (``redis-cli ACL SETUSER ...``).
        """
        return acl_rule(self.spec.index_name, user, password, self.spec.prefix)

