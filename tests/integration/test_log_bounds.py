"""Bounded log batches against moto: pages of problem lines under the byte cap, caps on one upload, TTL on records.

Issue 19: a 30-line log of long ERROR lines made `GET /log-batches/lines`
answer 8-9 MB (a synchronous Lambda answer is at most 6 MB), and a 0.5 MB
`.gz` of repetitive lines expanded to 6.5 M lines of queue and table work.
"""
import json
from urllib.parse import parse_qsl

import pytest

from chalicelib.errors import ClientError
from chalicelib.http import error_response, json_response
from chalicelib.logbatch import service as logbatch
from chalicelib.pagination import LIST_TEXT_BYTES, PAGE_BYTES
from tests.integration.test_log_batches import runner, upload  # noqa: F401 (a fixture)


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


if __name__ == "__main__":
    pytest.main([__file__, "-q"])
