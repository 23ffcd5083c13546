"""Fixtures for running flows under injected faults: the injector on the app's clients, and an event runner."""
import logging
import os
import re
import time
from collections import Counter

import boto3
import pytest

from infra.resources import RESOURCES, Queue
from local_runtime.runner import EventRunner
from tests.faults.injector import FaultInjector, fast_retries

SEED = int(os.environ.get("FAULT_SEED", "20261120"))


def _patched_by_the_emulator() -> list:
    """What local_runtime.emulator.patch_moto() changes, so that it can be put back after each test."""
    import moto.backends
    import moto.sqs.models as sqs_models
    from moto.dynamodb.models import DynamoDBBackend
    return [moto.backends, sqs_models, sqs_models.SQSBackend, sqs_models.Queue, DynamoDBBackend]


@pytest.fixture(autouse=True)
def emulator_fixes():
    """The in-process moto with `make run`'s fixes (local_runtime/emulator.py), for this test only.

    Without them a 5,000-message queue makes every SendMessageBatch scan the
    queue (and every TransactWriteItems copy the table): minutes instead of
    seconds. Queue counts are then cached for half a second, as SQS's own lag.
    """
    from local_runtime.emulator import patch_moto
    saved = [(owner, dict(vars(owner))) for owner in _patched_by_the_emulator()]
    level = logging.getLogger("werkzeug").level
    patch_moto()
    yield
    for owner, before in saved:
        for name, value in before.items():
            if vars(owner).get(name) is not value:
                setattr(owner, name, value)
        for name in set(vars(owner)) - set(before):  # e.g. the "already patched" flags: left, they would
            delattr(owner, name)                      # keep later tests from patching again
    logging.getLogger("werkzeug").setLevel(level)


@pytest.fixture
def faults(aws_resources):
    """A FaultInjector on every client chalicelib.aws hands the app; silent until a test sets `rate` or a rule.

    botocore's backoff is scaled to nothing: what is retried is unchanged, the sleeping is not worth a CI minute.
    """
    injector = FaultInjector(seed=SEED)
    with fast_retries():
        injector.attach_app_clients()
        yield injector
        injector.detach()


class Deliveries:
    """What the runner reported: every delivery's line, and how many records failed (to be redelivered)."""
    LINE = re.compile(r"^(sqs|s3)\s+(\S+) -> (\w+): (\d+) record\(s\), (\d+) ok, (\d+) failed")

    def __init__(self):
        self.lines: list[str] = []

    def __call__(self, line: str) -> None:
        self.lines.append(line)

    def failed(self) -> Counter:
        """Failed records per handler: each is an SQS redelivery or an S3 event retry to come."""
        found: Counter = Counter()
        for line in self.lines:
            match = self.LINE.match(line)
            if match and int(match.group(6)):
                found[match.group(3)] += int(match.group(6))
        return found

    def gave_up(self) -> list[str]:
        return [line for line in self.lines if "GAVE UP" in line]


@pytest.fixture
def deliveries():
    return Deliveries()


@pytest.fixture
def runner(app, aws_resources, faults, deliveries):
    """The local event runner, redelivering at once: every app queue's visibility timeout is 0."""
    sqs = boto3.client("sqs")
    for logical_id, resource in RESOURCES.items():
        if isinstance(resource, Queue):
            sqs.set_queue_attributes(QueueUrl=aws_resources[logical_id], Attributes={"VisibilityTimeout": "0"})
    return EventRunner(app, boto3.session.Session(), wait_seconds=0, s3_retry_delay=0, report=deliveries).setup()


def queue_depth(url: str) -> int:
    attributes = boto3.client("sqs").get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])
    return sum(int(v) for v in attributes["Attributes"].values())


def dead_letters() -> dict[str, int]:
    """Messages in each app queue's DLQ (and in the runner's S3 event DLQs), the empty ones left out."""
    sqs = boto3.client("sqs")
    time.sleep(0.6)  # past the emulator's cache of queue counts
    urls = [u for u in sqs.list_queues().get("QueueUrls", []) if u.endswith("-dlq")]
    return {url.rsplit("/", 1)[-1]: n for url in urls if (n := queue_depth(url))}
