"""A user-defined log format end to end over `python -m local_runtime` (issue 23): the stage's LOG_FORMATS, an
upload under the prefix it is for, the report read from S3; and a bad pattern refused before the system starts."""
import json
import subprocess

import pytest

from tests.e2e.conftest import LocalSystem, running, wait_until

pytestmark = pytest.mark.e2e

POS_FORMAT = {"name": "pos-terminal",
              "grok": "%{TIMESTAMP_ISO8601:time} T%{POSINT:terminal:int} %{WORD:level} %{GREEDYDATA:message}",
              "levels": {"ERR": "ERROR", "OK": "INFO"}}


def test_a_user_defined_format_parses_an_upload_under_its_prefix():
    setting = {"formats": [POS_FORMAT], "by_prefix": {"stores/legacy/": []}}
    with running(LocalSystem(LOG_FORMATS=json.dumps(setting))) as system:
        s3 = system.client("s3")
        lines = ["2026-11-20 10:00:01 T7 OK sale 991 approved", "2026-11-20 10:00:02 T7 ERR card reader offline",
                 "2026-11-20 10:00:03 T12 OK sale 992 approved", "terminal 12 rebooted, no time written"]
        s3.put_object(Bucket="input-logs", Key="stores/7/pos.log", Body=("\n".join(lines) + "\n").encode())

        def report():
            try:
                body = s3.get_object(Bucket="processed-data", Key="stores/7/relatorio_pos.log.json")["Body"]
            except s3.exceptions.NoSuchKey:
                return None
            return json.loads(body.read())
        content = wait_until(report, timeout=60, what="the report of the upload")
    assert content["by_format"] == {"pos-terminal": 3, "unparsed": 1}
    assert content["by_level"] == {"ERROR": 1, "INFO": 2, "NONE": 1}
    assert content["unparsed_lines"] == [{"line": 4, "text": "terminal 12 rebooted, no time written"}]


def test_a_bad_pattern_stops_the_system_before_it_starts_naming_the_format():
    bad = [{"name": "pos-terminal", "grok": "%{TIMESTAMP:time} %{GREEDYDATA:message}"}]
    system = LocalSystem(LOG_FORMATS=json.dumps(bad))
    try:
        code = system.process.wait(90)
    except subprocess.TimeoutExpired:
        system.process.kill()
        raise
    wait_until(lambda: "pos-terminal" in system.log(), timeout=10, what="the refusal in the output")
    assert code != 0 and not any(line.endswith(" ready") for line in system.output)
    assert "log format 'pos-terminal'" in system.log() and "unknown pattern %{TIMESTAMP}" in system.log()
