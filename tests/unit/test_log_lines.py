import gzip
import json

import pytest

from chalicelib.logbatch import messages
from chalicelib.streaming.lines import LineReader, gunzip, skip_bytes
from chalicelib.logbatch.service import accepted, clip, report_key_for


def read(chunks, **options):
    reader = LineReader(chunks, **options)
    return [(line.number, line.text, line.truncated) for line in reader], reader


def test_crlf_bom_blank_lines_and_a_missing_final_newline():
    lines, reader = read([b"\xef\xbb\xbfone\r\n\r\n  \ntwo\nthree"])
    assert lines == [(1, "one", False), (4, "two", False), (5, "three", False)]
    assert reader.blank_lines == 2 and reader.last_line == 5


def test_lines_split_across_chunks_and_a_bom_split_across_chunks():
    lines, _ = read([b"\xef", b"\xbb\xbfab", b"c\nd", b"e\n"])
    assert lines == [(1, "abc", False), (2, "de", False)]


def test_invalid_utf8_is_replaced_not_fatal():
    [(number, text, _)], _ = read([b"caf\xc3\xa9 \xff\xfe end\n"])
    assert text == "café \ufffd\ufffd end"


def test_a_line_longer_than_the_limit_is_cut_flagged_and_its_rest_skipped():
    lines, _ = read([b"x" * 10, b"y" * 10, b"\nok\n"], max_line_bytes=4)
    assert lines == [(1, "xxxx", True), (2, "ok", False)]


def test_offsets_let_a_reader_resume_exactly_after_a_line():
    data = b"a\n\nbb\nccc\n"
    first = list(LineReader([data]))
    resume_after = first[1]  # "bb"
    rest = LineReader([data[resume_after.end_offset:]], start_offset=resume_after.end_offset,
                      start_line=resume_after.number)
    assert [(line.number, line.text) for line in rest] == [(4, "ccc")]


def test_gzip_streams_including_concatenated_members_and_resume_by_skipping():
    data = gzip.compress(b"one\ntwo\n") + gzip.compress(b"three\n")
    chunks = [data[i:i + 7] for i in range(0, len(data), 7)]
    assert [line.text for line in LineReader(gunzip(chunks))] == ["one", "two", "three"]
    assert b"".join(skip_bytes(gunzip(chunks), 4)) == b"two\nthree\n"


def test_messages_survive_characters_sqs_refuses_and_carry_line_numbers():
    body = messages.encode("run", "key.txt", 6, 100, [(7, "nul \x00 esc \x1b bad \ufffe", False)])
    assert "\x00" not in body and "\x1b" not in body and "\ufffe" not in body
    decoded = messages.decode(body)
    assert decoded.lines[0].text == "nul \x00 esc \x1b bad \ufffe" and decoded.first_line == 7


def test_a_line_whose_escapes_overflow_a_message_is_cut_to_fit_and_flagged():
    body = messages.encode("run", "key", 0, 100, [(1, "\x00" * 100_000, False)])
    assert messages.size(body) <= messages.MAX_MESSAGE_BYTES
    assert messages.decode(body).lines[0].truncated


@pytest.mark.parametrize("body", ['{"run_id": "r", "batch_id": "b", "lines": []}', '{"lines": [{"number": 1}]}',
                                  "[]", "nope"])
def test_malformed_messages_are_rejected(body):
    with pytest.raises(ValueError):
        messages.decode(body)


@pytest.mark.parametrize("key, expected", [("a.txt", True), ("a.JSONL", True), ("x/y.log", True),
                                           ("a.txt.gz", True), ("a.csv", False), ("a.gz", False), ("txt", False)])
def test_which_uploads_are_split(key, expected):
    assert accepted(key) is expected


def test_report_keys_keep_the_folder_prefix():
    assert report_key_for("app.log") == "relatorio_app.log.json"
    assert report_key_for("2026/11/app.log") == "2026/11/relatorio_app.log.json"


def test_clip_cuts_on_a_character_boundary():
    text, cut = clip("é" * 10, limit=5)
    assert cut and text == "éé"
    assert clip("short") == ("short", False)
    assert json.dumps(clip(None)) == "[null, false]"
