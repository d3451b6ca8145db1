# finchain — the two commands that matter: `make demo` and `make test`.
SHELL := /bin/bash
UV ?= uv
export UV_PYTHON_PREFERENCE := only-system
export UV_PYTHON_DOWNLOADS := never
DEMO_ARGS ?=
PYTEST_WORKERS ?= 2

.PHONY: bootstrap services demo demo-clean test test-all lint typecheck format bench bench-fate clean

bootstrap:
	@bash scripts/bootstrap.sh

services:
	@bash scripts/services.sh

## make demo: run the main job (bootstraps everything first)
demo: bootstrap
	@bash scripts/console-setup.sh
	$(UV) run finchain demo run $(DEMO_ARGS)

demo-clean:
	rm -rf .finchain/demo

lint: bootstrap
	$(UV) run ruff check src tests benchmarks
	$(UV) run ruff format --check src tests benchmarks

typecheck: bootstrap
	$(UV) run mypy

format: bootstrap
	$(UV) run ruff format src tests benchmarks
	$(UV) run ruff check --fix src tests benchmarks

## make test: lint, types and the fast test suite (CI runs this)
test: lint typecheck
	@bash scripts/services.sh nats mosquitto redis chromium
	$(UV) run pytest -q -m "not slow" -n $(PYTEST_WORKERS) --dist loadgroup

## make test-all: every suite, the slow ones included
test-all: lint typecheck
	@bash scripts/services.sh
	$(UV) run pytest -q -n $(PYTEST_WORKERS) --dist loadgroup

## make bench: every benchmark; figures into .bench/*.json
bench: bootstrap
	@bash benchmarks/run_all.sh

## make bench-fate: the isolated FATE 2.2 env for `finchain bench fl --vs-fate` (.benchenv/fate)
bench-fate:
	@bash scripts/bench-env-fate.sh

clean:
	rm -rf .bench .mypy_cache .pytest_cache .ruff_cache
