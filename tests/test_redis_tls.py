"""TLS, mutual TLS and the connection faults a user can act on, against the session's real Redis (one
server: a plain port and a TLS port on certificates generated for the run, client certificates optional,
so a client certificate that is sent is verified). Each fault is raised by a real one: another CA, an
expired certificate, a wrong password, nothing listening, a server that never answers."""

from __future__ import annotations

import dataclasses
import socket
import time
from urllib.parse import urlsplit

import numpy as np
import pytest
import redis
from langchain_core.documents import Document
from langchain_core.embeddings import DeterministicFakeEmbedding
from redis_fixtures import load_redis_server_module

from langchain_embcompare.errors import (
    InvalidParameterError,
    StoreAuthenticationError,
    StoreConnectionError,
    StoreTimeoutError,
    StoreTLSError,
    StoreUnreachableError,
)
from langchain_embcompare.matryoshka import MatryoshkaEmbeddings, VectorSpace
from langchain_embcompare.stores.redis import RedisIndexSpec, RedisVectorStore

D = 8


def _store(url: str, name: str, **kwargs) -> RedisVectorStore:
    emb = MatryoshkaEmbeddings(DeterministicFakeEmbedding(size=D), cache_dir=None)
    return RedisVectorStore(emb, RedisIndexSpec(name), url, space=VectorSpace("fake", D), **kwargs)


def _round_trip(store: RedisVectorStore) -> None:
    x = np.random.default_rng(1).standard_normal((5, D)).astype(np.float32)
    store.upsert_vectors(x, [Document(id=f"t{i}", page_content=f"doc {i}") for i in range(5)])
    _, rows = store.search_rows(x, 1)
    assert [d.id for d in store.documents_at(rows[:, 0])] == [f"t{i}" for i in range(5)]
    assert store.count() == 5
    store.drop()


def test_tls_with_the_servers_ca(redis_tls_url, redis_certs):
    store = _store(redis_tls_url, "tls_ca", overwrite=True, ssl_ca_certs=str(redis_certs.ca))
    assert store.client.connection_pool.connection_class is redis.SSLConnection
    _round_trip(store)


def test_mutual_tls_with_a_client_certificate(redis_tls_url, redis_certs):
    store = _store(
        redis_tls_url, "tls_mutual", overwrite=True, ssl_ca_certs=str(redis_certs.ca),
        ssl_certfile=str(redis_certs.client_cert), ssl_keyfile=str(redis_certs.client_key), ssl_cert_reqs="required",
    )
    _round_trip(store)


def test_tls_options_through_the_url_query(redis_tls_url, redis_certs):
    store = _store(f"{redis_tls_url}?ssl_ca_certs={redis_certs.ca}", "tls_query", overwrite=True)
    _round_trip(store)


def test_a_ca_that_did_not_sign_the_server_is_a_tls_error(redis_tls_url, redis_certs):
    with pytest.raises(StoreTLSError, match="not signed by a CA the client trusts: pass ssl_ca_certs="):
        _store(redis_tls_url, "tls_other", ssl_ca_certs=str(redis_certs.other_ca), retries=0)


def test_an_expired_client_certificate_is_a_tls_error(redis_tls_url, redis_certs):
    with pytest.raises(StoreTLSError, match="refused the client certificate .*expired") as err:
        _store(redis_tls_url, "tls_old_client", ssl_ca_certs=str(redis_certs.ca), retries=0,
               ssl_certfile=str(redis_certs.expired_client_cert), ssl_keyfile=str(redis_certs.expired_client_key))
    assert "ssl_certfile" in str(err.value)


def test_an_expired_server_certificate_is_a_tls_error(redis_certs):
    mod = load_redis_server_module()
    certs = dataclasses.replace(redis_certs, server_cert=redis_certs.expired_server_cert, server_key=redis_certs.expired_server_key)
    with mod.RedisServer(appendonly=False, tls=True, certs=certs) as srv:
        with pytest.raises(StoreTLSError, match="certificate has expired: renew it"):
            _store(srv.tls_url, "tls_old_server", ssl_ca_certs=str(redis_certs.ca), retries=0)


def test_tls_options_are_checked_before_connecting(redis_url, redis_tls_url, redis_certs, tmp_path):
    with pytest.raises(InvalidParameterError, match=r"\['ssl_ca_certs'\] given, but the redis_url .* is not rediss://"):
        _store(redis_url, "tls_plain", ssl_ca_certs=str(redis_certs.ca))
    with pytest.raises(InvalidParameterError, match="ssl_certfile=.*no such file"):
        _store(redis_tls_url, "tls_missing", ssl_ca_certs=str(redis_certs.ca), ssl_certfile=str(tmp_path / "nope.crt"))
    with pytest.raises(InvalidParameterError, match="ssl_cert_reqs='maybe'"):
        _store(redis_tls_url, "tls_reqs", ssl_ca_certs=str(redis_certs.ca), ssl_cert_reqs="maybe")


def test_wrong_password_is_an_authentication_error_without_the_password(redis_url, redis_tls_url, redis_certs):
    admin = redis.Redis.from_url(redis_url)
    admin.execute_command("ACL", "SETUSER", "tls_probe", "reset", "on", ">right-pass", "~*", "+@all")
    try:
        host = urlsplit(redis_tls_url)
        url = f"rediss://tls_probe:wrong-pass@{host.hostname}:{host.port}"
        t0 = time.monotonic()
        with pytest.raises(StoreAuthenticationError) as err:
            _store(url, "tls_auth", ssl_ca_certs=str(redis_certs.ca))
        assert time.monotonic() - t0 < 0.5, "a refused password must not be retried"
        msg = str(err.value)
        assert "wrong-pass" not in msg and "tls_probe:***@" in msg
        assert "docker" not in msg and "Start Redis" not in msg
        assert "user name and password" in msg
    finally:
        admin.execute_command("ACL", "DELUSER", "tls_probe")


def test_nothing_listening_is_unreachable(redis_server):
    mod = load_redis_server_module()
    url = f"redis://u:secret-pw@127.0.0.1:{mod.free_port()}"
    with pytest.raises(StoreUnreachableError, match="Cannot reach Redis at redis://u:\\*\\*\\*@127.0.0.1") as err:
        _store(url, "nobody", retries=1)
    assert "secret-pw" not in str(err.value) and "docker run" in str(err.value)


def test_plain_client_on_the_tls_port_is_told_to_use_rediss(redis_tls_url):
    plain = redis_tls_url.replace("rediss://", "redis://")
    with pytest.raises(StoreConnectionError, match="use rediss://"):
        _store(plain, "tls_plain_client", retries=0, connect_timeout=2.0, socket_timeout=2.0)


def test_a_server_that_never_answers_is_a_timeout():
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)  # accepts connections (kernel backlog) and never answers
    try:
        url = f"redis://127.0.0.1:{silent.getsockname()[1]}"
        t0 = time.monotonic()
        with pytest.raises(StoreTimeoutError, match="did not answer in time .*socket_timeout="):
            _store(url, "silent", retries=1, socket_timeout=0.2)
        assert time.monotonic() - t0 < 3.0
    finally:
        silent.close()


def test_tls_options_flow_through_the_typed_options_as_the_cli_gives_them(redis_tls_url, redis_certs):
    from langchain_embcompare.stores.registry import build_store, options_for

    # Strings, as `--store-option key=value` passes them: converted to each field's type.
    options = options_for("redis", {
        "url": redis_tls_url, "index_name": "tls_options", "ssl_ca_certs": str(redis_certs.ca),
        "ssl_certfile": str(redis_certs.client_cert), "ssl_keyfile": str(redis_certs.client_key),
        "ssl_cert_reqs": "required", "ssl_check_hostname": "true", "socket_timeout": "5", "connect_timeout": "2",
    })
    assert options.socket_timeout == 5.0 and options.ssl_check_hostname is True
    store = build_store("redis", options, MatryoshkaEmbeddings(DeterministicFakeEmbedding(size=D), cache_dir=None))
    kwargs = store.client.connection_pool.connection_kwargs
    assert kwargs["ssl_certfile"] == str(redis_certs.client_cert) and kwargs["socket_timeout"] == 5.0
    _round_trip(store)
    wrong = options_for("redis", options, ssl_ca_certs=str(redis_certs.other_ca), retries=0)
    with pytest.raises(StoreTLSError, match="ssl_ca_certs="):
        build_store("redis", wrong, MatryoshkaEmbeddings(DeterministicFakeEmbedding(size=D), cache_dir=None))


def test_connection_options_beside_an_open_client_are_refused_by_name(redis_tls_url, redis_certs):
    client = redis.Redis.from_url(redis_tls_url, ssl_ca_certs=str(redis_certs.ca))
    with pytest.raises(InvalidParameterError, match=r"\['socket_timeout', 'ssl_certfile'\] set up the connection"):
        _store(redis_tls_url, "tls_client", client=client, ssl_certfile=str(redis_certs.client_cert), socket_timeout=1.0)
    store = _store(redis_tls_url, "tls_client", client=client, overwrite=True)  # the open TLS client, as given
    assert store.client is client
    _round_trip(store)
    _store(redis_tls_url, "tls_reopen", ssl_ca_certs=str(redis_certs.ca), overwrite=True).upsert_vectors(
        np.ones((1, D), np.float32), [Document(id="a", page_content="a")]
    )
    reopened = RedisVectorStore.from_existing(  # its connection keywords make its client, none is refused
        "tls_reopen", MatryoshkaEmbeddings(DeterministicFakeEmbedding(size=D), cache_dir=None), redis_tls_url,
        space=VectorSpace("fake", D), ssl_ca_certs=str(redis_certs.ca), socket_timeout=5.0,
    )
    assert reopened.count() == 1 and reopened.client.connection_pool.connection_kwargs["socket_timeout"] == 5.0
    reopened.drop()
