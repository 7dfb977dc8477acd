# The two commands a newcomer needs: `make run` and `make test`. Both install what they
# need first (system packages through apt, a virtual environment in .venv), idempotently.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export PATH := $(HOME)/.cargo/bin:$(PATH)

.PHONY: setup run test lint bench clean

setup: $(VENV)/.system-ok $(VENV)/.python-ok

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.system-ok: scripts/setup-system.sh | $(BIN)/python
	bash scripts/setup-system.sh
	touch $@

$(VENV)/.python-ok: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	# torch first and pinned: the local CPU build, never the registry's CUDA one
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

run: setup
	$(BIN)/roundtable $(ARGS)

test: setup
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: setup
	$(BIN)/ruff check roundtable_tui tests bench
	$(BIN)/mypy roundtable_tui

bench: setup
	$(BIN)/python bench/check_latency.py

clean:
	rm -rf $(VENV) rust_workspace/target
