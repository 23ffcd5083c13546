"""Caps on one upload: how many decompressed bytes and lines a stage reads of it.

A 0.5 MB `.gz` of repetitive lines expands to 6.5 M lines, each a queued
message and a table write. Every upload reader (the log splitter, the invoice
ingester) reads through `open_object`, which stops the stream at the first
byte past either cap by raising OverCap, so both flows have the same limits
(UPLOAD_MAX_BYTES and UPLOAD_MAX_LINES of the stage, chalicelib/settings.py).

Bytes are counted from the start of the decompressed object; lines are
physical lines (newlines, plus an unterminated last line), blank ones too, as
the log splitter numbers them. The stream ends right after the last whole line
within the caps: the lines before the cap are read, a line cut by the byte cap
is not. OverCap is a CorruptStream: like a broken `.gz`, it is the same at
every retry, so a reader ends the upload instead of retrying it.
"""
from dataclasses import dataclass
from typing import Iterable, Iterator

from chalicelib import settings
from chalicelib.streaming.lines import CorruptStream


@dataclass(frozen=True)
class UploadCaps:
    max_bytes: int
    max_lines: int

    @classmethod
    def of_stage(cls) -> "UploadCaps":
        return cls(settings.upload_max_bytes(), settings.upload_max_lines())


class OverCap(CorruptStream):
    """The upload is larger than the stage reads: reading stops at the cap (the same at every retry)."""

    def __init__(self, cap: str, limit: int, setting: str):
        self.cap, self.limit = cap, limit  # "bytes" or "lines", and the stage's cap
        super().__init__(f"the upload is over this stage's cap of {limit:,} {cap} per upload ({setting}); "
                         f"nothing past the first {limit:,} {cap} was read")


def over_bytes(caps: UploadCaps) -> OverCap:
    return OverCap("bytes", caps.max_bytes, "UPLOAD_MAX_BYTES")


def over_lines(caps: UploadCaps) -> OverCap:
    return OverCap("lines", caps.max_lines, "UPLOAD_MAX_LINES")


def _nth_newline(chunk: bytes, n: int) -> int:
    """The index of the n-th newline of a chunk that has at least n (n >= 1)."""
    found = -1
    for _ in range(n):
        found = chunk.index(b"\n", found + 1)
    return found


def capped(chunks: Iterable[bytes], caps: UploadCaps, position: int = 0, lines: int = 0,
           skip_to: int = 0) -> Iterator[bytes]:
    """The chunks up to the caps, then OverCap if anything follows.

    `position` is the object offset of the first chunk's first byte and `lines` the newlines before it (a
    ranged read resumes there); `skip_to` drops what comes before that offset after counting it (a `.gz` is
    decompressed from its start again, and its skipped part still counts towards the caps).
    """
    for chunk in chunks:
        if not chunk:
            continue
        cut, error = None, None
        if position + len(chunk) > caps.max_bytes:
            cut, error = max(caps.max_bytes - position, 0), over_bytes(caps)
        left = caps.max_lines - lines
        newlines = chunk.count(b"\n")
        if newlines >= left:
            end = _nth_newline(chunk, left) + 1 if left > 0 else 0
            if end < len(chunk) and (cut is None or end <= cut):  # a byte of line max_lines + 1 is here
                cut, error = end, over_lines(caps)
        kept = chunk if cut is None else chunk[:cut]
        if position + len(kept) > skip_to:
            yield kept[max(skip_to - position, 0):]
        if error is not None:
            raise error
        position += len(chunk)
        lines += newlines


def count_newlines(chunks: Iterable[bytes]) -> int:
    return sum(chunk.count(b"\n") for chunk in chunks)
