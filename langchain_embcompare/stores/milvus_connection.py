"""Talking to a Milvus server: connection faults by kind (with the fix), bounded retries with backoff.

One job: everything between the store and pymilvus's client that is about the connection, not the data.

* **Faults by kind.** pymilvus wraps every fault in ``MilvusException`` (connect: ``code=2, Fail connecting
  to server``, whatever the cause); the gRPC status underneath says what happened. :func:`fault_kind`
  walks the exception's chain and :func:`connection_error` turns it into the package's class, naming the
  fix: ``UNAUTHENTICATED`` -> :class:`StoreAuthenticationError`, ``PERMISSION_DENIED`` (``PrivilegeSearch:
  permission deny to app``) -> :class:`StorePermissionError` naming the privilege, the collection and the
  ``grant_privilege`` call to add, ``UNAVAILABLE`` / refused -> :class:`StoreUnreachableError`,
  ``DEADLINE_EXCEEDED`` or pymilvus's ``Retry timeout`` -> :class:`StoreTimeoutError`.
* **Secrets.** The token (and a password in the URI) never reaches a message or a log line: messages
  carry the redacted URI and the user name only; any text from the server passes through :func:`scrub`.
* **Retries.** :class:`GuardedClient` wraps the ``MilvusClient``: a call of :data:`RETRYABLE` (reads,
  upserts, deletes, flushes, loads: each gives the same result when repeated) that fails because the
  server is unreachable is tried again ``retries`` times, ``0.5 s`` then doubling up to ``max_backoff``,
  one warning log line each (gRPC re-opens its channel by itself once the server is back); a read
  that a restarted server answers with ``collection not loaded`` loads the collection again and
  retries (:data:`RELOAD_ON`: the store had loaded it when it opened). pymilvus
  already retries a call on ``UNAVAILABLE`` within its ``timeout`` (the store's ``call_timeout``): these
  retries come on top, so an ingest or a query batch rides over a server restart. Authentication,
  permission and timeout faults are raised at once (another try cannot change them), as is every other
  error, untouched (a bad expression stays pymilvus's ``MilvusException``). ``insert`` is not retried
  (Milvus Lite only; a server always upserts).
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from langchain_embcompare.errors import (
    StoreAuthenticationError,
    StoreConnectionError,
    StorePermissionError,
    StoreTimeoutError,
    StoreUnreachableError,
)
from langchain_embcompare.stores.urls import redact

__all__ = [
    "DOCKER_HINT",
    "GLOBAL_PRIVILEGES",
    "GuardedClient",
    "RELOAD_ON",
    "RETRYABLE",
    "STORE_PRIVILEGES",
    "connection_error",
    "fault_kind",
    "scrub",
    "token_user",
]

logger = logging.getLogger("langchain_embcompare.stores.milvus")

DOCKER_HINT = (
    "curl -sfL https://raw.githubusercontent.com/milvus-io/milvus/master/scripts/standalone_embed.sh -o standalone_embed.sh "
    "&& bash standalone_embed.sh start"
)

RETRYABLE = frozenset({
    "search", "query", "query_iterator", "get", "upsert", "delete", "flush", "load_collection", "release_collection",
    "describe_collection", "describe_index", "has_collection", "list_collections", "get_server_version", "get_load_state",
    "list_indexes", "get_collection_stats",
})
"""``MilvusClient`` methods retried when the server is unreachable: repeating each gives the same result."""

RELOAD_ON = frozenset({"search", "query", "get", "query_iterator"})
"""Reads retried after loading the collection again when a restarted server answers ``collection not loaded``."""

GLOBAL_PRIVILEGES = frozenset({
    "CreateCollection", "DropCollection", "DescribeCollection", "ShowCollections", "RenameCollection", "FlushAll",
    "CreateOwnership", "DropOwnership", "SelectOwnership", "ManageOwnership", "CreateResourceGroup",
    "DropResourceGroup", "DescribeResourceGroup", "ListResourceGroups", "TransferNode", "TransferReplica",
    "CreateDatabase", "DropDatabase", "ListDatabases",
})
"""Milvus privileges granted on ``object_type="Global", object_name="*"`` (the others: ``"Collection"``)."""

STORE_PRIVILEGES: dict[str, tuple[str, ...]] = {
    "read": ("Load", "GetLoadState", "IndexDetail", "Search", "Query"),
    "write": ("Insert", "Upsert", "Delete", "Flush", "GetFlushState", "Release"),
}
"""The ``Collection`` privileges the store uses on an existing collection (Milvus 2.3.5): ``read`` to open it
and search (``Load``, ``IndexDetail`` at open; ``Query`` for ``count``/``documents_at``), ``write`` to ingest
(``Release`` and ``GetFlushState`` for :meth:`flush`). Creating, overwriting or dropping a collection needs the
``Global`` ``CreateCollection`` / ``DropCollection`` (give them to an admin user, not the application's)."""

_PRIVILEGE_RE = re.compile(r"Privilege(\w+): permission deny(?: to (\w+))?")
_TIMEOUT_TEXT = ("retry timeout", "deadline exceeded", "deadline_exceeded", "context done", "timed out")
_AUTH_TEXT = ("auth check failure", "unauthenticated", "authentication fail")


def token_user(token: str | None) -> str | None:
    """The user name of a ``"user:password"`` token (``None`` for no token or an API key).

    Args:
        token: the token given to the store, or ``None``.

    Returns:
        The part before the first ``:``, or ``None``.
    """
    if not token or ":" not in token:
        return None
    return token.split(":", 1)[0]


def scrub(text: str, secrets: list[str]) -> str:
    """``text`` with every secret (token, password) replaced by ``***``.

    Args:
        text: any text about to go into a message or a log line.
        secrets: the strings never to show (empty ones are ignored).

    Returns:
        The text without them.
    """
    for s in sorted((s for s in secrets if s), key=len, reverse=True):
        text = text.replace(s, "***")
    return text


def _chain(exc: BaseException) -> list[BaseException]:
    """``exc`` and its causes / contexts, each once (pymilvus's chains can loop)."""
    out: list[BaseException] = []
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        x = todo.pop(0)
        if x is None or id(x) in seen:
            continue
        seen.add(id(x))
        out.append(x)
        todo += [x.__cause__, x.__context__]
    return out


def _grpc_code(exc: BaseException) -> str | None:
    code = getattr(exc, "code", None)
    if callable(code):  # grpc.RpcError: code() -> StatusCode
        try:
            return str(getattr(code(), "name", code()))
        except Exception:  # noqa: BLE001 - not a gRPC error after all
            return None
    return None


def _detail(exc: BaseException) -> str:
    """The most telling one-line text of a fault: a gRPC error's details, else the first line."""
    for x in _chain(exc):
        details = getattr(x, "details", None)
        if callable(details):
            try:
                text = details()
            except Exception:  # noqa: BLE001
                text = None
            if text:
                return str(text).splitlines()[0][:300]
    return str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__


def fault_kind(exc: BaseException) -> str | None:
    """Which connection fault ``exc`` is, from its chain.

    Args:
        exc: an exception raised by pymilvus (or gRPC).

    Returns:
        ``"authentication"``, ``"permission"``, ``"timeout"``, ``"unreachable"``, or ``None`` for an error that is
        not about the connection (a bad expression, a missing collection).
    """
    if isinstance(exc, StoreConnectionError):
        return {StoreAuthenticationError: "authentication", StorePermissionError: "permission",
                StoreTimeoutError: "timeout", StoreUnreachableError: "unreachable"}.get(type(exc))
    chain = _chain(exc)
    codes = {_grpc_code(x) for x in chain} - {None}
    text = " ".join(str(x) for x in chain).lower()
    if "UNAUTHENTICATED" in codes or any(t in text for t in _AUTH_TEXT):
        return "authentication"
    if "PERMISSION_DENIED" in codes or "permission deny" in text:
        return "permission"
    if "DEADLINE_EXCEEDED" in codes or any(t in text for t in _TIMEOUT_TEXT):
        return "timeout"
    if "UNAVAILABLE" in codes or "fail connecting to server" in text or "connection refused" in text:
        return "unreachable"
    return None


def connection_error(
    exc: BaseException,
    uri: str,
    *,
    token: str | None = None,
    action: str = "connect",
    collection: str | None = None,
    call_timeout: float | None = None,
) -> StoreConnectionError | None:
    """The package's error for a connection fault, naming what to do; ``None`` when ``exc`` is not one.

    Args:
        exc: what pymilvus raised.
        uri: the store's URI (shown redacted).
        token: the token in use (never shown: only its user name; scrubbed from the server's text).
        action: what was being done (a ``MilvusClient`` method name, or ``"connect"``).
        collection: the collection the call was about, if any.
        call_timeout: the per-call timeout in force (named by a timeout's message).

    Returns:
        A :class:`StoreAuthenticationError`, :class:`StorePermissionError`, :class:`StoreTimeoutError` or
        :class:`StoreUnreachableError`, or ``None``.
    """
    kind = fault_kind(exc)
    if kind is None:
        return None
    secrets = [token or "", (token or "").split(":", 1)[-1], urlsplit(uri).password or ""]
    detail = scrub(_detail(exc), secrets)
    where = redact(uri)
    user = token_user(token)
    if kind == "authentication":
        who = f"user {user!r}" if user else ("the API key given" if token else "no token (none was given)")
        return StoreAuthenticationError(
            f"Milvus at {where} refused the credentials: {who} ({detail}). This server has authorization on "
            "(common.security.authorizationEnabled): pass token='user:password' of an existing user, or an API key "
            "(the CLI reads MILVUS_TOKEN). An administrator creates users with MilvusClient.create_user(user_name, "
            "password) and resets a password with update_password; the superuser is root (first password: Milvus)."
        )
    if kind == "permission":
        m = _PRIVILEGE_RE.search(" ".join(str(x) for x in _chain(exc)))
        privilege = m.group(1) if m else "the privilege named above"
        user = (m.group(2) if m and m.group(2) else None) or user or "this user"
        if privilege in GLOBAL_PRIVILEGES:
            object_type, object_name, target = "Global", "*", "the database"
        else:
            object_type, object_name = "Collection", collection or "<collection>"
            target = f"collection {collection!r}" if collection else "the collection"
        return StorePermissionError(
            f"Milvus at {where}: user {user!r} lacks the privilege {privilege!r} on {target} ({action}: {detail}). "
            f"Grant it to one of the user's roles, as an administrator: client.grant_privilege(role_name='<role>', "
            f"object_type={object_type!r}, privilege={privilege!r}, object_name={object_name!r}) "
            f"(client.describe_user({user!r}) lists its roles). The store's privileges on a collection are listed "
            "in the README (Milvus users and roles)."
        )
    if kind == "timeout":
        limit = f"call_timeout={call_timeout}s" if call_timeout is not None else "its time limit"
        on = f" on collection {collection!r}" if collection else ""
        return StoreTimeoutError(
            f"Milvus at {where} did not finish {action}{on} within {limit} ({detail}); its answer would be incomplete, so "
            "none is returned. Raise call_timeout (None: no limit), send smaller batches, or check the server's load."
        )
    return StoreUnreachableError(
        f"No Milvus answers at {where} ({action}: {detail}). Start the server (`{DOCKER_HINT}`, listening on "
        "http://localhost:19530) or fix the host and port in uri; a server being restarted answers again within "
        "seconds (raise retries / max_backoff to wait longer); or use a local file path as uri for Milvus Lite (no server)."
    )


class GuardedClient:
    """A ``pymilvus.MilvusClient`` whose calls raise the package's connection errors and retry what is safe.

    Every attribute is the client's; a method call that fails with a connection fault raises the error
    :func:`connection_error` makes (the original as its cause); a method of :data:`RETRYABLE` failing
    because the server is unreachable is retried first (``retries`` times, backoff ``0.5 s`` doubling up to
    ``max_backoff``). Other errors pass through untouched. The wrapped client is :attr:`client`.

    Args:
        client: the connected ``MilvusClient``.
        uri: the URI it is connected to (shown redacted).
        token: the token in use (never shown; scrubbed from messages).
        retries: tries after the first for a retryable call (0: none).
        max_backoff: the longest wait between tries, in seconds.
        call_timeout: the per-call timeout the store passes (named in a timeout's message).
        sleep: the wait function (tests may pass a fake).
    """

    def __init__(
        self,
        client: Any,
        uri: str,
        *,
        token: str | None = None,
        retries: int = 3,
        max_backoff: float = 5.0,
        call_timeout: float | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.client = client.client if isinstance(client, GuardedClient) else client
        self.uri = uri
        self.retries = int(retries)
        self.max_backoff = float(max_backoff)
        self.call_timeout = call_timeout
        self.sleep = sleep
        self._token = token  # never shown; only scrubbed from texts

    def __repr__(self) -> str:
        return f"GuardedClient({redact(self.uri)!r}, retries={self.retries}, max_backoff={self.max_backoff})"

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.client, name)
        if not callable(attr) or name.startswith("_"):
            return attr
        return self.guard(name, attr)

    def error(self, exc: BaseException, action: str, collection: str | None = None) -> StoreConnectionError | None:
        """The package's error for ``exc`` raised by ``action`` (``None``: not a connection fault).

        Args:
            exc: what pymilvus raised.
            action: the method called.
            collection: the collection it was about.

        Returns:
            The error to raise, or ``None``.
        """
        return connection_error(exc, self.uri, token=self._token, action=action, collection=collection,
                                call_timeout=self.call_timeout)

    def guard(self, name: str, method: Callable[..., Any]) -> Callable[..., Any]:
        """``method`` with retries (if ``name`` is in :data:`RETRYABLE`) and fault translation.

        Args:
            name: the method's name.
            method: the bound method of the wrapped client.

        Returns:
            The guarded callable.
        """

        def call(*args: Any, **kwargs: Any) -> Any:
            collection = kwargs.get("collection_name", args[0] if args and isinstance(args[0], str) else None)
            tries = self.retries + 1 if name in RETRYABLE else 1
            for attempt in range(tries):
                try:
                    return method(*args, **kwargs)
                except Exception as exc:
                    kind = fault_kind(exc)
                    if (kind is None and collection and name in RELOAD_ON and attempt < tries - 1
                            and "collection not loaded" in str(exc).lower()):
                        # a restarted server may come back with the collection released: load it again
                        logger.warning("Milvus at %s: collection %r not loaded after a restart; loading it again (%s, try "
                                       "%d of %d)", redact(self.uri), collection, name, attempt + 1, tries - 1)
                        self.guard("load_collection", self.client.load_collection)(collection, timeout=self.call_timeout)
                        continue
                    if kind == "unreachable" and attempt < tries - 1:
                        wait = min(0.5 * 2**attempt, self.max_backoff)
                        logger.warning("Milvus at %s: %s unreachable (%s); retry %d of %d in %.1fs", redact(self.uri), name,
                                       scrub(_detail(exc), [self._token or "", (self._token or "").split(":", 1)[-1]]),
                                       attempt + 1, tries - 1, wait)
                        self.sleep(wait)
                        continue
                    err = self.error(exc, name, collection) if kind is not None else None
                    if err is None:
                        raise
                    raise err from exc
            raise AssertionError("unreachable")

        call.__name__ = name
        call.__doc__ = getattr(method, "__doc__", None)
        return call
