"""An upload read in parts (issue 22), against moto under injected faults: the outcome must be the fault-free one.

The writes that decide who does what in a parted run get targeted faults, besides the 5% at random: the plan's
record and the parts' creation (answers lost after they were applied), a part's totals added to the run (lost
once; failing for the app once), the seal of the run's total (lost), a part's own finish (failing for the app
after its totals were added: its redelivery must finish the part without adding them twice), and the starts of
the parts on the continuation queue (failing for the app: the S3 event's retry plans again and sends them
again). Nothing may be lost or doubled: every line once, under its number in the file, exact counts, one report.
"""
import boto3

from chalicelib.logbatch import service as logbatch
from chalicelib.logbatch.parsing import parse_line
from chalicelib.logbatch.repository import LogRunRepository
from tests.faults.conftest import dead_letters
from tests.faults.injector import THROTTLE
from tests.faults.test_flows_under_faults import RATE, expected_log_counts, s3_json, show, where
from tests.logfiles import generated_lines

RUNS = "LogBatchesTable"


def test_an_upload_read_in_parts_under_faults_counts_every_line_once_and_reports_once(runner, faults, deliveries,
                                                                                     monkeypatch):
    monkeypatch.setenv("LOG_SPLIT_PART_BYTES", "20000")  # 1,500 lines of ~70 bytes: 6 parts
    monkeypatch.setenv("LOG_SPLIT_MAX_PARTS", "6")
    logbatch.reset()
    lines, key = generated_lines(1500), "parts/app.log"
    faults.rate = RATE
    parts_done = where(RUNS, UpdateExpression="#parts_done :part_set")
    faults.lose_answer("dynamodb", "UpdateItem", where=where(RUNS, UpdateExpression="#part_plan = :p_part_plan"))
    faults.lose_answer("dynamodb", "PutItem", calls=2, where=where(RUNS, Item=lambda item: "parent" in item))
    faults.lose_answer("dynamodb", "UpdateItem", where=parts_done)
    faults.exhaust("dynamodb", "UpdateItem", where=parts_done)
    faults.lose_answer("dynamodb", "UpdateItem", where=where(RUNS, UpdateExpression="#total_lines = :f_total_lines",
                                                             ConditionExpression="attribute_exists(#parts)"))
    faults.exhaust("dynamodb", "UpdateItem", where=where(RUNS, UpdateExpression="REMOVE #lease_until",
                                                         ConditionExpression="#split_token = :token AND"))
    faults.exhaust("sqs", "SendMessage", kind=THROTTLE, where=lambda p: p["QueueUrl"].endswith("/log-split-queue"))

    boto3.client("s3").put_object(Bucket="input-logs", Key=key, Body=("\n".join(lines) + "\n").encode())
    runner.drain()

    report = s3_json("processed-data", "parts/relatorio_app.log.json")
    assert report["status"] == "Completo"
    assert {k: report[k] for k in expected_log_counts(lines)} == expected_log_counts(lines)
    assert len(faults.succeeded("s3", "PutObject", Bucket="processed-data")) == 1
    run = LogRunRepository(RUNS).latest(key)
    assert int(run["parts"]) == 6 and len(run["parts_done"]) == 6  # the mode took effect
    status = logbatch.log_batch_status(key)
    assert (status["status"], status["processed_items"], status["report"]["content"]) == ("completed", 1500, report)
    problems = logbatch.log_batch_problem_lines({"key": key, "level": "ERROR", "limit": "100"})
    assert [item["line"] for item in problems["items"]] == [
        n for n, line in enumerate(lines, 1) if parse_line(line).level in ("ERROR", "FATAL")][:100]
    assert all(item["raw"] == lines[item["line"] - 1] for item in problems["items"])
    assert dead_letters() == {} and not deliveries.gave_up()
    assert [rule.hits for rule in faults.rules] == [rule.calls for rule in faults.rules]  # every one struck
    show("log parts", faults, deliveries)
