"""Uploads whose reader Lambda gave up on end `failed`, through the on-failure destination, for every upload flow."""
import json

import boto3
import pytest

from chalicelib.invoices import service as invoices
from chalicelib.logbatch import service as logbatch
from tests.conftest import event_runner
from tests.events import sqs_event, sqs_record


@pytest.fixture
def runner(app, aws_resources):
    return event_runner(app, failure_queue="upload-failures")


def broken(monkeypatch, target: str):
    """The reader fails inside its lease (which it gives up on error), so every retry reads again and fails."""
    def fail(*args, **kwargs):
        raise ConnectionError("the bucket's region is unreachable")
    monkeypatch.setattr(target, fail)


@pytest.mark.parametrize("bucket, key, reader, status_of", [
    ("input-logs", "2026/11/app log.txt", "chalicelib.logbatch.service.LogSplitter.read",
     logbatch.log_batch_status),
    ("notas-fiscais", "lote 7.csv", "chalicelib.invoices.service.InvoiceIngester._read",
     invoices.invoice_upload_status),
])
def test_an_upload_whose_reader_always_fails_ends_failed_with_the_reason(runner, monkeypatch, bucket, key, reader,
                                                                          status_of):
    broken(monkeypatch, reader)
    boto3.client("s3").put_object(Bucket=bucket, Key=key, Body=b"numero,cliente,valor,data_emissao\n")
    runner.drain()  # three attempts, then the invocation record, then the failure handler
    status = status_of(key)
    assert status["status"] == "failed"
    assert "ConnectionError: the bucket's region is unreachable" in status["failure_reason"]
    assert "RetriesExhausted, 3 attempts" in status["failure_reason"]


def failure_record(bucket: str, key: str, etag: str, error: str = "boom") -> str:
    return json.dumps({
        "version": "1.0", "requestContext": {"condition": "RetriesExhausted", "approximateInvokeCount": 3},
        "requestPayload": {"Records": [{"eventTime": "2026-11-20T10:00:00.000Z", "s3": {
            "bucket": {"name": bucket}, "object": {"key": key, "eTag": etag, "sequencer": "0A1"}}}]},
        "responsePayload": {"errorType": "RuntimeError", "errorMessage": error}})


def invoke(client, *bodies):
    records = [sqs_record(b, "upload-failures", f"m{i}") for i, b in enumerate(bodies)]
    return client.lambda_.invoke("record_upload_failure", sqs_event(*records)).payload


def test_a_run_that_finished_is_not_failed_by_a_late_record_and_records_are_idempotent(client, runner):
    boto3.client("s3").put_object(Bucket="input-logs", Key="done.txt", Body=b"2026-11-20 10:00:01 INFO [A] ok\n")
    runner.drain()
    run = logbatch.log_batch_status("done.txt")
    etag = run["run_id"].rsplit("@", 1)[1]
    assert invoke(client, failure_record("input-logs", "done.txt", etag)) == {"batchItemFailures": []}
    assert logbatch.log_batch_status("done.txt")["status"] == "completed"
    # A key whose splitter never started: created failed, and shown; the same record twice changes nothing.
    twice = failure_record("input-logs", "never%20started.log", "abc", error="out of memory")
    assert invoke(client, twice, twice) == {"batchItemFailures": []}
    status = logbatch.log_batch_status("never started.log")
    assert (status["status"], status["failure_reason"].endswith("RuntimeError: out of memory")) == ("failed", True)


def test_a_body_that_is_not_an_invocation_record_fails_alone(client):
    result = invoke(client, "not json", json.dumps({"requestPayload": "x"}),
                    failure_record("input-logs", "ok.txt", "e1"))
    assert result == {"batchItemFailures": [{"itemIdentifier": "m0"}, {"itemIdentifier": "m1"}]}
