"""What the local test servers (scripts/redis_server.py, scripts/milvus_server.py) share: an install lock
across processes, a free loopback port, the parent-death signal that keeps a crashed test run from
leaving a server behind, and the data-folder / context-manager lifecycle (:class:`LocalServer`). Standard library only (milvus_server.py also runs under its own venv's python).

The scripts are not a package: each puts this folder on ``sys.path`` and imports these names.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import os
import signal
import socket
import tempfile
from pathlib import Path
from typing import Iterator

__all__ = ["PR_SET_PDEATHSIG", "LocalServer", "die_with_parent", "file_lock", "free_port"]

PR_SET_PDEATHSIG = 1  # prctl option (linux/prctl.h)


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``path`` (created with its folder) for the ``with`` body:
    serialises installs across processes (several pytest sessions may start at once)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def free_port() -> int:
    """A TCP port nobody listens on right now on 127.0.0.1 (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def die_with_parent() -> None:
    """Linux, as a ``preexec_fn``: SIGTERM the child when the process that started it dies (no orphans)."""
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


class LocalServer:
    """Base of the local test servers: a data folder (a new temporary one unless given, deleted by
    :meth:`cleanup`), and the context-manager lifecycle (``with Server() as srv:`` starts, then stops
    and cleans up). Subclasses implement :meth:`start` (returning ``self``) and :meth:`stop`."""

    def __init__(self, data_dir: str | os.PathLike[str] | None, prefix: str) -> None:
        self._tmp = None if data_dir is not None else tempfile.TemporaryDirectory(prefix=prefix)
        self.data_dir = Path(data_dir if data_dir is not None else self._tmp.name)  # type: ignore[union-attr]

    def start(self) -> "LocalServer":
        """Start the server and wait until it answers."""
        raise NotImplementedError

    def stop(self) -> None:
        """Stop the server (idempotent)."""
        raise NotImplementedError

    def cleanup(self) -> None:
        """Stop and delete the temporary data folder (if this object made it)."""
        self.stop()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> "LocalServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.cleanup()
