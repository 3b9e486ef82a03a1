# Tim's Stack: one Pulumi stack per environment.
#   make setup            install everything (pinned) into ./venv
#   make test             lint, type-check and run the whole offline suite
#   make up ENV=dev       deploy the environment `dev` to the current kubeconfig
# See README.md for the rest.

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := venv
BIN := $(VENV)/bin
ENV ?=
# Local state by default: no Pulumi Cloud account needed. Override with any
# backend URL (s3://..., https://api.pulumi.com) in the environment.
PULUMI_BACKEND_URL ?= file://$(CURDIR)/.pulumi-state
export PULUMI_BACKEND_URL
PULUMI ?= pulumi
STACK_CONFIG ?=
PYTEST_ARGS ?= -n auto

.PHONY: help setup lock lint typecheck test bench preview up destroy stop start outputs render check-env check-pulumi

help:
	@grep -E '^#   make' $(MAKEFILE_LIST) | sed 's/^#   //'
	@echo "Targets: setup test lint typecheck bench preview up destroy stop start outputs render"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

setup: $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip==25.3
	$(BIN)/python -m pip install --quiet -c constraints.txt -r requirements-dev.txt
	@echo "setup done: tools are in ./$(VENV)"

# Regenerate the full pin set after changing requirements*.txt: resolve them
# afresh (old pins must not hold new ones back), then `make setup` again.
lock:
	rm -rf .lock-venv
	$(PYTHON) -m venv .lock-venv
	.lock-venv/bin/python -m pip install --quiet -r requirements-dev.txt
	(echo "# Full pin set (pip freeze of a clean 'make setup'); regenerate with 'make lock'."; \
	 .lock-venv/bin/python -m pip freeze --exclude pip) > constraints.txt
	rm -rf .lock-venv

lint:
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck:
	$(BIN)/mypy

# pytest exits 5 when it collects no test: that is a failure here, never a pass.
test: lint typecheck
	@rc=0; $(BIN)/python -m pytest $(PYTEST_ARGS) || rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing" >&2; exit 1; fi; \
	exit $$rc

bench:
	$(BIN)/python -m bench.imagebuild

check-env:
	@if [ -z "$(ENV)" ]; then echo "ENV is required, e.g. make $(MAKECMDGOALS) ENV=dev" >&2; exit 2; fi

check-pulumi:
	@command -v $(PULUMI) >/dev/null || { echo "The Pulumi CLI is not installed: see README.md, 'Install the Pulumi CLI'." >&2; exit 2; }

# `stack select --create` makes the first `make up ENV=x` just work.
# The local file backend needs its directory to exist.
define select_stack
	@case "$(PULUMI_BACKEND_URL)" in file://*) mkdir -p "$(patsubst file://%,%,$(PULUMI_BACKEND_URL))";; esac
	@echo "+ $(PULUMI) stack select --create $(ENV)"
	@$(PULUMI) stack select --create $(ENV)
endef

preview: check-env check-pulumi
	$(select_stack)
	$(PULUMI) preview --stack $(ENV) --diff

up: check-env check-pulumi
	$(select_stack)
	$(PULUMI) up --stack $(ENV) --yes

destroy: check-env check-pulumi
	$(PULUMI) destroy --stack $(ENV)

stop: check-env check-pulumi
	$(PULUMI) config set --stack $(ENV) tims-stack:stopped true
	$(PULUMI) up --stack $(ENV) --yes

start: check-env check-pulumi
	$(PULUMI) config set --stack $(ENV) tims-stack:stopped false
	$(PULUMI) up --stack $(ENV) --yes

outputs: check-env check-pulumi
	$(PULUMI) stack output --stack $(ENV)

render: check-env
	$(BIN)/python -m scripts.render --env $(ENV) $(if $(STACK_CONFIG),--config $(STACK_CONFIG))
