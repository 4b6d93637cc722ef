# chatrpc — the single entry point. `make run` serves, `make test` tests; both install first.

SHELL       := /bin/bash
PYTHON      ?= python3
VENV        ?= .venv
PY          := $(VENV)/bin/python
BIN         := $(VENV)/bin
STAMP       := $(VENV)/.installed
DBGPT_VENV  ?= .venv-dbgpt
PROTO_FILES := $(shell find proto -name '*.proto')
STUBS       := clients/chatrpc/v1/chat_service_pb2.py

# llama-cpp-python compiles llama.cpp from source the first time (pip caches the wheel);
# skipping the multimodal library, tools and examples roughly halves that build.
export CMAKE_ARGS ?= -DLLAVA_BUILD=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF \
	-DLLAMA_BUILD_TOOLS=OFF -DLLAMA_BUILD_SERVER=OFF

.PHONY: help install proto proto-lint run run-core run-gateway fmt lint typecheck test pytest check clean

help:  ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

install: $(STAMP)  ## create .venv and install the service, the SDK, the model and dev tools

$(STAMP): pyproject.toml clients/pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ./clients -e '.[model,dev]'
	@# DB-GPT's own Python client, for the compatibility tests. It pins versions that clash
	@# with ours (fastapi 0.112, starlette 0.38), so it gets a venv of its own; beautifulsoup4
	@# is a dependency it imports but does not declare.
	test -x $(DBGPT_VENV)/bin/python || $(PYTHON) -m venv $(DBGPT_VENV)
	$(DBGPT_VENV)/bin/python -m pip install --quiet dbgpt-client==0.8.2 beautifulsoup4
	touch $(STAMP)

proto: $(STUBS)  ## generate the Python stubs into clients/chatrpc/v1/ (git-ignored)

$(STUBS): $(PROTO_FILES) $(STAMP)
	PATH=$(BIN):$$PATH $(PY) -m grpc_tools.protoc -I proto \
	  --python_out=clients --grpc_python_out=clients \
	  --mypy_out=clients --mypy_grpc_out=clients \
	  $(PROTO_FILES)
	$(PY) -m grpc_tools.protoc -I proto --include_imports --include_source_info \
	  --descriptor_set_out=clients/chatrpc/v1/chat_service.protoset $(PROTO_FILES)

proto-lint:  ## buf lint on the contract (needs npm; fetches the pinned buf once)
	cd proto && npx --yes @bufbuild/buf@1.50.0 lint

run: proto  ## the core (gRPC 127.0.0.1:50051) and the gateway (HTTP 127.0.0.1:8000); Ctrl-C stops both
	@export CHATRPC_AUTH=$${CHATRPC_AUTH:-disabled}; $(PY) -m core & core=$$!; \
	  trap 'kill $$core 2>/dev/null; wait $$core' EXIT; $(PY) -m gateway

run-core: proto  ## the gRPC core alone (keyless, like `make run`, unless CHATRPC_AUTH is set)
	CHATRPC_AUTH=$${CHATRPC_AUTH:-disabled} $(PY) -m core

run-gateway: proto  ## the HTTP gateway alone (CHATRPC_CORE_TARGET says where the core is)
	CHATRPC_AUTH=$${CHATRPC_AUTH:-disabled} $(PY) -m gateway

fmt: $(STAMP)  ## format and autofix
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

lint: proto  ## ruff format --check + ruff check
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .

typecheck: proto  ## mypy --strict on core, gateway and the SDK
	$(BIN)/mypy

test: lint typecheck pytest  ## what CI runs: linters, mypy --strict, then the whole suite

pytest: proto  ## the test suite alone (starts PostgreSQL for its tests if none answers)
	$(PY) -m pytest $(PYTEST_ARGS)

check: test

clean:  ## remove generated stubs and caches
	rm -f clients/chatrpc/v1/*_pb2*.py clients/chatrpc/v1/*_pb2*.pyi clients/chatrpc/v1/*.protoset
	rm -rf .mypy_cache .ruff_cache .pytest_cache .hypothesis
