# Two commands set everything up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# Peers whose pins clash with ours (gbstats: pandas 1.5, NumPy 1.26) live in their own environment.
PEERS ?= .venv-peers
MM := $(VENV)/bin/micromarket
DEMO_DIR ?= demo-workspace
DEMO_CUSTOMERS ?= 20000

.PHONY: demo test venv test-deps system-deps bench clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(PY) -m pip install -q -e ".[test]"
	touch $@

venv: $(VENV)/.installed

## make demo: generate a retail chain, ingest it into a fresh workspace, write the report.
demo: venv
	$(MM) demo $(DEMO_DIR) --customers $(DEMO_CUSTOMERS) --force
	@echo "Report: $(DEMO_DIR)/reports/overview.html"

## system-deps: Debian packages the tests need (PostgreSQL server for the Postgres source).
system-deps:
	bash scripts/install-system-deps.sh

$(PEERS)/.installed:
	$(PYTHON) -m venv $(PEERS)
	$(PEERS)/bin/python -m pip install -q "gbstats==0.8.0"
	touch $@

test-deps: $(VENV)/.installed-test $(PEERS)/.installed system-deps

## make test: install what the tests need and run the whole suite.
test: test-deps
	$(PY) -m pytest

bench: venv
	$(PY) bench/ingest.py
	$(PY) bench/demo_generate.py
	$(PY) bench/ingest_csv.py

clean:
	rm -rf $(VENV) $(PEERS) $(DEMO_DIR) .pytest_cache build src/*.egg-info
