# mlbus: `make demo` runs the whole loop on a local broker (Apache Kafka where Java 17+ runs,
# else tansu); `make test` runs every test.
PYTHON ?= python3
UV := $(PYTHON) -m uv
VENV := .venv
BIN := $(VENV)/bin
PYTEST := $(BIN)/pytest -p no:cacheprovider

.PHONY: setup demo up test check lint typecheck test-fast test-kafka test-faults audit bench format

setup: $(VENV)/.synced

# uv comes from PyPI when missing; the lockfile pins everything else.
$(VENV)/.synced: pyproject.toml uv.lock
	@$(UV) --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet uv
	$(UV) sync --frozen --extra local
	@touch $@

demo: setup
	$(BIN)/mlbus demo

up: setup
	$(BIN)/mlbus up

test: check audit test-fast test-kafka test-faults

check: lint typecheck

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: setup
	$(BIN)/mypy

# Unit, service and end-to-end tests; the end-to-end ones on the embedded tansu broker.
test-fast: setup
	$(PYTEST) tests --ignore=tests/faults

# The end-to-end suite again, on Apache Kafka (jars from Maven Central, the machine's Java).
test-kafka: setup
	$(PYTEST) tests/e2e --broker kafka

# Kill -9, broker restarts, poison and back-pressure on Apache Kafka with a persistent log.
test-faults: setup
	$(PYTEST) tests/faults

# Known vulnerabilities in the locked dependencies, from PyPI's project JSON (mlbus/audit.py):
# fails on a vulnerable pin (unless listed with a reason in .audit-ignore) or a failed lookup;
# a pin behind the latest release is a warning, as PyPI only lists the latest's advisories.
audit: setup
	$(UV) export --quiet --frozen --no-hashes --all-extras --no-emit-project \
		-o $(VENV)/audit-requirements.txt
	$(BIN)/python -m mlbus.audit $(VENV)/audit-requirements.txt

format: setup
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: setup
	@for script in bench/*.py; do echo "== $$script"; $(BIN)/python $$script || exit 1; done
