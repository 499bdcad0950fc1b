# xueji — two commands for a new user: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-dev
RUN_STAMP := $(VENV)/.installed-run
DEMO_STUDENTS ?= 20000
HOST ?= 127.0.0.1
PORT ?= 8000
export DJANGO_SETTINGS_MODULE ?= config.settings.dev

.PHONY: demo test install lint typecheck migrations-check pytest pytest-pg serve bench clean

# The demo needs the runtime dependencies only; the tests add the dev tools.
$(RUN_STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e .
	touch $(RUN_STAMP)

$(STAMP): $(RUN_STAMP)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: $(RUN_STAMP)
	$(BIN)/python manage.py migrate --no-input -v 0
	$(BIN)/python manage.py generate_demo --students $(DEMO_STUDENTS) --if-empty
	@echo "xueji 演示系统：http://$(HOST):$(PORT)/  （API 文档：http://$(HOST):$(PORT)/api/docs ；Ctrl+C 退出）"
	$(MAKE) --no-print-directory serve

serve: $(RUN_STAMP)
	@trap 'kill 0' INT TERM EXIT; \
	$(BIN)/python manage.py db_worker --no-reload --no-startup-delay --interval 1 >var/worker.log 2>&1 & \
	$(BIN)/python manage.py runserver $(HOST):$(PORT) --noreload

lint: $(STAMP)
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .

typecheck: $(STAMP)
	$(BIN)/mypy config xueji $(wildcard bench)

migrations-check: $(STAMP)
	DJANGO_SETTINGS_MODULE=config.settings.test $(BIN)/python manage.py makemigrations --check --dry-run

# pytest-xdist: one worker per core, each with its own test database; the browser tests
# share one worker (root conftest.py). PYTEST_WORKERS=0 runs everything in one process.
# pytest-randomly: tests run in a random order; each run prints its seed and
# `make test SEED=N` repeats that order (one seed for both databases of a run).
PYTEST_WORKERS ?= auto
ifeq ($(SEED),)
SEED := $(shell od -An -N4 -tu4 /dev/urandom | tr -d ' ')
endif
export SEED
PYTEST_ARGS := -n $(PYTEST_WORKERS) --dist loadgroup -p randomly --randomly-seed=$(SEED)

pytest: $(STAMP)
	@echo "== SQLite, random order: make test SEED=$(SEED) repeats it"
	DJANGO_SETTINGS_MODULE=config.settings.test $(BIN)/pytest $(PYTEST_ARGS)

pytest-pg: $(STAMP)
	@if [ -n "$$XUEJI_TEST_DATABASE_URL" ]; then \
		echo "== PostgreSQL: $$XUEJI_TEST_DATABASE_URL, random order: make test SEED=$(SEED) repeats it"; \
		DJANGO_SETTINGS_MODULE=config.settings.test $(BIN)/pytest $(PYTEST_ARGS) -m "not e2e"; \
	else echo "== XUEJI_TEST_DATABASE_URL not set: PostgreSQL run skipped"; fi

test: lint typecheck migrations-check
	env -u XUEJI_TEST_DATABASE_URL $(MAKE) --no-print-directory pytest
	$(MAKE) --no-print-directory pytest-pg

bench: $(STAMP)
	$(BIN)/python -m bench.run_all

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
