# Beffroi — the two commands: `make run` and `make test`.
SHELL := /bin/bash
# Python ≥ 3.12: the first of these that is new enough (pyenv reads .python-version).
PYTHON ?= $(shell for p in python3.13 python3.12 python3; do \
	if command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null; \
	then echo $$p; break; fi; done)
VENV := .venv
BIN := $(VENV)/bin
export BEFFROI_DATA_DIR ?= $(CURDIR)/data
TEST_DATA := $(CURDIR)/.pytest-data
PG_URL ?= postgres://postgres@127.0.0.1:5432/beffroi

.PHONY: run test test-sqlite test-postgres test-browser lint messages install clean

$(BIN)/python:
	@test -n "$(PYTHON)" || { echo "Beffroi needs Python 3.12 or newer (python3.13, python3.12 or python3)."; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	@touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e ".[test]"
	@touch $@ $(VENV)/.installed

install: $(VENV)/.installed

## make run: install, migrate SQLite, load the demo on first run, serve http://127.0.0.1:8000
run: $(VENV)/.installed
	$(BIN)/beffroi migrate --noinput
	$(BIN)/beffroi demo --first-run
	$(BIN)/beffroi serve

## make test: the whole suite on SQLite, on PostgreSQL, and the browser tests in headless Chromium
test: $(VENV)/.installed-test
	scripts/prepare-test-machine
	$(MAKE) --no-print-directory lint test-sqlite test-postgres test-browser

lint: $(VENV)/.installed-test
	$(BIN)/ruff check beffroi
	BEFFROI_DATA_DIR=$(TEST_DATA) $(BIN)/beffroi makemigrations --check --dry-run

test-sqlite: $(VENV)/.installed-test
	@echo "== Test suite on SQLite"
	BEFFROI_DATA_DIR=$(TEST_DATA) $(BIN)/pytest -m "not browser" -p no:cacheprovider

test-postgres: $(VENV)/.installed-test
	@echo "== Test suite on PostgreSQL"
	BEFFROI_DATA_DIR=$(TEST_DATA) DATABASE_URL=$(PG_URL) $(BIN)/pytest -m "not browser" -p no:cacheprovider

test-browser: $(VENV)/.installed-test
	@echo "== Browser tests (headless Chromium)"
	BEFFROI_DATA_DIR=$(TEST_DATA) $(BIN)/pytest -m browser -p no:cacheprovider

## make messages: refresh the translation catalogues after changing texts, then compile them
messages: $(VENV)/.installed
	cd beffroi && ../$(BIN)/beffroi makemessages -l fr --no-obsolete --no-location --ignore "*/tests/*" --ignore "conftest.py"
	cd beffroi && ../$(BIN)/beffroi compilemessages

clean:
	rm -rf $(VENV) $(TEST_DATA) .ruff_cache
