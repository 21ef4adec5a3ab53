"""Talking to Redis: the client, connection errors that name the fix, batch retries, reply parsing.

One job: everything between the store's numpy side and the wire. The client retries a dropped
connection (and ``LOADING`` after a restart) with exponential backoff inside redis-py; a whole
pipelined batch is retried on top of that by :func:`retrying` (idempotent writes only), so an ingest
survives a server restart longer than redis-py's own retries last. Search replies are parsed into
numpy arrays plus the raw document fields the store keeps for :meth:`documents_at`.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import numpy as np
import redis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry
from redisvl.query import VectorQuery

from langchain_embcompare.errors import StoreConnectionError
from langchain_embcompare.stores.redis_schema import CONTENT_FIELD, ID_FIELD, METADATA_FIELD, ROW_FIELD

__all__ = [
    "DOCKER_HINT",
    "UPSERT_LUA",
    "RETRYABLE",
    "call",
    "connection_error",
    "make_client",
    "parse_search_replies",
    "redact",
    "retrying",
    "to_scores",
]

# One log channel for the whole Redis store (tests and users filter on it).
logger = logging.getLogger("langchain_embcompare.stores.redis")

DOCKER_HINT = "docker run -p 6379:6379 redis/redis-stack-server:latest"
RETRYABLE = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)  # BusyLoadingError included


def redact(url: str) -> str:
    """The URL without its password (error messages must not leak credentials)."""
    parts = urlsplit(url)
    if parts.password:
        netloc = f"{parts.username or ''}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
        return urlunsplit(parts._replace(netloc=netloc))
    return url


def connection_error(url: str, exc: BaseException) -> StoreConnectionError:
    """``StoreConnectionError`` naming the (redacted) URL, the cause and how to start a server."""
    return StoreConnectionError(
        f"Cannot reach Redis at {redact(url)} ({exc}). Start Redis with the query engine, e.g. "
        f"`{DOCKER_HINT}` (or Redis 8 / Redis Cloud), or pass the right redis_url "
        f"(redis://user:password@host:port, rediss:// for TLS)."
    )


def make_client(url: str, retries: int, connect_timeout: float) -> redis.Redis:
    """redis-py client that retries dropped connections / LOADING with exponential backoff
    (``retries`` attempts, 50 ms doubling, capped at 1 s); ``connect_timeout`` in seconds."""
    return redis.Redis.from_url(
        url,
        retry=Retry(ExponentialBackoff(cap=1.0, base=0.05), retries),
        retry_on_error=list(RETRYABLE),
        socket_connect_timeout=connect_timeout,
        socket_keepalive=True,
    )


def call(url: str, fn: Callable[[], Any]) -> Any:
    """Run one Redis call; a connection failure becomes ``StoreConnectionError`` naming ``url``."""
    try:
        return fn()
    except RETRYABLE as exc:
        raise connection_error(url, exc) from exc
    except Exception as exc:  # redisvl wraps redis errors in its own classes
        cause = exc.__cause__ or exc.__context__
        if isinstance(cause, RETRYABLE):
            raise connection_error(url, cause) from exc
        raise


def retrying(url: str, run: Callable[[], Any], start: int, batch_retries: int, max_backoff: float) -> Any:
    """Run one idempotent batch; on a dropped connection / restart back off exponentially (50 ms
    doubling, capped at ``max_backoff`` seconds) and rerun it whole, at most ``batch_retries`` times.
    ``start``: the batch's first position (for the log line). Raises ``StoreConnectionError`` at the end."""
    for attempt in range(batch_retries + 1):
        try:
            return run()
        except RETRYABLE as exc:
            if attempt == batch_retries:
                raise connection_error(url, exc) from exc
            delay = min(max_backoff, 0.05 * 2**attempt)
            logger.warning("Redis batch at row %d failed (%s); retry %d in %.2fs", start, exc, attempt + 1, delay)
            time.sleep(delay)
    return None  # pragma: no cover - the loop returns or raises


UPSERT_LUA = """
-- KEYS: document keys..., the row counter, the row -> id map.
-- ARGV: skip flag ('1': leave stored documents untouched), then per document: id, n, n field/value pairs.
-- A stored document keeps its row (and its cluster label unless the fields set one); its other fields
-- are replaced whole (DEL + HSET), so a metadata key it no longer has is no longer indexed.
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
      redis.call('DEL', KEYS[i])
      if label then
        redis.call('HSET', KEYS[i], '_row', row, 'cluster', label, unpack(ARGV, first, last))
      else
        redis.call('HSET', KEYS[i], '_row', row, unpack(ARGV, first, last))
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
    """Redis distances -> package scores (higher = more similar), float32: cosine ``1 - d``, ip
    ``1 - d`` (Redis reports ``1 - ip``), l2 ``-sqrt(d)`` (Redis reports the squared distance)."""
    d = np.asarray(distances, dtype=np.float64)
    s = -np.sqrt(np.maximum(d, 0.0)) if metric == "l2" else 1.0 - d
    return s.astype(np.float32)


_B_ROW, _B_ID, _B_CONTENT, _B_META = (f.encode() for f in (ROW_FIELD, ID_FIELD, CONTENT_FIELD, METADATA_FIELD))
_B_DIST = VectorQuery.DISTANCE_ID.encode()
RawDoc = tuple[bytes, bytes, bytes]
"""A stored document's raw ``(_id, content, _metadata)`` bytes."""


def parse_search_replies(
    replies: list[Any], k: int, metric: str, cache: dict[int, RawDoc]
) -> tuple[np.ndarray, np.ndarray]:
    """Raw FT.SEARCH KNN replies (RESP3 maps or RESP2 flat lists), one per query -> ``(scores, rows)``
    (m, k) float32 / int64, best first, padded ``-inf`` / ``-1``, scores as :func:`to_scores`. Each
    hit's raw document goes into ``cache`` (row -> :data:`RawDoc`), so the documents need no second
    round trip."""
    m = len(replies)
    scores = [-math.inf] * (m * k)
    rows = [-1] * (m * k)
    l2 = metric == "l2"
    for qi, reply in enumerate(replies):
        if isinstance(reply, dict):
            hits = [r[b"extra_attributes"] for r in reply[b"results"]]
        else:
            hits = [dict(zip(reply[j][::2], reply[j][1::2])) for j in range(2, len(reply), 2)]
        base = qi * k
        for t, f in enumerate(hits[:k]):
            row = int(f[_B_ROW])
            d = float(f[_B_DIST])
            rows[base + t] = row
            scores[base + t] = -math.sqrt(d if d > 0.0 else 0.0) if l2 else 1.0 - d
            cache[row] = (f[_B_ID], f[_B_CONTENT], f[_B_META])
    return np.asarray(scores, dtype=np.float32).reshape(m, k), np.asarray(rows, dtype=np.int64).reshape(m, k)
