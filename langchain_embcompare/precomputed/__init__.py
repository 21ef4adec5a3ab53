"""Bring your own vectors: compare embeddings you already hold, with no model and no network.

A *vector table* holds one id column and one column of fixed-length float vectors per model, one row per
document (and, optionally, per query). Formats read here, all to the same :class:`VectorTable`:

* Parquet (``.parquet`` / ``.pq``), read with ``pyarrow``: ``fixed_size_list<float>`` or ``list<float>``
  columns (float16/32/64), converted to numpy without a Python loop per row;
* ``.npy`` (one matrix = one model, named after the file) or ``.npz`` (one 2-D float array per model),
  plus the ids: an ``ids``/``_id``/``id`` array inside the ``.npz``, the ``ids=`` argument, or a sidecar
  text file ``<file>.ids.txt`` (one id per line);
* JSONL (``.jsonl``): one object per line, an id field and one list of numbers per model;
* a Hugging Face ``datasets`` folder written by ``Dataset.save_to_disk`` (``state.json`` + ``data-*.arrow``
  Arrow stream files, or a ``DatasetDict`` folder with ``dataset_dict.json``): read with ``pyarrow``
  alone, so neither ``datasets`` nor the hub is needed.

The id column is ``_id`` (the BEIR name) when present, else ``id``, or whatever ``id_column=`` names. An
optional ``kind`` column (``"document"`` / ``"query"``) lets one table hold documents and queries whose
ids overlap.

Validation (one rule, every format): a vector column must be floats of one dimension, with no NaN or
infinity and no null row; each failure raises an error naming the file, the column, the row and its id.
Vectors must be unit length (``| ||v|| - 1 | <= 1e-3``) unless ``normalize=True``, which renormalises them.
Why refuse by default: every vector space in this package is unit length (``MatryoshkaEmbeddings``
renormalises after truncation, so cosine, inner product and L2 rank alike), so raw norms cannot be
honoured; silently renormalising would hide that an ``ip``/``l2`` user's norms are dropped. A zero vector
is always refused (it has no direction).

:class:`PrecomputedEmbeddings` is a LangChain ``Embeddings`` over such a lookup table: a text or id maps
to its stored vector (documents and queries kept apart); an unknown text raises
:class:`~langchain_embcompare.errors.MissingVectorError` naming it, never a zero vector. Wrapped in
:class:`~langchain_embcompare.matryoshka.MatryoshkaEmbeddings` (as every store does) it gets truncation,
PCA rotation, int8/binary, every store and retriever, unchanged.

Layout (one job per module): :mod:`.tables` (VectorTable, validation, Arrow -> numpy), :mod:`.readers`
(one reader per format, :func:`load_vectors`, :func:`vector_columns`), :mod:`.embeddings`
(:class:`PrecomputedEmbeddings`, :func:`precomputed_from_dataset`), :mod:`.bulk` (:class:`LazyDocuments`,
:func:`faiss_store_from_vectors`). Every name is re-exported here.
"""

from __future__ import annotations

from langchain_embcompare.precomputed.bulk import (
    LazyDocuments,
    faiss_store_from_vectors,
)
from langchain_embcompare.precomputed.embeddings import (
    PrecomputedEmbeddings,
    is_precomputed,
    precomputed_from_dataset,
)
from langchain_embcompare.precomputed.readers import load_vectors, vector_columns
from langchain_embcompare.precomputed.tables import (
    DEFAULT_ID_COLUMNS as DEFAULT_ID_COLUMNS,
)
from langchain_embcompare.precomputed.tables import (
    DOCUMENT_ROLE,
    QUERY_ROLE,
    UNIT_TOLERANCE,
    VectorTable,
)
from langchain_embcompare.precomputed.tables import (
    KIND_COLUMN as KIND_COLUMN,
)

__all__ = [
    "DOCUMENT_ROLE",
    "QUERY_ROLE",
    "UNIT_TOLERANCE",
    "LazyDocuments",
    "PrecomputedEmbeddings",
    "VectorTable",
    "faiss_store_from_vectors",
    "is_precomputed",
    "load_vectors",
    "precomputed_from_dataset",
    "vector_columns",
]
