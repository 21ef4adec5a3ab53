"""Redis vector store: the shared, scale-out path, built on redisvl (schema, index, filters, queries).

Why Redis: FAISS lives in one process; a Redis index is shared by many app servers and grows past one
machine (Redis Cluster, Redis Cloud). The store keeps the package's contract:

* one vector space per index (model, dim, prompts, precision) stored beside it in ``<index>:space`` and
  checked on open and on query;
* the package's score convention (higher = more similar): cosine -> cosine similarity, ip -> inner
  product, l2 -> minus Euclidean distance (Redis returns ``1 - cos``, ``1 - ip`` and the *squared* L2);
* hybrid queries: a redisvl ``FilterExpression`` (``Tag``, ``Num``, ``Text`` composed with ``&``/``|``)
  or a LangChain-style dict, applied as a prefilter to the KNN;
* ingestion in pipelined batches, keys derived from ``Document.id`` (loading twice leaves one copy),
  retried with exponential backoff through connection drops and server restarts, resumable.

Start a server with ``docker run -p 6379:6379 redis/redis-stack-server:latest`` (or Redis 8 / Redis
Cloud) and pass ``redis_url``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Literal
from urllib.parse import urlsplit, urlunsplit

import numpy as np
import redis
from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings
from redis.backoff import ExponentialBackoff
from redis.retry import Retry
from redisvl.index import SearchIndex
from redisvl.query import VectorQuery
from redisvl.query.filter import FilterExpression, Num, Tag, Text
from redisvl.schema import IndexSchema

from langchain_embcompare.errors import (
    DimensionMismatchError,
    EmptyInputError,
    InvalidParameterError,
    InvalidVectorError,
    SchemaMismatchError,
    StoreConnectionError,
)

from langchain_embcompare.matryoshka import MatryoshkaEmbeddings, VectorSpace, as_matryoshka
from langchain_embcompare.stores.base import EmbStore, prepare_documents

__all__ = [
    "DOCKER_HINT",
    "RedisIndexSpec",
    "RedisVectorStore",
    "build_redis_store",
    "dict_to_filter",
]

logger = logging.getLogger(__name__)

DOCKER_HINT = "docker run -p 6379:6379 redis/redis-stack-server:latest"
VECTOR_FIELD = "vector"
CLUSTER_FIELD = "cluster"
CONTENT_FIELD = "content"
ID_FIELD = "_id"
METADATA_FIELD = "_metadata"
RESERVED_FIELDS = frozenset({VECTOR_FIELD, CLUSTER_FIELD, CONTENT_FIELD, ID_FIELD, METADATA_FIELD})
FieldType = Literal["tag", "numeric", "text"]
FilterLike = FilterExpression | Mapping[str, Any] | str | None
_RETRYABLE = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)  # BusyLoadingError included
_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


# --------------------------------------------------------------------------- config


@dataclass(frozen=True)
class RedisIndexSpec:
    """Everything that defines a Redis vector index, validated up front.

    >>> RedisIndexSpec("scifact", algorithm="hnsw", metric="cosine", metadata_schema={"title": "text"})

    ``metadata_schema`` maps metadata keys to ``"tag"`` (exact match, lists allowed), ``"numeric"``
    (ranges) or ``"text"`` (full text); only these keys can be filtered on. A TAG field ``cluster`` is
    always present (cluster-prefilter retriever), and ``content`` is full-text indexed unless
    ``index_content=False``. ``extra_vector_fields`` adds more vector fields (name -> dim), e.g. a small
    Matryoshka prefix ``{"vector_small": 64}`` for the funnel retriever.
    """

    index_name: str = "embcompare"
    prefix: str | None = None
    algorithm: Literal["flat", "hnsw"] = "flat"
    metric: Literal["cosine", "ip", "l2"] = "cosine"
    dtype: Literal["float32", "float16"] = "float32"
    m: int = 16
    ef_construction: int = 200
    ef_runtime: int = 100
    metadata_schema: Mapping[str, FieldType] = field(default_factory=dict)
    extra_vector_fields: Mapping[str, int] = field(default_factory=dict)
    index_content: bool = True
    batch_size: int = 500

    def __post_init__(self) -> None:
        def bad(msg: str) -> InvalidParameterError:
            return InvalidParameterError(f"RedisIndexSpec: {msg}")

        object.__setattr__(self, "algorithm", str(self.algorithm).lower())
        object.__setattr__(self, "metric", str(self.metric).lower())
        object.__setattr__(self, "dtype", str(self.dtype).lower())
        if not self.index_name or any(c.isspace() for c in self.index_name):
            raise bad(f"index_name {self.index_name!r} must be a non-empty string without spaces")
        if self.prefix is None:
            object.__setattr__(self, "prefix", f"{self.index_name}:doc")
        if self.algorithm not in ("flat", "hnsw"):
            raise bad(f"algorithm {self.algorithm!r} is not one of 'flat', 'hnsw'")
        if self.metric not in ("cosine", "ip", "l2"):
            raise bad(f"metric {self.metric!r} is not one of 'cosine', 'ip', 'l2'")
        if self.dtype not in ("float32", "float16"):
            raise bad(f"dtype {self.dtype!r} is not one of 'float32', 'float16'")
        for name in ("m", "ef_construction", "ef_runtime", "batch_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or value <= 0:
                raise bad(f"{name}={value!r} must be a positive integer")
        schema = {str(k): str(v).lower() for k, v in dict(self.metadata_schema).items()}
        for name, kind in schema.items():
            if kind not in ("tag", "numeric", "text"):
                raise bad(f"metadata field {name!r} has type {kind!r}; use 'tag', 'numeric' or 'text'")
            if name in RESERVED_FIELDS:
                raise bad(f"metadata field {name!r} is reserved ({sorted(RESERVED_FIELDS)}); rename it")
            if not _NAME_RE.match(name):
                raise bad(f"metadata field {name!r} must be an identifier (letters, digits, _)")
        object.__setattr__(self, "metadata_schema", schema)
        extra = {str(k): int(v) for k, v in dict(self.extra_vector_fields).items()}
        for name, dim in extra.items():
            if name in RESERVED_FIELDS or name in schema or not _NAME_RE.match(name):
                raise bad(f"extra vector field {name!r} clashes with a reserved/metadata name or is not an identifier")
            if dim <= 0:
                raise bad(f"extra vector field {name!r} has dim {dim}; must be > 0")
        object.__setattr__(self, "extra_vector_fields", extra)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RedisIndexSpec:
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in known})

    @property
    def np_dtype(self) -> np.dtype:
        return np.dtype(self.dtype)

    def index_schema(self, dim: int) -> IndexSchema:
        """The redisvl schema of this spec for ``dim``-d vectors (main field ``vector``)."""
        fields: list[dict[str, Any]] = [{"name": CLUSTER_FIELD, "type": "tag"}]
        if self.index_content:
            fields.append({"name": CONTENT_FIELD, "type": "text"})
        for name, kind in self.metadata_schema.items():
            # TAGs stay case-insensitive (Redis default), as filters.evaluate_filter does for FAISS.
            fields.append({"name": name, "type": kind})
        for name, d in {VECTOR_FIELD: dim, **self.extra_vector_fields}.items():
            attrs: dict[str, Any] = {
                "dims": d,
                "algorithm": self.algorithm,
                "distance_metric": self.metric,
                "datatype": self.dtype,
            }
            if self.algorithm == "hnsw":
                attrs.update(m=self.m, ef_construction=self.ef_construction, ef_runtime=self.ef_runtime)
            fields.append({"name": name, "type": "vector", "attrs": attrs})
        return IndexSchema.from_dict(
            {
                "index": {"name": self.index_name, "prefix": self.prefix, "key_separator": ":", "storage_type": "hash"},
                "fields": fields,
            }
        )


# --------------------------------------------------------------------------- filters


def dict_to_filter(spec: Mapping[str, Any], field_types: Mapping[str, str]) -> FilterExpression | None:
    """Convert a LangChain-style filter dict into a redisvl ``FilterExpression``.

    ``{"genre": "news"}``, ``{"genre": {"$in": ["a", "b"]}}``, ``{"year": {"$gte": 2000, "$lt": 2010}}``,
    ``{"title": {"$like": "vacc*"}}``, ``{"$or": [{...}, {...}]}``; keys at one level are ANDed.
    ``field_types`` maps field name -> "tag" | "numeric" | "text" (the index's metadata schema).
    """
    parts: list[FilterExpression] = []
    for key, value in spec.items():
        if key in ("$and", "$or"):
            subs = [dict_to_filter(v, field_types) for v in value]
            subs = [s for s in subs if s is not None]
            if subs:
                parts.append(_combine(subs, "&" if key == "$and" else "|"))
            continue
        kind = field_types.get(key)
        if kind is None:
            raise InvalidParameterError(
                f"Filter on {key!r}, which is not an indexed field (indexed: {sorted(field_types)}). "
                f"Add it to RedisIndexSpec(metadata_schema={{{key!r}: 'tag'|'numeric'|'text'}}) and re-index."
            )
        ops = value if isinstance(value, Mapping) else {"$eq": value}
        for op, arg in ops.items():
            parts.append(_field_op(key, kind, op, arg))
    return _combine(parts, "&") if parts else None


def _field_op(name: str, kind: str, op: str, arg: Any) -> FilterExpression:
    listy = isinstance(arg, (list, tuple, set))
    if kind == "tag":
        values = [str(v) for v in arg] if listy else str(arg)
        if op in ("$eq", "$in"):
            return Tag(name) == values
        if op in ("$ne", "$nin"):
            return Tag(name) != values
        if op == "$like":
            return Tag(name) % values
    elif kind == "numeric":
        values = list(arg) if listy else [arg]
        if any(isinstance(v, bool) or not isinstance(v, (int, float, np.number)) for v in values):
            raise InvalidParameterError(f"Filter on numeric field {name!r} needs numbers, got {arg!r}")
        if op in ("$in", "$nin") or listy:
            eqs = [Num(name) == v for v in arg]
            expr = _combine(eqs, "|")
            return expr if op != "$nin" else FilterExpression(f"-({expr})")
        table: dict[str, Callable[[Num, Any], FilterExpression]] = {
            "$eq": lambda f, v: f == v, "$ne": lambda f, v: f != v, "$gt": lambda f, v: f > v,
            "$gte": lambda f, v: f >= v, "$lt": lambda f, v: f < v, "$lte": lambda f, v: f <= v,
        }
        if op in table:
            return table[op](Num(name), arg)
    elif kind == "text":
        if op == "$eq":
            return Text(name) == str(arg)
        if op == "$ne":
            return Text(name) != str(arg)
        if op in ("$like", "$match"):
            return Text(name) % str(arg)
        if op == "$in":
            return _combine([Text(name) == str(v) for v in arg], "|")
    raise InvalidParameterError(f"Filter operator {op!r} is not supported on {kind} field {name!r}")


def _combine(exprs: Sequence[FilterExpression], how: str) -> FilterExpression:
    out = exprs[0]
    for e in exprs[1:]:
        out = (out & e) if how == "&" else (out | e)
    return out


def _redact(url: str) -> str:
    """The URL without its password (error messages must not leak credentials)."""
    parts = urlsplit(url)
    if parts.password:
        netloc = f"{parts.username or ''}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
        return urlunsplit(parts._replace(netloc=netloc))
    return url


def _connection_error(url: str, exc: BaseException) -> StoreConnectionError:
    return StoreConnectionError(
        f"Cannot reach Redis at {_redact(url)} ({exc}). Start Redis with the query engine, e.g. "
        f"`{DOCKER_HINT}` (or Redis 8 / Redis Cloud), or pass the right redis_url "
        f"(redis://user:password@host:port, rediss:// for TLS)."
    )


# --------------------------------------------------------------------------- store


class RedisVectorStore(EmbStore):
    """A LangChain ``VectorStore`` on Redis vector search, with the package's guards and score convention.

    >>> store = RedisVectorStore(MatryoshkaEmbeddings("all-MiniLM-L6-v2", dim=128),
    ...                          RedisIndexSpec("docs", algorithm="hnsw"), redis_url="redis://localhost:6379")
    >>> store.add_documents(docs); store.similarity_search("query", k=4, filter={"genre": "news"})

    Opening an index that exists checks its schema and vector space against the ones asked for and
    raises ``SchemaMismatchError`` / ``VectorSpaceMismatchError`` naming the difference, unless
    ``overwrite=True`` (which drops the index and its documents first).
    """

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
    ) -> None:
        self.embedding: MatryoshkaEmbeddings = as_matryoshka(embedding)
        self.spec = spec or RedisIndexSpec()
        self.metric = self.spec.metric
        self.redis_url = redis_url
        self.batch_retries = batch_retries
        self.max_backoff = max_backoff
        self._space: VectorSpace = space if space is not None else self.embedding.space
        self.client = client if client is not None else _client(redis_url, retries, connect_timeout)
        try:
            self.client.ping()
        except _RETRYABLE as exc:
            raise _connection_error(redis_url, exc) from exc
        self.schema = self.spec.index_schema(self._space.dim)
        self.index = SearchIndex(self.schema, redis_client=self.client, owns_client=False)
        self._templates: dict[Any, tuple[list[Any], dict[str, Any]]] = {}
        self._open(overwrite)

    # ------------------------------------------------------------------ open / guards

    @property
    def space(self) -> VectorSpace:
        """The vector space of this index (model, dim, prompts, precision)."""
        return self._space

    @property
    def meta_key(self) -> str:
        return f"{self.spec.index_name}:space"

    def _open(self, overwrite: bool) -> None:
        exists = self._call(self.index.exists)
        if exists and overwrite:
            self._call(lambda: self.index.delete(drop=True))
            self._call(lambda: self.client.delete(self.meta_key))
            exists = False
        if exists:
            self._check_existing()
            return
        self._call(lambda: self.index.create(overwrite=False))
        meta = {"space": self._space.to_dict(), "spec": self.spec.to_dict()}
        self._call(lambda: self.client.set(self.meta_key, json.dumps(meta)))

    def _check_existing(self) -> None:
        """Refuse to reuse an index built with another schema or from another vector space."""
        name = self.spec.index_name
        existing = self._call(lambda: SearchIndex.from_existing(name, redis_client=self.client).schema)
        diffs = _schema_differences(existing, self.schema)
        if diffs:
            raise SchemaMismatchError(
                f"Redis index {name!r} exists with another schema: {'; '.join(diffs)}. Open it with the spec it "
                f"was built with (RedisVectorStore.from_existing({name!r}, embedding, redis_url)), pick another "
                f"index_name, or pass overwrite=True to drop and rebuild it."
            )
        raw = self._call(lambda: self.client.get(self.meta_key))
        if raw is None:
            meta = {"space": self._space.to_dict(), "spec": self.spec.to_dict()}
            self._call(lambda: self.client.set(self.meta_key, json.dumps(meta)))
            return
        stored = VectorSpace.from_dict(json.loads(raw)["space"])
        stored.check_same(self._space, where=f"Redis index {name!r}")

    @classmethod
    def from_existing(
        cls, index_name: str, embedding: Embeddings, redis_url: str = "redis://localhost:6379", **kwargs: Any
    ) -> RedisVectorStore:
        """Open an index with the spec it was stored with (the embedding's space is checked against it)."""
        client = kwargs.pop("client", None) or _client(redis_url, kwargs.get("retries", 3), kwargs.get("connect_timeout", 5.0))
        try:
            raw = client.get(f"{index_name}:space")
        except _RETRYABLE as exc:
            raise _connection_error(redis_url, exc) from exc
        if raw is None:
            raise InvalidParameterError(
                f"No index {index_name!r} made by this package at {_redact(redis_url)} (key {index_name}:space is "
                f"missing). Build it first with RedisVectorStore(embedding, RedisIndexSpec({index_name!r}), redis_url)."
            )
        spec = RedisIndexSpec.from_dict(json.loads(raw)["spec"])
        return cls(embedding, spec, redis_url, client=client, **kwargs)

    def check_query_space(self, space: VectorSpace) -> None:
        """Raise ``DimensionMismatchError`` / ``VectorSpaceMismatchError`` if ``space`` is not this index's."""
        self._space.check_same(space, where=f"Redis index {self.spec.index_name!r}")

    def _call(self, fn: Callable[[], Any]) -> Any:
        """Run one Redis call; a connection failure becomes ``StoreConnectionError`` naming the URL."""
        try:
            return fn()
        except _RETRYABLE as exc:
            raise _connection_error(self.redis_url, exc) from exc
        except Exception as exc:  # redisvl wraps redis errors in its own classes
            cause = exc.__cause__ or exc.__context__
            if isinstance(cause, _RETRYABLE):
                raise _connection_error(self.redis_url, cause) from exc
            raise

    # ------------------------------------------------------------------ ingest

    def _key(self, doc_id: str) -> str:
        return f"{self.spec.prefix}:{doc_id}"

    def add_vectors(
        self,
        vectors: np.ndarray,
        documents: Sequence[Document],
        *,
        cluster_ids: np.ndarray | Sequence[int] | None = None,
        extra_vectors: Mapping[str, np.ndarray] | None = None,
        skip_existing: bool = False,
        batch_size: int | None = None,
    ) -> list[str]:
        """Write precomputed vectors + documents in pipelined batches; returns the document ids.

        Keys are ``<prefix>:<Document.id>`` (a content hash when the id is missing), so loading twice
        leaves one copy. ``cluster_ids`` fills the ``cluster`` TAG (cluster prefilter); ``extra_vectors``
        fills the spec's extra vector fields (default: Matryoshka prefixes of ``vectors``). Every batch is retried with exponential backoff through connection drops and
        restarts; ``skip_existing=True`` makes a re-run after a crash write only what is missing.
        """
        vectors = self._check_vectors(vectors, len(documents), VECTOR_FIELD)
        n = len(documents)
        if n == 0:
            raise EmptyInputError("add_vectors got no documents; pass at least one Document with its vector.")
        extras = {
            name: self._check_vectors(arr, n, name).astype(self.spec.np_dtype, copy=False)
            for name, arr in (extra_vectors or {}).items()
        }
        for name in set(self.spec.extra_vector_fields) - set(extras):
            # Not given: the field's Matryoshka prefix of the main vector, re-normalised (the funnel's
            # shortlist field). Pass extra_vectors to store something else.
            extras[name] = _prefix(vectors, self.spec.extra_vector_fields[name]).astype(self.spec.np_dtype, copy=False)
        clusters = None
        if cluster_ids is not None:
            clusters = np.asarray(cluster_ids)
            if clusters.shape != (n,):
                raise InvalidParameterError(f"cluster_ids has shape {clusters.shape}; expected ({n},), one per document")
        ids = [_doc_id(d) for d in documents]
        mats = {VECTOR_FIELD: vectors.astype(self.spec.np_dtype, copy=False), **extras}
        size = batch_size or self.spec.batch_size
        for start in range(0, n, size):
            stop = min(start + size, n)
            self._write_batch(ids, documents, mats, clusters, start, stop, skip_existing)
        return ids

    def _check_vectors(self, vectors: np.ndarray, n: int | None, field_name: str) -> np.ndarray:
        arr = np.asarray(vectors)
        dim = self._space.dim if field_name == VECTOR_FIELD else self.spec.extra_vector_fields.get(field_name)
        if dim is None:
            raise InvalidParameterError(
                f"Vector field {field_name!r} is not in index {self.spec.index_name!r} "
                f"(fields: {[VECTOR_FIELD, *self.spec.extra_vector_fields]}); add it to RedisIndexSpec.extra_vector_fields."
            )
        if arr.ndim != 2 or arr.shape[1] != dim:
            raise DimensionMismatchError(
                f"{field_name!r} vectors have shape {arr.shape}; index {self.spec.index_name!r} (model "
                f"{self._space.model!r}) expects (n, {dim}). Embed with the index's embeddings or rebuild it at this dim."
            )
        if n is not None and arr.shape[0] != n:
            raise InvalidParameterError(f"{arr.shape[0]} {field_name!r} vectors for {n} documents; pass one per document")
        arr = arr.astype(np.float32, copy=False)
        if arr.size and not np.isfinite(arr).all():
            bad = np.flatnonzero(~np.isfinite(arr).all(axis=1))
            raise InvalidVectorError(
                f"{len(bad)} of {len(arr)} {field_name!r} vectors contain NaN or infinity (rows {bad[:10].tolist()}); "
                "drop or fix those inputs."
            )
        return arr

    def _write_batch(
        self,
        ids: list[str],
        documents: Sequence[Document],
        mats: Mapping[str, np.ndarray],
        clusters: np.ndarray | None,
        start: int,
        stop: int,
        skip_existing: bool,
    ) -> None:
        rows = list(range(start, stop))
        keys = [self._key(ids[i]) for i in rows]
        schema = self.spec.metadata_schema

        def run() -> None:
            todo = rows
            if skip_existing:
                with self.client.pipeline(transaction=False) as pipe:
                    for k in keys:
                        pipe.exists(k)
                    present = pipe.execute()
                todo = [i for i, p in zip(rows, present) if not p]
            with self.client.pipeline(transaction=False) as pipe:
                for i in todo:
                    doc = documents[i]
                    mapping: dict[str, Any] = {
                        ID_FIELD: ids[i],
                        CONTENT_FIELD: doc.page_content,
                        METADATA_FIELD: json.dumps(doc.metadata, default=str),
                    }
                    for name, mat in mats.items():
                        mapping[name] = mat[i].tobytes()
                    if clusters is not None:
                        mapping[CLUSTER_FIELD] = str(int(clusters[i]))
                    for name, kind in schema.items():
                        if doc.metadata.get(name) is not None:
                            mapping[name] = _field_value(doc.metadata[name], kind, name)
                    pipe.hset(keys[i - start], mapping=mapping)
                pipe.execute()

        self._retrying(run, start)

    def _retrying(self, run: Callable[[], None], start: int) -> None:
        """Run one idempotent batch write; on a dropped connection / restart, back off exponentially and
        rerun it whole (HSET of the same keys is idempotent, so a half-applied batch is harmless)."""
        for attempt in range(self.batch_retries + 1):
            try:
                run()
                return
            except _RETRYABLE as exc:
                if attempt == self.batch_retries:
                    raise _connection_error(self.redis_url, exc) from exc
                delay = min(self.max_backoff, 0.05 * 2**attempt)
                logger.warning("Redis batch at row %d failed (%s); retry %d in %.2fs", start, exc, attempt + 1, delay)
                time.sleep(delay)

    def add_documents(self, documents: list[Document], ids: list[str] | None = None, **kwargs: Any) -> list[str]:
        """Embed and write documents; ``skip_existing=True`` embeds only those not stored yet (resume)."""
        if not documents:
            raise EmptyInputError("add_documents got an empty list; pass at least one Document.")
        if ids is None:  # a content hash, not a random id: loading the same texts twice keeps one copy
            ids = [_doc_id(d) for d in documents]
        docs = prepare_documents(documents, ids)
        todo = docs
        if kwargs.get("skip_existing"):
            present = self._exists([d.id for d in docs])  # type: ignore[misc]
            todo = [d for d, p in zip(docs, present) if not p]
            if not todo:
                return [str(d.id) for d in docs]
        vectors = self.embedding.encode_documents([d.page_content for d in todo])
        self.add_vectors(vectors, todo, **kwargs)
        return [str(d.id) for d in docs]

    def _exists(self, ids: Sequence[str]) -> list[bool]:
        def run() -> list[bool]:
            with self.client.pipeline(transaction=False) as pipe:
                for i in ids:
                    pipe.exists(self._key(i))
                return [bool(x) for x in pipe.execute()]

        return self._call(run)

    # ------------------------------------------------------------------ search

    def _build_filter(self, filter: FilterLike, clusters: Sequence[int] | None) -> FilterExpression | None:
        parts: list[FilterExpression] = []
        if isinstance(filter, FilterExpression):
            parts.append(filter)
        elif isinstance(filter, str):
            parts.append(FilterExpression(filter))
        elif isinstance(filter, Mapping):
            expr = _as_expression(filter, self.spec.metadata_schema)
            if expr is not None:
                parts.append(expr)
        elif filter is not None:
            raise InvalidParameterError(
                f"filter must be a redisvl FilterExpression, a dict or a query string, not {type(filter).__name__}"
            )
        if clusters is not None:
            if len(clusters) == 0:
                raise InvalidParameterError("clusters=[] selects nothing; pass at least one cluster id or None")
            parts.append(Tag(CLUSTER_FIELD) == [str(int(c)) for c in clusters])
        return _combine(parts, "&") if parts else None

    def search_vectors(
        self,
        query_vectors: np.ndarray,
        k: int,
        filter: FilterLike = None,
        candidate_ids: Sequence[str] | np.ndarray | None = None,
        *,
        clusters: Sequence[int] | None = None,
        vector_field: str = VECTOR_FIELD,
        ef_runtime: int | None = None,
        batch_size: int = 50,
    ) -> list[list[tuple[Document, float]]]:
        """KNN for each query vector (one pipelined round trip per ``batch_size`` queries).

        ``filter`` (and ``clusters``, a TAG prefilter on ``cluster``) restrict the candidates before the
        KNN; ``candidate_ids`` restricts to those document ids (Redis ``INKEYS``). Scores follow the
        package convention (higher = more similar).
        """
        if k <= 0:
            raise InvalidParameterError(f"k={k} must be a positive integer")
        q = np.asarray(query_vectors)
        if q.ndim == 1:
            q = q[None, :]
        q = self._check_vectors(q, None, vector_field).astype(self.spec.np_dtype, copy=False)
        expr = self._build_filter(filter, clusters)
        keys = None if candidate_ids is None else [self._key(str(i)) for i in candidate_ids]
        if keys is not None and not keys:
            return [[] for _ in range(len(q))]
        ef = ef_runtime or (self.spec.ef_runtime if self.spec.algorithm == "hnsw" else None)
        head, params = self._query_template(q[0], k, expr, keys, vector_field, ef)

        def args_for(row: np.ndarray) -> list[Any]:
            params[VectorQuery.VECTOR_PARAM] = row.tobytes()
            return [*head, "PARAMS", 2 * len(params), *(x for kv in params.items() for x in kv)]

        def run() -> list[Any]:
            if len(q) == 1:
                return [self.client.execute_command("FT.SEARCH", *args_for(q[0]))]
            replies: list[Any] = []
            for start in range(0, len(q), batch_size):
                with self.client.pipeline(transaction=False) as pipe:
                    for row in q[start : start + batch_size]:
                        pipe.execute_command("FT.SEARCH", *args_for(row))
                    replies.extend(pipe.execute())
            return replies

        replies = self._call(run)
        convert = _score_fn(self.spec.metric)
        return [[(doc, convert(dist)) for doc, dist in _parse_search_reply(r)] for r in replies]

    def _query_template(
        self, row: np.ndarray, k: int, expr: FilterExpression | None, keys: list[str] | None, vector_field: str, ef: int | None
    ) -> tuple[list[Any], dict[str, Any]]:
        """FT.SEARCH arguments built by redisvl (filter, KNN, EF_RUNTIME, INKEYS), cached per query shape:
        only the vector changes from one query to the next."""
        cache_key = None if keys is not None else (k, None if expr is None else str(expr), vector_field, ef)
        hit = self._templates.get(cache_key) if cache_key is not None else None
        if hit is None:
            template = VectorQuery(
                row.tobytes(),
                vector_field,
                return_fields=[ID_FIELD, CONTENT_FIELD, METADATA_FIELD],
                filter_expression=expr,
                dtype=self.spec.dtype,
                num_results=k,
                ef_runtime=ef,
            )
            if keys is not None:
                template.limit_ids(*keys)
            hit = ([self.spec.index_name, *template.get_args()], dict(template.params))
            if cache_key is not None:
                if len(self._templates) >= 256:
                    self._templates.clear()
                self._templates[cache_key] = hit
        return hit[0], dict(hit[1])

    # ------------------------------------------------------------------ bulk access

    def fetch_vectors(self, ids: Sequence[str], vector_field: str = VECTOR_FIELD) -> np.ndarray:
        """The stored vectors of ``ids`` (float32, in order), one pipelined round trip: for rescoring."""
        dim = self._space.dim if vector_field == VECTOR_FIELD else self.spec.extra_vector_fields.get(vector_field)
        if dim is None:
            raise InvalidParameterError(f"Unknown vector field {vector_field!r}")

        def run() -> list[bytes | None]:
            with self.client.pipeline(transaction=False) as pipe:
                for i in ids:
                    pipe.hget(self._key(str(i)), vector_field)
                return pipe.execute()

        raw = self._call(run)
        missing = [str(i) for i, r in zip(ids, raw) if r is None]
        if missing:
            raise InvalidParameterError(
                f"{len(missing)} ids are not in index {self.spec.index_name!r} (e.g. {missing[:5]}); add them first."
            )
        if not raw:
            return np.zeros((0, dim), dtype=np.float32)
        buf = np.frombuffer(b"".join(raw), dtype=self.spec.np_dtype).reshape(len(raw), dim)  # type: ignore[arg-type]
        return buf.astype(np.float32)

    def get_by_ids(self, ids: Sequence[str], /) -> list[Document]:
        def run() -> list[list[bytes | None]]:
            with self.client.pipeline(transaction=False) as pipe:
                for i in ids:
                    pipe.hmget(self._key(str(i)), [ID_FIELD, CONTENT_FIELD, METADATA_FIELD])
                return pipe.execute()

        out = []
        for _id, content, meta in self._call(run):
            if _id is not None:
                out.append(Document(id=_id.decode(), page_content=content.decode(), metadata=json.loads(meta)))
        return out

    def delete(self, ids: list[str] | None = None, **kwargs: Any) -> bool | None:
        """Delete documents by id (``ids=None`` deletes every document of the index, keeping the index)."""
        if ids is None:
            self._call(self.index.clear)
            return True
        self._call(lambda: self.client.delete(*[self._key(i) for i in ids]) if ids else 0)
        return True

    def drop(self) -> None:
        """Drop the index, its documents and its stored space."""
        self._call(lambda: self.index.delete(drop=True))
        self._call(lambda: self.client.delete(self.meta_key))

    def set_clusters(self, ids: Sequence[str], cluster_ids: np.ndarray | Sequence[int]) -> None:
        """(Re)assign the ``cluster`` TAG of stored documents, pipelined: clusters are fitted after indexing."""
        cl = np.asarray(cluster_ids)
        if cl.shape != (len(ids),):
            raise InvalidParameterError(f"cluster_ids has shape {cl.shape}; expected ({len(ids)},), one per id")
        size = self.spec.batch_size
        for start in range(0, len(ids), size):
            chunk = list(range(start, min(start + size, len(ids))))

            def run(chunk: list[int] = chunk) -> None:
                with self.client.pipeline(transaction=False) as pipe:
                    for i in chunk:
                        pipe.hset(self._key(str(ids[i])), CLUSTER_FIELD, str(int(cl[i])))
                    pipe.execute()

            self._retrying(run, start)

    def index_bytes(self) -> int:
        """Bytes of the vector index(es) as Redis reports them (``FT.INFO vector_index_sz_mb``)."""
        return int(self.memory()["vector_index_sz_mb"] * 2**20)

    def count(self) -> int:
        """Number of indexed documents (``num_docs`` from ``FT.INFO``)."""
        return int(self._call(self.index.info)["num_docs"])

    def memory(self) -> dict[str, float]:
        """Index memory from ``FT.INFO`` (MB): vector index, inverted index, total."""
        info = self._call(self.index.info)
        return {
            "vector_index_sz_mb": float(info["vector_index_sz_mb"]),
            "inverted_sz_mb": float(info["inverted_sz_mb"]),
            "total_index_memory_sz_mb": float(info.get("total_index_memory_sz_mb", 0.0)),
            "num_docs": int(info["num_docs"]),
        }


def build_redis_store(
    embedding: Embeddings | str,
    spec: RedisIndexSpec | Any = None,
    redis_url: str | None = None,
    *,
    dataset_name: str | None = None,
    overwrite: bool | None = None,
    **kwargs: Any,
) -> RedisVectorStore:
    """What the CLI / ``build_store`` call for ``--store redis --redis-url URL``.

    ``spec`` is a :class:`RedisIndexSpec`, or evaluation settings (``EvalSettings``: ``index``,
    ``metric``, ``redis_url``, ``retriever``, ``shortlist_dim``, ``extra["redis"]`` for spec overrides);
    from settings the index is named after data set, model, dim, index and metric, and rebuilt
    (``overwrite=True``) so every evaluation starts from the corpus it is given.
    """
    if spec is None or isinstance(spec, RedisIndexSpec):
        url = redis_url or "redis://localhost:6379"
        return RedisVectorStore(embedding, spec, url, overwrite=bool(overwrite), **kwargs)
    settings = spec
    emb = as_matryoshka(embedding)
    algorithm = str(getattr(settings, "index", "flat"))
    if algorithm not in ("flat", "hnsw"):
        raise InvalidParameterError(f"Redis indexes are 'flat' or 'hnsw', not {algorithm!r}: use --index flat|hnsw with --store redis.")
    overrides = dict((getattr(settings, "extra", None) or {}).get("redis", {}))
    extra_vectors = dict(overrides.pop("extra_vector_fields", {}))
    shortlist_dim = getattr(settings, "shortlist_dim", None)
    if getattr(settings, "retriever", None) == "funnel" and shortlist_dim:
        extra_vectors.setdefault(f"vector_{int(shortlist_dim)}", int(shortlist_dim))
    model = re.sub(r"[^A-Za-z0-9]+", "-", emb.space.model).strip("-").lower()
    name = f"embcompare_{dataset_name or 'corpus'}_{model}_{emb.space.dim}d_{algorithm}_{settings.metric}"
    index_spec = RedisIndexSpec(
        index_name=re.sub(r"[^A-Za-z0-9_:.-]+", "-", name),
        algorithm=algorithm,  # type: ignore[arg-type]
        metric=getattr(settings, "metric", "cosine"),
        extra_vector_fields=extra_vectors,
        **overrides,
    )
    url = redis_url or getattr(settings, "redis_url", None) or "redis://localhost:6379"
    return RedisVectorStore(emb, index_spec, url, overwrite=True if overwrite is None else overwrite, **kwargs)


# --------------------------------------------------------------------------- helpers


def _client(url: str, retries: int, connect_timeout: float) -> redis.Redis:
    """redis-py client that retries dropped connections / LOADING with exponential backoff."""
    return redis.Redis.from_url(
        url,
        retry=Retry(ExponentialBackoff(cap=1.0, base=0.05), retries),
        retry_on_error=list(_RETRYABLE),
        socket_connect_timeout=connect_timeout,
        socket_keepalive=True,
    )


def _score_fn(metric: str) -> Callable[[float], float]:
    """Redis distance -> package score: cosine 1-d, ip 1-d, l2 -sqrt(d) (Redis reports squared L2)."""
    if metric == "l2":
        return lambda d: -math.sqrt(max(d, 0.0))
    return lambda d: 1.0 - d


_B_ID, _B_CONTENT, _B_META = ID_FIELD.encode(), CONTENT_FIELD.encode(), METADATA_FIELD.encode()
_B_DIST = VectorQuery.DISTANCE_ID.encode()


def _parse_search_reply(reply: Any) -> list[tuple[Document, float]]:
    """(Document, Redis distance) pairs from a raw FT.SEARCH reply, RESP3 (map) or RESP2 (flat list)."""
    if isinstance(reply, dict):
        rows = [r[b"extra_attributes"] for r in reply[b"results"]]
    else:
        rows = [dict(zip(reply[j][::2], reply[j][1::2])) for j in range(2, len(reply), 2)]
    return [
        (
            Document(id=f[_B_ID].decode(), page_content=f[_B_CONTENT].decode(), metadata=json.loads(f[_B_META])),
            float(f[_B_DIST]),
        )
        for f in rows
    ]


def _field_value(value: Any, kind: str, name: str) -> str | int | float:
    if kind == "tag":
        vals = value if isinstance(value, (list, tuple, set)) else [value]
        return ",".join(str(v) for v in vals)
    if kind == "numeric":
        if isinstance(value, bool) or not isinstance(value, (int, float, np.number)):
            raise InvalidParameterError(f"metadata {name!r}={value!r} is not a number but the schema says 'numeric'")
        return float(value) if isinstance(value, (float, np.floating)) else int(value)
    return str(value)


def _doc_id(doc: Document) -> str:
    """Document.id, else a content hash: loading the same text twice must not make two keys."""
    if doc.id:
        return str(doc.id)
    return hashlib.sha1(doc.page_content.encode("utf-8")).hexdigest()


def _prefix(vectors: np.ndarray, dim: int) -> np.ndarray:
    small = vectors[:, :dim]
    norms = np.linalg.norm(small, axis=1, keepdims=True)
    return (small / np.where(norms == 0, 1, norms)).astype(np.float32)


def _as_expression(spec: Mapping[str, Any], field_types: Mapping[str, str]) -> FilterExpression | None:
    """LangChain dict -> FilterExpression, with this index's field types."""
    return dict_to_filter(spec, {CLUSTER_FIELD: "tag", **field_types})


def _schema_differences(existing: IndexSchema, wanted: IndexSchema) -> list[str]:
    """Human-readable differences between two redisvl schemas (ignores query-time knobs like ef_runtime)."""
    diffs: list[str] = []
    if list(existing.index.prefix if isinstance(existing.index.prefix, list) else [existing.index.prefix]) != [
        wanted.index.prefix
    ]:
        diffs.append(f"prefix: index has {existing.index.prefix!r}, asked for {wanted.index.prefix!r}")
    have = {f.name: f for f in existing.fields.values()}
    want = {f.name: f for f in wanted.fields.values()}
    for name in sorted(set(have) | set(want)):
        a, b = have.get(name), want.get(name)
        if a is None:
            diffs.append(f"field {name!r} ({_norm(b.type)}) is missing from the index")
            continue
        if b is None:
            diffs.append(f"index has field {name!r} ({_norm(a.type)}) not in the spec")
            continue
        if _norm(a.type) != _norm(b.type):
            diffs.append(f"field {name!r}: index has type {_norm(a.type)}, asked for {_norm(b.type)}")
            continue
        if _norm(a.type) == "vector":
            keys = ["dims", "algorithm", "distance_metric", "datatype"]
            if str(getattr(b.attrs, "algorithm", "")).lower().endswith("hnsw"):
                keys += ["m", "ef_construction"]
            for key in keys:
                va, vb = _norm(getattr(a.attrs, key, None)), _norm(getattr(b.attrs, key, None))
                if va != vb:
                    diffs.append(f"vector field {name!r} {key}: index has {va}, asked for {vb}")
    return diffs


def _norm(value: Any) -> Any:
    value = getattr(value, "value", value)
    return str(value).lower() if isinstance(value, str) else value
