"""streaming/parts.py: an upload planned into byte ranges that start at line starts, each knowing its first line.

Checked against the naive answer on any bytes (Hypothesis): the parts tile the object exactly, each starts just
after a newline, none is empty, and `lines_before` is the number of newlines before its start.
"""
from hypothesis import given, settings, strategies as st

from chalicelib.streaming.parts import Part, part_count, plan


def reader_of(data: bytes, chunk: int = 7):
    def read_range(start: int, end: int):
        assert 0 <= start <= end <= len(data)  # the plan never reads outside the object
        piece = data[start:end]
        return [piece[i:i + chunk] for i in range(0, len(piece), chunk)]
    return read_range


def check(data: bytes, planned: list[Part]) -> None:
    assert [p.index for p in planned] == list(range(len(planned)))
    assert planned[0].start == 0 and planned[-1].end == len(data)
    for before, after in zip(planned, planned[1:]):
        assert before.end == after.start and after.start > before.start
        assert data[after.start - 1:after.start] == b"\n"  # a part starts at a line start
    for part in planned:
        assert part.lines_before == data[:part.start].count(b"\n")
        assert part.size > 0 or len(data) == 0


@given(st.binary(max_size=400) | st.lists(st.sampled_from([b"a", b"bb", b"\n", b"\r\n", b"long line" * 5]))
       .map(b"".join), st.integers(1, 12))
@settings(max_examples=300, deadline=None)
def test_a_plan_tiles_the_object_at_line_starts(data, parts):
    check(data, plan(len(data), parts, reader_of(data)))


def test_a_line_longer_than_a_part_merges_its_parts():
    data = b"short\n" + b"x" * 100 + b"\nend\n"
    planned = plan(len(data), 8, reader_of(data))
    check(data, planned)
    assert len(planned) < 8  # the cuts inside the long line start no part
    # every cut falls in the long line or after the last line start: the long line stays in part 0
    assert [data[p.start:p.end] for p in planned] == [b"short\n" + b"x" * 100 + b"\n", b"end\n"]


def test_lines_before_gives_each_part_its_real_first_line_number():
    lines = [f"line {n}".encode() for n in range(1, 1001)]
    data = b"\n".join(lines) + b"\n"
    for part in plan(len(data), 5, reader_of(data, chunk=64)):
        first = data[part.start:].split(b"\n", 1)[0]
        assert first == f"line {part.lines_before + 1}".encode()


def test_part_count_follows_the_part_size_and_its_cap():
    assert part_count(10, 64, 16) == 1
    assert part_count(64, 64, 16) == 1
    assert part_count(65, 64, 16) == 2
    assert part_count(1 << 30, 64 << 20, 16) == 16
    assert part_count(1 << 30, 64 << 20, 4) == 4
    assert part_count(1 << 30, 64 << 20, 1) == 1
