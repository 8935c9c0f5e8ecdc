# Two commands for a newcomer: `make run` and `make test`. Everything else is a step of those.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: install install-dev tools migrate run services lint test bench loadtest image lock openapi token-lists clean

# The virtualenv, made whole or not at all: a venv left half-made (no python3-venv, so no pip)
# would break every later run until removed, so a failed step removes it again.
$(VENV)/.stamp-venv:
	$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11) and "portfolio needs Python 3.11 or newer (set PYTHON=...)")'
	$(BIN)/python -m pip --version >/dev/null 2>&1 || \
		{ rm -rf $(VENV) && $(PYTHON) -m venv $(VENV) && $(BIN)/python -m pip --version >/dev/null; } || \
		{ rm -rf $(VENV); echo "portfolio: could not make a virtualenv with pip in $(VENV):" \
		  "on Debian or Ubuntu, apt-get install python3-venv" >&2; exit 1; }
	touch $@

# A failed install leaves its stamp untouched: the next run installs again.
$(VENV)/.stamp-install: pyproject.toml | $(VENV)/.stamp-venv
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.stamp-dev: pyproject.toml | $(VENV)/.stamp-venv
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@ $(VENV)/.stamp-install

install: $(VENV)/.stamp-install

install-dev: $(VENV)/.stamp-dev

# Test tools from the npm registry, versions pinned in tools/package.json: anvil (a local
# Ethereum node) and solc (compiles the test contracts).
# promtool (Debian's prometheus) checks the alert rules in deploy/; headless Chromium (Debian's)
# opens the docs pages.
tools/node_modules/.stamp: tools/package.json
	command -v npm >/dev/null || bash scripts/ensure-services.sh node
	npm install --prefix tools --no-package-lock --no-audit --no-fund --silent
	command -v promtool >/dev/null || bash scripts/ensure-services.sh promtool
	command -v chromium >/dev/null || bash scripts/ensure-services.sh chromium
	touch $@

tools: tools/node_modules/.stamp

migrate: install
	$(BIN)/alembic upgrade head

run: migrate
	$(BIN)/portfolio serve --host $(HOST) --port $(PORT)

services:
	bash scripts/ensure-services.sh

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy --strict src tests bench
	$(BIN)/lint-imports

test: install-dev tools services lint
	$(BIN)/pytest

bench: install-dev tools services
	command -v wrk >/dev/null || bash scripts/ensure-services.sh wrk
	$(BIN)/python -m bench

# The whole service (two API processes, two workers, the scheduler) under load while Redis,
# PostgreSQL, a worker and a chain node fail; loopback only, about two minutes.
loadtest: install-dev tools services
	$(BIN)/python -m bench.loadtest

# The container image, built with podman and checked (see scripts/image.sh); .ci/run runs it
# after make test.
image:
	bash scripts/image.sh

# requirements.lock: every runtime dependency pinned with hashes, for reproducible images.
lock: install-dev
	$(BIN)/pip install --quiet 'pip-tools>=7.4,<8'
	$(BIN)/pip-compile --quiet --strip-extras --generate-hashes --allow-unsafe \
		--no-emit-index-url --no-emit-find-links --output-file requirements.lock pyproject.toml

# openapi.json: the published contract, as the app builds it with the default settings; make
# test fails when it no longer matches the app. Say what changed in CHANGELOG.md.
openapi: install
	$(BIN)/python -m portfolio.main.openapi > openapi.json.tmp
	mv openapi.json.tmp openapi.json

# src/portfolio/data/<chain>-tokens.json: the shipped EVM token lists, built from the token-list
# packages pinned in tools/token-lists/package.json (see scripts/token_lists.py). Committed:
# nothing is fetched at run or test time.
token-lists:
	command -v npm >/dev/null || bash scripts/ensure-services.sh node
	$(PYTHON) scripts/token_lists.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis .import_linter_cache
