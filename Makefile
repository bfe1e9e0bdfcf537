# The two commands of the README:
#   make demo   set up, then run the main job on the embedded default: the synthesized backup
#               workflow executing on emulated AWS (smokejumper local run)
#   make test   set up, then run the whole test suite
# Both work on a fresh clone: `setup` installs everything from the registries.

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export CDK_DISABLE_CLI_TELEMETRY := true
export PATH := $(CURDIR)/$(BIN):$(CURDIR)/node_modules/.bin:$(PATH)

.PHONY: setup demo test lint synth services clean

# Stamp files make `setup` a no-op when nothing it installs from has changed.
$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip==25.3

$(VENV)/.installed: $(BIN)/python requirements.txt constraints.txt layers/smokejumper/pyproject.toml \
		layers/smokejumper/setup.py layers/smokejumper/src/smokejumper/sources/postgres/_copyframe.c
	# The COPY reader's extension is built for the stable ABI (_copyframe.abi3.so): a per-version build left
	# by an older checkout would be imported before it.
	rm -f layers/smokejumper/src/smokejumper/sources/postgres/_copyframe.cpython-*.so
	$(BIN)/pip install --quiet -r requirements.txt -c constraints.txt
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

# The Lambda layer's wheels, downloaded once, so that `cdk synth` builds the layer without a network.
.layer-wheels/.stamp: $(VENV)/.installed layers/build_layer.py layers/lambda-requirements.txt constraints.txt
	$(BIN)/python layers/build_layer.py --download
	touch $@

# etcd/etcdutl 3.5.16 from Debian 13, unpacked into the venv (not installed): the only packaged etcdutl here
# with `snapshot restore --bump-revision --mark-compacted` (tests/integration/test_etcd_kit_etcdutl_version.py).
$(VENV)/etcd-debian13/.installed: scripts/debian13-etcd | $(BIN)/python
	scripts/debian13-etcd $(VENV)/etcd-debian13
	touch $@

setup: $(VENV)/.installed node_modules/.installed .layer-wheels/.stamp $(VENV)/etcd-debian13/.installed

services:
	scripts/ensure-services

synth: setup
	cdk synth --quiet

demo: setup services synth
	$(BIN)/smokejumper local run

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: setup services lint
	$(BIN)/pytest

clean:
	rm -rf $(VENV) node_modules cdk.out .pytest_cache
