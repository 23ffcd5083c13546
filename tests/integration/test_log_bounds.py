"""Bounded log batches against moto: pages of problem lines under the byte cap, caps on one upload, TTL on records.

Issue 19: a 30-line log of long ERROR lines made `GET /log-batches/lines`
answer 8-9 MB (a synchronous Lambda answer is at most 6 MB), and a 0.5 MB
`.gz` of repetitive lines expanded to 6.5 M lines of queue and table work.
"""
import gzip
import json
from datetime import datetime
from urllib.parse import parse_qsl

import boto3
import pytest

from chalicelib import bootstrap
from chalicelib.errors import ClientError
from chalicelib.http import error_response, json_response
from chalicelib.invoices import service as invoices
from chalicelib.logbatch import service as logbatch
from chalicelib.pagination import LIST_TEXT_BYTES, PAGE_BYTES
from infra.alarms import add_log_volume_alarm
from infra.cloudformation import resource_template
from infra.stage import Stage
from tests.integration.test_log_batches import api_calls, records_of, report, report_puts, upload  # noqa: F401


class Answer:
    """GET /log-batches/lines as its route answers it, below the authorizer (its own tests cover that)."""

    def __init__(self, query: str):
        try:
            response = json_response(logbatch.log_batch_problem_lines(dict(parse_qsl(query))))
        except ClientError as error:
            response = error_response(error)
        self.status_code, self.body = response.status_code, response.body.encode("utf-8")


def envelope_bytes(body: bytes) -> int:
    """The body as a Lambda proxy answer carries it: a JSON string, ASCII-escaped (the worst case)."""
    return len(json.dumps(body.decode("utf-8")))


def all_lines(query: str, limit: int) -> list[int]:
    found, cursor = [], None
    while True:
        answer = Answer(f"{query}&limit={limit}" + (f"&next={cursor}" if cursor else ""))
        assert answer.status_code == 200, answer.body
        page = json.loads(answer.body)
        found += [item["line"] for item in page["items"]]
        cursor = page["next"]
        if not cursor:
            return found


def long_error(n: int, filler: str, length: int) -> str:
    head = f"2026-11-20 10:00:{n % 60:02d} ERROR [Api] request {n} failed: "
    return head + filler * (length // len(filler))


def test_thirty_long_error_lines_are_one_clipped_page_far_under_the_cap(runner):
    # The case: each line is stored whole up to 150 KB of raw text and 150 KB of message.
    lines = [long_error(n, "payload=0123456789abcdef ", 200_000) for n in range(1, 31)]
    upload("long/errors.log", "\n".join(lines) + "\n")
    runner.drain()
    response = Answer("key=long/errors.log&level=ERROR&limit=100")
    assert response.status_code == 200
    page = json.loads(response.body)
    assert [item["line"] for item in page["items"]] == list(range(1, 31)) and page["next"] is None
    assert envelope_bytes(response.body) < PAGE_BYTES  # it was ~9 MB before texts were clipped
    for item, line in zip(page["items"], lines):
        assert item["clipped"] is True and item["truncated"] is True  # cut for the list; cut when stored
        assert line.startswith(item["raw"]) and len(item["raw"].encode()) <= LIST_TEXT_BYTES
        assert len(item["message"].encode()) <= LIST_TEXT_BYTES


def test_lines_that_escape_to_many_bytes_fill_pages_by_bytes_and_next_goes_on_to_the_rest(runner):
    # A control character takes 7 bytes in the answer: 30 clipped lines make ~1.7 MB, more than one page.
    lines = [long_error(n, "\x01", 6_000) for n in range(1, 31)] + ["2026-11-20 10:01:00 ERROR [Api] short"]
    upload("long/escaped.log", "\n".join(lines) + "\n")
    runner.drain()
    seen, cursor, sizes = [], None, []
    while True:
        response = Answer("key=long/escaped.log&limit=100"
                                   + (f"&next={cursor}" if cursor else ""))
        assert response.status_code == 200
        sizes.append(envelope_bytes(response.body))
        page = json.loads(response.body)
        seen += [item["line"] for item in page["items"]]
        cursor = page["next"]
        if not cursor:
            break
    assert seen == list(range(1, 32))  # every line once, in order, across pages
    assert len(sizes) >= 2 and max(sizes) <= PAGE_BYTES + 1000  # cut by bytes, not by the 100 asked for
    assert all_lines("key=long/escaped.log&level=ERROR", limit=7) == list(range(1, 32))


def test_a_short_line_is_listed_whole_and_unflagged(runner):
    upload("long/short.log", "2026-11-20 10:00:01 ERROR [Api] short\n")
    runner.drain()
    answer = Answer("key=long/short.log")
    page = json.loads(answer.body)
    assert answer.status_code == 200 and "clipped" not in page["items"][0]
    assert page["items"][0]["raw"] == "2026-11-20 10:00:01 ERROR [Api] short"


# --- caps on one upload (item 5) -------------------------------------------------------

def sent_lines(calls) -> list[int]:
    return sorted(line["number"] for _, op, p in calls if op == "SendMessageBatch"
                  and p["QueueUrl"].endswith("/log-processing-queue")
                  for entry in p["Entries"] for line in json.loads(entry["MessageBody"])["lines"])


def caps(monkeypatch, lines: int = 10 ** 9, size: int = 10 ** 12) -> None:
    monkeypatch.setenv("UPLOAD_MAX_LINES", str(lines))
    monkeypatch.setenv("UPLOAD_MAX_BYTES", str(size))


def test_a_gz_over_the_line_cap_fails_with_one_report_of_exactly_the_lines_before_it(runner, api_calls, monkeypatch):
    caps(monkeypatch, lines=250)
    lines = [f"2026-11-20 10:00:{n % 60:02d} {'ERROR' if n % 10 == 0 else 'INFO'} [Api] request {n}"
             for n in range(1, 1001)]
    upload("capped/bomb.log.gz", gzip.compress(("\n".join(lines) + "\n").encode()))
    runner.drain()
    assert sent_lines(api_calls) == list(range(1, 251))  # nothing past the cap is queued
    assert [r["line"] for r in records_of("capped/bomb.log.gz")] == list(range(1, 251))
    content = report("capped/relatorio_bomb.log.gz.json")
    assert (content["status"], content["complete"], content["total_items"]) == ("failed", False, None)
    assert (content["read_items"], content["processed_items"]) == (250, 250)  # exact, and only for those
    assert content["by_level"] == {"ERROR": 25, "INFO": 225}
    assert "UPLOAD_MAX_LINES" in content["failure_reason"] and "250" in content["failure_reason"]
    status = logbatch.log_batch_status("capped/bomb.log.gz")
    assert (status["status"], status["total_items"], status["read_items"], status["processed_items"]) == \
        ("failed", None, 250, 250)
    assert status["failure_reason"] == content["failure_reason"] and status["report"]["content"] == content
    assert len(report_puts(api_calls)) == 1


def test_a_plain_file_over_the_byte_cap_fails_before_a_line_is_queued(runner, api_calls, monkeypatch):
    caps(monkeypatch, size=1_000)
    upload("capped/big.log", "".join(f"2026-11-20 10:00:00 INFO [Api] request {n}\n" for n in range(200)))
    runner.drain()
    assert sent_lines(api_calls) == []
    content = report("capped/relatorio_big.log.json")
    assert (content["status"], content["total_items"], content["read_items"]) == ("failed", None, 0)
    assert "UPLOAD_MAX_BYTES" in content["failure_reason"]
    assert logbatch.log_batch_status("capped/big.log")["status"] == "failed"


def test_the_line_cap_holds_exactly_across_hand_overs(runner, api_calls, monkeypatch):
    caps(monkeypatch, lines=15)
    monkeypatch.setenv("LOG_SPLIT_TIME_BUDGET_SECONDS", "0")  # a continuation after every line
    logbatch.reset()
    lines = [f"2026-11-20 10:00:{n:02d} INFO [Svc] line {n}" for n in range(1, 24)]
    upload("capped/slow.txt", "\n".join(lines[:10]) + "\n\n" + "\n".join(lines[10:]) + "\n")  # line 11 blank
    runner.drain()
    assert sent_lines(api_calls) == list(range(1, 11)) + list(range(12, 16))
    content = report("capped/relatorio_slow.txt.json")
    assert (content["status"], content["read_items"], content["processed_items"], content["blank_lines"]) == \
        ("failed", 14, 14, 1)


def test_an_upload_within_the_caps_is_complete_as_before(runner, monkeypatch):
    body = "".join(f"2026-11-20 10:00:00 INFO [Api] request {n}\n" for n in range(1, 21))
    caps(monkeypatch, lines=20, size=len(body))
    upload("capped/fits.log", body)
    runner.drain()
    content = report("capped/relatorio_fits.log.json")
    assert (content["status"], content["total_items"], "complete" in content) == ("Completo", 20, False)


@pytest.mark.parametrize("budget", [None, "0"])
def test_an_invoice_upload_over_the_line_cap_fails_with_the_rows_before_it(runner, monkeypatch, budget):
    caps(monkeypatch, lines=5)  # the header and four rows
    if budget:
        monkeypatch.setenv("INVOICE_INGEST_TIME_BUDGET_SECONDS", budget)  # resumed reads count lines again
    invoices.reset()
    rows = "".join(f"NF-{n};Ana;1,00;01/10/2025\r\n" for n in range(1, 11))
    boto3.client("s3").put_object(Bucket="notas-fiscais", Key="capped/notas.csv",
                                  Body=("numero;cliente;valor;data_emissao\r\n" + rows).encode())
    runner.drain()
    summary = invoices.invoice_upload_status("capped/notas.csv")
    assert (summary["status"], summary["rows"], summary["accepted"]) == ("failed", 4, 4)
    assert "UPLOAD_MAX_LINES" in summary["failure_reason"]


# --- retention (item 3, the log part) and the hourly volume alarm ------------------------

def test_line_records_and_problem_lines_expire_after_the_stage_retention(runner):
    upload("ttl/app.log", "2026-11-20 10:00:01 ERROR [Api] down\n2026-11-20 10:00:02 INFO [Api] up\n")
    runner.drain()
    run = bootstrap.log_runs().latest("ttl/app.log")
    started = int(datetime.fromisoformat(run["started_at"].replace("Z", "+00:00")).timestamp())
    days = int(Stage.load("dev").environment["LOG_RECORDS_RETENTION_DAYS"])
    assert [int(r["ttl"]) for r in records_of("ttl/app.log")] == [started + days * 86400] * 2
    problems = boto3.client("dynamodb").query(
        TableName="LogBatchesTable", KeyConditionExpression="pk = :pk AND begins_with(sk, :p)",
        ExpressionAttributeValues={":pk": {"S": run["run_id"]}, ":p": {"S": "P#"}})["Items"]
    assert len(problems) == 1 and abs(int(problems[0]["ttl"]["N"]) - (started + days * 86400)) < 600
    ttl = boto3.client("dynamodb").describe_time_to_live(TableName="ProcessedLogsTable")
    assert ttl["TimeToLiveDescription"] == {"TimeToLiveStatus": "ENABLED", "AttributeName": "ttl"}
    assert "ttl" not in json.loads(Answer("key=ttl/app.log").body)["items"][0]


def test_the_template_turns_on_the_records_ttl(stage, app):
    table = resource_template(stage, app)["Resources"]["ProcessedLogsTable"]["Properties"]
    assert table["TimeToLiveSpecification"] == {"Enabled": True, "AttributeName": "ttl"}


@pytest.mark.parametrize("name", ["dev", "prod"])
def test_each_stage_alarms_on_log_lines_processed_per_hour(name):
    stage = Stage.load(name)
    template = {"Resources": {}}
    add_log_volume_alarm(template, stage)
    alarm = template["Resources"]["LogLinesPerHourAlarm"]["Properties"]
    assert (alarm["Namespace"], alarm["MetricName"], alarm["Statistic"], alarm["Period"]) == \
        ("AsyncCatalog", "LogLinesProcessed", "Sum", 3600)
    assert alarm["Dimensions"] == [{"Name": "stage", "Value": name}]
    assert alarm["Threshold"] == stage.config["stages"][name]["infra"]["log_lines_per_hour_alarm"]
