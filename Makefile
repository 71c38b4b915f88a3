# Two commands do all set-up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
CONFIG ?= deliverwatch.example.yaml

.PHONY: install run test lint check format bench clean

# The modules setup.py compiles: edited, they are compiled again before anything runs.
COMPILED := $(shell grep -o 'src/deliverwatch/[a-z0-9_/]*\.py' setup.py)

$(STAMP): pyproject.toml setup.py $(COMPILED)
	PYTHON=$(PYTHON) ./scripts/c-compiler
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	$(BIN)/python -c 'from deliverwatch import native; print("deliverwatch:", native.describe())'
	# Bytecode for every module, as a wheel's install makes: where PYTHONDONTWRITEBYTECODE is
	# set, each process would compile them from source (docs/benchmarks-events.md, session 9).
	# Modules edited later are compiled as they are imported, as usual.
	$(BIN)/python -m compileall -q src
	touch $(STAMP)

## install: the virtual environment, the package (its hot path compiled: setup.py) and tools
install: $(STAMP)

## run: the service (webhooks, API, dashboard, metrics, scheduled jobs) on the embedded SQLite store
run: $(STAMP)
	$(BIN)/deliverwatch serve --config $(CONFIG)

## test: the whole test suite against real local servers (installed from Debian when missing)
test: $(STAMP)
	./scripts/test-servers
	$(BIN)/python -m pytest -q

## lint: ruff, ruff format --check, mypy (strict) on the package
lint: $(STAMP)
	$(BIN)/ruff check src tests bench setup.py
	$(BIN)/ruff format --check src tests bench setup.py
	$(BIN)/mypy

check: lint test

format: $(STAMP)
	$(BIN)/ruff format src tests bench setup.py
	$(BIN)/ruff check --fix src tests bench setup.py

## bench: the DNS audit benchmark against checkdmarc (outside CI; see docs/benchmarks.md)
bench: $(STAMP)
	$(BIN)/python bench/check_throughput.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build
	find src -name "*.so" -delete  # the compiled modules (setup.py)
