"""The log worker and completion on in-memory fakes (tests/fakes.py): lines stored and counted once, one report.

The splitter's reading is tested here too, on a fake object stream; the
exact chunk counting and DynamoDB's conditions stay with the moto tests."""
import json

import pytest

from chalicelib.logbatch import messages
from chalicelib.logbatch.completion import BatchCompletion
from chalicelib.logbatch.splitter import LogSplitter
from chalicelib.logbatch.worker import LogWorker
from tests.fakes import FakeLogLines, FakeLogRuns, FakeQueue, FakeReports

LINES = ["2026-11-20 10:00:01 INFO [A] started", "2026-11-20 10:00:02 ERROR [B] failed", "not a log line"]
RUN = {"run_id": "app.log@e1", "batch_id": "app.log", "bucket": "input-logs", "key": "app.log", "etag": "e1",
       "started_at": "2026-11-20T10:00:00.000Z"}


@pytest.fixture
def parts():
    return FakeLogRuns(), FakeLogLines(), FakeReports("processed-data")


@pytest.fixture
def worker(parts):
    runs, lines, reports = parts
    return LogWorker(lines, runs, BatchCompletion(runs, reports, lines))


def split_by_hand(runs: FakeLogRuns, lines: list[str], per_item: int = 1) -> list[tuple[str, str]]:
    """The run as the splitter leaves it (all lines sent, total known; packing `per_item` lines to an item
    recorded when not 1), and its messages."""
    runs.start({**RUN, **({"lines_per_item": per_item} if per_item != 1 else {})}, "t", 60, processed=0)
    runs.finish(RUN["run_id"], "t", "processing", total_lines=len(lines), blank_lines=0, header_lines=0)
    return [(f"m{n}", messages.encode(RUN["run_id"], RUN["batch_id"], n - 1, 100, [(n, text, False)],
                                      RUN["started_at"], per_item=per_item)) for n, text in enumerate(lines, 1)]


def test_every_line_is_stored_and_counted_once_and_the_report_written_once(worker, parts):
    runs, lines, reports = parts
    received = split_by_hand(runs, LINES)
    assert worker.process(received) == []
    assert worker.process(received[:1]) == []  # a redelivery: stored again, counted nowhere
    assert sorted(lines.records) == [("app.log@e1", n) for n in (1, 2, 3)]
    report = json.loads(reports.texts["relatorio_app.log.json"])
    assert (report["total_items"], report["processed_items"], report["unparsed_items"]) == (3, 3, 1)
    assert report["by_level"]["ERROR"] == 1 and report["unparsed_lines"] == [{"line": 3, "text": "not a log line"}]
    assert runs.get(RUN["run_id"])["status"] == "completed"


def test_lines_are_stored_as_their_message_says_and_read_back_as_the_run_says(worker, parts):
    runs, lines, reports = parts
    assert worker.process(split_by_hand(runs, LINES, per_item=3)) == []
    assert set(lines.per_item.values()) == {3}  # the message's per_item, not a default
    # The report's first unparsed line is read with the run's lines_per_item: read as 1, a packed line is not found.
    report = json.loads(reports.texts["relatorio_app.log.json"])
    assert report["unparsed_lines"] == [{"line": 3, "text": "not a log line"}]
    assert lines.lines(RUN["run_id"], [1, 2, 3], 1) == {}


def test_a_message_says_how_its_run_packs_its_lines():
    body = messages.encode("run", "key", 0, 100, [(1, "x", False)], per_item=5)
    assert messages.decode(body).per_item == 5 and '"per_item":5' in body
    plain = messages.encode("run", "key", 0, 100, [(1, "x", False)])
    assert messages.decode(plain).per_item == 1 and "per_item" not in plain  # as every message before packing
    with pytest.raises(ValueError):
        messages.encode("run", "key", 0, 100, [(1, "x", False)], per_item=0)


def test_a_malformed_message_fails_alone(worker, parts):
    received = split_by_hand(parts[0], LINES[:1])
    assert worker.process([("bad", "{not json"), *received]) == ["bad"]
    assert "relatorio_app.log.json" in parts[2].texts


class Stream:
    """A fake S3 object for the splitter (what open_object yields: the decompressed bytes from an offset)."""

    def __init__(self, text: str):
        self.data = text.encode()

    def __call__(self, bucket, key, etag, offset=0, lines_before=None, caps=None, end=None):
        return iter([self.data[offset:end]])

    def size(self, bucket, key):
        return len(self.data)

    def ranges(self, bucket, key, etag):
        return lambda start, end: [self.data[start:end]]


def reading(splitter, text: str):
    """The splitter reads `text` as the uploaded object (its size and ranges too, should it plan parts)."""
    stream = Stream(text)
    splitter.open_object, splitter.object_size, splitter.range_reader = stream, stream.size, stream.ranges
    return stream


def test_the_splitter_sends_each_line_once_and_completes_an_empty_upload_at_once(parts):
    runs, lines, reports = parts
    queue, continuations = FakeQueue("log-processing-queue"), FakeQueue("log-split-queue")
    splitter = LogSplitter(runs, queue, continuations, BatchCompletion(runs, reports, lines), lines_per_message=2)
    reading(splitter, "\n".join(LINES) + "\n\n")
    assert splitter.on_upload("input-logs", "app.log", etag="e1") == "split"
    assert splitter.on_upload("input-logs", "app.log", etag="e1") == "duplicate"
    sent = [messages.decode(body) for body in queue.bodies]
    assert [[line.number for line in m.lines] for m in sent] == [[1, 2], [3]]
    run = runs.latest("app.log")
    assert (run["total_lines"], run["blank_lines"], run["status"]) == (3, 1, "processing")
    reading(splitter, "")
    assert splitter.on_upload("input-logs", "empty.log", etag="e2") == "split"
    assert json.loads(reports.texts["relatorio_empty.log.json"])["total_items"] == 0


def test_a_split_out_of_time_hands_over_and_the_continuation_finishes_it(parts):
    runs, lines, reports = parts
    queue, continuations = FakeQueue("log-processing-queue"), FakeQueue("log-split-queue")
    splitter = LogSplitter(runs, queue, continuations, BatchCompletion(runs, reports, lines), time_budget=0)
    reading(splitter, "\n".join(LINES) + "\n")
    assert splitter.on_upload("input-logs", "app.log", etag="e1") == "continued"
    [handover] = continuations.bodies
    splitter.time_budget = None
    assert splitter.on_continuation(handover) == "split"
    assert splitter.on_continuation(handover) == "stale"
    assert sorted(line.number for body in queue.bodies for line in messages.decode(body).lines) == [1, 2, 3]


def test_a_large_upload_is_split_in_parts_that_keep_the_files_line_numbers(parts, worker):
    """Parts on fakes: the planner starts one reader per range through the continuation queue; every line is sent
    once under its number in the file; the last part to finish ends the run; the worker then completes it."""
    runs, lines, reports = parts
    queue, continuations = FakeQueue("log-processing-queue"), FakeQueue("log-split-queue")
    splitter = LogSplitter(runs, queue, continuations, BatchCompletion(runs, reports, lines), part_bytes=60,
                           max_parts=4)
    text = "\n".join(f"2026-11-20 10:00:{n:02d} {'ERROR' if n % 4 == 0 else 'INFO'} [A] line {n}" for n in range(1, 21))
    reading(splitter, text + "\n\n")
    assert splitter.on_upload("input-logs", "app.log", etag="e1") == "planned"
    starts = list(continuations.bodies)
    assert len(starts) == 4 and runs.latest("app.log")["parts"] == 4
    assert [splitter.on_continuation(body) for body in reversed(starts)] == ["split"] * 4  # in any order
    assert [splitter.on_continuation(body) for body in starts] == ["stale"] * 4  # a start delivered twice
    sent = [messages.decode(body) for body in queue.bodies]
    assert sorted(line.number for m in sent for line in m.lines) == list(range(1, 21))
    assert all(line.text.endswith(f"line {line.number}") for m in sent for line in m.lines)
    assert len({m.seq for m in sent}) == 20  # each part numbers its messages in its own range
    run = runs.latest("app.log")
    assert (run["status"], run["total_lines"], run["blank_lines"]) == ("processing", 20, 1)
    assert worker.process([(f"m{i}", body) for i, body in enumerate(queue.bodies)]) == []
    report = json.loads(reports.texts["relatorio_app.log.json"])
    assert (report["total_items"], report["processed_items"], report["by_level"]["ERROR"]) == (20, 20, 5)
