"""One fork server per session for scripts run as a user runs them (``python script.py``).

``conftest.py`` imports these (``from forkserver_fixtures import *``). ``script_runner`` starts
tests/example_forkserver.py once: it imports torch, sentence-transformers and the package, then runs
each script in a forked child exactly as ``python script.py`` would (own cwd, environment, argv,
stdout/stderr, exit status). tests/test_examples.py runs the examples with it and tests/test_docs.py
the README's and the tutorials' code; each script saves a fresh interpreter's ~8 s of imports.
tests/test_examples.py still runs one example as a plain subprocess, so that path stays covered.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

__all__ = ["FORKSERVER", "script_env", "script_runner"]

FORKSERVER = Path(__file__).resolve().parent / "example_forkserver.py"


def script_env(redis_url: str) -> dict[str, str]:
    """The environment a script runs with: the session's (its embedding cache folder included, so a
    corpus another test embedded is read back, not re-encoded), the session's Redis, the offline hub.

    Args:
        redis_url: ``redis://127.0.0.1:<port>`` of the session's server (the scripts read ``REDIS_URL``).

    Returns:
        A copy of ``os.environ`` with ``REDIS_URL`` and ``HF_HUB_OFFLINE=1`` set.
    """
    return {**os.environ, "REDIS_URL": redis_url, "HF_HUB_OFFLINE": "1"}


@pytest.fixture(scope="session")
def script_runner(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., tuple[int, str, str]]]:
    """A function ``run(script, cwd, timeout=600) -> (returncode, stdout, stderr)``: ``script`` run as
    ``python script`` in ``cwd`` by the session's fork server, with :func:`script_env`'s environment
    taken at the call; a returncode of ``-14`` (SIGALRM) means it ran past ``timeout`` seconds."""
    log = tmp_path_factory.mktemp("forkserver") / "server.log"
    with log.open("w") as err:
        server = subprocess.Popen([sys.executable, str(FORKSERVER)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=err, env=script_env(redis_url), cwd=log.parent, text=True)
    ready = server.stdout.readline()
    assert ready.strip() == '{"ready": true}', f"fork server did not start: {ready!r}\n{log.read_text()[-4000:]}"

    def run(script: Path, cwd: Path, timeout: int = 600) -> tuple[int, str, str]:
        out, err = cwd / "stdout.txt", cwd / "stderr.txt"
        req = {"script": str(script), "cwd": str(cwd), "env": script_env(redis_url), "stdout": str(out),
               "stderr": str(err), "timeout": timeout}
        server.stdin.write(json.dumps(req) + "\n")
        server.stdin.flush()
        rc = json.loads(server.stdout.readline())["rc"]
        return rc, out.read_text(errors="replace"), err.read_text(errors="replace")

    try:
        yield run
    finally:
        server.stdin.close()
        server.wait(timeout=60)
