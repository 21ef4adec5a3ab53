"""The store layer's shared operations, one home each: query validation, normalising, exact scoring
on the package's score convention, top-k with padding, the document-id rule, the input rules
(what a document may hold: :func:`prepare_documents`, :func:`clean_metadata`, :func:`check_text`;
the table is ``docs/concepts/input-rules.md``), empty results, and row handles derived from ids
(:func:`row_handles`, shared by the stores whose rows are id hashes: Milvus, Qdrant).

Every store and retriever calls these instead of its own copy, so the conventions cannot drift:
scores higher = more similar (cosine similarity, inner product, minus the L2 distance); results
(m, k) padded with ``-inf`` / ``-1``.
"""

from __future__ import annotations

import hashlib

import math
import re
import uuid
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any

import numpy as np
from langchain_core.documents import Document

from langchain_embcompare.errors import (
    DimensionMismatchError,
    EmptyInputError,
    InvalidDocumentError,
    InvalidParameterError,
)
from langchain_embcompare.filters import Filter, matches_nothing
from langchain_embcompare.matryoshka import check_encodable, check_finite, encoding_reason, normalize_rows

METRICS = ("cosine", "ip", "l2")
"""The metrics every store supports; scores: cosine similarity, inner product, minus L2 distance."""


def as_query_matrix(query_vectors: np.ndarray | Sequence[Sequence[float]], dim: int, where: str) -> np.ndarray:
    """Query vectors as one (m, dim) float32 C-contiguous matrix (a single (dim,) vector becomes (1, dim)).

    Args:
        query_vectors: (m, dim) or (dim,) floats.
        dim: the width the index expects.
        where: names the index in the error, e.g. ``"index (model 'minilm')"``.

    Returns:
        (m, dim) float32, C-contiguous.

    Raises:
        DimensionMismatchError: the vectors are not ``dim`` wide (the message names both dimensions).
        InvalidVectorError: a NaN or infinite component.
    """
    q = np.ascontiguousarray(np.asarray(query_vectors, dtype=np.float32))
    if q.ndim == 1:
        q = q[None, :]
    if q.ndim != 2 or q.shape[1] != dim:
        got = q.shape[-1] if q.ndim else 0
        raise DimensionMismatchError(
            f"A {got}-d query vector cannot search the {dim}-d {where}. Embed queries with the embeddings the "
            f"{where} was built with (store.embeddings), or rebuild the {where} at {got} d."
        )
    return check_finite(q, "query vectors")


def exact_scores(queries: np.ndarray, vectors: np.ndarray, metric: str) -> np.ndarray:
    """Exact scores on the package convention: ``ip``/``cosine`` -> dot product (inputs already
    normalised for cosine), ``l2`` -> minus the Euclidean distance (computed in float64).

    Args:
        queries: (m, d) float32 query vectors.
        vectors: (n, d) float32 stored vectors.
        metric: ``"cosine"``, ``"ip"`` or ``"l2"``.

    Returns:
        (m, n) float32 scores, higher = more similar.
    """
    q = np.asarray(queries, dtype=np.float32)
    v = np.asarray(vectors, dtype=np.float32)
    if metric == "l2":
        # |q|^2 - 2 q.v + |v|^2 in float64: in float32 the cancellation leaves ~1e-7 |v|^2, so a document
        # identical to the query scored -3e-4 instead of 0 (FAISS and Redis: 0); found by tests/generated
        q64, v64 = q.astype(np.float64), v.astype(np.float64)
        d2 = (q64 * q64).sum(1)[:, None] - 2 * (q64 @ v64.T) + (v64 * v64).sum(1)[None, :]
        return -np.sqrt(np.maximum(d2, 0)).astype(np.float32)
    return (q @ v.T).astype(np.float32, copy=False)


def top_k(scores: np.ndarray, k: int, rows: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` best of each row of ``scores``, best first. Ties keep the lower column first (a stable
    order; evaluation scores the order a retriever returns); non-finite scores become padding.

    Args:
        scores: (m, n) float32 scores, higher = better.
        k: results per row.
        rows: (n,) int64 mapping column j to a row handle (default: j).

    Returns:
        ``(scores, rows)``: (m, k) float32 and (m, k) int64, padded with ``-inf`` / ``-1``.
    """
    m, n = scores.shape
    out_s = np.full((m, k), -np.inf, dtype=np.float32)
    out_r = np.full((m, k), -1, dtype=np.int64)
    kk = min(k, n)
    if kk == 0:
        return out_s, out_r
    part = np.argpartition(-scores, kk - 1, axis=1)[:, :kk] if kk < n else np.tile(np.arange(n), (m, 1))
    ps = np.take_along_axis(scores, part, 1)
    order = np.lexsort((part, -ps), axis=1)
    part = np.take_along_axis(part, order, 1)
    ps = np.take_along_axis(ps, order, 1)
    handles = part if rows is None else np.asarray(rows, dtype=np.int64)[part]
    valid = np.isfinite(ps)
    out_s[:, :kk] = np.where(valid, ps, -np.inf)
    out_r[:, :kk] = np.where(valid, handles, -1)
    return out_s, out_r


INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
"""Integer metadata values must fit int64: Milvus's JSON field holds no wider integer."""


def check_text(text: str, doc_id: object, field: str) -> str:
    """``text`` unchanged when UTF-8 can encode it, else :class:`InvalidDocumentError` naming the
    document and the field. What it refuses: lone UTF-16 surrogates (``"\\ud835"``, which PDF
    extractors emit for math symbols); no store, tokenizer or JSON file can hold them. The check every
    store's write path and the BM25 retriever run on ids, text and metadata strings.

    Args:
        text: the string to check.
        doc_id: the document's id (or position), named in the error.
        field: the field, named in the error: ``"page_content"``, ``"id"``, ``"metadata['title']"``.

    Returns:
        ``text`` itself.

    Raises:
        InvalidDocumentError: ``failures`` = ``{str(doc_id): reason}``.
    """
    try:
        return check_encodable(text, field)
    except ValueError as exc:
        raise _refused({_printable(doc_id): str(exc)}) from None


def check_query(text: str, where: str) -> str:
    """``text`` unchanged when UTF-8 can encode it, else :class:`InvalidParameterError` naming the
    query: the input rule of :func:`check_text` applied to a query (a lone UTF-16 surrogate reaches no
    tokenizer, embedding API or search server intact, so it is refused, never silently dropped).

    Args:
        text: the query string.
        where: names the query in the error, e.g. ``"queries[3]"``.

    Returns:
        ``text`` itself.

    Raises:
        InvalidParameterError: the query holds a lone surrogate (the message gives it and its position).
    """
    try:
        return check_encodable(text, where)
    except ValueError as exc:
        raise InvalidParameterError(f"Query refused: {exc}") from None


def _printable(doc_id: object) -> str:
    """A document id as an error names it (a lone surrogate in the id written as its escape)."""
    return str(doc_id).encode("utf-8", "backslashreplace").decode("utf-8")


def _refused(failures: dict[str, str]) -> InvalidDocumentError:
    shown = "; ".join(f"document {doc_id!r}: {why}" for doc_id, why in list(failures.items())[:3])
    more = f" (and {len(failures) - 3} more documents)" if len(failures) > 3 else ""
    return InvalidDocumentError(
        f"{len(failures)} document(s) refused, nothing was written: {shown}{more}. "
        "The rules: docs/concepts/input-rules.md.",
        failures,
    )


class _Refusal(ValueError):
    """A metadata value no store keeps exactly. ``reason`` holds :data:`_PATH` where the value's path
    goes; each enclosing list / dict adds its key on the way out (``keys``, innermost first), so the
    path is only formatted for a refusal, never for the values that pass."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.keys: list[object] = []

    def message(self, root: str = "metadata") -> str:
        path = root + "".join(f"[{k!r}]" for k in reversed(self.keys))
        return self.reason.replace(_PATH, path)


_PATH = "\x00path\x00"
_HINTS = {
    "set": "pass a sorted list",
    "frozenset": "pass a sorted list",
    "bytes": "decode it, or store base64 text",
    "bytearray": "decode it, or store base64 text",
}


def _clean_value(value: object) -> object:
    """One metadata value in the form every store keeps exactly (see :func:`clean_metadata`), or
    :class:`_Refusal`. Exact types first (the common case costs a few identity tests), then numpy
    and subclasses."""
    kind = type(value)
    if kind is str:
        try:
            value.encode("utf-8")  # type: ignore[union-attr]
        except UnicodeEncodeError:
            raise _Refusal(encoding_reason(value, _PATH)) from None  # type: ignore[arg-type]
        return value
    if kind is int:
        if not INT64_MIN <= value <= INT64_MAX:  # type: ignore[operator]
            raise _Refusal(f"{_PATH} is {value}, outside int64 (Milvus's widest integer); store it as a string")
        return value
    if kind is float:
        if not math.isfinite(value):  # type: ignore[arg-type]
            raise _Refusal(
                f"{_PATH} is {value!r}; NaN and infinities have no JSON form (Milvus stores them as null): "
                "drop the key or use None for a missing value"
            )
        return value
    if kind is bool or value is None:
        return value
    if kind is list or kind is tuple:
        out_list = []
        for i, v in enumerate(value):  # type: ignore[arg-type]
            try:
                out_list.append(_clean_value(v))
            except _Refusal as refusal:
                refusal.keys.append(i)
                raise
        return out_list
    if kind is dict or isinstance(value, Mapping):
        out = {}
        for key, v in value.items():  # type: ignore[union-attr]
            if type(key) is not str:
                raise _Refusal(
                    f"{_PATH} has the key {key!r} of type {type(key).__name__}; metadata keys must be strings "
                    "(JSON would turn it into a string on Redis and Milvus)"
                )
            try:
                key.encode("utf-8")
            except UnicodeEncodeError:
                raise _Refusal(encoding_reason(key, f"a key of {_PATH}")) from None
            try:
                out[key] = _clean_value(v)
            except _Refusal as refusal:
                refusal.keys.append(key)
                raise
        return out
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, str):  # str subclasses (numpy.str_, enums): the plain string
        return _clean_value(str(value))
    if isinstance(value, (int, np.integer)):
        return _clean_value(int(value))
    if isinstance(value, (float, np.floating)):
        return _clean_value(float(value))
    if isinstance(value, (list, tuple)):
        return _clean_value(list(value))
    if isinstance(value, np.ndarray):
        return _clean_value(value.tolist())
    hint = _HINTS.get(kind.__name__, "convert it to str, int, float, bool, None, a list or a dict (a date: its isoformat())")
    raise _Refusal(f"{_PATH} is a {kind.__module__}.{kind.__qualname__}, which no store keeps exactly: {hint}")


def clean_metadata(metadata: Mapping[str, object], doc_id: object = None) -> dict[str, object]:
    """The metadata in the one form every store keeps and returns exactly, or a refusal.

    Kept as they are: ``None``, ``str``, ``bool``, ``int`` (within int64), finite ``float``, lists and
    dicts of these (string keys). Converted to the equal Python value: numpy scalars
    (``np.int64(2020)`` -> ``2020``, ``np.float32(0.5)`` -> ``0.5``, ``np.bool_(True)`` -> ``True``),
    numpy arrays (-> nested lists), tuples (-> lists), ``str`` / ``int`` / ``float`` subclasses.
    Refused (``InvalidDocumentError`` naming the document and the field): NaN and +-inf, integers
    outside int64, non-string keys, lone UTF-16 surrogates in a string or key, and every other type
    (``set``, ``bytes``, ``datetime``, ``Decimal``, pandas ``Timestamp`` / ``NA``, objects). The table:
    ``docs/concepts/input-rules.md``.

    Args:
        metadata: the document's metadata (not mutated).
        doc_id: the document's id, named in the error.

    Returns:
        A new dict.

    Raises:
        InvalidDocumentError: ``failures`` = ``{str(doc_id): reason}``.
    """
    try:
        return _clean_value(dict(metadata))  # type: ignore[return-value]
    except _Refusal as refusal:
        raise _refused({_printable(doc_id): refusal.message()}) from None


def prepare_documents(documents: Sequence[Document], ids: Sequence[str] | None = None) -> list[Document]:
    """Copies of ``documents`` with the id rule and the input rules applied (the inputs are not
    mutated): the one gate every store's write path calls.

    id = ``ids[i]`` if given (and not ``None`` or ``""``), else ``Document.id``, else
    ``metadata["doc_id"]``, else a fresh UUID4 (as langchain-core's ``InMemoryVectorStore`` does, an
    empty id counts as none): a document without an id never collapses into another one, whatever its
    text. A non-string id is its ``str``; it may hold any character but NUL (``"\\x00"``). Then the
    input rules (``docs/concepts/input-rules.md``):
    ``page_content`` and the id must be encodable (:func:`check_text`), the metadata in the form every
    store keeps exactly (:func:`clean_metadata`). Every document is checked before anything is
    written, and the error lists each bad one.

    Args:
        documents: the documents to write.
        ids: one id per document, overriding ``Document.id`` (``None`` or ``""`` entries fall through).

    Returns:
        New documents, in order, with their ids set and metadata cleaned.

    Raises:
        EmptyInputError: no documents.
        InvalidParameterError: ``ids`` of another length.
        InvalidDocumentError: a document breaking an input rule (``failures``: id -> reason naming
            the field).
    """
    if not documents:
        raise EmptyInputError("No documents to add: the corpus is empty. Pass at least one Document.")
    if ids is not None and len(ids) != len(documents):
        raise InvalidParameterError(f"Got {len(ids)} ids for {len(documents)} documents: pass one id per document.")
    out = []
    failures: dict[str, str] = {}
    for i, doc in enumerate(documents):
        given = ids[i] if ids is not None else None
        doc_id = str(given if given not in (None, "") else (doc.id or doc.metadata.get("doc_id") or uuid.uuid4().hex))
        try:
            check_encodable(doc_id, "id")
            if "\x00" in doc_id:
                raise ValueError("id holds the NUL character '\\x00', which Redis's query engine cuts keys at")
            check_encodable(doc.page_content, "page_content")
            metadata = _clean_value(dict(doc.metadata))
        except _Refusal as refusal:
            failures[_printable(doc_id)] = refusal.message()
            continue
        except ValueError as exc:
            failures[_printable(doc_id)] = str(exc)
            continue
        # the input is a validated Document and every field was checked above: no second validation
        out.append(Document.model_construct(page_content=doc.page_content, metadata=metadata, id=doc_id))
    if failures:
        raise _refused(failures)
    return out


def last_wins(documents: Sequence[Document]) -> np.ndarray:
    """Positions to keep when one batch names an id twice: the last occurrence of each id (as an
    upsert applied in order would leave it), in first-seen order.

    Args:
        documents: a batch of documents with their ids set.

    Returns:
        1-d int64 positions into ``documents``, ascending.
    """
    last: dict[str, int] = {}
    for i, d in enumerate(documents):
        last[str(d.id)] = i
    return np.fromiter(sorted(last.values()), dtype=np.int64, count=len(last))



def empty_result(m: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """``(scores, rows)`` of ``m`` queries that found nothing.

    Args:
        m: the number of queries.
        k: results per query.

    Returns:
        ``(scores, rows)``: (m, k) float32 all ``-inf`` and (m, k) int64 all ``-1``.
    """
    return np.full((m, k), -np.inf, dtype=np.float32), np.full((m, k), -1, dtype=np.int64)


def filter_matches_nothing(filter: Filter) -> bool:
    """True when ``filter`` can match no document (``$in: []`` and what it implies), checked before any search.

    Args:
        filter: a filter expression or LangChain dict, or ``None``.

    Returns:
        Whether the filter provably matches nothing.

    Raises:
        InvalidParameterError: a malformed filter (from :func:`~langchain_embcompare.filters.filter_tree`).
    """
    return matches_nothing(filter)


def unique_per_row(lists: np.ndarray) -> np.ndarray:
    """``lists`` (a, w) int64 with a label repeated within a row replaced by ``-1`` after its first
    occurrence (a query opens each cluster once).

    Args:
        lists: (a, w) int64 cluster labels per query, ``-1`` = none.

    Returns:
        (a, w) int64, the same labels with repeats replaced by ``-1`` (returned as is when w < 2).
    """
    lists = np.asarray(lists, dtype=np.int64)
    if lists.ndim != 2 or lists.shape[1] < 2:
        return lists
    order = np.argsort(lists, axis=1, kind="stable")
    srt = np.take_along_axis(lists, order, 1)
    dup_sorted = np.concatenate([np.zeros((len(lists), 1), bool), (srt[:, 1:] == srt[:, :-1]) & (srt[:, 1:] >= 0)], 1)
    dup = np.zeros_like(dup_sorted)
    np.put_along_axis(dup, order, dup_sorted, 1)
    return np.where(dup, -1, lists)


def merge_top_k(scores: np.ndarray, rows: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The best ``k`` of each row of concatenated result lists (stable: on equal scores the earlier
    list wins), padded.

    Args:
        scores: (m, n) float32 scores, ``-inf`` = padding.
        rows: (m, n) int64 rows beside them.
        k: results kept per row (>= 1).

    Returns:
        ``(scores, rows)``: (m, k) float32 and (m, k) int64, best first, padded ``-inf`` / ``-1``.
    """
    top = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    s, r = np.take_along_axis(scores, top, 1), np.take_along_axis(rows, top, 1)
    if s.shape[1] < k:
        s = np.pad(s, ((0, 0), (0, k - s.shape[1])), constant_values=-np.inf)
        r = np.pad(r, ((0, 0), (0, k - r.shape[1])), constant_values=-1)
    return s, np.where(np.isfinite(s), r, -1)


def open_grouped(
    queries: np.ndarray,
    clusters: np.ndarray,
    k: int,
    search_group: Callable[[int, np.ndarray], tuple[np.ndarray, np.ndarray]],
) -> tuple[np.ndarray, np.ndarray]:
    """Answer per-query cluster lists the generic way: one ``search_group(c, queries_opening_c)`` call
    per distinct cluster, then each query's merged top ``k`` over its clusters.

    Args:
        queries: (a,) query indices (or any per-query items ``search_group`` takes).
        clusters: (a, w) int64 cluster labels per query, ``-1`` = none (a repeat is opened once).
        k: results per query (>= 1).
        search_group: ``(cluster, queries) -> (scores, rows)``, each (len(queries), <= k).

    Returns:
        ``(scores, rows)``: (a, k) float32 and (a, k) int64, best first, padded ``-inf`` / ``-1``.
    """
    clusters = unique_per_row(clusters)
    a, w = clusters.shape
    slot_s = np.full((a, w, k), -np.inf, np.float32)
    slot_r = np.full((a, w, k), -1, np.int64)
    flat = clusters.ravel()
    local = np.repeat(np.arange(a), w)
    slot = np.tile(np.arange(w), a)
    srt = np.argsort(flat, kind="stable")
    srt = srt[flat[srt] >= 0]
    values, starts = np.unique(flat[srt], return_index=True)
    for c, lo, hi in zip(values.tolist(), starts.tolist(), [*starts[1:].tolist(), len(srt)]):
        sel = srt[lo:hi]
        s, r = search_group(int(c), queries[local[sel]])
        slot_s[local[sel], slot[sel], : s.shape[1]] = s[:, :k]
        slot_r[local[sel], slot[sel], : s.shape[1]] = r[:, :k]
    return merge_top_k(slot_s.reshape(a, -1), slot_r.reshape(a, -1), k)


def rescore(
    q: np.ndarray, cand: np.ndarray, vectors: np.ndarray, k: int, metric: str, chunk: int = 16
) -> tuple[np.ndarray, np.ndarray]:
    """Exact top ``k`` of each query among its own candidates: the one rescoring step (FAISS binary
    and field searches, the funnel's full-dimension pass).

    Scores follow :func:`exact_scores` (dot product for ip / cosine, minus the Euclidean distance for
    l2), computed per query on its candidates only, ``chunk`` queries at a time into one reused
    gather buffer (gathering every query at once allocates (m, c, d) floats: 150 MB for 200 x 500 x
    384). Tie order: on equal scores the lower candidate index comes first (deterministic on every
    store and run; evaluation reads runs in trec_eval's order, ``ranking.py``, after this).

    Args:
        q: (m, d) float32 query vectors (unit length for cosine).
        cand: (m, c) int64 candidate indexes into ``vectors`` per query, ``-1`` = none.
        vectors: (n, d) float32 vectors the candidates index (a memory map is fine).
        k: results per query (>= 1).
        metric: ``"cosine"``, ``"ip"`` or ``"l2"``.
        chunk: queries gathered at a time.

    Returns:
        ``(scores, indexes)``: (m, k) float32 and (m, k) int64, best first, padded ``-inf`` / ``-1``.
    """
    m, c = cand.shape
    valid = cand >= 0
    safe = np.where(valid, cand, 0)
    s = np.empty((m, c), np.float32)
    if m and c:
        buf = np.empty((min(chunk, m), c, vectors.shape[1]), np.float32)
        for start in range(0, m, chunk):
            stop = min(m, start + chunk)
            vecs = buf[: stop - start]
            np.take(vectors, safe[start:stop], axis=0, out=vecs)
            qq = q[start:stop]
            if metric == "l2":
                s[start:stop] = -np.linalg.norm(vecs - qq[:, None, :], axis=2)
            else:
                s[start:stop] = np.einsum("md,mnd->mn", qq, vecs)
    s[~valid] = -np.inf
    order = np.lexsort((np.where(valid, cand, np.iinfo(np.int64).max), -s), axis=1)[:, :k]
    out_s, out_r = empty_result(m, k)
    top_s = np.take_along_axis(s, order, 1)
    top_r = np.take_along_axis(np.where(valid, cand, -1), order, 1)
    out_s[:, : top_s.shape[1]] = top_s
    out_r[:, : top_r.shape[1]] = np.where(np.isfinite(top_s), top_r, -1)
    return out_s, out_r


# --------------------------------------------------------------------------- index-spec rules (Redis, Milvus)

_FIELD_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

FIELD_TYPES = ("tag", "numeric", "text")
"""The metadata field types an index spec's ``metadata_schema`` may name."""


def check_positive_ints(spec: Any, names: Sequence[str], where: str) -> None:
    """The one rule for an index spec's counts (``m``, ``ef_search``, ``nlist``, ``batch_size``, ...).

    Args:
        spec: the spec (read with ``getattr``).
        names: the settings to check.
        where: the spec's class name, first in the message.

    Raises:
        InvalidParameterError: a setting that is not a positive integer (a bool is not one), named.
    """
    for name in names:
        value = getattr(spec, name)
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            raise InvalidParameterError(f"{where}: {name}={value!r} must be a positive integer")


def check_field_schema(
    metadata_schema: Mapping[str, str],
    extra_vector_fields: Mapping[str, int],
    reserved: Collection[str],
    where: str,
    *,
    private_prefix: str | None = None,
) -> tuple[dict[str, str], dict[str, int]]:
    """The one rule for an index spec's filterable metadata fields and extra vector fields.

    Args:
        metadata_schema: ``{key: "tag" | "numeric" | "text"}`` (types compared lower-cased).
        extra_vector_fields: ``{name: dim}``.
        reserved: field names the store uses itself.
        where: the spec's class name, first in the message.
        private_prefix: a prefix the store keeps for its own metadata fields (Milvus: ``"_"``), or ``None``.

    Returns:
        ``(metadata_schema, extra_vector_fields)`` normalised: string keys, lower-cased types, int dims.

    Raises:
        InvalidParameterError: an unknown field type, a reserved or non-identifier name, a vector field
            clashing with a metadata or reserved name, or a dim that is not positive, each named.
    """
    pattern = _FIELD_NAME
    schema = {str(k): str(v).lower() for k, v in dict(metadata_schema).items()}
    for name, kind in schema.items():
        if kind not in FIELD_TYPES:
            raise InvalidParameterError(f"{where}: metadata field {name!r} has type {kind!r}; use 'tag', 'numeric' or 'text'")
        if name in reserved or not pattern.match(name) or (private_prefix and name.startswith(private_prefix)):
            kept = f", starts with {private_prefix!r}" if private_prefix else ""
            raise InvalidParameterError(
                f"{where}: metadata field {name!r} is reserved ({sorted(reserved)}){kept} or is not an identifier "
                "(letters, digits, _); rename it"
            )
    extra = {str(k): int(v) for k, v in dict(extra_vector_fields).items()}
    for name, dim in extra.items():
        if name in reserved or name in schema or not pattern.match(name):
            raise InvalidParameterError(f"{where}: extra vector field {name!r} clashes with a reserved/metadata name or is not an identifier")
        if dim <= 0:
            raise InvalidParameterError(f"{where}: extra vector field {name!r} has dim {dim}; must be > 0")
    return schema, extra


def row_handles(ids: Sequence[str]) -> np.ndarray:
    """Row handle of each id: the first 8 bytes of ``blake2b(id)`` as an int64 with the sign bit
    cleared (so rows are ``>= 0``, as the protocol requires). Stable across processes and clients.

    Args:
        ids: n document ids (a non-string id hashes as its ``str``).

    Returns:
        (n,) int64 row handles, ``>= 0``.
    """
    raw = b"".join(hashlib.blake2b(str(i).encode("utf-8"), digest_size=8).digest() for i in ids)
    return (np.frombuffer(raw, dtype=">i8").astype(np.int64) & np.int64(0x7FFF_FFFF_FFFF_FFFF)) if raw else np.zeros(0, np.int64)


def knob_of(kind: str) -> str | None:
    """The search knob an index kind takes, the one a calibration raises (funnel shortlists, filter
    policies) for a kind :meth:`~.base.EmbStore.field_index_kind` returns.

    Args:
        kind: ``"flat"``, ``"hnsw"`` (or an ``hnsw_*`` variant), ``"ivf"`` (or ``ivf_*``), ``"binary"``.

    Returns:
        ``"ef_search"`` (graph kinds), ``"nprobe"`` (IVF kinds) or ``None`` (flat: exact already).

    Raises:
        InvalidParameterError: an unknown kind.
    """
    if kind == "flat":
        return None
    if kind.startswith("hnsw") or kind == "binary":
        return "ef_search"
    if kind.startswith("ivf"):
        return "nprobe"
    raise InvalidParameterError(f"unknown index kind {kind!r}: the stores build flat, hnsw*, ivf* and binary.")
