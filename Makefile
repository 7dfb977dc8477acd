# The two commands a newcomer needs: `make run` and `make test`. Both install what they
# need first (system packages through apt, a virtual environment in .venv), idempotently.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export PATH := $(HOME)/.cargo/bin:$(PATH)

.PHONY: setup run test lint bench clean model

# the default model is fetched once (progress: parts, bytes, rate; sha256 checked); a fetched
# model is found by its stamp in a moment. Without the network this prints what to do and
# setup goes on: the TUI offers the fetch again. ROUNDTABLE_SKIP_MODEL=1 skips it (CI).
setup: $(VENV)/.system-ok $(VENV)/.python-ok model

model: $(VENV)/.python-ok
	@if [ -n "$$ROUNDTABLE_SKIP_MODEL" ]; then \
		echo "model: skipped (ROUNDTABLE_SKIP_MODEL is set)"; \
	else \
		$(BIN)/roundtable model fetch embedded || \
		echo "model: not fetched now; \`make run\` offers it again (see the line above)"; \
	fi

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
