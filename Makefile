# Developer commands for the job queue, and the build targets that
# `sam build` calls for the resources with `BuildMethod: makefile`.
#
# Run `make help` for the list of developer commands.

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-builtin-rules

# SAM CLI sends usage data to AWS unless this is 0.
export SAM_CLI_TELEMETRY ?= 0

# ---------------------------------------------------------------------------
# Settings
# ---------------------------------------------------------------------------

VENV ?= .venv
VENV_BIN := $(VENV)/bin
# Stamp file that records the last successful install into $(VENV).
VENV_STAMP := $(VENV)/.requirements-installed
REQUIREMENTS := requirements-dev.txt layers/jobqueue/requirements.txt

# Source folders of the layer package and the local runner, for commands that
# run them from the source tree (pytest reads the same list from pyproject.toml).
DEV_PYTHONPATH := layers/jobqueue:local

PYTEST_ARGS ?=

# Shell code that prints the first interpreter that runs and is Python 3.11 or
# newer. Python 3.13 comes first because the Lambda runtime is python3.13, and
# pyenv users get it through PYENV_VERSION even when it is not their active
# version.
FIND_PYTHON = \
	for candidate in "python3.13" "env PYENV_VERSION=3.13 python" "python3"; do \
		if $$candidate -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then \
			echo "$$candidate"; \
			exit 0; \
		fi; \
	done; \
	echo "No Python 3.11 or newer found. Install Python 3.13 (the Lambda runtime) or 3.11+, then run make venv again." >&2; \
	exit 1

# ---------------------------------------------------------------------------
# Developer commands
# ---------------------------------------------------------------------------

.PHONY: help
help: ## Show this list of commands
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) \
		| awk 'BEGIN { FS = ":.*## " } { printf "  %-12s %s\n", $$1, $$2 }'

.PHONY: venv
venv: $(VENV_STAMP) ## Create .venv, install the developer requirements and the jobqueue command

# Runs again only when a requirements file or pyproject.toml is newer than the
# stamp. The project itself is installed editable, for the $(VENV_BIN)/jobqueue
# command; the setuptools pinned in requirements-dev.txt builds it, so that
# step downloads nothing.
$(VENV_STAMP): $(REQUIREMENTS) pyproject.toml
	@if ! "$(VENV_BIN)/python" -c '' 2>/dev/null; then \
		python="$$($(FIND_PYTHON))"; \
		echo "Creating $(VENV) with $$python"; \
		$$python -m venv --clear "$(VENV)"; \
	fi
	"$(VENV_BIN)/python" -m pip install --disable-pip-version-check --quiet --requirement requirements-dev.txt
	"$(VENV_BIN)/python" -m pip install --disable-pip-version-check --quiet --no-build-isolation --editable .
	@touch "$@"

.PHONY: test
test: venv ## Run the test suite without the stress tests (extra pytest options in PYTEST_ARGS)
	"$(VENV_BIN)/python" -m pytest $(PYTEST_ARGS)

# Debian's Chromium for the dashboard's browser test. The test drives it with
# the playwright package at /usr/bin/chromium, so Playwright's own browser
# download is never needed. Needs root, as apt-get does.
.PHONY: browser
browser: ## Install Debian's Chromium for the browser test (apt-get, as root)
	@if [ -x /usr/bin/chromium ]; then \
		echo "Chromium is installed: $$(/usr/bin/chromium --version)"; \
	else \
		apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium; \
	fi

# -s shows the figures each stress test prints (jobs, processes, kills, fuzz
# cases); the WARNING log level keeps thousands of INFO lines from burying them.
.PHONY: test-stress
test-stress: venv ## Run only the long stress tests of the queue's guarantees (about 4 minutes)
	POWERTOOLS_LOG_LEVEL=WARNING "$(VENV_BIN)/python" -m pytest -m stress -s $(PYTEST_ARGS)

.PHONY: run
run: venv ## Run the local demo: processor and API without Docker
	PYTHONPATH="$(DEV_PYTHONPATH)" "$(VENV_BIN)/python" -m jobqueue_local demo

# Extra options of `python -m jobqueue_local serve`, e.g. SERVE_ARGS="--port 8000 --processor-interval 10".
SERVE_ARGS ?=

.PHONY: serve
serve: venv ## Serve the API and dashboard on 127.0.0.1:3000 and run the processor every 60 s
	PYTHONPATH="$(DEV_PYTHONPATH)" "$(VENV_BIN)/python" -m jobqueue_local serve $(SERVE_ARGS)

# The benchmarks run in a virtualenv of their own, because they install the
# peer queues (pgqueuer, procrastinate) that neither the tests nor the layer use.
BENCH_VENV ?= .venv-bench
BENCH_STAMP := $(BENCH_VENV)/.requirements-installed

$(BENCH_STAMP): bench/requirements.txt layers/jobqueue/requirements.txt
	@if ! "$(BENCH_VENV)/bin/python" -c '' 2>/dev/null; then \
		python="$$($(FIND_PYTHON))"; \
		echo "Creating $(BENCH_VENV) with $$python"; \
		$$python -m venv --clear "$(BENCH_VENV)"; \
	fi
	"$(BENCH_VENV)/bin/python" -m pip install --disable-pip-version-check --quiet --requirement bench/requirements.txt
	@# The layer's packages as sam build installs them (no .pyc), for the cold-start figures.
	rm -rf "$(BENCH_VENV)/lambda-layer"
	"$(BENCH_VENV)/bin/python" -m pip install --disable-pip-version-check --quiet --no-compile \
		--target "$(BENCH_VENV)/lambda-layer" --requirement layers/jobqueue/requirements.txt
	@touch "$@"

.PHONY: bench
bench: $(BENCH_STAMP) ## Run the benchmarks (about 12 min): a table, and JSON in bench-results/
	PYTHONPATH="$(DEV_PYTHONPATH):." "$(BENCH_VENV)/bin/python" -m bench

.PHONY: bench-quick
bench-quick: $(BENCH_STAMP) ## Run the benchmarks with small counts (about 2 min), as a smoke test
	BENCH_QUICK=1 PYTHONPATH="$(DEV_PYTHONPATH):." "$(BENCH_VENV)/bin/python" -m bench

.PHONY: lint
lint: venv ## Check the Python code with ruff
	"$(VENV_BIN)/ruff" check .

.PHONY: validate
validate: venv ## Check template.yaml with sam validate and cfn-lint
	"$(VENV_BIN)/sam" validate --lint --template-file template.yaml
	"$(VENV_BIN)/cfn-lint" template.yaml

.PHONY: build
build: venv ## Build the layer and the functions into .aws-sam (no Docker)
	"$(VENV_BIN)/sam" build

.PHONY: clean
clean: ## Remove build output and caches (keeps .venv)
	rm -rf .aws-sam .pytest_cache .ruff_cache
	find . -path "./$(VENV)" -prune -o -type d -name __pycache__ -prune -exec rm -rf {} +

# ---------------------------------------------------------------------------
# Build targets called by `sam build`
#
# The resources in template.yaml set `Metadata: ContextPath: .`, so sam build
# uses this Makefile for each of them. It copies the resource's CodeUri (or
# ContentUri) folder to a scratch directory, then runs
# `make --makefile <this file> build-<LogicalId>` there with ARTIFACTS_DIR set.
# The recipes below therefore use paths relative to that copy, not to the
# repository root.
# ---------------------------------------------------------------------------

# python3 from PATH runs pip: the build needs no Python 3.13, because pip only
# downloads wheels built for the Lambda runtime and never imports them.
BUILD_PYTHON ?= python3

# Wheels for the python3.13 arm64 runtime (Amazon Linux 2023, glibc 2.34).
# psycopg-binary 3.3.9 publishes its aarch64 wheels only as manylinux_2_28:
# with manylinux2014 alone, pip finds no psycopg-binary newer than 3.2.
LAMBDA_WHEEL_FLAGS := \
	--platform manylinux_2_28_aarch64 \
	--platform manylinux2014_aarch64 \
	--python-version 3.13 \
	--implementation cp \
	--only-binary=:all:

# The Lambda Python runtime provides boto3; a copy in the layer would only
# add size and shadow the runtime's version.
RUNTIME_PROVIDED := boto3 botocore s3transfer

# --no-compile: the build Python's .pyc files would not match the runtime's
# Python version, so they would only add size.
.PHONY: build-JobQueueLayer
build-JobQueueLayer:
	mkdir -p "$(ARTIFACTS_DIR)/python"
	$(BUILD_PYTHON) -m pip install \
		--disable-pip-version-check --no-compile --upgrade --quiet \
		$(LAMBDA_WHEEL_FLAGS) \
		--requirement requirements.txt \
		--target "$(ARTIFACTS_DIR)/python"
	for name in $(RUNTIME_PROVIDED); do \
		rm -rf "$(ARTIFACTS_DIR)/python/$$name" "$(ARTIFACTS_DIR)/python/$$name"-*.dist-info; \
	done
	rm -rf "$(ARTIFACTS_DIR)/python/bin"
	cp -R jobqueue "$(ARTIFACTS_DIR)/python/"
	find "$(ARTIFACTS_DIR)/python/jobqueue" -type d -name __pycache__ -prune -exec rm -rf {} +
	# Lambda mounts the layer read-only under /opt, so without bytecode in the
	# layer every cold start compiles every module it imports. Bytecode must
	# come from the runtime's Python version, so it is added only when a
	# Python 3.13 is found; unchecked-hash keeps it valid whatever the
	# files' timestamps become in the zip.
	for candidate in "python3.13" "env PYENV_VERSION=3.13 python"; do \
		if $$candidate -c 'import sys; sys.exit(sys.version_info[:2] != (3, 13))' 2>/dev/null; then \
			$$candidate -m compileall -q -j 0 --invalidation-mode unchecked-hash "$(ARTIFACTS_DIR)/python" >/dev/null; \
			exit 0; \
		fi; \
	done; \
	echo "No Python 3.13 found: the layer has no bytecode, so cold starts compile it"

# The functions contain only their entry point; their code and dependencies
# come from the layer.
.PHONY: build-ProcessorFunction build-ApiFunction
build-ProcessorFunction build-ApiFunction:
	cp *.py "$(ARTIFACTS_DIR)/"
