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
# The challenge's real sample inputs, beside the checkout when it has them (tests that read them skip otherwise).
SHARED_SAMPLES = PROJECT_DIR.parent / "shared" / "samples"
sys.path.insert(0, str(PROJECT_DIR))

from infra.resources import USER_POOL  # noqa: E402
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


def _share_botocore_models():
    """One botocore data loader for every session this test process makes.

    Each test's moto account gets new boto3 sessions (provisioning, the app's clients after aws.reset()), and a
    new session re-reads and re-parses the JSON service models from botocore's data directory: about 0.3 s of
    every aws_resources test. The models are read-only files; the Loader caches what it parsed, so sharing it
    changes what is parsed once, not what any client sees. Keyed by the data path, as botocore builds it.
    """
    import functools

    import botocore.session
    if not hasattr(botocore.session.create_loader, "cache_info"):
        botocore.session.create_loader = functools.lru_cache(maxsize=None)(botocore.session.create_loader)


_share_botocore_models()


def _reset_caches():
    from chalicelib import aws, bootstrap
    aws.reset()
    bootstrap.reset()


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
    _share_moto_pool_key()
    with mock_aws():
        _reset_caches()
        created = provision(STAGE, app)
        created.update(_provision_identity())
        yield created
        _reset_caches()
        for name in (USER_POOL.id_env, USER_POOL.client_env):
            os.environ.pop(name, None)


def _share_moto_pool_key():
    """moto's user pools sign with one RSA key from a file of moto's; import it once per process, not per pool.

    Every pool moto creates imports moto's resources/jwks-private.json anew, which recovers the key's primes:
    about 0.1 s of every aws_resources test. Same file, same key, so every token is signed as before.
    """
    import json
    from types import SimpleNamespace

    from moto.cognitoidp import models
    if isinstance(models.jwk, SimpleNamespace):
        return
    imported: dict[str, object] = {}
    import_key = models.jwk.RSAKey.import_key

    def import_once(data, *args, **kwargs):
        if args or kwargs or not isinstance(data, dict):
            return import_key(data, *args, **kwargs)
        text = json.dumps(data, sort_keys=True)
        if text not in imported:
            imported[text] = import_key(data)
        return imported[text]
    models.jwk = SimpleNamespace(RSAKey=SimpleNamespace(import_key=import_once))


def _provision_identity() -> dict[str, str]:
    """The stage's user pool in moto with the demo users; the app's settings point at it."""
    import boto3
    import requests

    from chalicelib import identity
    from infra.provision import provision_user_pool
    from local_runtime.identity import create_demo_users
    ids = provision_user_pool(STAGE)
    os.environ.update(ids)
    users = create_demo_users(boto3.client("cognito-idp"), ids[USER_POOL.id_env])
    # In process, moto answers the pool's JWKS URL only to `requests` (which it patches), not to the urllib the
    # authorizer uses on AWS and against `make run`'s emulator: only the transport of the key fetch differs.
    identity.fetch_keys = lambda url: requests.get(url, timeout=5).json()
    return {**ids, **{f"user:{name}": sub for name, sub in users.items()}}


def event_runner(app, **options):
    """The app's event runner (local_runtime/runner.py) on the in-process moto account: no waiting between
    polls, no output, S3 events retried at once; `options` for the few tests that need others."""
    import boto3

    from local_runtime.runner import EventRunner
    return EventRunner(app, boto3.session.Session(), wait_seconds=0, report=lambda line: None, s3_retry_delay=0,
                       **options).setup()


@pytest.fixture
def runner(app, aws_resources):
    return event_runner(app)


@pytest.fixture
def inbox(aws_resources):
    """An SQS queue subscribed to the order notifications topic: what a subscriber receives (the SNS envelope)."""
    import boto3
    sqs = boto3.client("sqs")
    url = sqs.create_queue(QueueName="order-notifications-inbox")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    boto3.client("sns").subscribe(TopicArn=aws_resources["OrderNotificationsTopic"], Protocol="sqs", Endpoint=arn)
    return url


@pytest.fixture
def tokens(aws_resources):
    """ID tokens of every kind of caller (tests/auth.py's CALLERS), issued by the moto pool."""
    import boto3

    from tests.auth import issue_tokens
    users = {k.split(":", 1)[1]: v for k, v in aws_resources.items() if k.startswith("user:")}
    return issue_tokens(boto3.client("cognito-idp"), aws_resources[USER_POOL.id_env],
                        aws_resources[USER_POOL.client_env], users)


@pytest.fixture
def client(app, aws_resources):
    """Chalice's test client through the local gateway, the authorizer included; its `http` sends the demo
    operator's ID token unless a request brings its own Authorization (`anonymous_http` sends none)."""
    from chalice.test import Client
    with Client(app, stage_name="dev", project_dir=str(PROJECT_DIR)) as test_client:
        yield as_operator(test_client, aws_resources)


def as_operator(test_client, aws_resources):
    """A Chalice test client whose gateway answers refusals as API Gateway does and whose `http` sends the
    demo operator's ID token (tests/auth.py); `anonymous_http` sends none."""
    import boto3

    from local_runtime.gateway import emulate_gateway_responses
    from local_runtime.identity import log_in
    from tests.auth import AuthenticatedHTTP
    emulate_gateway_responses()
    operator = log_in(boto3.client("cognito-idp"), aws_resources[USER_POOL.client_env], "operator")["IdToken"]
    test_client.anonymous_http = test_client.http
    test_client._http_client = AuthenticatedHTTP(test_client.http, operator)
    return test_client


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
