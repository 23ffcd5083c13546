"""Shared fixtures: the dev stage's environment, moto, the Chalice test client."""
import os
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

# CI runs every property on a short budget; `make fuzz` runs the same ones far longer.
settings.register_profile("ci", max_examples=40, deadline=None,
                          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
settings.register_profile("fuzz", max_examples=2000, deadline=None,
                          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

PROJECT_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_DIR))

from infra.stage import Stage  # noqa: E402

STAGE = Stage.load("dev")
# app.py reads queue names at import, as it does under `chalice deploy`.
os.environ.update(STAGE.environment)
os.environ.update({
    "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing", "AWS_DEFAULT_REGION": "us-east-1",
    "POWERTOOLS_LOG_LEVEL": "WARNING",
})
os.environ.pop("AWS_ENDPOINT_URL", None)
os.environ.pop("AWS_PROFILE", None)


def _reset_caches():
    from chalicelib import aws
    from chalicelib.catalog.service import catalog
    from chalicelib.invoices import service as invoices
    from chalicelib.logbatch import service as logbatch
    from chalicelib.orders import service as orders
    aws.reset()
    catalog.cache_clear()
    logbatch.reset()
    invoices.reset()
    orders.reset()


@pytest.fixture
def stage():
    return STAGE


@pytest.fixture
def app():
    return STAGE.load_app()


@pytest.fixture
def aws_resources(app):
    """An in-process moto account holding every resource of infra/resources.py."""
    from moto import mock_aws

    from infra.provision import provision
    from local_runtime.emulator import lock_dynamodb_writes, lock_sqs_queues
    lock_dynamodb_writes()  # in-process moto too: a conditional write is atomic, as on DynamoDB
    lock_sqs_queues()  # and a send racing a delete is kept, as on SQS
    with mock_aws():
        _reset_caches()
        created = provision(STAGE, app)
        yield created
        _reset_caches()


@pytest.fixture
def client(app, aws_resources):
    from chalice.test import Client
    with Client(app, stage_name="dev", project_dir=str(PROJECT_DIR)) as test_client:
        yield test_client


# --- PostgreSQL product store (issue 12): one server per session, an empty products table per test ---

@pytest.fixture(scope="session")
def postgres_server():
    from tests.postgres import session_server
    yield from session_server()


@pytest.fixture
def postgres_products(postgres_server, monkeypatch):
    """PRODUCT_STORE=postgres for this test (the app's Database, connected to the session's server)."""
    from tests.postgres import use_postgres
    yield from use_postgres(postgres_server, monkeypatch)
# --- end PostgreSQL product store ---
