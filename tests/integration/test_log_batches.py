"""The log batch flow against moto: upload → splitter → queue → worker → counts → one report."""
import gzip
import json
import threading
import uuid

import boto3
import pytest

from chalicelib import aws, bootstrap
from chalicelib.logbatch import service as logbatch
from chalicelib.logbatch import worker as log_worker_module
from tests.events import sqs_event, sqs_record
from tests.log_records import stored_lines
from tests.logfiles import ACCESS_LINES, APP_LINES, ERROR_LINES, FORMAT_SAMPLES, JSON_LINES

INPUT, OUTPUT = "input-logs", "processed-data"


@pytest.fixture
def api_calls(aws_resources):
    """(service, operation, params) of every call made through chalicelib.aws clients."""
    calls = []

    def record(params, model, **_):
        calls.append((model.service_model.endpoint_prefix, model.name, dict(params)))
    for service in ("s3", "sqs", "dynamodb"):
        aws.client(service).meta.events.register("provide-client-params.*.*", record)
    return calls


def upload(key, body: bytes | str):
    boto3.client("s3").put_object(Bucket=INPUT, Key=key, Body=body.encode() if isinstance(body, str) else body)


def report(key):
    return json.loads(boto3.client("s3").get_object(Bucket=OUTPUT, Key=key)["Body"].read())


def records_of(batch_id):
    """The upload's stored lines, one record each in line order, however they were packed (tests/log_records.py)."""
    return stored_lines(batch_id=batch_id)


def queue_url(name):
    return boto3.client("sqs").get_queue_url(QueueName=name)["QueueUrl"]


def report_puts(calls):
    return [p for s, op, p in calls if op == "PutObject" and p["Bucket"] == OUTPUT]


DIRTY = ("\ufeff" + APP_LINES[0] + "\r\n"        # BOM, CRLF
         + "\r\n   \n"                          # blank lines (counted, not sent)
         + JSON_LINES[0] + "\n"
         + ACCESS_LINES[0] + "\n" + ERROR_LINES[0] + "\n"
         + "bad \x00 nul and \x1b[31m escape\n"  # characters SQS refuses
         + APP_LINES[3]).encode() + b"\n\xff\xfe broken utf-8 \xc3\n" + APP_LINES[4].encode()  # no final newline


def test_a_dirty_upload_is_split_processed_and_reported_with_exact_counts(runner):
    upload("app.log", DIRTY)
    runner.drain()
    content = report("relatorio_app.log.json")
    assert content["status"] == "Completo"
    assert (content["total_items"], content["processed_items"], content["blank_lines"]) == (8, 8, 2)
    assert content["unparsed_items"] == 2
    assert content["by_level"] == {"ERROR": 3, "INFO": 3, "NONE": 2}
    assert content["by_status"] == {"2xx": 2, "5xx": 1, "none": 5}
    assert content["source"] == "s3://input-logs/app.log" and content["batch_id"] == "app.log"
    assert content["duration_seconds"] >= 0
    rows = records_of("app.log")
    assert [r["line"] for r in rows] == [1, 4, 5, 6, 7, 8, 9, 10]
    assert rows[0]["raw"] == APP_LINES[0]  # BOM and CR gone
    assert rows[0]["timestamp"] == "2026-11-20T10:00:01Z" and rows[0]["component"] == "AuthService"
    assert rows[4]["raw"] == "bad \x00 nul and \x1b[31m escape"  # NUL and ESC survive the queue
    assert "\ufffd" in rows[6]["raw"]  # invalid UTF-8 replaced, not fatal
    assert rows[2]["status_code"] == 200 and rows[2]["method"] == "GET"


def test_a_url_encoded_key_in_a_folder_keeps_its_prefix_in_the_report(runner):
    upload("2026/11/web access+log.txt", "\n".join(ACCESS_LINES) + "\n")
    runner.drain()
    content = report("2026/11/relatorio_web access+log.txt.json")
    assert content["batch_id"] == "2026/11/web access+log.txt" and content["processed_items"] == 2


def test_a_duplicated_s3_event_does_nothing_new(runner, api_calls):
    upload("dup.txt", "\n".join(APP_LINES))
    runner.drain()
    etag = boto3.client("s3").head_object(Bucket=INPUT, Key="dup.txt")["ETag"]
    sends_before = sum(op == "SendMessageBatch" for _, op, _ in api_calls)
    assert logbatch.log_splitter().on_upload(INPUT, "dup.txt", etag) == "duplicate"
    runner.drain()
    assert sum(op == "SendMessageBatch" for _, op, _ in api_calls) == sends_before
    assert len(records_of("dup.txt")) == 5
    assert len(report_puts(api_calls)) == 1


def test_a_changed_file_under_the_same_key_is_a_new_run_with_a_new_report(runner, client):
    upload("same.txt", "\n".join(APP_LINES))
    runner.drain()
    first = report("relatorio_same.txt.json")
    upload("same.txt", "\n".join(APP_LINES[:2]))
    runner.drain()
    second = report("relatorio_same.txt.json")
    assert (first["total_items"], second["total_items"]) == (5, 2)
    assert first["run_id"] != second["run_id"]
    status = json.loads(client.http.get("/log-batches?key=same.txt").body)
    assert status["run_id"] == second["run_id"] and status["report"]["content"]["total_items"] == 2


def test_an_empty_file_still_gets_a_report(runner):
    upload("empty.jsonl", b"")
    runner.drain()
    content = report("relatorio_empty.jsonl.json")
    assert (content["total_items"], content["processed_items"]) == (0, 0)


def test_other_files_are_ignored(runner, api_calls):
    upload("picture.png", b"\x89PNG")
    runner.drain()
    assert not any(op == "SendMessageBatch" for _, op, _ in api_calls)
    assert boto3.client("dynamodb").scan(TableName="LogBatchesTable")["Count"] == 0


def test_gzip_uploads_are_decompressed_while_streaming(runner):
    upload("archive/app.log.gz", gzip.compress(("\n".join(APP_LINES * 3) + "\n").encode()))
    runner.drain()
    assert report("archive/relatorio_app.log.gz.json")["processed_items"] == 15


@pytest.mark.parametrize("lines_per_message", [1, 4])
def test_a_tiny_time_budget_hands_over_to_continuations_without_losing_or_repeating_a_line(
        runner, api_calls, monkeypatch, lines_per_message):
    monkeypatch.setenv("LOG_SPLIT_TIME_BUDGET_SECONDS", "0")
    monkeypatch.setenv("LOG_LINES_PER_MESSAGE", str(lines_per_message))
    logbatch.reset()
    lines = [f"2026-11-20 10:00:{i % 60:02d} INFO [Svc] line {i}" for i in range(1, 24)]
    upload("slow/big.txt", "\n".join(lines[:10]) + "\n\n" + "\n".join(lines[10:]) + "\n")
    runner.drain()
    sent = [json.loads(e["MessageBody"]) for s, op, p in api_calls if op == "SendMessageBatch"
            and p["QueueUrl"].endswith("/log-processing-queue") for e in p["Entries"]]
    numbers = [line["number"] for message in sent for line in message["lines"]]
    assert sorted(numbers) == list(range(1, 11)) + list(range(12, 25))  # each once; line 11 is blank
    handovers = [p for s, op, p in api_calls if op == "SendMessage" and p["QueueUrl"].endswith("/log-split-queue")]
    assert len(handovers) >= 5
    content = report("slow/relatorio_big.txt.json")
    assert (content["total_items"], content["processed_items"], content["blank_lines"]) == (23, 23, 1)


def test_failed_entries_of_a_batch_send_are_retried_until_sent(runner, api_calls):
    sqs = aws.client("sqs")
    state = {"dropped": None}

    def drop_one(params, **_):
        if state["dropped"] is None and len(params["Entries"]) > 3:  # SQS "fails" the fourth entry
            state["dropped"] = params["Entries"][3]
            params["Entries"] = [e for e in params["Entries"] if e is not state["dropped"]]

    def report_failed(parsed, **_):
        if state["dropped"] is not None and not state.get("reported"):
            state["reported"] = True
            parsed.setdefault("Failed", []).append({"Id": state["dropped"]["Id"], "SenderFault": False,
                                                    "Code": "InternalError", "Message": "injected"})
    sqs.meta.events.register_first("provide-client-params.sqs.SendMessageBatch", drop_one)
    sqs.meta.events.register("after-call.sqs.SendMessageBatch", report_failed)
    upload("retry.txt", "\n".join(APP_LINES * 2))
    runner.drain()
    assert state["reported"]
    assert report("relatorio_retry.txt.json")["processed_items"] == 10
    assert len(records_of("retry.txt")) == 10


def worker_event(*bodies, ids=None):
    ids = ids or [str(uuid.uuid4()) for _ in bodies]
    return sqs_event(*(sqs_record(b, "log-processing-queue", i) for b, i in zip(bodies, ids)))


def start_run(key, lines, per_item=1):
    """A run whose splitting is done, without queueing its lines (the test delivers them itself); packing its
    lines `per_item` to an item, as the splitter records it (a run started before packing has no such field)."""
    tracker = bootstrap.log_runs()
    run = {"run_id": f"{key}@etag", "batch_id": key, "bucket": INPUT, "key": key, "etag": "etag",
           "started_at": "2026-11-20T10:00:00.000Z", **({"lines_per_item": per_item} if per_item != 1 else {})}
    tracker.start(run, "t", 60, checkpoint_line=0, blank_lines=0, processed=0)
    tracker.close_chunks(run["run_id"], len(lines), PER_CHUNK)  # as the splitter does: one message per line
    tracker.finish(run["run_id"], "t", "processing", total_lines=len(lines), blank_lines=0)
    return run["run_id"]


PER_CHUNK = 3  # small chunks: these runs of a few lines span several, and a section


def line_message(run_id, key, number, text, per_item=1):
    return json.dumps({"run_id": run_id, "batch_id": key, "seq": number - 1, "per_chunk": PER_CHUNK,
                       "lines": [{"number": number, "text": text}], **({"per_item": per_item} if per_item != 1 else {})})


@pytest.mark.parametrize("per_item", [1, 2])
def test_duplicate_and_out_of_order_deliveries_count_each_line_once(client, api_calls, per_item):
    run_id = start_run("dups.txt", APP_LINES, per_item)
    bodies = [line_message(run_id, "dups.txt", n, t, per_item) for n, t in enumerate(APP_LINES, 1)]
    invoke = lambda *b: client.lambda_.invoke("process_log_lines", worker_event(*b)).payload  # noqa: E731
    assert invoke(bodies[4], bodies[2], bodies[2]) == {"batchItemFailures": []}  # same message twice in a batch
    invoke(bodies[2], bodies[0])                                                  # redelivered later
    invoke(bodies[3], bodies[1], bodies[4])
    invoke(*bodies)                                                               # everything again
    content = report("relatorio_dups.txt.json")
    assert (content["total_items"], content["processed_items"]) == (5, 5)
    assert content["by_level"] == {"DEBUG": 1, "ERROR": 1, "INFO": 2, "WARN": 1}
    assert [(r["line"], r["raw"]) for r in records_of("dups.txt")] == list(enumerate(APP_LINES, 1))
    # Packed, lines 1-2, 3-4 and 5 are three items, each merged into by the batches its lines came in.
    ids = sorted(item["id"]["S"] for item in boto3.client("dynamodb").scan(TableName="ProcessedLogsTable")["Items"])
    assert ids == ([f"{run_id}#{n:09d}" for n in range(1, 6)] if per_item == 1 else
                   [f"{run_id}#G{g:09d}" for g in range(3)])
    assert len(report_puts(api_calls)) == 1
    assert not [op for _, op, _ in api_calls if op == "TransactWriteItems"]  # 2 write units an item: not here
    slot_updates = [p for _, op, p in api_calls if op == "UpdateItem" and "#slots" in p["UpdateExpression"]]
    # One counting write per chunk a batch touches (lines 1-3 are chunk 0, 4-5 chunk 1), plus the retries
    # one at a time of batches that held an already counted message.
    assert len(slot_updates) <= 2 * 4 + 5 + 5


# Every format's fields, problem lines of each kind, an unparsed line, and one too big to pack (records.py
# OWN_ITEM_BYTES): what the API and the report show of a line must not depend on how it was stored.
SHOWN_LINES = [*APP_LINES, *JSON_LINES, *ACCESS_LINES, *ERROR_LINES, *(line for _, line in FORMAT_SAMPLES),
               "free text that no parser knows, ünïcödé 😀", "2026-11-20 10:00:30 ERROR [Big] " + "ü" * 3000,
               '192.0.2.9 - - [20/Nov/2026:10:00:31 +0000] "GET /boom HTTP/1.1" 503 7']


def test_packed_lines_read_back_as_lines_stored_one_to_an_item_do(client):
    """The same lines stored one to an item and three to an item, delivered out of order, in batches that
    split items, and again: the API's pages, the report, each stored field and the records read are the same."""
    pages, reports, stored, read = {}, {}, {}, {}
    numbers = list(range(1, len(SHOWN_LINES) + 1))
    for per_item in (1, 3):
        key = f"packed-{per_item}.log"
        run_id = start_run(key, SHOWN_LINES, per_item)
        bodies = [line_message(run_id, key, n, text, per_item) for n, text in zip(numbers, SHOWN_LINES)]
        backwards = bodies[::-1]
        for start in range(0, len(bodies), 4):  # 4 lines a batch, last first: most items are merged into twice
            assert client.lambda_.invoke("process_log_lines", worker_event(*backwards[start:start + 4])).payload \
                == {"batchItemFailures": []}
        client.lambda_.invoke("process_log_lines", worker_event(*bodies[:5], bodies[0]))  # redelivered, twice over
        status, page = lines_page(client, f"key={key}&level=WARN&limit=100")
        assert status == 200
        pages[per_item] = page
        reports[per_item] = {k: v for k, v in report(f"relatorio_{key}.json").items()
                             if k not in ("batch_id", "source", "run_id", "started_at", "completed_at", "duration_seconds")}
        # Not the run's, nor the batch's time (nor the expiry, from the wall clock here: these messages have no
        # received_at), which differ between the two uploads.
        stored[per_item] = [{k: v for k, v in r.items() if k not in ("id", "item", "run_id", "batch_id",
                                                                     "processed_at", "ttl", "status_class")}
                            for r in records_of(key)]
        read[per_item] = {n: {k: v for k, v in r.items() if k not in ("id", "run_id", "batch_id", "processed_at",
                                                                      "ttl")}
                          for n, r in bootstrap.log_records().lines(run_id, numbers, per_item).items()}
        assert all(r["id"] == f"{run_id}#{n:09d}" and r["run_id"] == run_id and r["batch_id"] == key
                   for n, r in bootstrap.log_records().lines(run_id, numbers, per_item).items())
    assert len(pages[1]["items"]) >= 8 and pages[3] == pages[1]
    assert reports[1]["unparsed_lines"] and reports[3] == reports[1]
    assert [r["line"] for r in stored[1]] == numbers and stored[3] == stored[1]
    assert sorted(read[1]) == numbers and read[3] == read[1]
    assert [list(r) for r in read[3].values()] == [list(r) for r in read[1].values()]  # the fields' order too
    items = [item["id"]["S"] for item in boto3.client("dynamodb").scan(TableName="ProcessedLogsTable")["Items"]
             if item["id"]["S"].startswith("packed-3.log@")]
    big = SHOWN_LINES.index(SHOWN_LINES[-2]) + 1  # the only line of its own in a packed run
    assert sorted(items) == sorted([f"packed-3.log@etag#G{g:09d}" for g in range(-(-len(numbers) // 3))]
                                   + [f"packed-3.log@etag#{big:09d}"])


def test_a_malformed_message_fails_alone_and_the_rest_are_stored(client):
    run_id = start_run("mixed.txt", APP_LINES[:2])
    result = client.lambda_.invoke("process_log_lines", worker_event(
        line_message(run_id, "mixed.txt", 1, APP_LINES[0]), "not json", line_message(run_id, "mixed.txt", 2, "x"),
        ids=["a", "bad", "c"])).payload
    assert result == {"batchItemFailures": [{"itemIdentifier": "bad"}]}
    assert report("relatorio_mixed.txt.json")["processed_items"] == 2


def test_two_workers_finishing_together_write_the_report_once(client, api_calls):
    # SQS delivers the last line twice at once: both workers find the run complete (one by counting it, the
    # other by re-reading the chain behind its duplicate) and both try to write the report.
    run_id = start_run("race.txt", APP_LINES[:2])
    first, last = (line_message(run_id, "race.txt", n, t) for n, t in enumerate(APP_LINES[:2], 1))
    client.lambda_.invoke("process_log_lines", worker_event(first))
    barrier = threading.Barrier(2)
    tracker = bootstrap.log_runs()
    count, claim, update = tracker.count, tracker.claim_report, tracker._conditional_update
    atomic = threading.Lock()  # DynamoDB applies a conditional write atomically; moto's in-process backend does not

    def count_then_wait(*args, **kwargs):
        result = count(*args, **kwargs)
        barrier.wait(30)  # both workers have counted: both will see processed == total (slow under load)
        return result

    def atomically(write):
        def run(*args, **kwargs):
            with atomic:
                return write(*args, **kwargs)
        return run
    claims = []
    tracker.count, tracker._conditional_update = count_then_wait, atomically(update)
    tracker.claim_report = lambda *a, **k: claims.append(atomically(claim)(*a, **k)) or claims[-1]
    threads = [threading.Thread(target=client.lambda_.invoke, args=("process_log_lines", worker_event(last)))
               for _ in range(2)]
    [t.start() for t in threads]
    [t.join(40) for t in threads]
    assert report("relatorio_race.txt.json")["processed_items"] == 2
    assert len(claims) == 2 and sum(c is not None for c in claims) == 1  # both tried, one won
    assert len(report_puts(api_calls)) == 1


def test_a_poison_line_goes_to_the_dlq_and_a_redrive_completes_the_batch(runner, monkeypatch):
    sqs = boto3.client("sqs")
    sqs.set_queue_attributes(QueueUrl=queue_url("log-processing-queue"), Attributes={"VisibilityTimeout": "0"})
    original = log_worker_module.line_record
    monkeypatch.setattr(log_worker_module, "line_record", lambda m, line, at: (_ for _ in ()).throw(RuntimeError("flaky"))
                        if "POISON" in line.text else original(m, line, at))
    upload("poison.txt", "\n".join(APP_LINES[:3] + ["2026-11-20 10:00:09 INFO [X] POISON"]))
    runner.drain()
    dlq = queue_url("log-processing-queue-dlq")
    assert int(sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["ApproximateNumberOfMessages"])
               ["Attributes"]["ApproximateNumberOfMessages"]) == 1
    status = logbatch.log_batch_status("poison.txt")
    # Progress is counted a chunk at a time, and this run's one chunk waits for its poisoned line.
    assert (status["status"], status["processed_items"], status["total_items"]) == ("processing", 0, 4)

    monkeypatch.setattr(log_worker_module, "line_record", original)  # the fault is fixed; redrive the DLQ
    for message in sqs.receive_message(QueueUrl=dlq, MaxNumberOfMessages=10)["Messages"]:
        sqs.send_message(QueueUrl=queue_url("log-processing-queue"), MessageBody=message["Body"])
        sqs.delete_message(QueueUrl=dlq, ReceiptHandle=message["ReceiptHandle"])
    runner.drain()
    assert report("relatorio_poison.txt.json")["processed_items"] == 4


def test_status_endpoint_shows_progress_and_rejects_unknown_or_missing_keys(runner, client):
    upload("watch.txt", "\n".join(APP_LINES))
    runner.drain()
    status = json.loads(client.http.get("/log-batches?key=watch.txt").body)
    assert (status["status"], status["progress"], status["total_items"]) == ("completed", 1.0, 5)
    assert status["report"]["key"] == "relatorio_watch.txt.json"
    assert client.http.get("/log-batches?key=nope.txt").status_code == 404
    assert client.http.get("/log-batches").status_code == 400


def test_an_upload_replaced_before_it_is_split_is_superseded_by_the_newer_one(runner, client):
    upload("fast.txt", "\n".join(APP_LINES))
    upload("fast.txt", "\n".join(APP_LINES[:3]))  # both events are still queued
    runner.drain()
    assert report("relatorio_fast.txt.json")["total_items"] == 3
    runs = boto3.client("dynamodb").scan(TableName="LogBatchesTable", FilterExpression="sk = :run",
                                         ExpressionAttributeValues={":run": {"S": "RUN"}})["Items"]
    assert sorted(r["status"]["S"] for r in runs) == ["completed", "superseded"]


# --- counting across chunks and sections, and the problem lines ----------------------

def test_counts_stay_exact_across_chunks_and_sections_in_any_order_with_duplicates(client, monkeypatch):
    # Tiny sections so 40 messages of 3 per chunk roll up through 14 chunks and 4 sections.
    monkeypatch.setattr("chalicelib.logbatch.repository.SECTION_CHUNKS", 4)
    lines = [APP_LINES[n % len(APP_LINES)] for n in range(40)]
    run_id = start_run("sections.txt", lines)
    bodies = [line_message(run_id, "sections.txt", n, t) for n, t in enumerate(lines, 1)]
    order = bodies[::-1][:25] + bodies[5:30] + bodies  # backwards, then overlapping redeliveries, then all again
    for start in range(0, len(order), 7):
        assert client.lambda_.invoke("process_log_lines", worker_event(*order[start:start + 7])).payload == \
            {"batchItemFailures": []}
    content = report("relatorio_sections.txt.json")
    assert (content["total_items"], content["processed_items"]) == (40, 40)
    assert content["by_level"] == {"DEBUG": 8, "ERROR": 8, "INFO": 16, "WARN": 8}
    run = bootstrap.log_runs().get(run_id)
    assert sorted(int(s) for s in run["rolled_sections"]) == [0, 1, 2, 3]


PROBLEM_FILE = [f"2026-11-20 10:00:{n % 60:02d} {'ERROR' if n % 7 == 0 else 'WARN' if n % 5 == 0 else 'INFO'} "
                f"[Api] request {n} status={503 if n % 11 == 0 else 200}" for n in range(1, 251)]


def lines_page(client, query: str) -> tuple[int, dict]:
    response = client.http.get(f"/log-batches/lines?{query}")
    return response.status_code, json.loads(response.body)


def all_lines(client, query: str, limit: int) -> list[int]:
    found, cursor = [], None
    while True:
        status, page = lines_page(client, f"{query}&limit={limit}" + (f"&next={cursor}" if cursor else ""))
        assert status == 200, page
        found += [item["line"] for item in page["items"]]
        cursor = page["next"]
        if not cursor:
            return found


def test_a_batch_lists_its_problem_lines_by_level_and_status_across_pages(runner, client):
    upload("problems.log", "\n".join(PROBLEM_FILE))  # 250 lines: three chunks
    runner.drain()
    errors = [n for n in range(1, 251) if n % 7 == 0]
    warnings = [n for n in range(1, 251) if n % 5 == 0 and n % 7]
    five_hundreds = [n for n in range(1, 251) if n % 11 == 0]
    assert all_lines(client, "key=problems.log&level=ERROR", limit=4) == errors
    assert all_lines(client, "key=problems.log&level=warning", limit=100) == sorted(errors + warnings)
    assert all_lines(client, "key=problems.log&status=5xx", limit=3) == five_hundreds
    assert all_lines(client, "key=problems.log&level=ERROR&status=5xx", limit=2) == [n for n in errors if n % 11 == 0]
    status, page = lines_page(client, "key=problems.log&level=ERROR&limit=1")
    assert page["items"][0] | {"raw": PROBLEM_FILE[6]} == page["items"][0]
    assert (page["items"][0]["level"], page["items"][0]["line"], "run_id" in page["items"][0]) == ("ERROR", 7, False)


def test_problem_line_queries_that_cannot_be_answered_are_4xx_json_errors(runner, client):
    upload("few.log", "\n".join(PROBLEM_FILE[:20]))
    runner.drain()
    for query, field, code in [("level=ERROR", "key", 400), ("key=nope.log", "key", 404),
                               ("key=few.log&level=INFO", "level", 400), ("key=few.log&level=loud", "level", 400),
                               ("key=few.log&status=4xx", "status", 400), ("key=few.log&limit=0", "limit", 400),
                               ("key=few.log&next=garbage", "next", 400)]:
        status, body = lines_page(client, query)
        assert (status, body["errors"][0]["field"]) == (code, field), (query, body)
    status, page = lines_page(client, "key=few.log&level=WARN&limit=1")
    upload("few.log", "\n".join(PROBLEM_FILE[:30]))  # uploaded again: the cursor belongs to the old run
    runner.drain()
    status, body = lines_page(client, f"key=few.log&level=WARN&next={page['next']}")
    assert (status, body["errors"][0]["field"]) == (400, "next")
    assert all_lines(client, "key=few.log&level=WARN", limit=100) == [n for n in range(1, 31) if n % 5 == 0 or n % 7 == 0]
