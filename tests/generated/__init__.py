"""The generated (property-based) harness. A package, so that its ``conftest.py`` is
``generated.conftest`` and never shadows ``tests/conftest.py`` (which test modules import as
``conftest``), whatever order pytest collects the folders in."""
