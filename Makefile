# Two commands do everything on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
NODE_DEPS := tests/node/node_modules/.package-lock.json
# Debian packages the tests start or drive; installed once, with sudo when not root.
SYSTEM_PACKAGES := chromium wrk nginx-light redis-server
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: run test test-fast bench soak audit lint docs system-packages clean

## run: serve on $PORT (default 8000); without Cloudflare credentials, the local demo
run: $(VENV)/.runtime
	$(BIN)/python -m flux_service.launcher

## test: lint, the fast tiers (unit, in-process), end to end, then the attacks (real servers)
# Tests of a tier share out over processes (-n); the attacks that time the service run
# alone, in a session of their own, after every other server has stopped. Each pass names
# its folders, so it collects (and imports) only the tests it runs. End to end, a process
# takes whole files (--dist loadfile), so the servers a file's tests share start once, and
# the files that took longest last time go first (tests/conftest.py).
test: lint $(NODE_DEPS) system-packages
	$(BIN)/python -m pytest tests/unit tests/inprocess -n 2
	$(BIN)/python -m pytest tests/e2e tests/attacks -m "e2e or untimed" \
	  -n 3 --dist loadfile --no-loadscope-reorder
	$(BIN)/python -m pytest tests/attacks -m "not untimed"

## test-fast: the unit and in-process tiers alone, in seconds: no servers, no browser
test-fast: $(VENV)/.dev
	$(BIN)/python -m pytest tests/unit tests/inprocess -n 2

# The clients `make interop` drives, each in an environment of its own.
INTEROP := .interop
INTEROP_ENVS := $(foreach env,litellm llm mcp openai-python open-webui,$(INTEROP)/$(env)/.installed)
INTEROP_NODE_DEPS := tests/interop/node/node_modules/.package-lock.json
INTEROP_SILLYTAVERN := tests/interop/sillytavern/node_modules/.package-lock.json

## interop: real third-party clients (LiteLLM, llm, the openai SDKs, the MCP SDK, Open WebUI,
## SillyTavern) against the service; each is installed once, pinned, into its own environment
.PHONY: interop
interop: $(VENV)/.dev system-packages $(INTEROP_ENVS) $(INTEROP_NODE_DEPS) $(INTEROP_SILLYTAVERN)
	$(BIN)/python -m pytest -m interop tests/interop

# What the container tests need: Debian's podman (run by runc, networked by netavark), and
# debootstrap for the base image; podman-compose, pinned, in an environment of its own.
CONTAINER := .container
CONTAINER_PACKAGES := podman runc netavark aardvark-dns iptables debootstrap

## container-test: build the Dockerfile with podman, run the image alone, then compose.yaml and
## compose.scale.yaml (a few minutes); leaves only its caches behind, in .container/
.PHONY: container-test
container-test: $(VENV)/.dev $(CONTAINER)/venv/.installed
	@$(MAKE) --no-print-directory system-packages SYSTEM_PACKAGES="$(CONTAINER_PACKAGES)"
	$(BIN)/python -m pytest -m container tests/container

## bench: the full benchmark (several minutes); writes bench/results/latest.{json,md} and a plot
bench: $(VENV)/.dev system-packages
	$(BIN)/python -m bench.run

## soak: a few minutes of mixed traffic, 10% upstream faults; writes bench/results/soak.{json,md}
soak: $(VENV)/.dev system-packages
	$(BIN)/python -m bench.soak

## audit: look up every pinned requirement in PyPI's vulnerability records (needs that API)
audit: $(VENV)/.dev
	$(BIN)/python .ci/audit.py requirements.txt requirements-dev.txt

## docs: write docs/settings.md's table of settings from config.py's declaration
docs: $(VENV)/.runtime
	$(BIN)/python -m docs.settings_table

## lint: ruff's checks and formatting, and mypy over the product
lint: $(VENV)/.dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

$(VENV)/.runtime: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

$(VENV)/.dev: $(VENV)/.runtime requirements-dev.txt
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

$(NODE_DEPS): tests/node/package.json tests/node/package-lock.json
	cd tests/node && npm ci --no-audit --no-fund --loglevel=error

$(INTEROP)/%/.installed: tests/interop/requirements/%.txt
	rm -rf $(@D)
	$(PYTHON) -m venv $(@D)
	$(@D)/bin/pip install --quiet --disable-pip-version-check -r $<
	touch $@

$(CONTAINER)/venv/.installed: tests/container/requirements.txt
	rm -rf $(@D)
	$(PYTHON) -m venv $(@D)
	$(@D)/bin/pip install --quiet --disable-pip-version-check -r $<
	touch $@

# Open WebUI's declared dependencies include local models (torch and more, gigabytes): its
# file pins the slim set instead, installed as it is.
$(INTEROP)/open-webui/.installed: tests/interop/requirements/open-webui.txt
	rm -rf $(@D)
	$(PYTHON) -m venv $(@D)
	$(@D)/bin/pip install --quiet --disable-pip-version-check --no-deps -r $<
	touch $@

$(INTEROP_NODE_DEPS): tests/interop/node/package.json tests/interop/node/package-lock.json
	cd tests/interop/node && npm ci --no-audit --no-fund --loglevel=error

$(INTEROP_SILLYTAVERN): tests/interop/sillytavern/package.json tests/interop/sillytavern/package-lock.json
	cd tests/interop/sillytavern && npm ci --no-audit --no-fund --loglevel=error

system-packages:
	@for package in $(SYSTEM_PACKAGES); do \
	  dpkg -s $$package >/dev/null 2>&1 || missing="$$missing $$package"; \
	done; \
	if [ -n "$$missing" ]; then \
	  $(SUDO) apt-get update -q && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing; \
	fi

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache tests/node/node_modules
