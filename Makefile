# `make run`: the demo on the embedded default (SQLite, in-process tasks).
# `make test`: the whole suite, on SQLite and (when reachable, always in CI) on PostgreSQL.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
FLASK := $(BIN)/flask --app wsgi
# Where `make run` serves (make run PORT=5101 HOST=0.0.0.0); BASE_URL follows unless set.
HOST ?= 127.0.0.1
PORT ?= 5000
# axe-core, for the accessibility checks of the browser tests (test-only, never served)
NPM_STAMP := tests/browser/node_modules/.installed
TEST_DATABASE_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/test
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: run test test-moved-clock install lint migration bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

$(NPM_STAMP): tests/browser/package-lock.json
	@if command -v npm >/dev/null; then \
	  npm ci --silent --no-audit --no-fund --prefix tests/browser && touch $(NPM_STAMP); \
	  else echo "npm not found: browser accessibility checks will be skipped"; fi

install: $(STAMP)

# Every step sees where the app will run: the demo prints, and emails link to, that address.
run: export FLASK_RUN_HOST := $(HOST)
run: export FLASK_RUN_PORT := $(PORT)
run: $(STAMP)
	$(FLASK) workflows check
	$(FLASK) db upgrade
	$(FLASK) demo
	$(FLASK) run --host $(HOST) --port $(PORT)

test: $(STAMP) $(NPM_STAMP)
	$(BIN)/python tests/run.py

# The non-browser suite on SQLite at 23:50 JST on the eve of a public holiday a year ahead
# (needs Debian's faketime): no test may depend on the day it runs.
test-moved-clock: $(STAMP)
	$(BIN)/python tests/run.py --moved-clock

lint: $(STAMP)
	$(BIN)/ruff check engine web tests bench wsgi.py
	$(BIN)/mypy

# Regenerate the initial migration from the models (before the first release only).
migration: $(STAMP)
	rm -f migrations/versions/*.py instance/migration.db
	DATABASE_URL=sqlite:///$(CURDIR)/instance/migration.db $(FLASK) db migrate -m "initial schema" --rev-id 0001
	rm -f instance/migration.db

# Each prints its figures beside a bare Flask + SQLAlchemy (or smtplib) baseline in the same run.
bench: $(STAMP)
	$(BIN)/python bench/booking.py
	$(BIN)/python bench/email.py
	$(BIN)/python bench/forms.py
	$(BIN)/python bench/checkin.py
	$(BIN)/python bench/inbox.py

clean:
	rm -rf $(VENV) instance test-artifacts
