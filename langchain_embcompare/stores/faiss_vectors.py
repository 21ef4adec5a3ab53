"""Where the FAISS store keeps its float vectors: in RAM, or in a memory-mapped file
(``FaissIndexSpec(vector_storage="mmap")``).

One job: a row-aligned (n, d) float32 matrix that grows by appends, shrinks by a kept-rows mask and
takes row writes, with two backends of the same interface:

* :class:`RamRows`: a numpy array in the process's memory.
* :class:`MappedRows`: a raw little-endian float32 file (no header; ``n`` comes from the file size),
  mapped read-only. Appends write to the file's end and map it again; a compaction writes the kept
  rows to a new file in blocks and swaps it in; row writes go through a short-lived writable map.
  Scans (an index build, an exact search) read the map block by block and then drop this process's
  mapped pages (:meth:`MappedRows.release`: ``madvise(MADV_DONTNEED)``; the data stays in the file and
  the kernel's page cache), so a one-off scan does not stay in the process's resident memory. Reads
  of a few scattered rows (:meth:`MappedRows.read` of fewer than :data:`RELEASE_ROWS` rows: a funnel's
  shortlist being rescored) are positional reads (``os.pread``, one per row) instead of faults on the
  map, measured: Linux maps up to 16 neighbouring cached pages around each fault ("fault-around"), so
  2,000 random 1.5 KB rows of a 300 MB mapped file made all 300 MB resident, while ``pread`` leaves
  nothing resident at ~2 us a row. A matrix opened from a saved ``.npy`` file maps that file and copies it
  to a scratch file of its own at the first write, so a saved folder is never changed.

Scratch files live in ``storage_dir`` (default: a fresh temporary directory) and are removed when the
matrix is garbage collected; :meth:`FaissVectorStore.save_local` is what persists a store.
"""

from __future__ import annotations

import mmap
import os
import shutil
import tempfile
import uuid
import weakref
from collections.abc import Iterator
from pathlib import Path

import numpy as np

__all__ = ["BLOCK_ROWS", "RELEASE_ROWS", "MappedRows", "RamRows", "iter_blocks", "new_rows"]

BLOCK_ROWS = 65_536  # rows per block when a mapped matrix is scanned or copied
RELEASE_ROWS = 65_536  # a read of at least this many rows releases the map's pages afterwards


def iter_blocks(n: int, block: int = BLOCK_ROWS) -> Iterator[slice]:
    """Slices ``[start, start + block)`` covering ``0 .. n``.

    Args:
        n: the number of rows.
        block: rows per slice (> 0).

    Returns:
        An iterator of slices.
    """
    return (slice(s, min(n, s + block)) for s in range(0, n, block))


class RamRows:
    """An (n, d) float32 matrix in RAM with the interface of :class:`MappedRows`.

    Args:
        dim: the row width.
        values: initial (n, dim) float32 rows (kept without a copy when contiguous float32).
    """

    mapped = False

    def __init__(self, dim: int, values: np.ndarray | None = None) -> None:
        self.dim = dim
        self.array = np.zeros((0, dim), np.float32) if values is None else np.ascontiguousarray(values, dtype=np.float32)

    def __len__(self) -> int:
        return len(self.array)

    def read(self, rows: np.ndarray) -> np.ndarray:
        """The rows at ``rows``, a copy.

        Args:
            rows: (m,) int64 valid row positions.

        Returns:
            (m, dim) float32.
        """
        return np.asarray(self.array[rows], dtype=np.float32)

    def append(self, values: np.ndarray) -> None:
        """Add rows at the end.

        Args:
            values: (m, dim) float32 rows.
        """
        values = np.ascontiguousarray(values, dtype=np.float32)
        self.array = np.concatenate([self.array, values]) if len(self.array) else values

    def keep(self, mask: np.ndarray) -> None:
        """Keep the rows where ``mask`` is true, in order.

        Args:
            mask: (n,) bool.
        """
        self.array = np.ascontiguousarray(self.array[mask])

    def write_rows(self, rows: np.ndarray, values: np.ndarray) -> None:
        """Overwrite ``rows`` with ``values``.

        Args:
            rows: (m,) int64 row positions.
            values: (m, dim) float32.
        """
        self.array[rows] = values

    def replace(self, values: np.ndarray) -> None:
        """Make ``values`` the whole matrix.

        Args:
            values: (n, dim) float32.
        """
        self.array = np.ascontiguousarray(values, dtype=np.float32)

    def release(self) -> None:
        """Nothing to release in RAM."""

    def file_bytes(self) -> int:
        """Bytes on disk: none.

        Returns:
            0.
        """
        return 0


class MappedRows:
    """An (n, d) float32 matrix in a file, mapped read-only (module docstring).

    Args:
        dim: the row width.
        storage_dir: the folder of the scratch file (``None``: a fresh temporary directory, removed
            with the matrix).
        source: a saved ``.npy`` file of (n, dim) float32 to map until the first write (``None``: empty).

    Raises:
        ValueError: ``source`` is not a C-ordered float32 (n, dim) ``.npy`` file.
    """

    mapped = True

    def __init__(self, dim: int, storage_dir: str | Path | None = None, source: str | Path | None = None) -> None:
        self.dim = dim
        if storage_dir is None:
            folder = Path(tempfile.mkdtemp(prefix="embcompare-vectors-"))
            self._finalizer = weakref.finalize(self, shutil.rmtree, str(folder), True)
        else:
            folder = Path(storage_dir)
            folder.mkdir(parents=True, exist_ok=True)
            self._finalizer = None
        self.folder = folder
        self.path: Path | None = None  # our scratch file, once written
        self._file_finalizer: weakref.finalize | None = None
        self._source: tuple[Path, int] | None = None  # (npy path, data offset) mapped read-only
        self._mm: mmap.mmap | None = None
        self._fd: int | None = None  # the mapped file, open for positional reads
        self._fd_finalizer: weakref.finalize | None = None  # closes _fd (once)
        self._offset = 0  # bytes before row 0 in that file
        self.array = np.zeros((0, dim), np.float32)
        if source is not None:
            path = Path(source)
            probe = np.load(path, mmap_mode="r")
            shape, dtype, offset, c_order = probe.shape, probe.dtype, int(probe.offset), bool(probe.flags.c_contiguous)
            del probe
            if not c_order or dtype != np.float32 or len(shape) != 2 or shape[1] != dim:
                raise ValueError(f"{path} holds {dtype} {shape}; expected C-ordered float32 (n, {dim}).")
            self._source = (path, offset)
            self._map(path, offset, shape[0])

    def __len__(self) -> int:
        return len(self.array)

    # -- mapping ------------------------------------------------------------------------------

    def _map(self, path: Path, offset: int, n: int) -> None:
        """Map ``n`` rows of ``path`` from ``offset`` read-only (an empty matrix maps nothing)."""
        self._mm, self._fd = None, None
        if self._fd_finalizer is not None:
            self._fd_finalizer()  # closes the previous file's descriptor
            self._fd_finalizer = None
        if n == 0:
            self.array = np.zeros((0, self.dim), np.float32)
            return
        with path.open("rb") as f:
            mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        self._mm, self._offset = mm, offset
        self._fd = os.open(path, os.O_RDONLY)
        self._fd_finalizer = weakref.finalize(self, os.close, self._fd)
        self.array = np.frombuffer(mm, dtype=np.float32, count=n * self.dim, offset=offset).reshape(n, self.dim)

    def _new_path(self) -> Path:
        return self.folder / f"rows-{uuid.uuid4().hex}.f32"

    def _adopt(self, path: Path) -> None:
        """Make ``path`` (raw float32 rows) our file: remove the previous one, map the new one."""
        old, old_fin = self.path, self._file_finalizer
        self.path, self._source = path, None
        self._file_finalizer = weakref.finalize(self, _unlink, str(path))
        if old_fin is not None:
            old_fin()  # unlinking a mapped file is safe: the old map keeps its pages until dropped
        elif old is not None:
            _unlink(str(old))
        self._map(path, 0, os.path.getsize(path) // (4 * self.dim))

    def _own(self) -> None:
        """Copy a mapped source ``.npy`` into a scratch file of ours before the first write."""
        if self._source is None:
            if self.path is None:
                path = self._new_path()
                path.touch()
                self._adopt(path)
            return
        path = self._new_path()
        with path.open("wb") as f:
            for sl in iter_blocks(len(self.array)):
                f.write(np.ascontiguousarray(self.array[sl]).tobytes())
        self._adopt(path)
        self.release()

    # -- the interface ------------------------------------------------------------------------

    def read(self, rows: np.ndarray) -> np.ndarray:
        """The rows at ``rows``, a copy: one ``os.pread`` per row below :data:`RELEASE_ROWS` rows (no
        mapped page becomes resident), else one fancy index of the map, whose pages are then released.

        Args:
            rows: (m,) int64 valid row positions.

        Returns:
            (m, dim) float32.
        """
        rows = np.asarray(rows, dtype=np.int64)
        if len(rows) >= RELEASE_ROWS or self._fd is None:
            out = np.asarray(self.array[rows], dtype=np.float32)
            self.release()
            return out
        size, fd, pread = 4 * self.dim, self._fd, os.pread
        data = b"".join([pread(fd, size, o) for o in (self._offset + rows * size).tolist()])
        return np.frombuffer(data, dtype=np.float32).reshape(len(rows), self.dim).copy()

    def append(self, values: np.ndarray) -> None:
        """Write rows at the end of the file and map it again.

        Args:
            values: (m, dim) float32 rows.
        """
        self._own()
        assert self.path is not None
        with self.path.open("ab") as f:
            f.write(np.ascontiguousarray(values, dtype=np.float32).tobytes())
        self._map(self.path, 0, os.path.getsize(self.path) // (4 * self.dim))

    def keep(self, mask: np.ndarray) -> None:
        """Keep the rows where ``mask`` is true: written block by block to a new file, swapped in.

        Args:
            mask: (n,) bool.
        """
        path = self._new_path()
        with path.open("wb") as f:
            for sl in iter_blocks(len(self.array)):
                f.write(np.ascontiguousarray(self.array[sl][mask[sl]]).tobytes())
        self._adopt(path)

    def write_rows(self, rows: np.ndarray, values: np.ndarray) -> None:
        """Overwrite ``rows`` with ``values`` through a writable map (closed again at once).

        Args:
            rows: (m,) int64 row positions.
            values: (m, dim) float32.
        """
        n = len(self.array)
        rows = np.asarray(rows, dtype=np.int64)
        if len(rows) == n and np.array_equal(rows, np.arange(n)):
            self.replace(values)
            return
        self._own()
        assert self.path is not None
        with self.path.open("r+b") as f:
            mm = mmap.mmap(f.fileno(), 0)
            try:
                view = np.frombuffer(mm, dtype=np.float32).reshape(n, self.dim)
                view[rows] = values
                del view
                mm.flush()
            finally:
                mm.close()
        self._map(self.path, 0, n)

    def replace(self, values: np.ndarray) -> None:
        """Make ``values`` the whole matrix (a new file).

        Args:
            values: (n, dim) float32 (an array or a map: copied block by block).
        """
        path = self._new_path()
        with path.open("wb") as f:
            for sl in iter_blocks(len(values)):
                f.write(np.ascontiguousarray(values[sl], dtype=np.float32).tobytes())
        self._adopt(path)

    def release(self) -> None:
        """Drop this process's resident pages of the map (``MADV_DONTNEED``); the next read faults
        them in again from the page cache or the file."""
        if self._mm is not None and hasattr(mmap, "MADV_DONTNEED"):
            self._mm.madvise(mmap.MADV_DONTNEED)

    def file_bytes(self) -> int:
        """Bytes of the rows on disk (the file mapped now).

        Returns:
            ``n * dim * 4``.
        """
        return int(self.array.nbytes)


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def new_rows(dim: int, storage: str, storage_dir: str | Path | None, values: np.ndarray | None = None) -> RamRows | MappedRows:
    """A row matrix of the given storage.

    Args:
        dim: the row width.
        storage: ``"ram"`` or ``"mmap"``.
        storage_dir: the scratch folder of a mapped matrix (``None``: a temporary directory).
        values: initial (n, dim) float32 rows, or ``None`` for none.

    Returns:
        A :class:`RamRows` or :class:`MappedRows`.
    """
    if storage == "ram":
        return RamRows(dim, values)
    rows = MappedRows(dim, storage_dir)
    if values is not None and len(values):
        rows.replace(values)
    return rows
