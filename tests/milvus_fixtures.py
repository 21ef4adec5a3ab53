"""Milvus fixtures: a fresh Milvus Lite file, and a real Milvus 2.3.5 standalone server, per session.

conftest.py imports these (``from milvus_fixtures import *``). ``milvus_uri`` is a Milvus Lite file
(no server; ``pymilvus`` + ``milvus-lite``, inside the test process). ``milvus_server`` starts the
PyPI ``milvus`` 2.3.5 server (``scripts/milvus_server.py``: its own cached venv, a private network
namespace, one port forwarded on 127.0.0.1) once per session, on first use, with authorization ON
(``common.security.authorizationEnabled``: every call needs a token): the fixture sets ``MILVUS_TOKEN``
to the superuser's ``root:Milvus`` for the session, which the store reads when given no token, so
every server test runs as ``root`` on an authenticated server; tests/test_milvus_auth.py adds users,
roles and wrong tokens. It is stopped at the session's end (and by ``atexit`` / the parent-death signal
if the session dies). Its etcd session lease is 10 s instead of the template's 30 s (``SERVER_ENV``:
Milvus reads an environment variable named like a config key, ``common.session.ttl`` ->
``COMMON_SESSION_TTL``): after a restart (tests/test_milvus_server.py) the new node serves a reloaded
collection only once the old node's lease has expired, ~25 s per restart at 30 s. (Shorter query
coordinator intervals, 0.1 s instead of 1 s, made create + load 3.6 -> 2.7 s and ``flush()`` 7.0 -> 3.4 s
in isolation but no measurable difference to the Milvus server tests, so the server keeps them.)
``milvus_target``
runs a test on both: the Lite file and ``http://127.0.0.1:<port>``. A server that cannot start fails
the test with the reason, never skips.
"""

from __future__ import annotations

import importlib.util
import itertools
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

_names = itertools.count()
# the session server's settings (see the module docstring); the supervisor passes this process's
# environment to Milvus at every start, restarts included
SERVER_ENV = {
    "COMMON_SESSION_TTL": "10",  # s
}
_SCRIPTS = Path(__file__).resolve().parent.parent / "scripts"
MILVUS_TARGETS = [pytest.param(name, marks=pytest.mark.integration, id=name) for name in ("lite", "server")]


def milvus_server_module() -> Any:
    """``scripts/milvus_server.py`` (not a package), imported once by path."""
    name = "embcompare_milvus_server"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, _SCRIPTS / "milvus_server.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


@pytest.fixture(scope="session")
def milvus_uri(tmp_path_factory) -> str:
    """Path of a fresh Milvus Lite database file (Milvus Lite starts on first use, inside the test process)."""
    return str(tmp_path_factory.mktemp("milvus") / "milvus_lite.db")


@pytest.fixture(scope="session")
def milvus_server(tmp_path_factory) -> Iterator[Any]:
    """A running ``MilvusStandalone`` (Milvus 2.3.5) for the session, data under the session's temp folder,
    authorization on; ``MILVUS_TOKEN`` is ``root:Milvus`` (its ``root_token``) while it runs."""
    mod = milvus_server_module()
    before = {k: os.environ.get(k) for k in ("MILVUS_TOKEN", *SERVER_ENV)}
    os.environ.update(SERVER_ENV)
    srv = mod.MilvusStandalone(data_dir=tmp_path_factory.mktemp("milvus_server"), auth=True)
    try:
        try:
            srv.start()
        except mod.MilvusServerError as exc:
            pytest.fail(f"could not start the local Milvus {mod.MILVUS_VERSION} server: {exc}", pytrace=False)
        os.environ["MILVUS_TOKEN"] = srv.root_token
        yield srv
    finally:
        srv.stop()
        for key, value in before.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@pytest.fixture(scope="session")
def milvus_server_uri(milvus_server: Any) -> str:
    """``http://127.0.0.1:<port>`` of the session's Milvus server."""
    return milvus_server.url


@pytest.fixture(params=MILVUS_TARGETS)
def milvus_target(request: Any) -> str:
    """The Lite file, then the server's URL: a test using it runs on both."""
    return request.getfixturevalue("milvus_uri" if request.param == "lite" else "milvus_server_uri")


def record_encoded(store: Any) -> list[str]:
    """From now on, every text ``store``'s embeddings encode as documents is appended to the returned
    list (the resume tests check that only the missing documents are embedded again)."""
    encoded: list[str] = []
    real_encode = store.embedding.encode_documents

    def recording_encode(texts: list[str]) -> Any:
        encoded.extend(texts)
        return real_encode(texts)

    store.embedding.encode_documents = recording_encode
    return encoded


@pytest.fixture
def milvus_collection() -> str:
    """A collection name no other test of the session uses."""
    return f"t{next(_names)}"


__all__ = ["MILVUS_TARGETS", "milvus_collection", "milvus_server", "milvus_server_module", "milvus_server_uri",
           "milvus_target", "milvus_uri", "record_encoded"]
