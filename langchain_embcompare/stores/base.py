"""The store contract: one protocol every store implements, and the LangChain surface built on it.

A store of this package (FAISS, Redis, Milvus, the tests' in-memory fake) implements the numpy
protocol below; :class:`EmbStore` turns it into LangChain's ``VectorStore`` (``add_documents``,
``similarity_search*``, ``max_marginal_relevance_search*``, ``delete``, ``get_by_ids``,
``as_retriever``, sync and async) and every retriever of the package (plain, cluster prefilter,
Matryoshka funnel, hybrid) uses only the protocol: no store-type checks, no private attributes.

Names
    **rows**: a store's internal int64 handles (``>= 0``), one per stored document, valid until that
    document is updated or deleted (an upsert may give the document a new row). **ids**: the
    documents' string ids (``Document.id``). Padding in a result: row ``-1`` with score ``-inf``.

The protocol (what a store implements)
    ``space`` -> :class:`VectorSpace` (model, dim, prompts, rotation, precision, modality); ``metric``.

    ``upsert_vectors(vectors, documents, *, extra_vectors=None) -> list[str]``
        ``vectors``: (n, dim) float32, one per document; documents carry their ids (see the id rule).
        A document whose id is stored already replaces it (text, metadata and vector): upsert.
        ``extra_vectors``: ``{field: (n, d_field) float32}`` for the store's extra vector fields.
        Returns every id passed, in order. Raises ``DimensionMismatchError`` (wrong dim),
        ``InvalidVectorError`` (NaN/inf), ``InvalidParameterError`` (counts disagree).
    ``delete(ids=None) -> bool``
        Removes those ids (unknown ids are not an error); ``None`` removes every document.
    ``search_rows(query_vectors, k, *, filter=None, candidate_rows=None, clusters=None, vector_field=None)``
        ``query_vectors``: (m, d) float32 (``d`` = dim, or the extra field's dim). Returns
        ``(scores, rows)``: (m, k) float32 on the one score convention and (m, k) int64, best first,
        padded with ``-inf`` / ``-1`` when fewer than ``k`` documents qualify (an empty store: all
        padding). ``filter``: a filter expression or LangChain dict (:mod:`~langchain_embcompare.filters`),
        a true prefilter: when at least ``k`` documents match, ``k`` are returned.
        ``candidate_rows``: 1-d int64, search only these rows (capability ``"candidate_rows"``).
        ``clusters``: cluster labels, search only rows whose label is one of them (``"clusters"``).
        ``vector_field``: search an extra vector field instead of the main one (``"vector_fields"``).
    ``documents_at(rows) -> list[Document]``: the documents of valid rows, in order (``KeyError`` else).
    ``vectors_at(rows, vector_field=None) -> ndarray``: (n, d) float32 stored vectors (for cosine,
        unit length), for rescoring, MMR and clustering.
    ``all_rows() -> ndarray``: every stored row, ascending int64. ``count() -> int``.
    ``rows_of(ids) -> ndarray``: int64 row per id, ``-1`` for unknown ids.
    ``get_by_ids(ids) -> list[Document]``: stored documents, unknown ids skipped (LangChain's rule).

Optional capabilities, declared in ``capabilities`` (a retriever that needs one and finds it missing
raises :class:`~langchain_embcompare.errors.MissingCapabilityError` naming it):
    ``"candidate_rows"``: ``search_rows(candidate_rows=...)``.
    ``"clusters"``: ``set_cluster_labels(rows, labels)``, ``cluster_labels(rows)`` and
        ``search_rows(clusters=...)``: a per-row integer label field (the cluster prefilter).
    ``"vector_fields"``: extra vector fields (``vector_fields`` -> ``{name: dim}``),
        ``ensure_vector_field(name, dim)`` and ``write_vector_field(name, rows, vectors)``
        (the funnel's shortlist field).

Rules that hold on every store (tests in ``tests/test_store_contract.py`` run them on each store):
    * Scores: higher = more similar. ``cosine`` -> cosine similarity in [-1, 1]; ``ip`` -> inner
      product; ``l2`` -> minus the Euclidean distance. The same pair gets the same score everywhere.
    * Document ids: ``ids[i]`` if given, else ``Document.id``, else ``metadata["doc_id"]``, else a
      fresh random UUID. A document without an id never collapses into another one.
    * An empty store returns ``[]`` from every search; a filter that matches nothing likewise.
    * ``$in: []`` matches no document; a tag value is one exact value (separators inside it are
      data, not syntax).
"""

from __future__ import annotations

import abc
import asyncio
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, replace
from typing import Any, ClassVar

import numpy as np
from langchain_core.callbacks import AsyncCallbackManagerForRetrieverRun, CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings
from langchain_core.retrievers import BaseRetriever
from langchain_core.vectorstores import VectorStore
from langchain_core.vectorstores.utils import maximal_marginal_relevance
from pydantic import ConfigDict, field_validator, model_validator

from langchain_embcompare.errors import (
    InvalidParameterError,
    MissingCapabilityError,
)
from langchain_embcompare.filters import NOTHING, Filter, FilterTree, filter_tree
from langchain_embcompare.matryoshka import MatryoshkaEmbeddings, VectorSpace, as_matryoshka
from langchain_embcompare.stores.filtered import FilterPolicy

CAPABILITIES = ("candidate_rows", "clusters", "vector_fields", "full_text")


# The shared numpy operations live in ops.py (one home each); re-exported here for callers.
from langchain_embcompare.stores.ops import (  # noqa: E402,F401
    METRICS,
    as_query_matrix,
    open_grouped,
    empty_result,
    exact_scores,
    filter_matches_nothing,
    last_wins,
    normalize_rows,
    prepare_documents,
    top_k,
)


# --------------------------------------------------------------------------- one search, validated

SEARCH_KNOBS = ("ef_search", "nprobe", "batch_size")
"""The per-call search options a store may take (declared in :attr:`EmbStore.search_options`):
``ef_search`` (HNSW / binary-graph candidates), ``nprobe`` (IVF lists opened), ``batch_size`` (queries
per server round trip)."""


@dataclass(frozen=True, eq=False)
class SearchRequest:
    """One validated search, as :meth:`EmbStore.search_rows` hands it to a store's :meth:`EmbStore._search`.

    Built only by :meth:`EmbStore.search_request`, so a store never re-checks it: the capabilities
    behind ``candidate_rows`` / ``clusters`` / ``vector_field`` are present, the knobs are positive
    integers the store declared, and a request that can match nothing never reaches the store.

    Args:
        filter: the parsed filter tree (:func:`~langchain_embcompare.filters.filter_tree`), ``None``
            for no filter; never :data:`~langchain_embcompare.filters.NOTHING`.
        candidate_rows: 1-d int64 rows to search within (non-empty; may hold rows the store does not
            have, which match nothing), or ``None``.
        clusters: cluster labels to search within (non-empty), or ``None``.
        vector_field: an extra vector field of the store, or ``None`` for the main vectors.
        ef_search: HNSW (or binary graph) candidates for this call (>= 1), ``None``: the index's own.
        nprobe: IVF lists opened for this call (>= 1), ``None``: the index's own.
        batch_size: queries per server round trip (>= 1), ``None``: the store's default.
        exact: score every allowed row exactly (a brute-force scan of the filtered rows, whatever the
            index), set by the caller or by the store's :class:`~.filtered.FilterPolicy`.

    A knob the searched index does not use (``ef_search`` on a flat or IVF index, ``nprobe`` on a flat
    or HNSW one) changes nothing, on every store: that search is what it is either way.
    """

    filter: FilterTree | None = None
    candidate_rows: np.ndarray | None = None
    clusters: tuple[int, ...] | None = None
    vector_field: str | None = None
    ef_search: int | None = None
    nprobe: int | None = None
    batch_size: int | None = None
    exact: bool = False


def positive_int(name: str, value: Any) -> int | None:
    """A search knob checked the one way every store reads it: ``None`` or a positive integer.

    Args:
        name: the option's name (for the message).
        value: the value passed.

    Returns:
        ``None``, or the value as a Python ``int``.

    Raises:
        InvalidParameterError: a bool, a non-integer or a value < 1, naming the option.
    """
    if value is None:
        return None
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < 1:
        raise InvalidParameterError(f"{name}={value!r} must be a positive integer.")
    return int(value)


# --------------------------------------------------------------------------- the store base


class EmbStore(VectorStore):
    """Base of every store: the protocol (module docstring) plus LangChain's ``VectorStore`` surface.

    A store implements the abstract methods (``abc``: a class missing one cannot be instantiated) and
    overrides the capability methods it declares in :attr:`capabilities`; the others keep defaults
    that raise :class:`~langchain_embcompare.errors.MissingCapabilityError` naming what is missing.
    :meth:`search_rows` is a template method: it validates once, for every store, then calls the
    store's :meth:`_search` with one :class:`SearchRequest`.

    Class attributes:
        capabilities: the optional capabilities this store has (subset of :data:`CAPABILITIES`).
        search_options: the per-call knobs its ``search_rows`` takes (subset of :data:`SEARCH_KNOBS`);
            any other is refused by name.
        main_vector_field: the name of the main vector field on the engine (``vector_field`` equal to
            it means the main vectors), or ``None``.
        max_k: the engine's largest ``k`` (Milvus: 16384), or ``None`` for no limit.
    """

    embedding: MatryoshkaEmbeddings
    metric: str = "cosine"
    capabilities: ClassVar[frozenset[str]] = frozenset()
    search_options: ClassVar[frozenset[str]] = frozenset()
    main_vector_field: ClassVar[str | None] = None
    max_k: ClassVar[int | None] = None

    # -- the protocol ------------------------------------------------------------------------------

    @property
    @abc.abstractmethod
    def space(self) -> VectorSpace:
        """The vector space of the stored vectors (model, dim, prompts, rotation, precision, modality).

        Returns:
            The :class:`~langchain_embcompare.matryoshka.VectorSpace` recorded with the index.
        """

    @abc.abstractmethod
    def upsert_vectors(
        self, vectors: np.ndarray, documents: Sequence[Document], *, extra_vectors: Mapping[str, np.ndarray] | None = None, **kwargs: Any
    ) -> list[str]:
        """Write documents with their vectors; a stored id is replaced (text, metadata and vector).

        Args:
            vectors: (n, dim) float32, one row per document (cosine stores keep them unit length).
            documents: n documents carrying their ids (the id rule: :func:`prepare_documents`).
            extra_vectors: ``{field: (n, d_field) float32}`` for the store's extra vector fields
                (capability ``"vector_fields"``).
            **kwargs: store-specific write options (an unknown one raises).

        Returns:
            Every id passed, in order.

        Raises:
            DimensionMismatchError: vectors of another width than the store's ``dim``.
            InvalidVectorError: a NaN or infinite component.
            InvalidParameterError: vector and document counts disagree.
            InvalidDocumentError: a document the input rules refuse (:func:`prepare_documents`).
        """

    @abc.abstractmethod
    def delete(self, ids: list[str] | None = None, **kwargs: Any) -> bool | None:
        """Remove documents by id (unknown ids are not an error).

        Args:
            ids: the string ids to remove; ``None`` removes every document.
            **kwargs: store-specific options.

        Returns:
            ``True`` once done (LangChain's convention).
        """

    def search_rows(
        self,
        query_vectors: np.ndarray,
        k: int,
        *,
        filter: Filter = None,
        candidate_rows: np.ndarray | Sequence[int] | None = None,
        clusters: Sequence[int] | None = None,
        vector_field: str | None = None,
        ef_search: int | None = None,
        nprobe: int | None = None,
        batch_size: int | None = None,
        exact: bool = False,
        **options: Any,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top ``k`` rows per query vector, best first: :meth:`search_request` (the shared checks),
        then the store's :meth:`_search`; a request that can match nothing (``$in: []``, empty
        ``candidate_rows`` or ``clusters``, no query) is answered with padding without a search.

        Args:
            query_vectors: (m, d) float32 (or one (d,) vector); ``d`` = the store's dim, or the extra
                field's dim.
            k: rows per query (>= 1, at most :attr:`max_k`).
            filter: a LangChain dict, a redisvl expression or its query string, or a parsed tree
                (:mod:`~langchain_embcompare.filters`); a true prefilter: when at least ``k`` documents
                match, ``k`` are returned.
            candidate_rows: 1-d int64, search only these rows (capability ``"candidate_rows"``).
            clusters: cluster labels, search only rows whose label is one of them (``"clusters"``).
            vector_field: search this extra vector field instead of the main one (``"vector_fields"``).
            ef_search: HNSW candidates for this call (if the store takes it: :attr:`search_options`).
            nprobe: IVF lists opened for this call (likewise).
            batch_size: queries per server round trip (likewise).
            exact: score every allowed row exactly, whatever the index (every store). Without it and
                without knobs, a filtered search follows the store's :attr:`filter_policy` if set.
            **options: nothing else is taken; any raises, named.

        Returns:
            ``(scores, rows)``: (m, k) float32 (higher = more similar: cosine similarity, inner product
                or minus the L2 distance) and (m, k) int64, padded with ``-inf`` / ``-1`` when fewer
                than ``k`` documents qualify.

        Raises:
            InvalidParameterError: as :meth:`search_request`.
            MissingCapabilityError: as :meth:`search_request`.
            DimensionMismatchError: query vectors of the wrong width.
            InvalidVectorError: a NaN or infinite query component.
        """
        q, k, request = self.search_request(
            query_vectors, k, filter=filter, candidate_rows=candidate_rows, clusters=clusters,
            vector_field=vector_field, ef_search=ef_search, nprobe=nprobe, batch_size=batch_size, exact=exact, **options,
        )
        if request is None:
            return empty_result(len(q), k)
        return self._search(q, k, request)

    def search_request(
        self,
        query_vectors: np.ndarray,
        k: int,
        *,
        filter: Filter = None,
        candidate_rows: np.ndarray | Sequence[int] | None = None,
        clusters: Sequence[int] | None = None,
        vector_field: str | None = None,
        ef_search: int | None = None,
        nprobe: int | None = None,
        batch_size: int | None = None,
        exact: bool = False,
        **options: Any,
    ) -> tuple[np.ndarray, int, SearchRequest | None]:
        """The checks every search shares, done once for every store: options, ``k``, capabilities,
        the vector field, the query matrix, the filter (parsed once into its tree).

        Args:
            query_vectors: as :meth:`search_rows`.
            k: as :meth:`search_rows`.
            filter: as :meth:`search_rows`.
            candidate_rows: as :meth:`search_rows`.
            clusters: as :meth:`search_rows`.
            vector_field: as :meth:`search_rows`.
            ef_search: as :meth:`search_rows`.
            nprobe: as :meth:`search_rows`.
            batch_size: as :meth:`search_rows`.
            exact: as :meth:`search_rows`.
            **options: any raises.

        Returns:
            ``(q, k, request)``: the queries as (m, d) float32 C-contiguous finite, ``k`` as ``int``, and
                the :class:`SearchRequest`, or ``None`` when nothing can match (then the answer is
                :func:`empty_result`).

        Raises:
            InvalidParameterError: an option this store does not take (named, with those it takes), a
                knob or ``k`` that is not a positive integer (or ``k`` above :attr:`max_k`), a vector
                field the store does not have, ``exact`` that is not a bool or with a ``vector_field``, or a bad filter (:func:`~langchain_embcompare.filters.filter_tree`).
            MissingCapabilityError: ``candidate_rows`` / ``clusters`` / ``vector_field`` on a store
                without that capability.
            DimensionMismatchError: query vectors of the wrong width.
            InvalidVectorError: a NaN or infinite query component, or (cosine) a zero query vector.
        """
        knobs = {"ef_search": ef_search, "nprobe": nprobe, "batch_size": batch_size}
        refused = sorted(options) + sorted(n for n, v in knobs.items() if v is not None and n not in self.search_options)
        if refused:
            takes = ["filter", "candidate_rows", "clusters", "vector_field", *sorted(self.search_options)]
            raise InvalidParameterError(
                f"{type(self).__name__}.search_rows got unknown options {refused}; it takes {takes}."
            )
        knobs = {n: positive_int(n, v) for n, v in knobs.items()}
        if not isinstance(exact, (bool, np.bool_)):
            raise InvalidParameterError(f"exact={exact!r} must be a bool.")
        if isinstance(k, (bool, np.bool_)) or not isinstance(k, (int, np.integer)) or k < 1:
            raise InvalidParameterError(f"k={k!r} must be a positive integer.")
        if self.max_k is not None and k > self.max_k:
            raise InvalidParameterError(f"k={k!r} must be an integer in [1, {self.max_k}] ({type(self).__name__}'s top-k limit).")
        k = int(k)
        if vector_field is not None and vector_field == self.main_vector_field:
            vector_field = None
        if exact and vector_field is not None:
            raise InvalidParameterError(
                f"exact=True searches the main vectors; it is not supported with vector_field={vector_field!r} on any store."
            )
        self.check_search_args(candidate_rows, clusters, vector_field)
        if vector_field is None:
            dim, where = self.space.dim, f"index of this {type(self).__name__} (model {self.space.model!r})"
        else:
            dim, where = self.vector_fields[vector_field], f"vector field {vector_field!r} of this {type(self).__name__}"
        q = as_query_matrix(query_vectors, dim, where)
        if self.metric == "cosine" and len(q) and not (q != 0).any(axis=1).all():
            normalize_rows(q, "query vectors")  # raises: a zero query has no direction (one rule, every store)
        tree = filter_tree(filter)
        rows = None if candidate_rows is None else np.asarray(candidate_rows, dtype=np.int64).ravel()
        labels = None if clusters is None else tuple(int(c) for c in np.asarray(list(clusters), dtype=np.int64).ravel())
        if len(q) == 0 or tree == NOTHING or (rows is not None and len(rows) == 0) or (labels is not None and not labels):
            return q, k, None
        request = SearchRequest(tree, rows, labels, vector_field, **knobs, exact=bool(exact))
        return q, k, self.apply_filter_policy(request)

    filter_policy: FilterPolicy | None = None
    """The store's :class:`~.filtered.FilterPolicy` (``None``: searches run as asked); set it with
    :meth:`set_filter_policy`."""

    def set_filter_policy(self, policy: FilterPolicy | None) -> None:
        """Attach a :class:`~.filtered.FilterPolicy` (or ``None`` to remove it): from then on a filtered
        search that names no knob, no ``exact`` and no ``candidate_rows`` / ``clusters`` / ``vector_field``
        runs with the setting the policy chooses for the filter's selectivity (:meth:`filter_count`).

        Args:
            policy: the policy (calibrated on this store's index kind), or ``None``.

        Raises:
            InvalidParameterError: a policy calibrated on another index kind than this store's.
        """
        if policy is not None and policy.index_kind != self.field_index_kind():
            raise InvalidParameterError(
                f"this FilterPolicy was calibrated on a {policy.index_kind!r} index; {type(self).__name__}'s "
                f"index is {self.field_index_kind()!r}: calibrate one on this store (calibrate_filter_policy)."
            )
        self.filter_policy = policy

    def apply_filter_policy(self, request: SearchRequest) -> SearchRequest:
        """The request with the setting :attr:`filter_policy` chooses for its filter's selectivity, or
        the request unchanged (no policy, no filter, or a knob / ``exact`` / ``candidate_rows`` /
        ``clusters`` / ``vector_field`` given by the caller).

        Args:
            request: a validated :class:`SearchRequest`.

        Returns:
            The request to run.
        """
        policy = self.filter_policy
        if (policy is None or request.filter is None or request.exact or request.ef_search or request.nprobe
                or request.candidate_rows is not None or request.clusters is not None or request.vector_field is not None):
            return request
        setting = policy.choose(self.filter_selectivity(request.filter))
        return replace(request, exact=setting.exact, ef_search=setting.ef_search, nprobe=setting.nprobe)

    def filter_selectivity(self, filter: Filter | FilterTree) -> float:
        """The fraction of stored documents a filter keeps: :meth:`filter_count` / :meth:`count` (a server
        store may ask both in one round trip).

        Args:
            filter: a filter expression, LangChain dict or parsed tree.

        Returns:
            The fraction in [0, 1] (0 for an empty store).

        Raises:
            MissingCapabilityError: the store cannot count (the default :meth:`filter_count`).
        """
        total = self.count()
        return min(1.0, self.filter_count(filter) / total) if total else 0.0

    def filter_count(self, filter: Filter | FilterTree) -> int:
        """How many stored documents a filter keeps (its selectivity times :meth:`count`), cheaply: FAISS
        sums its row mask, Redis runs a ``LIMIT 0 0`` count query, Milvus ``count(*)`` over the
        expression, Qdrant ``count``.

        Args:
            filter: a filter expression, LangChain dict or parsed tree.

        Returns:
            The number of matching documents (>= 0).

        Raises:
            MissingCapabilityError: the store cannot count (the default).
        """
        raise MissingCapabilityError(f"{type(self).__name__} cannot count the documents a filter keeps (filter_count).")

    @abc.abstractmethod
    def _search(self, q: np.ndarray, k: int, request: SearchRequest) -> tuple[np.ndarray, np.ndarray]:
        """The store's own search, called by :meth:`search_rows` with validated input.

        Args:
            q: (m, d) float32 C-contiguous finite queries, m >= 1, ``d`` the searched field's width (not
                normalised: a cosine store normalises them itself).
            k: rows per query (>= 1, at most :attr:`max_k`).
            request: the validated :class:`SearchRequest` (never one that matches nothing).

        Returns:
            ``(scores, rows)``: (m, k) float32 on the score convention and (m, k) int64, best first,
                padded with ``-inf`` / ``-1``.

        Raises:
            InvalidParameterError: a filter the engine cannot run, or ``clusters`` before any labels.
            StoreTimeoutError: a server store's query ran past its time limit.
            StoreConnectionError: a server store is unreachable.
        """

    @abc.abstractmethod
    def documents_at(self, rows: np.ndarray | Sequence[int]) -> list[Document]:
        """The stored documents of valid rows, in order.

        Args:
            rows: 1-d int64 row handles (``>= 0``).

        Returns:
            One ``Document`` per row, with its id.

        Raises:
            KeyError: a row that is not stored.
        """

    @abc.abstractmethod
    def vectors_at(self, rows: np.ndarray | Sequence[int], vector_field: str | None = None) -> np.ndarray:
        """The stored vectors of valid rows, for rescoring, MMR and clustering.

        Args:
            rows: 1-d int64 row handles (``>= 0``).
            vector_field: an extra vector field, or ``None`` for the main vectors.

        Returns:
            (n, d) float32, one row per handle (for cosine, unit length).

        Raises:
            KeyError: a row that is not stored.
        """

    @abc.abstractmethod
    def all_rows(self) -> np.ndarray:
        """Every stored row.

        Returns:
            1-d int64, ascending.
        """

    @abc.abstractmethod
    def count(self) -> int:
        """The number of stored documents.

        Returns:
            The document count (>= 0).
        """

    @abc.abstractmethod
    def rows_of(self, ids: Sequence[str]) -> np.ndarray:
        """The row of each document id.

        Args:
            ids: n document ids (a non-string id is looked up as its ``str``).

        Returns:
            (n,) int64, ``-1`` for an unknown id.
        """

    @abc.abstractmethod
    def get_by_ids(self, ids: Sequence[str], /) -> list[Document]:
        """The stored documents of these ids (LangChain's ``VectorStore.get_by_ids``).

        Args:
            ids: document ids.

        Returns:
            The stored documents, in the order of ``ids``; unknown ids are skipped (LangChain's rule).
        """

    @abc.abstractmethod
    def index_bytes(self) -> int:
        """Bytes the store's search structures take (vector index and its row bookkeeping), as the
        engine reports them, for the memory column of evaluation reports.

        Returns:
            Bytes (int >= 0).
        """

    # optional capabilities: defaults that say what is missing
    @property
    def vector_fields(self) -> dict[str, int]:
        """Extra vector fields ``{name: dim}`` (capability ``"vector_fields"``); none by default."""
        return {}

    def field_index_kind(self, vector_field: str | None = None) -> str:
        """The kind of index that answers a search of ``vector_field`` (``None``: the main vectors):
        ``"flat"`` (exact), ``"hnsw"`` (takes ``ef_search``), ``"ivf"`` (takes ``nprobe``) or
        ``"binary"`` (sign bits, Hamming; takes ``ef_search``). What a calibration tunes
        (:meth:`MatryoshkaFunnelRetriever.calibrate`); ``"flat"`` by default.

        Args:
            vector_field: an extra vector field, or ``None`` for the main vectors.

        Returns:
            ``"flat"``, ``"hnsw"``, ``"ivf"`` or ``"binary"``.
        """
        return "flat"

    def search_cluster_lists(
        self, query_vectors: np.ndarray, k: int, cluster_lists: np.ndarray, *, filter: Filter = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top ``k`` of each query among the documents of ITS OWN clusters (capability ``"clusters"``).

        The default runs one ``search_rows(clusters=[c])`` per distinct cluster over
        the queries that open it and merges (:func:`~langchain_embcompare.stores.ops.open_grouped`);
        in-process stores answer in one pass (FAISS: :meth:`ClusterBlocks.search_lists`).

        Args:
            query_vectors: (m, dim) float32 query vectors.
            k: rows per query (>= 1).
            cluster_lists: (m, w) int64 cluster labels per query, ``-1`` = none.
            filter: a filter expression or LangChain dict, applied as a prefilter.

        Returns:
            ``(scores, rows)``: (m, k) float32 and (m, k) int64 as :meth:`search_rows`, padded with
                ``-inf`` / ``-1``.

        Raises:
            MissingCapabilityError: the store lacks the ``"clusters"`` capability.
        """
        self.require("clusters", "search_cluster_lists")
        q = np.asarray(query_vectors, dtype=np.float32)

        def group(c: int, qi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            return self.search_rows(q[qi], k, filter=filter, clusters=[c])

        return open_grouped(np.arange(len(q)), np.asarray(cluster_lists, dtype=np.int64), k, group)

    def set_cluster_labels(self, rows: np.ndarray, labels: np.ndarray) -> None:
        """Store a cluster label per row (capability ``"clusters"``; the cluster prefilter).

        Args:
            rows: (n,) int64 row handles.
            labels: (n,) integer cluster labels, one per row.

        Raises:
            MissingCapabilityError: the store lacks the ``"clusters"`` capability (the default).
        """
        raise self.missing("clusters", "set_cluster_labels")

    def cluster_labels(self, rows: np.ndarray) -> np.ndarray:
        """The stored cluster label of each row (capability ``"clusters"``).

        Args:
            rows: (n,) int64 row handles.

        Returns:
            (n,) int64 labels.

        Raises:
            MissingCapabilityError: the store lacks the ``"clusters"`` capability (the default).
        """
        raise self.missing("clusters", "cluster_labels")

    def ensure_vector_field(self, name: str, dim: int) -> None:
        """Create the extra vector field ``name`` unless it exists (capability ``"vector_fields"``).

        Args:
            name: the field name.
            dim: the field's vector width (number of float32 components).

        Raises:
            MissingCapabilityError: the store lacks the ``"vector_fields"`` capability (the default).
        """
        raise self.missing("vector_fields", "ensure_vector_field")

    def write_vector_field(self, name: str, rows: np.ndarray, vectors: np.ndarray) -> None:
        """Write vectors of the extra field ``name`` for existing rows (capability ``"vector_fields"``).

        Args:
            name: an extra vector field created by :meth:`ensure_vector_field`.
            rows: (n,) int64 row handles.
            vectors: (n, d_field) float32, one per row.

        Raises:
            MissingCapabilityError: the store lacks the ``"vector_fields"`` capability (the default).
        """
        raise self.missing("vector_fields", "write_vector_field")

    def reading(self) -> AbstractContextManager[None]:
        """A context in which the store's rows stay put: a search and the ``documents_at`` /
        ``vectors_at`` that follow it run inside one (``search_vectors``, MMR), so they see one
        snapshot even while other threads write. In-process stores return their readers-writer
        lock's read side (:class:`~langchain_embcompare.stores.locking.ReadWriteLock`); server stores,
        whose rows stay valid across writes of other documents, a no-op (the default).

        Returns:
            A context manager holding the read side while entered.
        """
        return nullcontext()

    def flush(self) -> None:
        """Make every write so far searchable through the store's built index (default: nothing to do).

        Stores that serve fresh writes from a temporary structure first override it: a Milvus server
        answers new rows from an interim IVF index until they are sealed, indexed and reloaded (recall@10
        0.91 whatever ``ef_search`` on SciFact with HNSW, measured on Milvus 2.3.5). Evaluation calls it
        after every bulk ingest, so what it measures is the index asked for.

        Raises:
            StoreTimeoutError: the store could not finish its index in time (store-specific).
        """

    def full_text_search(self, queries: Sequence[str], k: int = 4) -> list[list[tuple[Document, float]]]:
        """BM25 full-text search by the store's own engine (capability ``"full_text"``): per query the
        top-``k`` ``(Document, BM25 score)``, best first, scores > 0 (a document sharing no analysed term
        with the query is not returned, so a query may get fewer than ``k``; a blank query none).

        A store without an engine keeps this default, and the lexical arm
        (``retrievers.lexical.lexical_retriever_for``) runs bm25s over :meth:`iter_documents` instead.

        Args:
            queries: query strings.
            k: hits per query (>= 1).

        Returns:
            Per query, ``[(Document, score)]`` best first.

        Raises:
            MissingCapabilityError: the store has no full-text engine (this default).
        """
        raise self.missing("full_text", "full_text_search")

    def full_text_settings(self) -> dict[str, Any]:
        """The full-text engine's settings (engine name, its BM25 parameters, analyzer), recorded with a run
        whose lexical arm is this engine (``StoreFullTextRetriever.settings_dict``).

        Returns:
            A JSON-ready dict with at least ``"engine"``.

        Raises:
            MissingCapabilityError: the store has no full-text engine (this default).
        """
        raise self.missing("full_text", "full_text_settings")

    def iter_documents(self, batch_size: int = 1000) -> Iterator[list[Document]]:
        """Every stored document, in batches, in row order (``all_rows()``): for consumers that need the
        corpus itself (the bm25s lexical arm, clustering maps) on any store.

        Args:
            batch_size: documents per yielded list (>= 1).

        Returns:
            An iterator of lists of at most ``batch_size`` Documents (ids set).

        Raises:
            InvalidParameterError: ``batch_size < 1``.
        """
        if not isinstance(batch_size, int) or batch_size < 1:
            raise InvalidParameterError(f"batch_size={batch_size!r} must be an integer >= 1.")
        rows = self.all_rows()
        for start in range(0, len(rows), batch_size):
            yield self.documents_at(rows[start : start + batch_size])

    def missing(self, capability: str, what: str) -> MissingCapabilityError:
        """The error a retriever raises when this store lacks ``capability``.

        Args:
            capability: the missing capability (one of :data:`CAPABILITIES`).
            what: the operation asked for, named in the message.

        Returns:
            The error (not raised), naming the store, the operation and the capabilities it has.
        """
        return MissingCapabilityError(
            f"{type(self).__name__} does not support {what!r} (capability {capability!r}; this store has "
            f"{sorted(self.capabilities) or 'none'}). Use a store that has it, or the retriever's fallback."
        )

    def require(self, capability: str, what: str) -> None:
        """Raise :class:`MissingCapabilityError` unless this store declares ``capability``.

        Args:
            capability: the capability needed (one of :data:`CAPABILITIES`).
            what: the operation asked for, named in the message.

        Raises:
            MissingCapabilityError: the store does not declare ``capability``.
        """
        if capability not in self.capabilities:
            raise self.missing(capability, what)

    def check_search_args(
        self, candidate_rows: Any, clusters: Any, vector_field: Any
    ) -> None:
        """Refuse options this store does not support, naming them (never ignore them silently).

        Args:
            candidate_rows: ``search_rows``'s ``candidate_rows`` (``None``: not used).
            clusters: ``search_rows``'s ``clusters`` (``None``: not used).
            vector_field: ``search_rows``'s ``vector_field`` (``None``: the main vectors).

        Raises:
            MissingCapabilityError: an option needs a capability this store lacks.
            InvalidParameterError: ``vector_field`` is not one of the store's extra vector fields.
        """
        if candidate_rows is not None:
            self.require("candidate_rows", "search_rows(candidate_rows=...)")
        if clusters is not None:
            self.require("clusters", "search_rows(clusters=...)")
        if vector_field is not None:
            self.require("vector_fields", "search_rows(vector_field=...)")
            if vector_field not in self.vector_fields:
                raise InvalidParameterError(
                    f"Vector field {vector_field!r} is not in this {type(self).__name__} "
                    f"(extra vector fields: {sorted(self.vector_fields)}); create it first (ensure_vector_field; "
                    "a server store declares it in its index spec's extra_vector_fields)."
                )

    # -- conveniences on the protocol -------------------------------------------------------------

    @property
    def embeddings(self) -> Embeddings:
        return self.embedding

    def __len__(self) -> int:
        return self.count()

    def check_query_embedding(self, embedding: Embeddings) -> MatryoshkaEmbeddings:
        """Refuse an embeddings object whose vectors live in another space than the index's.

        Args:
            embedding: any LangChain ``Embeddings`` (wrapped by :func:`as_matryoshka`).

        Returns:
            The embeddings as :class:`MatryoshkaEmbeddings`, in this store's vector space.

        Raises:
            DimensionMismatchError: the embeddings' dimension differs from the store's.
            VectorSpaceMismatchError: another field of the vector space differs
                (:meth:`VectorSpace.check_same`).
            ModalityMismatchError: the two spaces share no modality.
        """
        emb = as_matryoshka(embedding)
        self.space.check_same(emb.space, where=type(self).__name__)
        return emb

    def hits(self, scores: np.ndarray, rows: np.ndarray) -> list[list[tuple[Document, float]]]:
        """``search_rows`` output as LangChain hits: per query a list of (Document, score), padding dropped.
        One ``documents_at`` call for the whole batch.

        Args:
            scores: (m, k) float32 scores from :meth:`search_rows`.
            rows: (m, k) int64 rows from :meth:`search_rows`, ``-1`` = padding.

        Returns:
            Per query, ``[(Document, score)]`` best first, padding dropped.
        """
        valid = rows >= 0
        uniq = np.unique(rows[valid])
        docs = dict(zip(uniq.tolist(), self.documents_at(uniq))) if len(uniq) else {}
        return [
            [(docs[r], float(s)) for s, r, ok in zip(srow.tolist(), rrow.tolist(), vrow.tolist()) if ok]
            for srow, rrow, vrow in zip(scores, rows, valid)
        ]

    def search_vectors(
        self, query_vectors: np.ndarray, k: int = 4, filter: Filter = None, **kwargs: Any
    ) -> list[list[tuple[Document, float]]]:
        """Top ``k`` (Document, score) per query vector: :meth:`search_rows` + :meth:`documents_at`.

        Args:
            query_vectors: (m, d) float32 query vectors.
            k: documents per query.
            filter: a filter expression or LangChain dict, or ``None``.
            **kwargs: :meth:`search_rows` options (``candidate_rows``, ``clusters``, ``vector_field``,
                ``ef_search``, ``nprobe``, ...).

        Returns:
            Per query, ``[(Document, score)]`` best first (higher = more similar), padding dropped.
        """
        with self.reading():
            return self.hits(*self.search_rows(query_vectors, k, filter=filter, **kwargs))

    # -- LangChain: adding ------------------------------------------------------------------------

    def add_documents(self, documents: list[Document], ids: list[str] | None = None, **kwargs: Any) -> list[str]:
        """Embed and upsert documents (the id rule: :func:`prepare_documents`), on every store alike.

        ``skip_existing=True`` embeds and writes only the documents whose id is not stored yet (resume an
        interrupted ingest without paying for the model twice); it needs stable ids, so a document
        without an explicit id (``ids``, ``Document.id`` or ``metadata["doc_id"]``) is refused.

        Args:
            documents: the documents to embed and store.
            ids: one id per document, overriding ``Document.id`` (also accepted in ``kwargs``).
            **kwargs: ``skip_existing`` (see above); ``batch_size`` (as LangChain's indexing API passes
                it) embeds and writes in chunks of that size; the rest goes to :meth:`upsert_vectors`.

        Returns:
            Every id, in order (skipped ones included).

        Raises:
            InvalidParameterError: ``batch_size`` is not positive, or ``skip_existing=True`` and a document
                has no explicit id.
            EmptyInputError: no documents (from :func:`prepare_documents`).
            InvalidDocumentError: a document breaking an input rule.
        """
        if ids is None and "ids" in kwargs:
            ids = kwargs.pop("ids")
        batch_size = kwargs.pop("batch_size", None)
        skip_existing = bool(kwargs.pop("skip_existing", False))
        if skip_existing:
            no_id = [
                i for i, d in enumerate(documents)
                if (ids is None or ids[i] is None) and not d.id and not d.metadata.get("doc_id")
            ]
            if no_id:
                raise InvalidParameterError(
                    f"skip_existing=True needs stable document ids, but {len(no_id)} documents have none (e.g. "
                    f"position {no_id[0]}): a fresh random id never matches a stored one. Set Document.id, "
                    "metadata['doc_id'] or pass ids=."
                )
        docs = prepare_documents(documents, ids)
        step = len(docs) if not batch_size else int(batch_size)
        if step <= 0:
            raise InvalidParameterError(f"batch_size must be positive, got {batch_size}.")
        todo = docs
        if skip_existing:
            present = self.rows_of([str(d.id) for d in docs]) >= 0
            todo = [d for d, p in zip(docs, present.tolist()) if not p]
        for start in range(0, len(todo), step):
            chunk = todo[start : start + step]
            vectors = self.embedding.encode_documents([d.page_content for d in chunk])
            self.upsert_vectors(vectors, chunk, **kwargs)
        return [str(d.id) for d in docs]

    def add_texts(
        self, texts: Iterable[str], metadatas: list[dict] | None = None, *, ids: list[str] | None = None, **kwargs: Any
    ) -> list[str]:
        texts = list(texts)
        if not texts:
            return []
        metadatas = metadatas or [{} for _ in texts]
        docs = [Document(page_content=t, metadata=m) for t, m in zip(texts, metadatas)]
        return self.add_documents(docs, ids=ids, **kwargs)

    async def aadd_documents(self, documents: list[Document], **kwargs: Any) -> list[str]:
        return await asyncio.to_thread(self.add_documents, documents, **kwargs)

    async def aadd_texts(self, texts: Iterable[str], metadatas: list[dict] | None = None, **kwargs: Any) -> list[str]:
        return await asyncio.to_thread(self.add_texts, list(texts), metadatas, **kwargs)

    async def adelete(self, ids: list[str] | None = None, **kwargs: Any) -> bool | None:
        return await asyncio.to_thread(self.delete, ids, **kwargs)

    async def aget_by_ids(self, ids: Sequence[str], /) -> list[Document]:
        return await asyncio.to_thread(self.get_by_ids, ids)

    # -- LangChain: searching ---------------------------------------------------------------------

    def _query_matrix(self, embedding: Sequence[float] | np.ndarray) -> np.ndarray:
        return as_query_matrix(embedding, self.space.dim, f"{type(self).__name__} (model {self.space.model!r})")

    def similarity_search_with_score_by_vector(
        self, embedding: Sequence[float] | np.ndarray, k: int = 4, filter: Filter = None, **kwargs: Any
    ) -> list[tuple[Document, float]]:
        """The ``k`` documents nearest to one query vector, with their scores, best first.

        Args:
            embedding: one query vector, (dim,) floats in this store's vector space (already embedded).
            k: how many documents at most.
            filter: a redisvl filter expression, a LangChain-style dict, or None.
            **kwargs: search options the store supports (``ef_search``, ``nprobe``, ...); an unsupported
                one raises.

        Returns:
            ``[(Document, score)]``, score higher = more similar (cosine similarity, inner product or
                minus the L2 distance); ``[]`` on an empty store or a filter that matches nothing.

        Raises:
            DimensionMismatchError: the vector's width is not the store's dimension.
            InvalidParameterError: an unsupported search option or a bad filter.
        """
        return self.search_vectors(self._query_matrix(embedding), k=k, filter=filter, **kwargs)[0]

    def similarity_search_by_vector(
        self, embedding: list[float], k: int = 4, filter: Filter = None, **kwargs: Any
    ) -> list[Document]:
        return [d for d, _ in self.similarity_search_with_score_by_vector(embedding, k, filter, **kwargs)]

    def similarity_search_with_score(
        self, query: str, k: int = 4, filter: Filter = None, **kwargs: Any
    ) -> list[tuple[Document, float]]:
        q = self.embedding.encode_queries([query])
        return self.search_vectors(q, k=k, filter=filter, **kwargs)[0]

    def similarity_search(self, query: str, k: int = 4, filter: Filter = None, **kwargs: Any) -> list[Document]:
        return [d for d, _ in self.similarity_search_with_score(query, k, filter, **kwargs)]

    async def asimilarity_search_with_score(self, query: str, k: int = 4, **kwargs: Any) -> list[tuple[Document, float]]:
        return await asyncio.to_thread(self.similarity_search_with_score, query, k, **kwargs)

    async def asimilarity_search(self, query: str, k: int = 4, **kwargs: Any) -> list[Document]:
        return await asyncio.to_thread(self.similarity_search, query, k, **kwargs)

    async def asimilarity_search_by_vector(self, embedding: list[float], k: int = 4, **kwargs: Any) -> list[Document]:
        return await asyncio.to_thread(self.similarity_search_by_vector, embedding, k, **kwargs)

    def _select_relevance_score_fn(self):  # noqa: ANN202 - LangChain's hook
        """Relevance in [0, 1] from our scores: cosine/ip ``(s + 1) / 2``; l2 ``1 / (1 + distance)``."""
        if self.metric == "l2":
            return lambda s: 1.0 / (1.0 - s)
        return lambda s: (s + 1.0) / 2.0

    def relevance(self, scores: np.ndarray) -> np.ndarray:
        """:meth:`_select_relevance_score_fn` applied to an array of scores (vectorised).

        Args:
            scores: store scores, any shape (cosine / ip similarity, or minus the L2 distance).

        Returns:
            float64 relevance in [0, 1], same shape: cosine/ip ``(s + 1) / 2``; l2 ``1 / (1 + distance)``.
        """
        s = np.asarray(scores, dtype=np.float64)
        return 1.0 / (1.0 - s) if self.metric == "l2" else (s + 1.0) / 2.0

    def _similarity_search_with_relevance_scores(
        self, query: str, k: int = 4, **kwargs: Any
    ) -> list[tuple[Document, float]]:
        fn = self._select_relevance_score_fn()
        return [(d, fn(s)) for d, s in self.similarity_search_with_score(query, k, **kwargs)]

    # -- MMR --------------------------------------------------------------------------------------

    def mmr_rows(
        self, query_vectors: np.ndarray, k: int = 4, fetch_k: int = 20, lambda_mult: float = 0.5, filter: Filter = None
    ) -> list[list[tuple[int, float]]]:
        """Maximal marginal relevance (Carbonell & Goldstein 1998) per query: fetch ``fetch_k`` by
        similarity, then pick ``k`` with langchain-core's ``maximal_marginal_relevance`` on the stored
        full-dimension vectors (cosine similarity, as LangChain's stores do).

        Args:
            query_vectors: (m, dim) float32 query vectors (or one (dim,) vector).
            k: rows to pick per query (>= 1).
            fetch_k: candidates fetched by similarity before the pick (>= 1).
            lambda_mult: in [0, 1]; 1 = pure relevance, 0 = pure diversity.
            filter: a filter expression or LangChain dict, or ``None``.

        Returns:
            Per query, the picked ``[(row, score)]`` in pick order (score: the store's similarity).

        Raises:
            InvalidParameterError: ``lambda_mult`` outside [0, 1], or ``k`` / ``fetch_k`` not positive.
        """
        if not 0.0 <= lambda_mult <= 1.0:
            raise InvalidParameterError(f"lambda_mult must be in [0, 1], got {lambda_mult}.")
        if k <= 0 or fetch_k <= 0:
            raise InvalidParameterError(f"k and fetch_k must be positive, got k={k}, fetch_k={fetch_k}.")
        q = self._query_matrix(query_vectors)
        with self.reading():
            scores, rows = self.search_rows(q, max(fetch_k, k), filter=filter)
            out = []
            for qi in range(len(q)):
                keep = rows[qi] >= 0
                r, s = rows[qi][keep], scores[qi][keep]
                if len(r) == 0:
                    out.append([])
                    continue
                picked = maximal_marginal_relevance(q[qi], self.vectors_at(r), lambda_mult=lambda_mult, k=min(k, len(r)))
                out.append([(int(r[i]), float(s[i])) for i in picked])
        return out

    def max_marginal_relevance_search_by_vector(
        self, embedding: Sequence[float] | np.ndarray, k: int = 4, fetch_k: int = 20, lambda_mult: float = 0.5,
        filter: Filter = None, **kwargs: Any,
    ) -> list[Document]:
        with self.reading():
            picked = self.mmr_rows(self._query_matrix(embedding), k, fetch_k, lambda_mult, filter)[0]
            return self.documents_at(np.asarray([r for r, _ in picked], dtype=np.int64)) if picked else []

    def max_marginal_relevance_search(
        self, query: str, k: int = 4, fetch_k: int = 20, lambda_mult: float = 0.5, filter: Filter = None, **kwargs: Any
    ) -> list[Document]:
        q = self.embedding.encode_queries([query])
        return self.max_marginal_relevance_search_by_vector(q[0], k, fetch_k, lambda_mult, filter, **kwargs)

    async def amax_marginal_relevance_search(
        self, query: str, k: int = 4, fetch_k: int = 20, lambda_mult: float = 0.5, **kwargs: Any
    ) -> list[Document]:
        return await asyncio.to_thread(self.max_marginal_relevance_search, query, k, fetch_k, lambda_mult, **kwargs)

    async def amax_marginal_relevance_search_by_vector(
        self, embedding: list[float], k: int = 4, fetch_k: int = 20, lambda_mult: float = 0.5, **kwargs: Any
    ) -> list[Document]:
        return await asyncio.to_thread(
            self.max_marginal_relevance_search_by_vector, embedding, k, fetch_k, lambda_mult, **kwargs
        )

    # -- retriever and constructors ---------------------------------------------------------------

    def as_retriever(self, **kwargs: Any) -> EmbRetriever:  # type: ignore[override]
        """An :class:`EmbRetriever` with LangChain's arguments: ``search_type`` (``"similarity"``,
        ``"mmr"``, ``"similarity_score_threshold"``) and ``search_kwargs`` (``k``, ``filter``,
        ``fetch_k``, ``lambda_mult``, ``score_threshold``); also accepted as direct keywords.

        Args:
            **kwargs: ``search_type``, ``search_kwargs``, ``tags``, ``metadata`` and the search kwargs
                as direct keywords.

        Returns:
            The retriever over this store.

        Raises:
            InvalidParameterError: an unknown search type or a kwarg that type does not take, naming
                the allowed ones.
            pydantic.ValidationError: ``k`` or ``fetch_k`` not positive.
        """
        search_kwargs = dict(kwargs.pop("search_kwargs", None) or {})
        tags = kwargs.pop("tags", None)
        metadata = kwargs.pop("metadata", None)
        params = {**search_kwargs, **kwargs}
        extra = {k: v for k, v in (("tags", tags), ("metadata", metadata)) if v is not None}
        check_search_kwargs({"store": self, **params, **extra})
        return EmbRetriever(store=self, **params, **extra)

    @classmethod
    def from_texts(
        cls, texts: list[str], embedding: Embeddings, metadatas: list[dict] | None = None, **kwargs: Any
    ) -> EmbStore:
        ids = kwargs.pop("ids", None)
        store = cls(embedding, **kwargs)  # type: ignore[call-arg]
        store.add_texts(texts, metadatas, ids=ids)
        return store

    @classmethod
    def from_documents(cls, documents: list[Document], embedding: Embeddings, **kwargs: Any) -> EmbStore:
        ids = kwargs.pop("ids", None)
        store = cls(embedding, **kwargs)  # type: ignore[call-arg]
        store.add_documents(documents, ids=ids)
        return store


# --------------------------------------------------------------------------- retrievers on the protocol


def with_scores(hits: list[tuple[Document, float]], **extra: Any) -> list[Document]:
    """Copies of the hit documents with ``metadata["score"]`` set (the store's documents stay untouched).

    Args:
        hits: ``[(Document, score)]``.
        **extra: more metadata keys set on every copy.

    Returns:
        The copied documents, in order.
    """
    return [
        Document(page_content=d.page_content, metadata={**d.metadata, "score": s, **extra}, id=d.id) for d, s in hits
    ]


class BatchRetriever(BaseRetriever):
    """A retriever whose one job is ``search_batch(queries)``: single queries, sync and async, go
    through it, and evaluation calls it directly with the whole query set."""

    def search_batch(self, queries: list[str], k: int | None = None, filter: Any = None) -> list[list[Document]]:
        """Retrieve for many queries at once.

        Args:
            queries: the query texts.
            k: documents per query (``None``: the retriever's ``k``).
            filter: a filter expression or LangChain dict overriding the retriever's (``None``: its own).

        Returns:
            Per query, its documents best first, each with ``metadata["score"]``.

        Raises:
            NotImplementedError: a subclass that does not implement it.
        """
        raise NotImplementedError

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun, **kwargs: Any
    ) -> list[Document]:
        return self.search_batch([query], **kwargs)[0]

    async def _aget_relevant_documents(
        self, query: str, *, run_manager: AsyncCallbackManagerForRetrieverRun, **kwargs: Any
    ) -> list[Document]:
        return (await asyncio.to_thread(self.search_batch, [query], **kwargs))[0]


SEARCH_TYPES = ("similarity", "mmr", "similarity_score_threshold")
_SEARCH_KWARGS = {
    "similarity": {"k", "filter"},
    "mmr": {"k", "filter", "fetch_k", "lambda_mult"},
    "similarity_score_threshold": {"k", "filter", "score_threshold"},
}


def check_search_kwargs(data: Mapping[str, Any]) -> None:
    """Raise ``InvalidParameterError`` for an unknown ``search_type`` or a kwarg that type does not take
    (named with the allowed ones), as :meth:`EmbStore.as_retriever` promises.

    Args:
        data: the retriever's fields (``search_type``, ``k``, ``filter``, ``score_threshold``, ...).

    Raises:
        InvalidParameterError: an unknown ``search_type``, a kwarg that type does not take, or a
            ``score_threshold`` missing or outside [0, 1] for ``"similarity_score_threshold"``.
    """
    st = data.get("search_type", "similarity")
    if st not in SEARCH_TYPES:
        raise InvalidParameterError(f"search_type={st!r} is not supported; use one of {list(SEARCH_TYPES)}.")
    allowed = _SEARCH_KWARGS[st] | {"store", "search_type", "tags", "metadata", "callbacks", "verbose", "name"}
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise InvalidParameterError(
            f"search_type={st!r} does not take {unknown}; its search_kwargs are {sorted(_SEARCH_KWARGS[st])}."
        )
    if st == "similarity_score_threshold":
        t = data.get("score_threshold")
        if t is None or not 0.0 <= float(t) <= 1.0:
            raise InvalidParameterError(
                f"search_type='similarity_score_threshold' needs score_threshold in [0, 1] (a relevance score), got {t!r}."
            )


class EmbRetriever(BatchRetriever):
    """The plain retriever over any store of this package, with LangChain's ``search_type`` semantics.

    Each document carries ``metadata["score"]`` (the store's score, higher = more similar).
    :meth:`search_batch` embeds all queries in one call and searches them as one matrix.

    Args:
        store: the store searched.
        k: documents per query, > 0.
        filter: a filter expression or dict; a per-call ``filter=`` overrides it.
        search_type: ``"similarity"`` (top ``k``), ``"mmr"`` (maximal marginal relevance over
            ``fetch_k`` candidates) or ``"similarity_score_threshold"`` (top ``k`` whose relevance
            score, in [0, 1] as LangChain defines it, is at least ``score_threshold``).
        fetch_k: MMR candidates fetched by similarity, > 0.
        lambda_mult: MMR trade-off in [0, 1]: 1 = pure relevance.
        score_threshold: the least relevance score in [0, 1] (``"similarity_score_threshold"`` only).

    Raises:
        pydantic.ValidationError: constructed directly with an unknown search type, a kwarg that type
            does not take, or ``k`` / ``fetch_k`` not positive (the message is the
            ``InvalidParameterError``'s; :meth:`EmbStore.as_retriever` raises ``InvalidParameterError``
            itself for the search type and kwargs).
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    store: EmbStore
    k: int = 4
    filter: Any = None
    search_type: str = "similarity"
    fetch_k: int = 20
    lambda_mult: float = 0.5
    score_threshold: float | None = None

    @model_validator(mode="before")
    @classmethod
    def _check_kwargs(cls, data: Any) -> Any:
        if isinstance(data, dict):
            check_search_kwargs(data)
        return data

    @field_validator("k", "fetch_k")
    @classmethod
    def _positive(cls, v: int) -> int:
        if v <= 0:
            raise InvalidParameterError(f"k and fetch_k must be positive, got {v}.")
        return v

    def search_batch(self, queries: list[str], k: int | None = None, filter: Any = None) -> list[list[Document]]:
        """Many queries at once: one embedding batch, one store search (MMR: one search + one pick per query).

        Args:
            queries: the query texts.
            k: documents per query (``None``: the retriever's ``k``).
            filter: a filter expression or LangChain dict overriding the retriever's (``None``: its own).

        Returns:
            Per query, its documents best first, each a copy with ``metadata["score"]`` (the store's
                score, higher = more similar).
        """
        k = k or self.k
        filt = filter if filter is not None else self.filter
        q = self.store.embedding.encode_queries(list(queries))
        if self.search_type == "mmr":
            with self.store.reading():
                picked = self.store.mmr_rows(q, k, self.fetch_k, self.lambda_mult, filt)
                out = []
                for hits in picked:
                    docs = self.store.documents_at(np.asarray([r for r, _ in hits], dtype=np.int64)) if hits else []
                    out.append(with_scores([(d, s) for d, (_, s) in zip(docs, hits)]))
            return out
        hits = self.store.search_vectors(q, k=k, filter=filt)
        if self.search_type == "similarity_score_threshold":
            relevance = self.store.relevance
            hits = [[(d, s) for d, s in h if float(relevance(s)) >= self.score_threshold] for h in hits]
        return [with_scores(h) for h in hits]


__all__ = [
    "BatchRetriever",
    "CAPABILITIES",
    "EmbRetriever",
    "EmbStore",
    "METRICS",
    "SEARCH_KNOBS",
    "SEARCH_TYPES",
    "SearchRequest",
    "as_query_matrix",
    "empty_result",
    "exact_scores",
    "filter_matches_nothing",
    "last_wins",
    "normalize_rows",
    "positive_int",
    "prepare_documents",
    "top_k",
    "with_scores",
]
