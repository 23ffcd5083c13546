"""A large log upload split by several readers at once (issue 22), against moto.

The stage's part size is forced down to a few KB so that a file of a few hundred lines is planned into several
byte ranges (chalicelib/streaming/parts.py), each read by its own reader. What must hold is what holds for one
reader: every line stored and counted once under its real line number in the file, the problem-lines API
showing those numbers, exact counts, and exactly one report.
"""
import json

import boto3
import pytest

from chalicelib import aws
from chalicelib.logbatch import service as logbatch
from chalicelib.logbatch.completion import report_key_for
from chalicelib.logbatch.repository import LogRunRepository
from chalicelib.streaming.runs import part_run_id
from tests.events import s3_event

INPUT, OUTPUT = "input-logs", "processed-data"


def make_log(count: int) -> list[str]:
    """Lines 1..count: an ERROR every 7th, a blank line every 50th, an unparsed one every 60th, and a long one
    every 45th (so that a cut can fall inside a line)."""
    lines = []
    for n in range(1, count + 1):
        if n % 50 == 0:
            lines.append("")
        elif n % 60 == 0:
            lines.append(f"garbage number {n}")
        else:
            level = "ERROR" if n % 7 == 0 else "INFO"
            tail = " padding" * 40 if n % 45 == 0 else ""
            lines.append(f"2026-11-20 10:{n // 60 % 60:02d}:{n % 60:02d} {level} [Svc{n % 3}] line {n}{tail}")
    return lines


@pytest.fixture
def calls(aws_resources):
    recorded = []

    def record(params, model, **_):
        recorded.append((model.name, dict(params)))
    for service in ("s3", "sqs", "dynamodb"):
        aws.client(service).meta.events.register("provide-client-params.*.*", record)
    return recorded


@pytest.fixture
def in_parts(monkeypatch):
    monkeypatch.setenv("LOG_SPLIT_PART_BYTES", "2000")
    monkeypatch.setenv("LOG_SPLIT_MAX_PARTS", "6")


def upload(key: str, text: str) -> None:
    boto3.client("s3").put_object(Bucket=INPUT, Key=key, Body=text.encode())


def report(key: str) -> dict:
    return json.loads(boto3.client("s3").get_object(Bucket=OUTPUT, Key=key)["Body"].read())


def problem_lines(client, key: str) -> list[dict]:
    found, cursor = [], None
    while True:
        response = client.http.get(f"/log-batches/lines?key={key}&level=ERROR&limit=7"
                                   + (f"&next={cursor}" if cursor else ""))
        page = json.loads(response.body)
        assert response.status_code == 200, page
        found += page["items"]
        cursor = page["next"]
        if not cursor:
            return found


def the_run(key: str) -> dict:
    return LogRunRepository("LogBatchesTable").latest(key)


def check_whole(client, key: str, lines: list[str], calls) -> dict:
    content = report(report_key_for(key))
    kept = [n for n, text in enumerate(lines, 1) if text]
    errors = [n for n in kept if "ERROR" in lines[n - 1]]
    assert content["status"] == "Completo"
    assert (content["total_items"], content["processed_items"]) == (len(kept), len(kept))
    assert content["blank_lines"] == len(lines) - len(kept)
    assert content["by_level"]["ERROR"] == len(errors)
    assert content["unparsed_items"] == sum(1 for n in kept if n % 60 == 0)
    # the report's first unparsed lines carry their numbers in the file, whichever part read them
    assert [entry["line"] for entry in content["unparsed_lines"]] == [n for n in kept if n % 60 == 0][:5]
    assert all(entry["text"] == lines[entry["line"] - 1][:200] for entry in content["unparsed_lines"])
    # the problem-lines API shows each ERROR line once, under its real number, with its own text
    shown = problem_lines(client, key)
    assert [item["line"] for item in shown] == errors
    assert all(item["raw"] == lines[item["line"] - 1][:len(item["raw"])] for item in shown)
    # every line sent once: the queued line numbers are exactly the file's non-blank lines
    sent = sorted(line["number"] for op, p in calls if op == "SendMessageBatch"
                  and p["QueueUrl"].endswith("/log-processing-queue")
                  for entry in p["Entries"] for line in json.loads(entry["MessageBody"])["lines"])
    assert sent == kept
    assert len([p for op, p in calls if op == "PutObject" and p["Bucket"] == OUTPUT]) == 1  # one report
    status = logbatch.log_batch_status(key)
    assert (status["status"], status["total_items"], status["processed_items"]) == ("completed", len(kept), len(kept))
    assert status["parts"] == status["parts_split"] == int(the_run(key)["parts"])
    assert status["lines_split"] == content["total_items"] + content["blank_lines"]  # blank lines are lines too
    return content


def test_an_upload_read_in_parts_keeps_real_line_numbers_exact_counts_and_one_report(runner, client, calls,
                                                                                    in_parts):
    lines = make_log(400)
    upload("big/app.log", "\n".join(lines) + "\n")
    runner.drain()
    run = the_run("big/app.log")
    assert int(run["parts"]) == 6 and len(run["parts_done"]) == 6  # the mode took effect: six readers
    first_lines = [int(LogRunRepository("LogBatchesTable").get(part_run_id(run["run_id"], p))["first_line"])
                   for p in range(6)]
    assert first_lines[0] == 0 and first_lines == sorted(set(first_lines))  # each part starts further on
    check_whole(client, "big/app.log", lines, calls)


def test_parts_handing_over_after_every_line_and_a_duplicate_event_change_nothing(runner, client, calls, in_parts,
                                                                                 monkeypatch):
    monkeypatch.setenv("LOG_SPLIT_TIME_BUDGET_SECONDS", "0")  # every part's reader hands over after each line
    lines = make_log(149)
    upload("big/handed.log", "\n".join(lines))  # no final newline: the last part ends without one
    runner.drain()
    etag = boto3.client("s3").head_object(Bucket=INPUT, Key="big/handed.log")["ETag"].strip('"')
    client.lambda_.invoke("split_log_upload", s3_event(INPUT, "big/handed.log", etag))  # S3 delivers it again
    runner.drain()
    assert int(the_run("big/handed.log")["parts"]) > 1
    check_whole(client, "big/handed.log", lines, calls)


def test_a_gz_is_read_by_one_reader_whatever_its_size(runner, calls, in_parts):
    import gzip
    lines = make_log(150)
    boto3.client("s3").put_object(Bucket=INPUT, Key="big/app.log.gz", Body=gzip.compress("\n".join(lines).encode()))
    runner.drain()
    assert the_run("big/app.log.gz").get("parts") is None
    assert report("big/relatorio_app.log.gz.json")["processed_items"] == sum(1 for text in lines if text)


def test_parts_over_the_line_cap_read_exactly_the_lines_before_it(runner, calls, in_parts, monkeypatch):
    monkeypatch.setenv("UPLOAD_MAX_LINES", "130")
    lines = make_log(400)
    upload("big/capped.log", "\n".join(lines) + "\n")
    runner.drain()
    content = report("big/relatorio_capped.log.json")
    kept = [n for n, text in enumerate(lines, 1) if text and n <= 130]
    assert (content["status"], content["complete"], content["total_items"]) == ("failed", False, None)
    assert (content["read_items"], content["processed_items"]) == (len(kept), len(kept))
    assert "UPLOAD_MAX_LINES" in content["failure_reason"]
    sent = sorted(line["number"] for op, p in calls if op == "SendMessageBatch"
                  and p["QueueUrl"].endswith("/log-processing-queue")
                  for entry in p["Entries"] for line in json.loads(entry["MessageBody"])["lines"])
    assert sent == kept  # nothing past the cap is queued, by any part
