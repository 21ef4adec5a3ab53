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
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from langchain_core.embeddings import Embeddings

from langchain_embcompare.errors import (
    DimensionMismatchError,
    EmptyInputError,
    InvalidParameterError,
    InvalidVectorError,
    MissingVectorError,
)

#: Largest accepted deviation of a vector's L2 norm from 1 when ``normalize=False``.
UNIT_TOLERANCE = 1e-3
#: The id columns tried, in order, when ``id_column`` is not given.
DEFAULT_ID_COLUMNS = ("_id", "id")
#: Name of the optional column that tells document rows from query rows in one table.
KIND_COLUMN = "kind"
#: Role markers :class:`MatryoshkaEmbeddings` passes as prompts, so one lookup table serves both roles.
QUERY_ROLE = "[precomputed query vector]"
DOCUMENT_ROLE = "[precomputed document vector]"

__all__ = [
    "VectorTable",
    "PrecomputedEmbeddings",
    "load_vectors",
    "vector_columns",
    "precomputed_from_dataset",
    "is_precomputed",
    "LazyDocuments",
    "faiss_store_from_vectors",
    "UNIT_TOLERANCE",
    "QUERY_ROLE",
    "DOCUMENT_ROLE",
]


# --------------------------------------------------------------------------- the table


@dataclass
class VectorTable:
    """Vectors of one or more models for the same rows.

    ``ids[i]`` (str) is row ``i``'s id; ``columns[name]`` is an ``(n, d)`` float32 C-contiguous matrix per
    model; ``kinds`` is ``None`` or an array of ``"document"``/``"query"`` per row. ``report`` says what was
    read (rows, columns and their dimensions, rows renormalised).
    """

    source: str
    ids: list[str]
    columns: dict[str, np.ndarray]
    id_column: str
    kinds: np.ndarray | None = None
    report: dict[str, Any] = field(default_factory=dict)
    _row_of: dict[str, int] | None = field(default=None, repr=False)

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def dims(self) -> dict[str, int]:
        """Dimension of each model column."""
        return {name: int(m.shape[1]) for name, m in self.columns.items()}

    def column(self, name: str) -> np.ndarray:
        """The ``(n, d)`` float32 matrix of model ``name``; an unknown name raises naming the columns there."""
        if name not in self.columns:
            raise InvalidParameterError(
                f"{self.source} has no vector column {name!r}; its vector columns are {sorted(self.columns)}. "
                "Pass one of those (--vector-column / vector_column=)."
            )
        return self.columns[name]

    def row_of(self) -> dict[str, int]:
        """id -> row (built once). Duplicate ids were refused at load unless a kind column tells them apart."""
        if self._row_of is None:
            self._row_of = {i: r for r, i in enumerate(self.ids)}
        return self._row_of

    def rows_for(self, ids: Sequence[str], kind: str | None = None, what: str = "ids") -> np.ndarray:
        """Row numbers of ``ids`` (int64), restricted to rows of ``kind`` when the table has a kind column.

        Raises :class:`MissingVectorError` naming the ids that have no row.
        """
        if self.kinds is not None and kind is not None:
            sel = np.flatnonzero(self.kinds == kind)
            lookup = {self.ids[r]: int(r) for r in sel}
        else:
            lookup = self.row_of()
        rows = [lookup.get(i, -1) for i in ids]
        missing = [i for i, r in zip(ids, rows) if r < 0]
        if missing:
            raise MissingVectorError(
                f"{self.source} has no {kind or 'vector'} row for {len(missing)} of {len(ids)} {what}: "
                f"{missing[:10]}{' ...' if len(missing) > 10 else ''}. Add vectors for them (id column "
                f"{self.id_column!r}), or pass the table that holds them"
                + (" (--query-vectors for queries)." if kind == "query" or what.startswith("query") else ".")
            )
        return np.asarray(rows, dtype=np.int64)


def _fmt_row(source: str, column: str, row: int, ids: Sequence[str] | None, lines: Sequence[int] | None = None) -> str:
    """``file: column 'c', row 7 (id 'x')``; with ``lines`` (0-based line numbers per row): ``line N`` (1-based)."""
    where = f"line {lines[row] + 1}" if lines is not None else f"row {row}"
    rid = f" (id {ids[row]!r})" if ids is not None and row < len(ids) else ""
    return f"{source}: column {column!r}, {where}{rid}"


def _check_matrix(
    matrix: np.ndarray, source: str, column: str, ids: Sequence[str] | None, normalize: bool, lines: Sequence[int] | None = None
) -> tuple[np.ndarray, int]:
    """Refuse NaN/inf, zero vectors and (unless ``normalize``) non-unit vectors; returns (matrix, n renormalised)."""
    # one pass, no (n, d) temporary: a NaN/inf anywhere in a row makes its sum of squares non-finite
    sq = np.einsum("ij,ij->i", matrix, matrix).astype(np.float64)
    finite = np.isfinite(sq)
    if not finite.all():
        suspect = np.flatnonzero(~finite)  # non-finite values, or finite ones so large their square overflows
        finite[suspect] = np.isfinite(matrix[suspect]).all(axis=1)
        sq[suspect] = np.square(matrix[suspect].astype(np.float64)).sum(axis=1)  # float64: no overflow
    if not finite.all():
        bad = np.flatnonzero(~finite)
        raise InvalidVectorError(
            f"{_fmt_row(source, column, int(bad[0]), ids, lines)} holds NaN or infinity ({len(bad)} such rows). "
            "Re-embed those texts or drop the rows: one bad vector poisons every score it touches."
        )
    norms = np.sqrt(sq)
    zero = norms == 0
    if zero.any():
        bad = np.flatnonzero(zero)
        raise InvalidVectorError(
            f"{_fmt_row(source, column, int(bad[0]), ids, lines)} is a zero vector ({len(bad)} such rows): it has no "
            "direction, so no similarity is defined. Re-embed those texts or drop the rows."
        )
    off = np.abs(norms - 1.0) > UNIT_TOLERANCE
    if off.any():
        if not normalize:
            bad = int(np.flatnonzero(off)[0])
            raise InvalidVectorError(
                f"{_fmt_row(source, column, bad, ids, lines)} has L2 norm {norms[bad]:.6g}, not 1 (tolerance "
                f"{UNIT_TOLERANCE}; {int(off.sum())} of {len(norms)} rows). This package compares unit vectors "
                "(cosine = inner product = L2 order). Pass normalize=True (--normalize) to renormalise them, "
                "knowing that any meaning their norms carry is dropped."
            )
        if not matrix.flags.writeable:
            matrix = matrix.copy()
        matrix /= norms[:, None].astype(np.float32)
    return matrix, int(off.sum())


# --------------------------------------------------------------------------- arrow -> numpy


def _arrow_matrix(chunked: Any, source: str, column: str, ids: Sequence[str] | None) -> np.ndarray:
    """A pyarrow (Chunked)Array of float lists -> (n, d) float32, validating nulls and dimension, no row loop."""
    import pyarrow as pa
    import pyarrow.compute as pc

    chunks = chunked.chunks if isinstance(chunked, pa.ChunkedArray) else [chunked]
    typ = chunked.type
    if not (pa.types.is_list(typ) or pa.types.is_large_list(typ) or pa.types.is_fixed_size_list(typ)):
        raise InvalidParameterError(f"{source}: column {column!r} has type {typ}, not a list of floats.")
    if not pa.types.is_floating(typ.value_type):
        raise InvalidParameterError(
            f"{source}: column {column!r} holds lists of {typ.value_type}, not floats: store float16/32/64 vectors "
            "(int8 or binary codes cannot be compared as embeddings here; the package quantises itself)."
        )
    n = sum(len(c) for c in chunks)
    if n == 0:
        raise EmptyInputError(f"{source}: column {column!r} has no rows.")
    # the dimension: fixed by the type, or read from the first row
    if pa.types.is_fixed_size_list(typ):
        dim = typ.list_size
    else:
        dim = None
    out: np.ndarray | None = None
    start = 0
    for chunk in chunks:
        m = len(chunk)
        if m == 0:
            continue
        if chunk.null_count:
            bad = start + int(np.flatnonzero(chunk.is_null().to_numpy(zero_copy_only=False))[0])
            raise InvalidVectorError(f"{_fmt_row(source, column, bad, ids)} is null: every row needs a vector.")
        if not pa.types.is_fixed_size_list(typ):
            lengths = pc.list_value_length(chunk).to_numpy(zero_copy_only=False)
            if dim is None:
                dim = int(lengths[0])
            wrong = np.flatnonzero(lengths != dim)
            if len(wrong):
                bad = start + int(wrong[0])
                raise DimensionMismatchError(
                    f"{_fmt_row(source, column, bad, ids)} has {int(lengths[wrong[0]])} dimensions but row 0 has {dim}: "
                    "one column must hold one model's vectors of one dimension. Fix or drop that row."
                )
        values = chunk.flatten()  # honours slicing offsets; one buffer, no per-row work
        if values.null_count:
            bad_value = int(np.flatnonzero(values.is_null().to_numpy(zero_copy_only=False))[0])
            raise InvalidVectorError(
                f"{_fmt_row(source, column, start + bad_value // max(dim, 1), ids)} holds a null value: fill or drop it."
            )
        flat = values.to_numpy(zero_copy_only=False)
        if dim == 0:
            raise DimensionMismatchError(f"{source}: column {column!r} holds empty vectors (0 dimensions).")
        block = flat.reshape(m, dim)
        if out is None and len(chunks) == 1 and block.dtype == np.float32:
            out = np.array(block, dtype=np.float32, copy=True)  # own the memory (arrow buffers are read-only)
        else:
            if out is None:
                out = np.empty((n, dim), dtype=np.float32)
            out[start : start + m] = block
        start += m
    assert out is not None
    return out


def _arrow_ids(array: Any, source: str, id_column: str) -> list[str]:
    import pyarrow as pa

    if array.null_count:
        bad = int(np.flatnonzero(array.is_null().to_numpy(zero_copy_only=False))[0])
        raise InvalidParameterError(f"{source}: id column {id_column!r} is null at row {bad}: every row needs an id.")
    if not (pa.types.is_string(array.type) or pa.types.is_large_string(array.type)):
        array = array.cast(pa.string())
    return array.to_pylist()


def _pick_id_column(names: Sequence[str], id_column: str | None, source: str) -> str:
    if id_column is not None:
        if id_column not in names:
            raise InvalidParameterError(
                f"{source} has no id column {id_column!r}; its columns are {list(names)}. Pass --id-column with one of them."
            )
        return id_column
    for name in DEFAULT_ID_COLUMNS:
        if name in names:
            return name
    raise InvalidParameterError(
        f"{source} has no id column: expected '_id' (as in BEIR files) or 'id', found {list(names)}. "
        "Name it with --id-column / id_column=."
    )


def _from_arrow_table(
    table: Any, source: str, id_column: str | None, columns: Sequence[str] | None, normalize: bool
) -> VectorTable:
    import pyarrow as pa

    names = table.column_names
    id_col = _pick_id_column(names, id_column, source)
    list_cols = [
        n for n in names
        if n not in (id_col, KIND_COLUMN)
        and (pa.types.is_list(table.schema.field(n).type) or pa.types.is_large_list(table.schema.field(n).type)
             or pa.types.is_fixed_size_list(table.schema.field(n).type))
    ]
    wanted = list(columns) if columns else list_cols
    for c in wanted:
        if c not in names:
            raise InvalidParameterError(f"{source} has no vector column {c!r}; its vector columns are {list_cols}.")
    if not wanted:
        raise InvalidParameterError(
            f"{source} has no vector column (a list of floats per row) besides the id column {id_col!r}; columns: {list(names)}."
        )
    ids = _arrow_ids(table.column(id_col).combine_chunks() if table.num_rows else pa.array([], pa.string()), source, id_col)
    kinds = None
    if KIND_COLUMN in names:
        kinds = np.asarray(table.column(KIND_COLUMN).cast(pa.string()).to_pylist(), dtype=object)
    mats = {c: _arrow_matrix(table.column(c), source, c, ids) for c in wanted}
    return _finish(source, ids, mats, id_col, kinds, normalize)


def _finish(
    source: str,
    ids: list[str],
    mats: dict[str, np.ndarray],
    id_col: str,
    kinds: np.ndarray | None,
    normalize: bool,
    lines: Sequence[int] | None = None,
) -> VectorTable:
    if not ids:
        raise EmptyInputError(f"{source} holds no rows.")
    if kinds is not None:
        bad = np.flatnonzero((kinds != "document") & (kinds != "query"))
        if len(bad):
            raise InvalidParameterError(
                f"{_fmt_row(source, KIND_COLUMN, int(bad[0]), ids, lines)} is {kinds[bad[0]]!r}: the kind column holds "
                "'document' or 'query'."
            )
    keys = ids if kinds is None else [f"{k}\x00{i}" for k, i in zip(kinds, ids)]
    row_of = dict(zip(keys, range(len(keys))))  # kept as the table's id -> row map when there is no kind column
    if len(row_of) != len(keys):
        seen: dict[str, int] = {}
        for r, key in enumerate(keys):
            if key in seen:
                raise InvalidParameterError(
                    f"{source}: id {ids[r]!r} appears twice (rows {seen[key]} and {r}): one vector per id"
                    + (" and kind." if kinds is not None else "; to keep documents and queries whose ids overlap, add a 'kind' column.")
                )
            seen[key] = r
    renormalised = {}
    for name, m in list(mats.items()):
        if len(m) != len(ids):
            raise InvalidParameterError(f"{source}: column {name!r} has {len(m)} rows but there are {len(ids)} ids.")
        mats[name], renormalised[name] = _check_matrix(m, source, name, ids, normalize, lines)
    report = {
        "source": source,
        "rows": len(ids),
        "id_column": id_col,
        "columns": {n: int(m.shape[1]) for n, m in mats.items()},
        "renormalised_rows": renormalised,
    }
    if kinds is not None:
        report["query_rows"] = int((kinds == "query").sum())
        report["document_rows"] = int((kinds == "document").sum())
    return VectorTable(source, ids, mats, id_col, kinds, report, row_of if kinds is None else None)


# --------------------------------------------------------------------------- readers


def _read_parquet(path: Path, id_column: str | None, columns: Sequence[str] | None, normalize: bool) -> VectorTable:
    import pyarrow.parquet as pq

    try:
        schema = pq.read_schema(path)
    except Exception as exc:
        raise InvalidParameterError(f"{path} is not a readable Parquet file ({type(exc).__name__}: {exc}).") from exc
    names = schema.names
    id_col = _pick_id_column(names, id_column, str(path))
    read = None
    if columns:
        read = [id_col, *columns] + ([KIND_COLUMN] if KIND_COLUMN in names else [])
        for c in columns:
            if c not in names:
                raise InvalidParameterError(f"{path} has no vector column {c!r}; its columns are {names}.")
    table = pq.read_table(path, columns=read)
    return _from_arrow_table(table, str(path), id_col, columns, normalize)


def _read_hf_folder(path: Path, id_column: str | None, columns: Sequence[str] | None, normalize: bool, split: str | None) -> VectorTable:
    """A ``Dataset.save_to_disk`` folder: Arrow *stream* files listed in ``state.json``."""
    import pyarrow as pa

    if (path / "dataset_dict.json").exists():
        splits = json.loads((path / "dataset_dict.json").read_text()).get("splits", [])
        if split is None:
            if len(splits) != 1:
                raise InvalidParameterError(f"{path} is a DatasetDict with splits {splits}: name one (split=...).")
            split = splits[0]
        if split not in splits:
            raise InvalidParameterError(f"{path} has no split {split!r}; its splits are {splits}.")
        path = path / split
    state_file = path / "state.json"
    if not state_file.exists():
        raise InvalidParameterError(
            f"{path} is not a Hugging Face datasets folder (no state.json): write it with Dataset.save_to_disk()."
        )
    state = json.loads(state_file.read_text())
    files = [path / f["filename"] for f in state.get("_data_files", [])] or sorted(path.glob("data-*.arrow"))
    if state.get("_indices_data_files"):
        raise InvalidParameterError(f"{path} holds an indices mapping: save it after dataset.flatten_indices().")
    tables = []
    for f in files:
        with pa.memory_map(str(f)) as source:
            try:
                tables.append(pa.ipc.open_stream(source).read_all())
            except pa.ArrowInvalid:
                tables.append(pa.ipc.open_file(source).read_all())
    if not tables:
        raise EmptyInputError(f"{path} lists no data files.")
    table = pa.concat_tables(tables)
    return _from_arrow_table(table, str(path), id_column, columns, normalize)


def _read_ids_file(path: Path) -> list[str]:
    return [line.rstrip("\n") for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _sidecar_ids(path: Path) -> Path | None:
    for cand in (path.with_name(path.name + ".ids.txt"), path.with_suffix(".ids.txt")):
        if cand.exists():
            return cand
    return None


def _read_numpy(
    path: Path, id_column: str | None, columns: Sequence[str] | None, normalize: bool, ids: Sequence[str] | str | Path | None
) -> VectorTable:
    source = str(path)
    try:
        loaded = np.load(path, allow_pickle=False)
    except ValueError as exc:
        raise InvalidParameterError(f"{path}: not a plain numeric numpy file ({exc}); object arrays are not read.") from exc
    mats: dict[str, np.ndarray] = {}
    found_ids = None
    id_col = id_column or "ids"
    if isinstance(loaded, np.lib.npyio.NpzFile):
        with loaded:
            keys = list(loaded.files)
            id_keys = [id_column] if id_column else [k for k in ("_id", "id", "ids") if k in keys]
            if id_keys and id_keys[0] in keys:
                id_col = id_keys[0]
                found_ids = [str(x) for x in loaded[id_col].tolist()]
            elif id_column:
                raise InvalidParameterError(f"{path} has no array {id_column!r}; its arrays are {keys}.")
            for k in columns or [k for k in keys if k != id_col]:
                if k not in keys:
                    raise InvalidParameterError(f"{path} has no array {k!r}; its arrays are {keys}.")
                mats[k] = loaded[k]
    else:
        name = columns[0] if columns else path.stem
        if columns and len(columns) > 1:
            raise InvalidParameterError(f"{path} is one .npy matrix (one model); got vector columns {list(columns)}.")
        mats[name] = loaded
    if ids is not None:
        found_ids = _read_ids_file(Path(ids)) if isinstance(ids, (str, Path)) else [str(i) for i in ids]
    if found_ids is None:
        side = _sidecar_ids(path)
        if side is None:
            raise InvalidParameterError(
                f"{path}: no ids. Pass ids= (a list or a text file, one id per line), write {path.name}.ids.txt beside it, "
                "or store an 'ids' array in the .npz."
            )
        found_ids = _read_ids_file(side)
    for name, m in list(mats.items()):
        if m.ndim != 2:
            raise DimensionMismatchError(f"{path}: array {name!r} has shape {m.shape}; expected (rows, dimension).")
        if not np.issubdtype(m.dtype, np.floating):
            raise InvalidParameterError(f"{path}: array {name!r} has dtype {m.dtype}, not float.")
        if len(m) != len(found_ids):
            raise InvalidParameterError(
                f"{path}: array {name!r} has {len(m)} rows but there are {len(found_ids)} ids: one id per row."
            )
        mats[name] = np.ascontiguousarray(m, dtype=np.float32)
        if mats[name] is m:
            mats[name] = m.copy()
    return _finish(source, found_ids, mats, id_col, None, normalize)


def _read_jsonl(path: Path, id_column: str | None, columns: Sequence[str] | None, normalize: bool) -> VectorTable:
    source = str(path)
    rows: list[tuple[int, dict]] = []
    with path.open(encoding="utf-8") as f:
        for n, text in enumerate(f):
            if not text.strip():
                continue
            try:
                obj = json.loads(text)
            except json.JSONDecodeError as exc:
                raise InvalidParameterError(f"{path}: line {n + 1} is not valid JSON ({exc.msg}).") from exc
            if not isinstance(obj, dict):
                raise InvalidParameterError(f"{path}: line {n + 1} is a {type(obj).__name__}, not a JSON object.")
            rows.append((n, obj))
    if not rows:
        raise EmptyInputError(f"{path} holds no rows.")
    first = rows[0][1]
    id_col = _pick_id_column(list(first), id_column, source)
    vec_cols = list(columns) if columns else [k for k, v in first.items() if k not in (id_col, KIND_COLUMN) and isinstance(v, list)]
    if not vec_cols:
        raise InvalidParameterError(f"{path}: line {rows[0][0] + 1} has no vector field (a list of numbers); fields: {list(first)}.")
    ids: list[str] = []
    kinds = [] if KIND_COLUMN in first else None
    lines = [n for n, _ in rows]
    mats = {}
    for c in vec_cols:
        dim = None
        for n, obj in rows:
            v = obj.get(c)
            if not isinstance(v, list):
                raise InvalidParameterError(f"{path}: line {n + 1} has no vector field {c!r} (got {type(v).__name__}).")
            if dim is None:
                dim = len(v)
            elif len(v) != dim:
                raise DimensionMismatchError(
                    f"{path}: line {n + 1}, field {c!r} has {len(v)} dimensions but line {lines[0] + 1} has {dim}: "
                    "one field must hold one model's vectors of one dimension."
                )
        try:
            mats[c] = np.asarray([obj[c] for _, obj in rows], dtype=np.float32)
        except (TypeError, ValueError):
            for n, obj in rows:
                try:
                    np.asarray(obj[c], dtype=np.float32)
                except (TypeError, ValueError) as exc:
                    raise InvalidParameterError(f"{path}: line {n + 1}, field {c!r} holds a non-number ({exc}).") from exc
            raise
    for n, obj in rows:
        if obj.get(id_col) is None:
            raise InvalidParameterError(f"{path}: line {n + 1} has no id field {id_col!r}.")
        ids.append(str(obj[id_col]))
        if kinds is not None:
            kinds.append(str(obj.get(KIND_COLUMN)))
    return _finish(source, ids, mats, id_col, None if kinds is None else np.asarray(kinds, dtype=object), normalize, lines)


def load_vectors(
    path: str | Path,
    *,
    id_column: str | None = None,
    vector_columns: Sequence[str] | None = None,
    normalize: bool = False,
    ids: Sequence[str] | str | Path | None = None,
    split: str | None = None,
) -> VectorTable:
    """Read a vector table (Parquet, ``.npy``/``.npz`` + ids, JSONL, or a ``save_to_disk`` folder).

    Args:
        path: the file or folder.
        id_column: the id column (default ``_id``, else ``id``).
        vector_columns: the model columns to read (default: every column of float lists).
        normalize: renormalise vectors that are not unit length instead of refusing them.
        ids: for ``.npy``/``.npz`` without ids inside: a list of ids or a text file, one id per line.
        split: for a ``DatasetDict`` folder, the split to read.

    Returns:
        a :class:`VectorTable` (float32 matrices, one per model column).

    Raises:
        InvalidParameterError (bad file, missing id or column, duplicate id), DimensionMismatchError
        (mixed dimensions in one column), InvalidVectorError (NaN, null, zero or non-unit vector):
        each names the file and the row (JSONL: the line).
    """
    p = Path(path).expanduser()
    if not p.exists():
        raise InvalidParameterError(f"Vector table {p} does not exist.")
    suffix = p.suffix.lower()
    if p.is_dir():
        table = _read_hf_folder(p, id_column, vector_columns, normalize, split)
    elif suffix in (".parquet", ".pq"):
        table = _read_parquet(p, id_column, vector_columns, normalize)
    elif suffix in (".npy", ".npz"):
        table = _read_numpy(p, id_column, vector_columns, normalize, ids)
    elif suffix in (".jsonl", ".json"):
        table = _read_jsonl(p, id_column, vector_columns, normalize)
    elif suffix == ".arrow":
        table = _read_hf_folder(p.parent, id_column, vector_columns, normalize, split)
    else:
        raise InvalidParameterError(
            f"{p}: unknown vector table format {suffix!r}; use .parquet, .npy/.npz (+ ids), .jsonl, or a folder "
            "written by datasets' save_to_disk."
        )
    return table


def vector_columns(path: str | Path, id_column: str | None = None, normalize: bool = False) -> list[str]:
    """Names of the model columns of a vector table, read from its schema when the format has one."""
    p = Path(path).expanduser()
    if p.suffix.lower() in (".parquet", ".pq") and p.is_file():
        import pyarrow as pa
        import pyarrow.parquet as pq

        schema = pq.read_schema(p)
        id_col = _pick_id_column(schema.names, id_column, str(p))
        return [
            f.name for f in schema
            if f.name not in (id_col, KIND_COLUMN)
            and (pa.types.is_list(f.type) or pa.types.is_large_list(f.type) or pa.types.is_fixed_size_list(f.type))
        ]
    return list(_cached_table(str(p), id_column, None, normalize).columns)


# Several run specs read the same table: keep the last few loaded (keyed by path, size and mtime).
_TABLE_CACHE: dict[tuple, VectorTable] = {}
_TABLE_CACHE_SIZE = 4


def _cached_table(path: str, id_column: str | None, column: str | None, normalize: bool) -> VectorTable:
    p = Path(path).expanduser()
    st = p.stat() if p.exists() else None
    key = (str(p.resolve()) if p.exists() else str(p), st and st.st_size, st and st.st_mtime_ns, id_column, column, normalize)
    table = _TABLE_CACHE.get(key)
    if table is None:
        table = load_vectors(p, id_column=id_column, vector_columns=[column] if column else None, normalize=normalize)
        if len(_TABLE_CACHE) >= _TABLE_CACHE_SIZE:
            _TABLE_CACHE.pop(next(iter(_TABLE_CACHE)))
        _TABLE_CACHE[key] = table
    return table


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
                self._docs, self.report["document_renormalised_rows"] = _check_matrix(self._docs, source, model_id, None, normalize)
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
            matrix, renorm = _check_matrix(matrix, self.source, f"{self.model_id} ({role}s)", [str(i) for i in ids] if ids is not None else None, normalize)
            self.report[f"{role}_renormalised_rows"] = renorm
        self.report[f"{role}_rows"] = len(matrix)
        self.report[f"{role}_duplicate_keys"] = dupes
        return matrix, keys

    # -- lookups ---------------------------------------------------------------------------------

    def lookup(self, texts: Sequence[str], role: str = "document") -> np.ndarray:
        """``(len(texts), d)`` float32 rows for texts or ids; ``role`` is ``"document"`` or ``"query"``.

        Raises :class:`MissingVectorError` naming the first unknown keys.
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
        """The numpy fast path :func:`~langchain_embcompare.models.encode_texts` uses; ``prompt`` is a role
        marker (:data:`QUERY_ROLE` / :data:`DOCUMENT_ROLE`) or ``None`` (documents)."""
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
    table = vectors if isinstance(vectors, VectorTable) else _cached_table(str(vectors), id_column, column, normalize)
    matrix = table.column(column)
    doc_ids = [str(d.id or d.metadata.get("doc_id")) for d in dataset.corpus]
    qids = list(dataset.queries)
    doc_rows = table.rows_for(doc_ids, "document", "corpus document ids")
    if query_vectors is not None:
        qtable = (
            query_vectors if isinstance(query_vectors, VectorTable)
            else _cached_table(str(query_vectors), id_column, column, normalize)
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


# --------------------------------------------------------------------------- bulk load into FAISS


class LazyDocuments(Sequence):
    """Documents made on access from ids (and optional texts): a million-row table needs no million
    ``Document`` objects up front, only the ones a search returns. ``extend`` (a later ``add_vectors``)
    appends real Documents after the lazy rows."""

    def __init__(self, ids: Sequence[str], texts: Sequence[str] | None = None) -> None:
        self._ids = ids
        self._texts = texts
        self._extra: list[Any] = []

    def _make(self, i: int) -> Any:
        from langchain_core.documents import Document

        doc_id = str(self._ids[i])
        text = "" if self._texts is None else str(self._texts[i])
        return Document(page_content=text, metadata={"doc_id": doc_id}, id=doc_id)

    def __len__(self) -> int:
        return len(self._ids) + len(self._extra)

    def __getitem__(self, i: Any) -> Any:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        n = len(self._ids)
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError(i)
        return self._make(i) if i < n else self._extra[i - n]

    def extend(self, docs: Sequence[Any]) -> None:
        self._extra.extend(docs)


def faiss_store_from_vectors(
    vectors: VectorTable | str | Path,
    column: str | None = None,
    *,
    spec: Any = None,
    texts: Sequence[str] | None = None,
    query_vectors: np.ndarray | None = None,
    query_ids: Sequence[str] | None = None,
    id_column: str | None = None,
    normalize: bool = False,
    dim: int | None = None,
    precision: str = "float32",
) -> Any:
    """A :class:`~langchain_embcompare.stores.faiss.FaissVectorStore` filled from a vector table in one batch.

    The table's matrix goes to faiss as it is (no per-row Python work, no copy when no truncation is
    asked); documents are :class:`LazyDocuments` (id, optional text) made only when a search returns
    them. Search results and scores equal those of ``store.add_vectors(vectors, documents)`` (tested).
    ``dim`` truncates (+ renormalises) as ``MatryoshkaEmbeddings(dim=...)`` does; ``spec`` is a
    ``FaissIndexSpec`` (default flat, cosine); ``precision`` float32 | int8 | binary. Queries embed through ``query_vectors``/``query_ids`` when
    given (else query text lookups fail with :class:`MissingVectorError`; search by vector instead).
    """
    from langchain_embcompare.matryoshka import MatryoshkaEmbeddings, l2_normalize
    from langchain_embcompare.stores.faiss import FaissIndexSpec, FaissVectorStore

    table = vectors if isinstance(vectors, VectorTable) else load_vectors(
        vectors, id_column=id_column, vector_columns=[column] if column else None, normalize=normalize
    )
    if column is None:
        if len(table.columns) != 1:
            raise InvalidParameterError(f"{table.source} has vector columns {sorted(table.columns)}: name one (column=).")
        column = next(iter(table.columns))
    matrix = table.column(column)
    if table.kinds is not None:
        raise InvalidParameterError(f"{table.source} has a kind column: build the store from document rows only.")
    row_of = table.row_of()
    emb = PrecomputedEmbeddings(
        matrix, document_keys=row_of, query_vectors=query_vectors, query_ids=query_ids, model_id=f"precomputed:{column}",
        source=table.source, validate=False,
    )
    store = FaissVectorStore(MatryoshkaEmbeddings(emb, dim, precision=precision), spec or FaissIndexSpec())
    # unit length was checked at load (what add_vectors' cosine renormalisation gives, to float rounding)
    vecs = matrix if dim is None else l2_normalize(np.ascontiguousarray(matrix[:, :dim]))
    store.bulk_load(vecs, LazyDocuments(table.ids, texts), [str(i) for i in table.ids], normalized=True)
    return store
