# Two commands do everything on a fresh machine: `make demo` and `make test`.
# Each creates the virtual environment and installs the project first.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
STAMP  := $(VENV)/.installed
BIN    := $(VENV)/bin

.PHONY: demo test test-fast lint format bench ui clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

## Generate a demo county (once) and run the nightly graph on it.
demo: $(STAMP)
	$(BIN)/bidui demo

## The whole test suite (what CI runs).
test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest -n 2 --dist loadfile

## Unit tests only (skips end-to-end county runs).
test-fast: $(STAMP)
	$(BIN)/python -m pytest -n 2 -m "not slow and not browser and not libreoffice"

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
