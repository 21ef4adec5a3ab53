"""Talking to Redis: the client, connection errors that name the fix, batch retries, reply parsing.

One job: everything between the store's numpy side and the wire. The client retries a dropped
connection (and ``LOADING`` after a restart) with exponential backoff inside redis-py; a whole
pipelined batch is retried on top of that by :func:`retrying` (idempotent writes only), so an ingest
survives a server restart longer than redis-py's own retries last. Search replies are parsed into
numpy arrays plus the raw document fields the store keeps for :meth:`documents_at`.
"""

from __future__ import annotations

import json
import logging
import math
import re
import socket
import ssl
import sys
import time
from array import array
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np
import redis
from langchain_core.documents import Document
from redis.backoff import ExponentialBackoff
from redis.retry import Retry
from redisvl.query import VectorQuery

from langchain_embcompare.errors import (
    InvalidParameterError,
    StoreAuthenticationError,
    StoreConnectionError,
    StorePermissionError,
    StoreTimeoutError,
    StoreTLSError,
    StoreUnreachableError,
)
from langchain_embcompare.stores.redis_schema import (
    CONTENT_FIELD,
    METADATA_FIELD,
    ROW_FIELD,
)
from langchain_embcompare.stores.urls import redact

__all__ = [
    "ACL_COMMANDS",
    "DOCKER_HINT",
    "FATAL",
    "TLS_OPTIONS",
    "acl_key_patterns",
    "acl_refusal",
    "acl_rule",
    "FAST_DOCUMENTS",
    "HIT_FIELDS",
    "RETURN_FIELDS",
    "UPSERT_LUA",
    "RETRYABLE",
    "call",
    "check_complete",
    "connection_error",
    "make_client",
    "make_document",
    "parse_search_replies",
    "raw_document",
    "replies_to_hits",
    "single_query_bytes",
    "retryable",
    "timeout_args",
    "retrying",
    "to_scores",
]

# One log channel for the whole Redis store (tests and users filter on it).
logger = logging.getLogger("langchain_embcompare.stores.redis")

DOCKER_HINT = "docker run -p 6379:6379 redis/redis-stack-server:latest"
RETRYABLE = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)  # BusyLoadingError included
FATAL = (redis.exceptions.AuthenticationError, redis.exceptions.AuthenticationWrongNumberOfArgsError, redis.exceptions.NoPermissionError)
"""Faults that no retry fixes (credentials, ACL permissions): raised at once, never retried."""

TLS_OPTIONS = ("ssl_ca_certs", "ssl_certfile", "ssl_keyfile", "ssl_cert_reqs", "ssl_check_hostname")
"""The TLS keywords the store passes to redis-py (redis-py's names; ``rediss://`` URLs only):
``ssl_ca_certs`` (PEM file of the CA that signed the server's certificate), ``ssl_certfile`` /
``ssl_keyfile`` (the client certificate and its key, for mutual TLS), ``ssl_cert_reqs`` (``"required"``,
the default, ``"optional"`` or ``"none"``: whether the server's certificate is verified) and
``ssl_check_hostname`` (the host name must match the certificate; on by default)."""

ACL_COMMANDS = (
    "ping", "hello", "client|setinfo",
    "ft.create", "ft.info", "ft._list", "ft.search", "ft.alter", "ft.dropindex",
    "evalsha", "script|load",
    "get", "set", "incr", "hset", "hget", "hmget", "hgetall", "hkeys", "hdel", "del",
)
"""Every command the Redis store sends (a user with exactly these, on :func:`acl_key_patterns`' keys,
can build, ingest, search and delete; ``tests/test_redis_acl.py`` runs the README's line). Writes go
through a Lua script (``EVALSHA``, loaded once with ``SCRIPT LOAD``) whose own calls (``HGET``,
``HGETALL``, ``HSET``, ``DEL``, ``INCR``) are checked against the same rules."""


def acl_key_patterns(index_name: str, prefix: str | None = None) -> list[str]:
    """The ACL key patterns covering every key a Redis store of ``index_name`` reads or writes.

    The index name itself (the query engine checks it as a key on ``FT.INFO``, ``FT.SEARCH``, ...), and
    ``<index>:*``: the documents (``<index>:doc:<id>`` by default), the stored vector space
    (``<index>:space``) and the row bookkeeping (``<index>:meta:rows``, ``<index>:meta:next_row``). A
    document prefix outside ``<index>:`` adds its own pattern.

    Args:
        index_name: the index name.
        prefix: the documents' key prefix (default ``<index>:doc``).

    Returns:
        Patterns in ACL syntax, e.g. ``["~kb", "~kb:*"]``.
    """
    patterns = [f"~{index_name}", f"~{index_name}:*"]
    if prefix is not None and not prefix.startswith(f"{index_name}:"):
        patterns.append(f"~{prefix}:*")
    return patterns


def acl_rule(index_name: str, user: str = "app", password: str = "<password>", prefix: str | None = None) -> str:
    """The least-privilege ``ACL SETUSER`` line for a store on ``index_name`` (README, production section).

    Args:
        index_name: the index name.
        user: the ACL user name.
        password: the user's password (written ``>password``).
        prefix: the documents' key prefix, when not the default.

    Returns:
        One line: ``ACL SETUSER <user> reset on ><password> <key patterns> resetchannels -@all +<command> ...``.
    """
    commands = " ".join(f"+{c}" for c in ACL_COMMANDS)
    keys = " ".join(acl_key_patterns(index_name, prefix))
    return f"ACL SETUSER {user} reset on >{password} {keys} resetchannels -@all {commands}"


def timeout_args(timeout_ms: int) -> list[bytes]:
    """``TIMEOUT <ms>`` for an ``FT.SEARCH``: every query the package sends carries it.

    Args:
        timeout_ms: the server-side time limit of one query in milliseconds; ``0`` = none.

    Returns:
        The two encoded arguments. Why always: without it a server applies its own ``TIMEOUT``
            (RediSearch's default: 500 ms with ``ON_TIMEOUT RETURN``), which on a busy server silently
            returns a partial top-k (fewer documents, lower BM25 scores). With ``0`` a query is always
            answered whole; with a positive limit :func:`check_complete` turns a timeout into an error.
    """
    return [b"TIMEOUT", str(int(timeout_ms)).encode()]


_TIMEOUT_WARNING = b"timeout"


def check_complete(replies: list[Any], timeout_ms: int, index_name: str) -> None:
    """Raise rather than let a timed-out ``FT.SEARCH`` answer through as if it were whole.

    Args:
        replies: raw ``FT.SEARCH`` replies (RESP3 maps or RESP2 flat lists).
        timeout_ms: the ``TIMEOUT`` the queries were sent with (:func:`timeout_args`).
        index_name: named in the error.

    Raises:
        StoreTimeoutError: a RESP3 reply carries RediSearch's ``Timeout limit was reached`` warning.
        InvalidParameterError: ``timeout_ms > 0`` on a RESP2 connection, whose replies cannot say that
            a query timed out (RediSearch sends the partial result with no marker): use RESP3
            (``?protocol=3`` in the URL) or ``query_timeout_ms=0``.
    """
    for reply in replies:
        if isinstance(reply, dict):
            warnings = reply.get(b"warning") or reply.get("warning") or []
            for w in warnings:
                text = w if isinstance(w, bytes) else str(w).encode()
                if _TIMEOUT_WARNING in text.lower():
                    raise StoreTimeoutError(
                        f"A query on Redis index {index_name!r} ran past its {timeout_ms} ms limit "
                        f"({text.decode(errors='replace')}); its partial answer was dropped. Raise "
                        "query_timeout_ms (0 = no limit) or make the query cheaper (a narrower filter, a "
                        "smaller k)."
                    )
        elif timeout_ms:
            raise InvalidParameterError(
                f"query_timeout_ms={timeout_ms} needs a RESP3 connection: over RESP2 Redis sends a timed-out "
                "query's partial answer with no marker, so it cannot be told from a whole one. Add "
                "'?protocol=3' to the redis_url, or use query_timeout_ms=0 (no limit)."
            )


def _chain(exc: BaseException) -> list[BaseException]:
    """``exc`` and its causes / contexts, outermost first (redisvl and redis-py wrap what they catch)."""
    out: list[BaseException] = []
    while exc is not None and exc not in out and len(out) < 10:
        out.append(exc)
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]
    return out


_REFUSED_COMMAND = re.compile(r"permissions to run the '([^']+)' command", re.IGNORECASE)


def acl_refusal(exc: BaseException) -> bool:
    """Whether ``exc`` is an ACL refusal: redis-py's ``NoPermissionError``, or the ``ResponseError`` a
    Lua script gets when one of its own calls is refused (``ACL failure in script: ...``).

    Args:
        exc: an error a call raised.

    Returns:
        ``True`` for an ACL refusal.
    """
    if isinstance(exc, redis.exceptions.NoPermissionError):
        return True
    return isinstance(exc, redis.exceptions.ResponseError) and str(exc).startswith("ACL failure")


def _permission_error(url: str, exc: BaseException, index_name: str | None, prefix: str | None) -> StorePermissionError:
    text = str(exc)
    line = acl_rule(index_name, "<user>", "<password>", prefix) if index_name else None
    command = _REFUSED_COMMAND.search(text)
    if command:
        name = command.group(1).lower()
        why = " (each write batch of the store is one Lua script: EVALSHA, loaded once with SCRIPT LOAD)" if name in (
            "evalsha", "eval", "script|load", "script"
        ) else ""
        if text.startswith("ACL failure in script"):
            why = " (called by the store's write script, which the ACL checks like any client)"
        what = f"the command {name.upper()}{why}. Add it to the user: ACL SETUSER <user> +{name}"
    elif "key" in text.lower():
        keys = " ".join(acl_key_patterns(index_name, prefix)) if index_name else "~<index> ~<index>:*"
        what = (
            f"a key of the store. Every key it reads or writes is the index name (the query engine checks it as a key) "
            f"or starts with '<index>:' (documents, stored space, row bookkeeping). Add: ACL SETUSER <user> {keys}"
        )
    else:
        what = "a command or key (see ACL LOG on the server)"
    full = f" The whole least-privilege rule for this index: {line}" if line else ""
    return StorePermissionError(f"Redis at {redact(url)} refused {what} ({text}).{full}")


def _tls_error(url: str, ssl_exc: BaseException, exc: BaseException) -> StoreTLSError:
    text = str(ssl_exc)
    if "CERTIFICATE_VERIFY_FAILED" in text or isinstance(ssl_exc, ssl.SSLCertVerificationError):
        if "expired" in text:
            fix = "the server's certificate has expired: renew it on the server (tls-cert-file)"
        elif "hostname" in text.lower() or "IP address mismatch" in text:
            fix = ("the server's certificate does not name the host of the URL: connect by a name it holds, or pass "
                   "ssl_check_hostname=False")
        else:
            fix = ("the server's certificate is not signed by a CA the client trusts: pass ssl_ca_certs=<PEM file of "
                   "the CA that signed it> (or ?ssl_ca_certs=... in the URL)")
    elif isinstance(ssl_exc, (ssl.SSLEOFError, ssl.SSLZeroReturnError)) or "alert" in text:
        fix = ("the server closed the TLS connection: it refused the client certificate (expired, not yet valid, or not "
               "signed by the CA in its tls-ca-cert-file) or requires one (tls-auth-clients yes). Pass a valid client "
               "certificate as ssl_certfile= and ssl_keyfile=")
    elif "WRONG_VERSION_NUMBER" in text or "wrong version number" in text:
        fix = "the port does not speak TLS: use redis:// for a plain port, or the server's tls-port with rediss://"
    else:
        fix = "check ssl_ca_certs, ssl_certfile and ssl_keyfile, and that the port is the server's tls-port"
    return StoreTLSError(f"TLS with Redis at {redact(url)} failed ({exc}): {fix}.")


def connection_error(
    url: str, exc: BaseException, index_name: str | None = None, prefix: str | None = None
) -> StoreConnectionError:
    """The :class:`StoreConnectionError` subclass that names the fault of ``exc`` and its fix (URL redacted).

    Args:
        url: the Redis URL (redacted in the message).
        exc: the redis-py error (or a wrapper of one: its causes are read).
        index_name: the store's index, for the ACL rule of a permission error.
        prefix: the store's document prefix, when not the default.

    Returns:
        The error (not raised): ``StoreAuthenticationError`` (wrong user or password),
            ``StorePermissionError`` (an ACL refused a command or key; names it and the rule to add),
            ``StoreTLSError`` (handshake or certificate), ``StoreTimeoutError`` (no answer in time) or
            ``StoreUnreachableError`` (refused, reset, unknown host).
    """
    chain = _chain(exc)
    where = redact(url)
    for e in chain:
        if isinstance(e, (redis.exceptions.AuthenticationError, redis.exceptions.AuthenticationWrongNumberOfArgsError)):
            return StoreAuthenticationError(
                f"Redis at {where} refused the credentials ({e}). Check the user name and password in the redis_url "
                "(redis://user:password@host:port; without a user name Redis checks the 'default' user), and that "
                "the ACL user exists and is on (ACL GETUSER <user> as an admin)."
            )
        if acl_refusal(e):
            return _permission_error(url, e, index_name, prefix)
    for e in chain:
        if isinstance(e, ssl.SSLError):
            return _tls_error(url, e, exc)
    tls = urlsplit(url).scheme == "rediss"
    for e in chain:
        if isinstance(e, (redis.exceptions.TimeoutError, TimeoutError, socket.timeout)):
            hint = " (a rediss:// URL on a port without TLS also waits like this)" if tls else ""
            return StoreTimeoutError(
                f"Redis at {where} did not answer in time ({exc}){hint}. Raise connect_timeout= (connecting) or "
                "socket_timeout= (each reply), or check the server's load and the network."
            )
    reset = any(isinstance(e, ConnectionResetError) for e in chain)
    hint = " A reset right after connecting is what a TLS port does to a plain client: use rediss://." if reset and not tls else ""
    return StoreUnreachableError(
        f"Cannot reach Redis at {where} ({exc}).{hint} Start Redis with the query engine, e.g. "
        f"`{DOCKER_HINT}` (or Redis 8 / Redis Cloud), or pass the right redis_url "
        f"(redis://user:password@host:port, rediss:// for TLS)."
    )


def retryable(exc: Exception) -> bool:
    """Whether redis-py may retry ``exc``: not a refused password or permission (``AuthenticationError`` is
    a ``ConnectionError`` to redis-py, yet no retry fixes it).

    Args:
        exc: the error a call raised.

    Returns:
        ``False`` for :data:`FATAL` errors, else ``True``.
    """
    return not isinstance(exc, FATAL)


def _check_tls_options(url: str, tls: dict[str, Any]) -> dict[str, Any]:
    """The TLS keywords given (``None`` left out), checked: known names, a ``rediss://`` URL, files that exist."""
    unknown = sorted(set(tls) - set(TLS_OPTIONS))
    if unknown:
        raise InvalidParameterError(f"Unknown Redis TLS option(s) {unknown}; the options are {list(TLS_OPTIONS)}.")
    given = {k: v for k, v in tls.items() if v is not None}
    if given and urlsplit(url).scheme != "rediss":
        raise InvalidParameterError(
            f"TLS option(s) {sorted(given)} given, but the redis_url {redact(url)} is not rediss://: use "
            "rediss://host:<tls port> for TLS, or drop the TLS options."
        )
    for name in ("ssl_ca_certs", "ssl_certfile", "ssl_keyfile"):
        if name in given and not Path(given[name]).is_file():
            raise InvalidParameterError(f"Redis TLS option {name}={str(given[name])!r}: no such file.")
    if "ssl_keyfile" in given and "ssl_certfile" not in given:
        raise InvalidParameterError("Redis TLS option ssl_keyfile needs ssl_certfile (the client certificate) too.")
    reqs = given.get("ssl_cert_reqs")
    if reqs is not None and not isinstance(reqs, ssl.VerifyMode) and str(reqs).lower() not in ("none", "optional", "required"):
        raise InvalidParameterError(f"Redis TLS option ssl_cert_reqs={reqs!r}: use 'required' (default), 'optional' or 'none'.")
    return given


def make_client(
    url: str,
    retries: int = 3,
    connect_timeout: float = 5.0,
    socket_timeout: float | None = None,
    **tls: Any,
) -> redis.Redis:
    """redis-py client that retries dropped connections / ``LOADING`` (a restarting server) with
    exponential backoff (50 ms doubling, capped at 1 s), at most ``retries`` times per call.

    Args:
        url: the Redis URL (``rediss://`` for TLS).
        retries: retries per call after the first try (0 = none).
        connect_timeout: seconds for connecting (TCP and TLS handshake).
        socket_timeout: seconds for each reply once connected (read and write); ``None`` = wait as long as
            the server takes.
        **tls: :data:`TLS_OPTIONS` (redis-py's names; ``rediss://`` only).

    Returns:
        The client (not yet connected: redis-py connects on the first call).

    Raises:
        InvalidParameterError: an unknown TLS option, a TLS option with a ``redis://`` URL, a certificate
            or key file that does not exist, negative retries or a non-positive timeout.
    """
    if not isinstance(retries, int) or isinstance(retries, bool) or retries < 0:
        raise InvalidParameterError(f"retries={retries!r} must be a whole number >= 0.")
    for name, value in (("connect_timeout", connect_timeout), ("socket_timeout", socket_timeout)):
        if value is not None and not (isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0):
            raise InvalidParameterError(f"{name}={value!r} must be a positive number of seconds.")
    return redis.Redis.from_url(
        url,
        retry=Retry(ExponentialBackoff(cap=1.0, base=0.05), retries, is_retryable=retryable),
        retry_on_error=list(RETRYABLE),
        socket_connect_timeout=connect_timeout,
        socket_timeout=socket_timeout,
        socket_keepalive=True,
        **_check_tls_options(url, tls),
    )


def call(url: str, fn: Callable[[], Any], index_name: str | None = None, prefix: str | None = None) -> Any:
    """Run one Redis call; a connection, credential or permission fault becomes the
    :class:`StoreConnectionError` subclass naming it (:func:`connection_error`).

    Args:
        url: the Redis URL, named in the error.
        fn: the call, without arguments.
        index_name: the store's index, for the ACL rule of a permission error.
        prefix: the store's document prefix, when not the default.

    Returns:
        What ``fn`` returns.

    Raises:
        StoreConnectionError: a subclass as :func:`connection_error` (directly or wrapped by redisvl).
    """
    try:
        return fn()
    except (*RETRYABLE, *FATAL) as exc:
        raise connection_error(url, exc, index_name, prefix) from exc
    except Exception as exc:  # redisvl wraps redis errors in its own classes
        if any(isinstance(e, (*RETRYABLE, *FATAL)) or acl_refusal(e) for e in _chain(exc)):
            raise connection_error(url, exc, index_name, prefix) from exc
        raise


def retrying(
    url: str, run: Callable[[], Any], start: int, batch_retries: int, max_backoff: float,
    index_name: str | None = None, prefix: str | None = None,
) -> Any:
    """Run one idempotent batch; on a dropped connection / restart back off exponentially (50 ms
    doubling, capped at ``max_backoff`` seconds) and rerun it whole, at most ``batch_retries`` times.
    Credential and permission faults are not retried.

    Args:
        url: the Redis URL, named in the error.
        run: the batch, without arguments (must be idempotent).
        start: the batch's first position (for the log line).
        batch_retries: reruns after the first try.
        max_backoff: the longest wait between tries, in seconds.
        index_name: the store's index, for the ACL rule of a permission error.
        prefix: the store's document prefix, when not the default.

    Returns:
        What ``run`` returns.

    Raises:
        StoreConnectionError: the last try failed too, or a fault no retry fixes (a subclass as
            :func:`connection_error`).
    """
    for attempt in range(batch_retries + 1):
        try:
            return run()
        except FATAL as exc:
            raise connection_error(url, exc, index_name, prefix) from exc
        except redis.exceptions.ResponseError as exc:
            if acl_refusal(exc):
                raise connection_error(url, exc, index_name, prefix) from exc
            raise
        except RETRYABLE as exc:
            if attempt == batch_retries:
                raise connection_error(url, exc, index_name, prefix) from exc
            delay = min(max_backoff, 0.05 * 2**attempt)
            logger.warning("Redis batch at row %d failed (%s); retry %d in %.2fs", start, exc, attempt + 1, delay)
            time.sleep(delay)
    return None  # pragma: no cover - the loop returns or raises


UPSERT_LUA = """
-- KEYS: document keys..., the row counter, the row -> id map.
-- ARGV: skip flag ('1': leave stored documents untouched), then per document: id, n, n field/value pairs.
-- A stored document keeps its row (and its cluster label unless the fields set one); its other fields
-- are replaced whole (DEL + HSET), so a metadata key it no longer has is no longer indexed. A stored
-- document whose fields would not change is left alone: every rewrite leaves the old version in the
-- query engine's full-text statistics (document count per term, total length) until its garbage
-- collector runs, which skews BM25 scores; a re-ingest or a retried batch must not do that.
local function unchanged(key, row, label, first, last)
  local want, nwant = {_row = row}, 1
  if label then want['cluster'] = label; nwant = 2 end
  for j = first, last, 2 do
    if want[ARGV[j]] == nil then nwant = nwant + 1 end
    want[ARGV[j]] = ARGV[j + 1]
  end
  local have = redis.call('HGETALL', key)
  if #have ~= 2 * nwant then return false end
  for j = 1, #have, 2 do
    if want[have[j]] ~= have[j + 1] then return false end
  end
  return true
end
local nkeys = #KEYS - 2
local counter, rowmap = KEYS[nkeys + 1], KEYS[nkeys + 2]
local skip = ARGV[1] == '1'
local pos = 2
local updated = {}
for i = 1, nkeys do
  local id, n = ARGV[pos], tonumber(ARGV[pos + 1])
  local first, last = pos + 2, pos + 1 + 2 * n
  local row = redis.call('HGET', KEYS[i], '_row')
  if row then
    updated[#updated + 1] = row
    if not skip then
      local label = redis.call('HGET', KEYS[i], 'cluster')
      if not unchanged(KEYS[i], row, label, first, last) then
        redis.call('DEL', KEYS[i])
        if label then
          redis.call('HSET', KEYS[i], '_row', row, 'cluster', label, unpack(ARGV, first, last))
        else
          redis.call('HSET', KEYS[i], '_row', row, unpack(ARGV, first, last))
        end
      end
    end
  else
    row = tostring(redis.call('INCR', counter) - 1)
    redis.call('HSET', KEYS[i], '_row', row, unpack(ARGV, first, last))
  end
  redis.call('HSET', rowmap, row, id)
  pos = last + 1
end
return updated
"""
"""The upsert of one batch as one server-side script: one round trip, atomic (a retried batch either
ran whole or not at all), rows assigned from the counter at first insert and kept on update."""


def to_scores(distances: np.ndarray, metric: str) -> np.ndarray:
    """Redis distances -> package scores (higher = more similar): cosine ``1 - d``, ip
    ``1 - d`` (Redis reports ``1 - ip``), l2 ``-sqrt(d)`` (Redis reports the squared distance).

    Args:
        distances: Redis vector distances, any shape.
        metric: ``"cosine"``, ``"ip"`` or ``"l2"``.

    Returns:
        float32 scores, same shape.
    """
    d = np.asarray(distances, dtype=np.float64)
    s = -np.sqrt(np.maximum(d, 0.0)) if metric == "l2" else 1.0 - d
    return s.astype(np.float32)


_B_ROW, _B_CONTENT, _B_META = (f.encode() for f in (ROW_FIELD, CONTENT_FIELD, METADATA_FIELD))
_B_DIST = VectorQuery.DISTANCE_ID.encode()
RETURN_FIELDS = (ROW_FIELD, CONTENT_FIELD, METADATA_FIELD)
"""What a KNN query of ``search_rows`` returns besides the distance. No ``_id``: a document's key is
``<prefix>:<id>`` and every reply carries the key, so the id is the key without ``<prefix>:`` (one field
less to send and parse)."""
HIT_FIELDS = (CONTENT_FIELD, METADATA_FIELD)
"""What a KNN query of ``search_vectors`` returns besides the distance: LangChain hits need no row
handles, so no ``_row`` either (two RESP elements less per hit: ~10 % of a single query's client time)."""
RawDoc = tuple[bytes, bytes, bytes]
"""A stored document's raw ``(_id, content, _metadata)`` bytes."""

_new = object.__new__
_setattr = object.__setattr__


def _document_builder() -> Callable[[str, str, dict], Document]:
    """``build(id, page_content, metadata) -> Document`` for fields already known good (str, str, dict
    decoded from what the store wrote), without running pydantic's validator (~5 us of a ~1 ms query
    per document). It fills the same four slots pydantic's ``model_construct`` fills, in the validated
    field order; checked once against ``Document(...)`` (equal, same field order, same fields set, same
    repr and dump), else the validated constructor is used."""
    def validated(doc_id: str, content: str, metadata: dict) -> Document:
        """A validated ``Document``.

        Args:
            doc_id: the document id.
            content: the page content.
            metadata: the metadata dict.

        Returns:
            ``Document(id=doc_id, page_content=content, metadata=metadata)``.
        """
        return Document(id=doc_id, page_content=content, metadata=metadata)

    proto = validated("id", "text", {"a": [1, "b"]})
    order = list(proto.__dict__)
    defaults = {f: v for f, v in proto.__dict__.items() if f not in ("id", "page_content", "metadata")}
    fields_set = frozenset(proto.model_fields_set)
    if (
        order != ["id", "metadata", "page_content", "type"]
        or defaults != {"type": "Document"}
        or fields_set != {"id", "metadata", "page_content"}
        or Document.__pydantic_post_init__ is not None
        or Document.__private_attributes__
        or Document.__pydantic_root_model__
    ):
        return validated
    kind = defaults["type"]

    def fast(doc_id: str, content: str, metadata: dict) -> Document:
        """A ``Document`` built without validation, equal to the validated one.

        Args:
            doc_id: the document id (a ``str``).
            content: the page content (a ``str``).
            metadata: the metadata (a ``dict``).

        Returns:
            The document.
        """
        doc = _new(Document)
        _setattr(doc, "__dict__", {"id": doc_id, "metadata": metadata, "page_content": content, "type": kind})
        _setattr(doc, "__pydantic_fields_set__", {"id", "metadata", "page_content"})
        _setattr(doc, "__pydantic_extra__", None)
        _setattr(doc, "__pydantic_private__", None)
        return doc

    probe = fast("id", "text", {"a": [1, "b"]})
    same = (
        probe == proto
        and list(probe.__dict__) == order
        and probe.model_fields_set == proto.model_fields_set
        and repr(probe) == repr(proto)
        and probe.model_dump() == proto.model_dump()
        and probe.__pydantic_extra__ == proto.__pydantic_extra__
        and probe.__pydantic_private__ == proto.__pydantic_private__
    )
    return fast if same else validated


make_document = _document_builder()
"""``make_document(id, page_content, metadata) -> Document``, equal to ``Document(id=..., page_content=...,
metadata=...)``; skips validation, so only for a ``str`` id and content and a ``dict`` metadata."""
FAST_DOCUMENTS = make_document.__name__ == "fast"
"""True when :data:`make_document` skips validation (the installed pydantic/langchain-core passed the check)."""


_scan_json = json.JSONDecoder().scan_once


def _json_value(text: str) -> Any:
    """``json.loads(text)`` for the compact JSON this store writes, in one C call (the scanner
    ``json.loads`` runs after two Python frames); anything else goes through ``json.loads``, which
    returns the same value or raises its usual error."""
    try:
        value, end = _scan_json(text, 0)
    except StopIteration:
        return json.loads(text)
    return value if end == len(text) else json.loads(text)


def raw_document(raw: RawDoc) -> Document:
    """The ``Document`` of a stored document's raw fields (metadata JSON that is not an object goes
    through the validated constructor, which raises).

    Args:
        raw: the stored ``(_id, content, _metadata)`` bytes.

    Returns:
        The document.

    Raises:
        json.JSONDecodeError: the metadata is not JSON.
        pydantic.ValidationError: the metadata JSON is not an object.
    """
    metadata = _json_value(raw[2].decode())
    if type(metadata) is not dict:
        return Document(id=raw[0].decode(), page_content=raw[1].decode(), metadata=metadata)
    return make_document(raw[0].decode(), raw[1].decode(), metadata)


_F32 = np.dtype(np.float32)
_HIGH_BYTE = 3 if sys.byteorder == "little" else 0
"""Which byte of a native float32 holds its sign and the top 7 bits of its exponent."""


def single_query_bytes(query_vectors: Any, dim: int) -> bytes | None:
    """The wire bytes of one query vector when it is already what a float32 field takes: a float32
    ndarray of shape (dim,) or (1, dim) whose values are all finite and below 2**127 in magnitude.
    ``None`` for anything else (other dtypes, shapes, lists, NaN / inf, huge values), which the general
    path converts, or refuses with its error naming the problem.

    Why: a single query is ~1 ms, and the numpy validation of the general path (``as_query_matrix``)
    costs ~30 us of it right after a reply (cold caches). Here: one ``tobytes`` and two byte searches. A
    float32 is NaN or infinite only when its exponent bits are all ones, so its high byte (sign + top 7
    exponent bits) is ``0x7f`` or ``0xff``; a vector with no such byte is finite (IEEE 754 binary32).

    Args:
        query_vectors: the query as passed by the caller (any type).
        dim: the field's width.

    Returns:
        ``4 * dim`` native float32 bytes, or ``None`` when the general path must handle it.
    """
    if (
        type(query_vectors) is not np.ndarray
        or query_vectors.size != dim
        or query_vectors.shape[-1] != dim
        or query_vectors.ndim > 2
        or query_vectors.dtype != _F32
    ):
        return None
    blob = query_vectors.tobytes()
    high = blob[_HIGH_BYTE::4]
    if b"\x7f" in high or b"\xff" in high:
        return None
    return blob


def _reply_hits(reply: Any, k: int, prefix_len: int) -> list[tuple[bytes, dict[bytes, Any]]]:
    """One FT.SEARCH reply (RESP3 map or RESP2 flat list) -> its first ``k`` hits as (id bytes, fields)."""
    if isinstance(reply, dict):
        return [(r[b"id"][prefix_len:], r[b"extra_attributes"]) for r in reply[b"results"][:k]]
    return [
        (reply[j - 1][prefix_len:], dict(zip(reply[j][::2], reply[j][1::2])))
        for j in range(2, min(len(reply), 2 * k + 1), 2)
    ]


def parse_search_replies(
    replies: list[Any], k: int, metric: str, cache: dict[int, RawDoc], prefix_len: int
) -> tuple[np.ndarray, np.ndarray]:
    """Raw FT.SEARCH KNN replies (RESP3 maps or RESP2 flat lists), one per query -> ``(scores, rows)``
    (m, k) float32 / int64, best first, padded ``-inf`` / ``-1``, scores as :func:`to_scores`. Each
    hit's raw document goes into ``cache`` (row -> :data:`RawDoc`), so the documents need no second
    round trip.

    Args:
        replies: raw FT.SEARCH replies, one per query.
        k: results per query.
        metric: ``"cosine"``, ``"ip"`` or ``"l2"``.
        cache: ``{row: RawDoc}``, filled in place with each hit's raw document.
        prefix_len: bytes of ``<prefix>:`` before the id in each key.

    Returns:
        ``(scores, rows)``: (m, k) float32 and (m, k) int64, padded with ``-inf`` / ``-1``.
    """
    m = len(replies)
    scores = [-math.inf] * (m * k)
    rows = [-1] * (m * k)
    l2 = metric == "l2"
    for qi, reply in enumerate(replies):
        base = qi * k
        for t, (doc_id, f) in enumerate(_reply_hits(reply, k, prefix_len)):
            row = int(f[_B_ROW])
            d = float(f[_B_DIST])
            rows[base + t] = row
            scores[base + t] = -math.sqrt(d if d > 0.0 else 0.0) if l2 else 1.0 - d
            cache[row] = (doc_id, f[_B_CONTENT], f[_B_META])
    return np.asarray(scores, dtype=np.float32).reshape(m, k), np.asarray(rows, dtype=np.int64).reshape(m, k)


def replies_to_hits(replies: list[Any], k: int, metric: str, prefix_len: int) -> list[list[tuple[Document, float]]]:
    """Raw FT.SEARCH KNN replies of a :data:`HIT_FIELDS` query (RESP3 maps or RESP2 flat lists), one per
    query -> LangChain hits: per query a list of (Document, score), best first, no padding. Scores as
    :func:`parse_search_replies` gives them (float32, rounded the same way, by ``array("f")``), so equal to
    ``hits(*search_rows(...))``, without the numpy round trip (the hot path of ``similarity_search``). A
    document seen twice in one call is one ``Document`` object.

    Args:
        replies: raw FT.SEARCH replies, one per query.
        k: results per query.
        metric: ``"cosine"``, ``"ip"`` or ``"l2"``.
        prefix_len: bytes of ``<prefix>:`` before the id in each key.

    Returns:
        Per query, ``[(Document, score)]`` best first.
    """
    l2 = metric == "l2"
    memo: dict[bytes, Document] = {}
    out: list[list[tuple[Document, float]]] = []
    build, scan = make_document, _scan_json
    for reply in replies:
        if isinstance(reply, dict):
            pairs = [(r[b"id"], r[b"extra_attributes"]) for r in reply[b"results"][:k]]
        else:
            pairs = [(reply[j - 1], dict(zip(reply[j][::2], reply[j][1::2]))) for j in range(2, min(len(reply), 2 * k + 1), 2)]
        docs: list[Document] = []
        dists: list[float] = []
        for key, f in pairs:
            dists.append(float(f[_B_DIST]))
            doc = memo.get(key)
            if doc is None:  # raw_document, inlined (one frame less per hit on the hot path)
                text = f[_B_META].decode()
                try:
                    metadata, end = scan(text, 0)
                except StopIteration:
                    end = -1
                if end == len(text) and type(metadata) is dict:
                    doc = build(key[prefix_len:].decode(), f[_B_CONTENT].decode(), metadata)
                else:
                    doc = raw_document((key[prefix_len:], f[_B_CONTENT], f[_B_META]))
                memo[key] = doc
            docs.append(doc)
        scores = [-math.sqrt(d if d > 0.0 else 0.0) for d in dists] if l2 else [1.0 - d for d in dists]
        out.append(list(zip(docs, array("f", scores).tolist())))
    return out
