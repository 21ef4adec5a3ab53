"""Qdrant vector store: embedded by default (qdrant-client's local mode), the same code on a server or cluster.

One ``qdrant_client.QdrantClient`` talks to all three: ``location=":memory:"`` (an in-process
collection, gone with the process), ``path=DIR`` (local mode persisted in a folder; one client per
folder per process, shared by every store opened on it, since local mode locks its folder), or
``url="http://host:6333"`` with an ``api_key`` for a Qdrant server, a cluster or Qdrant Cloud (the key
is never shown in a message or ``repr``). The store implements the package's protocol (:mod:`.base`)
and the capabilities ``"candidate_rows"`` (a ``HasIdCondition``), ``"clusters"`` (an integer
``_cluster`` payload key) and ``"vector_fields"`` (Qdrant named vectors; a field is added to an
existing collection with ``create_vector_name``). It has no ``"full_text"``: the lexical arm runs
bm25s over :meth:`~.base.EmbStore.iter_documents`.

* Layout: one point per document. The point id is the document's row, a 63-bit hash of the id
  (:func:`~.ops.row_handles`, the same rows as the Milvus store), so a row survives an upsert;
  the string id is kept in the payload (``id``) and checked on every read, so two ids whose hashes
  collide are detected at write time and raise (probability ~ n^2 / 2^64). Payload: ``id``, ``text``,
  ``metadata`` (the document's metadata as given), and derived keys the filters read: ``_tags``
  (``"<key>:<value>"`` per tag value, lower-cased: ``filters.tag_values``), ``_nums``
  (``{<key>: float}``: ``filters.as_number``), ``_present`` (keys whose value is not ``None``),
  ``_cluster`` (``-1`` = none). ``<key>`` is ``k`` + the UTF-8 hex of the metadata key, so any key
  (dots, brackets, spaces) is one path component of Qdrant's JSON paths.
* Scores: the package convention. ``cosine`` -> Qdrant ``Cosine`` on vectors stored unit length (the
  cosine similarity; a zero vector stays zero, as :func:`~.ops.normalize_rows` leaves it); ``ip`` ->
  ``Dot`` (the inner product); ``l2`` -> ``Euclid``, whose distance is reported negated (minus the
  Euclidean distance, as on every store).
* Filters: the package's filter tree (:func:`~langchain_embcompare.filters.filter_tree`) becomes a
  Qdrant ``Filter`` (:class:`QdrantFilter`): tag leaves ``MatchAny`` on ``_tags``, numeric leaves
  ``Range`` on ``_nums``, ``missing`` on ``_present``, and/or as ``must`` / ``should``, negation as
  ``must_not`` (a negated leaf matches documents lacking the key, as ``filters.evaluate_filter`` does).
  Text leaves (``$like``, ``Text % ...``) have no exact Qdrant form (its full-text match tokenises
  differently): a filter holding one is evaluated in-process over the stored metadata (one scan per
  search call), and the search runs on the matching points (``HasIdCondition``), as the Milvus store
  does. ``$in: []`` short-circuits to an empty result.
* Search: ``kind="flat"`` searches exactly (``SearchParams(exact=True)``); ``kind="hnsw"`` uses the
  server's HNSW graph (``m``, ``ef_construct``; ``ef_search`` per call). Local mode has no index: it
  scans every vector exactly whatever the kind, so :meth:`QdrantVectorStore.field_index_kind` says
  ``"flat"`` there and ``ef_search`` is refused (a knob that changes nothing is not accepted silently).
  ``nprobe`` (an IVF knob) is refused on every Qdrant collection.
* Precision: float32 only; ``binary`` and ``int8`` raise ``InvalidParameterError`` naming the FAISS
  store (Qdrant's quantization rescored by default would measure another thing than asked).
* The vector space (:class:`~langchain_embcompare.matryoshka.VectorSpace`) and the metric are recorded
  in the collection's metadata and checked on open.
"""

from __future__ import annotations

import atexit
import json
import math
import os
import re
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from typing import Any, ClassVar

import numpy as np
from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings

from langchain_embcompare.errors import (
    DimensionMismatchError,
    InvalidParameterError,
    SchemaMismatchError,
    StoreConnectionError,
)
from langchain_embcompare.filters import NOTHING, Filter, FilterTree, FilterVisitor, Leaf, Node, as_number, evaluate_filter, filter_tree, tag_values
from langchain_embcompare.matryoshka import MatryoshkaEmbeddings, VectorSpace, as_matryoshka, check_finite
from langchain_embcompare.stores.base import (
    METRICS,
    EmbStore,
    SearchRequest,
    empty_result,
    last_wins,
    normalize_rows,
    prepare_documents,
)
from langchain_embcompare.stores.locking import ReadWriteLock
from langchain_embcompare.stores.ops import row_handles
from langchain_embcompare.stores.registry import StoreOptions, secret, secret_url
from langchain_embcompare.stores.urls import redact

__all__ = [
    "DISTANCES",
    "QdrantOptions",
    "QdrantVectorStore",
    "QdrantFilter",
    "has_text_leaf",
    "payload_of",
]

VECTOR_NAME = "vector"
"""The named vector holding the main vectors (extra fields are further named vectors)."""
ID_KEY, TEXT_KEY, METADATA_KEY = "id", "text", "metadata"
TAGS_KEY, NUMS_KEY, PRESENT_KEY, CLUSTER_KEY = "_tags", "_nums", "_present", "_cluster"
SPACE_META, METRIC_META, VERSION_META = "embcompare.space", "embcompare.metric", "embcompare.version"
FORMAT_VERSION = "1"
CHUNK = 512
"""Points per upsert / retrieve call."""

DISTANCES = {"cosine": "Cosine", "ip": "Dot", "l2": "Euclid"}
"""Qdrant distance per package metric (``qdrant_client.models.Distance`` values)."""


def _key(name: str) -> str:
    """A metadata key as one JSON-path component: ``k`` + UTF-8 hex (dots and brackets are data)."""
    return "k" + name.encode("utf-8").hex()


# --------------------------------------------------------------------------- options


class QdrantOptions(StoreOptions):
    """Where a :class:`QdrantVectorStore` keeps its collection, and its HNSW settings (the typed options
    of the store registry, :mod:`~langchain_embcompare.stores.registry`).

    Exactly one of ``location``, ``path`` and ``url`` names the Qdrant; none means ``":memory:"``.

    Args:
        collection: the collection name (``None``: named after the data set, model, dim, kind and metric
            when built by the registry, else ``"embcompare"``).
        location: ``":memory:"`` for an in-process collection (local mode, nothing on disk).
        path: a folder for local mode persisted on disk (created if missing).
        url: ``http(s)://host:6333`` of a Qdrant server, cluster or Qdrant Cloud (a password in it is
            shown as ``***``).
        api_key: the server's API key (never shown: ``repr``, ``to_dict`` and messages leave it out).
        m: HNSW graph degree (``kind="hnsw"`` on a server).
        ef_construct: HNSW construction beam (``kind="hnsw"`` on a server).
        timeout: seconds per server call (``None``: the client's default).

    Raises:
        InvalidParameterError: a value of the wrong type, two locations, a location other than
            ``":memory:"``, or a non-positive ``m`` / ``ef_construct``.
    """

    collection: str | None = None
    location: str | None = None
    path: str | None = None
    url: str | None = secret_url()
    api_key: str | None = secret()
    m: int = 16
    ef_construct: int = 100
    timeout: int | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        given = [n for n in ("location", "path", "url") if getattr(self, n)]
        if len(given) > 1:
            raise InvalidParameterError(f"QdrantOptions takes one of location, path and url; got {given}.")
        if self.location not in (None, ":memory:"):
            raise InvalidParameterError(
                f"QdrantOptions(location={self.location!r}): location is ':memory:'; pass path= for a folder or url= for a server."
            )
        if self.m < 1 or self.ef_construct < 1:
            raise InvalidParameterError(f"m and ef_construct must be positive, got m={self.m}, ef_construct={self.ef_construct}.")

    @property
    def is_local(self) -> bool:
        """True for local mode (``location`` / ``path``), False for a server (``url``)."""
        return not self.url

    @property
    def where(self) -> str:
        """The Qdrant named in messages: ``":memory:"``, the folder or the URL (password ``***``, no API key)."""
        return redact(self.url) or self.path or ":memory:"


# --------------------------------------------------------------------------- local clients

_LOCAL_CLIENTS: dict[str, tuple[Any, ReadWriteLock]] = {}
_LOCAL_GUARD = threading.Lock()


def _close_local_clients() -> None:
    """Close every folder client at exit (unlocks the folders; closing in ``__del__`` during interpreter
    shutdown fails with an ImportError message)."""
    with _LOCAL_GUARD:
        for client, _ in _LOCAL_CLIENTS.values():
            client.close()
        _LOCAL_CLIENTS.clear()


atexit.register(_close_local_clients)


def _local_client(path: str) -> tuple[Any, ReadWriteLock]:
    """The one local-mode client of a folder in this process (local mode locks its folder), and its lock."""
    from qdrant_client import QdrantClient

    key = os.path.abspath(path)
    with _LOCAL_GUARD:
        if key not in _LOCAL_CLIENTS:
            os.makedirs(key, exist_ok=True)
            _LOCAL_CLIENTS[key] = (QdrantClient(path=key), ReadWriteLock())
        return _LOCAL_CLIENTS[key]


# --------------------------------------------------------------------------- payload and filters


def payload_of(document: Document, cluster: int = -1) -> dict[str, Any]:
    """The payload of a stored document: its id, text and metadata, and the keys the filters read.

    Args:
        document: a document through :func:`~.ops.prepare_documents` (id set, metadata clean).
        cluster: its cluster label (``-1``: none).

    Returns:
        ``{"id", "text", "metadata", "_tags", "_nums", "_present", "_cluster"}`` (module docstring).
    """
    tags: list[str] = []
    nums: dict[str, float] = {}
    present: list[str] = []
    for name, value in document.metadata.items():
        if value is None:
            continue
        k = _key(name)
        present.append(k)
        tags += [f"{k}:{v}" for v in sorted(tag_values(value))]
        f = as_number(value)
        if f is not None:
            nums[k] = f
    return {
        ID_KEY: str(document.id), TEXT_KEY: document.page_content, METADATA_KEY: dict(document.metadata),
        TAGS_KEY: tags, NUMS_KEY: nums, PRESENT_KEY: present, CLUSTER_KEY: int(cluster),
    }


def has_text_leaf(node: Node | Leaf | None) -> bool:
    """True when a filter tree holds a text leaf (``phrase`` / ``terms``), which Qdrant cannot run exactly.

    Args:
        node: a filter tree, or ``None``.

    Returns:
        Whether any leaf is a text leaf.
    """
    if node is None:
        return False
    if isinstance(node, Node):
        return has_text_leaf(node.left) or has_text_leaf(node.right)
    return node.kind in ("phrase", "terms")


def _nothing() -> Any:
    from qdrant_client import models

    return models.Filter(must=[models.HasIdCondition(has_id=[])])


class QdrantFilter(FilterVisitor[Any]):
    """The Qdrant translation of a filter tree: a ``qdrant_client.models.Filter`` keeping the documents
    :class:`~langchain_embcompare.filters.RowMask` keeps (the payload keys: :func:`payload_of`).

    * ``tag``: ``MatchAny`` over ``_tags`` (``"<key>:<value>"``, lower-cased on both sides).
    * ``num``: ``Range`` over ``_nums.<key>`` (inclusive / exclusive bounds; infinite bounds dropped;
      an empty range matches nothing).
    * ``missing``: ``<key>`` not in ``_present``; ``all``: every document; ``none``: no document.
    * ``and`` / ``or``: ``must`` / ``should``; a negated leaf: ``must_not`` of the leaf, so a document
      lacking the key matches it, as in-process.
    * ``phrase`` / ``terms`` (text): refused; the store evaluates a tree holding one in-process.
    """

    def leaf(self, leaf: Leaf) -> Any:
        """One condition as a Qdrant ``Filter``.

        Args:
            leaf: the condition.

        Returns:
            A ``qdrant_client.models.Filter``.

        Raises:
            InvalidParameterError: a text leaf (``phrase`` / ``terms``), which has no exact Qdrant form.
        """
        from qdrant_client import models

        k = _key(leaf.field) if leaf.field else ""
        if leaf.kind in ("all", "none"):
            return _nothing() if (leaf.kind == "none") != leaf.negate else models.Filter()
        if leaf.kind == "missing":
            present = models.FieldCondition(key=PRESENT_KEY, match=models.MatchValue(value=k))
            return models.Filter(must=[present]) if leaf.negate else models.Filter(must_not=[present])
        if leaf.kind == "tag":
            cond: Any = models.FieldCondition(key=TAGS_KEY, match=models.MatchAny(any=[f"{k}:{v}" for v in leaf.values]))
        elif leaf.kind == "num":
            if leaf.lo == math.inf or leaf.hi == -math.inf:
                return models.Filter() if leaf.negate else _nothing()
            bounds: dict[str, float] = {}
            if leaf.lo > -math.inf:
                bounds["gt" if leaf.lo_exclusive else "gte"] = float(leaf.lo)
            if leaf.hi < math.inf:
                bounds["lt" if leaf.hi_exclusive else "lte"] = float(leaf.hi)
            if not bounds:  # every number: the stored numbers are finite (filters.as_number)
                bounds["gte"] = -float(np.finfo(np.float64).max)
            cond = models.FieldCondition(key=f"{NUMS_KEY}.{k}", range=models.Range(**bounds))
        else:
            raise InvalidParameterError(
                f"The {leaf.kind!r} filter on {leaf.field!r} has no exact Qdrant form (Qdrant's full-text match "
                "tokenises differently from the package's whole-word rule); the Qdrant store evaluates it in-process."
            )
        return models.Filter(must_not=[cond]) if leaf.negate else models.Filter(must=[cond])

    def combine(self, op: str, left: Any, right: Any) -> Any:
        """``must`` (and) or ``should`` (or) of two translated sub-trees.

        Args:
            op: ``"and"`` or ``"or"``.
            left: a translated sub-tree.
            right: a translated sub-tree.

        Returns:
            A ``qdrant_client.models.Filter``.
        """
        from qdrant_client import models

        return models.Filter(must=[left, right]) if op == "and" else models.Filter(should=[left, right])


# --------------------------------------------------------------------------- the store


class QdrantVectorStore(EmbStore):
    """A LangChain ``VectorStore`` on Qdrant (local mode in memory or in a folder, or a server), on the
    package protocol (module docstring for the layout, scores, filters and what local mode does).

    >>> store = QdrantVectorStore(MatryoshkaEmbeddings("all-MiniLM-L6-v2"), QdrantOptions(path="./qdrant"))
    >>> store.add_documents(docs); store.similarity_search("query", k=4, filter={"genre": "news"})

    Args:
        embedding: LangChain ``Embeddings`` or a model name (wrapped in ``MatryoshkaEmbeddings``).
        options: :class:`QdrantOptions` (default: an in-memory collection ``embcompare``).
        metric: ``"cosine"``, ``"ip"`` or ``"l2"`` (:data:`DISTANCES`).
        kind: ``"flat"`` (exact search) or ``"hnsw"`` (the server's HNSW graph; local mode is exact anyway).
        extra_vector_fields: ``{name: dim}`` named vectors to have besides the main one (more can be
            added later: :meth:`ensure_vector_field`).
        overwrite: drop an existing collection of that name first.
        client: an open ``qdrant_client.QdrantClient`` to use instead of connecting.
        **option_kwargs: build the :class:`QdrantOptions` when ``options`` is not given.

    Raises:
        InvalidParameterError: ``binary`` / ``int8`` precision, an unknown metric or kind (IVF is the
            FAISS and Milvus stores'), an extra field named ``"vector"`` or with a dim < 1, or bad options.
        StoreConnectionError: the server is unreachable (naming the URL, never the API key).
        SchemaMismatchError: an existing collection not made by this package, or with another metric
            or vector fields of other widths.
        VectorSpaceMismatchError: an existing collection from another vector space.
        DimensionMismatchError: an existing collection of another dimension.
    """

    capabilities: ClassVar[frozenset[str]] = frozenset({"candidate_rows", "clusters", "vector_fields"})
    search_options: ClassVar[frozenset[str]] = frozenset({"batch_size"})  # + "ef_search" on a server's HNSW
    main_vector_field: ClassVar[str | None] = VECTOR_NAME
    options_type: ClassVar[type[StoreOptions]] = QdrantOptions

    def __init__(
        self,
        embedding: Embeddings | str,
        options: QdrantOptions | None = None,
        *,
        metric: str = "cosine",
        kind: str = "flat",
        extra_vector_fields: Mapping[str, int] | None = None,
        overwrite: bool = False,
        client: Any = None,
        **option_kwargs: Any,
    ) -> None:
        if options is not None and option_kwargs:
            raise InvalidParameterError(f"Pass options or option keywords, not both (got {sorted(option_kwargs)}).")
        self.options = options or QdrantOptions(**option_kwargs)
        if metric not in METRICS:
            raise InvalidParameterError(f"metric must be one of {METRICS}, got {metric!r}.")
        if kind not in ("flat", "hnsw"):
            raise InvalidParameterError(
                f"kind={kind!r} is not a Qdrant index: Qdrant has 'hnsw' (its graph) and 'flat' (exact search); "
                "IVF is the FAISS and Milvus stores'."
            )
        self.embedding: MatryoshkaEmbeddings = as_matryoshka(embedding)
        self.metric = metric
        self.kind = kind
        self.name = self.options.collection or "embcompare"
        self.space_ = self.embedding.space
        precision = getattr(self.space_, "precision", "float32")
        if precision != "float32":
            raise InvalidParameterError(
                f"The Qdrant store keeps float32 vectors; precision={precision!r} is not supported. Use the FAISS "
                f"store (--store faiss), which stores {precision} codes, or precision='float32'."
            )
        self.fields: dict[str, int] = {}
        for name, dim in dict(extra_vector_fields or {}).items():
            if name == VECTOR_NAME or int(dim) < 1:
                raise InvalidParameterError(
                    f"extra vector field {name!r} ({dim}-d): a name other than {VECTOR_NAME!r} and a dim >= 1."
                )
            self.fields[str(name)] = int(dim)
        if self.field_index_kind() == "hnsw":  # local mode scans exactly: ef_search would change nothing there
            self.search_options = frozenset(type(self).search_options | {"ef_search"})  # type: ignore[misc]
        self.client, self.lock = self._connect(client)
        self._open(overwrite)

    # ------------------------------------------------------------------ connection / open

    @classmethod
    def from_options(
        cls,
        options: QdrantOptions,
        embedding: Embeddings | str,
        *,
        kind: str = "flat",
        metric: str = "cosine",
        extra_vector_fields: Mapping[str, int] | None = None,
        dataset_name: str | None = None,
        overwrite: bool = True,
    ) -> QdrantVectorStore:
        """Build (or, with ``overwrite=False``, open) the store from its typed options: what the store
        registry calls for ``--store qdrant``.

        Args:
            options: where (:class:`QdrantOptions`).
            embedding: LangChain ``Embeddings`` or a model name.
            kind: ``"flat"`` or ``"hnsw"``.
            metric: ``"cosine"``, ``"ip"`` or ``"l2"``.
            extra_vector_fields: ``{name: dim}`` named vectors to have (the funnel's shortlist field).
            dataset_name: names the collection when the options name none
                (``embcompare_<data set>_<model>_<dim>d_<kind>_<metric>``).
            overwrite: drop an existing collection of that name first.

        Returns:
            The store.
        """
        emb = as_matryoshka(embedding)
        name = options.collection
        if not name:
            model = re.sub(r"[^A-Za-z0-9]+", "_", emb.space.model).strip("_").lower()
            dataset = re.sub(r"[^A-Za-z0-9]+", "_", dataset_name or "corpus").strip("_").lower()
            name = f"embcompare_{dataset}_{model}_{emb.space.dim}d_{kind}_{metric}"[:255]
            options = QdrantOptions(**{**{f: getattr(options, f) for f in options.field_names()}, "collection": name})
        return cls(emb, options, metric=metric, kind=kind, extra_vector_fields=extra_vector_fields, overwrite=overwrite)

    def _connect(self, client: Any) -> tuple[Any, ReadWriteLock]:
        if client is not None:
            return client, ReadWriteLock()
        opts = self.options
        if opts.path:
            return _local_client(opts.path)
        from qdrant_client import QdrantClient

        if not opts.url:
            return QdrantClient(location=":memory:"), ReadWriteLock()
        try:
            c = QdrantClient(url=opts.url, api_key=opts.api_key, timeout=opts.timeout)
            c.get_collections()
        except Exception as exc:  # httpx / grpc errors, or an authentication refusal
            raise self._connection_error(exc) from None
        return c, ReadWriteLock()

    def _connection_error(self, exc: BaseException) -> StoreConnectionError:
        text = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        if self.options.api_key:
            text = text.replace(self.options.api_key, "***")
        return StoreConnectionError(
            f"Cannot reach Qdrant at {self.options.where} ({text}). Start a server (`docker run -p 6333:6333 "
            "qdrant/qdrant`), pass the right url/api_key, or use path= (a folder) or location=':memory:' for "
            "local mode (no server)."
        )

    @property
    def where(self) -> str:
        """The collection as messages name it (``Qdrant collection 'x' at <folder or URL>``)."""
        return f"Qdrant collection {self.name!r} at {self.options.where}"

    def _open(self, overwrite: bool) -> None:
        from qdrant_client import models

        try:
            exists = self.client.collection_exists(self.name)
            if exists and overwrite:
                self.client.delete_collection(self.name)
                exists = False
        except Exception as exc:
            raise self._connection_error(exc) from None
        if exists:
            self._check_existing()
            return
        distance = models.Distance(DISTANCES[self.metric])
        vectors = {VECTOR_NAME: models.VectorParams(size=self.space_.dim, distance=distance)}
        for name, dim in self.fields.items():
            vectors[name] = models.VectorParams(size=dim, distance=distance)
        self.client.create_collection(
            self.name, vectors_config=vectors,
            hnsw_config=models.HnswConfigDiff(m=self.options.m, ef_construct=self.options.ef_construct),
            metadata={SPACE_META: json.dumps(self.space_.to_dict()), METRIC_META: self.metric, VERSION_META: FORMAT_VERSION},
        )
        if not self.options.is_local:  # payload indexes for the filters' keys (local mode has none to build)
            for key, schema in ((TAGS_KEY, "keyword"), (PRESENT_KEY, "keyword"), (CLUSTER_KEY, "integer"), (ID_KEY, "keyword")):
                self.client.create_payload_index(self.name, key, field_schema=models.PayloadSchemaType(schema))

    def _check_existing(self) -> None:
        info = self.client.get_collection(self.name)
        meta = info.config.metadata or {}
        if SPACE_META not in meta or METRIC_META not in meta:
            raise SchemaMismatchError(
                f"{self.where} exists but was not made by this package (no {SPACE_META!r} in its metadata). Pick "
                "another collection, or pass overwrite=True to drop and rebuild it."
            )
        VectorSpace.from_dict(json.loads(meta[SPACE_META])).check_same(self.space_, where=self.where)
        if meta[METRIC_META] != self.metric:
            raise SchemaMismatchError(
                f"{self.where} holds {meta[METRIC_META]!r} vectors, asked for metric={self.metric!r}; open it with "
                f"metric={meta[METRIC_META]!r} or pass overwrite=True."
            )
        have = {name: int(p.size) for name, p in (info.config.params.vectors or {}).items()}
        wrong = {n: (have.get(n), d) for n, d in self.fields.items() if n in have and have[n] != d}
        if wrong:
            raise SchemaMismatchError(
                f"{self.where}: vector fields of other widths (stored, asked) {wrong}; pick other names or overwrite=True."
            )
        for name, dim in self.fields.items():
            if name not in have:
                self._create_field(name, dim)
        self.fields = {n: d for n, d in have.items() if n != VECTOR_NAME} | self.fields

    def _create_field(self, name: str, dim: int) -> None:
        from qdrant_client import models

        config = models.DenseVectorConfig(size=int(dim), distance=models.Distance(DISTANCES[self.metric]))
        self.client.create_vector_name(self.name, name, models.DenseVectorNameConfig(dense=config))

    def drop(self) -> None:
        """Drop the collection: its documents, vectors and recorded space."""
        with self.lock.write():
            self.client.delete_collection(self.name)

    @property
    def space(self) -> VectorSpace:
        """The collection's vector space (model, dim, prompts, rotation, precision)."""
        return self.space_

    @property
    def vector_fields(self) -> dict[str, int]:
        """The extra vector fields (Qdrant named vectors besides the main one): ``{name: dim}``."""
        return dict(self.fields)

    def field_index_kind(self, vector_field: str | None = None) -> str:
        """``"hnsw"`` for an ``hnsw`` collection on a server, else ``"flat"`` (local mode scans exactly).

        Args:
            vector_field: an extra vector field, or ``None`` for the main vectors (same answer).

        Returns:
            ``"flat"`` or ``"hnsw"``.
        """
        return "hnsw" if self.kind == "hnsw" and not self.options.is_local else "flat"

    def reading(self) -> AbstractContextManager[None]:
        """The read side of the client's lock in local mode (one in-process collection), a no-op on a server.

        Returns:
            A context manager.
        """
        return self.lock.read() if self.options.is_local else nullcontext()

    def index_bytes(self) -> int:
        """Estimated bytes of the vector data: ``count * sum(dims) * 4`` (float32), plus HNSW's graph
        links (``count * 2 * m * 4`` per vector field) on a server ``hnsw`` collection. Qdrant reports
        no index memory through its client.

        Returns:
            The estimate in bytes.
        """
        n = self.count()
        dims = [self.space_.dim, *self.fields.values()]
        graph = 2 * self.options.m * 4 * len(dims) if self.field_index_kind() == "hnsw" else 0
        return int(n * (sum(dims) * 4 + graph))

    # ------------------------------------------------------------------ rows

    def _records(self, rows: Sequence[int], payload: Any = True, vectors: Any = False) -> dict[int, Any]:
        out: dict[int, Any] = {}
        for start in range(0, len(rows), CHUNK):
            for rec in self.client.retrieve(self.name, ids=list(rows[start : start + CHUNK]), with_payload=payload,
                                            with_vectors=vectors):
                out[int(rec.id)] = rec
        return out

    def _stored(self, ids: Sequence[str]) -> tuple[np.ndarray, dict[int, Any]]:
        """Each id's row and the stored records whose payload id is that id (a colliding id is not stored)."""
        rows = row_handles([str(i) for i in ids])
        recs = self._records(sorted(set(rows.tolist())), payload=[ID_KEY])
        return rows, recs

    def _form(self, v: np.ndarray) -> np.ndarray:
        return normalize_rows(v) if self.metric == "cosine" else np.asarray(v, dtype=np.float32)

    def upsert_vectors(
        self, vectors: np.ndarray, documents: Sequence[Document], *, extra_vectors: Mapping[str, np.ndarray] | None = None,
        **kwargs: Any,
    ) -> list[str]:
        """Write documents with their vectors; a stored id is replaced (text, metadata, vectors; its
        cluster label and extra-field vectors not given are dropped). The row is kept.

        Args:
            vectors: (n, dim) float32, one row per document.
            documents: n documents (the id rule: :func:`~.ops.prepare_documents`).
            extra_vectors: ``{field: (n, d_field) float32}`` for extra vector fields.
            **kwargs: none taken (an unknown keyword raises).

        Returns:
            Every id passed, in order.

        Raises:
            DimensionMismatchError: vectors of another width.
            InvalidVectorError: a NaN or infinite component.
            InvalidParameterError: counts disagree, an unknown keyword or extra field, or two ids whose
                rows (63-bit hashes) collide.
        """
        from qdrant_client import models

        if kwargs:
            raise InvalidParameterError(f"QdrantVectorStore.upsert_vectors does not take {sorted(kwargs)}.")
        docs = prepare_documents(list(documents))
        v = np.asarray(vectors, dtype=np.float32)
        if v.ndim != 2 or len(v) != len(docs):
            raise InvalidParameterError(f"Got {len(v)} vectors for {len(docs)} documents: pass one vector per document.")
        if v.shape[1] != self.space_.dim:
            raise DimensionMismatchError(f"Cannot add {v.shape[1]}-d vectors to the {self.space_.dim}-d {self.where}.")
        v = self._form(check_finite(v, "document vectors"))
        extra: dict[str, np.ndarray] = {}
        for name, ev in (extra_vectors or {}).items():
            ev = np.asarray(ev, dtype=np.float32)
            if name not in self.fields or ev.shape != (len(docs), self.fields[name]):
                raise InvalidParameterError(
                    f"extra vectors {name!r} of shape {ev.shape} do not fit the vector fields {self.fields} of {self.where}."
                )
            extra[name] = self._form(check_finite(ev, f"{name} vectors"))
        keep = last_wins(docs).tolist()
        ids = [str(docs[i].id) for i in keep]
        rows = row_handles(ids)
        with self.lock.write():
            seen: dict[int, str] = {}
            for r, doc_id in zip(rows.tolist(), ids):
                if seen.setdefault(r, doc_id) != doc_id:
                    raise self._collision(doc_id, seen[r])
            for r, rec in self._records(sorted(seen), payload=[ID_KEY]).items():
                if rec.payload.get(ID_KEY) != seen[r]:
                    raise self._collision(seen[r], rec.payload.get(ID_KEY))
            points = []
            for j, i in enumerate(keep):
                vec = {VECTOR_NAME: v[i].tolist(), **{n: ev[i].tolist() for n, ev in extra.items()}}
                points.append(models.PointStruct(id=int(rows[j]), vector=vec, payload=payload_of(docs[i])))
            for start in range(0, len(points), CHUNK):
                self.client.upsert(self.name, points=points[start : start + CHUNK], wait=True)
        return [str(d.id) for d in docs]

    def _collision(self, doc_id: str, other: Any) -> InvalidParameterError:
        return InvalidParameterError(
            f"Document ids {doc_id!r} and {other!r} hash to the same row (a 63-bit hash; probability ~ n^2/2^64) in "
            f"{self.where}; rename one of them."
        )

    def delete(self, ids: list[str] | None = None, **kwargs: Any) -> bool:
        """Remove documents by id (unknown ids are not an error); ``None`` removes every document.

        Args:
            ids: the string ids to remove, or ``None`` for all.
            **kwargs: none taken (an unknown keyword raises).

        Returns:
            ``True``.

        Raises:
            InvalidParameterError: an unknown keyword.
        """
        from qdrant_client import models

        if kwargs:
            raise InvalidParameterError(f"QdrantVectorStore.delete does not take {sorted(kwargs)}.")
        with self.lock.write():
            if ids is None:
                self.client.delete(self.name, points_selector=models.FilterSelector(filter=models.Filter()), wait=True)
                return True
            rows, recs = self._stored(ids)
            wanted = {str(i) for i in ids}
            doomed = [r for r, rec in recs.items() if rec.payload.get(ID_KEY) in wanted]
            for start in range(0, len(doomed), CHUNK):
                self.client.delete(self.name, points_selector=models.PointIdsList(points=doomed[start : start + CHUNK]), wait=True)
        return True

    def all_rows(self) -> np.ndarray:
        """Every stored row (point id), ascending.

        Returns:
            1-d int64.
        """
        out: list[int] = []
        offset = None
        with self.reading():
            while True:
                recs, offset = self.client.scroll(self.name, limit=4096, offset=offset, with_payload=False, with_vectors=False)
                out += [int(r.id) for r in recs]
                if offset is None:
                    break
        return np.asarray(sorted(out), dtype=np.int64)

    def count(self) -> int:
        """The number of stored documents (an exact count).

        Returns:
            The count.
        """
        with self.reading():
            return int(self.client.count(self.name, exact=True).count)

    def rows_of(self, ids: Sequence[str]) -> np.ndarray:
        """The row of each id, ``-1`` for an id not stored.

        Args:
            ids: n document ids.

        Returns:
            (n,) int64.
        """
        with self.reading():
            rows, recs = self._stored(ids)
        return np.asarray(
            [r if r in recs and recs[r].payload.get(ID_KEY) == str(i) else -1 for r, i in zip(rows.tolist(), ids)],
            dtype=np.int64,
        )

    def _documents(self, recs: Mapping[int, Any], rows: Sequence[int]) -> list[Document]:
        out = []
        for r in rows:
            if r not in recs:
                raise KeyError(r)
            p = recs[r].payload
            out.append(Document(id=p[ID_KEY], page_content=p[TEXT_KEY], metadata=dict(p.get(METADATA_KEY) or {})))
        return out

    def documents_at(self, rows: np.ndarray | Sequence[int]) -> list[Document]:
        """The stored documents of ``rows``, in order.

        Args:
            rows: 1-d int64 rows.

        Returns:
            One ``Document`` per row.

        Raises:
            KeyError: a row that is not stored.
        """
        rows = [int(r) for r in np.asarray(rows, dtype=np.int64).ravel()]
        with self.reading():
            recs = self._records(sorted(set(r for r in rows if r >= 0)), payload=[ID_KEY, TEXT_KEY, METADATA_KEY])
        return self._documents(recs, rows)

    def vectors_at(self, rows: np.ndarray | Sequence[int], vector_field: str | None = None) -> np.ndarray:
        """The stored vectors of ``rows`` (for cosine, unit length).

        Args:
            rows: 1-d int64 rows.
            vector_field: an extra vector field, or ``None`` for the main vectors.

        Returns:
            (n, d) float32.

        Raises:
            KeyError: a row not stored, or without a vector in ``vector_field``.
            InvalidParameterError: an unknown vector field.
        """
        name = VECTOR_NAME if vector_field is None else vector_field
        if vector_field is not None and vector_field not in self.fields:
            raise InvalidParameterError(f"Vector field {vector_field!r} is not in {self.where} (fields: {sorted(self.fields)}).")
        dim = self.space_.dim if vector_field is None else self.fields[vector_field]
        rows = [int(r) for r in np.asarray(rows, dtype=np.int64).ravel()]
        if not rows:
            return np.zeros((0, dim), np.float32)
        with self.reading():
            recs = self._records(sorted(set(r for r in rows if r >= 0)), payload=False, vectors=[name])
        out = np.empty((len(rows), dim), np.float32)
        for j, r in enumerate(rows):
            vec = recs[r].vector if r in recs else None
            if not isinstance(vec, Mapping) or vec.get(name) is None:
                raise KeyError(r)
            out[j] = vec[name]
        return out

    def get_by_ids(self, ids: Sequence[str], /) -> list[Document]:
        """The stored documents of ``ids``, in order; unknown ids skipped (LangChain's rule).

        Args:
            ids: document ids.

        Returns:
            The documents found.
        """
        with self.reading():
            rows = self.rows_of(ids)
            found = [int(r) for r in rows if r >= 0]
            return self.documents_at(found) if found else []

    def iter_documents(self, batch_size: int = 1000) -> Iterator[list[Document]]:
        """Every stored document in row order, in batches (one scroll, not one read per batch of rows).

        Args:
            batch_size: documents per yielded list (>= 1).

        Returns:
            An iterator of lists of at most ``batch_size`` Documents.

        Raises:
            InvalidParameterError: ``batch_size < 1``.
        """
        if not isinstance(batch_size, int) or batch_size < 1:
            raise InvalidParameterError(f"batch_size={batch_size!r} must be an integer >= 1.")
        recs = self._scan([ID_KEY, TEXT_KEY, METADATA_KEY])
        rows = sorted(recs)
        for start in range(0, len(rows), batch_size):
            yield self._documents(recs, rows[start : start + batch_size])

    def _scan(self, payload: Any) -> dict[int, Any]:
        out: dict[int, Any] = {}
        offset = None
        with self.reading():
            while True:
                recs, offset = self.client.scroll(self.name, limit=4096, offset=offset, with_payload=payload)
                out.update((int(r.id), r) for r in recs)
                if offset is None:
                    return out

    # ------------------------------------------------------------------ search

    def _search(self, q: np.ndarray, k: int, request: SearchRequest) -> tuple[np.ndarray, np.ndarray]:
        """The Qdrant search behind :meth:`~.base.EmbStore.search_rows` (validated input): one
        ``query_batch_points`` call per ``batch_size`` queries (default 256), the filter tree as a Qdrant
        ``Filter`` (:class:`QdrantFilter`; text leaves in-process), ``candidate_rows`` as a
        ``HasIdCondition``, ``clusters`` as ``MatchAny`` on ``_cluster``.

        Args:
            q: (m, d) float32 queries (normalised here for cosine).
            k: rows per query.
            request: the validated :class:`~.base.SearchRequest`.

        Returns:
            ``(scores, rows)``: (m, k) float32 (cosine similarity, inner product or minus the Euclidean
                distance) and (m, k) int64 point ids, best first, padded with ``-inf`` / ``-1``.
        """
        q = self._form(q)
        with self.reading():
            must = self._conditions(request.filter, request.candidate_rows, request.clusters)
            if must is None:
                return empty_result(len(q), k)
            using = VECTOR_NAME if request.vector_field is None else request.vector_field
            return self._query(q, k, must, using, request.ef_search, request.batch_size or 256, request.exact)

    def filter_count(self, filter: Filter | FilterTree) -> int:
        """How many stored documents a filter keeps: Qdrant's exact ``count`` under the filter's conditions.

        Args:
            filter: a filter expression, LangChain dict or parsed tree.

        Returns:
            The number of matching documents (:meth:`count` for ``None``).

        Raises:
            InvalidParameterError: a malformed filter.
        """
        from qdrant_client import models

        tree = filter_tree(filter)
        if tree == NOTHING:
            return 0
        if tree is None:
            return int(self.count())
        with self.reading():
            must = self._conditions(tree, None, None)
            if must is None:
                return 0
            return int(self.client.count(self.name, count_filter=models.Filter(must=must), exact=True).count)

    def _conditions(self, tree: Node | Leaf | None, candidate_rows: Any, clusters: Any) -> list[Any] | None:
        """The Qdrant conditions of a search, or ``None`` when they provably match nothing."""
        from qdrant_client import models

        must: list[Any] = []
        if has_text_leaf(tree):  # evaluated in-process (module docstring), exactly as filters.evaluate_filter
            recs = self._scan([METADATA_KEY])
            rows = sorted(recs)
            keep = evaluate_filter(tree, [recs[r].payload.get(METADATA_KEY) or {} for r in rows])
            matched = [r for r, ok in zip(rows, keep.tolist()) if ok]
            if not matched:
                return None
            must.append(models.HasIdCondition(has_id=matched))
        elif tree is not None:
            must.append(QdrantFilter().visit(tree))
        if candidate_rows is not None:
            cand = sorted({int(r) for r in np.asarray(candidate_rows, dtype=np.int64).ravel() if r >= 0})
            if not cand:
                return None
            must.append(models.HasIdCondition(has_id=cand))
        if clusters is not None:
            labels = sorted({int(c) for c in clusters})
            if not labels:
                return None
            must.append(models.FieldCondition(key=CLUSTER_KEY, match=models.MatchAny(any=labels)))
        return must

    def _query(
        self, q: np.ndarray, k: int, must: list[Any], using: str, ef_search: int | None, batch: int, exact: bool = False
    ) -> tuple[np.ndarray, np.ndarray]:
        from qdrant_client import models

        params = None  # local mode scans exactly and warns about search params
        if not self.options.is_local:
            params = models.SearchParams(exact=exact or self.kind == "flat", hnsw_ef=None if ef_search is None else int(ef_search))
        flt = models.Filter(must=must) if must else None
        scores, rows = empty_result(len(q), k)
        for start in range(0, len(q), batch):
            requests = [
                models.QueryRequest(query=vec.tolist(), using=using, filter=flt, limit=k, params=params,
                                    with_payload=False, with_vector=False)
                for vec in q[start : start + batch]
            ]
            for i, res in enumerate(self.client.query_batch_points(self.name, requests=requests), start):
                pts = res.points
                s = np.asarray([p.score for p in pts], dtype=np.float32)
                scores[i, : len(pts)] = -s if self.metric == "l2" else s
                rows[i, : len(pts)] = [int(p.id) for p in pts]
        return scores, rows

    # ------------------------------------------------------------------ capabilities

    def set_cluster_labels(self, rows: np.ndarray, labels: np.ndarray) -> None:
        """Store a cluster label per row (the ``_cluster`` payload key).

        Args:
            rows: (n,) int64 rows.
            labels: (n,) integer labels.

        Raises:
            InvalidParameterError: rows and labels of other lengths.
            KeyError: a row that is not stored.
        """
        rows, labels = np.asarray(rows, dtype=np.int64).ravel(), np.asarray(labels, dtype=np.int64).ravel()
        if rows.shape != labels.shape:
            raise InvalidParameterError(f"{len(rows)} rows but {len(labels)} labels: pass one label per row.")
        with self.lock.write():
            stored = self._records(sorted(set(rows.tolist())), payload=False)
            for r in rows.tolist():
                if r not in stored:
                    raise KeyError(r)
            last = dict(zip(rows.tolist(), labels.tolist()))
            groups: dict[int, list[int]] = {}
            for r, lab in last.items():
                groups.setdefault(lab, []).append(r)
            for lab, members in groups.items():
                for start in range(0, len(members), CHUNK * 8):
                    self.client.set_payload(self.name, payload={CLUSTER_KEY: int(lab)}, points=members[start : start + CHUNK * 8],
                                            wait=True)

    def cluster_labels(self, rows: np.ndarray) -> np.ndarray:
        """The stored label of each row, ``-1`` for a row that has none.

        Args:
            rows: (n,) int64 rows.

        Returns:
            (n,) int64 labels.

        Raises:
            KeyError: a row that is not stored.
        """
        rows_l = [int(r) for r in np.asarray(rows, dtype=np.int64).ravel()]
        with self.reading():
            recs = self._records(sorted(set(rows_l)), payload=[CLUSTER_KEY])
        out = []
        for r in rows_l:
            if r not in recs:
                raise KeyError(r)
            out.append(int(recs[r].payload.get(CLUSTER_KEY, -1)))
        return np.asarray(out, dtype=np.int64)

    def ensure_vector_field(self, name: str, dim: int) -> None:
        """Create the extra vector field ``name`` (a Qdrant named vector) unless it exists at ``dim``.

        Args:
            name: the field name (not ``"vector"``).
            dim: its width.

        Raises:
            DimensionMismatchError: the field exists at another width.
            InvalidParameterError: the main vector's name, or ``dim < 1``.
        """
        if name == VECTOR_NAME or int(dim) < 1:
            raise InvalidParameterError(f"extra vector field {name!r} ({dim}-d): a name other than {VECTOR_NAME!r} and a dim >= 1.")
        if self.fields.get(name, int(dim)) != int(dim):
            raise DimensionMismatchError(f"Field {name!r} of {self.where} is {self.fields[name]}-d, not {dim}-d: pick another name.")
        if name in self.fields:
            return
        with self.lock.write():
            self._create_field(name, int(dim))
            self.fields[name] = int(dim)

    def write_vector_field(self, name: str, rows: np.ndarray, vectors: np.ndarray) -> None:
        """Write vectors of the extra field ``name`` for stored rows (the other vectors and payload stay).

        Args:
            name: an extra vector field.
            rows: (n,) int64 rows.
            vectors: (n, d_field) float32.

        Raises:
            DimensionMismatchError: vectors of another shape than (n, the field's dim).
            InvalidVectorError: a NaN or infinite component.
            KeyError: a row that is not stored.
        """
        from qdrant_client import models

        rows = np.asarray(rows, dtype=np.int64).ravel()
        v = np.asarray(vectors, dtype=np.float32)
        if name not in self.fields or v.shape != (len(rows), self.fields[name]):
            raise DimensionMismatchError(
                f"{v.shape} vectors do not fit field {name!r} ({self.fields.get(name)}-d) of {self.where} for {len(rows)} rows."
            )
        v = self._form(check_finite(v, f"{name} vectors"))
        with self.lock.write():
            stored = self._records(sorted(set(rows.tolist())), payload=False)
            for r in rows.tolist():
                if r not in stored:
                    raise KeyError(r)
            points = [models.PointVectors(id=int(r), vector={name: vec.tolist()}) for r, vec in zip(rows.tolist(), v)]
            for start in range(0, len(points), CHUNK):
                self.client.update_vectors(self.name, points=points[start : start + CHUNK], wait=True)
