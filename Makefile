# dodo_billing — `make run` starts the product, `make test` runs the test suite.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
NODE_SDK := tests/sdk/node
NODE_SDK_STAMP := $(NODE_SDK)/node_modules/.installed
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test install migrate demo lint format bench-ledger clean

$(PY):
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is needed (set PYTHON=...).")'
	$(PYTHON) -m venv $(VENV)

# Python packages into the virtual environment, front-end packages (package-lock.json) into
# node_modules, from which Django serves them.
$(STAMP): requirements.txt package.json package-lock.json | $(PY)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	npm ci --no-audit --no-fund --loglevel=error
	@touch $(STAMP)

# The official Node SDK for the tests that run the wallet docs' JavaScript examples: a package of its
# own (tests/sdk/node), so the served front-end packages never include it.
$(NODE_SDK_STAMP): $(NODE_SDK)/package.json $(NODE_SDK)/package-lock.json
	npm ci --prefix $(NODE_SDK) --no-audit --no-fund --loglevel=error
	@touch $(NODE_SDK_STAMP)

install: $(STAMP) $(NODE_SDK_STAMP)

migrate: install
	$(PY) manage.py migrate --noinput

demo: migrate
	$(PY) manage.py seed_demo --url http://$(HOST):$(PORT)

# Installs, migrates, loads demo data, then runs the web server and a Celery worker with beat until
# Ctrl-C. With no DATABASE_URL / CELERY_BROKER_URL it needs no servers: SQLite and a folder broker.
run: demo
	@echo "Starting the web server on http://$(HOST):$(PORT)/ and a Celery worker + beat (Ctrl-C stops both)."
	@trap 'kill 0' INT TERM EXIT; \
	$(VENV)/bin/celery -A dodo_billing worker --beat --loglevel=INFO --concurrency=2 & \
	$(PY) manage.py runserver --noreload $(HOST):$(PORT)

test: install
	$(PY) -m pytest

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

bench-ledger: install
	$(PY) benchmarks/ledger.py

clean:
	rm -rf $(VENV) .run staticfiles db.sqlite3 node_modules $(NODE_SDK)/node_modules
