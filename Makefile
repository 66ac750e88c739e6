# The two commands a new machine needs: `make up` and `make test`.
SHELL := /bin/bash
UV ?= $(shell command -v uv 2>/dev/null || echo .tools/uv/bin/uv)
PY := .venv/bin/python
ROLE ?= admin
SUB ?= admin

.PHONY: help up test test-fast lint fmt openapi token install bench bench-audience bench-pages bench-lottery bench-lottery-commit clean
.DEFAULT_GOAL := help

help:  ## list the targets, one line each
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/^([a-zA-Z_-]+):.*## /\1\t/' \
		| awk -F '\t' '{ printf "  make %-20s %s\n", $$1, $$2 }'

$(UV):  # uv itself, when the machine has none
	python3 -m pip install --quiet --target .tools/uv uv==0.13.9

.venv/.installed: $(UV) uv.lock pyproject.toml */pyproject.toml services/*/pyproject.toml tools/*/pyproject.toml
	$(UV) sync --locked --all-packages --group dev
	@touch $@

install: .venv/.installed  ## the virtualenv, exactly as uv.lock pins it (installs uv if missing)

up: install  ## Redis, identity on 8004, the services on 8001-8003, Flower on 5555; SQLite under var/; restarts what dies
	$(PY) -m devstack.up

test: lint  ## the lint, then every test, slow ones included
	$(PY) -m pytest

test-fast: install  ## the tests not marked slow, without the lint
	$(PY) -m pytest -m "not slow"

lint: install  ## ruff (check and format), the import-linter layer contracts, mypy --strict
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	.venv/bin/lint-imports --no-logo
	$(PY) -m mypy

fmt: install  ## format and autofix with ruff
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .

openapi: install  ## regenerate the committed OpenAPI documents
	$(PY) -m devstack.openapi

token: install  ## make token ROLE=admin | ROLE=student SUB=42: signed with the dev key under var/identity-keys
	@$(PY) -m devstack.token --role $(ROLE) --sub $(SUB)

bench: install  ## the rush benchmark on PostgreSQL (~15 min); SCALE=0.1 for a quick look, PROFILE=1 for py-spy flame graphs
	$(UV) sync --locked --all-packages --group dev --group bench
	$(PY) bench/rush.py --scale $(or $(SCALE),1) $(if $(PROFILE),--profile)
	@rm -f .venv/.installed  # the next make test re-syncs without the bench extras

bench-audience: install  ## 10,000 open outcome streams while every student enrolls: delivery, p99, Redis connections (~7 min); writes docs/audience.json
	$(UV) sync --locked --all-packages --group dev --group bench
	$(PY) bench/audience.py $(if $(STUDENTS),--students $(STUDENTS))
	@rm -f .venv/.installed

bench-pages: install  ## 200 signed-in browsers through the web in the opening minute: catalog p99, answers on the page (~5 min); writes docs/pages.json
	$(UV) sync --locked --all-packages --group dev --group bench
	$(PY) bench/pages.py $(if $(STUDENTS),--students $(STUDENTS))
	@rm -f .venv/.installed

bench-lottery: install  ## the lottery optimiser against the greedy fill: 3,000 students x 3 seeds, 10,000 x 1, each with and without lunch (~15 min); writes docs/lottery*.md
	$(PY) bench/lottery.py
	$(PY) bench/lottery.py --time-limit 3 --out docs/lottery_3s.json
	$(PY) bench/lottery.py --lunch --out docs/lottery_lunch.json
	$(PY) bench/lottery.py --students 10000 --sections 1200 --seeds 1 --time-limit 60 --out docs/lottery_10000.json
	$(PY) bench/lottery.py --lunch --students 10000 --sections 1200 --seeds 1 --time-limit 60 --out docs/lottery_10000_lunch.json

bench-lottery-commit: install  ## a lottery from import to rosters through every real process, durable PostgreSQL (~4 min)
	$(UV) sync --locked --all-packages --group dev --group bench
	$(PY) bench/lottery_commit.py
	@rm -f .venv/.installed

clean:  ## remove var/ (the dev databases) and the tool caches
	rm -rf var .pytest_cache .mypy_cache .import_linter_cache .ruff_cache
