"""Full-text search on a Redis store (capability ``"full_text"``): BM25 by the Redis query engine
(``FT.SEARCH ... SCORER BM25STD``) on the ``content`` TEXT field the store writes.

:class:`RedisFullTextMixin` gives :class:`~langchain_embcompare.stores.redis.RedisVectorStore` the
contract's ``full_text_search(queries, k)`` (same return shape as Milvus's) and
``full_text_settings()``; :func:`full_text_query` is the engine call itself (a redis-py client and an
index name: any scorer, RESP2 or RESP3).

The query side is analysed like the package's bm25s arm (``retrievers/lexical.py``): bm25s' tokenizer
with lower-casing, the token pattern ``(?u)\\b\\w\\w+\\b`` and bm25s' English stopword list, *no*
stemming (Redis stems with its own Snowball English stemmer); the tokens are OR-ed (:func:`query_string`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from langchain_core.documents import Document

from langchain_embcompare.errors import InvalidParameterError
from langchain_embcompare.stores.ops import check_query
from langchain_embcompare.stores.redis_io import check_complete, timeout_args

__all__ = ["QUERY_LOWER", "QUERY_STOPWORDS", "QUERY_TOKEN_PATTERN", "SCORERS", "RedisFullTextMixin", "full_text_query", "query_string"]

SCORERS = ("BM25STD", "BM25")
"""The Redis BM25 scorers (RediSearch 2.10; ``BM25STD.TANH`` does not exist there)."""
QUERY_LOWER = True
QUERY_TOKEN_PATTERN = r"(?u)\b\w\w+\b"
QUERY_STOPWORDS = "en"
"""How a query is analysed before it is sent (the bm25s arm's defaults: lower-case, ``\\w\\w+``, bm25s' English list)."""


def query_string(query: str, field: str = "content", *, stopwords: str | Sequence[str] | None = QUERY_STOPWORDS,
                 lower: bool = QUERY_LOWER, token_pattern: str = QUERY_TOKEN_PATTERN) -> str | None:
    """The FT.SEARCH query for a natural-language ``query``: its tokens (bm25s' tokenizer, no stemming)
    OR-ed together on ``field``. ``None`` when no token is left.

    Why OR: Redis' default between terms is AND, which returns only documents holding every word; BM25
    ranks every document holding any of them.

    Args:
        query: the query text.
        field: the TEXT field searched.
        stopwords: a bm25s stopword list name, a list of words, or None.
        lower: lower-case the query first.
        token_pattern: the regex whose matches are the tokens.

    Returns:
        ``@field:(t1 | t2 | ...)``, or None when the query has no token.
    """
    import bm25s

    toks = bm25s.tokenize(
        [query], lower=lower, token_pattern=token_pattern,
        stopwords=list(stopwords) if isinstance(stopwords, (tuple, list)) else stopwords,
        stemmer=None, return_ids=False, show_progress=False,
    )[0]
    # \w tokens hold no query-syntax characters; keep each once (Redis scores a term once per query)
    terms = list(dict.fromkeys(t for t in toks if t))
    if not terms:
        return None
    return f"@{field}:(" + " | ".join(terms) + ")"


def _decode(x: Any) -> str:
    return x.decode() if isinstance(x, bytes) else str(x)


def parse_scored_reply(reply: Any) -> list[tuple[Document, float]]:
    """(Document, score) pairs from ``FT.SEARCH ... WITHSCORES RETURN 3 _id content _metadata``.

    Args:
        reply: the raw reply, RESP2 (a flat list) or RESP3 (a dict).

    Returns:
        The hits in reply order.
    """
    out = []
    if isinstance(reply, dict):
        for r in reply.get(b"results", reply.get("results", [])):
            attrs = r.get(b"extra_attributes") or r.get("extra_attributes") or {}
            f = {_decode(k): v for k, v in attrs.items()}
            score = r.get(b"score", r.get("score"))
            out.append((f, float(score)))
    else:
        j = 1  # RESP2: [total, key, score, [field, value, ...], key, score, [...], ...]
        while j + 2 < len(reply):
            score = float(reply[j + 1])
            fields = reply[j + 2]
            f = {_decode(a): b for a, b in zip(fields[::2], fields[1::2])}
            out.append((f, score))
            j += 3
    docs = []
    for f, score in out:
        meta = json.loads(f["_metadata"]) if "_metadata" in f else {}
        docs.append((Document(id=_decode(f.get("_id", "")), page_content=_decode(f.get("content", "")), metadata=meta), score))
    return docs


def check_queries(queries: Sequence[Any]) -> None:
    """Every query a ``str`` UTF-8 can encode.

    Args:
        queries: the queries.

    Raises:
        InvalidParameterError: naming ``queries[i]`` (not a str, or a lone UTF-16 surrogate).
    """
    for i, q in enumerate(queries):
        if not isinstance(q, str):
            raise InvalidParameterError(f"queries[{i}] is a {type(q).__name__}, not a str.")
        check_query(q, f"queries[{i}]")


def full_text_query(
    client: Any,
    index_name: str,
    queries: Sequence[str],
    k: int = 10,
    *,
    scorer: str = "BM25STD",
    field: str = "content",
    batch_size: int = 50,
    timeout_ms: int = 0,
) -> list[list[tuple[Document, float]]]:
    """Full-text BM25 through the Redis query engine: per query, the top-``k`` (Document, score), scores > 0.

    Every query is sent with ``TIMEOUT timeout_ms`` (``0`` = no limit, the default): a server's own
    limit (RediSearch's default 500 ms, ``ON_TIMEOUT RETURN``) would silently answer a query on a busy
    server with a partial result (documents missing, BM25 scores too low). A positive ``timeout_ms``
    that a query hits raises ``StoreTimeoutError`` (RESP3 connections; see
    :func:`~langchain_embcompare.stores.redis_io.check_complete`). One pipelined round trip per
    ``batch_size`` queries. A query with no token left returns ``[]``.

    Scorers (both exist in RediSearch 2.10; ``BM25STD.TANH`` does not). ``BM25STD``, as its
    ``EXPLAINSCORE`` prints it and the tests check by hand::

        score(q, d) = sum over matched index terms t of
                      idf(t) * tf(t, d) * (k1 + 1) / (tf(t, d) + k1 * (1 - b + b * |d| / avgdl))
        idf(t)      = ln(1 + (N - df(t) + 0.5) / (df(t) + 0.5)),   k1 = 1.2,  b = 0.5 (fixed)

    where a query word whose Snowball stem differs from it matches twice, as the word and as its stem
    (``apple`` and ``+appl``), so such words weigh double; ``|d|`` counts the document's indexed
    tokens (Redis drops its own short stopword list and keeps one-letter tokens). ``BM25`` is
    RediSearch's older variant (kept for older servers).

    How it differs from the bm25s arm (k1 = 1.5, b = 0.75, stem only, no (k1 + 1) factor): the
    ``(k1 + 1)`` factor is a constant scale and changes no ranking; k1, b, the word + stem double
    match and the tokenizer (Redis splits on punctuation, bm25s keeps ``\\w\\w+`` words) do. The
    ranking is close to, not identical with, bm25s'; the difference is measured on SciFact in
    benchmarks/results/hybrid_scifact.json (``redis``) and on the test slice by tests/test_lexical.py.

    Args:
        client: a redis-py client (a Redis store's ``client``).
        index_name: the search index (a Redis store's ``spec.index_name``).
        queries: the query texts.
        k: documents per query, > 0.
        scorer: ``"BM25STD"`` or ``"BM25"``.
        field: the TEXT field searched (the Redis store writes ``content``).
        batch_size: queries per pipelined round trip.
        timeout_ms: the server-side limit of one query in ms (``0`` = none).

    Returns:
        Per query, ``[(Document, score)]`` best first (scores > 0).

    Raises:
        InvalidParameterError: an unknown scorer, a non-positive ``k``, or a bad query (named).
        StoreTimeoutError: a positive ``timeout_ms`` was hit.
    """
    if scorer not in SCORERS:
        raise InvalidParameterError(f"scorer={scorer!r}: Redis BM25 scorers are {SCORERS}.")
    check_queries(queries)
    if not isinstance(k, int) or isinstance(k, bool) or k <= 0:
        raise InvalidParameterError(f"k must be a positive integer, got {k!r}.")
    qstrings = [query_string(q, field) for q in queries]
    out: list[list[tuple[Document, float]]] = [[] for _ in queries]
    todo = [i for i, q in enumerate(qstrings) if q is not None]
    for start in range(0, len(todo), batch_size):
        chunk = todo[start : start + batch_size]
        with client.pipeline(transaction=False) as pipe:
            for i in chunk:
                pipe.execute_command(
                    "FT.SEARCH", index_name, qstrings[i], *timeout_args(timeout_ms), "WITHSCORES", "SCORER", scorer,
                    "RETURN", "3", "_id", "content", "_metadata", "LIMIT", "0", str(int(k)), "DIALECT", "2",
                )
            replies = pipe.execute()
        check_complete(replies, timeout_ms, index_name)
        for i, reply in zip(chunk, replies):
            out[i] = [(d, s) for d, s in parse_scored_reply(reply) if s > 0]
    return out


class RedisFullTextMixin:
    """The contract's full-text methods on a Redis store (``client``, ``spec``, ``query_timeout_ms``,
    ``capabilities`` come from :class:`~langchain_embcompare.stores.redis.RedisVectorStore`)."""

    client: Any
    spec: Any
    query_timeout_ms: int
    capabilities: frozenset[str]

    def full_text_search(self, queries: Sequence[str], k: int = 4) -> list[list[tuple[Document, float]]]:
        """BM25 by the Redis query engine (``BM25STD``, k1 1.2, b 0.5) on the ``content`` field: per query
        the top-``k`` ``(Document, score)``, best first, scores > 0 (see :func:`full_text_query`); each
        query carries the store's ``query_timeout_ms``.

        Args:
            queries: query strings.
            k: hits per query (>= 1).

        Returns:
            Per query, ``[(Document, BM25 score)]`` best first.

        Raises:
            MissingCapabilityError: the index was built with ``index_content=False`` (no full-text field).
            InvalidParameterError: a bad ``k`` or query (its position named).
            StoreTimeoutError: ``query_timeout_ms`` was hit.
        """
        if "full_text" not in self.capabilities:
            raise self.missing(  # type: ignore[attr-defined]
                "full_text", f"full-text search on Redis index {self.spec.index_name!r} (built with index_content=False)"
            )
        return full_text_query(self.client, self.spec.index_name, list(queries), k, timeout_ms=self.query_timeout_ms)

    def full_text_settings(self) -> dict[str, Any]:
        """The full-text engine's settings, recorded with a run.

        Returns:
            ``engine``, ``scorer``, ``field``, ``k1``, ``b``, ``query_tokens`` (the query analysis) and ``stemmer``.
        """
        return {"engine": "redis", "scorer": "BM25STD", "field": "content", "k1": 1.2, "b": 0.5,
                "query_tokens": {"stopwords": QUERY_STOPWORDS, "lower": QUERY_LOWER, "token_pattern": QUERY_TOKEN_PATTERN},
                "stemmer": "redis (Snowball english, word + stem indexed)"}
