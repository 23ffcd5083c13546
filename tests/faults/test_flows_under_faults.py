"""Every flow end to end against moto under injected AWS faults: the outcome must be the fault-free one.

5% of the attempts the app makes (SQS, DynamoDB, S3, SNS, STS) fail at random
(throttles, 500s, read timeouts, resets; a quarter of the timeouts and resets
after the service applied the call). botocore's retries absorb nearly all of
them, so each flow also gets a few targeted faults where they matter most:

- answers lost after the service applied a write ("a timeout on a write that
  succeeded"), on the writes that decide who does what (leases, claims,
  conditional puts): botocore sends them again and they meet their own effect;
- calls that fail on every attempt (botocore's retries exhausted), so the app
  itself sees the error: SQS redelivers, S3 events are retried, the API
  answers 5xx and the client retries with its Idempotency-Key.

Nothing may be lost or doubled; every count is exact. Each test prints what
was injected and what was retried (`pytest -s`); the seed is FAULT_SEED.
"""
import json
from collections import Counter
from decimal import Decimal

import boto3

from chalicelib.adapters.dynamo import from_item
from chalicelib.catalog.model import render_report
from chalicelib.invoices import service as invoices
from chalicelib.logbatch import service as logbatch
from chalicelib.logbatch.parsing import parse_line, status_class
from tests.faults.conftest import dead_letters
from tests.faults.injector import CONNECTION_RESET, THROTTLE
from tests.log_records import stored_lines
from tests.logfiles import generated_lines

RATE = 0.05
TAKE_OVER = "SET #split_token = :token, #lease_until = :until"  # a continuation takes the run it was handed
REPORTS = "async-catalog-reports-dev"


def table(name: str, *attributes: str) -> list[dict]:
    """Every item (only `attributes` of each, when given: moto takes seconds to serialize 5,000 whole items)."""
    dynamodb, items, params = boto3.client("dynamodb"), [], {"TableName": name}
    if attributes:
        params.update(ProjectionExpression=", ".join(f"#a{i}" for i in range(len(attributes))),
                      ExpressionAttributeNames={f"#a{i}": a for i, a in enumerate(attributes)})
    while True:
        page = dynamodb.scan(**params)
        items += page["Items"]
        if "LastEvaluatedKey" not in page:
            return items
        params["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def s3_json(bucket: str, key: str) -> dict:
    return json.loads(boto3.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read())


def s3_keys(bucket: str, prefix: str = "") -> list[str]:
    pages = boto3.client("s3").get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return [o["Key"] for page in pages for o in page.get("Contents", [])]


def line_writes(params: dict) -> bool:
    """A rule's filter: a write of log lines, packed ones merged into their item (UpdateItem) or lines of their
    own put whole (BatchWriteItem), whichever the run's layout (LOG_LINES_PER_ITEM) makes."""
    return (params.get("TableName") == "ProcessedLogsTable" and "UpdateExpression" in params) \
        or isinstance(params.get("RequestItems", {}).get("ProcessedLogsTable"), list)


def where(table_name: str, **checks):
    """A rule's filter: calls on one table (and, for an update, whose expression says something)."""
    def matches(params: dict) -> bool:
        return params.get("TableName") == table_name and all(
            text in params.get(field, "") if isinstance(text, str) else text(params.get(field))
            for field, text in checks.items())
    return matches


def post(client, path: str, body: dict, key: str, attempts: int = 8):
    """POST as a careful client does: a 5xx is retried with the same Idempotency-Key."""
    statuses = []
    for _ in range(attempts):
        response = client.http.post(path, body=json.dumps(body),
                                    headers={"Content-Type": "application/json", "Idempotency-Key": key})
        statuses.append(response.status_code)
        if response.status_code < 500:
            assert response.status_code == 202, response.body
            return json.loads(response.body), statuses
    raise AssertionError(f"POST {path} kept failing: {statuses}")


def show(flow: str, faults, deliveries, **extra) -> None:
    summary = faults.summary()
    print(f"\n[{flow}] injected {summary['injected']} faults in {summary['attempts']} attempts "
          f"({summary['rate']:.1%}; {summary['by_rules']} by targeted rules): {summary['by_kind']}")
    print(f"[{flow}] by operation: {summary['by_operation']}")
    print(f"[{flow}] applied then answer lost: {summary['applied_then_lost']}; calls retried by botocore: "
          f"{summary['retried_calls']} of {summary['calls']}; calls that failed for the app: {summary['calls_failed']}")
    print(f"[{flow}] failed deliveries (redelivered/retried): {dict(deliveries.failed())}; {extra}")


# --- log batches ---------------------------------------------------------------

def expected_log_counts(lines: list[str]) -> dict:
    parsed = [parse_line(line) for line in lines]
    return {"total_items": len(lines), "processed_items": len(lines), "blank_lines": 0, "truncated_items": 0,
            "unparsed_items": sum(p.format == "unparsed" for p in parsed),
            "by_level": dict(sorted(Counter(p.level or "NONE" for p in parsed).items())),
            "by_status": dict(sorted(Counter(status_class(p.status_code) for p in parsed).items()))}


def ticking_clock(seconds_per_reading: float):
    """A monotonic clock that advances by a fixed step each time it is read: deadlines in readings, not seconds."""
    now = [0.0]

    def read() -> float:
        now[0] += seconds_per_reading
        return now[0]
    return read


def split_with_clock(monkeypatch, clock) -> None:
    """Every LogSplitter the app builds from here on keeps its deadlines on `clock`."""
    build = logbatch.LogSplitter.__init__

    def with_clock(self, *args, **kwargs):
        build(self, *args, **{**kwargs, "monotonic": clock})
    monkeypatch.setattr(logbatch.LogSplitter, "__init__", with_clock)


def test_the_log_pipeline_under_faults_counts_every_line_once_and_reports_once(runner, faults, deliveries,
                                                                               monkeypatch):
    # A short split budget: the splitter hands over to continuations several times, under faults too.
    # The budget is spent on a clock that ticks per reading, not on the wall clock: on a fast, quiet machine
    # 5,000 lines took under 0.5 s and the two hand-overs the rules below strike never happened.
    monkeypatch.setenv("LOG_SPLIT_TIME_BUDGET_SECONDS", "0.5")
    split_with_clock(monkeypatch, ticking_clock(seconds_per_reading=0.0005))  # a hand-over every ~1,000 lines
    logbatch.reset()
    lines, key = generated_lines(5000), "2026/11/app.log"
    runs, reports = "LogBatchesTable", lambda p: p["Bucket"] == "processed-data"
    faults.rate = RATE
    # Lost answers of the writes that decide who does what: the run's start, two hand-overs and two take-overs,
    # its finish, the report's claim; and of counting and roll-up writes (their retry finds its own slots).
    faults.lose_answer("dynamodb", "PutItem", where=where(runs, Item=lambda item: item["sk"] == {"S": "RUN"}))
    faults.lose_answer("dynamodb", "UpdateItem", calls=2, where=where(runs, UpdateExpression=":next"))
    faults.lose_answer("dynamodb", "UpdateItem", calls=2, where=where(runs, UpdateExpression=TAKE_OVER))
    faults.lose_answer("dynamodb", "UpdateItem", where=where(runs, UpdateExpression="REMOVE #lease_until"))
    faults.lose_answer("dynamodb", "UpdateItem", where=where(runs, UpdateExpression="#report_lease_until = :until"))
    faults.lose_answer("dynamodb", "UpdateItem", calls=3, where=where(runs, UpdateExpression="#slots :slots"))
    faults.lose_answer("dynamodb", "UpdateItem", calls=2, where=where(runs, UpdateExpression="#rolled :chunk_set"))
    # Calls that fail for the app: the splitter (S3 retries it), batches (SQS redelivers them), the report.
    faults.exhaust("sqs", "SendMessageBatch", kind=THROTTLE)
    faults.exhaust("dynamodb", "UpdateItem", calls=2, where=where(runs, UpdateExpression="#slots :slots"))
    faults.exhaust("dynamodb", "UpdateItem", where=where(runs, UpdateExpression="#rolled_sections"))
    faults.exhaust("dynamodb", None, calls=2, kind=THROTTLE, where=line_writes)
    faults.exhaust("s3", "PutObject", where=reports)
    faults.lose_answer("s3", "PutObject", where=reports, kind=CONNECTION_RESET)  # the next one: written twice

    boto3.client("s3").put_object(Bucket="input-logs", Key=key, Body=("\n".join(lines) + "\n").encode())
    runner.drain()

    report = s3_json("processed-data", "2026/11/relatorio_app.log.json")
    assert report["status"] == "Completo"
    assert {k: report[k] for k in expected_log_counts(lines)} == expected_log_counts(lines)
    assert len(faults.succeeded("s3", "PutObject", Bucket="processed-data")) == 1
    records = stored_lines(batch_id=key)  # one record a line, however packed; a line stored twice fails it
    assert [record["line"] for record in records] == list(range(1, len(lines) + 1))
    assert all(record["raw"] == lines[record["line"] - 1] for record in records)
    status = logbatch.log_batch_status(key)
    assert (status["status"], status["processed_items"], status["report"]["content"]) == ("completed", 5000, report)
    assert dead_letters() == {} and not deliveries.gave_up()
    assert [rule.hits for rule in faults.rules] == [rule.calls for rule in faults.rules]  # every one struck
    show("logs", faults, deliveries)


def test_a_report_the_splitter_could_not_write_is_written_when_s3_retries_its_event(runner, faults, deliveries):
    # Nothing to split (or workers faster than the splitter): the splitter itself claims and writes the report.
    faults.exhaust("s3", "PutObject", where=lambda p: p["Bucket"] == "processed-data")
    boto3.client("s3").put_object(Bucket="input-logs", Key="blank.log", Body=b"\n \n\n")
    runner.drain()
    report = s3_json("processed-data", "relatorio_blank.log.json")
    assert (report["total_items"], report["blank_lines"]) == (0, 3)
    assert deliveries.failed() == {"split_log_upload": 1} and faults.rules[0].hits == 1


# --- catalog -------------------------------------------------------------------

def stored_products() -> dict[str, dict]:
    return {p["id"]: p for p in map(from_item, table("ProductTable"))}


def test_products_under_faults_are_each_stored_once_with_their_report(client, runner, faults, deliveries):
    faults.rate = RATE
    products = "ProductTable"
    faults.exhaust("sqs", "SendMessage", calls=3)  # the API answers 5xx; the client retries with its key
    faults.lose_answer("sqs", "SendMessage", calls=3)  # sent twice: one product, two messages
    faults.exhaust("dynamodb", "PutItem", calls=3, where=where(products))
    faults.lose_answer("dynamodb", "PutItem", calls=3, where=where(products))  # meets itself: "a duplicate"
    faults.exhaust("s3", "PutObject", calls=3, kind=THROTTLE)
    faults.exhaust("dynamodb", "GetItem", calls=2, where=where(products))  # the read after a refused put

    sent, statuses = {}, Counter()
    for n in range(200):
        body = {"name": f"Produto {n}", "price": f"{n}.{n % 100:02d}", "stock": n, "sku": f"SKU-{n}"}
        accepted, answers = post(client, "/products", body, key=f"product-{n}")
        statuses.update(answers)
        sent[accepted["id"]] = body
    runner.drain()

    stored = stored_products()
    assert sorted(stored) == sorted(sent)
    for product_id, body in sent.items():
        product = stored[product_id]
        assert (product["name"], product["price"], product["stock"], product["sku"]) == \
            (body["name"], Decimal(body["price"]), body["stock"], body["sku"])
    assert sorted(s3_keys(REPORTS)) == sorted(f"{i}.txt" for i in sent)
    for product_id in list(sent)[::20]:
        report = boto3.client("s3").get_object(Bucket=REPORTS, Key=f"{product_id}.txt")["Body"].read().decode()
        assert report == render_report(stored[product_id])  # the stored version's report, whoever wrote last
        assert client.http.get(f"/products/{product_id}").status_code == 200
    assert statuses[500] >= 3 and set(statuses) == {202, 500}
    assert dead_letters() == {}
    assert [rule.hits for rule in faults.rules] == [rule.calls for rule in faults.rules]
    show("products", faults, deliveries, api_answers=dict(statuses))


def redrive(dlq_name: str, queue_name: str) -> int:
    """Move every message of a DLQ back to its queue (what "Start DLQ redrive" does)."""
    sqs = boto3.client("sqs")
    dlq, queue = (sqs.get_queue_url(QueueName=n)["QueueUrl"] for n in (dlq_name, queue_name))
    moved = 0
    while messages := sqs.receive_message(QueueUrl=dlq, MaxNumberOfMessages=10).get("Messages", []):
        for message in messages:
            sqs.send_message(QueueUrl=queue, MessageBody=message["Body"])
            sqs.delete_message(QueueUrl=dlq, ReceiptHandle=message["ReceiptHandle"])
            moved += 1
    return moved


def test_a_persistent_fault_parks_the_product_in_the_dlq_and_a_redrive_stores_it_once(client, runner, faults,
                                                                                      deliveries):
    outage = faults.persistent("dynamodb", "PutItem", where=where("ProductTable"))
    body = {"name": "Caderno", "price": "12.50", "stock": 3}
    accepted, _ = post(client, "/products", body, key="outage-1")
    product_id = accepted["id"]
    runner.drain()

    assert dead_letters() == {"product-queue-dlq": 1}
    assert deliveries.failed() == {"process_product_queue": 5}  # maxReceiveCount receives, then the DLQ
    # Each receive's PutItem failed for the app once botocore had made its attempts: max_attempts=5 in
    # chalicelib/aws.py is botocore's count of retries, so 6 attempts in all.
    assert [c.attempts for c in faults.failed_calls()] == [6] * 5 and outage.hits == 5
    assert stored_products() == {}  # nothing half-written: no product, so GET says it is not there
    assert client.http.get(f"/products/{product_id}").status_code == 404
    # The report is written before the product (so a visible product always has one): the parked
    # product's report is in the bucket, and is rewritten from the stored version once it is stored.
    assert s3_keys(REPORTS) == [f"{product_id}.txt"]

    outage.lift()
    assert redrive("product-queue-dlq", "product-queue") == 1
    runner.drain()
    [product] = stored_products().values()
    assert (product["id"], product["name"], product["price"]) == (product_id, "Caderno", Decimal("12.50"))
    report = boto3.client("s3").get_object(Bucket=REPORTS, Key=f"{product_id}.txt")["Body"].read().decode()
    assert report == render_report(product)
    assert client.http.get(f"/products/{product_id}").status_code == 200
    assert dead_letters() == {}
    show("products, persistent PutItem fault", faults, deliveries)


# --- invoices ------------------------------------------------------------------

BAD_AMOUNTS = ["-5,00", "2.100", "12,345", "abc", ""]


def invoice_file(rows: int) -> tuple[bytes, dict[str, Decimal], int]:
    """A CSV (Excel's `;`, Brazilian amounts) whose every 9th row is bad; the good rows' amounts by number."""
    lines, good, bad = ["numero;cliente;valor;data_emissao;descricao"], {}, 0
    for n in range(1, rows + 1):
        number, amount = f"NF-{n:04d}", Decimal(n * 7919 % 100_000) / 100
        text = f"{amount:,.2f}".replace(",", "X").replace(".", ",").replace("X", ".")  # 1.234,56
        issued = f"{1 + n % 28:02d}/10/2025"
        if n % 9 == 0:
            bad += 1
            problem = n // 9 % 3
            if problem == 0:
                text = BAD_AMOUNTS[n // 27 % len(BAD_AMOUNTS)]
            elif problem == 1:
                issued = "31/02/2025"
            else:
                number = ""
        else:
            good[number] = amount
        lines.append(f'{number};Cliente {n % 7};{text};{issued};"Serviço; mês {n}"')
    return ("\r\n".join(lines) + "\r\n").encode("utf-8"), good, bad


def test_invoices_under_faults_are_each_stored_once_with_exact_counts_and_one_report(client, runner, faults,
                                                                                      deliveries, monkeypatch):
    monkeypatch.setenv("INVOICE_INGEST_TIME_BUDGET_SECONDS", "0")  # a hand-over to a continuation after every row
    invoices.reset()
    body, good, bad = invoice_file(400)
    uploads = "InvoiceUploadsTable"
    faults.rate = RATE
    faults.lose_answer("dynamodb", "PutItem", where=where(uploads, Item=lambda item: item["sk"] == {"S": "RUN"}))
    faults.lose_answer("dynamodb", "UpdateItem", calls=2, where=where(uploads, UpdateExpression=":next"))
    faults.lose_answer("dynamodb", "UpdateItem", calls=2, where=where(uploads, UpdateExpression=TAKE_OVER))
    faults.lose_answer("dynamodb", "UpdateItem", where=where(uploads, UpdateExpression="REMOVE #lease_until"))
    # New invoices are INSERTs: an answer lost after they landed makes the retry meet them (DuplicateItem), and
    # their versioned puts then rewrite the same versions: stored once, counted once.
    faults.lose_answer("dynamodb", "BatchExecuteStatement", calls=5)
    faults.exhaust("dynamodb", "BatchExecuteStatement", calls=1)  # the reader fails: S3 retries it
    faults.exhaust("dynamodb", "BatchWriteItem", calls=1, kind=THROTTLE)  # rejected rows
    faults.exhaust("s3", "PutObject", calls=1, where=lambda p: p["Bucket"] == REPORTS)

    etag = boto3.client("s3").put_object(Bucket="notas-fiscais", Key="2025/10/notas.csv", Body=body)["ETag"]
    runner.drain()

    status = json.loads(client.http.get("/invoice-uploads?key=2025/10/notas.csv").body)
    assert (status["status"], status["rows"], status["accepted"], status["rejected"], status["superseded"]) == \
        ("completed", 400, len(good), bad, 0)
    assert Decimal(status["total_amount"]) == sum(good.values())
    stored = {i["number"]["S"]: i for i in table("InvoicesTable")}
    assert sorted(stored) == sorted(good)
    assert all(Decimal(stored[n]["amount"]["N"]) == amount for n, amount in good.items())
    report_key = f"invoice-uploads/2025/10/notas.csv@{etag.strip(chr(34))}.json"
    assert s3_keys(REPORTS, "invoice-uploads/") == [report_key] == [status["report"]["key"]]
    report = s3_json(REPORTS, report_key)
    assert {k: report[k] for k in ("status", "accepted", "rejected", "total_amount", "errors")} == \
        {k: status[k] for k in ("status", "accepted", "rejected", "total_amount", "errors")}
    assert len(faults.succeeded("s3", "PutObject", Bucket=REPORTS)) == 1
    assert dead_letters() == {} and not deliveries.gave_up()
    assert [rule.hits for rule in faults.rules] == [rule.calls for rule in faults.rules]
    show("invoices", faults, deliveries)


# --- orders --------------------------------------------------------------------

def notifications(inbox_url: str) -> list[tuple[dict, dict]]:
    sqs, found = boto3.client("sqs"), []
    while messages := sqs.receive_message(QueueUrl=inbox_url, MaxNumberOfMessages=10).get("Messages", []):
        for message in messages:
            envelope = json.loads(message["Body"])
            found.append((json.loads(envelope["Message"]),
                          {k: v["Value"] for k, v in envelope.get("MessageAttributes", {}).items()}))
            sqs.delete_message(QueueUrl=inbox_url, ReceiptHandle=message["ReceiptHandle"])
    return found


def orders_left(ids) -> list[dict]:
    """The orders not yet COMPLETED and notified."""
    found = [from_item(i) for i in table("OrdersTable") if i["orderId"]["S"] in ids]
    return [o for o in found if o["status"] != "COMPLETED" or "notifiedAt" not in o] + \
        [{"orderId": i, "status": "missing"} for i in set(ids) - {o["orderId"] for o in found}]


def test_orders_under_faults_complete_each_with_one_notification(client, runner, faults, deliveries, inbox,
                                                                monkeypatch):
    monkeypatch.setenv("ORDERS_REQUEUE_AFTER_SECONDS", "0")
    catalog = {f"p-{n}": Decimal(f"{n}.{n * 3 % 100:02d}") for n in range(1, 11)}
    for product_id, price in catalog.items():  # the catalog's prices, stored beforehand (no faults)
        boto3.resource("dynamodb").Table("ProductTable").put_item(Item={"id": product_id, "name": "x", "price": price})
    orders = "OrdersTable"
    faults.rate = RATE
    faults.exhaust("dynamodb", "PutItem", calls=2, where=where(orders))  # the API answers 5xx: the client retries
    faults.lose_answer("dynamodb", "PutItem", calls=2, where=where(orders))  # stored, the retry finds it
    faults.exhaust("sqs", "SendMessage", calls=3)  # the API's fast path fails: the sweep queues those
    faults.exhaust("dynamodb", "UpdateItem", calls=2, where=where(orders, UpdateExpression="list_append"))
    faults.lose_answer("dynamodb", "UpdateItem", calls=3, where=where(orders, UpdateExpression="list_append"))
    faults.lose_answer("dynamodb", "UpdateItem", calls=2, where=where(orders, UpdateExpression="#until = :until"))
    faults.lose_answer("dynamodb", "UpdateItem", calls=2, where=where(orders, UpdateExpression="#notifiedAt"))
    faults.exhaust("dynamodb", "BatchGetItem", calls=1, kind=THROTTLE)
    faults.exhaust("sns", "Publish", calls=2)
    published_twice = faults.lose_answer("sns", "Publish", calls=2)  # SNS has it; botocore publishes it again

    expected, statuses, contacts = {}, Counter(), {}
    for n in range(50):
        items = [{"productId": f"p-{1 + n % 10}", "quantity": 1 + n % 3},
                 {"productId": f"free-{n}", "quantity": 2, "unitPrice": f"{n}.50"}]
        accepted, answers = post(client, "/orders", {"customerId": f"c-{n % 5}", "items": items,
                                                     "notify": f"c{n}@example.com"}, key=f"order-{n}")
        statuses.update(answers)
        expected[accepted["orderId"]] = (catalog[items[0]["productId"]] * items[0]["quantity"]
                                         + Decimal(f"{n}.50") * 2)
        contacts[accepted["orderId"]] = f"c{n}@example.com"
    sweep = next(s for s in runner.schedules if s.name == "sweep_orders")
    runner.drain()
    assert {o["status"] for o in orders_left(expected)} <= {"RECEIVED"}  # only those whose send failed
    runner.deliver_schedule(sweep)  # queues them again (and every other order still waiting for its turn)
    runner.drain()
    assert orders_left(expected) == []  # at once: nothing waits for a lease to run out

    for order in (from_item(i) for i in table("OrdersTable")):
        assert order["total"] == expected[order["orderId"]]
        assert [h["status"] for h in order["history"]] == ["RECEIVED", "PROCESSING", "COMPLETED"]
        assert "pendingShard" not in order
        assert "notify" not in order  # the contact went with the write that recorded the notification
    received = notifications(inbox)
    per_order = Counter(message["orderId"] for message, _ in received)
    assert set(per_order) == set(expected)
    for message, attributes in received:
        assert attributes["notificationId"] == f"{message['orderId']}:COMPLETED"
        assert Decimal(message["total"]) == expected[message["orderId"]]
        assert message["contact"] == contacts[message["orderId"]]  # every publish, a retried one too, carries it
    # The one way to a second notification: SNS accepted a publish whose answer was lost, and botocore
    # published it again; a subscriber deduplicates on notificationId (the same, asserted above).
    duplicates = sum(per_order.values()) - len(per_order)
    assert duplicates == faults.applied_then_lost[("sns", "Publish")] >= published_twice.hits
    assert dead_letters() == {}
    assert [rule.hits for rule in faults.rules] == [rule.calls for rule in faults.rules]
    show("orders", faults, deliveries, api_answers=dict(statuses), duplicate_notifications=duplicates)
