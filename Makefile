# rendergate: `make run` serves the app, `make test` runs every check. Both set up .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test lint typecheck browser bench comfyui clean

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

# Debian's chromium for the web page's browser tests (tests/integration/test_web.py), with
# apt-get as root or password-less sudo; where neither is possible (status 3) those tests
# skip, saying why. Playwright drives /usr/bin/chromium: `playwright install` is never run.
browser:
	scripts/chromium-setup.sh || [ $$? = 3 ]

test: $(VENV)/.stamp-dev browser lint typecheck
	scripts/test.sh

# A ComfyUI server on the CPU at 127.0.0.1:8188 (its own venv in .comfyui/), to try the
# comfy_demo app: run `RENDERGATE_COMFYUI_URLS=http://127.0.0.1:8188 make run` beside it.
COMFYUI_PORT ?= 8188
comfyui:
	$$(scripts/comfyui-setup.sh) scripts/comfyui_serve.py --port $(COMFYUI_PORT) --base-directory .comfyui/data

bench: $(VENV)/.stamp-run
	$(BIN)/python bench/status_read.py

clean:
	rm -rf $(VENV) data .comfyui .mypy_cache .ruff_cache .pytest_cache
