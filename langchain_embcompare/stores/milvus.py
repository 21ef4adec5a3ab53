"""Milvus vector store: embedded by default (Milvus Lite), the same code on a Milvus server or cluster.

One ``pymilvus.MilvusClient`` talks to all three: ``uri`` is a local file path (Milvus Lite, started
inside this process: no server, what the tests and the demo use), or ``http(s)://host:19530`` with a
``token`` (``"user:password"`` or an API key) for a standalone server, a distributed cluster or Zilliz
Cloud. The store implements the package's protocol (:mod:`.base`): rows, ``search_rows``,
``documents_at``, ``vectors_at`` and the capabilities ``"candidate_rows"`` (``row in [...]``),
``"clusters"`` (an INT64 ``cluster`` field), ``"vector_fields"`` (declared extra vector fields) and
``"full_text"`` (Milvus's BM25 function on the text: :meth:`full_text_search`).

* Server versions: detected at connect (:mod:`.milvus_version`); what an older server lacks is adapted
  to or refused naming the version needed (Milvus 2.3: STL_SORT row index, JSON filters, whole-entity
  upserts, one vector field, no BM25). Tested on Milvus 2.3.5 standalone and Milvus Lite 3.2.

* Layout and filters: :mod:`.milvus_schema` (one entity per document, primary key = document id,
  a 63-bit hash of the id as the row handle, filters translated to Milvus boolean expressions).
* Scores: the package convention. ``cosine`` -> Milvus COSINE (vectors stored unit length): the
  cosine similarity; ``ip`` -> IP: the inner product; ``l2`` -> Milvus L2 returns the *squared*
  distance, reported as minus its square root (minus the Euclidean distance, as FAISS and Redis).
* Text filters (``$like``, ``Text % ...``): Milvus has ``LIKE`` and ``TEXT_MATCH``, neither of which is
  the whole-word, case-insensitive match the other stores run (``TEXT_MATCH`` needs an analyzer
  configured at creation and tokenises differently). A filter holding a text leaf is therefore
  evaluated in-process, exactly, over the collection's metadata (one scan per search call), and the
  search then runs on the matching rows: same results as FAISS and Redis, O(n) per call.
* Precision: float32 only. ``binary`` (Milvus Lite has no BINARY_VECTOR) and ``int8`` (quantised
  codes would need INT8_VECTOR, which Milvus Lite lacks too) raise ``InvalidParameterError`` naming
  the FAISS store, which has both. Storing floats instead would silently change what is measured.
* Milvus Lite accepts FLAT, IVF_FLAT and HNSW and reports them with ``describe_index``; it may
  search brute force whatever the index (results are then exact, latencies are not an HNSW's).
* Ids: rows are ``blake2b(id) & (2**63 - 1)``: an upsert keeps the row; a hash collision between two
  different ids is detected at insert and raises (probability ~ n^2 / 2^64: 5e-8 at a million).
* Resumable ingest: ``add_documents(..., skip_existing=True)`` / ``upsert_vectors(..., skip_existing=True)``
  embed and write only the ids not stored yet (one ``row in [...]`` query per batch).

This module opens the collection (connect, create, check an existing one's layout and space) and
holds the class; its other jobs are mixins: :mod:`.milvus_rows` (row handles, reads by row),
:mod:`.milvus_write` (upserts, deletes, resume, labels, vector fields), :mod:`.milvus_search`
(filters to expressions, searches, hits to arrays).
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Mapping
from typing import Any, ClassVar

from langchain_core.embeddings import Embeddings

from langchain_embcompare.errors import (
    InvalidParameterError,
    MissingCapabilityError,
    SchemaMismatchError,
    StoreConnectionError,
    StoreTimeoutError,
    StoreUnreachableError,
)
from langchain_embcompare.matryoshka import (
    MatryoshkaEmbeddings,
    VectorSpace,
    as_matryoshka,
)
from langchain_embcompare.stores.base import EmbStore
from langchain_embcompare.stores.milvus_rows import is_lite
from langchain_embcompare.stores.ops import row_handles
from langchain_embcompare.stores.milvus_schema import (
    BM25_ANALYZER,
    BM25_B,
    BM25_K1,
    CLUSTER_FIELD,
    ID_FIELD,
    INDEX_TYPES,
    METADATA_FIELD,
    METRIC_TYPES,
    NUMS_FIELD,
    ROW_FIELD,
    SPARSE_FIELD,
    TAGS_FIELD,
    TEXT_FIELD,
    VECTOR_FIELD,
    MilvusIndexSpec,
)
from langchain_embcompare.stores.milvus_options import DEFAULT_URI, MilvusOptions, MilvusOptionsMixin
from langchain_embcompare.stores.milvus_connection import DOCKER_HINT, GuardedClient, connection_error
from langchain_embcompare.stores.milvus_search import MilvusSearchMixin
from langchain_embcompare.stores.milvus_version import MilvusFeatures, detect_features
from langchain_embcompare.stores.milvus_write import MilvusWriteMixin
from langchain_embcompare.stores.urls import redact

__all__ = [
    "DEFAULT_URI",
    "DOCKER_HINT",
    "MilvusIndexSpec",
    "MilvusVectorStore",
    "MilvusOptions",
    "is_lite",
    "row_handles",
]

logger = logging.getLogger(__name__)

SPACE_PROP, SPEC_PROP, VERSION_PROP = "embcompare.space", "embcompare.spec", "embcompare.version"
FORMAT_VERSION = "1"


CONNECT_ATTEMPTS = 3
"""Tries to open a client when no server answers (0.5 s, then 1 s apart): a shared gRPC channel the server
closed while idle fails the first reconnect (found by the generated harness: tests/generated/test_regressions.py).
A refused token or a missing privilege is raised at once."""


class MilvusVectorStore(MilvusSearchMixin, MilvusWriteMixin, MilvusOptionsMixin, EmbStore):
    """A LangChain ``VectorStore`` on Milvus (Lite file, server or cluster), on the package protocol.

    >>> store = MilvusVectorStore(MatryoshkaEmbeddings("all-MiniLM-L6-v2"), MilvusIndexSpec("docs", kind="hnsw"),
    ...                           uri="./docs.db")                      # or "http://host:19530", token="root:Milvus"
    >>> store.add_documents(docs); store.similarity_search("query", k=4, filter={"genre": "news"})

    Opening an existing collection checks its layout and its recorded vector space.

    Args:
        embedding: LangChain ``Embeddings`` or a model name (wrapped in ``MatryoshkaEmbeddings``).
        spec: :class:`MilvusIndexSpec` (default: flat cosine collection ``embcompare``).
        uri: a Milvus Lite file path, or ``http(s)://host:19530`` for a server.
        token: ``"user:password"`` or an API key for a server (``None``: the ``MILVUS_TOKEN`` environment
            variable, if set; Milvus Lite has no authentication and ignores it). Never shown in a message or log.
        overwrite: drop an existing collection first.
        timeout: seconds for connecting.
        call_timeout: seconds per later call, read or write (``None``: no limit, as a large batched search
            or ingest on a busy machine can take long); a call past it raises ``StoreTimeoutError``.
        retries: tries after the first of a call that found no server (reads, upserts, deletes, flushes):
            rides over a server restart (:mod:`.milvus_connection`).
        max_backoff: the longest wait between those tries, in seconds (0.5 s doubling up to it).
        client: an open ``pymilvus.MilvusClient`` to use instead of connecting.
        **spec_kwargs: build the :class:`MilvusIndexSpec` when ``spec`` is not given.

    Raises:
        InvalidParameterError: ``binary`` / ``int8`` precision (see the module docstring), or a Milvus
            Lite file whose folder does not exist.
        StoreUnreachableError: no server answers at ``uri`` (after ``retries``; naming the URI, password redacted).
        StoreAuthenticationError: the server refused the token (the user is named, never the token).
        StorePermissionError: the user lacks a privilege (naming it, the collection and the grant to add).
        StoreTimeoutError: a call ran past ``call_timeout``.
        SchemaMismatchError: an existing collection with another layout (naming the difference).
        VectorSpaceMismatchError: an existing collection from another vector space.
        DimensionMismatchError: an existing collection of another dimension.
        MissingCapabilityError: extra vector fields or full-text search on a server too old for them.
    """

    capabilities: ClassVar[frozenset[str]] = frozenset({"candidate_rows", "clusters", "vector_fields"})

    def __init__(
        self,
        embedding: Embeddings | str,
        spec: MilvusIndexSpec | None = None,
        uri: str = DEFAULT_URI,
        *,
        token: str | None = None,
        overwrite: bool = False,
        timeout: float = 10.0,
        call_timeout: float | None = None,
        retries: int = 3,
        max_backoff: float = 5.0,
        client: Any = None,
        **spec_kwargs: Any,
    ) -> None:
        self.embedding: MatryoshkaEmbeddings = as_matryoshka(embedding)
        self.spec = spec or MilvusIndexSpec(**spec_kwargs)
        self.metric = self.spec.metric
        self.uri = str(uri)
        self.timeout = timeout
        self.call_timeout = call_timeout
        self.retries = retries
        self.max_backoff = max_backoff
        self._space: VectorSpace = self.embedding.space
        precision = getattr(self._space, "precision", "float32")
        if precision != "float32":
            what = "BINARY_VECTOR" if precision == "binary" else "INT8_VECTOR"
            raise InvalidParameterError(
                f"The Milvus store keeps float32 vectors; precision={precision!r} is not supported (Milvus Lite has no "
                f"{what}). Use the FAISS store (--store faiss), which stores {precision} codes, or precision='float32'."
            )
        self.client = self._connect(token) if client is None else self._guard(client, token)
        self.features: MilvusFeatures = detect_features(self.client)
        # typed metadata columns must be nullable (a document may lack the key): Milvus >= 2.5 / Lite;
        # on older servers every filter reads the _tags / _nums JSON fields instead (same results)
        self.typed_columns: dict[str, str] = dict(self.spec.metadata_schema) if self.features.has("nullable") else {}
        if not self.features.has("multi_vector"):  # one vector field per collection before Milvus 2.4
            if self.spec.extra_vector_fields:
                self.features.require("multi_vector", f"extra_vector_fields {sorted(self.spec.extra_vector_fields)}")
            self.capabilities = frozenset(type(self).capabilities - {"vector_fields"})
        if self.spec.full_text:
            self.features.require("bm25", "Full-text search (MilvusIndexSpec(full_text=True): Milvus's BM25 function)")
        self.full_text = self.spec.full_text is not False and self.features.has("bm25")  # an existing collection decides
        self._open(overwrite)
        if self.full_text:
            self.capabilities = frozenset(self.capabilities | {"full_text"})

    # ------------------------------------------------------------------ connection / open

    def _guard(self, client: Any, token: str | None) -> GuardedClient:
        token = None if is_lite(self.uri) else token or os.environ.get("MILVUS_TOKEN") or None
        return GuardedClient(client, self.uri, token=token, retries=self.retries, max_backoff=self.max_backoff,
                             call_timeout=self.call_timeout)

    def _connect(self, token: str | None) -> GuardedClient:
        from pymilvus import MilvusClient

        kwargs: dict[str, Any] = {"uri": self.uri, "timeout": self.timeout}  # connect timeout
        if is_lite(self.uri):
            folder = os.path.dirname(os.path.abspath(self.uri))
            if not os.path.isdir(folder):
                raise InvalidParameterError(f"Milvus Lite file {self.uri!r}: folder {folder!r} does not exist; create it first.")
            token = None  # Milvus Lite has no users
        else:
            token = token or os.environ.get("MILVUS_TOKEN") or None
        if token:
            kwargs["token"] = token
        attempts = max(CONNECT_ATTEMPTS, self.retries + 1)
        for attempt in range(attempts):
            try:
                client = MilvusClient(**kwargs)
                break
            except Exception as exc:  # pymilvus raises MilvusException (or grpc errors) on connect
                # pymilvus shares one channel per address; after a minute or so idle the server may have
                # closed it (gRPC GOAWAY "Too many pings") and the first reconnect fails: try again
                err = connection_error(exc, self.uri, token=token, action="connect")
                if attempt == attempts - 1 or not isinstance(err, StoreUnreachableError):
                    raise (err or self._connection_error(exc)) from exc
                time.sleep(min(0.5 * 2**attempt, self.max_backoff))
        return self._guard(client, token)  # a refused token fails MilvusClient() already (its connect checks it)

    def _connection_error(self, exc: BaseException) -> StoreConnectionError:
        if isinstance(exc, StoreConnectionError):
            return exc
        return StoreConnectionError(
            f"Cannot use Milvus at {redact(self.uri)} ({str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__}). "
            f"Start a server (`{DOCKER_HINT}`, listening on http://localhost:19530), pass the right uri/token, or use a "
            "local file path as uri for Milvus Lite (no server)."
        )

    @property
    def space(self) -> VectorSpace:
        """The collection's vector space (model, dim, prompts, rotation, precision)."""
        return self._space

    @property
    def vector_fields(self) -> dict[str, int]:
        """The extra vector fields declared in the spec (capability ``"vector_fields"``): ``{name: dimension}``."""
        return dict(self.spec.extra_vector_fields)

    def field_index_kind(self, vector_field: str | None = None) -> str:
        """Every vector field of the collection has the spec's index.

        Args:
            vector_field: an extra vector field, or ``None`` for the main vectors (same answer).

        Returns:
            ``"flat"``, ``"ivf"`` or ``"hnsw"``.
        """
        return str(self.spec.kind)

    def _schema(self) -> Any:
        from pymilvus import DataType, MilvusClient

        s = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
        s.add_field(ID_FIELD, DataType.VARCHAR, is_primary=True, max_length=self.spec.max_id_bytes)
        s.add_field(ROW_FIELD, DataType.INT64)
        if self.full_text:  # the text goes through the analyzer into a sparse BM25 vector (Milvus's function)
            from pymilvus import Function, FunctionType

            s.add_field(TEXT_FIELD, DataType.VARCHAR, max_length=self.spec.max_text_bytes, enable_analyzer=True,
                        analyzer_params=BM25_ANALYZER)
            s.add_field(SPARSE_FIELD, DataType.SPARSE_FLOAT_VECTOR)
            s.add_function(Function(name="text_bm25", function_type=FunctionType.BM25, input_field_names=[TEXT_FIELD],
                                    output_field_names=[SPARSE_FIELD]))
        else:
            s.add_field(TEXT_FIELD, DataType.VARCHAR, max_length=self.spec.max_text_bytes)
        s.add_field(METADATA_FIELD, DataType.JSON)
        s.add_field(TAGS_FIELD, DataType.JSON)
        s.add_field(NUMS_FIELD, DataType.JSON)
        s.add_field(CLUSTER_FIELD, DataType.INT64)
        for name, kind in self.typed_columns.items():
            if kind == "tag":
                s.add_field(name, DataType.ARRAY, element_type=DataType.VARCHAR, max_capacity=self.spec.max_tags,
                            max_length=self.spec.max_text_bytes, nullable=True)
            elif kind == "numeric":
                s.add_field(name, DataType.DOUBLE, nullable=True)
            else:
                s.add_field(name, DataType.VARCHAR, max_length=self.spec.max_text_bytes, nullable=True)
        s.add_field(VECTOR_FIELD, DataType.FLOAT_VECTOR, dim=self._space.dim)
        for name, dim in self.spec.extra_vector_fields.items():
            s.add_field(name, DataType.FLOAT_VECTOR, dim=dim)
        return s

    def _open(self, overwrite: bool) -> None:
        try:
            exists = self.client.has_collection(self.name)
            if exists and overwrite:
                self.client.drop_collection(self.name)
                exists = False
        except Exception as exc:
            raise self._connection_error(exc) from exc
        if exists:
            self._check_existing()
            self.client.load_collection(self.name)
            return
        index = self.client.prepare_index_params()
        for name in [VECTOR_FIELD, *self.spec.extra_vector_fields]:
            index.add_index(name, index_type=INDEX_TYPES[self.spec.kind], metric_type=METRIC_TYPES[self.metric],
                            params=self.spec.index_params())
        # INVERTED scalar indexes exist from Milvus 2.4; STL_SORT serves the same `row in [...]` look-ups before
        index.add_index(ROW_FIELD, index_type="INVERTED" if self.features.has("inverted_index") else "STL_SORT")
        if self.full_text:
            index.add_index(SPARSE_FIELD, index_type="SPARSE_INVERTED_INDEX", metric_type="BM25",
                            params={"bm25_k1": BM25_K1, "bm25_b": BM25_B})
        self.client.create_collection(
            self.name, schema=self._schema(), index_params=index, consistency_level=self.spec.consistency_level,
            properties={
                SPACE_PROP: json.dumps(self._space.to_dict()),
                SPEC_PROP: json.dumps(self.spec.to_dict()),
                VERSION_PROP: FORMAT_VERSION,
            },
        )

    def _check_existing(self) -> None:
        """Refuse a collection with another layout (``SchemaMismatchError``) or from another vector space."""
        info = self.client.describe_collection(self.name)
        props = info.get("properties") or {}
        where = f"Milvus collection {self.name!r} at {redact(self.uri)}"
        has_sparse = any(f["name"] == SPARSE_FIELD for f in info.get("fields", []))
        if self.spec.full_text and not has_sparse:
            raise SchemaMismatchError(
                f"{where} has no full-text field ({SPARSE_FIELD!r}) but full_text=True was asked; rebuild it "
                "(overwrite=True) or open it with full_text=None."
            )
        self.full_text = has_sparse and self.spec.full_text is not False
        if SPACE_PROP not in props or SPEC_PROP not in props:
            raise SchemaMismatchError(
                f"{where} exists but was not made by this package (no {SPACE_PROP!r}/{SPEC_PROP!r} properties). "
                "Pick another collection_name, or pass overwrite=True to drop and rebuild it."
            )
        diffs = self._schema_differences(info, json.loads(props[SPEC_PROP]))
        if diffs:
            raise SchemaMismatchError(
                f"{where} exists with another schema: {'; '.join(diffs)}. Open it with the spec it was built with "
                f"(MilvusVectorStore.from_existing({self.name!r}, embedding, uri)), pick another collection_name, "
                "or pass overwrite=True to drop and rebuild it."
            )
        VectorSpace.from_dict(json.loads(props[SPACE_PROP])).check_same(self._space, where=where)

    def _schema_differences(self, info: Mapping[str, Any], stored_spec: Mapping[str, Any]) -> list[str]:
        from pymilvus import DataType

        diffs: list[str] = []
        have = {f["name"]: f for f in info.get("fields", [])}
        want = {VECTOR_FIELD: self._space.dim, **self.spec.extra_vector_fields}
        for name, dim in want.items():
            f = have.get(name)
            if f is None:
                diffs.append(f"vector field {name!r} ({dim}-d) is missing from the collection")
            elif f["type"] != DataType.FLOAT_VECTOR:
                diffs.append(f"field {name!r}: collection has type {f['type'].name}, asked for FLOAT_VECTOR")
            elif int(f["params"].get("dim", -1)) != dim:
                diffs.append(f"vector field {name!r}: collection has dim {f['params'].get('dim')}, asked for {dim}")
        for name, f in have.items():
            if f["type"] == DataType.FLOAT_VECTOR and name not in want:
                diffs.append(f"collection has vector field {name!r} ({f['params'].get('dim')}-d) not in the spec")
        kinds = {"tag": DataType.ARRAY, "numeric": DataType.DOUBLE, "text": DataType.VARCHAR}
        for name, kind in self.typed_columns.items():
            f = have.get(name)
            if f is None:
                diffs.append(f"metadata field {name!r} ({kind}) is missing from the collection")
            elif f["type"] != kinds[kind]:
                diffs.append(f"metadata field {name!r}: collection has type {f['type'].name}, asked for {kind}")
        try:
            index = self.client.describe_index(self.name, VECTOR_FIELD)
            if index.get("index_type") != INDEX_TYPES[self.spec.kind]:
                diffs.append(f"index: collection has {index.get('index_type')}, asked for {INDEX_TYPES[self.spec.kind]}")
            if index.get("metric_type") != METRIC_TYPES[self.metric]:
                diffs.append(f"metric: collection has {index.get('metric_type')}, asked for {METRIC_TYPES[self.metric]}")
        except Exception as exc:  # noqa: BLE001 - an index that cannot be described is a difference too
            diffs.append(f"vector index cannot be described ({exc})")
        stored = MilvusIndexSpec.from_dict(stored_spec).structural()
        asked = self.spec.structural()
        for key in sorted(set(stored) | set(asked)):
            if key in ("kind", "metric") and diffs:
                continue
            if stored.get(key) != asked.get(key):
                diffs.append(f"{key}: collection has {stored.get(key)!r}, asked for {asked.get(key)!r}")
        return list(dict.fromkeys(diffs))

    @classmethod
    def from_existing(
        cls, collection_name: str, embedding: Embeddings | str, uri: str = DEFAULT_URI, *, token: str | None = None, **kwargs: Any
    ) -> MilvusVectorStore:
        """Open a collection with the spec it was stored with (the embedding's space is checked against it).

        Args:
            collection_name: the collection to open.
            embedding: LangChain ``Embeddings`` or a model name.
            uri: a Milvus Lite file path, or ``http(s)://host:19530`` for a server.
            token: ``"user:password"`` or an API key for a server (``None``: ``MILVUS_TOKEN``, if set).
            **kwargs: ``timeout``, ``client`` and the other keywords of :class:`MilvusVectorStore`.

        Returns:
            The store on that collection.

        Raises:
            InvalidParameterError: no such collection.
            SchemaMismatchError: the collection was not made by this package.
            StoreConnectionError: the server is unreachable, refused the token or a privilege
                (its subclasses, as :class:`MilvusVectorStore`).
            VectorSpaceMismatchError: ``embedding`` produces another vector space than the recorded one.
            DimensionMismatchError: ``embedding`` has another dimension.
        """
        probe = cls.__new__(cls)
        probe.uri, probe.timeout = str(uri), kwargs.pop("timeout", 10.0)
        probe.retries, probe.max_backoff = kwargs.get("retries", 3), kwargs.get("max_backoff", 5.0)
        probe.call_timeout = kwargs.get("call_timeout")
        given = kwargs.pop("client", None)
        client = probe._connect(token) if given is None else probe._guard(given, token)
        if not client.has_collection(collection_name):
            raise InvalidParameterError(
                f"No Milvus collection {collection_name!r} at {redact(str(uri))}. Build it first with "
                f"MilvusVectorStore(embedding, MilvusIndexSpec({collection_name!r}), uri)."
            )
        props = client.describe_collection(collection_name).get("properties") or {}
        if SPEC_PROP not in props:
            raise SchemaMismatchError(f"Milvus collection {collection_name!r} was not made by this package (no {SPEC_PROP!r}).")
        spec = MilvusIndexSpec.from_dict(json.loads(props[SPEC_PROP]))
        return cls(embedding, spec, uri, client=client, token=token, timeout=probe.timeout, **kwargs)

    def flush(self, timeout: float = 600.0) -> None:
        """Seal what was written so far and serve it through the collection's index. On a server, fresh
        rows sit in growing segments, which Milvus 2.3 searches through an *interim* IVF index
        (``queryNode.segcore.interimIndex``: nlist 128, nprobe 16 by default), and it keeps answering from
        that interim index after the segments are sealed and the real index is built, until the collection
        is loaded again. Measured on Milvus 2.3.5 (SciFact, MiniLM, HNSW M 16): recall@10 0.912 whatever
        ``ef_search`` (16, 128 or 1000) before, 1.0 at ef 1000 after. So this flushes, waits until the vector
        index covers every row (at most ``timeout`` s, then ``StoreTimeoutError``), and releases and reloads the
        collection. Call it after a bulk ingest that will be measured. Milvus Lite: a flush only.

        Args:
            timeout: seconds to wait for the vector index to cover every row.

        Raises:
            StoreTimeoutError: the vector index is not built after ``timeout`` seconds.
        """
        self.client.flush(self.name, timeout=self.call_timeout)
        if self.features.lite:
            return
        deadline = time.monotonic() + timeout
        while True:
            info = self.client.describe_index(self.name, VECTOR_FIELD)
            if info.get("state") == "Finished" and int(info.get("pending_index_rows", 0)) == 0:
                break
            if time.monotonic() > deadline:
                raise StoreTimeoutError(f"Milvus collection {self.name!r}: its vector index is not built after {timeout}s ({info}).")
            time.sleep(0.5)
        self.client.release_collection(self.name, timeout=self.call_timeout)
        self.client.load_collection(self.name, timeout=self.call_timeout)

    def missing(self, capability: str, what: str) -> MissingCapabilityError:
        """The error for a capability this store lacks, naming the Milvus version that has it when the
        server's version is the reason (several vector fields, the funnel's shortlist field: Milvus 2.4).

        Args:
            capability: the capability asked for (one of ``CAPABILITIES``).
            what: the operation asked for, named in the message.

        Returns:
            The ``MissingCapabilityError`` to raise.
        """
        feature = {"vector_fields": "multi_vector", "full_text": "bm25"}.get(capability)
        if feature is not None and not self.features.has(feature):
            try:
                self.features.require(feature, f"{what!r} (capability {capability!r})")
            except MissingCapabilityError as exc:
                return exc
        return super().missing(capability, what)

    def close(self) -> None:
        """Close the client (for Milvus Lite: releases the file; a new store on the same uri reopens it)."""
        try:
            self.client.close()
        except Exception:  # noqa: BLE001 - closing twice is harmless
            pass

    def drop(self) -> None:
        """Drop the collection: its documents, index and recorded space."""
        self.client.drop_collection(self.name)

    def index_bytes(self) -> int:
        """Estimated bytes of the vector data: ``count * sum(dims) * 4`` (float32), plus HNSW's graph
        links (``count * 2 * m * 4`` per vector field). Milvus does not report an index's memory through
        its client; ``benchmarks/bench_milvus.py`` measures the Lite process instead.

        Returns:
            The estimate in bytes.
        """
        n = self.count()
        fields = [self._space.dim, *self.spec.extra_vector_fields.values()]
        graph = 2 * self.spec.m * 4 * len(fields) if self.spec.kind == "hnsw" else 0
        return int(n * (sum(fields) * 4 + graph))

