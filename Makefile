# Two commands for a new user: `make run` (main job) and `make test` (all tests).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run test lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --upgrade pip
	$(BIN)/python -m pip install -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)  ## print the base-scenario demand table
	$(BIN)/magnet-forecast demand --scenario base

test: $(STAMP)  ## lint and run every test
	$(BIN)/ruff check forecast api tests benchmarks
	$(BIN)/python -m pytest

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_forecast.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
