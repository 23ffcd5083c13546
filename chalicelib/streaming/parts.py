"""Plan one upload into byte ranges that start at line starts, so that several readers can split it at once.

One reader moves one file at the speed of one Lambda (docs/capacity.md): a
1 GiB log is 15 M lines. Reading it as P ranges side by side divides that time
by P, but each line must keep its real number in the file (the problem-lines
API and the report show it), and a reader starting in the middle of a file does
not know how many lines came before it. So the plan counts them first: `plan`
reads the whole object once, range by range and several ranges at a time,
counting newlines only (`bytes.count`, no decoding), and puts each boundary
just after a newline near an even cut. Every part then starts at a line start,
knowing its first line's number: exactly what a reader resuming from a
checkpoint knows. Reading it twice costs one more pass of GETs; the counting
pass's CPU per MB is measured by `make bench-cpu` and modelled by
`make capacity`.

Pure apart from `read_range`, which the caller supplies (S3 ranged GETs, or a
list of bytes in a test).
"""
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable, Iterable

ReadRange = Callable[[int, int], Iterable[bytes]]  # the bytes in [start, end) of the object


@dataclass(frozen=True)
class Part:
    index: int
    start: int  # offset of its first byte: the start of a line
    end: int  # offset just past its last byte: the next part's start, or the object's size
    lines_before: int  # newlines before `start`: its first line is line lines_before + 1

    @property
    def size(self) -> int:
        return self.end - self.start


def part_count(size: int, part_bytes: int, max_parts: int) -> int:
    """How many ranges an object of `size` bytes is planned into: one per `part_bytes`, at most `max_parts`."""
    if size <= part_bytes or max_parts <= 1 or part_bytes <= 0:
        return 1
    return min(max_parts, -(-size // part_bytes), max(1, size // 2))


def _scan(chunks: Iterable[bytes], start: int) -> tuple[int, int | None]:
    """(newlines in the segment, offset of its first newline or None)."""
    count, first, position = 0, None, start
    for chunk in chunks:
        if first is None:
            found = chunk.find(b"\n")
            if found != -1:
                first = position + found
        count += chunk.count(b"\n")
        position += len(chunk)
    return count, first


def plan(size: int, parts: int, read_range: ReadRange, max_in_flight: int = 8) -> list[Part]:
    """The object's ranges: about `parts` of them, each starting at a line start, numbered 0.. in file order.

    Fewer when a cut falls in a line that runs to the next cut or to the end (a part is never empty).
    Segment i spans [cut_i - 1, cut_i+1 - 1): the first newline at or after cut_i - 1 ends the line that
    part i must not start inside, so part i starts just after it.
    """
    parts = min(parts, size // 2)  # cuts at least 2 bytes apart: every segment below is a real range
    if parts <= 1:
        return [Part(0, 0, size, 0)]
    cuts = [i * size // parts for i in range(1, parts)]
    starts = [0] + [cut - 1 for cut in cuts]
    ends = starts[1:] + [size]
    with ThreadPoolExecutor(min(max_in_flight, len(starts)), thread_name_prefix="plan") as pool:
        scans = list(pool.map(lambda bounds: _scan(read_range(*bounds), bounds[0]), zip(starts, ends)))
    planned = [Part(0, 0, size, 0)]
    before = scans[0][0]  # newlines before segment i
    for count, first in scans[1:]:
        if first is not None and first + 1 < size:
            # the part so far ends where this one starts; its newline (the one at `first`) is before it
            planned[-1] = Part(planned[-1].index, planned[-1].start, first + 1, planned[-1].lines_before)
            planned.append(Part(len(planned), first + 1, size, before + 1))
        before += count
    return planned
