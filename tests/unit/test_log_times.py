"""The generic fallback's time: a common layout near a line's start is its time; prose and ids give none."""
from datetime import datetime, timezone

import pytest

from chalicelib.logbatch.parsing import parse_line
from chalicelib.logbatch.parsing.times import TIME_HEAD, find_time

RECEIVED = datetime(2026, 11, 20, 12, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize("text, expected", [
    ("2026-11-20T10:00:01Z app started", "2026-11-20T10:00:01"),
    ("2026-11-20 10:00:01,123 app", "2026-11-20T10:00:01.123000"),
    ("2026-11-20T10:00:01.123456789+01:00 x", "2026-11-20T09:00:01.123456"),
    ("2026/11/20 10:00:17 [error] 1234#0: open() failed", "2026-11-20T10:00:17"),
    ("[2026-11-20 10:00:01-0300] x", "2026-11-20T13:00:01"),
    ("17/06/09 20:10:40 INFO executor.Executor: x", "2017-06-09T20:10:40"),
    ("20171223-22:15:29:606 whatever", "2017-12-23T22:15:29.606000"),
    ("<34>Oct 11 22:14:15 host x", "2026-10-11T22:14:15"),
    ("Nov  2 06:25:01 x", "2026-11-02T06:25:01"),
    ('192.0.2.1 - - [20/Nov/2026:10:00:08 +0100] "GET /"', "2026-11-20T09:00:08"),
    ("1700000000 something", "2023-11-14T22:13:20"),
    ("[1700000000.25] something", "2023-11-14T22:13:20.250000"),
    ("1700000000250 something", "2023-11-14T22:13:20.250000"),
    ("worker-3 pid=12 t=2026-11-20T10:00:00Z lvl=warn", "2026-11-20T10:00:00"),
    ("nova-api.log.1.2017-05-16_13:53:08 2017-05-16 00:00:00.008 25746", "2017-05-16T00:00:00.008000"),
    ("2026-02-30 10:00:00 then 2026-03-01 10:00:00", "2026-03-01T10:00:00"),  # the first real moment
])
def test_a_common_layout_near_the_start_is_the_time(text, expected):
    assert find_time(text, RECEIVED) == datetime.fromisoformat(expected)


@pytest.mark.parametrize("text", [
    "the meeting moved to 10:30 on Friday",
    "order 20171223 shipped",
    "build-20171223-22:15:29:606 published",  # part of a name
    "req-2026-11-20T10:00:00Z-abc",
    "user_2026-11-20 10:00:00 logged in",
    "v1.2026-11-20 10:00:00",
    "id 550e8400-e29b-41d4-a716-446655440000 seen",
    "order 1700000000 shipped",  # ten digits further in: an id as often as a time
    "0000000042 counter",  # an epoch before 2000: a counter
    "9999999999 far future",  # 2286: no log of today
    "2026-13-20 10:00:00 month 13",
    "2026-11-20 25:00:00 hour 25",
    "Feb 30 10:00:00 no such day",
    "x" * TIME_HEAD + " 2026-11-20 10:00:00",  # starts past the head
    "2026-11-20 10:00:00123 glued to digits",
    "version 2017.06.09 20:10:40",
])
def test_prose_ids_and_impossible_times_give_no_time(text):
    assert find_time(text, RECEIVED) is None


def test_a_time_at_the_edge_of_the_head_is_found_whole():
    text = "x" * (TIME_HEAD - 1) + " 2026-11-20T10:00:01.123456789+05:30 tail"
    assert find_time(text, RECEIVED) == datetime(2026, 11, 20, 4, 30, 1, 123456)


@pytest.mark.parametrize("line, timestamp", [
    ("17/06/09 20:10:40 CHATTY but ERROR later", "2017-06-09T20:10:40Z"),
    ("[Warning] 2026-11-20 10:00:01 low memory", "2026-11-20T10:00:01Z"),
    ("myapp | 2026/11/20 10:00:01 ERROR: lost connection", "2026-11-20T10:00:01Z"),
    ("1700000000 ERROR something", "2023-11-14T22:13:20Z"),
    ("ERROR order 1700000000 failed", None),
])
def test_generic_lines_keep_the_time_they_have(line, timestamp):
    parsed = parse_line(line, RECEIVED)
    assert (parsed.format, parsed.timestamp) == ("generic", timestamp)


def test_a_time_without_a_level_word_is_still_unparsed():
    assert parse_line("2026-11-20 10:00:01 something happened", RECEIVED).format == "unparsed"
