# samtale: the two commands are `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: install models run test test-browser lint contract bench clean

$(BIN)/samtale: pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# torch first and pinned: the CPU build on these machines; an unpinned torch pulls CUDA packages.
	$(BIN)/pip install --quiet "torch==2.13.0"
	$(BIN)/pip install --quiet -e ".[dev]"
	@touch $(BIN)/samtale

install: $(BIN)/samtale  ## build .venv with samtale and its dev tools

# The ONNX export of the embedding model (~20 s once; skipped while current), so the server embeds
# with ONNX Runtime. Not part of install: CI's tests export into their own folders.
models: install  ## export the embedding model to ONNX under SAMTALE_MODELS_DIR (default data/models)
	$(BIN)/samtale embedder export-onnx

run: models  ## migrate, load the demo shop and serve http://127.0.0.1:$(PORT)
	$(BIN)/samtale migrate
	$(BIN)/samtale demo
	@echo "Create an admin API key with: $(BIN)/samtale apikeys create --name me --admin"
	@echo "Chat page: http://127.0.0.1:$(PORT)/"
	$(BIN)/samtale serve --port $(PORT)

test: install  ## the whole suite (SQLite; PostgreSQL and Redis too when their SAMTALE_TEST_* URLs are set)
	$(BIN)/pytest -q

test-browser: install  ## the pages in Debian's Chromium (apt-get install chromium), driven by Playwright
	$(BIN)/pytest -q -m browser tests/web

lint: install  ## ruff, mypy and the import contracts of pyproject.toml (docs/architecture.md, "Layers")
	$(BIN)/ruff check samtale tests bench
	$(BIN)/ruff format --check samtale tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

contract: install  ## schemathesis over the whole /openapi.json of a freshly served demo (.ci/schemathesis; ~2 min)
	.ci/schemathesis

bench: models  ## the four benchmarks of bench/README.md (< 10 min); QUICK=1 for a short run, WORKERS=N
	@command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk) || { echo "wrk is missing: apt-get install -y wrk"; exit 1; }
	$(BIN)/python -m bench.run $(if $(QUICK),--quick) --workers $(or $(WORKERS),1)

clean:
	rm -rf $(VENV) samtale.db samtale.db-* .pytest_cache .mypy_cache .ruff_cache
