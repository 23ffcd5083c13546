"""The local event runner delivers SQS and S3 events with Lambda's semantics (against moto)."""
import json
import time

import boto3
import pytest
from chalice import Chalice
from moto import mock_aws

from local_runtime.runner import EventRunner, failed_message_ids


@pytest.fixture
def moto():
    with mock_aws():
        yield boto3.session.Session(region_name="us-east-1")


def make_queue(session, name, visibility=30, max_receives=None):
    sqs = session.client("sqs")
    attributes = {"VisibilityTimeout": str(visibility)}
    if max_receives:
        dlq = sqs.create_queue(QueueName=f"{name}-dlq")["QueueUrl"]
        dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        attributes["RedrivePolicy"] = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": max_receives})
    return sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]


def depth(session, url):
    attributes = session.client("sqs").get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])
    return sum(int(v) for v in attributes["Attributes"].values())


def sqs_app(behaviour):
    """An app whose handler does what `behaviour(bodies, records)` says: return a value or raise."""
    app = Chalice("runner-test")
    seen = []

    @app.on_sqs_message(queue="work", batch_size=5)
    def work(event):
        records = list(event)
        seen.append([(r.body, r.to_dict()) for r in records])
        return behaviour(records)

    return app, seen


def runner_for(app, session, **options):
    return EventRunner(app, session, wait_seconds=0, report=lambda line: None, **options).setup()


def send(session, url, *bodies):
    for body in bodies:
        session.client("sqs").send_message(QueueUrl=url, MessageBody=body)


def deliver(runner, source_name="work"):
    time.sleep(0.005)  # moto makes a zero visibility timeout visible only in the next millisecond
    source = next(s for s in runner.app.event_sources if s.name == source_name)
    url = runner.sqs.get_queue_url(QueueName=source.queue)["QueueUrl"]
    return runner.deliver_sqs(source, url, runner._queue_arn(url), wait=0)


def test_success_deletes_every_record_and_builds_lambda_shaped_records(moto):
    url = make_queue(moto, "work")
    app, seen = sqs_app(lambda records: {"batchItemFailures": []})
    runner = runner_for(app, moto)
    send(moto, url, "a", "b", "c")
    delivery = deliver(runner)
    assert (delivery.records, delivery.failed) == (3, 0)
    records = [record for _, record in seen[0]]
    assert len({r["messageId"] for r in records}) == 3
    assert all(r["eventSource"] == "aws:sqs" and r["eventSourceARN"].endswith(":work") for r in records)
    assert all(r["attributes"]["ApproximateReceiveCount"] == "1" for r in records)
    assert depth(moto, url) == 0


def test_batch_item_failures_keep_only_those_records(moto):
    url = make_queue(moto, "work", visibility=0)
    app, seen = sqs_app(lambda records: {"batchItemFailures": [
        {"itemIdentifier": r.to_dict()["messageId"]} for r in records if r.body == "bad"]})
    runner = runner_for(app, moto)
    send(moto, url, "ok1", "bad", "ok2")
    assert deliver(runner).failed == 1
    deliver(runner)
    assert [body for body, _ in seen[1]] == ["bad"]
    assert seen[1][0][1]["attributes"]["ApproximateReceiveCount"] == "2"


def test_an_exception_redelivers_the_whole_batch(moto):
    url = make_queue(moto, "work", visibility=0)

    def explode(records):
        raise RuntimeError("boom")

    app, seen = sqs_app(explode)
    runner = runner_for(app, moto)
    send(moto, url, "a", "b")
    delivery = deliver(runner)
    assert delivery.failed == 2 and "RuntimeError" in delivery.outcome
    assert depth(moto, url) == 2


def test_a_malformed_failure_response_fails_the_whole_batch():
    assert failed_message_ids({"batchItemFailures": [{"itemIdentifier": "nope"}]}, ["a", "b"]) == {"a", "b"}
    assert failed_message_ids({"batchItemFailures": [{}]}, ["a"]) == {"a"}
    assert failed_message_ids(None, ["a"]) == set()
    assert failed_message_ids({"batchItemFailures": [{"itemIdentifier": "b"}]}, ["a", "b"]) == {"b"}


def test_a_poison_message_lands_in_the_dlq_after_max_receives(moto):
    url = make_queue(moto, "work", visibility=0, max_receives=2)

    def explode(records):
        raise ValueError("poison")

    app, seen = sqs_app(explode)
    runner = runner_for(app, moto)
    send(moto, url, "poison")
    assert deliver(runner) is not None
    assert deliver(runner) is not None
    assert deliver(runner) is None  # third receive: moved to the DLQ instead
    dlq = moto.client("sqs").get_queue_url(QueueName="work-dlq")["QueueUrl"]
    [message] = moto.client("sqs").receive_message(QueueUrl=dlq)["Messages"]
    assert message["Body"] == "poison" and len(seen) == 2


def s3_app(fail_keys=()):
    app = Chalice("runner-s3-test")
    seen = []

    @app.on_s3_event(bucket="inbox", prefix="logs/", suffix=".txt")
    def split(event):
        seen.append(event.key)
        if event.key in fail_keys:
            raise RuntimeError("cannot split")

    return app, seen


def deliver_s3(runner):
    time.sleep(0.005)
    source = next(s for s in runner.app.event_sources if s.name == "split")
    url = runner.sqs.get_queue_url(QueueName=f"local-runtime-s3-{source.name}")["QueueUrl"]
    return runner.deliver_s3(source, url, wait=0)


def test_s3_events_reach_the_handler_with_filters_and_without_test_events(moto):
    moto.client("s3").create_bucket(Bucket="inbox")
    app, seen = s3_app()
    lines = []
    runner = EventRunner(app, moto, wait_seconds=0, report=lines.append).setup()
    deliver_s3(runner)
    assert any("dropped s3:TestEvent" in line for line in lines)
    s3 = moto.client("s3")
    s3.put_object(Bucket="inbox", Key="logs/day one.txt", Body=b"x")
    s3.put_object(Bucket="inbox", Key="logs/skip.csv", Body=b"x")
    s3.put_object(Bucket="inbox", Key="other/skip.txt", Body=b"x")
    deliver_s3(runner)
    assert seen == ["logs/day one.txt"]  # the key arrives URL-encoded and Chalice decodes it


def test_a_failing_s3_event_is_retried_then_kept_and_reported(moto):
    moto.client("s3").create_bucket(Bucket="inbox")
    app, seen = s3_app(fail_keys={"logs/bad.txt"})
    lines = []
    runner = EventRunner(app, moto, wait_seconds=0, report=lines.append, s3_attempts=2, s3_retry_delay=0).setup()
    moto.client("s3").put_object(Bucket="inbox", Key="logs/bad.txt", Body=b"x")
    for _ in range(4):
        deliver_s3(runner)
    assert seen == ["logs/bad.txt", "logs/bad.txt"]
    assert any("GAVE UP after 2 attempts" in line for line in lines)
    dlq = moto.client("sqs").get_queue_url(QueueName="local-runtime-s3-split-dlq")["QueueUrl"]
    assert len(moto.client("sqs").receive_message(QueueUrl=dlq)["Messages"]) == 1


def test_sns_messages_are_shown_to_the_local_user(moto):
    topic = moto.client("sns").create_topic(Name="orders-events")["TopicArn"]
    lines = []
    runner = EventRunner(Chalice("empty"), moto, wait_seconds=0, report=lines.append).setup(topics=[topic])
    moto.client("sns").publish(TopicArn=topic, Subject="Order done", Message="order 1 COMPLETED")
    url = moto.client("sqs").get_queue_url(QueueName="local-runtime-sns-orders-events")["QueueUrl"]
    assert runner.deliver_sns("orders-events", url, [], wait=0) == 1
    assert any("order 1 COMPLETED" in line for line in lines)


def send_with_correlation(session, url, body, correlation_id):
    session.client("sqs").send_message(QueueUrl=url, MessageBody=body, MessageAttributes={
        "correlation_id": {"DataType": "String", "StringValue": correlation_id}})


def test_a_delivery_reports_and_keeps_its_correlation_ids(moto):
    url = make_queue(moto, "work")
    app, seen = sqs_app(lambda records: None)
    lines = []
    runner = EventRunner(app, moto, wait_seconds=0, report=lines.append).setup()
    send_with_correlation(moto, url, "a", "cid-1")
    send_with_correlation(moto, url, "b", "cid-2")
    send(moto, url, "no id")
    delivery = deliver(runner)
    assert sorted(delivery.correlation_ids) == ["cid-1", "cid-2"]
    assert seen[0][0][1]["messageAttributes"]["correlation_id"]["stringValue"] in {"cid-1", "cid-2"}
    assert lines[-1].endswith(f"correlation_id={','.join(delivery.correlation_ids)}")
    assert runner.history.deliveries("cid-2") == [delivery]


def test_a_delivery_without_correlation_ids_shows_a_dash(moto):
    url = make_queue(moto, "work")
    app, _ = sqs_app(lambda records: None)
    lines = []
    runner = EventRunner(app, moto, wait_seconds=0, report=lines.append).setup()
    send(moto, url, "plain")
    deliver(runner)
    assert lines[-1].endswith("correlation_id=-")


def test_the_fault_switch_fails_matching_records_before_the_handler_sees_them(moto):
    url = make_queue(moto, "work")
    app, seen = sqs_app(lambda records: None)
    runner = runner_for(app, moto)
    runner.faults.poison("poison-me", handler="work")
    send_with_correlation(moto, url, "fine", "good")
    send_with_correlation(moto, url, "also fine", "poison-me")
    send(moto, url, "body says poison-me too")
    delivery = deliver(runner)
    assert [body for body, _ in seen[0]] == ["fine"]
    assert (delivery.records, delivery.failed) == (3, 2) and "2 poisoned" in delivery.outcome
    assert depth(moto, url) == 2  # kept for a redelivery, as batchItemFailures would keep them
    runner.faults.unpoison("poison-me")
    assert runner.faults.rules() == []


def test_retry_seconds_brings_failed_records_back_before_the_visibility_timeout(moto):
    url = make_queue(moto, "work", visibility=300)

    def fail_all(records):
        return {"batchItemFailures": [{"itemIdentifier": r.to_dict()["messageId"]} for r in records]}

    app, seen = sqs_app(fail_all)
    patient = runner_for(app, moto)
    send(moto, url, "first")
    deliver(patient)
    assert deliver(patient) is None  # the queue's own visibility timeout holds it back, as on AWS

    hasty = runner_for(app, moto, retry_seconds=0)
    send(moto, url, "second")
    deliver(hasty)
    again = deliver(hasty)
    assert again is not None and [body for body, _ in seen[-1]] == ["second"]
    assert seen[-1][0][1]["attributes"]["ApproximateReceiveCount"] == "2"


def test_sns_notifications_are_kept_with_their_correlation_id(moto):
    topic = moto.client("sns").create_topic(Name="orders-events")["TopicArn"]
    lines = []
    runner = EventRunner(Chalice("empty"), moto, wait_seconds=0, report=lines.append).setup(topics=[topic])
    moto.client("sns").publish(TopicArn=topic, Message="order 2 COMPLETED", MessageAttributes={
        "correlation_id": {"DataType": "String", "StringValue": "req-42"}})
    url = moto.client("sqs").get_queue_url(QueueName="local-runtime-sns-orders-events")["QueueUrl"]
    runner.deliver_sns("orders-events", url, [], wait=0)
    [kept] = runner.history.notifications("req-42")
    assert (kept["topic"], kept["message"], kept["attributes"]) == ("orders-events", "order 2 COMPLETED",
                                                                   {"correlation_id": "req-42"})
    assert lines[-1].endswith("correlation_id=req-42")


def test_s3_deliveries_take_the_correlation_id_from_the_objects_metadata(moto):
    moto.client("s3").create_bucket(Bucket="inbox")
    app, seen = s3_app()
    runner = EventRunner(app, moto, wait_seconds=0, report=lambda line: None).setup()
    deliver_s3(runner)  # the s3:TestEvent
    moto.client("s3").put_object(Bucket="inbox", Key="logs/tagged.txt", Body=b"x",
                                 Metadata={"correlation-id": "upload-7"})
    [delivery] = deliver_s3(runner)
    assert delivery.correlation_ids == ("upload-7",) and delivery.source == "s3://inbox/logs/tagged.txt"


def test_every_poller_has_a_pooled_connection_so_a_stop_discards_none(moto):
    make_queue(moto, "work")
    app, _ = sqs_app(lambda records: None)
    runner = runner_for(app, moto, concurrency=16)  # more pollers than botocore's default pool of 10
    assert len(runner.loops) == 16
    assert runner.sqs.meta.config.max_pool_connections >= len(runner.loops) + len(runner.schedules)
