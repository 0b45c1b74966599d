# Community Alerts: every command a newcomer needs. `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 5000
# Where the links in texts and e-mails point: the web app on this port, unless given
# (`make web PORT=5710` and `make worker PORT=5710` agree on it).
PUBLIC_BASE_URL ?= http://127.0.0.1:$(PORT)
export PUBLIC_BASE_URL

# Local development services, used unless you give your own URLs (exported, or on
# make's command line). These are
# development credentials for a database on loopback; production gets its URLs
# from the environment and refuses to start without them (app/config.py).
DATABASE_URL_GIVEN := $(if $(filter environment% command%,$(origin DATABASE_URL)),1,0)
REDIS_URL_GIVEN := $(if $(filter environment% command%,$(origin REDIS_URL)),1,0)
DATABASE_URL ?= postgresql+psycopg://community_alerts:community_alerts@127.0.0.1:5432/community_alerts
REDIS_URL ?= redis://127.0.0.1:6379/0
# Tests get their own database and Redis database: they empty both.
TEST_DATABASE_URL ?= $(if $(filter 1,$(DATABASE_URL_GIVEN)),$(DATABASE_URL),postgresql+psycopg://community_alerts:community_alerts@127.0.0.1:5432/community_alerts_test)
TEST_REDIS_URL ?= $(if $(filter 1,$(REDIS_URL_GIVEN)),$(REDIS_URL),redis://127.0.0.1:6379/1)
# Test processes (pytest-xdist), each with its own database and Redis database
# (tests/conftest.py). One when DATABASE_URL is yours: no databases are made on it.
TEST_WORKERS ?= $(if $(filter 1,$(DATABASE_URL_GIVEN)),0,2)
# The backup's restore test restores the test database into this one (emptied first).
TEST_RESTORE_DATABASE_URL ?= $(if $(filter 1,$(DATABASE_URL_GIVEN)),,postgresql://community_alerts:community_alerts@127.0.0.1:5432/community_alerts_restore_check)
# The audit log's hardening (scripts/harden_audit.sql) is run by a superuser: on the
# PostgreSQL make test runs itself, through scripts/services.sh.
TEST_SUPERUSER_PSQL ?= $(if $(filter 1,$(DATABASE_URL_GIVEN)),,scripts/services.sh psql)
# The migration test upgrades and downgrades the ledger over rows in this one.
TEST_MIGRATION_DATABASE_URL ?= $(if $(filter 1,$(DATABASE_URL_GIVEN)),,postgresql+psycopg://community_alerts:community_alerts@127.0.0.1:5432/community_alerts_migration_check)
# `make` is the development harness: development settings unless you say otherwise,
# and a secret key kept on this machine only (.run/ is git-ignored).
APP_ENV ?= development
ifndef SECRET_KEY
SECRET_KEY := $(shell mkdir -p .run && { test -s .run/secret_key || (umask 077 && $(PYTHON) -c 'import secrets; print(secrets.token_urlsafe(48))' > .run/secret_key); } && chmod 600 .run/secret_key && cat .run/secret_key)
endif
# Services this make started are recorded under this id, so Ctrl-C on `make run`
# stops those and nothing that another run or someone else started.
CA_RUN_ID ?= $(shell date +%s%N)
export APP_ENV SECRET_KEY CA_RUN_ID
export DATABASE_URL REDIS_URL TEST_DATABASE_URL TEST_REDIS_URL DATABASE_URL_GIVEN REDIS_URL_GIVEN
export TEST_RESTORE_DATABASE_URL TEST_MIGRATION_DATABASE_URL TEST_SUPERUSER_PSQL TEST_WORKERS
export FLASK_APP := app:create_app
export PYTHONDONTWRITEBYTECODE := 1

# `make audit` asks PyPI's and npm's advisory services: it needs the network, and it
# fails (never passes quietly) when a package cannot be checked.
.PHONY: audit help run test lint format check setup translations services stop-services db demo-data worker sweeper web bench browser assets clean

help: ## List every target with one line each
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36mmake %-13s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

run: setup services db demo-data ## Set everything up, then run the web app and a worker with demo data (Ctrl-C stops)
	@scripts/run.sh

test: setup services browser ## Set everything up, then lint and run every test, browser tests included
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/pytest -n $(TEST_WORKERS) --dist loadgroup $(PYTEST_ARGS)

lint: setup ## ruff lint and format check only
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: setup ## Reformat the code with ruff and apply safe lint fixes
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# The Welsh (and any other) message catalogues, compiled from their .po (not committed).
CATALOGUES := $(patsubst %.po,%.mo,$(wildcard app/translations/*/LC_MESSAGES/*.po))
setup: $(VENV)/.installed static/vendor/.installed $(CATALOGUES) ## Python virtualenv with pinned packages, front-end assets, compiled translations

app/translations/%.mo: app/translations/%.po $(VENV)/.installed
	$(BIN)/pybabel compile -i $< -o $@

translations: setup ## Extract the marked words into messages.pot and update each language's .po
	$(BIN)/pybabel extract -F babel.cfg -k lazy_gettext -k _l --add-location=file --sort-by-file -o app/translations/messages.pot .
	$(BIN)/pybabel update -i app/translations/messages.pot -d app/translations --no-fuzzy-matching

$(VENV)/.installed: pyproject.toml constraints.txt
	@test -x $(BIN)/pip || $(PYTHON) -m venv --clear $(VENV) || { \
	  echo "Installing python3-venv"; scripts/services.sh apt python3-venv && $(PYTHON) -m venv --clear $(VENV); }
	$(BIN)/pip install -q --disable-pip-version-check -c constraints.txt -e '.[dev]'
	@touch $@

assets: static/vendor/.installed ## Install Leaflet, Leaflet-Geoman, protomaps-leaflet, uPlot and axe-core from npm into static/vendor/

static/vendor/.installed: package.json package-lock.json
	@command -v npm >/dev/null || scripts/services.sh apt nodejs npm
	npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	rm -rf static/vendor && mkdir -p static/vendor
	cp -r node_modules/leaflet/dist static/vendor/leaflet
	cp -r node_modules/@geoman-io/leaflet-geoman-free/dist static/vendor/leaflet-geoman
	mkdir -p static/vendor/axe-core && cp node_modules/axe-core/axe.min.js static/vendor/axe-core/
	mkdir -p static/vendor/protomaps-leaflet && cp node_modules/protomaps-leaflet/dist/protomaps-leaflet.js \
	  node_modules/protomaps-leaflet/dist/protomaps-leaflet.js.map node_modules/protomaps-leaflet/LICENSE \
	  static/vendor/protomaps-leaflet/
	mkdir -p static/vendor/uplot && cp node_modules/uplot/dist/uPlot.iife.min.js node_modules/uplot/dist/uPlot.min.css \
	  node_modules/uplot/LICENSE static/vendor/uplot/
	@touch $@

services: ## Install (if missing) and start PostgreSQL + PostGIS and Redis, unless DATABASE_URL / REDIS_URL are given
	@scripts/services.sh up

stop-services: ## Stop the PostgreSQL and Redis that `make run` / `make test` started
	@scripts/services.sh down-all

browser: setup ## Install Chromium for the browser tests: Debian's package, else Playwright's own
	@command -v chromium >/dev/null || scripts/services.sh apt chromium || \
	  $(BIN)/playwright install --with-deps chromium

db: setup services ## Run the migrations, load the shipped postcodes and boundaries, build the base map (skips what is done)
	$(BIN)/flask db upgrade
	$(BIN)/flask geo load-shipped
	$(BIN)/flask geo load-population
	@# The base map is optional: without it the maps show outlines, so a failure here says so and goes on.
	$(BIN)/flask geo build-basemap || echo "No base map built (see above): the maps will show outlines only."

demo-data: db ## Seed demo accounts and a few thousand synthetic residents (once)
	$(BIN)/flask demo seed

web: ## Run only the web app (expects `make db`)
	$(BIN)/gunicorn -c python:app.gunicorn_conf --bind 127.0.0.1:$(PORT) --workers 2 --threads 4 'app:create_app()'

worker: ## Run only the RQ workers: one for alerts only, one for alerts and imports (expects `make db`)
	$(BIN)/flask worker --alerts-only & $(BIN)/flask worker

sweeper: ## Run only the sweeper that re-queues work left behind (expects `make db`)
	$(BIN)/flask sweeper

audit: setup ## Check the pinned Python packages and the front-end assets for known vulnerabilities
	$(BIN)/pip-audit --strict --no-deps --disable-pip --progress-spinner off -r constraints.txt
	npm audit --audit-level=low

bench: setup services ## Run the benchmarks under bench/ and print their figures
	$(BIN)/python -m bench

clean: ## Remove the virtualenv, installed assets and caches (not your databases)
	rm -rf $(VENV) node_modules static/vendor .pytest_cache .ruff_cache test-artifacts
