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

.PHONY: help install spec generate test test-fast lint typecheck check bench clean prism demo spec-diff update-spec redis

help:
	@echo "make install    create .venv with runtime + dev dependencies, generate, install editable"
	@echo "make test       run the test suite (installs and generates first when needed)"
	@echo "make spec       vendor the pinned spec into openapi/ (SPEC=<path|url> to choose the source)"
	@echo "make generate   regenerate fintoro_api's generated modules from openapi/"
	@echo "make demo       run examples/quickstart.py against the fake Fintoro (fintoro_api.testing)"
	@echo "make prism      install the pinned Prism mock server (npm)"
	@echo "make spec-diff OLD=<spec> NEW=<spec>   print the API change report"
	@echo "make update-spec SPEC=<path or URL>     report, changelog, new pin, regenerate, test"
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

install: $(VENV)/.editable

# --- spec and generation -----------------------------------------------------
spec: $(VENV)/.deps
	@$(PY) -m codegen spec

$(STAMP): $(VENV)/.deps $(GEN_INPUTS)
	@$(PY) -m codegen spec
	@$(PY) -m codegen generate

generate: $(VENV)/.deps
	@$(PY) -m codegen spec
	@$(PY) -m codegen generate

# --- checks ------------------------------------------------------------------
test: install $(PRISM_BIN) redis
	$(PY) -m pytest -q

test-fast: install
	$(PY) -m pytest -q -m "not slow"

lint: $(VENV)/.deps
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: install
	$(VENV)/bin/mypy

check: lint typecheck test

bench: install
	@for script in bench/*.py; do echo "== $$script"; $(PY) $$script || exit 1; done

clean:
	rm -rf build dist .pytest_cache .mypy_cache .ruff_cache $(VENV) tools/prism/node_modules
	rm -rf fintoro_api/api fintoro_api/models fintoro_api/types.py fintoro_api/_spec_index.py \
	  fintoro_api/_resources.py $(STAMP)

# --- Prism mock server (contract tests, demo) ---------------------------------

$(PRISM_BIN): tools/prism/package.json tools/prism/package-lock.json
	@command -v npm >/dev/null || { echo "error: npm not found: install Node.js 18+ (Debian: apt-get install nodejs npm)"; exit 2; }
	cd tools/prism && npm ci --no-audit --no-fund --loglevel=error \
	  || { echo "error: installing Prism failed (no access to the npm registry?)"; exit 2; }
	@touch $@

prism: $(PRISM_BIN)

demo: install
	$(PY) -m tools.demo

# --- spec evolution ------------------------------------------------------------
spec-diff: $(VENV)/.deps
	@test -n "$(OLD)" -a -n "$(NEW)" || { echo "error: usage: make spec-diff OLD=<spec> NEW=<spec>"; exit 2; }
	@$(PY) -m codegen spec-diff "$(OLD)" "$(NEW)"

update-spec: $(VENV)/.deps
	@test -n "$(SPEC)" || { echo "error: usage: make update-spec SPEC=<path or URL>"; exit 2; }
	@$(PY) -m codegen update-spec --source "$(SPEC)"
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
