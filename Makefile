# One command to run the service on the seed corpus, one to run the tests.
# Both create .venv and install what they need; nothing else is required but python3.

PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
HOST ?= 127.0.0.1

.PHONY: run test ci setup setup-run lint eval clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# The service alone: Flask, jieba, numpy, gunicorn.
$(VENV)/.installed-run: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

# Everything the tests use: embeddings and the neural reader (transformers on the CPU build of torch
# 2.13.0), Milvus Lite, and jieba_fast (QA_TOKENIZER).
$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev,embeddings,milvus,reader,fast]'
	touch $@ $(VENV)/.installed-run

setup-run: $(VENV)/.installed-run
setup: $(VENV)/.installed-dev

run: setup-run  ## build the index from seeds/ if needed, serve on http://$(HOST):$(PORT)/
	$(BIN)/qa-service serve --host $(HOST) --port $(PORT)

test: setup  ## lint and every test (installs headless Chromium for the browser tests)
	bash scripts/test

ci: test  ## what .ci/run runs: the tests, then the Docker image built and run for real (needs root)
	bash scripts/docker-smoke

lint: setup
	$(BIN)/ruff check qa_service tests benchmarks

eval: setup
	$(BIN)/qa-service eval

clean:
	rm -rf $(VENV) index/v-* index/CURRENT test-output .pytest_cache
