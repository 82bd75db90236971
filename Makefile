# Assay: the few commands people need. `make demo` and `make test` work on a fresh clone.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint bench scaleout-test clean

$(STAMP): requirements.txt constraints.txt pyproject.toml
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "need $(PYTHON) on PATH (or make PYTHON=python3)"; exit 2; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r requirements.txt -c constraints.txt
	$(BIN)/pip install -q --no-deps -e .
	$(BIN)/python -m assay.assets
	touch $(STAMP)

## demo: build the demo corpus and audit it through the corpus_audit DAG (Airflow on SQLite, Spark local)
demo: $(STAMP)
	$(BIN)/python -m assay.demo

## test: lint, then the whole test suite
test: $(STAMP) lint
	$(BIN)/pytest -q

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

## scaleout-test: Airflow 3 on PostgreSQL + a Spark standalone cluster on loopback (~10 min; docs/SCALING.md)
scaleout-test: $(STAMP)
	$(BIN)/pytest -q -m scaleout tests/scaleout

## bench: every benchmark in bench/, figures printed as `name: value`
bench: $(STAMP)
	ONLY=$(ONLY) $(BIN)/python bench/run_all.py

clean:
	rm -rf runs demo_corpus .airflow
