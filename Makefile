# Two commands for a fresh machine: `make lab` to learn, `make test` to check everything.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: lab test quick lint mock clean

lab: $(VENV)/.installed-lab  ## make lab ARGS="--port 8899 --no-browser" passes options on to JupyterLab
	$(BIN)/voicelive-lab lab $(ARGS)

test: $(VENV)/.installed-dev
	$(BIN)/python -m pytest

quick: $(VENV)/.installed-dev  ## everything but the tests marked slow (browsers, long sessions, load), in about 3 min
	$(BIN)/python -m pytest -m "not slow"

lint: $(VENV)/.installed-dev  ## ruff (style) and mypy (types, voicelive_lab/)
	$(BIN)/ruff check . && $(BIN)/ruff format --check . && $(BIN)/mypy

mock: $(VENV)/.installed-lab
	$(BIN)/voicelive-lab mock

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else "voicelive-lab needs Python 3.10 or newer, but $(PYTHON) is " + sys.version.split()[0] + ". Try: make PYTHON=python3.12")'
	@$(PYTHON) -c 'import venv, ensurepip' 2>/dev/null || { echo "$(PYTHON) cannot create virtual environments. On Debian/Ubuntu: sudo apt-get install python3-venv"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed-lab: $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e .
	@touch $@

$(VENV)/.installed-dev: $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $@ $(VENV)/.installed-lab

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache *.egg-info
