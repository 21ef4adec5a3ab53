"""Writing to Milvus: upserts of documents and vectors, deletes, resume, cluster labels, extra vector fields.

One job: turn documents and their vectors into Milvus entities and write them. Batches go in with
``upsert`` on a server (its ``insert`` does not enforce the primary key against concurrent writers)
and ``insert`` on Milvus Lite (``upsert`` once a batch names a stored id), each entity carrying the document's text and
metadata, the typed metadata columns of the spec, the ``_tags`` / ``_nums`` JSON the filters read,
its ``cluster`` label and every vector field (extra fields default to the re-normalised Matryoshka
prefix). A row-hash collision between two ids raises; ``skip_existing=True`` writes only ids not
stored yet (resume). Cluster labels and extra vector fields are rewritten by partial upserts. A mixin
of :class:`~.milvus.MilvusVectorStore`, on top of :class:`~.milvus_rows.MilvusRowsMixin`; it uses
the store's ``embedding`` too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from langchain_core.documents import Document

from langchain_embcompare.errors import (
    DimensionMismatchError,
    EmptyInputError,
    InvalidParameterError,
)
from langchain_embcompare.matryoshka import MatryoshkaEmbeddings, check_finite
from langchain_embcompare.stores.base import (
    last_wins,
    normalize_rows,
    prepare_documents,
)
from langchain_embcompare.stores.milvus_rows import CHUNK, MilvusRowsMixin
from langchain_embcompare.stores.ops import row_handles
from langchain_embcompare.stores.milvus_schema import (
    CLUSTER_FIELD,
    ID_FIELD,
    METADATA_FIELD,
    NUMS_FIELD,
    ROW_FIELD,
    TAGS_FIELD,
    TEXT_FIELD,
    VECTOR_FIELD,
    as_number,
    int_list,
    num_json,
    tag_json,
)

__all__ = ["MilvusWriteMixin"]


def _prefix(vectors: np.ndarray, dim: int) -> np.ndarray:
    return normalize_rows(np.ascontiguousarray(vectors[:, :dim]))


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


class MilvusWriteMixin(MilvusRowsMixin):
    """Writes of :class:`~.milvus.MilvusVectorStore` (see the module docstring)."""

    embedding: MatryoshkaEmbeddings

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
        """Write precomputed vectors + their documents in batches.

        An id stored already is replaced (text, metadata, vectors; its cluster label is kept unless
        ``cluster_labels`` is given); a batch naming an id twice keeps the last.

        Args:
            vectors: (n, dim) float32, one per document.
            documents: n documents; ids by the id rule (:func:`prepare_documents`).
            extra_vectors: ``{field: (n, d)}`` float32 for the spec's extra fields (default: the
                re-normalised prefix of ``vectors``).
            skip_existing: write only ids not stored yet (resume after a crash).
            cluster_labels: (n,) int64 cluster label per document (default: a stored id keeps its
                label, a new one gets -1).
            batch_size: entities per write call (default: the spec's ``batch_size``).
            **kwargs: none are supported; any raises.

        Returns:
            Every id passed, in order.

        Raises:
            DimensionMismatchError: vectors of the wrong width.
            InvalidVectorError: a NaN or infinite component.
            InvalidParameterError: an unknown option, counts that disagree, a text or id longer than the
                spec's VARCHAR limits, more tags than ``max_tags``, or a row-hash collision.
            EmptyInputError: no documents.
            InvalidDocumentError: a document breaking an input rule.
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
        docs = prepare_documents(documents)  # the id rule and the input rules, as on every store
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
        schema = self.typed_columns
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
        # a server's insert does not enforce the primary key: two writers inserting one new id at once would
        # store it twice, so servers always upsert (later timestamp wins); Milvus Lite serialises its writes
        write = self.client.upsert if existed or not self.features.lite else self.client.insert
        write(self.name, data, timeout=self.call_timeout)

    def delete(self, ids: list[str] | None = None, **kwargs: Any) -> bool | None:
        """Delete documents by id (unknown ids are no error); ``ids=None`` deletes every document (the
        collection, its index and recorded space stay).

        Args:
            ids: the ids to delete; ``None`` deletes every document.
            **kwargs: ignored (LangChain's signature).

        Returns:
            ``True``.
        """
        if ids is None:
            self.client.delete(self.name, filter=f"{ROW_FIELD} >= 0", timeout=self.call_timeout)
            return True
        rows = self.rows_of([str(i) for i in ids])  # by row handle: ids never enter an expression
        rows = np.unique(rows[rows >= 0])
        for start in range(0, len(rows), CHUNK):
            self.client.delete(self.name, filter=f"{ROW_FIELD} in {int_list(rows[start : start + CHUNK])}", timeout=self.call_timeout)
        return True

    def set_cluster_labels(self, rows: np.ndarray, labels: np.ndarray) -> None:
        """Set the ``cluster`` label of stored rows (a partial upsert on Milvus >= 2.6 or Lite, a whole-entity
        upsert before).

        Args:
            rows: (n,) int64 row handles.
            labels: (n,) int64 cluster labels, one per row.

        Raises:
            InvalidParameterError: ``rows`` and ``labels`` differ in length.
            KeyError: a row that is not stored.
        """
        rows = np.asarray(rows, dtype=np.int64).reshape(-1)
        labels = np.asarray(labels, dtype=np.int64).reshape(-1)
        if rows.shape != labels.shape:
            raise InvalidParameterError(f"{len(rows)} rows but {len(labels)} labels: pass one label per row.")
        self._partial_update(rows, CLUSTER_FIELD, [int(x) for x in labels.tolist()])

    def cluster_labels(self, rows: np.ndarray) -> np.ndarray:
        """The cluster label of each row.

        Args:
            rows: (n,) int64 row handles.

        Returns:
            (n,) int64 labels (``-1``: none set).

        Raises:
            KeyError: a row that is not stored.
        """
        rows, got = self._by_row(rows, [ROW_FIELD, CLUSTER_FIELD])
        return np.asarray([got[r][CLUSTER_FIELD] for r in rows.tolist()], dtype=np.int64)

    def ensure_vector_field(self, name: str, dim: int) -> None:
        """Check that extra vector field ``name`` exists at ``dim``. Milvus cannot add a vector field to
        an existing collection.

        Args:
            name: the field name.
            dim: the field's width (float32 components).

        Raises:
            InvalidParameterError: the field is not declared at ``dim`` (the message names the spec to use).
            MissingCapabilityError: a server without several vector fields per collection (Milvus < 2.4).
        """
        if "vector_fields" not in self.capabilities:
            raise self.missing("vector_fields", f"an extra vector field {name!r} (needs Milvus >= 2.4; server {self.features.version})")
        have = self.spec.extra_vector_fields.get(name)
        if have != int(dim):
            raise InvalidParameterError(
                f"Milvus collection {self.name!r} has no {dim}-d vector field {name!r} (extra fields: "
                f"{self.spec.extra_vector_fields}); Milvus cannot add vector fields to an existing collection. Create it "
                f"with MilvusIndexSpec(extra_vector_fields={{{name!r}: {int(dim)}}}) (filled at ingest with the "
                "Matryoshka prefix) and re-index."
            )

    def write_vector_field(self, name: str, rows: np.ndarray, vectors: np.ndarray) -> None:
        """Overwrite extra vector field ``name`` of ``rows`` with ``vectors`` (partial upsert).

        Args:
            name: a declared extra vector field.
            rows: (n,) int64 row handles.
            vectors: (n, d) float32 (normalised here for cosine).

        Raises:
            InvalidParameterError: an undeclared field, or a vector count that is not ``len(rows)``.
            DimensionMismatchError: vectors of the wrong width.
            InvalidVectorError: a NaN or infinite component.
            KeyError: a row that is not stored.
        """
        field, dim = self._field_dim(name)
        rows = np.asarray(rows, dtype=np.int64).reshape(-1)
        arr = self._check_vectors(vectors, len(rows), field)
        if self.metric == "cosine":
            arr = normalize_rows(arr)
        self._partial_update(rows, field, list(arr))

    def _partial_update(self, rows: np.ndarray, field: str, values: list[Any]) -> None:
        """Set ``field`` of stored ``rows``: a partial upsert (Milvus >= 2.6, Lite), else the whole
        entities read back, changed and upserted (older servers have no partial upsert)."""
        if not self.features.has("partial_update"):
            fields = [ID_FIELD, ROW_FIELD, TEXT_FIELD, METADATA_FIELD, TAGS_FIELD, NUMS_FIELD, CLUSTER_FIELD, VECTOR_FIELD,
                      *self.typed_columns, *self.spec.extra_vector_fields]
            _, whole = self._by_row(rows, fields)
            data = [{**{f: whole[int(r)][f] for f in fields}, field: v} for r, v in zip(rows.tolist(), values)]
            for start in range(0, len(data), self.spec.batch_size):
                self.client.upsert(self.name, data[start : start + self.spec.batch_size], timeout=self.call_timeout)
            return
        _, got = self._by_row(rows, [ID_FIELD, ROW_FIELD])
        data = [{ID_FIELD: got[int(r)][ID_FIELD], field: v} for r, v in zip(rows.tolist(), values)]
        for start in range(0, len(data), self.spec.batch_size):
            self.client.upsert(self.name, data[start : start + self.spec.batch_size], partial_update=True, timeout=self.call_timeout)
