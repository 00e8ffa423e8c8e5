# Xinlian — the two commands: `make run` (a local consortium on SQLite) and `make test` (the whole suite).
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
RUN_DIR ?= var/devnet
PYTEST_ARGS ?=

.PHONY: run test lint typecheck docs unit install contracts bench clean evmone

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade 'pip>=25.1'
	$(BIN)/python -m pip install --quiet --group dev -e '.[node,hsm]'  # dev: the PEP 735 group in pyproject.toml
	@touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/xinlian demo --dir $(RUN_DIR)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

# The documentation site (mkdocs.yml, docs/) into site/; --strict: any warning (a broken link or anchor, a
# page missing from the nav, a docstring mkdocstrings cannot read) fails the build. Not --quiet: it hides the
# warnings that --strict counts, and the build would pass with them.
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

test: lint typecheck docs evmone
	$(BIN)/python -m pytest -n 2 $(PYTEST_ARGS)

# libxevm.so, the evmone VM of `execution_engine = "evmone"` (node/execution/csrc; the tests run every block
# on it too). Needs a C++20 compiler and OpenSSL 3's headers.
evmone:
	@command -v $${CXX:-g++} >/dev/null && command -v patch >/dev/null && command -v xz >/dev/null \
	  && test -f /usr/include/openssl/evp.h || { echo "make evmone needs g++ (>= 11), patch, xz and OpenSSL 3 \
	headers; on Debian/Ubuntu: apt-get install g++ patch xz-utils libssl-dev" >&2; exit 2; }
	$(MAKE) --no-print-directory -C node/execution/csrc -j2

contracts: $(STAMP)
	$(BIN)/python scripts/build_contracts.py

bench: $(STAMP)
	$(BIN)/python scripts/bench/crypto.py

clean:
	rm -rf $(VENV) var site .pytest_cache .mypy_cache .ruff_cache .hypothesis node/execution/csrc/build
