# The two commands a user needs: `make run` and `make test`. Both build .venv first.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
STAGE  ?= dev

.PHONY: run test fuzz load bench bench-invoices policies package deploy clean

$(STAMP): requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --disable-pip-version-check -q -r requirements-dev.txt
	touch $(STAMP)

run: $(STAMP)  ## the whole system on this machine: emulator, API, event delivery
	$(BIN)/python -m local_runtime

bench: $(STAMP)  ## log pipeline benchmark against the emulator (minutes): metered cost, checks, ceilings; figures in build/bench
	$(BIN)/python -m benchmarks.log_pipeline $(BENCH_ARGS)

bench-invoices: $(STAMP)  ## invoice pipeline benchmark against the emulator (minutes)
	$(BIN)/python -m benchmarks.invoice_pipeline $(BENCH_ARGS)

test: $(STAMP)  ## every test
	$(BIN)/python -m pytest $(PYTEST_ARGS)

fuzz: $(STAMP)  ## the property-based fuzz tests with a long budget (CI runs them with a short one)
	HYPOTHESIS_PROFILE=fuzz $(BIN)/python -m pytest tests/fuzz $(PYTEST_ARGS)

load: $(STAMP)  ## a bounded burst of POST /products against `make run`'s stack, started for the purpose
	$(BIN)/python -m benchmarks.load $(LOAD_ARGS)

policies: $(STAMP)  ## regenerate .chalice/policy-*.json from infra/resources.py
	$(BIN)/python -m infra policies

package: $(STAMP)  ## CloudFormation (SAM) template + zip in build/package
	$(BIN)/python -m infra package --stage $(STAGE) --out build/package

deploy: $(STAMP)  ## chalice deploy, then switch on partial batch responses
	$(BIN)/python -m infra deploy --stage $(STAGE)

clean:
	rm -rf $(VENV) build .pytest_cache
