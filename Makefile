# Every command a person runs on tuskflow. `make test` needs nothing set up beforehand.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup test demo lint format up down status bench clean flower

setup: $(STAMP) ## virtualenv with tuskflow installed editable, with local services, dev and bench tools

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	@# -qq: setuptools tells every editable install to mind folders named like the package,
	@# which reads like a failure; pip's errors still show.
	$(BIN)/python -m pip install -qq -e '.[local,dev,bench]'
	touch $@

test: setup ## the whole suite; starts the local services it needs and stops what it started
	$(BIN)/python -m pytest

DEMO_ROWS ?= 1000000

demo: setup ## the main job end to end: local services, a worker, sample data, submit, progress, summary
	$(BIN)/tuskflow local up postgres redis
	@eval "$$($(BIN)/tuskflow local env)"; set -e; \
	$(BIN)/tuskflow db migrate; \
	$(BIN)/tuskflow local worker start; \
	test -f data/sales.csv || $(BIN)/python examples/generate_sales.py --rows $(DEMO_ROWS) --bad-rows 25 --out data/sales.csv; \
	$(BIN)/python examples/submit_job.py examples/specs/sales_to_parquet.yaml; \
	echo "== a scheduled fire: tuskflow beat on examples/schedule.yaml for 12 s"; \
	timeout -s TERM 12 $(BIN)/tuskflow beat --schedule examples/schedule.yaml --loglevel WARNING || test $$? -eq 124; \
	$(BIN)/tuskflow schedule show sales-every-10s --schedule examples/schedule.yaml; \
	echo "== a snapshot run over the job streams"; \
	$(BIN)/tuskflow snapshot run
	@echo "stop the worker and the services with: make down"

flower: setup ## Flower for the local broker on 127.0.0.1:5555, login from TUSKFLOW_FLOWER_BASIC_AUTH
	@eval "$$($(BIN)/tuskflow local env)"; $(BIN)/tuskflow flower

lint: setup ## ruff (lint and format) and mypy
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: setup ## rewrite the code in the house format
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

up: setup ## start local PostgreSQL, Redis and Kafka in .tuskflow/
	$(BIN)/tuskflow local up

down: setup ## stop them
	$(BIN)/tuskflow local down

status: setup ## what runs where
	$(BIN)/tuskflow local status

bench: setup ## benchmarks against their references, side by side; leaves the services running
	$(BIN)/tuskflow local up
	@eval "$$($(BIN)/tuskflow local env)"; \
	for bench in bench/bench_*.py; do echo "== $$bench"; $(BIN)/python "$$bench" || exit 1; done

clean: down ## stop the services and remove the virtualenv and local state
	rm -rf $(VENV) .tuskflow .mypy_cache .ruff_cache .pytest_cache
