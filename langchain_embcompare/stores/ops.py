"""The store layer's shared operations, one home each: query validation, normalising, exact scoring
on the package's score convention, top-k with padding, the document-id rule, and empty results.

Every store and retriever calls these instead of its own copy, so the conventions cannot drift:
scores higher = more similar (cosine similarity, inner product, minus the L2 distance); results
(m, k) padded with ``-inf`` / ``-1``.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import numpy as np
from langchain_core.documents import Document

from langchain_embcompare.errors import DimensionMismatchError, EmptyInputError, InvalidParameterError
from langchain_embcompare.filters import Filter, as_expression, matches_nothing
from langchain_embcompare.matryoshka import check_finite

METRICS = ("cosine", "ip", "l2")
"""The metrics every store supports; scores: cosine similarity, inner product, minus L2 distance."""


def as_query_matrix(query_vectors: np.ndarray | Sequence[Sequence[float]], dim: int, where: str) -> np.ndarray:
    """A (m, dim) float32 C-contiguous matrix, or ``DimensionMismatchError`` naming both dimensions."""
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


def normalize_rows(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 length (zero rows left as they are), float32: how cosine vectors are stored."""
    v = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(v, axis=1, keepdims=True)
    return (v / np.where(norms == 0, 1, norms)).astype(np.float32, copy=False)


def exact_scores(queries: np.ndarray, vectors: np.ndarray, metric: str) -> np.ndarray:
    """(m, n) float32 scores on the package convention: ``ip``/``cosine`` -> dot product (inputs already
    normalised for cosine), ``l2`` -> minus the Euclidean distance."""
    q = np.asarray(queries, dtype=np.float32)
    v = np.asarray(vectors, dtype=np.float32)
    if metric == "l2":
        d2 = (q * q).sum(1)[:, None] - 2 * (q @ v.T) + (v * v).sum(1)[None, :]
        return -np.sqrt(np.maximum(d2, 0)).astype(np.float32, copy=False)
    return (q @ v.T).astype(np.float32, copy=False)


def top_k(scores: np.ndarray, k: int, rows: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` best of each row of ``scores`` (m, n): ``(scores, rows)`` (m, k), best first, padded
    with ``-inf`` / ``-1``. ``rows`` maps column j to a row handle (default: j). Ties keep the lower
    column first (a stable order; evaluation re-orders ties as trec_eval does)."""
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


def prepare_documents(documents: Sequence[Document], ids: Sequence[str] | None = None) -> list[Document]:
    """Copies of ``documents`` with the id rule applied (the inputs are not mutated).

    id = ``ids[i]`` if given, else ``Document.id``, else ``metadata["doc_id"]``, else a fresh UUID4
    (as langchain-core's InMemoryVectorStore does): a document without an id never collapses into
    another one, whatever its text. Raises ``EmptyInputError`` (no documents) or
    ``InvalidParameterError`` (``ids`` of another length).
    """
    if not documents:
        raise EmptyInputError("No documents to add: the corpus is empty. Pass at least one Document.")
    if ids is not None and len(ids) != len(documents):
        raise InvalidParameterError(f"Got {len(ids)} ids for {len(documents)} documents: pass one id per document.")
    out = []
    for i, doc in enumerate(documents):
        doc_id = ids[i] if ids is not None and ids[i] is not None else (doc.id or doc.metadata.get("doc_id") or uuid.uuid4().hex)
        out.append(Document(page_content=doc.page_content, metadata=dict(doc.metadata), id=str(doc_id)))
    return out


def last_wins(documents: Sequence[Document]) -> np.ndarray:
    """Positions to keep when one batch names an id twice: the last occurrence of each id (as an
    upsert applied in order would leave it), in first-seen order."""
    last: dict[str, int] = {}
    for i, d in enumerate(documents):
        last[str(d.id)] = i
    return np.fromiter(sorted(last.values()), dtype=np.int64, count=len(last))



def empty_result(m: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """``(scores, rows)`` of ``m`` queries that found nothing: all ``-inf`` / ``-1``, shape (m, k)."""
    return np.full((m, k), -np.inf, dtype=np.float32), np.full((m, k), -1, dtype=np.int64)


def filter_matches_nothing(filter: Filter) -> bool:
    """True when ``filter`` can match no document (``$in: []`` and what it implies), checked before any search."""
    return matches_nothing(as_expression(filter))


def unique_per_row(lists: np.ndarray) -> np.ndarray:
    """``lists`` (a, w) int64 with a label repeated within a row replaced by ``-1`` after its first
    occurrence (a query opens each cluster once)."""
    lists = np.asarray(lists, dtype=np.int64)
    if lists.ndim != 2 or lists.shape[1] < 2:
        return lists
    order = np.argsort(lists, axis=1, kind="stable")
    srt = np.take_along_axis(lists, order, 1)
    dup_sorted = np.concatenate([np.zeros((len(lists), 1), bool), (srt[:, 1:] == srt[:, :-1]) & (srt[:, 1:] >= 0)], 1)
    dup = np.zeros_like(dup_sorted)
    np.put_along_axis(dup, order, dup_sorted, 1)
    return np.where(dup, -1, lists)
