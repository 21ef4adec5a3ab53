"""A readers-writer lock for the in-process stores (FAISS, and the tests' reference store).

Why: a FAISS index is one C++ object in this process. Searching it from many threads at once is safe
(faiss releases the GIL and a search only reads), but an ``add`` (or an HNSW graph insertion, or the
compaction after a delete) while another thread searches or adds corrupts it: ``asyncio.gather`` over
12 ``aadd_documents`` calls crashed an HNSW store (segfault, double free) and tied a flat store's
documents to another batch's vectors. So searches share the lock (they still run in parallel) and
every mutation holds it alone; a search and the ``documents_at`` / ``vectors_at`` that follow it
(``search_vectors``, MMR) hold one read lock together, so they see one snapshot.

Redis and Milvus need no such lock for consistency (the server orders writes); the Milvus store holds
a plain lock around its writes so two threads cannot both insert one new id (:mod:`.milvus_write`).
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, ParamSpec, TypeVar

__all__ = ["ReadWriteLock", "reads", "writes"]

P = ParamSpec("P")
R = TypeVar("R")


class ReadWriteLock:
    """Many readers or one writer, writer-preferring (a waiting writer holds off new readers, so a
    stream of searches cannot starve an ingest), re-entrant within a thread: a thread holding the read
    lock may take it again, a thread holding the write lock may take either again.

    Taking the write lock while holding only the read lock would wait forever (two such threads
    would deadlock each other), so it raises ``RuntimeError`` instead.

    :attr:`revision` counts the outermost writes that finished (a re-entered write counts once): a
    reader that saw revision ``r`` knows nothing was written while the counter still reads ``r``, so a
    retriever can skip re-checking state it derived from the store (rows, labels, fields).

    Readers do not serialise one another: the internal mutex is held only to count them in and out,
    never while they run, so N threads searching a faiss index (which releases the GIL) run in parallel.

    >>> lock = ReadWriteLock()
    >>> with lock.read(): ...      # searches, reads
    >>> with lock.write(): ...     # adds, deletes, rebuilds
    """

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._readers = 0
        self._writer: int | None = None
        self._writer_depth = 0
        self._writers_waiting = 0
        self._revision = 0
        self._local = threading.local()

    @property
    def revision(self) -> int:
        """How many outermost writes have finished (starts at 0; a re-entered write counts once)."""
        return self._revision

    @contextmanager
    def read(self) -> Iterator[None]:
        """Hold the lock shared (with other readers) for the ``with`` block.

        Yields:
            None, while the read lock is held.
        """
        me = threading.get_ident()
        depth = getattr(self._local, "depth", 0)
        if self._writer == me or depth:  # re-entry: already holding it
            self._local.depth = depth + 1
            try:
                yield
            finally:
                self._local.depth -= 1
            return
        with self._cond:
            while self._writer is not None or self._writers_waiting:
                self._cond.wait()
            self._readers += 1
        self._local.depth = 1
        try:
            yield
        finally:
            self._local.depth = 0
            with self._cond:
                self._readers -= 1
                if not self._readers:
                    self._cond.notify_all()

    @contextmanager
    def write(self) -> Iterator[None]:
        """Hold the lock alone for the ``with`` block.

        Yields:
            None, while the write lock is held.

        Raises:
            RuntimeError: this thread holds only the read lock (an upgrade could deadlock).
        """
        me = threading.get_ident()
        if self._writer == me:
            self._writer_depth += 1
            try:
                yield
            finally:
                self._writer_depth -= 1
            return
        if getattr(self._local, "depth", 0):
            raise RuntimeError("A thread holding the read lock cannot take the write lock (it would deadlock).")
        with self._cond:
            self._writers_waiting += 1
            try:
                while self._writer is not None or self._readers:
                    self._cond.wait()
            finally:
                self._writers_waiting -= 1
            self._writer, self._writer_depth = me, 1
        try:
            yield
        finally:
            with self._cond:
                self._writer, self._writer_depth = None, 0
                self._revision += 1
                self._cond.notify_all()


def _under(side: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """A decorator running a store method under its ``lock``'s ``side`` (``"read"`` or ``"write"``)."""

    def decorate(method: Callable[P, R]) -> Callable[P, R]:
        """Wrap a store method so it runs under the store's ``lock`` (read or write side).

        Args:
            method: a method of a store that has a ``lock`` (:class:`ReadWriteLock`).

        Returns:
            The wrapped method (same signature and docstring).
        """

        @functools.wraps(method)
        def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
            with getattr(self.lock, side)():
                return method(self, *args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate


reads = _under("read")
"""Decorator: run a store method that only reads the store under its ``lock``'s read side."""
writes = _under("write")
"""Decorator: run a store method that changes the store under its ``lock``'s write side."""
