# cs-pulse: the two set-up commands of the README, and their parts.
#   make run   - install, start a local Kafka, create topics, run a worker, a demo feed and a local Prometheus
#   make test  - install, check format, lint, types and import contracts, start a local Kafka,
#                run the whole suite, stop what it started
#   make lint  - those checks alone; make format - rewrite the tree as the checks want it
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
KAFKA_PORT ?= 9092
TEST_KAFKA_PORT ?= 19092
PARTITIONS ?= 4
PROMETHEUS_PORT ?= 9090

.PHONY: install run test lint format kafka-up kafka-down clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml constraints.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "cs-pulse needs Python 3.11 or newer: run make with PYTHON=python3.11")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet --constraint constraints.txt --editable '.[test,lint]'
	@touch $@

run: install
	-sh ops/install-prometheus.sh
	KAFKA_PORT=$(KAFKA_PORT) PARTITIONS=$(PARTITIONS) PROMETHEUS_PORT=$(PROMETHEUS_PORT) BIN=$(BIN) bash scripts/run-demo.sh

# The code the checks cover; grafana/ and ops/ hold generated or data files.
CODE := streams tests bench tools

lint: install
	$(BIN)/ruff format --check $(CODE)
	$(BIN)/ruff check $(CODE)
	$(BIN)/mypy --strict streams/engine streams/contract streams/ingest streams/kafka streams/connectors streams/reports streams/generator
	$(BIN)/mypy --strict streams/worker streams/cli
	$(BIN)/lint-imports

format: install
	$(BIN)/ruff format $(CODE)
	$(BIN)/ruff check --fix $(CODE)
	$(BIN)/ruff format $(CODE)

test: install lint
	bash ops/install-prometheus.sh
	bash ops/install-chromium.sh
	$(BIN)/pulse dev kafka up --port $(TEST_KAFKA_PORT)
	PULSE_TEST_KAFKA_PORT=$(TEST_KAFKA_PORT) $(BIN)/pytest; status=$$?; \
	$(BIN)/pulse dev kafka down --port $(TEST_KAFKA_PORT); exit $$status

kafka-up: install
	$(BIN)/pulse dev kafka up --port $(KAFKA_PORT)

kafka-down:
	$(BIN)/pulse dev kafka down --port $(KAFKA_PORT)

clean:
	rm -rf $(VENV) .cache .pytest_cache .hypothesis
