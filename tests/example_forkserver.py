"""Run example scripts in forked children of one interpreter that imported the heavy libraries once.

Each example, started as ``python examples/x.py``, spent most of its time importing torch,
sentence-transformers, transformers, faiss, pymilvus... (about 8 s of CPU each on the 2-core test
machine). This server imports them once; for each request it forks, and the child runs the script as
``__main__`` exactly as ``python script.py`` would: its own cwd, environment, ``sys.argv``, ``sys.path[0]``
(the script's folder), stdout/stderr written to files, exit status from ``SystemExit`` or 1 on an
uncaught exception (traceback on stderr), and a normal interpreter exit (atexit handlers and finalizers
run, so a client the script opened is closed as it would be). Nothing the script defines or loads
outlives its child. tests/test_examples.py also runs one example as a plain subprocess, so the real
entry path stays covered.

Protocol (one JSON object per line): request on stdin
``{"script", "cwd", "env", "stdout", "stderr", "timeout"}``, answer on the original stdout ``{"rc": int}``
(a negative rc: killed by that signal; ``-14`` (SIGALRM) = ran past ``timeout`` seconds).
"""

from __future__ import annotations

import importlib
import json
import os
import runpy
import signal
import sys
import traceback

# What the examples import (the package pulls in the rest lazily); a module missing here is just not
# preloaded: the example importing it fails in its own child, as it would when run alone.
PRELOAD = (
    "torch", "sentence_transformers", "transformers", "faiss", "sklearn.cluster", "langchain_embcompare",
    "langchain_embcompare.evaluation.compare", "langchain_embcompare.retrievers.cluster",
    "langchain_embcompare.retrievers.funnel", "langchain_embcompare.retrievers.lexical",
    "langchain_embcompare.retrievers.hybrid", "langchain_embcompare.stores.redis",
    "langchain_embcompare.stores.milvus", "langchain_embcompare.chains", "langchain_embcompare.rerank",
    "plotly.graph_objects",
)


def _run_child(req: dict) -> int:
    """In the forked child: become ``python script.py``; returns the exit status."""
    script = os.path.abspath(req["script"])
    os.chdir(req["cwd"])
    os.environ.clear()
    os.environ.update(req["env"])
    for fd, path in ((1, req["stdout"]), (2, req["stderr"])):
        f = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(f, fd)
        os.close(f)
    sys.stdout = os.fdopen(1, "w", buffering=1, closefd=False)
    sys.stderr = os.fdopen(2, "w", buffering=1, closefd=False)
    sys.argv = [script]
    sys.path[0] = os.path.dirname(script)
    signal.alarm(int(req.get("timeout", 600)))
    try:
        runpy.run_path(script, run_name="__main__")
        return 0
    except SystemExit as exc:
        if exc.code is None:
            return 0
        if isinstance(exc.code, int):
            return exc.code
        print(exc.code, file=sys.stderr)
        return 1
    except BaseException:  # noqa: BLE001 - an uncaught exception: traceback and status 1, as python does
        traceback.print_exc()
        return 1


def main() -> None:
    """Preload, then serve requests until stdin closes."""
    answers = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # the preload's own prints must not reach the answer channel
    for name in PRELOAD:
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 - see PRELOAD
            pass
    answers.write(json.dumps({"ready": True}) + "\n")
    for line in sys.stdin:
        req = json.loads(line)
        pid = os.fork()
        if pid == 0:
            answers.close()
            sys.stdin.close()
            code = _run_child(req)
            sys.stdout.flush()
            sys.stderr.flush()
            sys.exit(code)  # a normal exit: atexit handlers run
        _, status = os.waitpid(pid, 0)
        answers.write(json.dumps({"rc": os.waitstatus_to_exitcode(status)}) + "\n")


if __name__ == "__main__":
    main()
