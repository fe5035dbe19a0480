# Fengqiao: `make up` runs the local stack, `make test` runs the whole test suite.
# Both set themselves up (system packages, the virtual environment from requirements.lock,
# the Kafka broker jars) and are safe to rerun: a second run installs nothing new.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
LOCK   := requirements.lock

# uv only resolves the lock; pip installs from it. Its version is pinned so that `make lock`
# resolves the same way on every machine. The lock is for the Python and platform the project
# runs on (Debian's Python 3.11 on x86-64 Linux), whatever machine refreshes it.
UV_VERSION := 0.13.9
UV         := $(BIN)/uv
LOCK_FLAGS := --generate-hashes --all-extras --python-version 3.11 \
              --python-platform x86_64-unknown-linux-gnu --custom-compile-command 'make lock'

.DEFAULT_GOAL := help
.PHONY: help system setup lock lock-upgrade jars up test test-unit test-fast year year-paced lint fmt clean \
        kafka-start kafka-stop

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-13s %s\n", $$1, $$2}'

system:  ## install the system packages the stack and tests need, if missing (deploy/bootstrap.sh)
	@PYTHON=$(PYTHON) bash deploy/bootstrap.sh

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Reinstalls whenever the lock or pyproject.toml changes. `pip check` catches a lock that no
# longer satisfies pyproject.toml (a dependency added or a pin changed without `make lock`).
$(STAMP): $(LOCK) pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --require-hashes -r $(LOCK)
	@# setuptools warns on every editable install that a folder named like the package may
	@# shadow it; here that folder is the package itself.
	PYTHONWARNINGS='ignore:Editable installation' \
	  $(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	@$(BIN)/python -m pip check >/dev/null || { $(BIN)/python -m pip check; \
	  echo "$(LOCK) does not satisfy pyproject.toml: run make lock"; exit 1; }
	@touch $@

setup: $(STAMP)  ## create the virtual environment and install the project from requirements.lock
	@true

$(UV): | $(BIN)/python
	$(BIN)/python -m pip install --quiet uv==$(UV_VERSION)

# A lock with merge conflict markers keeps the first side's pins as preferences; uv then
# re-resolves what pyproject.toml asks for. The existing pins are kept where they still fit.
define resolve
	@$(UV) --version | grep -qF ' $(UV_VERSION)' || $(BIN)/python -m pip install --quiet uv==$(UV_VERSION)
	@if grep -qE '^(<<<<<<<|=======|>>>>>>>)' $(LOCK) 2>/dev/null; then \
	  echo "$(LOCK) has merge conflict markers: keeping the first side's pins as preferences"; \
	  awk '/^<<<<<<< /{next} /^=======/{skip=1; next} /^>>>>>>> /{skip=0; next} !skip' \
	    $(LOCK) > $(LOCK).tmp && mv $(LOCK).tmp $(LOCK); \
	fi
	$(UV) pip compile $(LOCK_FLAGS) --quiet $(1) pyproject.toml -o $(LOCK)
	@echo "$(LOCK): $$(grep -cE '^[a-z0-9]' $(LOCK)) packages pinned with hashes"
endef

lock: | $(UV)  ## refresh requirements.lock from pyproject.toml, keeping the pins that still fit
	$(call resolve,)

lock-upgrade: | $(UV)  ## refresh requirements.lock with the newest versions pyproject.toml allows
	$(call resolve,--upgrade)

jars: setup  ## resolve the Kafka broker jars from Maven Central into ~/.cache (once)
	$(BIN)/fengqiao kafka jars

up: system jars  ## install what is missing, then run the whole stack (broker, worker, sinks, API, dashboard, feed) until Ctrl-C
	$(BIN)/fengqiao up

# The suite runs in two processes, a test file each at a time (a file's broker, cluster and
# server fixtures stay in one process): most real-tier tests wait on brokers and timeouts,
# so two halve the wall time on two cores. TEST_WORKERS=0 runs it in one process.
TEST_WORKERS ?= 2

test: system jars lint  ## install what the machine lacks, then lint, type checks and every test (own Kafka broker per test process)
	@PYTHON=$(PYTHON) VENV=$(VENV) bash deploy/bootstrap.sh --describe
	$(BIN)/pytest -n $(TEST_WORKERS) --dist loadfile

test-unit: setup  ## the pure unit tier (tests/unit), in seconds
	$(BIN)/pytest tests/unit

test-fast: setup  ## every test that needs no broker or server: unit, in-process, and real-tier files' offline tests
	$(BIN)/pytest -m "not kafka and not postgres and not browser and not prometheus"

year: system jars  ## a full simulated year (22,300 events) at full speed: published, routed, counted exactly once, in the case store; timed (under a minute)
	FENGQIAO_TEST_SIM_SCALE=1 $(BIN)/pytest tests/real/test_simulated_year.py -s -k end_to_end

year-paced: system jars  ## the full year paced on the stream clock into the case store, concluded by simulated mediators, reported (~15 min)
	FENGQIAO_TEST_SIM_SCALE=1 $(BIN)/pytest tests/real/test_simulated_year.py -s -k paced

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
