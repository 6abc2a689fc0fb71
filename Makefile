# rendergate: `make run` serves the app, `make test` runs every check, `make test-fast` the
# quick ones. Each sets up .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test test-fast lint typecheck browser bench comfyui clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.stamp-run: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.stamp-dev: pyproject.toml emulators/pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	$(BIN)/pip install --quiet -e ./emulators
	touch $@ $(VENV)/.stamp-run

run: $(VENV)/.stamp-run
	$(BIN)/rendergate serve --open --host $(HOST) --port $(PORT)

lint: $(VENV)/.stamp-dev
	$(BIN)/ruff check src tests bench emulators
	$(BIN)/ruff format --check src tests bench emulators

typecheck: $(VENV)/.stamp-dev
	$(BIN)/mypy

# Debian's chromium for the web page's browser tests (tests/integration/test_web*.py), with
# apt-get as root or password-less sudo, and axe-core (pinned in tests/a11y/package-lock.json)
# for their accessibility audits, with npm; where either is impossible (status 3) the tests
# that need it skip, saying why. Playwright drives /usr/bin/chromium: `playwright install`
# is never run.
browser:
	scripts/chromium-setup.sh || [ $$? = 3 ]
	scripts/axe-setup.sh || [ $$? = 3 ]

test: $(VENV)/.stamp-dev browser lint typecheck
	scripts/test.sh

# Lint, types, the unit tests and the integration tests that run in this process and wait
# out no real timer (not marked `slow` or `pg`; tests/support/fast.py fails one that starts
# a process), on eight workers: those tests mostly wait (they used 1.2 cores on four
# workers), so eight share two cores well: 112 s against 139 s on four, here.
test-fast: $(VENV)/.stamp-dev lint typecheck
	RENDERGATE_TEST_FAST=1 $(BIN)/python -m pytest -m "not slow and not pg" -n 8 --dist worksteal -q

# A ComfyUI server on the CPU at 127.0.0.1:8188 (its own venv in .comfyui/), to try the
# comfy_demo app: run `RENDERGATE_COMFYUI_URLS=http://127.0.0.1:8188 make run` beside it.
COMFYUI_PORT ?= 8188
comfyui:
	$$(scripts/comfyui-setup.sh) scripts/comfyui_serve.py --port $(COMFYUI_PORT) --base-directory .comfyui/data

bench: $(VENV)/.stamp-run
	$(BIN)/python bench/status_read.py

clean:
	rm -rf $(VENV) data .comfyui .mypy_cache .ruff_cache .pytest_cache
