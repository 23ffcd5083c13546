"""Generated log and invoice uploads, pushed through the real handlers by the local EventRunner against moto.

Files mix valid lines (tests/logfiles.py; invoice rows in the formats of
chalicelib/invoices/fields.py) with broken ones, controls, lone CRs, invalid
UTF-8, and the characters that are *not* line ends but are easy to take for
one (`\\x0b`, `\\x0c`, `\\x1c`-`\\x1e`, `\\x85`, U+2028, U+2029): a line ends
at `\\n` only. Properties:

- logs: every line is accounted for (total_items + blank_lines = lines in the
  file), every item processed, a valid line never `unparsed`, the report
  written exactly once, the run `completed`;
- invoices: accepted + rejected = rows (the data lines of a CSV/JSONL, the
  elements of a JSON array), valid rows accepted, broken ones rejected, the
  report written exactly once, the upload `completed` (or `failed` with a
  reason, for bytes that are no such file): never left `processing`.
"""
import gzip
import itertools
import json
import zlib
from urllib.parse import quote

import pytest
from hypothesis import assume, given, note
from hypothesis import strategies as st

from chalicelib.logbatch import service as logbatch
from tests.conftest import event_runner
from tests.fuzz.support import TRIED, aws, budget, dump, odd_text, record_calls
from tests.logfiles import ACCESS_LINES, APP_LINES, ERROR_LINES, JSON_LINES

LOGS, PROCESSED, INVOICES, REPORTS = "input-logs", "processed-data", "notas-fiscais", "async-catalog-reports-dev"
BOM = b"\xef\xbb\xbf"
NOT_LINE_ENDS = "\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029\r"
upload_numbers = itertools.count(1)


@pytest.fixture
def runner(app, aws_resources):
    return event_runner(app, concurrency=1)


@pytest.fixture
def calls(runner):
    return record_calls(("s3",))


def report_puts(calls, bucket: str, key_prefix: str) -> int:
    return sum(op == "PutObject" and p["Bucket"] == bucket and p["Key"].startswith(key_prefix) for _, op, p in calls)


def lines_in(content: bytes) -> int:
    """Lines as the README counts them: ended by \\n only; a last line without one counts; a leading BOM is not text."""
    content = content.removeprefix(BOM)
    return content.count(b"\n") + (1 if content and not content.endswith(b"\n") else 0)


# --- log files ---------------------------------------------------------------------------

VALID_LOG_LINES = APP_LINES + JSON_LINES + ACCESS_LINES + ERROR_LINES
digits = st.integers(0, 99).map(lambda n: f"{n:02d}")
# Lines in a recognised format with values no such line should hold: month 13, year 1 shifted to UTC,
# 60-digit sizes, huge epochs, JSON nested past the recursion limit...
near_valid_log_lines = st.one_of(
    st.builds(lambda y, m, d, h, zone, level, rest: f"{y:04d}-{m}-{d} {h}:00:00{zone} {level} [Svc] {rest}",
              st.sampled_from([1, 2026, 9999]), digits, digits, digits,
              st.sampled_from(["", "Z", "+05:00", "-1400", "+99:99", ",123"]),
              st.sampled_from(["INFO", "error", "Warning", "NOPE", "crit"]), odd_text),
    st.builds(lambda d, mon, y, zone, status, size: f'192.0.2.1 - - [{d}/{mon}/{y}:10:00:00 {zone}] '
                                                    f'"GET / HTTP/1.1" {status} {size}',
              digits, st.sampled_from(["Nov", "Foo"]), st.sampled_from(["0001", "2026", "9999"]),
              st.sampled_from(["+0000", "+1400", "-1200"]), st.sampled_from(["200", "999", "000"]),
              st.sampled_from(["0", "-", "1" * 19, "9" * 39, "9" * 60, "9" * 5000])),
    st.builds(lambda day, y: f"[Fri Nov {day} 10:00:10 {y}] [core:error] [pid 1] [client 192.0.2.3] boom",
              digits, st.sampled_from(["0001", "2026", "9999"])),
    st.builds(lambda key, value: dump({key: value, "level": "info", "msg": "m"}),
              st.sampled_from(["time", "ts", "status", "level", "logger", "msg"]),
              st.one_of(st.integers(), st.floats(), st.sampled_from([10 ** 20, 10 ** 300, 2 ** 70, -(10 ** 30)]),
                        st.sampled_from(["0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59-05:00", "2026-02-30",
                                         "", "Z"]), odd_text, st.lists(st.integers(), max_size=2))),
    st.sampled_from(['{"a":' + "[" * 5000 + "]" * 5000 + "}", "{" * 5000, '{"msg": "\\ud800"}', "{}", "[]", "{",
                     '{"time": 1e400}', '{"time": NaN, "status": Infinity}']),
)
log_lines = st.one_of(
    st.sampled_from(VALID_LOG_LINES), near_valid_log_lines, odd_text,
    st.builds(lambda line, at, char: line[:at] + char + line[at:], st.sampled_from(VALID_LOG_LINES),
              st.integers(0, 80), st.sampled_from(NOT_LINE_ENDS)),
    st.sampled_from(["", " ", "\t", "\r", "  \r", "\u3000"]),
)


@st.composite
def log_files(draw) -> tuple[bytes, int]:
    """(content, how many of its lines are valid lines as written in tests/logfiles.py)."""
    if draw(st.integers(0, 9)) == 0:
        return draw(st.binary(max_size=600)), 0
    lines = draw(st.lists(log_lines, max_size=25))
    parts = [line.encode("utf-8", errors="surrogatepass") for line in lines]
    for index in draw(st.lists(st.integers(0, max(0, len(parts) - 1)), max_size=2)):
        if parts:  # invalid UTF-8 in a line
            parts[index] += draw(st.sampled_from([b"\xff", b"\xc3", b"\xed\xa0\x80", b"\x80abc"]))
    endings = [draw(st.sampled_from([b"\n", b"\r\n"])) for _ in parts]
    content = b"".join(p + e for p, e in zip(parts, endings))
    if parts and draw(st.booleans()):
        content = content[: -len(endings[-1])]  # no final newline
    if draw(st.integers(0, 4)) == 0:
        content = BOM + content
    text_lines = content.removeprefix(BOM).split(b"\n")
    valid = sum(line.removesuffix(b"\r").decode("utf-8", "replace") in VALID_LOG_LINES for line in text_lines)
    return content, valid


def log_report(key: str) -> dict:
    return json.loads(aws("s3").get_object(Bucket=PROCESSED, Key=logbatch.report_key_for(key))["Body"]
                      .read())


def packed(content: bytes, packing: str, cut: float) -> tuple[bytes, bytes | None]:
    """(what is uploaded, the text a reader can get out of it, or None when all of it is readable)."""
    if packing == "gzip":
        return gzip.compress(content), None
    if packing == "truncated gzip":  # cut anywhere before the end of its trailer: a .gz that ends early
        whole = gzip.compress(content)
        upload = whole[:int(cut * (len(whole) - 1))]
        readable = zlib.decompressobj(16 + zlib.MAX_WBITS)
        return upload, readable.decompress(upload) + readable.flush()
    if packing == "not gzip under .gz":
        return content, b""
    return content, None


@budget(0.75)
@given(file=log_files(), lines_per_message=st.sampled_from([1, 3, 10]), cut=st.floats(0, 1),
       packing=st.sampled_from(["plain", "gzip", "truncated gzip", "not gzip under .gz"]))
def test_every_log_line_is_accounted_for_and_reported_once(runner, client, calls, monkeypatch, file, packing, cut,
                                                           lines_per_message):
    content, valid = file
    assume(not (packing == "not gzip under .gz" and content.startswith(b"\x1f\x8b")))
    upload, readable = packed(content, packing, cut)
    monkeypatch.setenv("LOG_LINES_PER_MESSAGE", str(lines_per_message))
    logbatch.reset()
    key = f"fuzz/{next(upload_numbers)}/app.log" + (".gz" if packing != "plain" else "")
    note(f"{key}: {upload[:3000]!r}")
    calls.clear()
    aws("s3").put_object(Bucket=LOGS, Key=key, Body=upload)
    runner.drain()
    if readable is None:
        TRIED["split_log_upload + process_log_lines (files)"] += 1
        TRIED["split_log_upload + process_log_lines (lines)"] += lines_in(content)
    else:
        TRIED[f"split_log_upload ({packing})"] += 1
    status = client.http.get(f"/log-batches?key={quote(key)}")
    assert status.status_code == 200, status.body
    assert json.loads(status.body)["status"] == "completed", status.body
    report = log_report(key)
    if readable is None:
        assert report["total_items"] + report["blank_lines"] == lines_in(content)
        assert not report.get("unreadable"), report
        assert report["unparsed_items"] <= report["total_items"] - valid  # a valid line is never unparsed
    else:  # the lines that could be read, and the report says why the rest could not
        assert report["total_items"] + report["blank_lines"] == readable.removeprefix(BOM).count(b"\n")
        assert bool(report.get("unreadable")) == bool(upload), report
    assert report["processed_items"] == report["total_items"]
    assert sum(report["by_level"].values()) == sum(report["by_status"].values()) == report["total_items"]
    assert report_puts(calls, PROCESSED, logbatch.report_key_for(key)) == 1


# --- invoice files -----------------------------------------------------------------------

COLUMNS = {
    "number": ["numero", "Número", "id", "NF", "number"],
    "customer": ["cliente", "Cliente", "customer"],
    "amount": ["valor", "Valor", "amount", "total"],
    "issue_date": ["data_emissao", "Data Emissão", "issue_date", "date"],
    "customer_document": ["cnpj", "CPF", "document"],
    "description": ["descricao", "Descrição", "description"],
}
REQUIRED = ["number", "customer", "amount", "issue_date"]
GOOD = {
    "number": st.builds(lambda n, prefix: f"{prefix}{n}", st.integers(1, 60), st.sampled_from(["NF-", "nf ", "X"])),
    "customer": st.sampled_from(["Ana Costa", "João Silva", "Zé", "ACME Ltda."]),
    "amount": st.sampled_from(["10,00", "2.100,43", "2,100.43", "1.234.567", "99.90", "R$ 5,5", "2100", "0"]),
    "issue_date": st.sampled_from(["15/10/2025", "2025-10-15", "29/02/2024", "01/01/2026"]),
    "customer_document": st.sampled_from(["11222333000181", "11.222.333/0001-81", "529.982.247-25",
                                          "12ABC34501DE35"]),
    "description": st.one_of(st.sampled_from(["Consultoria", "Serviço; com ponto e vírgula", "linha\numa",
                                              'aspas "duplas"', "a\u2028b", "x\x85y", "tab\there", "cr\rlf"]),
                             st.text(st.characters(exclude_categories=("Cs", "Cc")), max_size=20)),
}
# Values each of which makes its row invalid, whatever the rest of the row holds.
BAD = {
    "number": st.sampled_from(["x" * 101, "\ufdfa" * 100, "NF\x00", "NF\x0b1", "\ufb03" * 40]),
    "customer": st.sampled_from(["c" * 201, "Ana\x1cCosta", "Ana\x0cCosta"]),
    "amount": st.sampled_from(["2.100", "abc", "-5", "1e3", "1,2,3", "0,001", "9" * 5000, "9" * 4000 + ".123",
                               "99999999999", "R$", "1.2.3,4", "１０"]),
    "issue_date": st.sampled_from(["31/02/2025", "2025-13-01", "15/10/25", "0000-01-01", "2025-W01-1", "hoje"]),
    "customer_document": st.sampled_from(["11111111111", "11222333000182", "123", "ABCDEFGHIJKLMN"]),
    "description": st.sampled_from(["d" * 1001, "bell\x07 ok", "nul\x00 ok", "v\x0bt"]),
}
garbage_lines = st.builds(lambda head, junk, tail: f"{head}{junk}{tail}", st.sampled_from(["x", "NF", "9", "é"]),
                          odd_text.map(lambda t: t.replace('"', "").replace("\n", "")),
                          st.sampled_from(["", "\r", "\x0b", "\x1c", "\u2028", "z"]))


@st.composite
def invoice_rows(draw) -> tuple[str, dict | None]:
    """("valid" | "invalid", {field: value}) for a row; the row's fields in canonical names."""
    fields = [f for f in REQUIRED] + [f for f in ("customer_document", "description") if draw(st.booleans())]
    row = {field: draw(GOOD[field]) for field in fields}
    if draw(st.booleans()):
        return "valid", row
    broken = draw(st.lists(st.sampled_from(list(BAD)), min_size=1, max_size=2, unique=True))
    row.update({field: draw(BAD[field]) for field in broken})
    if draw(st.integers(0, 3)) == 0:  # a required field missing (or blank) instead
        row[draw(st.sampled_from(REQUIRED[1:]))] = draw(st.sampled_from(["", "  "]))
    return "invalid", row


def csv_field(value: str, delimiter: str) -> str:
    if any(c in value for c in (delimiter, '"', "\n", "\r")):
        return '"' + value.replace('"', '""') + '"'
    return value


@st.composite
def csv_files(draw) -> tuple[bytes, int, int, int]:
    """(content, rows, valid rows, invalid rows)."""
    delimiter = draw(st.sampled_from([";", ","]))
    order = draw(st.permutations(list(COLUMNS)))
    names = [draw(st.sampled_from(COLUMNS[field])) for field in order]
    if draw(st.booleans()):
        order, names = order + ["unknown"], names + ["Observação"]
    newline = draw(st.sampled_from(["\n", "\r\n"]))
    lines = [""] * draw(st.integers(0, 1)) + [delimiter.join(names)]
    rows = valid = invalid = 0
    for _ in range(draw(st.integers(0, 20))):
        kind = draw(st.sampled_from(["row", "row", "row", "blank", "empty fields", "too many", "garbage"]))
        if kind == "blank":
            lines.append(draw(st.sampled_from(["", " ", "\t", "\r"])))
        elif kind == "empty fields":
            lines.append(delimiter * draw(st.integers(1, 6)))
        elif kind == "garbage":
            lines.append(draw(garbage_lines))
            rows += 1
        else:
            quality, row = draw(invoice_rows())
            values = [csv_field(row.get(field, ""), delimiter) for field in order]
            if kind == "too many":
                values.append("surplus")
                quality = "invalid"
            lines.append(delimiter.join(values))
            rows += 1
            valid += quality == "valid"
            invalid += quality == "invalid"
    text = newline.join(lines) + (newline if draw(st.booleans()) else "")
    encoding = draw(st.sampled_from(["utf-8", "utf-8", "utf-8-sig", "cp1252"]))  # cp1252: what Excel in Brazil writes
    try:
        content = text.encode(encoding)
    except UnicodeEncodeError:
        content = text.encode("utf-8")
    return content, rows, valid, invalid


def json_row(row: dict, names: dict[str, str], as_numbers: bool) -> dict:
    document = {names[field]: value for field, value in row.items()}
    if as_numbers and row.get("amount") in ("10,00", "2100", "0"):
        document[names["amount"]] = {"10,00": 10, "2100": 2100, "0": 0}[row["amount"]]
    return document


not_invoices = st.sampled_from(["1", "null", '"NF-1"', "[]", "true", "[" * 3000 + "]" * 3000,
                                '{"a":' * 3000 + "1" + "}" * 3000, '{"id": 1.5}', "1e999999"])


@st.composite
def json_rows(draw, numbers: dict[str, str]) -> tuple[str, str]:
    """("valid" | "invalid", JSON text of one element or JSONL line)."""
    if draw(st.integers(0, 4)) == 0:
        return "invalid", draw(not_invoices)
    quality, row = draw(invoice_rows())
    return quality, json.dumps(json_row(row, numbers, draw(st.booleans())), ensure_ascii=draw(st.booleans()))


@st.composite
def jsonl_files(draw) -> tuple[bytes, int, int, int]:
    names = {field: draw(st.sampled_from(COLUMNS[field])) for field in COLUMNS}
    lines, rows, valid, invalid = [], 0, 0, 0
    for _ in range(draw(st.integers(0, 20))):
        kind = draw(st.sampled_from(["row", "row", "row", "blank", "garbage"]))
        if kind == "blank":
            lines.append(draw(st.sampled_from(["", " ", "\t", "\r"])))
        elif kind == "garbage":
            lines.append(draw(garbage_lines))
            rows += 1
            invalid += 1  # not JSON
        else:
            quality, text = draw(json_rows(names))
            lines.append(text)
            rows += 1
            valid += quality == "valid"
            invalid += quality == "invalid"
    text = draw(st.sampled_from(["\n", "\r\n"])).join(lines) + draw(st.sampled_from(["", "\n"]))
    return text.encode("utf-8", errors="surrogatepass"), rows, valid, invalid


@st.composite
def json_array_files(draw) -> tuple[bytes, int, int, int]:
    names = {field: draw(st.sampled_from(COLUMNS[field])) for field in COLUMNS}
    elements = draw(st.lists(json_rows(names), max_size=15))
    space = st.sampled_from(["", " ", "\n", "\r\n", "\t"])
    body = "[" + ",".join(draw(space) + text + draw(space) for _, text in elements) + "]"
    if draw(st.booleans()):
        body = '{"gerado_em": {"a": [1, "]"]}, ' + json.dumps(draw(st.sampled_from(["notas", "Invoices",
                                                                                     "notas_fiscais"]))) \
               + ": " + body + ', "depois": 1}'
    valid = sum(quality == "valid" for quality, _ in elements)
    return body.encode("utf-8", errors="surrogatepass"), len(elements), valid, len(elements) - valid


invoice_files = st.one_of(
    st.tuples(st.just(".csv"), csv_files()), st.tuples(st.just(".jsonl"), jsonl_files()),
    st.tuples(st.just(".json"), json_array_files()),
)


def upload_status(client, key: str) -> dict:
    response = client.http.get(f"/invoice-uploads?key={quote(key)}")
    assert response.status_code == 200, response.body
    return json.loads(response.body)


def ingest(runner, client, calls, key: str, content: bytes, compressed: bool, corrupt_gzip: bool = False) -> dict:
    """Upload (gzipped, or as is under a .gz key), let the runner deliver everything, and check the accounting."""
    calls.clear()
    key += ".gz" if compressed or corrupt_gzip else ""
    aws("s3").put_object(Bucket=INVOICES, Key=key, Body=gzip.compress(content) if compressed else content)
    runner.drain()
    summary = upload_status(client, key)
    assert summary["accepted"] + summary["rejected"] == summary["rows"], summary
    assert report_puts(calls, REPORTS, f"invoice-uploads/{key}@") == 1
    assert "report" in summary
    return summary


@budget(0.75)
@given(file=invoice_files, compressed=st.integers(0, 4).map(lambda n: n == 0))
def test_every_invoice_row_is_accepted_or_rejected_and_reported_once(runner, client, calls, file, compressed):
    suffix, (content, rows, valid, invalid) = file
    key = f"fuzz/{next(upload_numbers)}/notas{suffix}"
    note(f"{key}: {content[:3000]!r}")
    summary = ingest(runner, client, calls, key, content, compressed)
    TRIED[f"ingest_invoice_upload ({suffix} files)"] += 1
    TRIED[f"ingest_invoice_upload ({suffix} rows)"] += rows
    assert summary["status"] == "completed", summary
    assert summary["rows"] == rows, summary
    assert summary["accepted"] >= valid and summary["rejected"] >= invalid, summary


@budget(0.25)
@given(suffix=st.sampled_from([".csv", ".jsonl", ".json"]), content=st.binary(max_size=600),
       packing=st.sampled_from(["plain", "plain", "gzip", "not gzip under .gz"]))
def test_any_bytes_as_an_invoice_file_end_completed_or_failed_with_a_reason(runner, client, calls, suffix, content,
                                                                            packing):
    key = f"fuzz/{next(upload_numbers)}/bytes{suffix}"
    summary = ingest(runner, client, calls, key, content, packing == "gzip", packing == "not gzip under .gz")
    TRIED["ingest_invoice_upload (random bytes)"] += 1
    assert summary["status"] in ("completed", "failed"), summary
    assert (summary["status"] == "failed") == bool(summary.get("failure_reason")), summary


@budget(0.25)
@given(file=invoice_files, cut=st.floats(0, 1))
def test_a_truncated_gzip_invoice_file_fails_with_a_reason(runner, client, calls, file, cut):
    """Rows before the cut stand (rows <= those of the whole file); the upload says it could not read the rest."""
    suffix, (content, rows, _, _) = file
    upload, _ = packed(content, "truncated gzip", cut)
    assume(upload)  # no byte at all is an empty file, not a truncated one
    key = f"fuzz/{next(upload_numbers)}/notas{suffix}"
    summary = ingest(runner, client, calls, key, upload, False, corrupt_gzip=True)
    TRIED["ingest_invoice_upload (truncated .gz)"] += 1
    assert summary["status"] == "failed" and summary["failure_reason"], summary
    assert summary["rows"] <= rows, summary
