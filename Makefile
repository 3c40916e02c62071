# The two commands of the quick start: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
EXAMPLE ?= examples/order-alert.yaml
INPUT ?= {"id": "A-17", "amount": 250}

.PHONY: run example test lint unit bench clean

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

## Lint, type-check and run the whole suite on SQLite, then on PostgreSQL when
## FLOWFORGE_TEST_POSTGRES_URL is set (e.g. postgresql+psycopg://root@127.0.0.1:5432/test).
test: lint unit

lint: $(BIN)/.installed
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

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
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
