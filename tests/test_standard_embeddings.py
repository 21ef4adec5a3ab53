"""LangChain's own standard test suites (``langchain-tests``) on MatryoshkaEmbeddings with the real
all-MiniLM-L6-v2, at full dimension and cut to 128: no test skipped, marked xfail or overridden
(``test_no_overrides_DO_NOT_OVERRIDE`` checks the last two)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from langchain_tests.integration_tests import EmbeddingsIntegrationTests
from langchain_tests.unit_tests import EmbeddingsUnitTests

from langchain_embcompare import MatryoshkaEmbeddings

pytestmark = pytest.mark.integration  # every test here loads the real model

ENV_CACHE = tempfile.mkdtemp(prefix="embcompare-standard-tests-")  # a folder of this run only


class _Params:
    dim: int | None = None

    @property
    def embeddings_class(self) -> type[MatryoshkaEmbeddings]:
        return MatryoshkaEmbeddings

    @property
    def embedding_model_params(self) -> dict:
        return {"model": "all-MiniLM-L6-v2", "dim": self.dim, "cache_dir": None}

    @property
    def init_from_env_params(self) -> tuple[dict, dict, dict]:
        # the default disk cache folder is read from EMBCOMPARE_CACHE when the object is made
        return (
            {"EMBCOMPARE_CACHE": ENV_CACHE},
            {"model": "all-MiniLM-L6-v2", "dim": self.dim},
            {"cache_dir": Path(ENV_CACHE) / "embeddings", "dim": self.dim, "output_dim": self.dim or 384},
        )


class TestMatryoshkaFullUnit(_Params, EmbeddingsUnitTests):
    dim = None


class TestMatryoshka128Unit(_Params, EmbeddingsUnitTests):
    dim = 128


class TestMatryoshkaFullIntegration(_Params, EmbeddingsIntegrationTests):
    dim = None


class TestMatryoshka128Integration(_Params, EmbeddingsIntegrationTests):
    dim = 128


@pytest.mark.parametrize("dim", [None, 128])
def test_standard_suite_models_have_the_asked_dimension(dim):
    """The suites check shapes are consistent; this pins the value they run at."""
    emb = MatryoshkaEmbeddings("all-MiniLM-L6-v2", dim=dim, cache_dir=None)
    assert len(emb.embed_query("foo")) == (dim or 384)
    assert [len(v) for v in emb.embed_documents(["foo", "bar"])] == [dim or 384] * 2
