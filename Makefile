# The two commands of the quick start: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
UI_CHECK := $(CURDIR)/.ui-check
EXAMPLE ?= examples/order-alert.yaml
INPUT ?= {"id": "A-17", "amount": 250}

.PHONY: run example test lint ui ui-test unit bench clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

## The main job: the server (API, webhooks, schedules, engine) on 127.0.0.1:8989, with the
## examples loaded on first start. Data in $$FLOWFORGE_HOME (default ~/.flowforge).
run: $(BIN)/.installed
	$(BIN)/flowforge serve

## Run one example workflow in the terminal, live, without a server.
example: $(BIN)/.installed
	$(BIN)/flowforge run $(EXAMPLE) --input '$(INPUT)'

## Lint, type-check and run the whole suite (the editor's unit tests, then Python's on SQLite,
## then on PostgreSQL when FLOWFORGE_TEST_POSTGRES_URL is set, e.g.
## postgresql+psycopg://root@127.0.0.1:5432/test). The browser tests need Debian's chromium.
test: lint ui-test unit

lint: $(BIN)/.installed
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

# The editor (ui/) needs Node.js 20.19+ and npm only to be rebuilt or tested: its built bundle
# is committed in src/flowforge/web/dist.
UI_DEPS := ui/node_modules/.package-lock.json

$(UI_DEPS): ui/package-lock.json
	cd ui && npm ci --no-audit --no-fund --loglevel=error

## Rebuild the editor's bundle into src/flowforge/web/dist (commit the result).
ui: $(UI_DEPS)
	cd ui && npm run build

## Type-check the editor, run its unit tests, and check that the committed bundle is built from
## the sources as they are.
ui-test: $(UI_DEPS)
	cd ui && npx tsc --noEmit -p . && npx vitest run
	rm -rf $(UI_CHECK) && cd ui && npx vite build --logLevel error --outDir $(UI_CHECK) --emptyOutDir
	@diff -r $(UI_CHECK) src/flowforge/web/dist >/dev/null || { \
		echo "src/flowforge/web/dist is not built from ui/ as it is: run make ui and commit"; \
		exit 1; }

unit: $(BIN)/.installed
	$(BIN)/pytest
	@if [ -n "$$FLOWFORGE_TEST_POSTGRES_URL" ]; then \
		echo "== the suite again on PostgreSQL =="; \
		FLOWFORGE_TEST_DATABASE_URL="$$FLOWFORGE_TEST_POSTGRES_URL" $(BIN)/pytest; \
	fi

## Print the benchmark figures.
bench: $(BIN)/.installed
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) $(UI_CHECK) ui/node_modules .pytest_cache .mypy_cache .ruff_cache .hypothesis
