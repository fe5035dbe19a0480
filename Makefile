# Fengqiao: `make up` runs the local stack, `make test` runs the whole test suite.
# Both set themselves up (virtual environment, dependencies, Kafka jars) and are safe to rerun.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.DEFAULT_GOAL := help
.PHONY: help setup jars up test test-unit year lint fmt clean kafka-start kafka-stop

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@touch $(STAMP)

setup: $(STAMP)  ## create the virtual environment and install the project
	@true

jars: setup  ## resolve the Kafka broker jars from Maven Central into ~/.cache (once)
	$(BIN)/fengqiao kafka jars

up: jars  ## run broker, topics, worker, sinks, API, dashboard and a simulated feed until Ctrl-C
	$(BIN)/fengqiao up

test: jars lint  ## run lint, type checks and every test (starts its own Kafka broker)
	$(BIN)/pytest

test-unit: setup  ## only the fast tests that need no broker or server
	$(BIN)/pytest -m "not kafka and not postgres and not browser and not prometheus"

year: jars  ## a full simulated year (22,300 events) through the real pipeline, timed (~4 min)
	FENGQIAO_TEST_SIM_SCALE=1 $(BIN)/pytest tests/test_simulated_year.py -s

lint: setup  ## ruff (lint + format check) and mypy
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

fmt: setup  ## format the code with ruff
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

kafka-start: jars  ## start only the local broker in the background
	$(BIN)/fengqiao kafka start

kafka-stop: setup  ## stop the local broker
	$(BIN)/fengqiao kafka stop

clean:  ## remove the virtual environment and caches (not the Kafka jar cache)
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache *.egg-info
