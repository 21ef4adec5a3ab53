"""Every example runs, offline, as a user would run it.

The examples run in forked children of one interpreter that imported torch, sentence-transformers
and the package once (the session's ``script_runner``, tests/forkserver_fixtures.py: each child is
``python script.py`` with its own cwd, environment, argv, stdout/stderr and exit status); that saves a
fresh interpreter's ~8 s of imports per example. One example (``PLAIN``) runs as a plain
``python script.py`` subprocess instead, so that path stays covered."""

import subprocess
import sys
from pathlib import Path

import pytest
from forkserver_fixtures import script_env

EXAMPLES = sorted((Path(__file__).resolve().parents[1] / "examples").glob("*.py"))
PLAIN = "matryoshka_embeddings.py"  # the example run as a plain subprocess (every other one: forked)
# what an example must print beside its exit status 0 (every example must print something)
EXPECTED_OUTPUT = {"rerank.py": ("calls", "nDCG@10")}


def test_examples_exist():
    assert len(EXAMPLES) >= 8


@pytest.mark.parametrize("script", [p for p in EXAMPLES if p.name != PLAIN], ids=[p.name for p in EXAMPLES if p.name != PLAIN])
def test_example_runs(script, tmp_path, script_runner):
    rc, stdout, stderr = script_runner(script, tmp_path)
    assert rc == 0, f"{script.name} failed (status {rc}):\n{stdout[-2000:]}\n{stderr[-4000:]}"
    assert stdout.strip(), f"{script.name} printed nothing"
    missing = [text for text in EXPECTED_OUTPUT.get(script.name, ()) if text not in stdout]
    assert not missing, f"{script.name} did not print {missing}:\n{stdout[-2000:]}"


def test_example_runs_as_a_plain_script(tmp_path, redis_url):
    """The real entry path: a fresh ``python examples/matryoshka_embeddings.py``."""
    script = EXAMPLES[0].parent / PLAIN
    proc = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=script_env(redis_url), capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, f"{script.name} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}"
    assert proc.stdout.strip(), f"{script.name} printed nothing"
