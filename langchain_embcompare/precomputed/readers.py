"""Reading vector tables from disk: one reader per format (Parquet, ``.npy`` / ``.npz``, JSONL,
Hugging Face ``datasets`` folders), :func:`load_vectors` choosing among them, :func:`vector_columns`,
and the small cache of recently loaded tables.

Part of :mod:`langchain_embcompare.precomputed` (its docstring describes formats and rules).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from langchain_embcompare.errors import (
    DimensionMismatchError,
    EmptyInputError,
    InvalidParameterError,
)
from langchain_embcompare.precomputed.tables import (
    KIND_COLUMN,
    VectorTable,
    finish_table,
    table_from_arrow,
    pick_id_column,
)

# --------------------------------------------------------------------------- readers


def _read_parquet(path: Path, id_column: str | None, columns: Sequence[str] | None, normalize: bool) -> VectorTable:
    import pyarrow.parquet as pq

    try:
        schema = pq.read_schema(path)
    except Exception as exc:
        raise InvalidParameterError(f"{path} is not a readable Parquet file ({type(exc).__name__}: {exc}).") from exc
    names = schema.names
    id_col = pick_id_column(names, id_column, str(path))
    read = None
    if columns:
        read = [id_col, *columns] + ([KIND_COLUMN] if KIND_COLUMN in names else [])
        for c in columns:
            if c not in names:
                raise InvalidParameterError(f"{path} has no vector column {c!r}; its columns are {names}.")
    table = pq.read_table(path, columns=read)
    return table_from_arrow(table, str(path), id_col, columns, normalize)


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
    return table_from_arrow(table, str(path), id_column, columns, normalize)


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
    return finish_table(source, found_ids, mats, id_col, None, normalize)


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
    id_col = pick_id_column(list(first), id_column, source)
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
    return finish_table(source, ids, mats, id_col, None if kinds is None else np.asarray(kinds, dtype=object), normalize, lines)


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
        InvalidParameterError: a bad file, a missing id or column, a duplicate id (naming the file and row).
        DimensionMismatchError: mixed dimensions in one column (naming the file and row).
        InvalidVectorError: a NaN, null, zero or non-unit vector (naming the file and the row; JSONL: the line).
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
        id_col = pick_id_column(schema.names, id_column, str(p))
        return [
            f.name for f in schema
            if f.name not in (id_col, KIND_COLUMN)
            and (pa.types.is_list(f.type) or pa.types.is_large_list(f.type) or pa.types.is_fixed_size_list(f.type))
        ]
    return list(cached_table(str(p), id_column, None, normalize).columns)


# Several run specs read the same table: keep the last few loaded (keyed by path, size and mtime).
_TABLE_CACHE: dict[tuple, VectorTable] = {}
_TABLE_CACHE_SIZE = 4


def cached_table(path: str, id_column: str | None, column: str | None, normalize: bool) -> VectorTable:
    """:func:`load_vectors` of one file, kept in a small per-process cache keyed by path, size, mtime and options
    (so a comparison's runs over one table read it once).

    Args:
        path: the vector file or folder.
        id_column: the id column, or None to pick one.
        column: the one vector column to read, or None for all.
        normalize: L2-normalise non-unit vectors instead of refusing them.

    Returns:
        The :class:`VectorTable`.
    """
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
