"""Invoice files (CSV, JSON, JSON Lines) read as streams of rows, each with the byte offset to resume after it.

An upload can be 500 MB and its reader can run out of Lambda time, so every
reader takes any iterable of byte chunks, holds at most one record (about
1 MB) and yields each `Row` with `end_offset`, the stream offset just after
it. To resume, save `row.end_offset` and `reader.state()` (JSON-able, read it
right after that row is yielded), then build the same reader class with the
chunks from that offset on: `Reader(chunks, start_offset=offset,
state=saved)`; it goes on with the next row and the right numbering. Offsets
count bytes of the decompressed stream. Pure: no AWS here.

A row the user cannot fix by editing one value (not JSON, not an object,
wrong number of CSV fields, over 1 MB) comes as a `Row` with `data=None` and
a `problem`; the rest of the file goes on. A file that cannot be read at all,
or past some point, raises `UnreadableFile` with a reason for the user; rows
before it were already yielded.

Text is UTF-8 (a BOM at the start is skipped). A CSV line or JSONL line or
JSON element that is not valid UTF-8 is read as Windows-1252, which Excel in
Brazil writes; the five bytes Windows-1252 leaves undefined read as Latin-1.

CSV: the first non-blank line is the header; the delimiter is `,` or `;`,
whichever the header has more of outside quotes, `;` on a tie (in Brazil `,`
is the decimal comma, so `;` is the safer guess). Fields follow RFC 4180
(quotes, doubled quotes, delimiters and newlines inside quotes). A row's
number is the file line where it starts; blank lines and rows of empty
fields (Excel's `;;;;`) are skipped. A row with fewer fields than the header
gets empty values; one with more non-empty fields is a row problem (empty
extra fields, as from a trailing delimiter, are dropped). A quote never
closed swallows the rest of the file, so nothing after it can be trusted: the
file is unreadable ("unclosed quote starting at line N"), whether the end of
the file, the 1 MB record cap or the csv module's field limit (128 KiB)
comes first.

JSON Lines: one object per line, numbered by line; blank lines skipped.

JSON: an array of objects, or an object holding it under `invoices`,
`notas` or `notas_fiscais` (any case; other keys are skipped unread, and
nothing after that array is read). The file is never parsed whole: a small
scanner finds where each element of the array starts and ends, and only
that element is parsed; rows are numbered by element from 1. Broken
structure (no array, something other than `,` or `]` after an element, the
end of the file inside the array, anything but whitespace after a top-level
array) makes the file unreadable at that byte.
"""
import csv
import json
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Iterable, Iterator

from chalicelib.invoices.fields import ALIASES, REQUIRED, canonical_field, normalise_name
from chalicelib.streaming.lines import CorruptStream, without_bom

MAX_RECORD_BYTES = 1 << 20
MAX_COLUMNS = 1000
MAX_HEADER_BYTES = 64 * 1024
TOO_LONG = f"is longer than {MAX_RECORD_BYTES >> 20} MB"
ARRAY_KEYS = ("invoices", "notas", "notas_fiscais")
ENDS_EARLY = "the file ends before the array of invoices is closed, at byte {offset}"
MAX_KEY_BYTES = 1000

# For the rare line with a byte Windows-1252 leaves undefined: Latin-1 decodes every byte, and this then gives
# 0x80-0x9F the characters Windows-1252 has there (€, “, –, ...), so only those five bytes stay Latin-1.
_CP1252_OVER_LATIN1 = str.maketrans({
    chr(byte): bytes([byte]).decode("cp1252")
    for byte in range(0x80, 0xA0) if byte not in (0x81, 0x8D, 0x8F, 0x90, 0x9D)
})


class UnreadableFile(Exception):
    """The file, or the rest of it, cannot be read as invoices; `reason` says why, for the user."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Row:
    number: int  # what the user sees: CSV file line where the record starts, JSONL line, JSON element (from 1)
    data: dict | None  # None when the row itself cannot be read; then `problem` says why
    end_offset: int  # stream offset just after this row: where to resume
    problem: str | None = None


def reader_for(key: str) -> type | None:
    """The reader class for an uploaded key (.csv, .json, .jsonl, each maybe .gz), or None."""
    name = key.lower().removesuffix(".gz")
    for suffix, reader in ((".csv", CsvReader), (".jsonl", JsonLinesReader), (".json", JsonArrayReader)):
        if name.endswith(suffix):
            return reader
    return None


def decode(raw: bytes) -> str:
    """UTF-8, or else what Excel in Brazil writes (Windows-1252): never fails, never drops a character."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        pass
    try:
        return raw.decode("cp1252")
    except UnicodeDecodeError:  # one of its five undefined bytes: slower, and rare
        return raw.decode("latin-1").translate(_CP1252_OVER_LATIN1)


def parse_object(text: str) -> tuple[dict | None, str | None]:
    """One JSON object, numbers as Decimal; or None and why not."""
    try:
        value = _DECODER.decode(text)
    except RecursionError:
        return None, "is not valid JSON: it is nested too deeply"
    except ValueError as error:
        return None, f"is not valid JSON: {error}"
    if not isinstance(value, dict):
        return None, f"is not a JSON object (it is {_json_kind(value)})"
    return value, None


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows")


# Built once: json.loads with options builds a decoder per call, a fifth of the time spent on a small element.
_DECODER = json.JSONDecoder(parse_float=Decimal, parse_constant=_no_constant)


def _json_kind(value: Any) -> str:
    kinds = {list: "an array", str: "a string", bool: "true or false", type(None): "null"}
    return kinds.get(type(value), "a number")


def _readable(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """The chunks; a stream that cannot be decoded at all (a corrupt .gz) makes the file unreadable from there."""
    try:
        yield from chunks
    except CorruptStream as error:
        raise UnreadableFile(str(error)) from None


def _without_bom(chunks: Iterable[bytes], offset: int) -> tuple[Iterator[bytes], int]:
    return without_bom(_readable(chunks), offset)


def _byte_lines(chunks: Iterable[bytes], offset: int) -> Iterator[tuple[bytes | None, int]]:
    """Each physical line (with its newline) and the offset after it; a line over the cap comes as None, unheld."""
    buffer = bytearray()
    too_long = False
    for chunk in chunks:
        start = 0
        while start < len(chunk):
            newline = chunk.find(b"\n", start)
            end = len(chunk) if newline == -1 else newline + 1
            if not too_long:
                buffer += chunk[start:end]
                too_long = len(buffer) > MAX_RECORD_BYTES
            offset += end - start
            start = end
            if too_long:
                buffer.clear()
            if newline != -1:
                yield (None if too_long else bytes(buffer)), offset
                buffer.clear()
                too_long = False
    if buffer or too_long:
        yield (None if too_long else bytes(buffer)), offset


def _json_row(number: int, raw: bytes | None, end_offset: int) -> Row:
    if raw is None:
        return Row(number, None, end_offset, TOO_LONG)
    data, problem = parse_object(decode(raw))
    return Row(number, data, end_offset, problem)


class JsonLinesReader:
    """JSON Lines: one invoice object per line, numbered by file line (blank lines count, and are skipped)."""

    def __init__(self, chunks: Iterable[bytes], start_offset: int = 0, state: dict | None = None,
                 next_row: int | None = None):
        self.chunks = chunks
        self.start_offset = start_offset
        self.next_row = int(next_row or (state or {}).get("next_row", 1))

    def state(self) -> dict:
        return {"next_row": self.next_row}

    def __iter__(self) -> Iterator[Row]:
        chunks, offset = _without_bom(self.chunks, self.start_offset)
        for raw, end_offset in _byte_lines(chunks, offset):
            number = self.next_row
            self.next_row += 1
            if raw is None or raw.strip():
                yield _json_row(number, raw, end_offset)


class _RecordTooLong(Exception):
    pass


class _CsvLines:
    """The physical lines handed to csv.reader, one at a time, remembering which ones the current record took."""

    def __init__(self, lines: Iterator[tuple[bytes | None, int]], next_line: int, offset: int):
        self._lines = lines
        self._pushed_back: tuple[bytes | None, int] | None = None
        self.next_line = next_line
        self.end_offset = offset
        self.exhausted = False
        self.new_record()

    def new_record(self) -> None:
        self.first_line = self.next_line
        self.record_lines = 0
        self.record_bytes = 0

    def first_text(self) -> str | None:
        """The first non-blank line, left to be read again; None for an empty file."""
        for raw, end_offset in self._lines:
            if raw is None or raw.strip():
                self._pushed_back = raw, end_offset
                return None if raw is None else decode(raw)
            self.next_line += 1
        return None

    def __iter__(self) -> "_CsvLines":
        return self

    def __next__(self) -> str:
        raw, self.end_offset = self._pushed_back or self._next_line()
        self._pushed_back = None
        self.next_line += 1
        self.record_lines += 1
        self.record_bytes += MAX_RECORD_BYTES + 1 if raw is None else len(raw)
        if self.record_bytes > MAX_RECORD_BYTES:
            raise _RecordTooLong
        assert raw is not None  # counted as too long just above
        return decode(raw)

    def _next_line(self) -> tuple[bytes | None, int]:
        try:
            return next(self._lines)
        except StopIteration:
            self.exhausted = True
            raise


class CsvReader:
    """CSV with a header row, `,` or `;`, as Excel and other tools write it."""

    def __init__(self, chunks: Iterable[bytes], start_offset: int = 0, state: dict | None = None,
                 next_row: int | None = None):
        if start_offset and not state:
            raise ValueError("resuming a CSV file needs the state saved with its offset")
        self.chunks = chunks
        self.start_offset = start_offset
        self.columns: list[str] | None = list(state["columns"]) if state else None
        self.delimiter: str | None = state["delimiter"] if state else None
        self.next_row = int(next_row or (state or {}).get("next_row", 1))

    def state(self) -> dict | None:
        if self.columns is None:
            return None
        return {"columns": list(self.columns), "delimiter": self.delimiter, "next_row": self.next_row}

    def __iter__(self) -> Iterator[Row]:
        chunks, offset = _without_bom(self.chunks, self.start_offset)
        lines = _CsvLines(_byte_lines(chunks, offset), self.next_row, offset)
        if self.delimiter is None:
            self.delimiter = detect_delimiter(lines.first_text() or "")
        records = _records(csv.reader(lines, delimiter=self.delimiter, strict=True), lines)
        if self.columns is None:
            self.columns = _header(records)
            self.next_row = lines.next_line
        self._distinct_columns = len(set(self.columns)) == len(self.columns)
        for line, fields, problem in records:
            self.next_row = lines.next_line
            yield self._row(line, fields, problem, lines.end_offset)

    def _row(self, line: int, fields: list[str] | None, problem: str | None, end_offset: int) -> Row:
        assert self.columns is not None  # read from the header before the first row
        columns, width = self.columns, len(self.columns)
        if fields is None:
            return Row(line, None, end_offset, problem)
        if len(fields) > width and "".join(fields[width:]).strip():
            return Row(line, None, end_offset, f"has {len(fields)} fields but the header has {width}")
        values = fields[:width] + [""] * (width - len(fields))
        if self._distinct_columns:
            return Row(line, dict(zip(columns, values)), end_offset, None)
        data: dict[str, str] = {}
        for name, value in zip(columns, values):
            if not data.get(name, "").strip():  # a repeated column: the first non-empty value wins
                data[name] = value
        return Row(line, data, end_offset, None)


def detect_delimiter(header: str) -> str:
    """`,` or `;`, whichever the header line has more of outside quotes; `;` on a tie."""
    outside_quotes = "".join(header.split('"')[::2])
    return "," if outside_quotes.count(",") > outside_quotes.count(";") else ";"


def _records(parser: Iterator[list[str]], lines: _CsvLines) -> Iterator[tuple[int, list[str] | None, str | None]]:
    """(first line, fields, None) for each non-blank record, or (first line, None, problem)."""
    while True:
        lines.new_record()
        try:
            fields = next(parser)
        except StopIteration:
            return
        except _RecordTooLong:
            _unless_unclosed_quote(lines)
            yield lines.first_line, None, TOO_LONG
            continue
        except csv.Error as error:
            _unless_unclosed_quote(lines, error)
            yield lines.first_line, None, f"is not valid CSV: {error}"
            continue
        if any(field.strip() for field in fields):
            yield lines.first_line, fields, None


def _unless_unclosed_quote(lines: _CsvLines, error: csv.Error | None = None) -> None:
    """Raise UnreadableFile when a record broke because a quote is never closed."""
    over_field_limit = error is not None and lines.record_bytes > csv.field_size_limit()
    if lines.exhausted or (lines.record_lines > 1 and (error is None or over_field_limit)):
        raise UnreadableFile(f"unclosed quote starting at line {lines.first_line}")


def _header(records: Iterator[tuple[int, list[str] | None, str | None]]) -> list[str]:
    first = next(records, None)
    if first is None:
        raise UnreadableFile("the file is empty: a header row is required")
    line, fields, problem = first
    if fields is None:
        raise UnreadableFile(f"the header (line {line}) {problem}")
    columns = [name.strip() for name in fields]
    # The header is saved with every checkpoint (an item of at most 400 KB) and read per row.
    if len(columns) > MAX_COLUMNS or sum(len(c.encode("utf-8")) for c in columns) > MAX_HEADER_BYTES:
        raise UnreadableFile(f"the header (line {line}) has {len(columns)} columns and "
                             f"{sum(len(c) for c in columns)} characters; at most {MAX_COLUMNS} columns "
                             f"and {MAX_HEADER_BYTES} bytes are read")
    found = {canonical_field(name) for name in columns}
    missing = [field for field in REQUIRED if field not in found]
    if missing:
        names = "; ".join(f"{field} ({', '.join(ALIASES[field])})" for field in missing)
        opening = f"line {line} is not a header" if len(missing) == len(REQUIRED) else f"the header (line {line})"
        raise UnreadableFile(f"{opening}: no column for {names}")
    return columns


class JsonArrayReader:
    """A JSON array of invoice objects (or an object holding one), element by element."""

    def __init__(self, chunks: Iterable[bytes], start_offset: int = 0, state: dict | None = None,
                 next_row: int | None = None):
        if start_offset and not state:
            raise ValueError("resuming a JSON file needs the state saved with its offset")
        self.chunks = chunks
        self.start_offset = start_offset
        self.wrapped: bool | None = state["wrapped"] if state else None
        self.next_row = int(next_row or (state or {}).get("next_row", 1))

    def state(self) -> dict | None:
        if self.wrapped is None:
            return None
        return {"mode": "array", "wrapped": self.wrapped, "next_row": self.next_row}

    def __iter__(self) -> Iterator[Row]:
        chunks, offset = _without_bom(self.chunks, self.start_offset)
        cursor = _Cursor(chunks, offset)
        if self.wrapped is None:
            self.wrapped = _open_array(cursor)
            more = _peek(cursor) != ord("]")
            if not more:
                cursor.skip()
        else:
            more = _after_element(cursor)
        while more:
            yield self._element(cursor)
            more = _after_element(cursor)
        if self.wrapped:
            _close_object(cursor)
        # Read to the very end: trailing garbage is an error, and a .gz cut short is only seen there.
        trailing = cursor.significant()  # a look, not a read
        if trailing is not None:
            where = "object" if self.wrapped else "array"
            raise UnreadableFile(f"unexpected {_shown(trailing)} after the {where}, at byte {cursor.offset}")

    def _element(self, cursor: "_Cursor") -> Row:
        _expect_value(cursor)
        raw = cursor.value(MAX_RECORD_BYTES)
        number = self.next_row
        self.next_row += 1
        return _json_row(number, raw, cursor.offset)


def _open_array(cursor: "_Cursor") -> bool:
    """Move past the `[` of the invoices array; whether it sits inside a top-level object."""
    byte = cursor.significant()
    if byte == ord("["):
        cursor.skip()
        return False
    if byte == ord("{"):
        cursor.skip()
        _find_array_member(cursor)
        return True
    found = "nothing: the file is empty" if byte is None else f"{_shown(byte)} at byte {cursor.offset}"
    raise UnreadableFile(f"expected a JSON array of invoices (or an object holding one), found {found}")


def _find_array_member(cursor: "_Cursor") -> None:
    """Move past the `[` of the first `invoices`/`notas`/`notas_fiscais` member, skipping the others."""
    keys = ", ".join(f'"{key}"' for key in ARRAY_KEYS)
    while (byte := _peek(cursor)) != ord("}"):
        if byte != ord('"'):
            raise UnreadableFile(f"expected a key at byte {cursor.offset}, found {_shown(byte)}")
        key = _key(cursor.value(MAX_KEY_BYTES))
        _expect(cursor, b":")
        _expect_value(cursor)
        if key in ARRAY_KEYS:
            if _peek(cursor) != ord("["):
                raise UnreadableFile(f'"{key}" must be an array of invoices (byte {cursor.offset})')
            cursor.skip()
            return
        cursor.value(0)
        if _peek(cursor) == ord(","):
            cursor.skip()
        elif _peek(cursor) != ord("}"):
            raise UnreadableFile(f"expected , or }} at byte {cursor.offset}, found {_shown(_peek(cursor))}")
    raise UnreadableFile(f"the top-level object has no {keys} array of invoices")


def _close_object(cursor: "_Cursor") -> None:
    """Move past the members after the invoices array and the `}` that closes the top-level object."""
    while (byte := _peek(cursor)) != ord("}"):
        if byte != ord(","):
            raise UnreadableFile(f"expected , or }} at byte {cursor.offset}, found {_shown(byte)}")
        cursor.skip()
        if _peek(cursor) != ord('"'):
            raise UnreadableFile(f"expected a key at byte {cursor.offset}, found {_shown(_peek(cursor))}")
        cursor.value(0)
        _expect(cursor, b":")
        _expect_value(cursor)
        cursor.value(0)
    cursor.skip()


def _key(raw: bytes | None) -> str | None:
    if raw is None:
        return None
    try:
        key = json.loads(decode(raw))
    except ValueError:
        return None
    return normalise_name(key)


def _after_element(cursor: "_Cursor") -> bool:
    """Move past the `,` (True: another element follows) or the `]` (False) after an element."""
    byte = _peek(cursor)
    if byte not in (ord(","), ord("]")):
        raise UnreadableFile(f"expected , or ] at byte {cursor.offset}, found {_shown(byte)}")
    cursor.skip()
    return byte == ord(",")


def _expect(cursor: "_Cursor", token: bytes) -> None:
    byte = _peek(cursor)
    if byte != token[0]:
        raise UnreadableFile(f"expected {token.decode()} at byte {cursor.offset}, found {_shown(byte)}")
    cursor.skip()


def _expect_value(cursor: "_Cursor") -> None:
    byte = _peek(cursor)
    if byte < 0x20 or byte in b",:]}":
        raise UnreadableFile(f"expected a value at byte {cursor.offset}, found {_shown(byte)}")


def _peek(cursor: "_Cursor") -> int:
    """The next byte that is not whitespace; the file may not end before the array does."""
    byte = cursor.significant()
    if byte is None:
        raise UnreadableFile(ENDS_EARLY.format(offset=cursor.offset))
    return byte


def _shown(byte: int) -> str:
    return repr(chr(byte)) if 0x20 < byte < 0x7F else f"byte 0x{byte:02x}"


_NOT_WHITESPACE = re.compile(rb"[^ \t\r\n]")
_IN_STRING = re.compile(rb'["\\]')
# Inside a container: everything up to the next bracket, or to a string that does not end in this chunk.
# Possessive, so an unterminated string cannot make it backtrack.
_PLAIN_IN_CONTAINER = re.compile(rb'(?:[^"\[\]{}]++|"(?:[^"\\]++|\\.)*+")*+', re.DOTALL)
_AT_TOP = re.compile(rb'[\x00-\x20",\[\]{}]')  # what ends a bare value (number, true, ...) or starts a nested one


class _Cursor:
    """A read position in a stream of chunks, at `offset`; only the current chunk is held."""

    def __init__(self, chunks: Iterator[bytes], offset: int):
        self._chunks = chunks
        self._chunk = b""
        self._base = offset  # stream offset of _chunk[0]
        self._at = 0

    @property
    def offset(self) -> int:
        return self._base + self._at

    def _fill(self) -> bool:
        while self._at >= len(self._chunk):
            chunk = next(self._chunks, None)
            if chunk is None:
                return False
            self._base += len(self._chunk)
            self._chunk, self._at = chunk, 0
        return True

    def significant(self) -> int | None:
        """The next non-whitespace byte, not consumed; None at the end of the stream."""
        while self._fill():
            match = _NOT_WHITESPACE.search(self._chunk, self._at)
            if match:
                self._at = match.start()
                return self._chunk[self._at]
            self._at = len(self._chunk)
        return None

    def skip(self) -> None:
        """Consume the byte `significant` returned."""
        self._at += 1

    def value(self, limit: int) -> bytes | None:
        """Consume the JSON value that starts here; its bytes, or None when it is longer than `limit`."""
        scan = _ValueEnd()
        kept: bytearray | None = bytearray()
        size = 0
        while self._fill():
            end = scan.find(self._chunk, self._at)
            stop = len(self._chunk) if end is None else end
            size += stop - self._at
            if kept is not None and size <= limit:
                kept += self._chunk[self._at:stop]
            else:
                kept = None
            self._at = stop
            if end is not None:
                return None if kept is None else bytes(kept)
        raise UnreadableFile(ENDS_EARLY.format(offset=self.offset))


class _ValueEnd:
    """Finds where one JSON value ends, chunk after chunk, by depth, strings and escapes only."""

    def __init__(self):
        self.depth = 0
        self.in_string = False
        self.escaped = False  # a backslash ended the previous chunk

    def find(self, chunk: bytes, at: int) -> int | None:
        """The index in `chunk` just after the value, or None: it goes on in the next chunk."""
        if self.escaped:
            at, self.escaped = at + 1, False
        while at < len(chunk):
            if self.in_string:
                after = self._string(chunk, at)
                if after is None or (not self.in_string and self.depth == 0):
                    return after
                at = after
                continue
            interesting = self._next_interesting(chunk, at)
            if interesting is None:
                return None
            byte = chunk[interesting]
            at = interesting + 1
            if byte == ord('"'):
                self.in_string = True
            elif byte in b"[{":
                self.depth += 1
            elif byte in b"]}" and self.depth > 0:
                self.depth -= 1
                if self.depth == 0:
                    return at
            else:  # a delimiter right after a bare value: it is not part of it
                return at - 1
        return None

    def _next_interesting(self, chunk: bytes, at: int) -> int | None:
        if self.depth:
            at = _PLAIN_IN_CONTAINER.match(chunk, at).end()  # type: ignore[union-attr]  # it matches the empty string
            return at if at < len(chunk) else None
        match = _AT_TOP.search(chunk, at)
        return match.start() if match else None

    def _string(self, chunk: bytes, at: int) -> int | None:
        """Move through a string: the index after its closing quote (in_string cleared), or None at chunk end."""
        while True:
            match = _IN_STRING.search(chunk, at)
            if match is None:
                return None
            at = match.end()
            if chunk[match.start()] == ord('"'):
                self.in_string = False
                return at
            if at >= len(chunk):
                self.escaped = True
                return None
            at += 1
