from decimal import Decimal

import pytest

from chalicelib.invoices.fields import (DOCUMENT_LENGTH, NOT_A_DATE, NOT_A_NUMBER, NOT_A_SERIES, ALIASES, Invoice,
                                        Problem, canonical_field, mask_document, validate_row)

VALID = {"numero": "NF-1", "cliente": "Ana Costa", "valor": "2.100,43", "data_emissao": "15/10/2025"}


def problems(**changes) -> list[tuple[str, str]]:
    invoice, found = validate_row({**VALID, **changes})
    assert (invoice is None) == bool(found)
    return [(p.field, p.problem) for p in found]


def invoice(**changes) -> Invoice:
    result, found = validate_row({**VALID, **changes})
    assert found == []
    return result


def test_a_full_row_becomes_an_invoice_in_canonical_form():
    row = {"Número": " NF-1 ", "Cliente": "João Silva", "Valor": "R$ 2.100,43", "Data Emissão": "15/10/2025",
           "CNPJ": "11.222.333/0001-81", "Descrição": "  Serviço  ", "Observação": "ignored"}
    assert validate_row(row) == (Invoice("NF-1", "João Silva", Decimal("2100.43"), "2025-10-15",
                                         "11222333000181", "Serviço"), [])


@pytest.mark.parametrize("name, field", [
    ("ID", "number"), ("Número", "number"), (" NF ", "number"), ("CLIENTE", "customer"), ("Total", "amount"),
    ("Data Emissão", "issue_date"), ("data-emissao", "issue_date"), ("Issue Date", "issue_date"),
    ("CPF", "customer_document"), ("Document", "customer_document"), ("DESCRIÇÃO", "description"),
    ("data emissão fiscal", None), ("valor_total", None), ("", None), (7, None), (None, None),
])
def test_column_names_are_matched_after_normalising(name, field):
    assert canonical_field(name) == field


def test_the_first_non_empty_of_two_columns_for_a_field_wins():
    row = {"id": "  ", "numero": "NF-9", "nf": "NF-10", "cliente": "Ana", "valor": "1,00", "total": "2,00",
           "date": "2025-01-02", "cpf": "", "cnpj": "11.222.333/0001-81"}
    result, found = validate_row(row)
    assert found == []
    assert (result.number, result.amount, result.customer_document) == ("NF-9", Decimal("1.00"), "11222333000181")


@pytest.mark.parametrize("text, amount", [
    ("2100.43", "2100.43"), ("2.100,43", "2100.43"), ("2,100.43", "2100.43"), ("99,90", "99.90"),
    ("99.9", "99.90"), ("1,5", "1.50"), ("1.234.567,89", "1234567.89"), ("1,234,567.89", "1234567.89"),
    ("1.234.567", "1234567.00"), ("1,234,567", "1234567.00"), ("R$ 2.100,43", "2100.43"), ("R$1500", "1500.00"),
    ("  r$  0,50 ", "0.50"), ("2100", "2100.00"), ("0", "0.00"), ("-0,00", "0.00"), ("2.1000", "2.10"),
    ("R$\u00a01.500,00", "1500.00"),
])
def test_amounts_in_brazilian_and_international_notation(text, amount):
    assert str(invoice(valor=text).amount) == amount


@pytest.mark.parametrize("value, amount", [
    (2100, "2100.00"), (0, "0.00"), (Decimal("2878.1"), "2878.10"), (Decimal("2100.43"), "2100.43"),
    (Decimal("-0"), "0.00"), (Decimal("1E+3"), "1000.00"),
])
def test_json_numbers_arrive_as_int_or_decimal_and_stay_exact(value, amount):
    assert str(invoice(valor=value).amount) == amount


@pytest.mark.parametrize("text, thousands, point, advice", [
    ("2.100", "2100", "2.1", '"2.100,00" or "2100" for 2100, "2.10" for 2.1'),
    ("2,100", "2100", "2.1", '"2,100.00" or "2100" for 2100, "2,10" for 2.1'),
    ("R$ 1.000", "1000", "1", '"1.000,00" or "1000" for 1000, "1.00" for 1'),
    ("7.125", "7125", "7.125", '"7.125,00" or "7125" for 7125'),
])
def test_one_separator_followed_by_three_digits_is_ambiguous(text, thousands, point, advice):
    shown, mark = text.removeprefix("R$ "), "." if "." in text else ","
    assert problems(valor=text) == [("amount", f'is ambiguous: "{shown}" is {thousands} if "{mark}" separates '
                                               f'thousands (as in Brazil) but {point} if "{mark}" is the decimal '
                                               f'separator; write {advice}')]


@pytest.mark.parametrize("value", ["-10", "-R$ 10,00", "R$ -10", "-0,01", -5, Decimal("-0.01")])
def test_negative_amounts_are_refused(value):
    assert problems(valor=value) == [("amount", "must be zero or more")]


@pytest.mark.parametrize("value", [
    "dez reais", "1e5", "NaN", "Infinity", "--5", "+5", "1.23.4", "12,34,5", "1234.567,89", "1,2.3",
    "1.234,56,78", ",50", "5.", "R$", "US$ 10", "1 234,56", "١٢٣", "１２３", True, [10], {"reais": 10}, b"10",
])
def test_garbage_amounts_say_how_to_write_one(value):
    assert problems(valor=value) == [("amount", NOT_A_NUMBER)]


@pytest.mark.parametrize("value, problem", [
    ("10,1234", "must have at most 2 decimal places"), ("1.234,567", "must have at most 2 decimal places"),
    (Decimal("10.001"), "must have at most 2 decimal places"), ("10000000000", "must be at most 9999999999.99"),
    (Decimal("1E+400"), "must be at most 9999999999.99"), (Decimal("NaN"), "must be a finite number"),
    (Decimal("sNaN"), "must be a finite number"),
    (10.5, "is a binary float: amounts must arrive as Decimal, int or text"),
])
def test_amount_limits(value, problem):
    assert problems(valor=value) == [("amount", problem)]


@pytest.mark.parametrize("value, iso", [
    ("2025-10-15", "2025-10-15"), ("15/10/2025", "2025-10-15"), (" 29/02/2024 ", "2024-02-29"),
    ("2024-02-29", "2024-02-29"), ("31/12/1999", "1999-12-31"),
])
def test_dates_are_iso_or_brazilian_and_come_out_iso(value, iso):
    assert invoice(data_emissao=value).issue_date == iso


@pytest.mark.parametrize("value", ["31/02/2025", "2025-02-30", "2025-02-29", "00/01/2025", "2025-13-01", "0000-01-01"])
def test_impossible_dates_are_refused(value):
    assert problems(data_emissao=value) == [("issue_date", f"is not a real date: {value} does not exist")]


@pytest.mark.parametrize("value", ["2025-1-5", "15/10/25", "2025/10/15", "15-10-2025", "15.10.2025", "2025-10-15T10:00",
                                   "ontem", 20251015, ["2025-10-15"]])
def test_dates_in_other_shapes_are_refused(value):
    assert problems(data_emissao=value) == [("issue_date", NOT_A_DATE)]


@pytest.mark.parametrize("value, stored", [
    ("529.982.247-25", "52998224725"), ("52998224725", "52998224725"), (" 529 982 247 25 ", "52998224725"),
    ("11.222.333/0001-81", "11222333000181"), ("11222333000181", "11222333000181"),
    ("12.ABC.345/01DE-35", "12ABC34501DE35"), ("12.abc.345/01de-35", "12ABC34501DE35"), ("", None), ("  ", None),
    ("987.654.321-00", "98765432100"), ("11.222.386/0001-00", "11222386000100"),  # remainders under 2 give 0
])
def test_cpf_and_cnpj_including_the_alphanumeric_cnpj(value, stored):
    assert invoice(cnpj=value).customer_document == stored


@pytest.mark.parametrize("value, problem", [
    ("529.982.247-24", "has invalid check digits"), ("529.982.247-52", "has invalid check digits"),
    ("11.222.333/0001-82", "has invalid check digits"), ("12.ABC.345/01DE-36", "has invalid check digits"),
    ("12.ABD.345/01DE-35", "has invalid check digits"),
    ("000.000.000-00", "is not a real CPF or CNPJ: all its characters are the same"),
    ("111.111.111-11", "is not a real CPF or CNPJ: all its characters are the same"),
    ("00.000.000/0000-00", "is not a real CPF or CNPJ: all its characters are the same"),
    ("1234-5", DOCUMENT_LENGTH), ("529.982.247-255", DOCUMENT_LENGTH),
    ("529.982.247-2X", "must be a CPF of 11 digits (or a CNPJ of 14 characters)"),
    ("12.ABC.345/01DE-3X", "must be a CNPJ of 12 letters or digits and 2 check digits (or a CPF of 11 digits)"),
    (52998224725, 'must be text such as "529.982.247-25" (as a number it would lose its leading zeros)'),
])
def test_bad_documents(value, problem):
    assert problems(cpf=value) == [("customer_document", problem)]


@pytest.mark.parametrize("value, number", [(" NF-7 ", "NF-7"), (42, "42"), (0, "0"), ("x" * 100, "x" * 100)])
def test_invoice_numbers_are_text_or_json_integers(value, number):
    assert invoice(numero=value).number == number


@pytest.mark.parametrize("value, problem", [
    (True, "must be text or a whole number"), (1.5, "must be text or a whole number"),
    (Decimal("12"), "must be text or a whole number"), (["NF-1"], "must be text or a whole number"),
    ("x" * 101, "must be at most 100 characters"), (10 ** 200, "must be at most 100 characters"),
])
def test_bad_invoice_numbers(value, problem):
    assert problems(numero=value) == [("number", problem)]


def test_text_fields_have_types_and_limits():
    assert problems(cliente="c" * 201, descricao="d" * 1001) == [
        ("customer", "must be at most 200 characters"), ("description", "must be at most 1000 characters")]
    assert problems(cliente={"name": "Ana"}, descricao=5) == [("customer", "must be text"),
                                                             ("description", "must be text")]
    assert invoice(cliente="c" * 200, descricao="").description is None


def test_every_problem_of_a_row_is_reported_under_its_canonical_name():
    row = {"ID": "", "Cliente": ["x"], "Valor": "2.100", "Data": "x", "Date": "31/02/2025", "CPF": "123",
           "descricao": {}}
    assert validate_row(row) == (None, [
        Problem("number", "is required"), Problem("customer", "must be text"),
        Problem("amount", problems(valor="2.100")[0][1]),
        Problem("issue_date", "is not a real date: 31/02/2025 does not exist"),
        Problem("customer_document", DOCUMENT_LENGTH), Problem("description", "must be text")])
    assert validate_row({}) == (None, [Problem(field, "is required") for field in
                                       ("number", "customer", "amount", "issue_date")])


WEIRD = [None, True, 0, -1, 10 ** 5000, 1.5, float("nan"), Decimal("NaN"), Decimal("sNaN"), Decimal("-Infinity"),
         Decimal("1E+999999"), Decimal("1E-999999"), "", "\x00", "x" * 100_000, "1" * 10_000, "R$", "-", "/", [], {},
         [1], {"a": 1}, (1,), b"\xff", object(), "١١/٠٢/٢٠٢٥", "9" * 14, "ﬁ"]


@pytest.mark.parametrize("name", [alias for aliases in ALIASES.values() for alias in aliases] + [3, None])
def test_validate_row_never_raises_whatever_a_value_is(name):
    for value in WEIRD:
        result, found = validate_row({**VALID, name: value})
        assert (result is None) == bool(found)
        assert all(isinstance(p.problem, str) and p.field in ALIASES for p in found)


# --- issuer and series: with the number, what identifies an invoice ------------------------------

def test_issuer_and_series_columns_are_read_in_their_canonical_form():
    found = invoice(**{"CNPJ Emitente": "12.abc.345/01de-35", "Série": "001"})
    assert (found.issuer, found.series) == ("12ABC34501DE35", "1")
    assert invoice(issuer_document="11.444.777/0001-61", series=7).issuer == "11444777000161"
    assert (invoice().issuer, invoice().series) == (None, None)  # the stage's defaults are the ingester's
    assert invoice(serie="a1").series == "A1" and invoice(serie="0").series == "0"


@pytest.mark.parametrize("value, problem", [
    ("529.982.247-25", "must be the issuer's CNPJ (14 characters, such as 11.222.333/0001-81)"),
    ("11.444.777/0001-62", "has invalid check digits"),
    ("12.ABC.345/01DE-3X", "must be a CNPJ of 12 letters or digits and 2 check digits"),
    (11444777000161, 'must be text such as "11.222.333/0001-81" (as a number it would lose its leading zeros)'),
    ("11111111111111", "is not a real CPF or CNPJ: all its characters are the same"),
])
def test_bad_issuers(value, problem):
    assert problems(cnpj_emitente=value) == [("issuer", problem)]


@pytest.mark.parametrize("value", ["1-A", "123456", "Ç", True, -1, 10 ** 5, Decimal("1"), ["1"]])
def test_bad_series(value):
    assert problems(serie=value) == [("series", NOT_A_SERIES)]


@pytest.mark.parametrize("document, masked", [
    ("52998224725", "***.982.247-**"), ("45299718000169", "**.299.718/****-**"),
    ("12ABC34501DE35", "**.ABC.345/****-**"), ("123", "***"),
])
def test_masked_documents_keep_six_middle_characters_at_most(document, masked):
    assert mask_document(document) == masked
    assert sum(a == b for a, b in zip(document, masked.replace(".", "").replace("/", "").replace("-", ""))) <= 6
