"""Pytest fixtures that start a real Redis (query engine included) on a free local port.

Why: tests of the Redis path must run against the real server, never a mock, and never skip. If the
server cannot be installed or started, the fixture fails with the reason. ``tests/conftest.py`` does
``from redis_fixtures import *``.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Iterator

import pytest

__all__ = ["redis_server", "redis_url", "redis_tls_url", "redis_certs", "load_redis_server_module"]

_SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "redis_server.py"


def load_redis_server_module():  # noqa: ANN201 - the module object
    """Import ``scripts/redis_server.py`` (not a package) once, by path."""
    name = "embcompare_redis_server"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, _SCRIPT)
    assert spec is not None and spec.loader is not None, f"cannot import {_SCRIPT}"
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="session")
def redis_server() -> Iterator[object]:
    """A ``RedisServer`` (scripts/redis_server.py) with persistence on, shared by the session. It also
    listens with TLS (``redis_tls_url``) on certificates generated for the session (``redis_certs``),
    client certificates optional: one server serves the plain, TLS and mutual-TLS tests."""
    mod = load_redis_server_module()
    try:
        srv = mod.RedisServer(appendonly=True, tls=True, tls_auth_clients="optional").start()
    except mod.RedisServerError as exc:
        pytest.fail(f"could not start a local Redis with the query engine: {exc}", pytrace=False)
    try:
        yield srv
    finally:
        srv.cleanup()


@pytest.fixture(scope="session")
def redis_url(redis_server: object) -> str:
    """``redis://127.0.0.1:<port>`` of the session's server."""
    return redis_server.url  # type: ignore[attr-defined]


@pytest.fixture(scope="session")
def redis_tls_url(redis_server: object) -> str:
    """``rediss://127.0.0.1:<tls port>`` of the session's server (its CA: ``redis_certs.ca``)."""
    return redis_server.tls_url  # type: ignore[attr-defined]


@pytest.fixture(scope="session")
def redis_certs(redis_server: object) -> object:
    """The session server's ``TestCertificates`` (CA, server, client, expired and other-CA PEM files)."""
    return redis_server.certs  # type: ignore[attr-defined]
