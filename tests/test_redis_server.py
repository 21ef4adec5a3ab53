"""scripts/redis_server.py: the CLI a user or CI runs (install is cached, start/stop a detached server
with the query engine and persistence), and the Python API's kill/restart keeping data (AOF)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis
from redis_fixtures import load_redis_server_module

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "redis_server.py"


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=120)


def test_install_is_idempotent_and_cached():
    first = _cli("install")
    assert first.returncode == 0, first.stderr
    t = time.monotonic()
    again = _cli("install")
    assert again.returncode == 0 and "redisearch.so" in again.stdout
    assert time.monotonic() - t < 10, "the second install must hit the cache"


def test_cli_start_and_stop(tmp_path):
    mod = load_redis_server_module()
    port = mod.free_port()
    res = _cli("start", "--port", str(port), "--dir", str(tmp_path))
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == f"redis://127.0.0.1:{port}"
    client = redis.Redis(port=port)
    try:
        modules = {m[b"name"] for m in client.module_list()}
        assert {b"search", b"ReJSON"} <= modules
        assert client.config_get("appendonly")["appendonly"] == "yes"
    finally:
        stop = _cli("stop", "--port", str(port))
    assert stop.returncode == 0, stop.stderr
    with pytest.raises(redis.exceptions.ConnectionError):
        redis.Redis(port=port, socket_connect_timeout=1).ping()


def test_kill_restart_keeps_data(tmp_path):
    mod = load_redis_server_module()
    srv = mod.RedisServer(data_dir=tmp_path, appendfsync="always").start()
    try:
        redis.Redis.from_url(srv.url).set("survives", "yes")
        srv.kill()
        assert srv.proc.poll() is not None
        srv.restart()
        assert redis.Redis.from_url(srv.url).get("survives") == b"yes"
    finally:
        srv.stop()
