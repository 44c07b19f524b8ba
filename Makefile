# mlbus: `make demo` runs the whole loop on a local broker (Apache Kafka where Java 17+ runs,
# else tansu); `make test` runs every test.
PYTHON ?= python3
UV := $(PYTHON) -m uv
VENV := .venv
BIN := $(VENV)/bin
PYTEST := $(BIN)/pytest -p no:cacheprovider

.PHONY: setup install-system demo up test check lint typecheck test-fast test-kafka test-faults
.PHONY: test-chart test-cluster test-containers audit bench bench-env format

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

# The system packages the tests need come first (see install-system).
test: install-system check audit test-chart test-fast test-kafka test-faults test-cluster test-containers

# What the tests need beyond Python packages, installed only when missing, each one named as it
# is installed: promtool and Prometheus, PostgreSQL, Chromium, Java 17 and Maven (apt-get, with
# sudo when not root), then the Apache Kafka jars from Maven Central into ~/.cache/mlbus, and
# helm from the Go module proxy into ~/.cache/mlbus/bin.
install-system: setup
	bash scripts/install-ci-deps.sh

check: lint typecheck

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: setup
	$(BIN)/mypy

# Unit and service tests, and on the embedded tansu broker the end-to-end tests of what brokers
# do differently (marked both_brokers); test-kafka runs every end-to-end test on Apache Kafka.
test-fast: setup
	$(PYTEST) tests --ignore=tests/faults --ignore=tests/containers --ignore=tests/cluster \
		--ignore=tests/chart -m "not e2e or both_brokers"

# The Helm chart (deploy/helm/mlbus): helm lint and template for several value sets, every
# object checked against the Kubernetes schemas and each Deployment's env against its Settings.
test-chart: setup
	$(PYTEST) tests/chart

# The end-to-end suite again, on Apache Kafka (jars from Maven Central, the machine's Java).
test-kafka: setup
	$(PYTEST) tests/e2e --broker kafka

# Kill -9, broker restarts, poison and back-pressure on Apache Kafka with a persistent log.
test-faults: setup
	$(PYTEST) tests/faults

# Three Apache Kafka brokers (KRaft, RF 3, min.insync.replicas=2), the stack producing with
# acks=all and idempotence under a steady stream: kill -9 of the busiest leader, then a rolling
# restart of all three; prints the accounting, the rate reached and each outage's stall.
test-cluster: setup
	$(PYTEST) -s tests/cluster

# compose.yaml on a Docker engine: the five images from the Dockerfile on a Debian base made
# here, Kafka/PostgreSQL/Prometheus stand-ins from the same software, the loop through the
# stack's 127.0.0.1 ports, then `compose down -v`; prints build and run times.
# scripts/docker-engine.sh installs (apt) and starts an engine when none answers; where none
# can be had the tier is skipped, except in CI, where it must run.
test-containers: setup
	@if bash scripts/docker-engine.sh >/dev/null; then \
		$(PYTEST) tests/containers; \
	elif [ -n "$$CI" ]; then \
		echo "test-containers: no Docker engine in CI" >&2; exit 1; \
	else \
		echo "test-containers: skipped, no Docker engine could be started"; \
	fi

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

# Every bench script (quick sizes; BENCH_ARGS="--full" for the issues' sizes), each printing its
# own table, then one Markdown report with a PNG chart per bench in var/bench (docs/ keeps an
# example). bench-env: the Quix Streams contender's own venv (quixstreams pins older pydantic
# and confluent-kafka than the project locks).
bench: setup bench-env
	$(BIN)/python -m bench.report $(BENCH_ARGS)

bench-env: .venv-quix/.synced

.venv-quix/.synced: bench/quix-requirements.txt
	$(UV) venv --allow-existing --python $(BIN)/python .venv-quix
	$(UV) pip sync --python .venv-quix/bin/python bench/quix-requirements.txt
	@touch $@
