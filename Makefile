# Two commands for a newcomer: `make run` and `make test`. Everything else is a step of those.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: install install-dev lock-check tools migrate run services lint lint-only test test-latest bench loadtest \
	image lock openapi token-lists clean

# Installs come from the committed locks, by uv (pinned, with hashes, in tools/uv-requirements.txt;
# it lives in its own small virtualenv, $(UV_VENV)): requirements.lock for `make run` and the
# image, requirements-dev.lock (the same pins plus the development tools) for `make test`. Both
# are made in one resolution by `make lock`; a pyproject.toml changed without it stops here with
# one line. uv never downloads a Python of its own: the interpreter is $(PYTHON).
UV_VENV := .venv-uv
UV := $(UV_VENV)/bin/uv
export UV_PYTHON_DOWNLOADS := never
export UV_LINK_MODE := copy
# The machine's own trust store, as pip uses (a proxy's certificate installed there included),
# not only the roots uv bundles.
export UV_SYSTEM_CERTS := 1
UV_SYNC = $(UV) pip sync --quiet --python $(BIN)/python --require-hashes
UV_PROJECT = $(UV) pip install --quiet --python $(BIN)/python --no-deps --no-build-isolation -e .

# uv's virtualenv, made whole or not at all: one left half-made (no python3-venv, so no pip)
# would break every later run until removed, so a failed step removes it again.
$(UV_VENV)/.stamp-venv:
	$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11) and "portfolio needs Python 3.11 or newer (set PYTHON=...)")'
	$(UV_VENV)/bin/python -m pip --version >/dev/null 2>&1 || \
		{ rm -rf $(UV_VENV) && $(PYTHON) -m venv $(UV_VENV) && $(UV_VENV)/bin/python -m pip --version >/dev/null; } || \
		{ rm -rf $(UV_VENV); echo "portfolio: could not make a virtualenv with pip in $(UV_VENV):" \
		  "on Debian or Ubuntu, apt-get install python3-venv" >&2; exit 1; }
	touch $@

$(UV_VENV)/.stamp: tools/uv-requirements.txt | $(UV_VENV)/.stamp-venv
	$(UV_VENV)/bin/python -m pip install --quiet --disable-pip-version-check --no-deps \
		--require-hashes -r tools/uv-requirements.txt
	touch $@

lock-check:
	@$(PYTHON) scripts/lock.py --check

$(VENV)/.stamp-venv: | $(UV_VENV)/.stamp
	$(UV) venv --quiet --allow-existing --python $(PYTHON) $(VENV)
	touch $@

# A failed install leaves its stamp untouched: the next run installs again. A virtualenv with
# the development tools keeps them (requirements-dev.lock holds every pin of requirements.lock):
# `make run` or `make openapi` after `make test` takes nothing away.
$(VENV)/.stamp-install: requirements.lock requirements-dev.lock pyproject.toml | lock-check $(VENV)/.stamp-venv
	$(UV_SYNC) $(if $(wildcard $(VENV)/.stamp-dev),requirements-dev.lock,requirements.lock)
	$(UV_PROJECT)
	touch $@

$(VENV)/.stamp-dev: requirements-dev.lock pyproject.toml | lock-check $(VENV)/.stamp-venv
	$(UV_SYNC) requirements-dev.lock
	$(UV_PROJECT)
	touch $@ $(VENV)/.stamp-install

install: lock-check $(VENV)/.stamp-install

install-dev: lock-check $(VENV)/.stamp-dev

# Test tools from the npm registry, versions pinned in tools/package.json: anvil (a local
# Ethereum node) and solc (compiles the test contracts).
# promtool (Debian's prometheus) checks the alert rules in deploy/; headless Chromium (Debian's)
# opens the docs pages.
# Installed exactly as tools/package-lock.json says, by `npm ci`.
tools/node_modules/.stamp: tools/package.json tools/package-lock.json
	command -v npm >/dev/null || bash scripts/ensure-services.sh node
	npm ci --prefix tools --no-audit --no-fund --silent
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
	$(MAKE) --no-print-directory lint-only

lint-only:
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy --strict src tests bench
	$(BIN)/lint-imports

test: install-dev tools services
	$(MAKE) --no-print-directory lint-only
	$(BIN)/pytest

# The same checks against the newest versions pyproject.toml allows, in a virtualenv of their
# own (.venv-latest), to find drift on purpose before `make lock` takes it in. Not run by CI.
test-latest: tools services | $(UV_VENV)/.stamp
	rm -rf .venv-latest
	$(UV) venv --quiet --python $(PYTHON) .venv-latest
	$(UV) pip install --quiet --python .venv-latest/bin/python --upgrade -e '.[dev]'
	$(MAKE) --no-print-directory lint-only VENV=.venv-latest
	.venv-latest/bin/pytest

# `make bench` runs every benchmark; `make bench history scale` the ones named.
BENCHES := evm discovery solana api history scale events performance cli
bench: install-dev tools services
	command -v wrk >/dev/null || bash scripts/ensure-services.sh wrk
	$(BIN)/python -m bench $(filter $(BENCHES),$(MAKECMDGOALS))
ifeq (bench,$(firstword $(MAKECMDGOALS)))
$(BENCHES): bench ; @:
endif

# The whole service (two API processes, two workers, the scheduler) under load while Redis,
# PostgreSQL, a worker and a chain node fail; loopback only, about two minutes.
loadtest: install-dev tools services
	$(BIN)/python -m bench.loadtest

# The container image, built with podman and checked (see scripts/image.sh); .ci/run runs it
# after make test.
image:
	bash scripts/image.sh

# Renew the locks on purpose: requirements-dev.lock and requirements.lock from pyproject.toml
# (the pins already locked are kept where they still fit; `make lock UPGRADE=1` takes the newest
# versions allowed), and tools/package-lock.json from tools/package.json. Commit what changed.
lock: | $(UV_VENV)/.stamp
	$(PYTHON) scripts/lock.py $(UV) $(if $(UPGRADE),--upgrade)
	command -v npm >/dev/null || bash scripts/ensure-services.sh node
	npm install --prefix tools --package-lock-only --no-audit --no-fund --silent

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
	rm -rf $(VENV) $(UV_VENV) .venv-latest .mypy_cache .ruff_cache .pytest_cache .hypothesis .import_linter_cache
