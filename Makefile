# The commands users type. Each installs what it needs first.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
CDK := CDK_DISABLE_CLI_TELEMETRY=true node_modules/.bin/cdk
# jsii warns on every synth that Node 20 is past its end of life. The synth works on it (the
# machines here have Node 20); Node 22 or newer is the recommended upgrade.
export JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION := 1
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20

# One pytest worker more than there are cores: the end-to-end tests spend much of their time
# waiting on the local stack they run in a subprocess (on 2 cores: 4m56s with 3, 5m25s with 2).
TEST_WORKERS ?= $(shell echo $$(( $$(nproc 2>/dev/null || echo 1) + 1 )))

.PHONY: help install local demo test lint synth deploy bench openapi clean

help: ## list the commands
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

install: $(VENV)/.installed node_modules/.installed ## create .venv, install Python and Node (CDK CLI) dependencies

$(VENV)/.installed: requirements.txt requirements-dev.txt pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	@touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

lint: $(VENV)/.installed ## ruff and mypy
	$(BIN)/ruff check .
	$(BIN)/mypy

local: install ## run the whole product on this machine (emulator on 127.0.0.1), Ctrl-C stops it
	$(BIN)/guardctl local $(LOCAL_ARGS)

demo: install ## watch every guardrail work on a fresh local stack, narrated, then a summary
	$(BIN)/guardctl demo $(DEMO_ARGS)

test: install lint ## lint, then every test (unit, integration on moto, infra with cdk-nag)
	$(BIN)/pytest -n $(TEST_WORKERS) --dist loadfile -q -p no:cacheprovider

synth: install ## write cdk.out/GuardrailsStack.template.json (offline, cdk-nag checked)
	$(CDK) synth --quiet --no-notices --output cdk.out
	@echo "wrote cdk.out/GuardrailsStack.template.json"

deploy: install ## deploy to the account of your AWS credentials (see README: Deploy)
	$(CDK) deploy --no-notices GuardrailsStack

bench: $(VENV)/.installed ## sweep at 1,000 instances, and alert latency (polling vs predicted), on moto
	$(BIN)/python bench/sweep.py
	$(BIN)/python bench/alert_latency.py

openapi: $(VENV)/.installed ## regenerate docs/openapi.json from the API code
	$(BIN)/python scripts/openapi.py

clean: ## remove build output (keeps .venv and node_modules)
	rm -rf cdk.out .pytest_cache .mypy_cache .ruff_cache
