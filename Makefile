# Two commands do all set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   ?= .venv
PY     := $(VENV)/bin/python
export DBT_SEND_ANONYMOUS_USAGE_STATS := false
export DAGSTER_HOME ?= $(CURDIR)/.dagster_home

.PHONY: install demo test lint dev eval bench clean

install: $(VENV)/.installed

$(VENV)/.installed: requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.lock
	$(PY) -m pip install --quiet --no-deps -e .
	$(PY) -m orchestration.dbt.prepare
	$(PY) -m orchestration.judge.trained.train --seed 0 --no-report --skip-without-data
	touch $@

demo: install  ## replay the public data as 28 landing days, run them through Dagster, print the marts
	$(PY) -m orchestration.demo

test: install  ## unit + integration tests with real DuckDB, dbt, Dagster
	$(PY) -m pytest

lint: install
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .

dev: install  ## the Dagster UI on http://127.0.0.1:3000
	$(VENV)/bin/dagster dev -w workspace.yaml -h 127.0.0.1 -p 3000

JUDGE ?= offline
eval: install  ## a judge (JUDGE=offline|trained|llm) vs the human labels -> evals/reports/$(JUDGE)/
	$(PY) -m evals --judge $(JUDGE)

bench: install
	$(PY) -m benchmarks.pipeline
	$(PY) -m benchmarks.llm_judge

clean:
	rm -rf data .dagster_home dbt_project/target dbt_project/logs
