"""Set-up of the generated (property-based) harness: the Hypothesis profiles and the store fixtures.

Profiles (environment variable ``HYPOTHESIS_PROFILE``, default ``ci``):
    ``ci``: seeded and derandomised (the same examples on every run), no example database, no
    deadline, a failing example printed with its reproduction blob. The whole harness runs in
    <= 3 minutes on 2 cores. ``fuzz`` (``make fuzz``): ``harness.FUZZ_FACTOR`` times the examples of
    every test, random, failures kept in the example database ``.hypothesis/examples`` and replayed
    first on the next run. A failure ``fuzz`` finds becomes a plain test in ``test_regressions.py``.

Fixtures: ``variant`` (each store and index kind of ``harness.VARIANTS``), ``variant_store`` (an
empty store of it, module-scoped: tests clear it per example rather than create an index per example).
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis.database import DirectoryBasedExampleDatabase

from generated.harness import PROFILE, VARIANT_PARAMS, Variant, drop, fresh_name

_COMMON: dict[str, Any] = dict(
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture,
                           HealthCheck.filter_too_much, HealthCheck.large_base_example],
)
settings.register_profile("ci", derandomize=True, database=None, **_COMMON)
settings.register_profile(
    "fuzz",
    derandomize=False,
    database=DirectoryBasedExampleDatabase(str(Path(__file__).resolve().parents[2] / ".hypothesis" / "examples")),
    **_COMMON,
)
settings.load_profile(PROFILE)


@pytest.fixture(scope="module", params=VARIANT_PARAMS)
def variant(request: Any) -> Variant:
    """Each store variant in turn (every store, index kind and precision but the reference)."""
    return request.param


@pytest.fixture(scope="module")
def variant_name(variant: Variant) -> str:
    """The index / collection name of :func:`variant_store` (``variant.new(name, request)`` reopens it)."""
    return fresh_name()


@pytest.fixture(scope="module")
def variant_store(variant: Variant, variant_name: str, request: Any) -> Iterator[Any]:
    """An empty store of the current variant, shared by the module's examples (clear it per example)."""
    store = variant.new(variant_name, request)
    yield store
    drop(store)


@pytest.fixture(scope="module")
def save_dir() -> Path:
    """A folder for FAISS ``save_local`` / ``load_local`` round trips."""
    return Path(tempfile.mkdtemp(prefix="embcompare-generated-"))
