# Two commands do everything on a fresh machine: `make demo` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck pytest bench clean

$(BIN)/python:
	$(PY) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev,e2e]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python examples/demo.py

lint: $(STAMP)
	$(BIN)/ruff format --check spe_host tests examples bench
	$(BIN)/ruff check spe_host tests examples bench

typecheck: $(STAMP)
	$(BIN)/mypy spe_host

# The suite runs on every Python 3.11-3.13 found here (tools/pytest-all says which).
pytest: $(STAMP)
	tools/pytest-all

test: lint typecheck pytest

# The side-by-side table (bench/compare.py, a few minutes), written to docs/performance.md;
# the anchors (Jupyter, aioconsole) come from the bench extra.
$(VENV)/.bench-installed: pyproject.toml | $(STAMP)
	$(BIN)/python -m pip install -q -e '.[dev,e2e,bench]'
	touch $@

bench: $(VENV)/.bench-installed
	$(BIN)/python bench/compare.py

clean:
	rm -rf $(VENV) $(VENV)-3.* .mypy_cache .pytest_cache .ruff_cache
