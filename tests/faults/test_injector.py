"""The fault injector itself: it strikes the chosen fraction, botocore retries what it injects as it would a real
fault, a fault before the call leaves no trace, and a lost answer's call really was applied."""
from collections import Counter

import boto3
import pytest
from botocore.exceptions import ClientError, ConnectionClosedError, EndpointConnectionError, ReadTimeoutError

from chalicelib import aws
from tests.faults.injector import (AFTER, CONNECTION_RESET, KINDS, READ_TIMEOUT, SERVER_ERROR, SERVICES, THROTTLE,
                                   FaultInjector, fast_retries)

TABLE, BUCKET = "ProductTable", "async-catalog-reports-dev"


def attempts_per_call() -> int:
    return aws.client("dynamodb").meta.config.retries["total_max_attempts"]


def get_item(key: str = "absent") -> dict:
    return aws.client("dynamodb").get_item(TableName=TABLE, Key={"id": {"S": key}})


def queued(url: str) -> list[str]:
    sqs, bodies = boto3.client("sqs"), []
    while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        bodies += [m["Body"] for m in messages]
        sqs.delete_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                                                        for i, m in enumerate(messages)])
    return bodies


def test_about_the_chosen_fraction_of_attempts_is_struck_and_botocore_retries_every_one(faults):
    faults.rate = 0.1
    responses = [get_item() for _ in range(1500)]
    summary = faults.summary()
    assert summary["attempts"] == 1500 + faults.total()  # each fault cost exactly one more attempt
    assert abs(summary["rate"] - 0.1) < 0.025
    assert sum(r["ResponseMetadata"]["RetryAttempts"] for r in responses) == faults.total()
    assert faults.failed_calls() == [] and faults.retried_calls() == sum(
        r["ResponseMetadata"]["RetryAttempts"] > 0 for r in responses)
    kinds = faults.by_kind()
    assert {k.split()[0] for k in kinds} == set(KINDS)
    assert {k for k in kinds if k.endswith(AFTER)} == {f"{READ_TIMEOUT} {AFTER}", f"{CONNECTION_RESET} {AFTER}"}
    assert faults.by_operation() == Counter({"dynamodb.GetItem": faults.total()})


def test_the_same_seed_strikes_the_same_attempts(aws_resources):
    def run(seed):
        injector = FaultInjector(rate=0.2, seed=seed).attach(aws.client("dynamodb"))
        try:
            return [get_item()["ResponseMetadata"]["RetryAttempts"] for _ in range(200)], injector.injected
        finally:
            injector.detach()
    with fast_retries():
        assert run(7) == run(7)
        assert run(7) != run(8)


CALLS = {
    "dynamodb": lambda: get_item(),
    "sqs": lambda: aws.client("sqs").get_queue_url(QueueName="product-queue"),
    "s3": lambda: aws.client("s3").list_objects_v2(Bucket=BUCKET),
    "sns": lambda: aws.client("sns").list_topics(),
    "sts": lambda: aws.client("sts").get_caller_identity(),
}
RAISED = {THROTTLE: ClientError, SERVER_ERROR: ClientError, READ_TIMEOUT: ReadTimeoutError,
          CONNECTION_RESET: (ConnectionClosedError, EndpointConnectionError)}


def test_every_kind_on_every_service_is_retried_by_botocore_until_it_gives_up(aws_resources):
    with fast_retries():
        for service in SERVICES:
            for kind in KINDS:
                aws.reset()  # a new client each time: a fresh retry quota, as a new container has
                faults = FaultInjector().attach(aws.client(service))
                faults.fail(service, kind=kind, calls=1, attempts=2)
                assert CALLS[service]()["ResponseMetadata"]["RetryAttempts"] == 2  # two faults, then the answer
                faults.exhaust(service, None, kind=kind)
                with pytest.raises(RAISED[kind]) as raised:
                    CALLS[service]()
                if isinstance(raised.value, ClientError):
                    code = raised.value.response["Error"]["Code"]
                    assert code in ("ProvisionedThroughputExceededException", "ThrottlingException", "SlowDown",
                                    "RequestThrottled", "Throttling") if kind == THROTTLE else \
                        code in ("InternalServerError", "InternalError", "InternalFailure", "ServiceUnavailable")
                    assert raised.value.response["ResponseMetadata"]["MaxAttemptsReached"]
                [given_up] = faults.failed_calls()
                assert given_up.attempts == attempts_per_call() == 6, (service, kind)
                assert faults.total() == 2 + 6


def test_a_fault_before_the_call_leaves_no_trace(faults, aws_resources):
    faults.persistent("dynamodb", "PutItem", kind=THROTTLE)
    faults.persistent("sqs", "SendMessage", kind=CONNECTION_RESET)
    faults.persistent("s3", "PutObject", kind=SERVER_ERROR)
    with pytest.raises(ClientError):
        aws.client("dynamodb").put_item(TableName=TABLE, Item={"id": {"S": "p-1"}})
    with pytest.raises((ConnectionClosedError, EndpointConnectionError)):
        aws.client("sqs").send_message(QueueUrl=aws_resources["ProductQueue"], MessageBody="x")
    with pytest.raises(ClientError):
        aws.client("s3").put_object(Bucket=BUCKET, Key="k", Body=b"x")
    assert "Item" not in get_item("p-1")
    assert queued(aws_resources["ProductQueue"]) == []
    assert boto3.client("s3").list_objects_v2(Bucket=BUCKET).get("KeyCount") == 0
    assert faults.total() == 3 * attempts_per_call() and faults.applied_then_lost == Counter()


def test_a_lost_answer_follows_a_write_that_really_was_applied(faults, aws_resources):
    faults.lose_answer("dynamodb", "PutItem")
    # botocore sends the conditional put again: it meets its own write, applied by the first attempt.
    with pytest.raises(aws.client("dynamodb").exceptions.ConditionalCheckFailedException):
        aws.client("dynamodb").put_item(TableName=TABLE, Item={"id": {"S": "p-2"}},
                                        ConditionExpression="attribute_not_exists(id)")
    assert get_item("p-2")["Item"] == {"id": {"S": "p-2"}}
    faults.lose_answer("sqs", "SendMessage", kind=CONNECTION_RESET)
    aws.client("sqs").send_message(QueueUrl=aws_resources["ProductQueue"], MessageBody="once")
    assert queued(aws_resources["ProductQueue"]) == ["once", "once"]  # one call, sent twice
    assert faults.applied_then_lost == Counter({("dynamodb", "PutItem"): 1, ("sqs", "SendMessage"): 1})
    assert faults.by_kind() == Counter({f"{READ_TIMEOUT} {AFTER}": 1, f"{CONNECTION_RESET} {AFTER}": 1})


def test_rules_match_on_parameters_strike_their_number_of_calls_and_can_be_lifted(faults, aws_resources):
    other = "OrdersTable"
    outage = faults.persistent("dynamodb", "GetItem", where=lambda params: params["TableName"] == other)
    get_item()  # another table: untouched
    for _ in range(2):
        with pytest.raises(ClientError):
            aws.client("dynamodb").get_item(TableName=other, Key={"orderId": {"S": "o"}})
    assert outage.hits == 2
    outage.lift()
    aws.client("dynamodb").get_item(TableName=other, Key={"orderId": {"S": "o"}})
    once = faults.exhaust("dynamodb", "GetItem", calls=1)
    with pytest.raises(ClientError):
        get_item()
    get_item()
    assert once.hits == 1 and len(faults.failed_calls()) == 3
    assert [(c.operation, c.params["TableName"]) for c in faults.calls if c.ok] == \
        [("GetItem", TABLE), ("GetItem", other), ("GetItem", TABLE)]
    with pytest.raises(ValueError):
        faults.fail("dynamodb", "GetItem", kind=THROTTLE, phase=AFTER)  # a throttle is an answer: never "after"


def test_a_detached_injector_strikes_nothing(aws_resources):
    injector = FaultInjector(rate=1.0).attach_app_clients()
    with fast_retries():
        with pytest.raises((ClientError, ReadTimeoutError, ConnectionClosedError, EndpointConnectionError)):
            get_item()
        injector.detach()
        assert get_item()["ResponseMetadata"]["RetryAttempts"] == 0
    assert injector.total() == attempts_per_call()
