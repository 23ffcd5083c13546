"""The metrics the handlers emit, against moto: each invocation prints one valid EMF line with its counts."""
import json

import boto3
import pytest

from chalicelib import metrics
from chalicelib.batch import BatchFailed
from tests.events import s3_event, sqs_event, sqs_record
from tests.integration.test_correlation import ORDER, lambda_event, post_order, received
from tests.unit.test_metrics import assert_valid_emf, emf_lines

JSON = {"Content-Type": "application/json"}


@pytest.fixture(autouse=True)
def fresh_counts():
    metrics.take()  # nothing counted outside an invocation by an earlier test
    yield


@pytest.fixture
def emitted(capsys):
    """The counts of the EMF line the invocation inside printed (checked valid; none when it counted nothing)."""
    def run(invocation):
        capsys.readouterr()
        try:
            invocation()
        finally:
            documents = emf_lines(capsys.readouterr().out)
        assert len(documents) <= 1, documents  # one line an invocation, whatever it did
        for document in documents:
            assert_valid_emf(document)
            assert document["stage"] == "dev"
        return {m["Name"]: sum(document[m["Name"]]) for document in documents
                for m in document["_aws"]["CloudWatchMetrics"][0]["Metrics"] if m["Name"] != "ColdStart"}
    return run


def product(**overrides):
    return {"id": "6f1c2e4a-0000-4000-8000-00000000000" + overrides.pop("n", "1"),
            "created_at": "2026-11-23T10:00:00.000Z", "name": "Caderno", "price": "12.50", **overrides}


def test_the_product_worker_counts_stored_duplicate_failed_and_the_records_it_gives_back(client, emitted):
    records = [sqs_record(product(n="1"), "product-queue", "m-new"),
               sqs_record(product(n="1"), "product-queue", "m-again"),  # the same product twice
               sqs_record("{not json", "product-queue", "m-bad")]
    payloads = []
    counts = emitted(lambda: payloads.append(client.lambda_.invoke("process_product_queue",
                                                                    sqs_event(*records)).payload))
    assert payloads == [{"batchItemFailures": [{"itemIdentifier": "m-bad"}]}]
    assert counts == {"ProductsStored": 1, "ProductDuplicates": 1, "ProductsFailed": 1,
                      "ProductsBatchItemFailures": 1}


def test_a_batch_that_fails_whole_gives_every_record_back_and_says_so(client, emitted):
    records = [sqs_record("{", "product-queue"), sqs_record("[]", "product-queue")]

    def invoke():
        with pytest.raises(BatchFailed):
            client.lambda_.invoke("process_product_queue", sqs_event(*records))
    assert emitted(invoke) == {"ProductsFailed": 2, "ProductsBatchItemFailures": 2}


def test_a_post_counts_its_acceptance_in_the_api_invocations_line(client, emitted):
    answers = []
    counts = emitted(lambda: answers.append(client.http.post("/products", headers=JSON,
                                                             body=json.dumps({"name": "x", "price": 1}))))
    assert answers[0].status_code == 202 and counts == {"ProductsAccepted": 1}
    assert emitted(lambda: client.http.get("/products/not-a-uuid")) == {}  # a read counts nothing


def test_orders_count_accepted_replayed_completed_notified_duplicates_and_failed(client, emitted):
    key = {"Idempotency-Key": "order-once"}
    assert emitted(lambda: post_order(client, key)) == {"OrdersAccepted": 1}
    assert emitted(lambda: post_order(client, key)) == {"OrderRequestDuplicates": 1}
    messages = received("orders-queue")
    assert len(messages) == 2  # the replay found the order still RECEIVED and queued it again
    event = lambda_event(messages, "orders-queue")
    assert emitted(lambda: client.lambda_.invoke("process_orders", event)) == {
        "OrdersCompleted": 1, "OrdersNotified": 1, "OrderMessageDuplicates": 1, "OrdersBatchItemFailures": 0}
    assert emitted(lambda: client.lambda_.invoke("process_orders", event)) == {  # redelivered
        "OrderMessageDuplicates": 2, "OrdersBatchItemFailures": 0}
    unknown = {**ORDER, "items": [{"productId": "ghost", "quantity": 1}]}
    emitted(lambda: post_order(client, body=unknown))
    [message] = received("orders-queue")
    assert emitted(lambda: client.lambda_.invoke("process_orders", lambda_event([message], "orders-queue"))) == {
        "OrdersFailed": 1, "OrdersBatchItemFailures": 0}


LOG = ("2026-11-20 10:00:01 INFO [Svc] started\n"
       "2026-11-20 10:00:02 ERROR [Svc] failed\n"
       "just some words no format knows\n")


def test_log_uploads_count_lines_processed_unparsed_duplicates_and_the_completed_batch(client, emitted):
    etag = boto3.client("s3").put_object(Bucket="input-logs", Key="m/app.log", Body=LOG.encode())["ETag"]
    event = s3_event("input-logs", "m/app.log", etag)
    assert emitted(lambda: client.lambda_.invoke("split_log_upload", event)) == {"LogUploadsAccepted": 1}
    messages = received("log-processing-queue")
    lines_event = lambda_event(messages, "log-processing-queue")
    assert emitted(lambda: client.lambda_.invoke("process_log_lines", lines_event)) == {
        "LogLinesProcessed": 3, "LogLinesUnparsed": 1, "LogMessageDuplicates": 0, "LogMessagesFailed": 0,
        "LogBatchesCompleted": 1, "LogMessagesBatchItemFailures": 0}
    assert emitted(lambda: client.lambda_.invoke("process_log_lines", lines_event)) == {  # redelivered
        "LogLinesProcessed": 0, "LogLinesUnparsed": 0, "LogMessageDuplicates": 3, "LogMessagesFailed": 0,
        "LogMessagesBatchItemFailures": 0}
    assert emitted(lambda: client.lambda_.invoke("split_log_upload", event)) == {"LogUploadDuplicates": 1}


def test_invoice_uploads_count_rows_accepted_and_rejected_once_a_run(client, emitted):
    body = ("numero;cliente;valor;data_emissao\nNF-1;Ana Costa;10,00;01/10/2025\n"
            "NF-2;Bia;5,00;02/10/2025\nNF-3;;x;32/13/2025\n")
    etag = boto3.client("s3").put_object(Bucket="notas-fiscais", Key="m/notas.csv", Body=body.encode())["ETag"]
    event = s3_event("notas-fiscais", "m/notas.csv", etag)
    assert emitted(lambda: client.lambda_.invoke("ingest_invoice_upload", event)) == {
        "InvoiceUploadsAccepted": 1, "InvoiceUploadsCompleted": 1, "InvoiceRowsAccepted": 2,
        "InvoiceRowsRejected": 1}
    assert emitted(lambda: client.lambda_.invoke("ingest_invoice_upload", event)) == {"InvoiceUploadDuplicates": 1}


def test_a_cold_start_is_counted_once_per_container(client, capsys, monkeypatch):
    monkeypatch.setattr(metrics, "_cold", True)  # as if this were a new container
    capsys.readouterr()
    for _ in range(3):
        client.http.get("/products/not-a-uuid")
    documents = emf_lines(capsys.readouterr().out)
    assert [d.get("ColdStart") for d in documents] == [[1.0]]  # later invocations counted nothing at all
