"""The correlation id end to end, against moto: from a POST (or an upload) to the queue, the worker's log
lines, and what the worker writes or publishes. Workers are run on the messages the app really sent."""
import io
import json

import boto3
import pytest

from chalicelib import bootstrap
from chalicelib.adapters.queues import MessageQueue
from chalicelib.logbatch import service as logbatch
from chalicelib.logs import logger
from tests.events import ACCOUNT, s3_event

JSON = {"Content-Type": "application/json"}
ORDER = {"customerId": "c-1", "items": [{"productId": "caderno", "quantity": 2, "unitPrice": "12.50"}]}


class LogLines:
    def __init__(self, buffer: io.StringIO):
        self.buffer = buffer

    def take(self) -> list[dict]:
        """The log lines written since the last take, parsed."""
        lines = [json.loads(line) for line in self.buffer.getvalue().splitlines()]
        self.buffer.seek(0)
        self.buffer.truncate()
        return lines


@pytest.fixture
def log_lines():
    """What the app's logger writes to stdout (Powertools JSON lines), INFO and up."""
    handler, buffer = logger.registered_handler, io.StringIO()
    previous_stream, previous_level = handler.setStream(buffer), logger.log_level
    logger.setLevel("INFO")
    yield LogLines(buffer)
    handler.setStream(previous_stream)
    logger.setLevel(previous_level)


def url_of(queue_name: str) -> str:
    return boto3.client("sqs").get_queue_url(QueueName=queue_name)["QueueUrl"]


def received(queue_name: str) -> list[dict]:
    """Every message now in the queue, with its attributes, as a Lambda poller receives them."""
    sqs, found = boto3.client("sqs"), []
    while True:
        batch = sqs.receive_message(QueueUrl=url_of(queue_name), MaxNumberOfMessages=10, AttributeNames=["All"],
                                    MessageAttributeNames=["All"]).get("Messages", [])
        if not batch:
            return found
        found += batch


def lambda_event(messages: list[dict], queue_name: str) -> dict:
    """The SQS event Lambda builds from received messages (attributes in Lambda's own spelling)."""
    return {"Records": [{
        "messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"], "body": m["Body"],
        "attributes": m.get("Attributes", {}),
        "messageAttributes": {name: {"stringValue": a.get("StringValue"), "stringListValues": [],
                                     "binaryListValues": [], "dataType": a["DataType"]}
                              for name, a in m.get("MessageAttributes", {}).items()},
        "md5OfBody": m["MD5OfBody"], "eventSource": "aws:sqs",
        "eventSourceARN": f"arn:aws:sqs:us-east-1:{ACCOUNT}:{queue_name}", "awsRegion": "us-east-1",
    } for m in messages]}


def carried(message: dict) -> str | None:
    return message.get("MessageAttributes", {}).get("correlation_id", {}).get("StringValue")


def notifications(inbox_url: str) -> list[tuple[dict, dict]]:
    """(message, attributes) of every notification the subscriber got."""
    found = []
    for message in boto3.client("sqs").receive_message(QueueUrl=inbox_url, MaxNumberOfMessages=10).get("Messages", []):
        envelope = json.loads(message["Body"])
        found.append((json.loads(envelope["Message"]),
                      {k: v["Value"] for k, v in envelope.get("MessageAttributes", {}).items()}))
    return found


def post_order(client, headers=None, body=None):
    return client.http.post("/orders", headers={**JSON, **(headers or {})}, body=json.dumps(body or ORDER))


# --- orders: POST → SQS → worker → SNS ----------------------------------------------------

def test_an_orders_id_goes_from_the_post_to_the_worker_log_lines_and_the_sns_notification(
        client, inbox, log_lines):
    response = post_order(client, {"X-Correlation-Id": "abc-123"})
    assert response.status_code == 202
    assert response.headers["X-Correlation-Id"] == "abc-123"
    api_lines = log_lines.take()
    assert [line["correlation_id"] for line in api_lines if line["message"] == "order accepted"] == ["abc-123"]

    [message] = received("orders-queue")
    assert message["MessageAttributes"]["correlation_id"] == {"StringValue": "abc-123", "DataType": "String"}

    payload = client.lambda_.invoke("process_orders", lambda_event([message], "orders-queue")).payload
    assert payload == {"batchItemFailures": []}
    worker_lines = log_lines.take()
    assert "order notified" in [line["message"] for line in worker_lines]
    assert {line.get("correlation_id") for line in worker_lines} == {"abc-123"}  # every line, not only some

    [(notification, attributes)] = notifications(inbox)
    assert notification["orderId"] == json.loads(response.body)["orderId"]
    assert attributes["correlation_id"] == "abc-123"
    assert attributes["notificationId"] == f"{notification['orderId']}:COMPLETED"  # beside the others


def test_each_record_of_a_batch_is_handled_under_its_own_id_and_none_leaks_into_the_next(client, log_lines):
    first = json.loads(post_order(client, {"X-Correlation-Id": "first-order"}).body)["orderId"]
    second = json.loads(post_order(client, {"X-Correlation-Id": "second-order"}).body)["orderId"]
    messages = sorted(received("orders-queue"), key=carried)
    assert [carried(m) for m in messages] == ["first-order", "second-order"]
    # Between them, a malformed message sent by something that sets no attribute: its messageId stands in.
    stray = {**messages[0], "MessageId": "no-attribute-here", "Body": "{", "MessageAttributes": {}}
    log_lines.take()
    payload = client.lambda_.invoke("process_orders", lambda_event([messages[0], stray, messages[1]],
                                                                   "orders-queue")).payload
    assert payload == {"batchItemFailures": [{"itemIdentifier": "no-attribute-here"}]}
    ids_by_subject = {}
    for line in log_lines.take():
        subject = line.get("order_id") or line.get("message_id")
        ids_by_subject.setdefault(subject, set()).add(line.get("correlation_id"))
    assert ids_by_subject == {first: {"first-order"}, "no-attribute-here": {"no-attribute-here"},
                              second: {"second-order"}}


def test_without_a_header_the_request_id_is_the_id_and_is_sent_on(client):
    response = post_order(client)
    sent = response.headers["X-Correlation-Id"]
    assert sent and sent != "abc-123"
    [message] = received("orders-queue")
    assert carried(message) == sent


def test_a_bad_header_is_ignored_and_the_request_id_used(client):
    response = post_order(client, {"X-Correlation-Id": "x" * 129})
    sent = response.headers["X-Correlation-Id"]
    assert sent != "x" * 129 and len(sent) <= 128
    [message] = received("orders-queue")
    assert carried(message) == sent


@pytest.mark.parametrize("method, path, body, content_type, status", [
    ("post", "/orders", "{}", "application/json", 400),                      # json_errors' answer
    ("get", "/orders/not-a-uuid", None, None, 400),
    ("get", "/orders/00000000-0000-4000-8000-000000000000", None, None, 404),
    ("post", "/orders", "customerId=c-1", "text/plain", 415),               # Chalice's own answer
])
def test_error_answers_carry_the_id_too(client, method, path, body, content_type, status):
    headers = {"X-Correlation-Id": "err-42", **({"Content-Type": content_type} if content_type else {})}
    response = getattr(client.http, method)(path, headers=headers, **({"body": body} if body else {}))
    assert response.status_code == status
    assert response.headers["X-Correlation-Id"] == "err-42"


def test_an_order_the_sweep_sends_again_keeps_the_id_of_its_post(client, monkeypatch):
    monkeypatch.setattr(MessageQueue, "send_json", lambda self, payload: (_ for _ in ()).throw(ConnectionError()))
    assert post_order(client, {"X-Correlation-Id": "stranded-7"}).status_code == 202  # stored, not queued
    monkeypatch.undo()
    monkeypatch.setenv("ORDERS_REQUEUE_AFTER_SECONDS", "0")
    event = client.events.generate_cw_event("aws.events", "Scheduled Event", {}, [], region="us-east-1")
    assert client.lambda_.invoke("sweep_orders", event).payload == {"requeued": 1, "failed": 0}
    [message] = received("orders-queue")
    assert carried(message) == "stranded-7"


# --- products: POST → SQS → worker → report metadata --------------------------------------

def test_a_products_id_goes_from_the_post_to_the_worker_log_lines_and_the_reports_metadata(client, log_lines):
    response = client.http.post("/products", headers={**JSON, "X-Correlation-Id": "prod-9"},
                                body=json.dumps({"name": "Caneta", "price": "1.50"}))
    assert response.status_code == 202 and response.headers["X-Correlation-Id"] == "prod-9"
    product_id = json.loads(response.body)["id"]
    [message] = received("product-queue")
    assert carried(message) == "prod-9"
    log_lines.take()
    payload = client.lambda_.invoke("process_product_queue", lambda_event([message], "product-queue")).payload
    assert payload == {"batchItemFailures": []}
    lines = log_lines.take()
    assert "product stored" in [line["message"] for line in lines]
    assert {line.get("correlation_id") for line in lines} == {"prod-9"}
    head = boto3.client("s3").head_object(Bucket="async-catalog-reports-dev", Key=f"{product_id}.txt")
    assert head["Metadata"] == {"correlation-id": "prod-9"}


# --- log uploads: the run id ---------------------------------------------------------------

LOG = "\n".join(f"2026-11-20 10:00:0{i} INFO [Svc] line {i}" for i in range(5)) + "\n"


def test_a_log_uploads_run_id_is_the_id_of_its_line_messages_its_log_lines_and_its_report(client, log_lines):
    etag = boto3.client("s3").put_object(Bucket="input-logs", Key="corr/app.log", Body=LOG.encode())["ETag"]
    run_id = f"corr/app.log@{etag.strip(chr(34))}"
    log_lines.take()
    client.lambda_.invoke("split_log_upload", s3_event("input-logs", "corr/app.log", etag))
    splitter_lines = log_lines.take()
    assert "split done" in [line["message"] for line in splitter_lines]
    assert {line.get("correlation_id") for line in splitter_lines} == {run_id}

    messages = received("log-processing-queue")
    assert len(messages) == 5 and {carried(m) for m in messages} == {run_id}

    payload = client.lambda_.invoke("process_log_lines", lambda_event(messages, "log-processing-queue")).payload
    assert payload == {"batchItemFailures": []}
    worker_lines = log_lines.take()
    assert "log batch completed" in [line["message"] for line in worker_lines]
    assert {line.get("correlation_id") for line in worker_lines} == {run_id}
    head = boto3.client("s3").head_object(Bucket="processed-data", Key="corr/relatorio_app.log.json")
    assert head["Metadata"] == {"correlation-id": run_id}


def test_a_split_handed_to_a_continuation_sends_it_with_the_run_id(client):
    etag = boto3.client("s3").put_object(Bucket="input-logs", Key="corr/long.log", Body=LOG.encode())["ETag"]
    splitter = logbatch.LogSplitter(bootstrap.log_runs(), MessageQueue("log-processing-queue"),
                                    MessageQueue("log-split-queue"), bootstrap.log_completion(), 1, time_budget=0)
    assert splitter.on_upload("input-logs", "corr/long.log", etag) == "continued"
    [handover] = received("log-split-queue")
    assert carried(handover) == f"corr/long.log@{etag.strip(chr(34))}"


# --- invoice uploads: the run id -----------------------------------------------------------

def test_an_invoice_uploads_run_id_is_on_its_log_lines_and_its_report(client, log_lines):
    body = "numero;cliente;valor;data_emissao\nNF-1;Ana Costa;10,00;01/10/2025\nNF-2;;x;32/13/2025\n"
    etag = boto3.client("s3").put_object(Bucket="notas-fiscais", Key="corr/notas.csv", Body=body.encode())["ETag"]
    event = s3_event("notas-fiscais", "corr/notas.csv", etag, sequencer="00AB")
    run_id = f"corr/notas.csv@{etag.strip(chr(34))}~00AB"
    log_lines.take()
    client.lambda_.invoke("ingest_invoice_upload", event)
    lines = log_lines.take()
    assert "invoice upload done" in [line["message"] for line in lines]
    assert {line.get("correlation_id") for line in lines} == {run_id}
    key = f"invoice-uploads/corr/notas.csv@{etag.strip(chr(34))}.json"
    head = boto3.client("s3").head_object(Bucket="async-catalog-reports-dev", Key=key)
    assert head["Metadata"] == {"correlation-id": run_id}
