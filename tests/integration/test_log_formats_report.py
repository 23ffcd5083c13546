"""What a report tells a user about formats (issue 23), against moto: lines by format, the first unparsed lines
(what to write a pattern for), and a stage's own formats, by key prefix, through the whole pipeline."""
import json
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

from chalicelib.logbatch import service as logbatch
from chalicelib.logbatch.parsing import load_formats, parse_line
from tests.integration.test_log_batches import report, upload
from tests.log_records import stored_lines

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "logs"
POS_FORMAT = {"name": "pos-terminal",
              "grok": "%{TIMESTAMP_ISO8601:time} T%{POSINT:terminal:int} %{WORD:level} %{GREEDYDATA:message}",
              "levels": {"ERR": "ERROR", "OK": "INFO"}}
POS_LINES = ["2026-11-20 10:00:01 T7 OK sale 991 approved", "2026-11-20 10:00:02 T7 ERR card reader offline",
             "2026-11-20 10:00:03 T12 OK sale 992 approved"]


def test_the_report_counts_lines_by_format_and_shows_the_first_unparsed_ones_clipped(runner, client):
    families = [line for path in sorted(FIXTURES.glob("*.log")) for line in path.read_text().splitlines() if line]
    unknown = [f"mystery record {n} " + "x" * (300 if n == 2 else 5) for n in range(1, 9)]
    lines = unknown[:3] + families[:40] + unknown[3:] + families[40:]
    upload("mixed/families.log", "\n".join(lines) + "\n")
    runner.drain()
    content = report("mixed/relatorio_families.log.json")
    received = datetime.now(timezone.utc)
    expected = Counter(parse_line(line, received).format for line in lines)
    assert content["by_format"] == dict(sorted(expected.items()))
    assert content["by_format"]["unparsed"] == content["unparsed_items"] == 8
    assert content["by_format"]["android"] == 22 and content["by_format"]["bgl"] == 11
    # The first five, in line order, each at most 200 characters (the long one flagged), with its line number.
    shown = content["unparsed_lines"]
    assert [entry["line"] for entry in shown] == [1, 2, 3, 44, 45]
    assert shown[0] == {"line": 1, "text": unknown[0]}
    assert shown[1]["text"] == unknown[1][:200] and shown[1]["clipped"] is True and len(shown[1]["text"]) == 200
    status = json.loads(client.http.get("/log-batches?key=mixed/families.log").body)
    assert status["report"]["content"] == content  # rebuilt from the run's item, identically


def test_a_file_every_line_of_which_is_parsed_shows_no_unparsed_lines(runner):
    upload("clean.log", (FIXTURES / "spark.log").read_text())
    runner.drain()
    content = report("relatorio_clean.log.json")
    assert content["by_format"] == {"spark": 8} and "unparsed_lines" not in content


def test_a_stages_own_format_is_tried_first_for_the_keys_it_is_meant_for(runner, monkeypatch):
    setting = {"formats": [POS_FORMAT], "by_prefix": {"stores/legacy/": []}}
    body = "\n".join(POS_LINES + ["2026-11-20 10:00:04 INFO [Auth] ok"]) + "\n"
    monkeypatch.setenv("LOG_FORMATS", json.dumps(setting))
    logbatch.reset()
    try:
        upload("stores/7/pos.log", body)
        upload("stores/legacy/pos.log", body)
        runner.drain()
    finally:
        monkeypatch.delenv("LOG_FORMATS")
        logbatch.reset()
    ours = report("stores/7/relatorio_pos.log.json")
    assert ours["by_format"] == {"app": 1, "pos-terminal": 3}
    assert ours["by_level"] == {"ERROR": 1, "INFO": 3} and ours["unparsed_items"] == 0
    legacy = report("stores/legacy/relatorio_pos.log.json")  # that prefix tries the built-ins only
    built_in = Counter(parse_line(line).format for line in body.splitlines())
    assert legacy["by_format"] == dict(sorted(built_in.items())) and "pos-terminal" not in legacy["by_format"]
    second = next(r for r in stored_lines(batch_id="stores/7/pos.log") if r["line"] == 2)
    assert (second["format"], second["timestamp"], second["level"]) == ("pos-terminal", "2026-11-20T10:00:02Z", "ERROR")
    assert second["details"]["terminal"] == 7 and second["message"] == "card reader offline"
    assert load_formats(json.dumps(setting)).for_key("stores/legacy/pos.log") == ()
