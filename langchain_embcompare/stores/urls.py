"""Server addresses in messages: one rule for every store, so no error message leaks a credential."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit


def redact(url: str | None) -> str | None:
    """The URL without its password (error messages, reprs and saved settings must not leak credentials).

    Args:
        url: a server URL (``redis://``, ``rediss://``, ``http(s)://``, ...), a local file path, or None.

    Returns:
        The URL with its password replaced by ``***`` (unchanged when it has none, or is a path;
        ``None`` and ``""`` unchanged).
    """
    if not url:
        return url
    parts = urlsplit(str(url))
    if parts.password:
        netloc = f"{parts.username or ''}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
        return urlunsplit(parts._replace(netloc=netloc))
    return url


__all__ = ["redact"]
