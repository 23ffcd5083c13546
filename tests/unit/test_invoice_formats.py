import gzip
import json
import random
from decimal import Decimal
from pathlib import Path

import pytest

from chalicelib.invoices.fields import DOCUMENT_LENGTH, NOT_A_DATE, NOT_A_NUMBER, validate_row
from chalicelib.invoices.formats import (CsvReader, JsonArrayReader, JsonLinesReader, Row, UnreadableFile,
                                         detect_delimiter, reader_for)
from chalicelib.streaming.lines import gunzip, skip_bytes
from tests.conftest import SHARED_SAMPLES

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "invoices"
SAMPLE = SHARED_SAMPLES / "notas_fiscais_2025.json"
ALL_FIXTURES = sorted(path.name for path in FIXTURES.iterdir())
MB = 1 << 20


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def chunked(data: bytes, size: int | None = None) -> list[bytes]:
    size = size or max(len(data), 1)
    return [data[i:i + size] for i in range(0, len(data), size)]


def read(reader_class, data: bytes, size: int | None = None, **resume) -> list[tuple[Row, dict | None]]:
    """Every row, with the state to resume after it (taken right after it is yielded)."""
    reader = reader_class(chunked(data, size), **resume)
    return [(row, reader.state()) for row in reader]


def rows(reader_class, data: bytes, size: int | None = None) -> list[Row]:
    return [row for row, _ in read(reader_class, data, size)]


def reason(reader_class, data: bytes, size: int | None = None) -> str:
    with pytest.raises(UnreadableFile) as raised:
        rows(reader_class, data, size)
    return raised.value.reason


def checked(rows_read: list[Row]) -> dict[int, list[tuple[str, str]]]:
    """Row number → problems: the row's own, or its fields' from the validator."""
    found = {}
    for row in rows_read:
        if row.problem:
            found[row.number] = [("row", row.problem)]
        else:
            found[row.number] = [(p.field, p.problem) for p in validate_row(row.data)[1]]
    return found


def invoices(reader_class, data: bytes) -> list:
    result = []
    for row in rows(reader_class, data):
        invoice, found = validate_row(row.data)
        assert found == [], (row, found)
        result.append(invoice)
    return result


@pytest.mark.parametrize("key, reader", [
    ("a.csv", CsvReader), ("dir/A.CSV.GZ", CsvReader), ("x.json", JsonArrayReader), ("x.Json.gz", JsonArrayReader),
    ("x.jsonl", JsonLinesReader), ("x.JSONL.GZ", JsonLinesReader), ("x.txt", None), ("x.gz", None),
    ("csv", None), ("x.json.zip", None), ("x.csv.bak", None),
])
def test_reader_for_picks_the_reader_by_suffix(key, reader):
    assert reader_for(key) is reader


def test_brazilian_excel_csv_windows_1252_semicolons_crlf():
    found = rows(CsvReader, fixture("excel_br.csv"))
    assert [row.number for row in found] == [2, 3, 5, 7]  # line 4 is blank, line 6 is Excel's ";;;;;"
    assert found[0].data == {"Número": "NF-1001", "Cliente": "João Conceição", "Valor": "2.100,43",
                             "Data Emissão": "15/10/2025", "CNPJ": "11.222.333/0001-81",
                             "Descrição": "Serviço – manutenção"}
    assert found[2].data["Descrição"] == 'Peças; parafusos e "arruelas"'
    assert [(i.number, i.customer, i.amount, i.issue_date, i.customer_document)
            for i in invoices(CsvReader, fixture("excel_br.csv"))] == [
        ("NF-1001", "João Conceição", Decimal("2100.43"), "2025-10-15", "11222333000181"),
        ("NF-1002", "Maria Araújo", Decimal("99.90"), "2025-10-03", "52998224725"),
        ("NF-1003", "Ação & Cia Ltda", Decimal("1234567.89"), "2025-09-30", None),
        ("NF-1004", "José Ávila", Decimal("1500.00"), "2024-02-29", "12ABC34501DE35"),
    ]


def test_utf8_csv_with_bom_commas_and_quoted_delimiters_and_newlines():
    read_rows = read(CsvReader, fixture("utf8_bom.csv"))
    assert [row.number for row, _ in read_rows] == [2, 4, 5]  # the first record spans lines 2 and 3
    first, state = read_rows[0]
    assert state == {"columns": ["id", "customer", "amount", "issue_date", "document", "description"],
                     "delimiter": ",", "next_row": 4}
    assert first.data["customer"] == "Silva, Costa & Cia"
    assert first.data["description"] == "First line\nsecond line"
    assert [(i.number, i.customer, i.amount, i.customer_document, i.description)
            for i in invoices(CsvReader, fixture("utf8_bom.csv"))] == [
        ("NF-2001", "Silva, Costa & Cia", Decimal("2100.43"), "12ABC34501DE35", "First line\nsecond line"),
        ("NF-2002", "Zoë Ångström", Decimal("1234567.89"), None, 'He said "olá"'),
        ("NF-2003", "Ünïcödé, Ltda", Decimal("0.50"), "52998224725", None),
    ]


@pytest.mark.parametrize("header, delimiter", [
    ("id;cliente;valor;data", ";"), ("id,cliente,valor,data", ","), ('"a;b",c,d', ","), ('"a,b,c";d', ";"),
    ("a,b;c", ";"), ("id", ";"), ("a,b,c;d", ","),
])
def test_the_delimiter_is_what_the_header_has_more_of_outside_quotes(header, delimiter):
    assert detect_delimiter(header) == delimiter


def test_each_line_is_utf8_or_else_windows_1252_with_latin1_for_its_gaps():
    data = ("id;cliente;valor;date\n1;João;1,00;01/01/2025\n".encode("utf-8")
            + "2;Conceição – Ltda;2,00;01/01/2025\n".encode("cp1252") + b"3;A\x81B\x8d;3,00;01/01/2025\n")
    assert [row.data["cliente"] for row in rows(CsvReader, data)] == ["João", "Conceição – Ltda", "A\x81B\x8d"]


def test_fewer_fields_than_the_header_are_empty_and_empty_extra_fields_are_dropped():
    found = rows(CsvReader, b"id;cliente;valor;date\n1;Ana\n2;Bia;1,00;01/01/2025;;\n")
    assert [row.data for row in found] == [{"id": "1", "cliente": "Ana", "valor": "", "date": ""},
                                           {"id": "2", "cliente": "Bia", "valor": "1,00", "date": "01/01/2025"}]


def test_a_repeated_column_name_keeps_the_first_non_empty_value():
    [row] = rows(CsvReader, b"id,cliente,valor,valor,valor,date\n1,Ana,,2.50,3.00,2025-01-01\n")
    assert row.data["valor"] == "2.50"


@pytest.mark.parametrize("data, expected", [
    (b"", "the file is empty: a header row is required"),
    (b"\r\n\n  \n", "the file is empty: a header row is required"),
    (b"foo;bar\n1;2\n", "line 1 is not a header: no column for number (id, numero, number, nf); customer "
                        "(cliente, customer); amount (valor, amount, total); "
                        "issue_date (data_emissao, issue_date, date)"),
    (b"\nNF-1;Ana;10,00;01/01/2025\n", "line 2 is not a header: no column for number (id, numero, number, nf); "
                                       "customer (cliente, customer); amount (valor, amount, total); issue_date "
                                       "(data_emissao, issue_date, date)"),
    (b"id;cliente;descricao\n", "the header (line 1): no column for amount (valor, amount, total); "
                                "issue_date (data_emissao, issue_date, date)"),
    (b'"id";"cliente"x;valor;data\n', "the header (line 1) is not valid CSV: ';' expected after '\"'"),
])
def test_a_csv_without_a_usable_header_is_unreadable(data, expected):
    assert reason(CsvReader, data) == expected


def test_every_kind_of_bad_csv_row_reports_its_field_and_problem():
    assert checked(rows(CsvReader, fixture("bad_rows.csv"))) == {
        2: [("number", "is required")],
        3: [("customer", "is required")],
        4: [("amount", "must be zero or more")],
        5: [("amount", 'is ambiguous: "2.100" is 2100 if "." separates thousands (as in Brazil) but 2.1 if "." '
                       'is the decimal separator; write "2.100,00" or "2100" for 2100, "2.10" for 2.1')],
        6: [("amount", NOT_A_NUMBER)],
        7: [("amount", "must have at most 2 decimal places")],
        8: [("issue_date", "is not a real date: 31/02/2025 does not exist")],
        9: [("issue_date", "is not a real date: 2025-02-30 does not exist")],
        10: [("issue_date", NOT_A_DATE)],
        11: [("customer_document", "has invalid check digits")],
        12: [("customer_document", "has invalid check digits")],
        13: [("customer_document", "is not a real CPF or CNPJ: all its characters are the same")],
        14: [("customer_document", DOCUMENT_LENGTH)],
        15: [("customer", "must be at most 200 characters")],
        16: [("description", "must be at most 1000 characters")],
        17: [("row", "has 7 fields but the header has 6")],
        18: [("row", "is not valid CSV: ',' expected after '\"'")],
        19: [("customer", "is required"), ("amount", "is required"), ("issue_date", "is required")],
        20: [("number", "is required"), ("customer", "is required"), ("amount", NOT_A_NUMBER),
             ("issue_date", "is not a real date: 31/02/2025 does not exist"), ("customer_document", DOCUMENT_LENGTH)],
        21: [],
    }


def test_a_line_over_one_megabyte_is_a_row_problem_and_reading_goes_on():
    data = b"id,cliente,valor,date\n" + b"x" * (MB + 10) + b"\n2,Ana,1.00,2025-01-01\n"
    found = rows(CsvReader, data, size=64 * 1024)
    assert [(row.number, row.problem, row.end_offset) for row in found] == [
        (2, "is longer than 1 MB", 22 + MB + 11), (3, None, len(data))]


@pytest.mark.parametrize("tail, line", [
    (b'1,"Ana,1.00,2025-01-01\n2,Bia,2.00,2025-01-02\n', 2),
    (b'1,Ana,1.00,2025-01-01\n2,"Bia' + b"\nrunaway text" * 20_000, 3),
    (b'1,"Bia' + (b"x" * 1000 + b"\n") * 1100, 2),
], ids=["at the end of the file", "over the csv field limit", "over 1 MB"])
def test_an_unclosed_quote_makes_the_csv_unreadable_without_eating_memory(tail, line):
    data = b"id,cliente,valor,date\n" + tail
    assert reason(CsvReader, data, size=4096) == f"unclosed quote starting at line {line}"


def test_json_lines_skip_blank_lines_and_number_rows_by_line():
    found = rows(JsonLinesReader, fixture("invoices.jsonl"))
    assert [row.number for row in found] == [1, 3, 5]
    assert found[0].data == {"id": "NF-5001", "cliente": "Maria Oliveira", "valor": Decimal("1077.78"),
                             "data_emissao": "2025-10-15"}
    assert [(i.number, i.amount, i.issue_date, i.customer_document)
            for i in invoices(JsonLinesReader, fixture("invoices.jsonl"))] == [
        ("NF-5001", Decimal("1077.78"), "2025-10-15", None), ("NF-5002", Decimal("2878.10"), "2025-10-03", None),
        ("5003", Decimal("3143.62"), "2025-10-05", "12ABC34501DE35")]


def test_every_kind_of_bad_json_line_reports_its_field_or_row_problem():
    found = checked(rows(JsonLinesReader, fixture("bad_rows.jsonl")))
    assert found.pop(10)[0][1].startswith("is not valid JSON: Expecting property name enclosed in double quotes")
    assert found == {
        1: [("number", "must be text or a whole number")],
        2: [("number", "must be text or a whole number")],
        3: [("customer", "must be text")],
        4: [("amount", NOT_A_NUMBER)],
        5: [("amount", "must be at most 9999999999.99")],
        6: [("amount", "must have at most 2 decimal places")],
        7: [("issue_date", NOT_A_DATE)],
        8: [("customer_document", 'must be text such as "529.982.247-25" (as a number it would lose its leading '
                                  'zeros)'), ("description", "must be text")],
        9: [("row", "is not valid JSON: NaN is not a number JSON allows")],
        11: [("row", "is not a JSON object (it is an array)")],
        12: [],
    }


@pytest.mark.parametrize("reader_class, element", [(JsonLinesReader, b"%s\n"), (JsonArrayReader, b"[%s]")])
def test_deep_nesting_in_a_row_is_a_row_problem_not_a_crash(reader_class, element):
    deep = b'{"id": ' + b"[" * 5000 + b"]" * 5000 + b"}"
    data = element % deep
    assert [(row.number, row.problem) for row in rows(reader_class, data)] == [
        (1, "is not valid JSON: it is nested too deeply")]


def test_a_json_line_over_one_megabyte_is_a_row_problem():
    data = b'{"id": "' + b"x" * MB + b'"}\n{"id": "2"}\n'
    assert [(row.number, row.problem) for row in rows(JsonLinesReader, data, size=65536)] == [
        (1, "is longer than 1 MB"), (2, None)]


def test_a_json_array_is_read_element_by_element():
    found = rows(JsonArrayReader, fixture("array.json"))
    assert [row.number for row in found] == [1, 2, 3]
    assert found[0].data["descricao"] == "has ] and } and , and \\ and ã in it\\"
    assert found[2].data["extra"] == {"nested": [1, [2, {"deep": "]]}}"}]], "n": Decimal("-1.5e3"), "t": True,
                                      "tricky": '"]}[{\\', "more": '\\"]'}
    found = invoices(JsonArrayReader, fixture("array.json"))
    assert [(i.number, i.customer, i.amount, i.issue_date) for i in found] == [
        ("NF-3001", 'João "Joca" Silva', Decimal("2100.43"), "2025-10-15"),
        ("3002", "Ana Costa", Decimal("4806.56"), "2025-10-18"),
        ("NF-3003", "Émile Zola", Decimal("0.00"), "2025-09-26"),
    ]


def test_a_json_object_holding_the_array_under_notas_fiscais():
    found = read(JsonArrayReader, fixture("wrapped.json"))
    assert [(row.number, row.data["numero"]) for row, _ in found] == [(1, "NF-4001"), (2, "NF-4002")]
    assert found[0][1] == {"mode": "array", "wrapped": True, "next_row": 2}
    assert [i.amount for i in invoices(JsonArrayReader, fixture("wrapped.json"))] == [Decimal("2472.54"),
                                                                                    Decimal("451.36")]


@pytest.mark.parametrize("key", ["invoices", "NOTAS", "notas_fiscais", "Notas Fiscais"])
def test_each_wrapping_key_is_accepted_in_any_case(key):
    data = json.dumps({"other": [{"id": "no"}], key: [{"id": "yes"}]}).encode()
    assert [row.data for row in rows(JsonArrayReader, data)] == [{"id": "yes"}]


def test_bad_json_elements_are_row_problems_and_the_rest_goes_on():
    found = checked(rows(JsonArrayReader, fixture("bad_elements.json")))
    assert found.pop(6)[0][1].startswith("is not valid JSON: Expecting value")
    assert found.pop(8)[0][1].startswith("is not valid JSON: Invalid \\escape")
    assert found == {
        1: [("amount", 'is ambiguous: "2,100" is 2100 if "," separates thousands (as in Brazil) but 2.1 if "," is '
                       'the decimal separator; write "2,100.00" or "2100" for 2100, "2,10" for 2.1'),
            ("issue_date", "is not a real date: 2025-02-29 does not exist")],
        2: [("row", "is not a JSON object (it is a string)")],
        3: [("row", "is not a JSON object (it is a number)")],
        4: [("row", "is not a JSON object (it is null)")],
        5: [("row", "is not a JSON object (it is an array)")],
        7: [("row", "is not valid JSON: Infinity is not a number JSON allows")],
        9: [],
    }


def test_a_json_element_over_one_megabyte_is_skipped_as_a_row_problem():
    data = b'[{"id": "1"}, {"id": "' + b"x" * MB + b'"}, {"id": "3"}]'
    assert [(row.number, row.data, row.problem) for row in rows(JsonArrayReader, data, size=65536)] == [
        (1, {"id": "1"}, None), (2, None, "is longer than 1 MB"), (3, {"id": "3"}, None)]


@pytest.mark.parametrize("data, expected", [
    (b"", "expected a JSON array of invoices (or an object holding one), found nothing: the file is empty"),
    (b"  \n", "expected a JSON array of invoices (or an object holding one), found nothing: the file is empty"),
    (b'"invoices"', "expected a JSON array of invoices (or an object holding one), found '\"' at byte 0"),
    (b"\x1f\x8b\x08\x00binary",
     "expected a JSON array of invoices (or an object holding one), found byte 0x1f at byte 0"),
    (b'[{"id": 1} {"id": 2}]', "expected , or ] at byte 11, found '{'"),
    (b'[{"id": 1},\x00\x01\x02]', "expected a value at byte 11, found byte 0x00"),
    (b'[{"id": 1},]', "expected a value at byte 11, found ']'"),
    (b'[{"id": 1}', "the file ends before the array of invoices is closed, at byte 10"),
    (b'[{"id": 1}, {"id": "2', "the file ends before the array of invoices is closed, at byte 21"),
    (b'[{"id": 1}] [{"id": 2}]', "unexpected '[' after the array, at byte 12"),
    (b'{"meta": 1}', 'the top-level object has no "invoices", "notas", "notas_fiscais" array of invoices'),
    (b'{"notas": {"id": 1}}', '"notas" must be an array of invoices (byte 10)'),
    (b'{"meta" 1}', "expected : at byte 8, found '1'"),
    (b'{"meta": 1 "notas": []}', "expected , or } at byte 11, found '\"'"),
    (b'{1: []}', "expected a key at byte 1, found '1'"),
])
def test_broken_json_structure_makes_the_file_unreadable_at_a_byte(data, expected):
    assert reason(JsonArrayReader, data) == expected
    assert reason(JsonArrayReader, data, size=1) == expected


def test_empty_arrays_bom_and_what_follows_a_wrapped_array():
    assert rows(JsonArrayReader, b"\xef\xbb\xbf [ ] \n") == []
    assert [row.end_offset for row in rows(JsonArrayReader, b'\xef\xbb\xbf[{"id": 1}]')] == [13]
    assert len(rows(JsonArrayReader, b'{"invoices": [{"id": 1}], "then": {"a": [1]}, "z": 2} \n')) == 1
    # Read to the end: what follows the array is checked too (a .gz cut short is only noticed there).
    reader = iter(JsonArrayReader([b'{"invoices": [{"id": 1}], "then": garbage']))
    assert next(reader).data == {"id": 1}
    with pytest.raises(UnreadableFile):
        next(reader)
    with pytest.raises(UnreadableFile):
        list(JsonArrayReader([b'{"invoices": [], "x": 1} trailing']))


def test_the_json_scanner_agrees_with_the_json_module_on_random_arrays_cut_anywhere():
    rnd = random.Random(7)
    alphabet = ["a", "ã", "😀", '"', "\\", "[", "]", "{", "}", ",", ":", " ", "\n", "\u2028"]

    def text():
        return "".join(rnd.choice(alphabet) for _ in range(rnd.randint(0, 5)))

    def value(depth=0):
        if depth > 3 or rnd.random() < 0.3:
            return rnd.choice([text(), 7, -2.5, True, None, 10 ** 20])
        if rnd.random() < 0.5:
            return [value(depth + 1) for _ in range(rnd.randint(0, 3))]
        return {text(): value(depth + 1) for _ in range(rnd.randint(0, 3))}

    for _ in range(150):
        elements = [{text(): value() for _ in range(rnd.randint(0, 4))} for _ in range(rnd.randint(0, 4))]
        data = json.dumps(elements, ensure_ascii=rnd.random() < 0.5, indent=rnd.choice([None, 1])).encode()
        assert [row.data for row in rows(JsonArrayReader, data, size=rnd.randint(1, 9))] == \
            json.loads(data, parse_float=Decimal)


@pytest.mark.parametrize("name", ALL_FIXTURES)
def test_one_byte_chunks_give_the_same_rows_and_offsets_as_one_chunk(name):
    data, reader_class = fixture(name), reader_for(name)
    whole = read(reader_class, data)
    assert len(whole) >= 2
    assert read(reader_class, data, size=1) == whole


@pytest.mark.parametrize("name", ALL_FIXTURES)
def test_resuming_after_any_row_gives_exactly_the_remaining_rows(name):
    data, reader_class = fixture(name), reader_for(name)
    whole = read(reader_class, data)
    for index, (row, state) in enumerate(whole):
        saved = json.loads(json.dumps(state), parse_int=Decimal)  # as DynamoDB hands it back: numbers as Decimal
        rest = read(reader_class, data[row.end_offset:], size=3, start_offset=row.end_offset, state=saved)
        assert rest == whole[index + 1:], (name, index)


def test_resuming_a_gzip_upload_skips_to_the_offset_in_decompressed_bytes():
    data = fixture("excel_br.csv")
    packed = chunked(gzip.compress(data), 50)
    whole = read(CsvReader, data)
    row, state = whole[1]
    resumed = CsvReader(skip_bytes(gunzip(packed), row.end_offset), start_offset=row.end_offset, state=state)
    assert [(r, resumed.state()) for r in resumed] == whole[2:]
    assert [r.number for r, _ in whole[2:]] == [5, 7]


def test_resuming_needs_the_state_and_an_explicit_next_row_overrides_it():
    with pytest.raises(ValueError):
        CsvReader([b"x"], start_offset=10)
    with pytest.raises(ValueError):
        JsonArrayReader([b"x"], start_offset=10)
    state = {"columns": ["id", "cliente", "valor", "date"], "delimiter": ";", "next_row": 7}
    found = rows(lambda chunks: CsvReader(chunks, start_offset=100, state=state, next_row=40), b"\n1;a;1;2\n")
    assert [(row.number, row.end_offset) for row in found] == [(41, 109)]


@pytest.mark.skipif(not SAMPLE.exists(), reason="the shared sample file is not on this machine")
def test_the_shared_sample_file_reads_exactly():
    found = invoices(JsonArrayReader, SAMPLE.read_bytes())
    assert len(found) == 10
    by_number = {invoice.number: invoice for invoice in found}
    assert by_number["NF-1"].amount == Decimal("2100.43") and str(by_number["NF-1"].amount) == "2100.43"
    assert str(by_number["NF-8"].amount) == "2878.10"
    assert (by_number["NF-3"].customer, by_number["NF-3"].issue_date) == ("João Silva", "2025-10-08")
