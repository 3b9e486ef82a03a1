# Tim's Stack: one Pulumi stack per environment.
#   make setup            install everything (pinned) into ./venv
#   make test             lint, type-check and run the whole offline suite
#   make up ENV=dev       deploy the environment `dev` to the current kubeconfig
# See README.md for the rest.

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
# The Pythons the pinned packages install on: 3.11 is pyproject.toml's floor;
# 3.14 is the newest for which every pin in constraints.txt ships a wheel
# (`pip install --dry-run --only-binary=:all: --python-version 3.15 -c
# constraints.txt -r requirements-dev.txt` finds none). Re-check after `make lock`.
PYTHON_MIN := 3.11
PYTHON_MAX := 3.14
# Pulumi shows a Python dynamic provider's output (ImageBuild's progress) from
# this CLI version on; older ones hide it (components/images/imagebuild/).
PULUMI_MIN_VERSION := 3.146.0
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

comma := ,
# "<major.minor> <base prefix>" of an interpreter: a venv answers with the
# Python that made it, so a mismatch means another Python made ./venv.
PY_IDENTITY := import sys; print("%d.%d %s" % (sys.version_info[0], sys.version_info[1], sys.base_prefix))
PY_SUPPORTED := import sys; v = sys.version_info[:2]; print("%d.%d" % v); sys.exit(0 if ($(subst .,$(comma),$(PYTHON_MIN))) <= v <= ($(subst .,$(comma),$(PYTHON_MAX))) else 3)
# What a complete `make setup` leaves in the venv.
VENV_TOOLS := ruff mypy
VENV_MODULES := ("pytest", "xdist", "pulumi", "pulumi_kubernetes", "kubernetes_validate")

.PHONY: help setup lock lint typecheck test bench preview up destroy stop start outputs render \
	check-env check-pulumi check-python check-venv

help: ## list the targets
	@echo "Usage: make <target> [ENV=<stack>]   (Pulumi targets need ENV; see README.md)"
	@awk -F':.*## ' '/^[a-z][a-z-]*:.*## / { printf "  %-10s %s\n", $$1, $$2 }' $(MAKEFILE_LIST)

check-python:
	@v=$$($(PYTHON) -c '$(PY_SUPPORTED)' 2>/dev/null) && exit 0; \
	if [ -z "$$v" ]; then \
	  echo "make: cannot run '$(PYTHON)' as Python. Install Python $(PYTHON_MIN) to $(PYTHON_MAX), or name one: make $(MAKECMDGOALS) PYTHON=python3.12" >&2; \
	else \
	  echo "make: '$(PYTHON)' is Python $$v, but the pinned packages need Python $(PYTHON_MIN) to $(PYTHON_MAX). Name a supported one: make $(MAKECMDGOALS) PYTHON=python3.12" >&2; \
	fi; exit 2

setup: check-python ## create ./venv and install every pinned tool (rebuilds a venv another Python made)
	@want=$$($(PYTHON) -c '$(PY_IDENTITY)'); \
	if [ -e $(VENV) ] || [ -L $(VENV) ]; then \
	  have=$$($(BIN)/python -c '$(PY_IDENTITY)' 2>/dev/null || echo "a Python that no longer runs"); \
	  if [ "$$have" != "$$want" ]; then \
	    echo "./$(VENV) was made by Python $$have, not by $(PYTHON) (Python $$want): rebuilding it"; \
	    rm -rf $(VENV); \
	  fi; \
	fi; \
	if [ ! -e $(VENV) ]; then echo "+ $(PYTHON) -m venv $(VENV)"; $(PYTHON) -m venv $(VENV); fi
	$(BIN)/python -m pip install --quiet --upgrade pip==25.3
	$(BIN)/python -m pip install --quiet -c constraints.txt -r requirements-dev.txt
	@echo "setup done: tools are in ./$(VENV)"

# Every target that runs a tool from ./venv checks for it first, so running
# one before `make setup` says what to do instead of "No such file".
check-venv:
	@if ! $(BIN)/python -c '' 2>/dev/null; then \
	  if [ -e $(BIN)/python ] || [ -L $(BIN)/python ]; then \
	    echo "make: ./$(VENV) is broken (its Python no longer runs): run 'make setup' to rebuild it." >&2; \
	  else \
	    echo "make: there is no ./$(VENV) yet: run 'make setup' first (it installs the pinned tools)." >&2; \
	  fi; exit 2; \
	fi
	@missing=""; for tool in $(VENV_TOOLS); do [ -x $(BIN)/$$tool ] || missing="$$missing $$tool"; done; \
	missing="$$missing $$($(BIN)/python -c 'import importlib.util as u; print(" ".join(m for m in $(VENV_MODULES) if u.find_spec(m) is None))')"; \
	if [ -n "$${missing// /}" ]; then \
	  echo "make: ./$(VENV) is incomplete (missing:$$missing): run 'make setup' again." >&2; exit 2; \
	fi

# Regenerate the full pin set after changing requirements*.txt: resolve them
# afresh (old pins must not hold new ones back), then `make setup` again.
lock: check-python ## re-resolve requirements*.txt into constraints.txt (then make setup)
	rm -rf .lock-venv
	$(PYTHON) -m venv .lock-venv
	.lock-venv/bin/python -m pip install --quiet -r requirements-dev.txt
	(echo "# Full pin set (pip freeze of a clean 'make setup'); regenerate with 'make lock'."; \
	 .lock-venv/bin/python -m pip freeze --exclude pip) > constraints.txt
	rm -rf .lock-venv

lint: check-venv ## ruff check and ruff format --check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: check-venv ## mypy --strict
	$(BIN)/mypy

# pytest exits 5 when it collects no test: that is a failure here, never a pass.
test: check-venv lint typecheck ## lint, type-check and run the whole offline suite
	@rc=0; $(BIN)/python -m pytest $(PYTEST_ARGS) || rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing" >&2; exit 1; fi; \
	exit $$rc

bench: check-venv ## ImageBuild benchmark (ratios against a baseline in the same run)
	$(BIN)/python -m bench.imagebuild

check-env:
	@if [ -z "$(ENV)" ]; then echo "ENV is required, e.g. make $(MAKECMDGOALS) ENV=dev" >&2; exit 2; fi

check-pulumi:
	@command -v $(PULUMI) >/dev/null || { echo "The Pulumi CLI is not installed: see README.md, 'Install the Pulumi CLI'." >&2; exit 2; }
	@have=$$($(PULUMI) version 2>/dev/null | head -n 1 | sed 's/^v//'); \
	awk -v have="$$have" -v want="$(PULUMI_MIN_VERSION)" 'BEGIN { \
	  split(have, h, /[.+-]/); split(want, w, "."); \
	  for (i = 1; i <= 3; i++) { if (h[i] + 0 > w[i] + 0) exit 0; if (h[i] + 0 < w[i] + 0) exit 1 } \
	  exit 0 }' || { \
	  echo "The Pulumi CLI is version '$${have}'; this program needs $(PULUMI_MIN_VERSION) or newer (older ones hide ImageBuild's progress): upgrade it, see README.md, 'Install the Pulumi CLI'." >&2; exit 2; }

# `stack select --create` makes the first `make up ENV=x` just work.
# The local file backend needs its directory to exist.
define select_stack
	@case "$(PULUMI_BACKEND_URL)" in file://*) mkdir -p "$(patsubst file://%,%,$(PULUMI_BACKEND_URL))";; esac
	@echo "+ $(PULUMI) stack select --create $(ENV)"
	@$(PULUMI) stack select --create $(ENV)
endef

preview: check-env check-pulumi check-venv ## pulumi preview --diff (creates the stack if missing) (ENV=<stack>)
	$(select_stack)
	$(PULUMI) preview --stack $(ENV) --diff

up: check-env check-pulumi check-venv ## create or update the environment (creates the stack if missing) (ENV=<stack>)
	$(select_stack)
	$(PULUMI) up --stack $(ENV) --yes

destroy: check-env check-pulumi check-venv ## remove the environment, its data and its images (ENV=<stack>)
	$(PULUMI) destroy --stack $(ENV)

stop: check-env check-pulumi check-venv ## scale every workload to 0, keeping data (ENV=<stack>)
	$(PULUMI) config set --stack $(ENV) tims-stack:stopped true
	$(PULUMI) up --stack $(ENV) --yes

start: check-env check-pulumi check-venv ## scale back to the configured replicas (ENV=<stack>)
	$(PULUMI) config set --stack $(ENV) tims-stack:stopped false
	$(PULUMI) up --stack $(ENV) --yes

outputs: check-env check-pulumi check-venv ## the stack's outputs (ENV=<stack>)
	$(PULUMI) stack output --stack $(ENV)

render: check-env check-venv ## offline manifests in build/manifests/<ENV>/, validated (ENV=, STACK_CONFIG=)
	$(BIN)/python -m scripts.render --env $(ENV) $(if $(STACK_CONFIG),--config $(STACK_CONFIG))
