"""Shared fixtures: the real offline MiniLM model, a SciFact slice, a fake model, and (from
redis_fixtures) a real Redis Stack server started for the session."""

from __future__ import annotations

import hashlib
import os
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
from langchain_core.embeddings import Embeddings

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
# the package's disk caches (embeddings, distilled models) go to a folder of this session, never to the
# user's home: a test must not pass because of a file an earlier run left outside the repository
os.environ.setdefault("EMBCOMPARE_CACHE", tempfile.mkdtemp(prefix="embcompare-tests-cache-"))
sys.path.insert(0, str(Path(__file__).parent))

from redis_fixtures import *  # noqa: E402,F401,F403  (real Redis server, started by the session)
from milvus_fixtures import *  # noqa: E402,F401,F403  (Milvus Lite file for the session)
from store_fixtures import *  # noqa: E402,F401,F403  (any_store: every store kind behind one fixture)
from forkserver_fixtures import *  # noqa: E402,F401,F403  (script_runner: scripts run as `python x.py`, forked)

# The SciFact slice the tests use ships inside the repo (CC BY 4.0 / ODC-By, see its NOTICE.md):
# the suite needs nothing beside a plain clone.
SCIFACT_SMALL = Path(__file__).resolve().parent / "data" / "scifact-small"


class HashEmbeddings(Embeddings):
    """Deterministic fake vectors from a text hash (for unit tests that need no model)."""

    def __init__(self, dim: int = 16, name: str = "fake-hash") -> None:
        self.dim = dim
        self.model_id = name
        self.seen: list[str] = []

    def _vec(self, text: str) -> list[float]:
        # a stable digest, not hash(): str hashes are salted per process (PYTHONHASHSEED), which made
        # these vectors, and every ranking built on them, differ from one test run to the next
        seed = int.from_bytes(hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=8).digest(), "little")
        rng = np.random.default_rng(seed)
        return rng.standard_normal(self.dim).astype(np.float32).tolist()

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        self.seen.extend(texts)
        return [self._vec(t) for t in texts]

    def embed_query(self, text: str) -> list[float]:
        self.seen.append(text)
        return self._vec(text)


@pytest.fixture
def hash_embeddings() -> HashEmbeddings:
    return HashEmbeddings()


@pytest.fixture(scope="session")
def minilm():
    """The real all-MiniLM-L6-v2, from its PyPI package, with the session-private embedding cache
    (``$EMBCOMPARE_CACHE/embeddings``, set above): the one the CLI, the examples and the tutorials use
    in this session too, so the SciFact slice is encoded by MiniLM once per session, not once per path."""
    from langchain_embcompare import MatryoshkaEmbeddings

    emb = MatryoshkaEmbeddings("all-MiniLM-L6-v2")
    assert emb.cache_dir == Path(os.environ["EMBCOMPARE_CACHE"]) / "embeddings", emb.cache_dir
    return emb


@pytest.fixture(scope="session")
def scifact_small():
    """30 labelled SciFact queries and a 400-document corpus holding all their relevant documents."""
    from langchain_embcompare.evaluation.datasets import BeirDataset, load_beir

    ds = load_beir(SCIFACT_SMALL)
    return BeirDataset(name="scifact-small", corpus=ds.corpus, queries=ds.queries, qrels=ds.qrels)


@pytest.fixture(scope="session")
def scifact_small_dir(tmp_path_factory, scifact_small):
    """The same slice written as a BEIR folder (for the CLI)."""
    import json

    root = tmp_path_factory.mktemp("scifact-small")
    with (root / "corpus.jsonl").open("w") as f:
        for d in scifact_small.corpus:
            title = d.metadata["title"]
            f.write(json.dumps({"_id": d.id, "title": title, "text": d.page_content[len(title) + 1 :]}) + "\n")
    with (root / "queries.jsonl").open("w") as f:
        for qid, text in scifact_small.queries.items():
            f.write(json.dumps({"_id": qid, "text": text}) + "\n")
    (root / "qrels").mkdir()
    with (root / "qrels" / "test.tsv").open("w") as f:
        f.write("query-id\tcorpus-id\tscore\n")
        for qid, docs in scifact_small.qrels.items():
            for did, rel in docs.items():
                f.write(f"{qid}\t{did}\t{rel}\n")
    return root


# Fixtures that load a real model, start a real server or drive a browser: a test using one is an
# integration test. `pytest -m "not integration"` runs the fast part (fakes, no server) in seconds.
INTEGRATION_FIXTURES = {"minilm", "redis_server", "redis_url", "scifact_small_dir", "milvus_uri", "image_embeddings"}


def pytest_collection_modifyitems(config, items):  # noqa: ANN001, ANN201 - pytest hook
    for item in items:
        if INTEGRATION_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.integration)
