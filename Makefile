# The two commands a user needs: `make run` and `make test`. Both build .venv first.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
CHECKOV_VENV  := .venv-checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed
STAGE  ?= dev

.PHONY: run test checkov lint lock fuzz load bench bench-invoices bench-cpu capacity policies package deploy clean postgres-binaries chromium

# The deployed packages first, exactly as locked and hash-checked (what the zip holds), then the tools.
$(STAMP): requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --disable-pip-version-check -q --require-hashes -r requirements.txt
	$(BIN)/pip install --disable-pip-version-check -q -r requirements-dev.txt
	touch $(STAMP)

run: $(STAMP) $(if $(filter postgres,$(PRODUCT_STORE)),postgres-binaries)  ## the whole system on this machine: emulator, API, event delivery
	$(BIN)/python -m local_runtime

bench: $(STAMP)  ## log pipeline benchmark against the emulator (minutes): metered cost, checks, ceilings; figures in build/bench
	$(BIN)/python -m benchmarks.log_pipeline $(BENCH_ARGS)

bench-invoices: $(STAMP)  ## invoice pipeline benchmark against the emulator (minutes)
	$(BIN)/python -m benchmarks.invoice_pipeline $(BENCH_ARGS)

bench-cpu: $(STAMP)  ## each handler's own CPU per line/row/request against a zero-latency AWS stub (minutes); build/bench/cpu.json
	$(BIN)/python -m benchmarks.cpu $(BENCH_ARGS)

capacity: $(STAMP)  ## capacity model on AWS (analytic + simulation) from build/bench/cpu.json, else benchmarks/measurements/cpu.json
	$(BIN)/python -m benchmarks.capacity $(CAPACITY_ARGS)

test: $(STAMP) $(CHECKOV_STAMP) postgres-binaries chromium  ## every test
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# checkov pins its own boto3 (and more), which the app's venv cannot take: it gets a venv of its own, which
# tests/integration/test_cfn_checkov.py runs on the packaged dev and prod templates.
$(CHECKOV_STAMP): requirements-checkov.txt
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install --disable-pip-version-check -q -r requirements-checkov.txt
	touch $(CHECKOV_STAMP)

checkov: $(STAMP) $(CHECKOV_STAMP)  ## checkov on the packaged template of STAGE, less infra/checkov-skips.yaml
	$(BIN)/python -m infra.checkov_scan --stage $(STAGE)

lint: $(STAMP)  ## ruff and mypy on app.py, chalicelib/ and infra/ (settings in pyproject.toml)
	$(BIN)/ruff check app.py chalicelib infra
	$(BIN)/mypy

# requirements.in -> requirements.txt: every transitive dependency pinned and hashed, resolved for Lambda's
# Python 3.11 on manylinux x86_64. Pins already in requirements.txt are kept; LOCK_ARGS=--upgrade moves them.
lock: $(STAMP)  ## rewrite requirements.txt from requirements.in
	$(BIN)/uv pip compile requirements.in --generate-hashes --python-version 3.11 \
	  --python-platform x86_64-manylinux2014 --custom-compile-command "make lock" -q -o requirements.txt $(LOCK_ARGS)

# The product store's tests run a real PostgreSQL server: Debian's packages, installed when missing.
postgres-binaries:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { echo "installing PostgreSQL (apt-get)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; }

# The local console's browser test (tests/e2e/test_console.py) drives Debian's Chromium through Playwright,
# which is told where it is: Playwright's own browser download is never used.
chromium:
	@command -v chromium >/dev/null 2>&1 || { echo "installing Chromium (apt-get)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; }

fuzz: $(STAMP)  ## the property-based fuzz tests and Schemathesis on the API contract, with a long budget (CI: short)
	HYPOTHESIS_PROFILE=fuzz $(BIN)/python -m pytest tests/fuzz tests/contract/test_schemathesis.py $(PYTEST_ARGS)

load: $(STAMP)  ## a bounded burst of POST /products against `make run`'s stack, started for the purpose
	$(BIN)/python -m benchmarks.load $(LOAD_ARGS)

policies: $(STAMP)  ## regenerate .chalice/policy-*.json from infra/resources.py
	$(BIN)/python -m infra policies

package: $(STAMP)  ## CloudFormation (SAM) template + zip in build/package
	$(BIN)/python -m infra package --stage $(STAGE) --out build/package

deploy: $(STAMP)  ## package, then deploy the CloudFormation stack async-catalog-$(STAGE) (names suffixed -<account>-<region>)
	$(BIN)/python -m infra deploy --stage $(STAGE)

clean:
	rm -rf $(VENV) $(CHECKOV_VENV) build .pytest_cache .mypy_cache .ruff_cache

# --- Product store (issue 12): `make run PRODUCT_STORE=postgres` also starts a local PostgreSQL
# (build/local/postgres) and points the app at it; empty means the stage's setting (DynamoDB when unset).
PRODUCT_STORE ?=
export PRODUCT_STORE
