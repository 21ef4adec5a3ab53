"""Every example runs, offline, as a user would run it.

The examples run in forked children of one interpreter that imported torch, sentence-transformers
and the package once (tests/example_forkserver.py: each child is ``python script.py`` with its own cwd,
environment, argv, stdout/stderr and exit status); that saves a fresh interpreter's ~8 s of imports per
example. One example (``PLAIN``) runs as a plain ``python script.py`` subprocess instead, so that path stays covered."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = sorted((Path(__file__).resolve().parents[1] / "examples").glob("*.py"))
PLAIN = "matryoshka_embeddings.py"  # the example run as a plain subprocess (every other one: forked)
FORKSERVER = Path(__file__).resolve().parent / "example_forkserver.py"


def example_env(redis_url: str) -> dict[str, str]:
    """The environment an example runs with: the session's (its embedding cache folder included, so
    a corpus another test or example embedded is read back, not re-encoded), the test Redis, offline hub."""
    return {**os.environ, "REDIS_URL": redis_url, "HF_HUB_OFFLINE": "1"}


@pytest.fixture(scope="module")
def example_runner(redis_url, tmp_path_factory):
    """A function ``run(script, cwd) -> (returncode, stdout, stderr)`` backed by the fork server."""
    log = tmp_path_factory.mktemp("forkserver") / "server.log"
    with log.open("w") as err:
        server = subprocess.Popen([sys.executable, str(FORKSERVER)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=err, env=example_env(redis_url), cwd=log.parent, text=True)
    ready = server.stdout.readline()
    assert ready.strip() == '{"ready": true}', f"fork server did not start: {ready!r}\n{log.read_text()[-4000:]}"

    def run(script: Path, cwd: Path) -> tuple[int, str, str]:
        out, err = cwd / "stdout.txt", cwd / "stderr.txt"
        req = {"script": str(script), "cwd": str(cwd), "env": example_env(redis_url), "stdout": str(out),
               "stderr": str(err), "timeout": 600}
        server.stdin.write(json.dumps(req) + "\n")
        server.stdin.flush()
        rc = json.loads(server.stdout.readline())["rc"]
        return rc, out.read_text(errors="replace"), err.read_text(errors="replace")

    yield run
    server.stdin.close()
    server.wait(timeout=60)


def test_examples_exist():
    assert len(EXAMPLES) >= 8


@pytest.mark.parametrize("script", [p for p in EXAMPLES if p.name != PLAIN], ids=[p.name for p in EXAMPLES if p.name != PLAIN])
def test_example_runs(script, tmp_path, example_runner):
    rc, stdout, stderr = example_runner(script, tmp_path)
    assert rc == 0, f"{script.name} failed (status {rc}):\n{stdout[-2000:]}\n{stderr[-4000:]}"
    assert stdout.strip(), f"{script.name} printed nothing"


def test_example_runs_as_a_plain_script(tmp_path, redis_url):
    """The real entry path: a fresh ``python examples/matryoshka_embeddings.py``."""
    script = EXAMPLES[0].parent / PLAIN
    proc = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=example_env(redis_url), capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, f"{script.name} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}"
    assert proc.stdout.strip(), f"{script.name} printed nothing"
