# Every command a person runs on tuskflow. `make test` needs nothing set up beforehand.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup test lint format up down status bench clean

setup: $(STAMP) ## virtualenv with tuskflow installed editable, with local services, dev and bench tools

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[local,dev,bench]'
	touch $@

test: setup ## the whole suite; starts the local services it needs and stops what it started
	$(BIN)/python -m pytest

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
