# wagtail-oneonone: `make demo` runs the example shop, `make test` runs every check.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
export PYTHONPATH := $(CURDIR)

.DEFAULT_GOAL := help

.PHONY: help demo test lint format typecheck migrations-check pytest test-postgres test-browser test-reliability test-wagtail7 benchmarks ci clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

$(VENV)/.installed: pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	@touch $@

demo: $(VENV)/.installed ## Migrate SQLite, load the demo shop, run the site and a worker (Ctrl-C stops both)
	$(PY) example_site/run_demo.py

test: $(VENV)/.installed lint typecheck migrations-check pytest ## Lint, type checks, migrations check and the whole test suite

lint: $(VENV)/.installed ## ruff lint and format check
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(VENV)/.installed ## Apply ruff's fixes and formatting
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

typecheck: $(VENV)/.installed ## mypy over the package
	$(VENV)/bin/mypy

migrations-check: $(VENV)/.installed ## Fail if a model change has no migration
	$(PY) -m django makemigrations --check --dry-run --settings=tests.settings
	$(PY) example_site/manage.py makemigrations --check --dry-run

pytest: $(VENV)/.installed ## The test suite on SQLite (PostgreSQL/Chromium tests skip when unavailable)
	$(PY) -m pytest

test-postgres: $(VENV)/.installed ## The test suite against PostgreSQL (127.0.0.1:5432)
	ONEONONE_TEST_DB=postgres $(PY) -m pytest -m "not browser and not integration"

test-browser: $(VENV)/.installed ## The browser tests in headless Chromium (fails if Chromium is missing)
	ONEONONE_REQUIRE_BROWSER=1 $(PY) -m pytest -m browser

test-reliability: $(VENV)/.installed ## Kill workers, break the backend, race four workers: PostgreSQL + Redis + qcluster
	ONEONONE_RELIABILITY=1 $(PY) -m pytest -p no:cacheprovider tests/reliability

W7 := .venv-wagtail7
test-wagtail7: ## The app's suite on Wagtail 7.0 LTS (without the example shop, which follows Wagtail 8)
	@test -x $(W7)/bin/python || $(PYTHON) -m venv $(W7)
	$(W7)/bin/python -m pip install --quiet --upgrade pip
	$(W7)/bin/python -m pip install --quiet "wagtail>=7.0,<7.1" -e ".[dev]"
	ONEONONE_TEST_WITHOUT_SHOP=1 $(W7)/bin/python -m pytest -p no:cacheprovider -m "not browser and not integration" --ignore=tests/shop --ignore=tests/reliability

benchmarks: $(VENV)/.installed ## Run the benchmarks (prints RESULT lines)
	$(PY) benchmarks/ingest.py --db both
	$(PY) benchmarks/send.py --db both
	$(PY) benchmarks/segments.py --db both
	$(PY) benchmarks/campaign.py --db both
	$(PY) benchmarks/flows.py --db both

ci: ## What CI runs
	bash .ci/run

clean: ## Remove the virtualenv, caches and the demo database
	rm -rf $(VENV) $(W7) .pytest_cache .mypy_cache .ruff_cache example_site/db.sqlite3* example_site/media
