"""What the Milvus at the other end of a client can do, from its version: detected, never guessed.

One job: turn ``MilvusClient.get_server_version()`` into the features the store's layout depends on,
so that a feature the server lacks is adapted to (a documented substitute, same results) or refused
with an error naming the version that has it, instead of failing deep inside collection creation.

============================  ===========  =====================================================
feature                       from         without it (older server)
============================  ===========  =====================================================
``inverted_index`` (scalar)   2.4          the ``row`` field gets ``STL_SORT`` (same lookups)
``multi_vector`` (fields)     2.4          one vector field per collection: no capability
                                           ``"vector_fields"``; ``extra_vector_fields`` refused
``nullable`` fields           2.5          no typed metadata columns: filters read the ``_tags`` /
                                           ``_nums`` JSON fields (same results, no scalar index)
``bm25`` (full text)          2.5          refused (:meth:`MilvusFeatures.require`); the lexical
                                           arm falls back to bm25s over the stored documents
``partial_update`` (upsert)   2.6          whole-entity upsert (read, change, write back)
============================  ===========  =====================================================

Milvus Lite (``milvus_lite-X.Y.Z``) has them all. Versions come from the Milvus release notes
(2.4.0: INVERTED scalar index, several vector fields per collection; 2.5.0: nullable fields, BM25 full-text search; 2.6.0: partial upsert).
Servers tested: Milvus 2.3.5 standalone (PyPI ``milvus``) and Milvus Lite 3.2 (``milvus-lite``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from langchain_embcompare.errors import MissingCapabilityError

__all__ = ["FEATURE_VERSIONS", "MilvusFeatures", "detect_features"]

FEATURE_VERSIONS: dict[str, tuple[int, int, int]] = {
    "inverted_index": (2, 4, 0),
    "multi_vector": (2, 4, 0),
    "nullable": (2, 5, 0),
    "bm25": (2, 5, 0),
    "partial_update": (2, 6, 0),
}
_VERSION_RE = re.compile(r"(\d+)\.(\d+)\.(\d+)")


@dataclass(frozen=True)
class MilvusFeatures:
    """The reported version and what it implies.

    Attributes:
        version: the version string as the server reports it (``"v2.3.5-lite"`` for the PyPI ``milvus``
            standalone server, ``"milvus_lite-3.2.2"`` for Milvus Lite).
        lite: True for Milvus Lite (every feature of :data:`FEATURE_VERSIONS`).
        release: ``(major, minor, patch)`` of a server, ``None`` for Lite or an unparsable string
            (then every feature is assumed, as for the newest server).
    """

    version: str
    lite: bool
    release: tuple[int, int, int] | None

    @classmethod
    def from_version(cls, version: str) -> MilvusFeatures:
        """Parse a ``get_server_version()`` string.

        Args:
            version: the version string the server reports.

        Returns:
            The features of that version.
        """
        text = str(version)
        # Milvus Lite says "milvus_lite-3.2.2"; the PyPI `milvus` server says "v2.3.5-lite" and is a server
        lite = text.lower().startswith("milvus_lite")
        m = _VERSION_RE.search(text)
        release = None if lite or m is None else (int(m.group(1)), int(m.group(2)), int(m.group(3)))
        return cls(text, lite, release)

    def has(self, feature: str) -> bool:
        """True when this Milvus has ``feature``.

        Args:
            feature: a key of :data:`FEATURE_VERSIONS`.

        Returns:
            Whether the feature is available.

        Raises:
            KeyError: ``feature`` is not a key of :data:`FEATURE_VERSIONS`.
        """
        need = FEATURE_VERSIONS[feature]
        return self.release is None or self.release >= need

    def require(self, feature: str, what: str) -> None:
        """Raise :class:`MissingCapabilityError` naming the version needed unless :meth:`has` ``feature``.

        Args:
            feature: a key of :data:`FEATURE_VERSIONS`.
            what: the operation asked for, named in the message.

        Raises:
            MissingCapabilityError: this Milvus is older than the feature's version.
        """
        if not self.has(feature):
            need = ".".join(map(str, FEATURE_VERSIONS[feature]))
            raise MissingCapabilityError(
                f"{what} needs Milvus >= {need}; the server reports {self.version}. Upgrade the server, or use "
                "Milvus Lite (a local file path as uri)."
            )


def detect_features(client: Any) -> MilvusFeatures:
    """The features of the Milvus behind a ``MilvusClient`` (one ``get_server_version`` call).

    Args:
        client: a connected ``pymilvus.MilvusClient``.

    Returns:
        The server's :class:`MilvusFeatures`.
    """
    return MilvusFeatures.from_version(client.get_server_version())
