"""The caps on one upload's decompressed bytes and lines (chalicelib/streaming/caps.py), on any chunking."""
import gzip
import random

import pytest

from chalicelib.streaming.caps import OverCap, UploadCaps, capped
from chalicelib.streaming.lines import LineReader, gunzip

NO_CAP = 10 ** 12


def chunked(data: bytes, seed: int) -> list[bytes]:
    rng, chunks, start = random.Random(seed), [], 0
    while start < len(data):
        size = rng.choice([1, 2, 3, 7, 64, 1000])
        chunks.append(data[start:start + size])
        start += size
    return chunks


def read(data: bytes, caps: UploadCaps, seed: int = 0) -> tuple[list[int], OverCap | None]:
    """The line numbers a reader gets through the caps, and the OverCap that stopped it, if any."""
    reader = LineReader(capped(chunked(data, seed), caps))
    numbers = []
    try:
        for line in reader:
            numbers.append(line.number)
    except OverCap as error:
        return numbers, error
    return numbers, None


FIVE = b"one\ntwo\n\nfour\nfive\n"  # five lines, one blank


@pytest.mark.parametrize("seed", range(5))
def test_the_line_cap_stops_after_the_last_line_it_allows(seed):
    assert read(FIVE, UploadCaps(NO_CAP, 5), seed) == ([1, 2, 4, 5], None)  # exactly at the cap: whole
    assert read(FIVE.rstrip(b"\n"), UploadCaps(NO_CAP, 5), seed) == ([1, 2, 4, 5], None)  # no final newline
    numbers, error = read(FIVE, UploadCaps(NO_CAP, 3), seed)
    assert numbers == [1, 2] and error.cap == "lines" and error.limit == 3  # line 3 is blank, line 4 is past
    numbers, error = read(FIVE + b"six", UploadCaps(NO_CAP, 5), seed)
    assert numbers == [1, 2, 4, 5] and error.cap == "lines"


@pytest.mark.parametrize("seed", range(5))
def test_the_byte_cap_keeps_only_the_lines_wholly_within_it(seed):
    assert read(FIVE, UploadCaps(len(FIVE), NO_CAP), seed) == ([1, 2, 4, 5], None)
    numbers, error = read(FIVE, UploadCaps(len(FIVE) - 1, NO_CAP), seed)  # "five" is cut: not read at all
    assert numbers == [1, 2, 4] and error.cap == "bytes"
    numbers, error = read(FIVE, UploadCaps(5, NO_CAP), seed)
    assert numbers == [1] and error.cap == "bytes"


def test_the_first_cap_reached_is_the_one_reported():
    assert read(FIVE, UploadCaps(6, 3))[1].cap == "bytes"  # byte 6 is inside line 2
    assert read(FIVE, UploadCaps(12, 2))[1].cap == "lines"
    assert "UPLOAD_MAX_LINES" in str(read(FIVE, UploadCaps(12, 2))[1])


def test_a_resumed_read_counts_what_came_before_it():
    data = b"".join(f"line {n}\n".encode() for n in range(1, 11))
    offset = data.index(b"line 4")
    got = b""
    with pytest.raises(OverCap):
        for chunk in capped([data[offset:]], UploadCaps(NO_CAP, 6), position=offset, lines=3):
            got += chunk
    assert got == data[offset:data.index(b"line 7")]  # lines 4-6: the cap counts lines 1-3 too
    with pytest.raises(OverCap) as error:
        list(capped([data[offset:]], UploadCaps(offset + 8, NO_CAP), position=offset, lines=3))
    assert error.value.cap == "bytes"


def test_a_resumed_gz_counts_its_skipped_part_towards_the_caps():
    data = b"".join(f"line {n}\n".encode() for n in range(1, 11))
    packed = gzip.compress(data)
    offset = data.index(b"line 4")
    got = b""
    with pytest.raises(OverCap):
        for chunk in capped(gunzip(chunked(packed, 3)), UploadCaps(NO_CAP, 6), skip_to=offset):
            got += chunk
    assert got == data[offset:data.index(b"line 7")]


def test_a_small_gz_that_expands_a_lot_stops_at_the_cap_in_constant_memory():
    bomb = gzip.compress(b"2026-11-20 10:00:00 INFO same line again\n" * 200_000)  # ~8 MB from ~25 KB
    assert len(bomb) < 100_000
    numbers, error = [], None
    try:
        for line in LineReader(capped(gunzip([bomb]), UploadCaps(NO_CAP, 1000))):
            numbers.append(line.number)
    except OverCap as stopped:
        error = stopped
    assert numbers == list(range(1, 1001)) and error.cap == "lines"
