"""Milvus fixtures: a fresh Milvus Lite file for the session (no server; ``pymilvus`` + ``milvus-lite``).

conftest.py imports these (``from milvus_fixtures import *``); ``milvus_uri`` is registered as an
integration fixture there, so tests using it get the ``integration`` marker.
"""

from __future__ import annotations

import itertools

import pytest

_names = itertools.count()


@pytest.fixture(scope="session")
def milvus_uri(tmp_path_factory) -> str:
    """Path of a fresh Milvus Lite database file (Milvus Lite starts on first use, inside the test process)."""
    return str(tmp_path_factory.mktemp("milvus") / "milvus_lite.db")


@pytest.fixture
def milvus_collection() -> str:
    """A collection name no other test of the session uses."""
    return f"t{next(_names)}"


__all__ = ["milvus_collection", "milvus_uri"]
