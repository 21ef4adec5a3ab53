"""Milvus vector store: embedded by default (Milvus Lite), the same code on a Milvus server or cluster.

One ``pymilvus.MilvusClient`` talks to all three: ``uri`` is a local file path (Milvus Lite, started
inside this process: no server, what the tests and the demo use), or ``http(s)://host:19530`` with a
``token`` (``"user:password"`` or an API key) for a standalone server, a distributed cluster or Zilliz
Cloud. The store implements the package's protocol (:mod:`.base`): rows, ``search_rows``,
``documents_at``, ``vectors_at`` and the capabilities ``"candidate_rows"`` (``row in [...]``),
``"clusters"`` (an INT64 ``cluster`` field) and ``"vector_fields"`` (declared extra vector fields).

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
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar
from urllib.parse import urlsplit, urlunsplit

import numpy as np
from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings

from langchain_embcompare.errors import (
    DimensionMismatchError,
    EmptyInputError,
    InvalidParameterError,
    SchemaMismatchError,
    StoreConnectionError,
)
from langchain_embcompare.filters import Filter, evaluate_filter, filter_tree
from langchain_embcompare.matryoshka import MatryoshkaEmbeddings, VectorSpace, as_matryoshka, check_finite
from langchain_embcompare.stores.base import (
    EmbStore,
    as_query_matrix,
    empty_result,
    filter_matches_nothing,
    last_wins,
    normalize_rows,
    prepare_documents,
)
from langchain_embcompare.stores.milvus_schema import (
    CLUSTER_FIELD,
    ID_FIELD,
    INDEX_TYPES,
    MAX_TOPK,
    METADATA_FIELD,
    METRIC_TYPES,
    NUMS_FIELD,
    ROW_FIELD,
    TAGS_FIELD,
    TEXT_FIELD,
    VECTOR_FIELD,
    MilvusIndexSpec,
    as_number,
    has_text_leaf,
    int_list,
    jsonable,
    literal,
    num_json,
    tag_json,
    to_expression,
)

__all__ = ["DEFAULT_URI", "DOCKER_HINT", "MilvusIndexSpec", "MilvusVectorStore", "build_milvus_store", "row_handles"]

logger = logging.getLogger(__name__)

DEFAULT_URI = "embcompare_milvus.db"
DOCKER_HINT = (
    "curl -sfL https://raw.githubusercontent.com/milvus-io/milvus/master/scripts/standalone_embed.sh -o standalone_embed.sh "
    "&& bash standalone_embed.sh start"
)
SPACE_PROP, SPEC_PROP, VERSION_PROP = "embcompare.space", "embcompare.spec", "embcompare.version"
FORMAT_VERSION = "1"
_CHUNK = 4096  # rows per `row in [...]` query (well under Milvus's 16384 result limit)
_QUERY_CHUNK = 256  # queries per search call
_DOC_FIELDS = [ID_FIELD, ROW_FIELD, TEXT_FIELD, METADATA_FIELD]


def row_handles(ids: Sequence[str]) -> np.ndarray:
    """Row handle of each id: the first 8 bytes of ``blake2b(id)`` as an int64 with the sign bit
    cleared (so rows are ``>= 0``, as the protocol requires). Stable across processes and clients."""
    raw = b"".join(hashlib.blake2b(str(i).encode("utf-8"), digest_size=8).digest() for i in ids)
    return (np.frombuffer(raw, dtype=">i8").astype(np.int64) & np.int64(0x7FFF_FFFF_FFFF_FFFF)) if raw else np.zeros(0, np.int64)


def is_lite(uri: str) -> bool:
    """True when ``uri`` names a Milvus Lite file (no scheme), False for ``http(s)://`` / ``tcp://`` servers."""
    return "://" not in uri


def redact(uri: str) -> str:
    """The URI without a password (error messages must not leak credentials)."""
    parts = urlsplit(uri)
    if parts.password:
        netloc = f"{parts.username or ''}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
        return urlunsplit(parts._replace(netloc=netloc))
    return uri


def _prefix(vectors: np.ndarray, dim: int) -> np.ndarray:
    return normalize_rows(np.ascontiguousarray(vectors[:, :dim]))


class MilvusVectorStore(EmbStore):
    """A LangChain ``VectorStore`` on Milvus (Lite file, server or cluster), on the package protocol.

    >>> store = MilvusVectorStore(MatryoshkaEmbeddings("all-MiniLM-L6-v2"), MilvusIndexSpec("docs", kind="hnsw"),
    ...                           uri="./docs.db")                      # or "http://host:19530", token="root:Milvus"
    >>> store.add_documents(docs); store.similarity_search("query", k=4, filter={"genre": "news"})

    ``embedding``: LangChain ``Embeddings`` or a model name (wrapped in ``MatryoshkaEmbeddings``).
    ``spec``: :class:`MilvusIndexSpec` (default: flat cosine collection ``embcompare``); ``**spec_kwargs``
    build one. ``overwrite=True`` drops an existing collection first. ``timeout``: seconds for
    connecting (an unreachable server raises ``StoreConnectionError`` naming the URI, token
    redacted); ``call_timeout``: seconds per later call (``None``: no limit, as a large batched search
    or ingest on a busy machine can take long). Opening an existing collection checks its layout (``SchemaMismatchError`` naming the
    difference) and its recorded vector space (``VectorSpaceMismatchError`` / ``DimensionMismatchError``).
    Raises ``InvalidParameterError`` for ``binary`` / ``int8`` precision (see the module docstring).
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
        client: Any = None,
        **spec_kwargs: Any,
    ) -> None:
        self.embedding: MatryoshkaEmbeddings = as_matryoshka(embedding)
        self.spec = spec or MilvusIndexSpec(**spec_kwargs)
        self.metric = self.spec.metric
        self.uri = str(uri)
        self.timeout = timeout
        self.call_timeout = call_timeout
        self._space: VectorSpace = self.embedding.space
        precision = getattr(self._space, "precision", "float32")
        if precision != "float32":
            what = "BINARY_VECTOR" if precision == "binary" else "INT8_VECTOR"
            raise InvalidParameterError(
                f"The Milvus store keeps float32 vectors; precision={precision!r} is not supported (Milvus Lite has no "
                f"{what}). Use the FAISS store (--store faiss), which stores {precision} codes, or precision='float32'."
            )
        self.client = client if client is not None else self._connect(token)
        self._open(overwrite)

    # ------------------------------------------------------------------ connection / open

    def _connect(self, token: str | None) -> Any:
        from pymilvus import MilvusClient

        if is_lite(self.uri):
            folder = os.path.dirname(os.path.abspath(self.uri))
            if not os.path.isdir(folder):
                raise InvalidParameterError(f"Milvus Lite file {self.uri!r}: folder {folder!r} does not exist; create it first.")
        try:
            kwargs: dict[str, Any] = {"uri": self.uri, "timeout": self.timeout}  # connect timeout
            if token:
                kwargs["token"] = token
            return MilvusClient(**kwargs)
        except Exception as exc:  # pymilvus raises MilvusException (or grpc errors) on connect
            raise self._connection_error(exc) from exc

    def _connection_error(self, exc: BaseException) -> StoreConnectionError:
        return StoreConnectionError(
            f"Cannot reach Milvus at {redact(self.uri)} ({str(exc).splitlines()[0][:200]}). Start a server "
            f"(`{DOCKER_HINT}`, listening on http://localhost:19530), pass the right uri/token, or use a local "
            f"file path as uri for Milvus Lite (no server)."
        )

    @property
    def space(self) -> VectorSpace:
        """The collection's vector space (model, dim, prompts, rotation, precision)."""
        return self._space

    @property
    def name(self) -> str:
        return self.spec.collection_name

    @property
    def vector_fields(self) -> dict[str, int]:
        return dict(self.spec.extra_vector_fields)

    def _field_dim(self, field: str | None) -> tuple[str, int]:
        if field is None or field == VECTOR_FIELD:
            return VECTOR_FIELD, self._space.dim
        if field not in self.spec.extra_vector_fields:
            raise InvalidParameterError(
                f"Vector field {field!r} is not in Milvus collection {self.name!r} (extra fields: "
                f"{sorted(self.spec.extra_vector_fields)}); declare it with MilvusIndexSpec(extra_vector_fields={{{field!r}: dim}})."
            )
        return field, self.spec.extra_vector_fields[field]

    def _schema(self) -> Any:
        from pymilvus import DataType, MilvusClient

        s = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
        s.add_field(ID_FIELD, DataType.VARCHAR, is_primary=True, max_length=self.spec.max_id_bytes)
        s.add_field(ROW_FIELD, DataType.INT64)
        s.add_field(TEXT_FIELD, DataType.VARCHAR, max_length=self.spec.max_text_bytes)
        s.add_field(METADATA_FIELD, DataType.JSON)
        s.add_field(TAGS_FIELD, DataType.JSON)
        s.add_field(NUMS_FIELD, DataType.JSON)
        s.add_field(CLUSTER_FIELD, DataType.INT64)
        for name, kind in self.spec.metadata_schema.items():
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
        index.add_index(ROW_FIELD, index_type="INVERTED")
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
        for name, kind in self.spec.metadata_schema.items():
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
        Raises ``InvalidParameterError`` when there is no such collection made by this package."""
        probe = cls.__new__(cls)
        probe.uri, probe.timeout = str(uri), kwargs.pop("timeout", 10.0)
        client = kwargs.pop("client", None) or probe._connect(token)
        if not client.has_collection(collection_name):
            raise InvalidParameterError(
                f"No Milvus collection {collection_name!r} at {redact(str(uri))}. Build it first with "
                f"MilvusVectorStore(embedding, MilvusIndexSpec({collection_name!r}), uri)."
            )
        props = client.describe_collection(collection_name).get("properties") or {}
        if SPEC_PROP not in props:
            raise SchemaMismatchError(f"Milvus collection {collection_name!r} was not made by this package (no {SPEC_PROP!r}).")
        spec = MilvusIndexSpec.from_dict(json.loads(props[SPEC_PROP]))
        return cls(embedding, spec, uri, client=client, timeout=probe.timeout, **kwargs)

    def close(self) -> None:
        """Close the client (for Milvus Lite: releases the file; a new store on the same uri reopens it)."""
        try:
            self.client.close()
        except Exception:  # noqa: BLE001 - closing twice is harmless
            pass

    def drop(self) -> None:
        """Drop the collection: its documents, index and recorded space."""
        self.client.drop_collection(self.name)

    # ------------------------------------------------------------------ ingest

    def _check_vectors(self, vectors: Any, n: int, field: str) -> np.ndarray:
        name, dim = self._field_dim(field)
        arr = np.asarray(vectors, dtype=np.float32)
        if arr.ndim != 2 or arr.shape[1] != dim:
            raise DimensionMismatchError(
                f"{name!r} vectors have shape {arr.shape}; Milvus collection {self.name!r} (model {self._space.model!r}) "
                f"expects (n, {dim}). Embed with the store's embeddings, or rebuild the collection at this dim."
            )
        if arr.shape[0] != n:
            raise InvalidParameterError(f"{arr.shape[0]} {name!r} vectors for {n} documents: pass one per document.")
        return check_finite(arr, f"{name!r} vectors")

    def upsert_vectors(
        self,
        vectors: np.ndarray,
        documents: Sequence[Document],
        *,
        extra_vectors: Mapping[str, np.ndarray] | None = None,
        skip_existing: bool = False,
        cluster_labels: np.ndarray | Sequence[int] | None = None,
        batch_size: int | None = None,
        **kwargs: Any,
    ) -> list[str]:
        """Write precomputed vectors (n, dim) float32 + their documents in batches; returns the ids.

        An id stored already is replaced (text, metadata, vectors; its cluster label is kept unless
        ``cluster_labels`` is given); a batch naming an id twice keeps the last. ``extra_vectors``:
        ``{field: (n, d)}`` for the spec's extra fields (default: the re-normalised prefix of ``vectors``).
        ``skip_existing=True`` writes only ids not stored yet (resume after a crash). Raises
        ``DimensionMismatchError``, ``InvalidVectorError`` (NaN/inf), ``InvalidParameterError`` (counts,
        a text or id longer than the spec's VARCHAR limits, a row-hash collision), ``EmptyInputError``.
        """
        if kwargs:
            raise InvalidParameterError(f"upsert_vectors got unknown options {sorted(kwargs)}.")
        n = len(documents)
        if n == 0:
            raise EmptyInputError("No documents to write: pass at least one Document with its vector.")
        vecs = self._check_vectors(vectors, n, VECTOR_FIELD)
        extras = {name: self._check_vectors(arr, n, name) for name, arr in (extra_vectors or {}).items()}
        for name, dim in self.spec.extra_vector_fields.items():
            if name not in extras:
                extras[name] = _prefix(vecs, dim)
        labels = None
        if cluster_labels is not None:
            labels = np.asarray(cluster_labels, dtype=np.int64)
            if labels.shape != (n,):
                raise InvalidParameterError(f"cluster_labels has shape {labels.shape}; expected ({n},), one per document.")
        docs = list(documents)
        if any(d.id is None for d in docs):
            docs = prepare_documents(docs)
        all_ids = [str(d.id) for d in docs]
        keep = last_wins(docs)
        if len(keep) < n:
            docs = [docs[i] for i in keep]
            vecs = vecs[keep]
            extras = {k: v[keep] for k, v in extras.items()}
            labels = None if labels is None else labels[keep]
        if self.metric == "cosine":
            vecs = normalize_rows(vecs)
            extras = {k: normalize_rows(v) for k, v in extras.items()}
        ids = [str(d.id) for d in docs]
        self._check_lengths(ids, docs)
        rows = row_handles(ids)
        if len(np.unique(rows)) < len(rows):
            raise InvalidParameterError(
                "Row-hash collision between two document ids of this call: rename one of them (the Milvus store "
                "derives each row handle from a 63-bit hash of the id)."
            )
        # a bulk load into an empty collection needs no per-batch look-up of stored ids (nothing is stored)
        empty = self.count() == 0
        size = batch_size or self.spec.batch_size
        for start in range(0, len(docs), size):
            sl = slice(start, start + size)
            self._write_batch(ids[sl], docs[sl], rows[sl], vecs[sl], {k: v[sl] for k, v in extras.items()},
                              None if labels is None else labels[sl], skip_existing, empty)
        return all_ids

    def add_vectors(self, vectors: np.ndarray, documents: Sequence[Document], **kwargs: Any) -> list[str]:
        """Alias of :meth:`upsert_vectors` (the name the evaluation pipeline and the Redis store use)."""
        return self.upsert_vectors(vectors, documents, **kwargs)

    def _check_lengths(self, ids: list[str], docs: list[Document]) -> None:
        """Refuse texts / ids longer than the VARCHAR limits (naming the document and the setting).
        Characters x 4 bounds UTF-8 bytes, so only suspiciously long strings are encoded."""
        limit_t, limit_i = self.spec.max_text_bytes, self.spec.max_id_bytes
        for doc_id, d in zip(ids, docs):
            if len(d.page_content) * 4 > limit_t and len(d.page_content.encode("utf-8")) > limit_t:
                raise InvalidParameterError(
                    f"Document {doc_id!r} has {len(d.page_content.encode('utf-8'))} bytes of text; the Milvus collection "
                    f"holds at most max_text_bytes={limit_t}. Split long documents (a text splitter) before indexing."
                )
            if len(doc_id) * 4 > limit_i and len(doc_id.encode("utf-8")) > limit_i:
                raise InvalidParameterError(f"Document id {doc_id[:60]!r}... is longer than max_id_bytes={limit_i} bytes.")

    def _write_batch(
        self, ids: list[str], docs: list[Document], rows: np.ndarray, vecs: np.ndarray,
        extras: Mapping[str, np.ndarray], labels: np.ndarray | None, skip_existing: bool, empty: bool = False,
    ) -> None:
        stored: dict[int, tuple[str, int]] = {}
        if not empty:
            stored = {int(r[ROW_FIELD]): (r[ID_FIELD], int(r[CLUSTER_FIELD]))
                      for r in self._query_rows(rows, [ID_FIELD, ROW_FIELD, CLUSTER_FIELD])}
        clash = [(i, stored[int(r)][0]) for i, r in zip(ids, rows.tolist()) if int(r) in stored and stored[int(r)][0] != i]
        if clash:
            raise InvalidParameterError(
                f"Row-hash collision between document ids {clash[:3] or 'in this batch'}: rename one of them (the Milvus "
                "store derives each row handle from a 63-bit hash of the id)."
            )
        schema = self.spec.metadata_schema
        vec_list = list(vecs)
        extra_lists = {k: list(v) for k, v in extras.items()}
        data = []
        existed = False
        for j, (doc_id, d) in enumerate(zip(ids, docs)):
            prev = stored.get(int(rows[j]))
            if prev is not None:
                if skip_existing:
                    continue
                existed = True
            md = d.metadata
            entity: dict[str, Any] = {
                ID_FIELD: doc_id,
                ROW_FIELD: int(rows[j]),
                TEXT_FIELD: d.page_content,
                METADATA_FIELD: md,
                TAGS_FIELD: tag_json(md),
                NUMS_FIELD: num_json(md),
                CLUSTER_FIELD: int(labels[j]) if labels is not None else (prev[1] if prev is not None else -1),
                VECTOR_FIELD: vec_list[j],
            }
            for name, kind in schema.items():
                entity[name] = _typed_value(md.get(name), kind, name, doc_id, self.spec.max_tags)
            for name, lst in extra_lists.items():
                entity[name] = lst[j]
            data.append(entity)
        if not data:
            return
        write = self.client.upsert if existed else self.client.insert
        try:
            write(self.name, data, timeout=self.call_timeout)
        except Exception as exc:  # pymilvus's DataNotMatchException: metadata JSON cannot hold (sets, objects)
            if "serializ" not in str(exc).lower():
                raise
            for entity in data:
                entity[METADATA_FIELD] = jsonable(entity[METADATA_FIELD])
            write(self.name, data, timeout=self.call_timeout)

    def add_documents(self, documents: list[Document], ids: list[str] | None = None, **kwargs: Any) -> list[str]:
        """Embed and write documents (the id rule of :mod:`.base`); ``skip_existing=True`` embeds only the
        ids not stored yet (resume an interrupted ingest without paying for the model twice)."""
        if ids is None and "ids" in kwargs:
            ids = kwargs.pop("ids")
        docs = prepare_documents(documents, ids)
        todo = docs
        if kwargs.get("skip_existing"):
            present = self.rows_of([str(d.id) for d in docs]) >= 0
            todo = [d for d, p in zip(docs, present.tolist()) if not p]
            if not todo:
                return [str(d.id) for d in docs]
        vectors = self.embedding.encode_documents([d.page_content for d in todo])
        self.upsert_vectors(vectors, todo, **kwargs)
        return [str(d.id) for d in docs]

    def delete(self, ids: list[str] | None = None, **kwargs: Any) -> bool | None:
        """Delete documents by id (unknown ids are no error); ``ids=None`` deletes every document (the
        collection, its index and recorded space stay)."""
        if ids is None:
            self.client.delete(self.name, filter=f"{ROW_FIELD} >= 0", timeout=self.call_timeout)
            return True
        ids = [str(i) for i in ids]
        for start in range(0, len(ids), _CHUNK):
            self.client.delete(self.name, ids=ids[start : start + _CHUNK], timeout=self.call_timeout)
        return True

    # ------------------------------------------------------------------ reading

    def _query_rows(self, rows: np.ndarray | Sequence[int], fields: list[str]) -> list[dict[str, Any]]:
        rows = np.asarray(rows, dtype=np.int64)
        out: list[dict[str, Any]] = []
        for start in range(0, len(rows), _CHUNK):
            chunk = rows[start : start + _CHUNK]
            out.extend(self.client.query(self.name, filter=f"{ROW_FIELD} in {int_list(chunk)}", output_fields=fields,
                                         timeout=self.call_timeout))
        return out

    def _by_row(self, rows: np.ndarray | Sequence[int], fields: list[str]) -> tuple[np.ndarray, dict[int, dict[str, Any]]]:
        rows = np.asarray(rows, dtype=np.int64).reshape(-1)
        got = {int(r[ROW_FIELD]): r for r in self._query_rows(np.unique(rows), fields)}
        missing = [int(r) for r in rows.tolist() if r not in got]
        if missing:
            raise KeyError(f"Rows {missing[:10]} are not in Milvus collection {self.name!r} (deleted or updated since?).")
        return rows, got

    def documents_at(self, rows: np.ndarray | Sequence[int]) -> list[Document]:
        """The documents of ``rows`` (int64 handles), in order; ``KeyError`` for a row not stored."""
        rows, got = self._by_row(rows, _DOC_FIELDS)
        return [_document(got[r]) for r in rows.tolist()]

    def vectors_at(self, rows: np.ndarray | Sequence[int], vector_field: str | None = None) -> np.ndarray:
        """(n, d) float32 stored vectors of ``rows`` (unit length for cosine); ``KeyError`` for unknown rows."""
        name, dim = self._field_dim(vector_field)
        rows, got = self._by_row(rows, [ROW_FIELD, name])
        if len(rows) == 0:
            return np.zeros((0, dim), dtype=np.float32)
        return np.asarray([got[r][name] for r in rows.tolist()], dtype=np.float32).reshape(len(rows), dim)

    def _scan(self, fields: list[str], expr: str = f"{ROW_FIELD} >= 0") -> list[dict[str, Any]]:
        """Every entity matching ``expr``: on a server a query iterator (no result-size limit); Milvus Lite
        has no iterator timestamps and no result cap, so one query with ``limit = count``."""
        if is_lite(self.uri):
            n = self.count()
            if n == 0:
                return []
            return list(self.client.query(self.name, filter=expr, output_fields=fields, limit=n, timeout=self.call_timeout))
        it = self.client.query_iterator(self.name, batch_size=_CHUNK, filter=expr, output_fields=fields, timeout=self.call_timeout)
        out: list[dict[str, Any]] = []
        try:
            while batch := it.next():
                out.extend(batch)
        finally:
            it.close()
        return out

    def all_rows(self) -> np.ndarray:
        """Every stored row, ascending int64."""
        return np.sort(np.fromiter((r[ROW_FIELD] for r in self._scan([ROW_FIELD])), dtype=np.int64))

    def count(self) -> int:
        """Number of stored documents (``count(*)``)."""
        res = self.client.query(self.name, filter="", output_fields=["count(*)"], timeout=self.call_timeout)
        return int(res[0]["count(*)"])

    def rows_of(self, ids: Sequence[str]) -> np.ndarray:
        """int64 row per id, ``-1`` for ids not stored."""
        ids = [str(i) for i in ids]
        if not ids:
            return np.zeros(0, dtype=np.int64)
        rows = row_handles(ids)
        got = {(r[ID_FIELD], int(r[ROW_FIELD])) for r in self._query_rows(np.unique(rows), [ID_FIELD, ROW_FIELD])}
        return np.asarray([r if (i, r) in got else -1 for i, r in zip(ids, rows.tolist())], dtype=np.int64)

    def get_by_ids(self, ids: Sequence[str], /) -> list[Document]:
        """Stored documents of ``ids`` in the order given; unknown ids skipped (LangChain's rule)."""
        ids = [str(i) for i in ids]
        if not ids:
            return []
        got: dict[str, Document] = {}
        for start in range(0, len(ids), _CHUNK):
            for r in self.client.get(self.name, ids=ids[start : start + _CHUNK], output_fields=_DOC_FIELDS, timeout=self.call_timeout):
                got[r[ID_FIELD]] = _document(r)
        return [got[i] for i in dict.fromkeys(ids) if i in got]

    # ------------------------------------------------------------------ search

    def _filter_expression(
        self, filter: Filter, candidate_rows: Any, clusters: Any
    ) -> str | None:
        """The Milvus expression of a search, ``""`` = everything, ``None`` = nothing can match."""
        parts: list[str] = []
        if filter is not None:
            if filter_matches_nothing(filter):
                return None
            tree = filter_tree(filter)
            if tree is not None:
                if has_text_leaf(tree):
                    allowed = self._rows_matching_in_process(filter)
                    if len(allowed) == 0:
                        return None
                    parts.append(f"{ROW_FIELD} in {int_list(allowed)}")
                else:
                    parts.append(to_expression(tree, self.spec.metadata_schema))
        if candidate_rows is not None:
            cand = np.asarray(candidate_rows, dtype=np.int64).reshape(-1)
            if len(cand) == 0:
                return None
            parts.append(f"{ROW_FIELD} in {int_list(np.unique(cand))}")
        if clusters is not None:
            cl = np.asarray(clusters, dtype=np.int64).reshape(-1)
            if len(cl) == 0:
                return None
            parts.append(f"{CLUSTER_FIELD} in {int_list(np.unique(cl))}")
        return " and ".join(parts)

    def _rows_matching_in_process(self, filter: Filter) -> np.ndarray:
        """Rows whose metadata matches a filter holding text leaves, by ``filters.evaluate_filter``
        over every stored document's metadata (one scan)."""
        entities = self._scan([ROW_FIELD, METADATA_FIELD])
        if not entities:
            return np.zeros(0, dtype=np.int64)
        mask = evaluate_filter(filter, [e[METADATA_FIELD] or {} for e in entities])
        rows = np.fromiter((e[ROW_FIELD] for e in entities), dtype=np.int64, count=len(entities))
        return rows[mask]

    def search_rows(
        self,
        query_vectors: np.ndarray,
        k: int,
        *,
        filter: Filter = None,
        candidate_rows: np.ndarray | None = None,
        clusters: Sequence[int] | None = None,
        vector_field: str | None = None,
        **kwargs: Any,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top ``k`` per query: ``(scores, rows)``, (m, k) float32 / int64, best first, padded with
        ``-inf`` / ``-1``. ``filter`` / ``candidate_rows`` / ``clusters`` form one Milvus prefilter
        expression (ANDed). ``vector_field``: an extra vector field. ``k`` is at most 16384 (Milvus)."""
        scores, rows, _ = self._search(query_vectors, k, filter, candidate_rows, clusters, vector_field, kwargs, with_docs=False)
        return scores, rows

    def search_vectors(
        self, query_vectors: np.ndarray, k: int = 4, filter: Filter = None, **kwargs: Any
    ) -> list[list[tuple[Document, float]]]:
        """Top ``k`` (Document, score) per query vector, in ONE Milvus call per 256 queries (the
        documents come back with the hits, not through a second ``documents_at`` query). Same
        options as :meth:`search_rows`."""
        if "candidate_ids" in kwargs:
            return super().search_vectors(query_vectors, k, filter, **kwargs)
        opts = {n: kwargs.pop(n, None) for n in ("candidate_rows", "clusters", "vector_field")}
        scores, rows, docs = self._search(query_vectors, k, filter, opts["candidate_rows"], opts["clusters"], opts["vector_field"],
                                          kwargs, with_docs=True)
        return [
            [(d, float(s)) for d, s, r in zip(drow, srow.tolist(), rrow.tolist()) if r >= 0]
            for drow, srow, rrow in zip(docs, scores, rows)
        ]

    def _search(
        self, query_vectors: Any, k: int, filter: Filter, candidate_rows: Any, clusters: Any, vector_field: str | None,
        unknown: Mapping[str, Any], *, with_docs: bool,
    ) -> tuple[np.ndarray, np.ndarray, list[list[Document]]]:
        if unknown:
            raise InvalidParameterError(f"search got unknown options {sorted(unknown)}; it takes filter, candidate_rows, clusters, vector_field.")
        if not isinstance(k, (int, np.integer)) or isinstance(k, bool) or k <= 0 or k > MAX_TOPK:
            raise InvalidParameterError(f"k={k!r} must be an integer in [1, {MAX_TOPK}] (Milvus's top-k limit).")
        name, dim = self._field_dim(vector_field)
        q = as_query_matrix(query_vectors, dim, f"Milvus collection {self.name!r} field {name!r} (model {self._space.model!r})")
        m = len(q)
        expr = self._filter_expression(filter, candidate_rows, clusters)
        docs: list[list[Document]] = [[] for _ in range(m)]
        if expr is None or m == 0:
            return (*empty_result(m, k), docs)
        if self.metric == "cosine":
            q = normalize_rows(q)
        scores = np.full((m, k), -np.inf, dtype=np.float32)
        rows = np.full((m, k), -1, dtype=np.int64)
        params = self.spec.search_params(int(k))
        fields = _DOC_FIELDS if with_docs else [ROW_FIELD]
        for start in range(0, m, _QUERY_CHUNK):
            res = self.client.search(
                self.name, data=list(q[start : start + _QUERY_CHUNK]), anns_field=name, limit=int(k), filter=expr,
                search_params=params, output_fields=fields, timeout=self.call_timeout,
            )
            for i, hits in enumerate(res):
                n_hits = len(hits)
                if n_hits == 0:
                    continue
                scores[start + i, :n_hits] = [h["distance"] for h in hits]
                rows[start + i, :n_hits] = [h["entity"][ROW_FIELD] for h in hits]
                if with_docs:
                    docs[start + i] = [_document(h["entity"]) for h in hits]
        if self.metric == "l2":  # Milvus L2 is the squared distance
            found = rows >= 0
            scores[found] = -np.sqrt(np.maximum(scores[found], 0.0))
        return scores, rows, docs

    # ------------------------------------------------------------------ capabilities

    def set_cluster_labels(self, rows: np.ndarray, labels: np.ndarray) -> None:
        """Set the ``cluster`` label of stored rows (a partial upsert; Milvus >= 2.6 or Lite)."""
        rows = np.asarray(rows, dtype=np.int64).reshape(-1)
        labels = np.asarray(labels, dtype=np.int64).reshape(-1)
        if rows.shape != labels.shape:
            raise InvalidParameterError(f"{len(rows)} rows but {len(labels)} labels: pass one label per row.")
        self._partial_update(rows, CLUSTER_FIELD, [int(x) for x in labels.tolist()])

    def cluster_labels(self, rows: np.ndarray) -> np.ndarray:
        """int64 cluster label per row (``-1``: none set); ``KeyError`` for unknown rows."""
        rows, got = self._by_row(rows, [ROW_FIELD, CLUSTER_FIELD])
        return np.asarray([got[r][CLUSTER_FIELD] for r in rows.tolist()], dtype=np.int64)

    def ensure_vector_field(self, name: str, dim: int) -> None:
        """Check that extra vector field ``name`` exists at ``dim``. Milvus cannot add a vector field to
        an existing collection: an undeclared one raises ``InvalidParameterError`` naming the spec to use."""
        have = self.spec.extra_vector_fields.get(name)
        if have != int(dim):
            raise InvalidParameterError(
                f"Milvus collection {self.name!r} has no {dim}-d vector field {name!r} (extra fields: "
                f"{self.spec.extra_vector_fields}); Milvus cannot add vector fields to an existing collection. Create it "
                f"with MilvusIndexSpec(extra_vector_fields={{{name!r}: {int(dim)}}}) (filled at ingest with the "
                "Matryoshka prefix) and re-index."
            )

    def write_vector_field(self, name: str, rows: np.ndarray, vectors: np.ndarray) -> None:
        """Overwrite extra vector field ``name`` of ``rows`` with ``vectors`` (n, d) float32 (partial upsert)."""
        field, dim = self._field_dim(name)
        rows = np.asarray(rows, dtype=np.int64).reshape(-1)
        arr = self._check_vectors(vectors, len(rows), field)
        if self.metric == "cosine":
            arr = normalize_rows(arr)
        self._partial_update(rows, field, list(arr))

    def _partial_update(self, rows: np.ndarray, field: str, values: list[Any]) -> None:
        _, got = self._by_row(rows, [ID_FIELD, ROW_FIELD])
        data = [{ID_FIELD: got[int(r)][ID_FIELD], field: v} for r, v in zip(rows.tolist(), values)]
        for start in range(0, len(data), self.spec.batch_size):
            self.client.upsert(self.name, data[start : start + self.spec.batch_size], partial_update=True, timeout=self.call_timeout)

    def index_bytes(self) -> int:
        """Estimated bytes of the vector data: ``count * sum(dims) * 4`` (float32), plus HNSW's graph
        links (``count * 2 * m * 4`` per vector field). Milvus does not report an index's memory through
        its client; ``benchmarks/bench_milvus.py`` measures the Lite process instead."""
        n = self.count()
        fields = [self._space.dim, *self.spec.extra_vector_fields.values()]
        graph = 2 * self.spec.m * 4 * len(fields) if self.spec.kind == "hnsw" else 0
        return int(n * (sum(fields) * 4 + graph))


def _document(r: Mapping[str, Any]) -> Document:
    return Document(id=r[ID_FIELD], page_content=r[TEXT_FIELD], metadata=dict(r[METADATA_FIELD] or {}))


def _typed_value(value: Any, kind: str, name: str, doc_id: str, max_tags: int) -> Any:
    """A metadata value for its typed column (``None`` stays null)."""
    if value is None:
        return None
    if kind == "tag":
        items = value if isinstance(value, (list, tuple, set)) else [value]
        tags = sorted({str(i).strip().lower() for i in items})
        if len(tags) > max_tags:
            raise InvalidParameterError(
                f"Document {doc_id!r}: metadata {name!r} has {len(tags)} tags; the collection holds at most max_tags={max_tags}."
            )
        return tags
    if kind == "numeric":
        return as_number(value)
    return str(value)


def build_milvus_store(
    embedding: Embeddings | str,
    settings: Any = None,
    uri: str | None = None,
    *,
    dataset_name: str | None = None,
    overwrite: bool | None = None,
    **kwargs: Any,
) -> MilvusVectorStore:
    """What ``build_store`` calls for ``--store milvus [--milvus-uri URI]``.

    ``settings``: a :class:`MilvusIndexSpec`, or evaluation settings (``EvalSettings``: ``index``,
    ``metric``, ``milvus_uri``, ``retriever``, ``shortlist_dim``, ``extra["milvus"]`` spec overrides and
    ``extra["milvus_token"]``). From settings the collection is named after data set, model, dim,
    index and metric and rebuilt (``overwrite=True``) so each evaluation starts from its corpus. The
    default uri is a Milvus Lite file ``embcompare_milvus.db`` in the working folder.
    """
    if settings is None or isinstance(settings, MilvusIndexSpec):
        return MilvusVectorStore(embedding, settings, uri or DEFAULT_URI, overwrite=bool(overwrite), **kwargs)
    emb = as_matryoshka(embedding)
    overrides = dict((getattr(settings, "extra", None) or {}).get("milvus", {}))
    token = (getattr(settings, "extra", None) or {}).get("milvus_token") or os.environ.get("MILVUS_TOKEN")
    extra_vectors = dict(overrides.pop("extra_vector_fields", {}))
    shortlist_dim = getattr(settings, "shortlist_dim", None)
    if getattr(settings, "retriever", None) == "funnel" and shortlist_dim:
        extra_vectors.setdefault(f"vector_{int(shortlist_dim)}", int(shortlist_dim))
    model = re.sub(r"[^A-Za-z0-9]+", "_", emb.space.model).strip("_").lower()
    dataset = re.sub(r"[^A-Za-z0-9]+", "_", dataset_name or "corpus").strip("_").lower()
    kind = str(getattr(settings, "index", "flat"))
    name = f"embcompare_{dataset}_{model}_{emb.space.dim}d_{kind}_{getattr(settings, 'metric', 'cosine')}"
    spec = MilvusIndexSpec(
        collection_name=name[:255], kind=kind, metric=getattr(settings, "metric", "cosine"),  # type: ignore[arg-type]
        extra_vector_fields=extra_vectors, **overrides,
    )
    target = uri or getattr(settings, "milvus_uri", None) or DEFAULT_URI
    return MilvusVectorStore(emb, spec, target, token=token, overwrite=True if overwrite is None else overwrite, **kwargs)

