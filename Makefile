# Two commands do everything on a fresh machine: `make demo` and `make test`.
# Each creates the virtual environment and installs the project first.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
STAMP  := $(VENV)/.installed
BIN    := $(VENV)/bin

.PHONY: demo test test-unit test-integration test-e2e test-fast lint format bench ui clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

## Generate a demo county (once) and run the nightly graph on it.
demo: $(STAMP)
	$(BIN)/bidui demo

## The whole test suite (what CI runs): lint, format, the layering contract, every test.
test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/python -m pytest -n 2 --dist loadfile tests

## One test layer (tests/unit, tests/integration, tests/e2e; see the README).
test-unit: $(STAMP)
	$(BIN)/python -m pytest -n 2 --dist loadfile tests/unit

test-integration: $(STAMP)
	$(BIN)/python -m pytest -n 2 --dist loadfile tests/integration

test-e2e: $(STAMP)
	$(BIN)/python -m pytest -n 2 --dist loadfile tests/e2e

## Unit + integration: everything but the county runs, the UI, browser and LibreOffice.
test-fast: $(STAMP)
	$(BIN)/python -m pytest -n 2 --dist loadfile tests/unit tests/integration

lint: $(STAMP)
	$(BIN)/ruff check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: $(STAMP)
	$(BIN)/python benchmarks/run_all.py

ui: $(STAMP)
	$(BIN)/bidui ui

clean:
	rm -rf .local $(VENV) .pytest_cache .ruff_cache
