"""The lookup embeddings: :class:`PrecomputedEmbeddings` (a LangChain ``Embeddings`` over stored
vectors, documents and queries kept apart), :func:`is_precomputed` and
:func:`precomputed_from_dataset` (a data set's texts matched to a vector table's rows).

Part of :mod:`langchain_embcompare.precomputed`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from langchain_core.embeddings import Embeddings

from langchain_embcompare.errors import (
    DimensionMismatchError,
    InvalidParameterError,
    MissingVectorError,
)
from langchain_embcompare.precomputed.readers import cached_table
from langchain_embcompare.precomputed.tables import (
    DOCUMENT_ROLE,
    QUERY_ROLE,
    VectorTable,
    check_matrix,
)

# --------------------------------------------------------------------------- the embeddings


class PrecomputedEmbeddings(Embeddings):
    """LangChain ``Embeddings`` that look vectors up instead of computing them.

    Documents and queries are two lookup tables, each an ``(n, d)`` float32 matrix whose rows are found by
    key: a document's id or its text, a query's id or its text. ``embed_documents`` reads the document
    table, ``embed_query`` the query table (queries fall back to the document table only when the two
    are the same table, i.e. no query vectors were given). An unknown text raises
    :class:`MissingVectorError` naming it (never a zero vector).

    Args:
        document_vectors: ``(n, d)`` floats, one row per document.
        document_ids / document_texts: keys of those rows (either or both, length ``n``).
        document_keys: instead of ids/texts, a ready key -> row mapping (copied once, C speed).
        query_vectors, query_ids, query_texts: the same for queries (optional).
        model_id: the vector space's model name; tables bound here use ``precomputed:<column>`` (a name
            :func:`~langchain_embcompare.models.load_embeddings` refuses to load, so a saved index of
            precomputed vectors cannot silently reload a real model of the same name).
        normalize: renormalise non-unit rows instead of refusing them (see the module docstring).
        source: where the vectors came from (for error messages).

    When two rows share a key (e.g. duplicate document texts), the first row's vector is used, as a
    model would give identical texts one vector; the count is in ``report["duplicate_keys"]``.

    Raises:
        InvalidParameterError: both ``document_keys`` and ids/texts, no keys for a table, a key list
            whose length is not one per row, or query keys without ``query_vectors``.
        DimensionMismatchError: an empty or non-2-D table, or query and document vectors of different widths.
        InvalidVectorError: a non-finite, zero or (without ``normalize``) non-unit row, naming it.
    """

    #: read by :class:`MatryoshkaEmbeddings`: the prompts it passes tell queries from documents.
    role_prompts = (QUERY_ROLE, DOCUMENT_ROLE)
    #: vectors come from a table, not a model: never write them to the on-disk embedding cache.
    cacheable = False

    def __init__(
        self,
        document_vectors: np.ndarray,
        document_ids: Sequence[str] | None = None,
        document_texts: Sequence[str] | None = None,
        query_vectors: np.ndarray | None = None,
        query_ids: Sequence[str] | None = None,
        query_texts: Sequence[str] | None = None,
        *,
        model_id: str = "precomputed",
        normalize: bool = False,
        source: str = "precomputed vectors",
        validate: bool = True,
        document_keys: Mapping[str, int] | None = None,
    ) -> None:
        self.model_id = model_id
        self.source = source
        self.report: dict[str, Any] = {}
        if document_keys is not None:  # a prebuilt key -> row map (e.g. VectorTable.row_of()), used as is
            if document_ids is not None or document_texts is not None:
                raise InvalidParameterError("Pass document_keys or document_ids/document_texts, not both.")
            self._docs, self._doc_keys = np.ascontiguousarray(document_vectors, dtype=np.float32), dict(document_keys)
            if validate:
                self._docs, self.report["document_renormalised_rows"] = check_matrix(self._docs, source, model_id, None, normalize)
        else:
            self._docs, self._doc_keys = self._table(document_vectors, document_ids, document_texts, "document", normalize, validate)
        self.native_dim = int(self._docs.shape[1])
        if query_vectors is None:
            if query_ids is not None or query_texts is not None:
                raise InvalidParameterError("query_ids/query_texts were given without query_vectors.")
            self._queries, self._query_keys = None, {}
        else:
            self._queries, self._query_keys = self._table(query_vectors, query_ids, query_texts, "query", normalize, validate)
            if self._queries.shape[1] != self.native_dim:
                raise DimensionMismatchError(
                    f"{source}: query vectors of {model_id!r} have {self._queries.shape[1]} dimensions but document vectors "
                    f"have {self.native_dim}: queries and documents must come from the same model."
                )

    def _table(self, vectors, ids, texts, role, normalize, validate) -> tuple[np.ndarray, dict[str, int]]:
        matrix = np.asarray(vectors, dtype=np.float32)
        if matrix.ndim != 2 or matrix.shape[0] == 0 or matrix.shape[1] == 0:
            raise DimensionMismatchError(f"{self.source}: {role} vectors have shape {matrix.shape}; expected (rows > 0, dim > 0).")
        matrix = np.ascontiguousarray(matrix)
        if ids is None and texts is None:
            raise InvalidParameterError(f"{self.source}: pass {role}_ids or {role}_texts to look {role} vectors up by.")
        keys: dict[str, int] = {}
        dupes = 0
        n = len(matrix)
        for name, seq in (("texts", texts), ("ids", ids)):  # ids last: an id wins over an equal text
            if seq is None:
                continue
            if len(seq) != n:
                raise InvalidParameterError(f"{self.source}: {len(seq)} {role} {name} for {n} {role} vectors: one per row.")
            seq = [str(k) for k in seq] if not all(isinstance(k, str) for k in seq[:100]) else seq
            first = dict(zip(reversed(seq), range(n - 1, -1, -1)))  # C-speed; the first row wins on a repeat
            dupes += n - len(first)
            keys.update(first)
        if validate:
            matrix, renorm = check_matrix(matrix, self.source, f"{self.model_id} ({role}s)", [str(i) for i in ids] if ids is not None else None, normalize)
            self.report[f"{role}_renormalised_rows"] = renorm
        self.report[f"{role}_rows"] = len(matrix)
        self.report[f"{role}_duplicate_keys"] = dupes
        return matrix, keys

    # -- lookups ---------------------------------------------------------------------------------

    def lookup(self, texts: Sequence[str], role: str = "document") -> np.ndarray:
        """``(len(texts), d)`` float32 rows for texts or ids; ``role`` is ``"document"`` or ``"query"``.

        Raises :class:`MissingVectorError` naming the first unknown keys.

        Args:
            texts: document / query texts or ids (looked up by id or exact text).
            role: ``"document"`` or ``"query"`` (queries fall back to the document table when no query table was given).

        Returns:
            (len(texts), d) float32 array.

        Raises:
            InvalidParameterError: an unknown ``role``.
            MissingVectorError: texts without a vector (up to 5 named).
        """
        if role == "query" and self._queries is not None:
            matrix, keys = self._queries, self._query_keys
        elif role in ("document", "query"):
            matrix, keys = self._docs, self._doc_keys
        else:
            raise InvalidParameterError(f"role must be 'document' or 'query', got {role!r}.")
        rows = [keys.get(t, -1) for t in texts]
        if -1 in rows:
            missing = [t for t, r in zip(texts, rows) if r < 0]
            shown = ", ".join(repr(t if len(t) <= 80 else t[:77] + "...") for t in missing[:5])
            table = "query" if matrix is self._queries else "document"
            raise MissingVectorError(
                f"No precomputed {self.model_id!r} {role} vector for {len(missing)} of {len(texts)} texts: {shown}"
                f"{' ...' if len(missing) > 5 else ''} ({self.source} holds {len(matrix)} {table} vectors, looked up by "
                f"id or exact text). Precomputed embeddings only return vectors they were given: add these "
                f"{'queries' if role == 'query' else 'documents'} to the table, or pass their exact text or id."
            )
        return matrix[np.asarray(rows, dtype=np.int64)]

    def encode(self, texts: Sequence[str], prompt: str | None = None) -> np.ndarray:
        """The numpy fast path :func:`~langchain_embcompare.embedding_base.encode_texts` uses; ``prompt`` is a role
        marker (:data:`QUERY_ROLE` / :data:`DOCUMENT_ROLE`) or ``None`` (documents).

        Args:
            texts: document / query texts or ids.
            prompt: a role marker (``QUERY_ROLE`` / ``DOCUMENT_ROLE``) or None (documents).

        Returns:
            (len(texts), d) float32 array.

        Raises:
            InvalidParameterError: any other ``prompt``.
            MissingVectorError: texts without a vector.
        """
        if prompt in (None, "", DOCUMENT_ROLE):
            return self.lookup(list(texts), "document")
        if prompt == QUERY_ROLE:
            return self.lookup(list(texts), "query")
        raise InvalidParameterError(
            f"Precomputed {self.model_id!r} vectors cannot take a prompt ({prompt!r}): the prompt was applied (or not) "
            "when the vectors were computed. Drop prompts=/query_prompt=/document_prompt=."
        )

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.lookup(list(texts), "document").tolist()

    def embed_query(self, text: str) -> list[float]:
        return self.lookup([text], "query")[0].tolist()

    async def aembed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.embed_documents(texts)

    async def aembed_query(self, text: str) -> list[float]:
        return self.embed_query(text)

    def __repr__(self) -> str:
        nq = 0 if self._queries is None else len(self._queries)
        return f"PrecomputedEmbeddings({self.model_id!r}, dim={self.native_dim}, documents={len(self._docs)}, queries={nq})"


def is_precomputed(embeddings: Any) -> bool:
    """True for :class:`PrecomputedEmbeddings` (or a MatryoshkaEmbeddings around one)."""
    return isinstance(getattr(embeddings, "base", embeddings), PrecomputedEmbeddings)


def precomputed_from_dataset(
    dataset: Any,
    vectors: str | Path | VectorTable,
    column: str,
    *,
    query_vectors: str | Path | VectorTable | None = None,
    id_column: str | None = None,
    normalize: bool = False,
) -> PrecomputedEmbeddings:
    """Bind a table's column to a data set: each corpus document and each query gets its row by id.

    ``dataset`` is a :class:`~langchain_embcompare.evaluation.datasets.BeirDataset`. Documents are looked up
    in ``vectors``; queries in ``query_vectors`` when given, else in the same table (rows of kind
    ``query`` when it has a kind column). A corpus or query id with no row raises
    :class:`MissingVectorError` naming the ids; a query id that is also a corpus id in a one-table setup
    without a kind column is ambiguous and raises :class:`InvalidParameterError`.
    Table rows that match no document or query are ignored (counted in ``report["unused_rows"]``).
    """
    table = vectors if isinstance(vectors, VectorTable) else cached_table(str(vectors), id_column, column, normalize)
    matrix = table.column(column)
    doc_ids = [str(d.id or d.metadata.get("doc_id")) for d in dataset.corpus]
    qids = list(dataset.queries)
    doc_rows = table.rows_for(doc_ids, "document", "corpus document ids")
    if query_vectors is not None:
        qtable = (
            query_vectors if isinstance(query_vectors, VectorTable)
            else cached_table(str(query_vectors), id_column, column, normalize)
        )
        q_rows = qtable.rows_for(qids, "query", "query ids")
        q_matrix = qtable.column(column)
        used_q = 0
    else:
        qtable, q_matrix = table, matrix
        if table.kinds is None:
            clash = sorted(set(qids) & set(doc_ids))
            if clash:
                raise InvalidParameterError(
                    f"{table.source}: query ids {clash[:10]} are also corpus document ids, and the table has no 'kind' "
                    "column to tell their rows apart. Pass the query vectors in their own table (--query-vectors / "
                    "query_vectors=) or add a 'kind' column ('document' / 'query')."
                )
        q_rows = table.rows_for(qids, "query", "query ids")
        used_q = len(q_rows)
    emb = PrecomputedEmbeddings(
        matrix[doc_rows],
        document_ids=doc_ids,
        document_texts=dataset.texts,
        query_vectors=q_matrix[q_rows],
        query_ids=qids,
        query_texts=list(dataset.queries.values()),
        model_id=f"precomputed:{column}",
        source=str(table.source) + ("" if query_vectors is None else f" + {qtable.source}"),
        validate=False,  # the table was validated when read
    )
    emb.report.update(
        {
            "table": table.source,
            "query_table": qtable.source,
            "column": column,
            "dim": emb.native_dim,
            "unused_rows": len(table) - len(set(doc_rows.tolist()) | (set(q_rows.tolist()) if used_q else set())),
        }
    )
    return emb
