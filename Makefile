# Two commands: `make run` and `make test`. Everything else is a helper of those.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt

.PHONY: run test lint format test-sqlite test-postgres soak bench install install-dev system-deps clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml constraints.txt | $(BIN)/python
	$(PIP) -e .
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed
	$(PIP) -e '.[dev]'
	touch $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

run: install
	$(BIN)/vibeforge serve

system-deps:
	bash scripts/system-deps.sh

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install-dev
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# Redis is started for every run: the scale-out tests (tests/scale) need it and fail without it.
test-sqlite: install-dev system-deps
	bash scripts/with-redis.sh $(BIN)/pytest

# The database-backed tests again, against a real PostgreSQL server started for this run.
test-postgres: install-dev system-deps
	bash scripts/with-postgres.sh bash scripts/with-redis.sh $(BIN)/pytest -m db

# Both legs at once (scripts/test-legs.sh); `make test-sqlite` or `make test-postgres` runs one.
test: lint install-dev system-deps
	bash scripts/test-legs.sh

# The reliability suite at length: many more fuzz examples, socket frames and kill -9 cycles.
soak: install-dev system-deps
	VIBEFORGE_SOAK=1 $(BIN)/pytest -s tests/reliability

bench: install-dev system-deps
	@for script in bench/*.py; do echo "# $$script"; $(BIN)/python $$script || exit 1; done

clean:
	rm -rf $(VENV) build src/*.egg-info
