# One command to run the service on the seed corpus, one to run the tests.
# Both create .venv and install what they need; nothing else is required but python3.

PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
HOST ?= 127.0.0.1

.PHONY: run test setup lint eval clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

setup: $(VENV)/.installed

run: setup  ## build the index from seeds/ if needed, serve on http://$(HOST):$(PORT)/
	$(BIN)/qa-service serve --host $(HOST) --port $(PORT)

test: setup  ## everything CI runs
	bash scripts/test

lint: setup
	$(BIN)/ruff check qa_service tests benchmarks

eval: setup
	$(BIN)/qa-service eval

clean:
	rm -rf $(VENV) index/v-* index/CURRENT test-output .pytest_cache
