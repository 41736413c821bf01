# fintoro-api developer commands. `make help` lists them.
# Every target that needs Python tools installs them first into .venv.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
SPEC   ?=
export SPEC
export ALLOW_UNPINNED_SPEC

# What generated code is made from; a change to any of these regenerates.
GEN_INPUTS := openapi/pin.json generator-config.yaml $(wildcard overlays/*.yaml overlays/templates/*.jinja codegen/*.py)
STAMP      := fintoro_api/_generated.json
PRISM_BIN  := tools/prism/node_modules/.bin/prism
OPTIC_BIN  := tools/optic/node_modules/.bin/optic
HISTORY_SPEC := openapi/$(shell sed -n 's/.*"file": *"\([^"]*\)".*/\1/p' openapi/pin.history.json)

.PHONY: help install spec spec-history generate test test-fast lint typecheck check bench clean prism optic demo spec-diff update-spec redis

help:
	@echo "make install    create .venv with runtime + dev dependencies, generate, install editable"
	@echo "make test       run the test suite (installs and generates first when needed)"
	@echo "make spec       vendor the pinned spec into openapi/ (SPEC=<path|url> to choose the source)"
	@echo "make generate   regenerate fintoro_api's generated modules from openapi/"
	@echo "make demo       run examples/quickstart.py against the fake Fintoro (fintoro_api.testing)"
	@echo "make prism      install the pinned Prism mock server (npm)"
	@echo "make spec-history vendor the older spec pinned in openapi/pin.history.json (change-report tests)"
	@echo "make optic      install the pinned Optic CLI (npm), the reference diff the report is checked against"
	@echo "make spec-diff [OLD=<spec>] [NEW=<spec>] [JSON=1]   print the API change report (default: history -> pinned)"
	@echo "make update-spec SPEC=<path or URL> [URL=<url>]   report, changelog, new pin, regenerate, test"
	@echo "make lint | typecheck | bench | clean"

# --- environment -------------------------------------------------------------
$(VENV)/.deps: pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found: install Python 3.11+ or pass PYTHON=..."; exit 2; }
	@test -x $(PY) || $(PYTHON) -m venv $(VENV) || { echo "error: cannot create $(VENV) (is the venv module installed?)"; exit 2; }
	@$(PY) -c "import sys; sys.exit(sys.version_info < (3, 11))" || { echo "error: Python 3.11+ is required for $(VENV)"; exit 2; }
	@mkdir -p build
	@$(PY) -c "import tomllib; p = tomllib.load(open('pyproject.toml', 'rb')); \
	  print('\n'.join(p['project']['dependencies'] + p['project']['optional-dependencies']['dev']))" > build/requirements-dev.txt
	$(PY) -m pip install --quiet --disable-pip-version-check -r build/requirements-dev.txt \
	  || { echo "error: installing the dev dependencies failed (no access to the package index?)"; exit 2; }
	@touch $@

$(VENV)/.editable: $(VENV)/.deps $(STAMP)
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	@touch $@
	@$(PY) -m codegen status

install: $(VENV)/.editable

# --- spec and generation -----------------------------------------------------
spec: $(VENV)/.deps
	@$(PY) -m codegen spec

# An automatic regeneration never replaces a deliberate unpinned one: it stops and says so.
$(STAMP): $(VENV)/.deps $(GEN_INPUTS)
	@$(PY) -m codegen spec --refuse-unpinned
	@$(PY) -m codegen generate

generate: $(VENV)/.deps
	@$(PY) -m codegen spec
	@$(PY) -m codegen generate

$(HISTORY_SPEC): openapi/pin.history.json | $(VENV)/.deps
	@$(PY) -m codegen spec --history

spec-history: $(VENV)/.deps
	@$(PY) -m codegen spec --history

# --- checks ------------------------------------------------------------------
test: install $(PRISM_BIN) $(OPTIC_BIN) $(HISTORY_SPEC) redis
	@$(PY) -m codegen status
	$(PY) -m pytest -q

test-fast: install $(HISTORY_SPEC)
	$(PY) -m pytest -q -m "not slow"

lint: $(VENV)/.deps
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: install
	$(VENV)/bin/mypy

check: lint typecheck test

bench: install
	@for script in bench/*.py; do echo "== $$script"; $(PY) $$script || exit 1; done

# Everything generation writes: codegen/generate.py GENERATED (under fintoro_api/) and the docs it renders.
# tests/test_make_clean.py checks this list against GENERATED. The vendored openapi/*.yaml stay (re-vendoring
# needs the network or ../shared).
GENERATED_FILES := $(addprefix fintoro_api/,api models types.py _spec_index.py _resources.py _fake_spec.json \
  _webhook_types.py _generated.json) docs/api.md docs/operations.md

clean:
	rm -rf build dist .pytest_cache .mypy_cache .ruff_cache .hypothesis $(VENV) tools/prism/node_modules tools/optic/node_modules
	rm -rf $(GENERATED_FILES) fintoro_api/.staging-* *.egg-info

# --- Prism mock server (contract tests, demo) ---------------------------------

$(PRISM_BIN): tools/prism/package.json tools/prism/package-lock.json
	@command -v npm >/dev/null || { echo "error: npm not found: install Node.js 18+ (Debian: apt-get install nodejs npm)"; exit 2; }
	cd tools/prism && npm ci --no-audit --no-fund --loglevel=error \
	  || { echo "error: installing Prism failed (no access to the npm registry?)"; exit 2; }
	@touch $@

prism: $(PRISM_BIN)

# --- Optic CLI (the reference OpenAPI diff the change report is cross-checked against) ---
$(OPTIC_BIN): tools/optic/package.json tools/optic/package-lock.json
	@command -v npm >/dev/null || { echo "error: npm not found: install Node.js 18+ (Debian: apt-get install nodejs npm)"; exit 2; }
	cd tools/optic && npm ci --no-audit --no-fund --loglevel=error \
	  || { echo "error: installing the Optic CLI failed (no access to the npm registry?)"; exit 2; }
	@touch $@

optic: $(OPTIC_BIN)

demo: install
	$(PY) -m tools.demo

# --- spec evolution ------------------------------------------------------------
PINNED_SPEC := openapi/$(shell sed -n 's/.*"file": *"\([^"]*\)".*/\1/p' openapi/pin.json)
OLD ?= $(HISTORY_SPEC)
NEW ?= $(PINNED_SPEC)
spec-diff: $(VENV)/.deps
	@$(if $(filter $(HISTORY_SPEC),$(OLD) $(NEW)),$(PY) -m codegen spec --history >/dev/null)
	@$(if $(filter $(PINNED_SPEC),$(OLD) $(NEW)),$(PY) -m codegen spec >/dev/null)
	@$(PY) -m codegen spec-diff "$(OLD)" "$(NEW)" $(if $(JSON),--json)

update-spec: $(VENV)/.deps
	@test -n "$(SPEC)" || { echo "error: usage: make update-spec SPEC=<path or URL> [URL=<url serving the same bytes>]"; exit 2; }
	@$(PY) -m codegen update-spec --source "$(SPEC)" $(if $(URL),--url "$(URL)")
	@$(MAKE) --no-print-directory generate test

# --- Redis (scale-out tests) -----------------------------------------------------
# The Redis backends' tests need a real redis-server (Debian package).
redis:
	@command -v redis-server >/dev/null || { \
	  command -v apt-get >/dev/null || { echo "error: redis-server missing and no apt-get: install Redis 6+"; exit 2; }; \
	  echo "installing redis-server (Debian package)"; \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends redis-server >/dev/null; } \
	    || { echo "error: apt-get install redis-server failed (needs root and the Debian mirror)"; exit 2; }; }
	@redis-server --version
