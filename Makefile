# journeywatch — the two commands a newcomer needs are `make demo` and `make test`.
# Both set everything up first: a virtualenv in .venv, the Debian packages the tests use
# (prometheus, postgresql, chromium) and the npm packages of the Node services.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
NODE_STAMP := tests/node/node_modules/.installed
DEMO_NODE_STAMP := demo/node/node_modules/.installed

.PHONY: setup system-packages test lint demo bench clean

setup: $(STAMP) system-packages $(NODE_STAMP) $(DEMO_NODE_STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

system-packages:
	bash .ci/install-system-packages

$(NODE_STAMP): tests/node/package.json tests/node/package-lock.json
	cd tests/node && npm ci --no-audit --no-fund
	touch $@

$(DEMO_NODE_STAMP): demo/node/package.json demo/node/package-lock.json
	cd demo/node && npm ci --no-audit --no-fund
	touch $@

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: setup lint
	$(BIN)/pytest

# A random fault in the demo shop; the pages stay up after the verdict until Ctrl-C.
demo: setup
	$(BIN)/journeywatch check-config config/demo.yaml
	$(BIN)/journeywatch demo --fault random --duration 300 --stop-after-verdict --keep-serving

bench: setup
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/critical_path.py
	$(BIN)/python bench/analyze_speed.py
	$(BIN)/python bench/rca_eval.py
	$(BIN)/python bench/detection.py
	$(BIN)/python bench/investigate_speed.py

clean:
	rm -rf $(VENV) data tests/node/node_modules demo/node/node_modules .pytest_cache .mypy_cache .ruff_cache
