# TenantChain: `make demo` and `make test` are the two commands; both set up what is missing.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV    := .venv
PY      := $(VENV)/bin/python
# Halmos has its own venv (requirements-halmos.lock): it needs rich<14.1, .venv pins rich 14.3.4.
HALMOS_VENV := .venv-halmos
# The native binary, not node_modules/.bin/forge: that npm shim drops the exit status (a failing test
# or a compiler crash would pass).
FORGE    = $(firstword $(wildcard node_modules/@foundry-rs/forge-*-*/bin/forge))
# Keep ape's and py-solc-x's state inside the repo: the pinned solc lives in .solc/.
export SOLCX_BINARY_PATH := $(CURDIR)/.solc
export APE_DATA_FOLDER   := $(CURDIR)/.ape

.PHONY: help setup demo portal artifacts wheel test test-forge test-halmos test-slither test-ape test-portal test-py bench clean

help:
	@echo "make demo   start a local chain, deploy, run the demo (Ctrl-C stops everything)"
	@echo "make test   set up what is missing, then run every test (forge + halmos + ape compile + pytest)"
	@echo "make setup  only install/start what is missing (idempotent)"
	@echo "make portal rebuild the tenant portal's bundle (orchestrator/web/portal_bundle); serve it: tenantchain portal"
	@echo "make wheel  build the installable package (dist/); make artifacts: rewrite the shipped contract ABIs"
	@echo "make bench  run the benchmarks and update BENCHMARKS.md"
	@echo "make clean  remove build output (not installed tools)"

setup:
	@tools/setup.sh

demo: setup
	@$(VENV)/bin/tenantchain demo

portal:
	node portal/build.mjs

# The built contracts the runtime reads (orchestrator/chain/contracts.json, committed): rewrite them after a
# contract change (tests/test_artifacts.py fails until then).
artifacts:
	$(PY) -m orchestrator.chain.build --write

# The installable package: dist/tenantchain-*.whl, with the portal bundle (rebuilt by setup.py) and the
# built contracts inside; `pip install` it on a host (README: "Install on a host").
wheel:
	$(VENV)/bin/pip wheel --no-deps --no-build-isolation -w dist .

test: setup
	@$(MAKE) --no-print-directory test-forge test-halmos test-slither test-ape test-portal test-py

# `--sizes` fails when a deployed contract crosses EIP-170's 24,576 bytes (tests are skipped: they
# are never deployed on a chain).
test-forge:
	$(FORGE) build --sizes --skip test --skip '*.t.sol'
	$(FORGE) test

# Symbolic proofs (tests/contracts/symbolic, `check_` functions: forge test skips them) with Halmos,
# on forge's build output (.forge/out, compiled by test-forge with the same settings: reused). z3 only
# (the other solvers would be downloaded). Fails on any failed, timed-out or errored check (halmos exits
# non-zero). The bounds of each proof are in docs/trust-design.md ("Symbolic proofs").
HALMOS_FLAGS := --forge-build-out .forge/out --solver z3 --solver-timeout-branching 100ms --solver-timeout-assertion 60s --loop 2
test-halmos:
	PATH="$(CURDIR)/$(dir $(FORGE)):$$PATH" $(HALMOS_VENV)/bin/halmos $(HALMOS_FLAGS) --match-contract 'Symbolic$$'

# Static analysis through forge's build; fails on any medium or high finding (slither.config.json).
test-slither:
	PATH="$(CURDIR)/node_modules/.bin:$$PATH" $(VENV)/bin/slither . --config-file slither.config.json

test-ape:
	$(VENV)/bin/ape compile

# The portal's pure parts (units, spec parsing) under node's own test runner; the page itself is
# tested in Chromium by tests/test_portal.py.
test-portal:
	node --test portal/test/

# pytest exits 5 when it collected no tests: that is a failure here too.
test-py:
	$(PY) -m pytest

# Every benchmark at full size; each rewrites its table in BENCHMARKS.md.
bench: setup
	$(PY) -m bench.gas --batch 10 --write
	$(PY) -m bench.market_sim --write
	$(PY) -m bench.meter --containers 100 --stats-sample 10 --write
	$(PY) -m bench.latency --allocations 50 --write
	$(PY) -m bench.catchup --events 100000 --write
	$(PY) -m bench.foreign --foreign 0,10000,50000 --own 50 --write
	$(PY) -m bench.billing --allocations 200 --periods 10 --write
	$(PY) -m bench.scale --sizes 50,500,950,1000 --per-tenant 2 --write
	$(PY) -m bench.ingress --seconds 5 --rounds 3 --routes 400 --write
	$(PY) -m bench.images --rounds 5 --size-mb 20 --write
	$(PY) -m bench.autoscale --period 30 --rounds 3 --allocations 400 --write
	$(PY) -m bench.soak --duration 3600 --allocations 100 --period 10 --write
	$(PY) -m bench.collect --write

clean:
	rm -rf .forge .build contracts/.cache bench/out orchestrator/web/portal_bundle build dist
