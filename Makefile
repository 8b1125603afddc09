# The verbs a person types. Everything the project needs is installed from its own files.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
export PATH := $(CURDIR)/$(VENV)/bin:$(CURDIR)/node_modules/.bin:$(PATH)
export PYTHONPATH := $(CURDIR)/lambdas
export JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION := 1
export PIP_DISABLE_PIP_VERSION_CHECK := 1

PY_STAMP   := $(VENV)/.installed
NODE_STAMP := node_modules/.installed

.PHONY: help setup test unit lint synth deploy diff destroy demo demo-org bench clean

help: ## list the verbs
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

$(PY_STAMP): requirements.txt requirements-dev.txt
	@test -x $(PY) || { echo "setup: creating the virtualenv $(VENV) with $(PYTHON)"; $(PYTHON) -m venv $(VENV); }
	@echo "setup: installing the pinned Python packages of requirements-dev.txt into $(VENV):"
	@echo "setup:   boto3, powertools, aws-cdk-lib and cdk-nag (runtime and synth),"
	@echo "setup:   moto, pytest, hypothesis, ruff, mypy (tests); the first time takes a few minutes"
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	@touch $@

$(NODE_STAMP): package.json package-lock.json
	@echo "setup: installing the pinned Node.js packages of package-lock.json (the aws-cdk CLI)"
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

setup: $(PY_STAMP) $(NODE_STAMP) ## create .venv and install the pinned Python and Node dependencies

lint: $(PY_STAMP) ## ruff and mypy
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy

test: setup lint ## install what is needed, then run every test layer (unit, integration, infra, e2e)
	@start=$$(date +%s); $(PY) -m pytest -n auto; status=$$?; \
	echo "make test: pytest took $$(( $$(date +%s) - start )) s wall time"; exit $$status

unit: $(PY_STAMP) ## the fast pure-logic tests only
	$(PY) -m pytest tests/unit

synth: setup ## synthesise the CloudFormation template (no Docker, no credentials)
	npx cdk synth --quiet

diff: setup ## show what a deploy would change
	npx cdk diff

deploy: setup ## deploy to the account and region of your AWS credentials
	npx cdk deploy

destroy: setup ## delete the stack; its state table, trail buckets and log group stay (README: Uninstall)
	npx cdk destroy

demo: $(PY_STAMP) ## run every case of the domain end to end on an embedded AWS emulator (no Node.js needed)
	$(PY) -m tests.e2e.demo

demo-org: $(PY_STAMP) ## organization mode on the emulator: a hub, three member accounts, the cross-account case
	$(PY) -m tests.e2e.demo_org

bench: $(PY_STAMP) ## benchmark: prints figures beside their goals, writes bench/results/latest.json
	$(PY) -m bench

clean: ## remove build output (keeps .venv and node_modules)
	rm -rf cdk.out .pytest_cache .mypy_cache .ruff_cache build
