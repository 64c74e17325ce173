# Two commands for a new user: `make serve` (the service) and `make test` (all tests).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: install serve run test lint bench bench-api bench-workbench docker-test soak wrk lock clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml constraints.txt | $(BIN)/python
	$(BIN)/python -m pip install --upgrade pip
	$(BIN)/python -m pip install -c constraints.txt -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

serve: $(STAMP)  ## start the HTTP service on its embedded defaults (the shipped server command); says when it is ready and where
	$(BIN)/magnet-forecast serve --host $(HOST) --port $(PORT)

run: $(STAMP)  ## print the base-scenario demand table
	$(BIN)/magnet-forecast demand --scenario base

test: $(STAMP)  ## install the system packages the tests drive, lint, type-check, check layers, run every test
	bash scripts/install-system-deps.sh
	$(BIN)/ruff check forecast api magnet_forecast tests benchmarks scripts
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/python -m pytest

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_forecast.py

docker-test:  ## build and run the image with podman (see scripts/docker-smoke.sh)
	bash scripts/docker-smoke.sh

bench-api: $(STAMP) wrk  ## request latency of the service on loopback (needs wrk)
	$(BIN)/python benchmarks/bench_api.py

bench-workbench: $(STAMP)  ## what-if and comparison latency, workbook size and build time
	$(BIN)/python benchmarks/bench_workbench.py

soak: $(STAMP) wrk  ## soak and chaos run on loopback, under 5 minutes (needs PostgreSQL and wrk)
	$(BIN)/python scripts/soak.py

wrk:  ## the HTTP load generator the API benchmark and the soak drive (apt)
	command -v wrk >/dev/null || { [ "$$(id -u)" -eq 0 ] && apt-get install -y -qq wrk >/dev/null || sudo apt-get install -y -qq wrk >/dev/null; }

lock:  ## re-resolve pyproject.toml's ranges in a fresh environment and pin the result in constraints.txt
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv
	.lock-venv/bin/python -m pip install --upgrade pip
	.lock-venv/bin/python -m pip install -e '.[dev]'
	{ sed -n '1,2p' constraints.txt; .lock-venv/bin/python -m pip freeze --exclude-editable; } > constraints.txt.new
	mv constraints.txt.new constraints.txt && rm -rf .lock-venv

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
