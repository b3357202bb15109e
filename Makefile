# ATUM DESK — the two commands of the README are `make run` and `make test`.
# Everything works as root and as an ordinary user: PostgreSQL itself always runs unprivileged
# (see atumdesk/instance.py).

SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
ATUM := $(BIN)/atumdesk
DEMO_TICKETS ?= 2000
DATA_DIR := $(or $(ATUM_DATA_DIR),$(CURDIR)/var)
PGHOST_EMBEDDED := $(DATA_DIR)/pg/run
LOCK_HASH := $(shell cat requirements.lock pyproject.toml | sha1sum | cut -c1-12)
STAMP := $(VENV)/.installed-$(LOCK_HASH)
# The web app's build (web/dist, served by `atumdesk serve`), redone when its sources change.
WEB_STAMP := web/dist/.built
WEB_SOURCES := web/package.json web/package-lock.json web/index.html web/vite.config.ts web/tsconfig.json \
	$(shell find web/src -type f 2>/dev/null)

.PHONY: run stop test lint bench psql pgcli install system-packages web clean help

help:
	@echo "make run    — install what is missing, start the embedded instance with demo data on http://127.0.0.1:8080"
	@echo "make test   — install what is missing and run every test"
	@echo "make stop   — stop what make run started"
	@echo "make psql / make pgcli — a SQL shell on the embedded instance (as atum_owner)"
	@echo "make web    — build the web app into web/dist (make run and make test do it when needed)"
	@echo "make bench  — benchmarks; figures go to bench-results.json"

run: install web
	$(ATUM) run --demo-tickets $(DEMO_TICKETS)

stop: install
	$(ATUM) stop

# The mail tests run a real IMAP server (Dovecot) on loopback; the browser tests drive Debian's
# Chromium (tests/e2e/browser), which must be there: without it they fail rather than skip. The
# operations tests (tests/ops) run Debian's nginx unprivileged on loopback ports with a certificate
# made by openssl, and check the systemd units with systemd-analyze (no running systemd needed);
# ATUM_REQUIRE_OPS_TOOLS makes them fail rather than skip when one of those is missing.
test: export ATUM_EXTRA_PACKAGES := dovecot-imapd chromium nginx openssl systemd
test: export ATUM_REQUIRE_BROWSER := 1
test: export ATUM_REQUIRE_OPS_TOOLS := 1
test: install lint web
	$(BIN)/pytest

lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy

bench: install web
	@ATUM_EXTRA_PACKAGES="wrk dovecot-imapd chromium" deploy/dev/install-system-packages $(PYTHON)
	$(BIN)/python -m tests.bench.run

psql: install
	@$(ATUM) instance start >/dev/null
	psql -h $(PGHOST_EMBEDDED) -U atum_owner atumdesk

pgcli: install
	@$(ATUM) instance start >/dev/null
	$(BIN)/pgcli -h $(PGHOST_EMBEDDED) -U atum_owner atumdesk

install: system-packages $(STAMP)

system-packages:
	@deploy/dev/install-system-packages $(PYTHON)

# The virtualenv, re-synced whenever the lock or pyproject changes.
$(STAMP): requirements.lock pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --disable-pip-version-check -q -r requirements.lock
	$(BIN)/pip install --disable-pip-version-check -q --no-deps --no-build-isolation -e .
	@rm -f $(VENV)/.installed-*
	@touch $@

web: system-packages $(WEB_STAMP)

$(WEB_STAMP): $(WEB_SOURCES)
	cd web && npm ci --no-audit --no-fund && npm run build
	@touch $@

clean: stop
	rm -rf "$$(readlink -f $(DATA_DIR)/pg)" $(DATA_DIR)
