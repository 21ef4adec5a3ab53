"""The vector table and its validation: :class:`VectorTable`, the one validation rule every format
shares (floats of one dimension, finite, no null row, unit length unless ``normalize=True``), and the
pyarrow -> numpy conversion every reader ends in.

Part of :mod:`langchain_embcompare.precomputed` (its docstring describes formats and rules).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

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

# --------------------------------------------------------------------------- the table


@dataclass
class VectorTable:
    """Vectors of one or more models for the same rows.

    ``ids[i]`` (str) is row ``i``'s id; ``columns[name]`` is an ``(n, d)`` float32 C-contiguous matrix per
    model; ``kinds`` is ``None`` or an array of ``"document"``/``"query"`` per row. ``report`` says what was
    read (rows, columns and their dimensions, rows renormalised).

    Args:
        source: the file (or description) the vectors were read from, named in errors.
        ids: (n,) row ids, str.
        columns: model name -> (n, d) float32 C-contiguous matrix.
        id_column: the source's id column name, named in errors.
        kinds: (n,) array of ``"document"`` / ``"query"``, or None.
        report: what was read (rows, columns and their dimensions, rows renormalised).
        _row_of: internal id -> row cache (built by :meth:`row_of`); leave it None.
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
        """The ``(n, d)`` float32 matrix of model ``name``; an unknown name raises naming the columns there.

        Args:
            name: the model column's name.

        Returns:
            (n, d) float32 matrix (the table's own array, not a copy).

        Raises:
            InvalidParameterError: no column of that name.
        """
        if name not in self.columns:
            raise InvalidParameterError(
                f"{self.source} has no vector column {name!r}; its vector columns are {sorted(self.columns)}. "
                "Pass one of those (--vector-column / vector_column=)."
            )
        return self.columns[name]

    def row_of(self) -> dict[str, int]:
        """id -> row (built once). Duplicate ids were refused at load unless a kind column tells them apart.

        Returns:
            ``{id: row}``, row an int in 0..n-1.
        """
        if self._row_of is None:
            self._row_of = {i: r for r, i in enumerate(self.ids)}
        return self._row_of

    def rows_for(self, ids: Sequence[str], kind: str | None = None, what: str = "ids") -> np.ndarray:
        """Row numbers of ``ids`` (int64), restricted to rows of ``kind`` when the table has a kind column.

        Raises :class:`MissingVectorError` naming the ids that have no row.

        Args:
            ids: the ids looked up.
            kind: ``"document"`` or ``"query"`` (used only when the table has a kind column), or None.
            what: what the ids are, named in the error message (e.g. ``"query ids"``).

        Returns:
            (len(ids),) int64 row numbers, in ``ids`` order.

        Raises:
            MissingVectorError: ids without a row (up to 10 named).
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


def check_matrix(
    matrix: np.ndarray, source: str, column: str, ids: Sequence[str] | None, normalize: bool, lines: Sequence[int] | None = None
) -> tuple[np.ndarray, int]:
    """Refuse NaN/inf, zero vectors and (unless ``normalize``) non-unit vectors.

    Args:
        matrix: (n, d) float32 vectors.
        source: the file or table named in errors.
        column: the vector column named in errors.
        ids: the rows' ids (named in errors), or None.
        normalize: L2-normalise non-unit rows instead of refusing them.
        lines: the rows' source line numbers (named in errors), or None.

    Returns:
        ``(matrix, number of rows renormalised)``.

    Raises:
        InvalidVectorError: a NaN/inf or zero vector, or (without ``normalize``) a non-unit one, named by id.
    """
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


def pick_id_column(names: Sequence[str], id_column: str | None, source: str) -> str:
    """The id column of a table: ``id_column`` if given (and present), else the first of the usual names.

    Args:
        names: the table's column names.
        id_column: the column the user named, or None.
        source: the file or table named in errors.

    Returns:
        The id column's name.

    Raises:
        InvalidParameterError: the named column is missing, or none of the usual names is there.
    """
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


def table_from_arrow(
    table: Any, source: str, id_column: str | None, columns: Sequence[str] | None, normalize: bool
) -> VectorTable:
    """A :class:`VectorTable` from a pyarrow table whose vector columns are (fixed-size) lists.

    Args:
        table: a ``pyarrow.Table``.
        source: the file or table named in errors.
        id_column: the id column, or None to pick one (:func:`pick_id_column`).
        columns: the vector columns to read, or None for every list column.
        normalize: L2-normalise non-unit vectors instead of refusing them.

    Returns:
        The :class:`VectorTable`.

    Raises:
        InvalidParameterError: no id or vector column, ragged or non-numeric vectors.
        InvalidVectorError: a bad vector (as :func:`check_matrix`).
    """
    import pyarrow as pa

    names = table.column_names
    id_col = pick_id_column(names, id_column, source)
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
    return finish_table(source, ids, mats, id_col, kinds, normalize)


def finish_table(
    source: str,
    ids: list[str],
    mats: dict[str, np.ndarray],
    id_col: str,
    kinds: np.ndarray | None,
    normalize: bool,
    lines: Sequence[int] | None = None,
) -> VectorTable:
    """Check the read columns (:func:`check_matrix`) and the ``kind`` column, and make the :class:`VectorTable`.

    Args:
        source: the file or table named in errors.
        ids: the rows' ids.
        mats: ``{vector column: (n, d) float32}``.
        id_col: the id column's name.
        kinds: per row ``"document"`` / ``"query"`` (a ``kind`` column), or None.
        normalize: L2-normalise non-unit vectors instead of refusing them.
        lines: the rows' source line numbers (named in errors), or None.

    Returns:
        The :class:`VectorTable`.

    Raises:
        EmptyInputError: no rows.
        InvalidParameterError: a ``kind`` other than document / query, or repeated ids.
        InvalidVectorError: a bad vector (as :func:`check_matrix`).
    """
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
        mats[name], renormalised[name] = check_matrix(m, source, name, ids, normalize, lines)
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
