"""The local console's data functions and HTTP endpoints, against moto in this process."""
import json
import threading
import urllib.request
from urllib.error import HTTPError
from urllib.parse import urlencode

import boto3
import pytest
from moto import mock_aws

from local_runtime.console import ConsoleData, ConsoleServer, render_live
from local_runtime.faults import FaultSwitch
from local_runtime.runner import Delivery, History

ENV = {"LOG_BATCHES_TABLE_NAME": "LogBatchesTable", "INVOICE_UPLOADS_TABLE_NAME": "InvoiceUploadsTable",
       "ORDERS_TABLE_NAME": "OrdersTable", "REPORTS_BUCKET_NAME": "reports"}


@pytest.fixture
def session():
    with mock_aws():
        yield boto3.session.Session(region_name="us-east-1")


def make_queue(session, name, max_receives=5):
    sqs = session.client("sqs")
    dlq = sqs.create_queue(QueueName=f"{name}-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    url = sqs.create_queue(QueueName=name, Attributes={"RedrivePolicy": json.dumps(
        {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(max_receives)})})["QueueUrl"]
    return url, dlq


def all_messages(session, url):
    sqs, found = session.client("sqs"), []
    while batch := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=60,
                                       MessageAttributeNames=["All"]).get("Messages", []):
        found += batch
    return found


def test_queue_stats_show_visible_in_flight_and_dead_messages_per_queue(session):
    url, dlq = make_queue(session, "work", max_receives=3)
    sqs = session.client("sqs")
    for body in ("a", "b", "c"):
        sqs.send_message(QueueUrl=url, MessageBody=body)
    sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1, VisibilityTimeout=60)
    sqs.send_message(QueueUrl=dlq, MessageBody="dead")
    sqs.create_queue(QueueName="local-runtime-sns-topic")

    queues = ConsoleData(session, ENV).queues()
    assert [q["name"] for q in queues] == ["work", "local-runtime-sns-topic"]  # DLQs are columns, not rows
    work, internal = queues
    assert (work["visible"], work["in_flight"], work["max_receive_count"], work["internal"]) == (2, 1, 3, False)
    assert (work["dlq"]["name"], work["dlq"]["messages"]) == ("work-dlq", 1)
    assert internal["internal"] and internal["dlq"] is None


def test_peek_shows_a_dlq_message_and_leaves_it_there(session):
    url, dlq = make_queue(session, "work")
    session.client("sqs").send_message(QueueUrl=dlq, MessageBody='{"name": "pen"}', MessageAttributes={
        "correlation_id": {"DataType": "String", "StringValue": "req-1"}})
    data = ConsoleData(session, ENV)

    [peeked] = data.peek("work-dlq")
    assert (peeked["body"], peeked["correlation_id"], peeked["attributes"]) == (
        '{"name": "pen"}', "req-1", {"correlation_id": "req-1"})
    assert [m["Body"] for m in all_messages(session, dlq)] == ['{"name": "pen"}']


def test_peek_refuses_a_queue_with_a_redrive_policy_and_unknown_queues(session):
    make_queue(session, "work")
    data = ConsoleData(session, ENV)
    with pytest.raises(PermissionError):
        data.peek("work")  # each receive would count towards moving its messages to the DLQ
    with pytest.raises(LookupError):
        data.peek("nope")


def test_redrive_moves_every_dlq_message_back_with_its_attributes(session):
    url, dlq = make_queue(session, "work")
    sqs = session.client("sqs")
    sent = {}
    for i in range(13):  # more than one receive's worth
        attributes = {"correlation_id": {"DataType": "String", "StringValue": f"req-{i}"},
                      "attempt": {"DataType": "Number", "StringValue": str(i)},
                      "blob": {"DataType": "Binary", "BinaryValue": bytes([i])}}
        sqs.send_message(QueueUrl=dlq, MessageBody=f"body {i}", MessageAttributes=attributes)
        sent[f"body {i}"] = attributes

    assert ConsoleData(session, ENV).redrive("work-dlq") == {"moved": 13, "from": "work-dlq", "to": "work",
                                                              "failed": []}
    assert all_messages(session, dlq) == []
    back = all_messages(session, url)
    assert sorted(m["Body"] for m in back) == sorted(sent)
    for message in back:
        kept = {name: {k: v for k, v in value.items() if k in ("DataType", "StringValue", "BinaryValue")}
                for name, value in message["MessageAttributes"].items()}
        assert kept == sent[message["Body"]]


def test_redrive_needs_a_queue_that_is_some_queue_s_dlq(session):
    make_queue(session, "work")
    data = ConsoleData(session, ENV)
    with pytest.raises(LookupError, match="no queue"):
        data.redrive("missing-dlq")
    with pytest.raises(LookupError, match="DLQ of 0 queues"):
        data.redrive("work")


def delivery(cid_list, handler="h", failed=0):
    return Delivery("sqs", "q", handler, max(1, len(cid_list)), failed, "ok", 1.0, tuple(cid_list))


def test_the_delivery_history_filters_by_correlation_id_newest_first_and_stays_bounded():
    history = History(size=3)
    first, second, third = delivery(["req-1"]), delivery(["req-2", "log/a.log@etag"]), delivery([])
    for d in (first, second, third):
        history.add(d)
    assert history.deliveries() == [third, second, first]
    assert history.deliveries("req-1") == [first]
    assert history.deliveries("log/a.log") == [second]  # part of an id: a run id starts with its upload key
    assert history.deliveries("  ") == [third, second, first]
    assert history.deliveries("nothing") == []
    fourth = delivery(["req-4"])
    history.add(fourth)
    assert history.deliveries() == [fourth, third, second]


def test_the_state_lists_deliveries_and_sns_messages_matching_the_filter(session):
    history = History()
    history.add(delivery(["req-1"]))
    history.add(delivery(["req-2"], failed=1))
    history.add_notification({"at": 1.0, "topic": "t", "subject": None, "message": "m", "message_id": "1",
                              "attributes": {}, "correlation_id": "req-2"})
    state = ConsoleData(session, {}, history=history).state("req-2")
    assert [d["correlation_ids"] for d in state["deliveries"]] == [["req-2"]]
    assert [n["message"] for n in state["notifications"]] == ["m"]
    assert state["log_batches"] is None and state["orders"] is None  # not in this stage: said, not an error
    page = render_live(state, api=None)
    assert 'data-cid="req-2"' in page and 'data-cid="req-1"' not in page


def make_runs_table(session, name):
    session.client("dynamodb").create_table(
        TableName=name, BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                              {"AttributeName": "sk", "AttributeType": "S"}])


def put_latest(session, table, key, run_id, uploaded_at):
    session.client("dynamodb").put_item(TableName=table, Item={
        "pk": {"S": f"LATEST#{key}"}, "sk": {"S": "LATEST"}, "run_id": {"S": run_id},
        "uploaded_at": {"S": uploaded_at}})
    session.client("dynamodb").put_item(TableName=table, Item={"pk": {"S": run_id}, "sk": {"S": "RUN"}})


def test_log_batches_are_the_newest_uploads_with_progress_and_finished_runs_are_read_once(session):
    make_runs_table(session, "LogBatchesTable")
    put_latest(session, "LogBatchesTable", "old.log", "old.log@1", "2026-01-01T00:00:00Z")
    put_latest(session, "LogBatchesTable", "new.log", "new.log@2", "2026-01-02T00:00:00Z")
    calls = []
    statuses = {
        "old.log": {"run_id": "old.log@1", "status": "completed", "total_items": 10, "processed_items": 10,
                    "report": {"bucket": "processed", "key": "relatorio_old.log.json", "content": {"big": 1}}},
        "new.log": {"run_id": "new.log@2", "status": "processing", "total_items": 200, "processed_items": 100},
    }

    def status(key):
        calls.append(key)
        return statuses[key]

    data = ConsoleData(session, ENV, log_status=status)
    batches = data.log_batches()
    assert [(b["key"], b["percent"], b["status"]) for b in batches] == [("new.log", 50, "processing"),
                                                                       ("old.log", 100, "completed")]
    assert batches[1]["report"] == {"bucket": "processed", "key": "relatorio_old.log.json"}  # content left out
    data.log_batches()
    assert calls == ["new.log", "old.log", "new.log"]


def test_orders_are_counted_by_status(session):
    session.client("dynamodb").create_table(
        TableName="OrdersTable", BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "orderId", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "orderId", "AttributeType": "S"}])
    for i, status in enumerate(["COMPLETED", "RECEIVED", "COMPLETED", "FAILED"]):
        session.client("dynamodb").put_item(TableName="OrdersTable", Item={
            "orderId": {"S": str(i)}, "status": {"S": status}})
    assert ConsoleData(session, ENV).orders_by_status() == {"COMPLETED": 2, "FAILED": 1, "RECEIVED": 1}


def test_reports_are_served_only_from_report_buckets(session):
    session.client("s3").create_bucket(Bucket="reports")
    session.client("s3").create_bucket(Bucket="private")
    session.client("s3").put_object(Bucket="reports", Key="r.json", Body=b"{}", ContentType="application/json")
    data = ConsoleData(session, ENV)
    assert data.report("reports", "r.json") == (b"{}", "application/json")
    with pytest.raises(PermissionError):
        data.report("private", "r.json")


@pytest.fixture
def console(session):
    url, dlq = make_queue(session, "work")
    server = ConsoleServer(ConsoleData(session, ENV, faults=FaultSwitch()), port=0, sqs_handlers=["work"]).start()
    try:
        yield server, url, dlq
    finally:
        server.stop()


def call(server, path, form=None):
    data = urlencode(form).encode() if form is not None else None
    request = urllib.request.Request(server.url + path, data=data, method="POST" if form is not None else "GET")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode()
    except HTTPError as error:
        return error.code, error.read().decode()


def test_the_page_and_its_endpoints_over_http(console, session):
    server, url, dlq = console
    session.client("sqs").send_message(QueueUrl=dlq, MessageBody="dead <b>body</b>")
    status, page = call(server, "/?cid=x")
    assert status == 200 and 'id="cid-filter"' in page and 'value="x"' in page
    assert 'data-queue="work"' in page and 'data-dlq-messages="1"' in page and 'id="redrive-work"' in page

    status, answer = call(server, "/api/faults", {"match": "bad", "handler": "work"})
    assert status == 200 and json.loads(answer)["rules"] == [{"handler": "work", "match": "bad"}]
    assert call(server, "/api/faults", {"match": "bad", "handler": "not_a_handler"})[0] == 400
    assert call(server, "/api/faults", {"match": " ", "handler": "work"})[0] == 400
    assert 'data-match="bad"' in call(server, "/live")[1]

    status, answer = call(server, "/api/peek?queue=work-dlq")
    assert status == 200 and json.loads(answer)["messages"][0]["body"] == "dead <b>body</b>"
    assert call(server, "/api/peek?queue=work")[0] == 403

    status, answer = call(server, "/api/redrive", {"dlq": "work-dlq"})
    assert status == 200 and json.loads(answer)["moved"] == 1
    assert [m["Body"] for m in all_messages(session, url)] == ["dead <b>body</b>"]

    assert json.loads(call(server, "/api/faults/clear", {"match": "bad"})[1])["removed"] == 1
    assert call(server, "/nowhere")[0] == 404

    session.client("s3").create_bucket(Bucket="reports")
    session.client("s3").put_object(Bucket="reports", Key="demo/relatorio.json", Body=b'{"total": 3}')
    assert call(server, "/report?bucket=reports&key=demo/relatorio.json") == (200, '{"total": 3}')
    assert call(server, "/report?bucket=elsewhere&key=x")[0] == 403


def report_answer(server, bucket, key) -> tuple[int, dict[str, str], bytes]:
    url = server.url + "/report?" + urlencode({"bucket": bucket, "key": key})
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.status, dict(response.headers), response.read()


def test_a_report_is_served_as_json_or_as_an_attachment_never_with_its_stored_type(console, session):
    server, _, _ = console
    s3 = session.client("s3")
    s3.create_bucket(Bucket="reports")
    page = b"<html><script>fetch('/api/redrive')</script></html>"
    s3.put_object(Bucket="reports", Key="x/page.html", Body=page, ContentType="text/html")
    s3.put_object(Bucket="reports", Key="x/r.json", Body=b'{"total": 3}', ContentType="text/html")
    s3.put_object(Bucket="reports", Key='x/rel "1"\r\n.txt', Body=b"total: 3\n", ContentType="text/plain")

    status, headers, body = report_answer(server, "reports", "x/page.html")
    assert (status, body, headers["Content-Type"]) == (200, page, "application/octet-stream")
    assert headers["Content-Disposition"] == 'attachment; filename="page.html"'
    assert "sandbox" in headers["Content-Security-Policy"] and headers["X-Content-Type-Options"] == "nosniff"

    status, headers, body = report_answer(server, "reports", "x/r.json")  # JSON, whatever it was stored as
    assert (status, body, headers["Content-Type"]) == (200, b'{"total": 3}', "application/json")
    assert "Content-Disposition" not in headers

    status, headers, _ = report_answer(server, "reports", 'x/rel "1"\r\n.txt')  # the name cannot break the header
    assert headers["Content-Disposition"] == 'attachment; filename="rel__1___.txt"'


def test_message_text_is_escaped_in_the_page(session):
    history = History()
    history.add(Delivery("sqs", "q", "h", 1, 1, "raised ValueError: <script>alert(1)</script>", 1.0, ("<i>",)))
    page = render_live(ConsoleData(session, {}, history=history).state(), api=None)
    assert "<script>alert(1)" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<i>" not in page


def test_the_server_answers_requests_at_once(console):
    server, _, _ = console
    answers = []
    threads = [threading.Thread(target=lambda: answers.append(call(server, "/api/state")[0])) for _ in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert answers == [200] * 5


def test_pages_of_other_sites_and_other_host_names_are_refused(console):
    server, _, _ = console
    # a form on any site the developer has open could otherwise poison a handler
    foreign = urllib.request.Request(server.url + "/api/faults", data=urlencode({"match": "x", "handler": "work"})
                                     .encode(), method="POST", headers={"Origin": "http://evil.example"})
    with pytest.raises(HTTPError) as refused:
        urllib.request.urlopen(foreign, timeout=10)
    assert refused.value.code == 403
    assert json.loads(call(server, "/api/faults")[1])["rules"] == []
    # a DNS name rebound to 127.0.0.1 could otherwise read DLQ bodies
    rebound = urllib.request.Request(server.url + "/api/state", headers={"Host": "evil.example"})
    with pytest.raises(HTTPError) as refused:
        urllib.request.urlopen(rebound, timeout=10)
    assert refused.value.code == 403
    own = urllib.request.Request(server.url + "/api/faults/clear", data=b"match=x", method="POST",
                                 headers={"Origin": server.url})
    assert urllib.request.urlopen(own, timeout=10).status == 200


def test_redrive_moves_messages_too_long_to_send_ten_at_a_time(session):
    url, dlq = make_queue(session, "work")
    sqs = session.client("sqs")
    for i in range(10):
        sqs.send_message(QueueUrl=dlq, MessageBody=f"{i}" + "x" * 100_000)  # 1 MB: over one batch's limit
    assert ConsoleData(session, ENV).redrive("work-dlq")["moved"] == 10
    assert sorted(m["Body"][0] for m in all_messages(session, url)) == [str(i) for i in range(10)]
