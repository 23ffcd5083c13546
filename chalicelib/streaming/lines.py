"""Read a byte stream as log lines, in constant memory, with offsets to resume from.

Pure: it takes any iterable of byte chunks (an S3 body, a file, a test list).
Lines are numbered from 1 in the file (blank lines included, so a number
points at the real line); blank lines are counted, not yielded. CRLF, a
missing final newline, a UTF-8 BOM and invalid UTF-8 are handled; a line
longer than `max_line_bytes` is cut there and flagged, and its remainder is
skipped without being held in memory.
"""
import itertools
import zlib
from dataclasses import dataclass
from typing import Iterable, Iterator

BOM = b"\xef\xbb\xbf"
DEFAULT_MAX_LINE_BYTES = 200_000


def without_bom(chunks: Iterable[bytes], offset: int = 0) -> tuple[Iterator[bytes], int]:
    """The chunks minus a UTF-8 BOM at the very start of the stream, and the offset they begin at."""
    chunks = iter(chunks)
    if offset:
        return chunks, offset
    head = b""
    for chunk in chunks:
        head += chunk
        if len(head) >= len(BOM):
            break
    skipped = len(BOM) if head.startswith(BOM) else 0
    return itertools.chain([head[skipped:]], chunks), skipped


@dataclass(frozen=True)
class Line:
    number: int
    text: str
    end_offset: int  # stream offset just after this line: where to resume
    truncated: bool = False


class LineReader:
    def __init__(self, chunks: Iterable[bytes], start_offset: int = 0, start_line: int = 0,
                 max_line_bytes: int = DEFAULT_MAX_LINE_BYTES):
        self.chunks = chunks
        self.start_offset = start_offset
        self.last_line = start_line
        self.max_line_bytes = max_line_bytes
        self.blank_lines = 0  # in this read, from start_offset on

    def __iter__(self) -> Iterator[Line]:
        buffer = bytearray()
        truncated = False
        chunks, position = without_bom(self.chunks, self.start_offset)  # position: offset of the next unread byte
        pending = False  # bytes of an unfinished line have been seen
        for chunk in chunks:
            start = 0
            while start < len(chunk):
                newline = chunk.find(b"\n", start)
                end = len(chunk) if newline == -1 else newline
                room = self.max_line_bytes - len(buffer)
                piece = chunk[start:end]
                if len(piece) > room:
                    buffer += piece[:room]
                    truncated = True
                else:
                    buffer += piece
                pending = True
                if newline == -1:
                    position += len(chunk) - start
                    break
                position += newline - start + 1
                line = self._finish(buffer, truncated, position)
                if line:
                    yield line
                buffer.clear()
                truncated = pending = False
                start = newline + 1
        if pending:
            line = self._finish(buffer, truncated, position)
            if line:
                yield line

    def _finish(self, raw: bytearray, truncated: bool, end_offset: int) -> Line | None:
        self.last_line += 1
        if raw.endswith(b"\r"):
            del raw[-1:]
        text = raw.decode("utf-8", errors="replace")
        if not text.strip() and not truncated:
            self.blank_lines += 1
            return None
        return Line(self.last_line, text, end_offset, truncated)


class CorruptStream(ValueError):
    """The bytes cannot be what the key says (a `.gz` that is not gzip): no reader can go on past this point."""


def gunzip(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """Decompress a gzip stream chunk by chunk (concatenated members too); CorruptStream where it is not gzip,
    or where it ends inside a member (a truncated upload: what came before is yielded, the rest is missing)."""
    decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS)
    started = False  # the current member has bytes
    try:
        for chunk in chunks:
            while chunk:
                started = True
                data = decompressor.decompress(chunk, 1 << 20)
                if data:
                    yield data
                chunk = decompressor.unconsumed_tail
                if decompressor.eof:
                    rest = decompressor.unused_data + chunk
                    decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS)
                    started = False
                    chunk = rest
        tail = decompressor.flush()
    except zlib.error as error:  # content, not a fault: a retry reads the same bytes
        raise CorruptStream(f"the file is not valid gzip: {error}") from None
    if tail:
        yield tail
    if started and not decompressor.eof:
        raise CorruptStream("the file is not valid gzip: it ends before its last member does (truncated?)")


def skip_bytes(chunks: Iterable[bytes], count: int) -> Iterator[bytes]:
    """Drop the first `count` bytes of a stream (resuming inside a compressed file)."""
    for chunk in chunks:
        if count >= len(chunk):
            count -= len(chunk)
            continue
        yield chunk[count:]
        count = 0
