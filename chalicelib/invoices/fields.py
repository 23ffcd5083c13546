"""One invoice row, as people export it from spreadsheets and systems, checked and turned into an `Invoice`.

Rows come from files that people made, in Portuguese or English, by hand or
from Excel: the same field goes by several column names, amounts are written
the Brazilian way or the international way, dates as 15/10/2025 or
2025-10-15. A rejected row costs a user a round trip, so every problem of a
row is reported at once, under the field's canonical English name, and no
input can make this module raise.

Column names are compared after normalising them: trimmed, lower-cased,
accents removed, spaces and hyphens turned into `_` ("Data Emissão" is
`data_emissao`). When two columns name the same field, the first non-empty
one wins; unknown columns are ignored.

How an amount written as text is read (the `R$` prefix and surrounding
spaces are allowed; `-` before or after `R$` makes it negative, and so
rejected):

- digits only are a whole amount: `2100` is 2100.00;
- with both `.` and `,`, the rightmost is the decimal separator and the other
  must group the digits in threes: `2.100,43` and `2,100.43` are 2100.43,
  `1.234.567,89` and `1,234,567.89` are 1234567.89;
- one kind of separator appearing more than once groups thousands (groups of
  three digits): `1.234.567` is 1234567;
- one separator appearing once, followed by 1 or 2 digits, is the decimal
  separator: `99,90` and `99.90` are 99.90, `1,5` is 1.50;
- one separator appearing once followed by exactly 3 digits is rejected as
  ambiguous: `2.100` is 2100 in Brazil and 2.1 elsewhere. Write `2.100,00`
  or `2100` for two thousand one hundred, `2.10` or `2,10` for two point one;
- anything else (letters, exponents, misplaced separators) is not a number.

Then the amount must be zero or more, have at most 2 decimal places and be
at most 9999999999.99 (`chalicelib.money`). JSON numbers arrive as `Decimal`
(JSON is parsed with `parse_float=Decimal`), never through a float.

An invoice is identified by its issuer, series and number, as NF-e itself is:
two suppliers both number their first invoice 1. The issuer
(`cnpj_emitente`, `issuer_document`) is a CNPJ checked like the customer's;
the series (`serie`, `series`) is 1 to 5 letters or digits, and an all-digit
series is read as a number (`001` is series `1`). Both are optional here: a
row without them gets the stage's own issuer and series `1` when it is
stored (chalicelib/invoices/ingester.py), so this module stays free of
settings.

Customer documents (CPF, CNPJ) are personal data: `mask_document` is how
they appear wherever the full one is not needed.
"""
import re
import unicodedata
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from functools import lru_cache
from typing import Any, Callable

from chalicelib.money import check_amount

ALIASES: dict[str, tuple[str, ...]] = {
    "number": ("id", "numero", "number", "nf"),
    "customer": ("cliente", "customer"),
    "amount": ("valor", "amount", "total"),
    "issue_date": ("data_emissao", "issue_date", "date"),
    "customer_document": ("cnpj", "cpf", "document"),
    "description": ("descricao", "description"),
    "issuer": ("cnpj_emitente", "issuer_document"),
    "series": ("serie", "series"),
}
REQUIRED = ("number", "customer", "amount", "issue_date")
_FIELD_OF = {alias: field for field, aliases in ALIASES.items() for alias in aliases}

MAX_NUMBER = 100
MAX_CUSTOMER = 200
MAX_DESCRIPTION = 1000
MAX_SERIES = 5
DEFAULT_SERIES = "1"

NOT_A_NUMBER = "must be a number such as 2100.43 or 2.100,43"
NOT_A_DATE = "must be a date such as 2025-10-15 or 15/10/2025"
DOCUMENT_LENGTH = "must be a CPF (11 digits) or CNPJ (14 characters)"
ISSUER_NOT_CNPJ = "must be the issuer's CNPJ (14 characters, such as 11.222.333/0001-81)"
NOT_A_SERIES = f"must be a series of 1 to {MAX_SERIES} letters or digits, such as 1 or 001"

_SPACES_AND_HYPHENS = re.compile(r"[\s\-]+")
_AMOUNT_TEXT = re.compile(r"[0-9]+(?:[.,][0-9]+)*")
_ISO_DATE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")
_BR_DATE = re.compile(r"([0-9]{2})/([0-9]{2})/([0-9]{4})")
_DOCUMENT_PUNCTUATION = re.compile(r"[./\-\s]")
_CPF = re.compile(r"[0-9]{11}")
_CNPJ = re.compile(r"[0-9A-Z]{12}[0-9]{2}")  # since 2026 the first 12 may be letters
_SERIES = re.compile(rf"[0-9A-Z]{{1,{MAX_SERIES}}}")
CPF_WEIGHTS = (tuple(range(10, 1, -1)), tuple(range(11, 1, -1)))
CNPJ_WEIGHTS = ((5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2), (6, 5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2))


@dataclass(frozen=True)
class Problem:
    field: str
    problem: str


@dataclass(frozen=True)
class Invoice:
    number: str
    customer: str
    amount: Decimal
    issue_date: str  # ISO yyyy-mm-dd
    customer_document: str | None = None  # digits, or an upper-case alphanumeric CNPJ; no punctuation
    description: str | None = None
    issuer: str | None = None  # the issuer's CNPJ as customer_document is kept; None: the stage's own
    series: str | None = None  # None: series 1


def normalise_name(name: str) -> str:
    """A column or key name as compared: "Data Emissão " → "data_emissao"."""
    decomposed = unicodedata.normalize("NFKD", name.strip().lower())
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return _SPACES_AND_HYPHENS.sub("_", plain)


def canonical_field(name: object) -> str | None:
    """The invoice field a column or key name stands for, or None for a column this module ignores."""
    return _field_of_name(name) if isinstance(name, str) else None


@lru_cache(maxsize=1024)  # every row names the same few columns: normalising them was a fifth of a row's checks
def _field_of_name(name: str) -> str | None:
    return _FIELD_OF.get(normalise_name(name))


def validate_row(raw: dict) -> tuple[Invoice | None, list[Problem]]:
    """The row's invoice and no problems, or None and every problem found. Never raises."""
    values = _by_field(raw) if isinstance(raw, dict) else {}
    cleaned: dict[str, Any] = {}
    problems = []
    for field, parse in _PARSERS.items():
        value = values.get(field)
        if _is_empty(value):
            if field in REQUIRED:
                problems.append(Problem(field, "is required"))
            continue
        try:
            cleaned[field] = parse(value)
        except (ValueError, ArithmeticError) as error:
            problems.append(Problem(field, str(error)))
    if problems:
        return None, problems
    return Invoice(**cleaned), []


def _by_field(raw: dict) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name, value in raw.items():
        field = canonical_field(name)
        if field and _is_empty(values.get(field)):
            values[field] = value
    return values


def _is_empty(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def parse_number(value: object) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise ValueError("must be text or a whole number")
    if isinstance(value, int) and value.bit_length() > 4 * MAX_NUMBER:  # str() of a huge int is slow, then refused
        raise ValueError(f"must be at most {MAX_NUMBER} characters")
    # One invoice, however it was typed: compatibility forms folded, inner runs of spaces made one.
    number = " ".join(unicodedata.normalize("NFKC", _text(str(value), MAX_NUMBER)).split())
    # The limit holds for the folded form too: NFKC makes "ﬃ" three characters and "ﷺ" eighteen, and the
    # number is InvoicesTable's key (DynamoDB refuses one over 2048 bytes, failing the whole upload).
    if len(number) > MAX_NUMBER:
        raise ValueError(f"must be at most {MAX_NUMBER} characters")
    return number


def parse_customer(value: object) -> str:
    return _text(value, MAX_CUSTOMER)


def parse_description(value: object) -> str:
    return _text(value, MAX_DESCRIPTION)


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _text(value: object, limit: int) -> str:
    if not isinstance(value, str):
        raise ValueError("must be text")
    text = value.strip()
    if len(text) > limit:
        raise ValueError(f"must be at most {limit} characters")
    try:  # a lone surrogate from a JSON escape (\ud800) cannot be stored or sent anywhere
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("contains an invalid character (a lone UTF-16 surrogate)") from None
    if _CONTROL.search(text):
        raise ValueError("contains a control character")
    return text


def parse_amount(value: object) -> Decimal:
    """An amount from a JSON number (int or Decimal) or text, by the rule in this module's docstring."""
    if isinstance(value, float):
        raise ValueError("is a binary float: amounts must arrive as Decimal, int or text")
    if isinstance(value, bool) or not isinstance(value, (int, Decimal, str)):
        raise ValueError(NOT_A_NUMBER)
    amount = check_amount(_amount_from_text(value) if isinstance(value, str) else Decimal(value))
    return amount.copy_abs() if amount.is_zero() else amount  # "-0,00" is plain zero


def _amount_from_text(value: str) -> Decimal:
    text = value.strip()
    negative = text.startswith("-")
    if negative:
        text = text[1:].strip()
    if text[:2].upper() == "R$":
        text = text[2:].strip()
    if not negative and text.startswith("-"):
        negative, text = True, text[1:].strip()
    if not _AMOUNT_TEXT.fullmatch(text):
        raise ValueError(NOT_A_NUMBER)
    amount = Decimal(_plain_decimal(text))
    return -amount if negative else amount


def _plain_decimal(text: str) -> str:
    """Digits and separators ("1.234,56") as a decimal literal ("1234.56"), or ValueError."""
    separators = [c for c in text if c in ".,"]
    if not separators:
        return text
    if len(set(separators)) == 2:
        decimal_mark = separators[-1]
        whole, _, fraction = text.rpartition(decimal_mark)
        group_mark = "," if decimal_mark == "." else "."
        if decimal_mark in whole or not _grouped(whole, group_mark):
            raise ValueError(NOT_A_NUMBER)
        return whole.replace(group_mark, "") + "." + fraction
    mark = separators[0]
    if len(separators) > 1:
        if not _grouped(text, mark):
            raise ValueError(NOT_A_NUMBER)
        return text.replace(mark, "")
    whole, _, fraction = text.partition(mark)
    if len(fraction) == 3:
        raise ValueError(_ambiguous(whole, mark, fraction))
    return whole + "." + fraction


def _grouped(text: str, mark: str) -> bool:
    """Whether `text` is digits grouped in threes by `mark` ("1.234.567"), with at least one mark."""
    return re.fullmatch(rf"[0-9]{{1,3}}(?:{re.escape(mark)}[0-9]{{3}})+", text) is not None


def _ambiguous(whole: str, mark: str, fraction: str) -> str:
    thousands = int(whole + fraction)
    point = f"{Decimal(whole + '.' + fraction).normalize():f}"
    other = "," if mark == "." else "."
    advice = f'write "{whole}{mark}{fraction}{other}00" or "{thousands}" for {thousands}'
    if fraction.endswith("0"):
        advice += f', "{whole}{mark}{fraction[:2]}" for {point}'
    return (f'is ambiguous: "{whole}{mark}{fraction}" is {thousands} if "{mark}" separates thousands '
            f'(as in Brazil) but {point} if "{mark}" is the decimal separator; {advice}')


def parse_issue_date(value: object) -> str:
    """yyyy-mm-dd or dd/mm/yyyy, as an ISO date; the day must exist."""
    text = value.strip() if isinstance(value, str) else ""
    if match := _ISO_DATE.fullmatch(text):
        year, month, day = match.groups()
    elif match := _BR_DATE.fullmatch(text):
        day, month, year = match.groups()
    else:
        raise ValueError(NOT_A_DATE)
    try:
        return date(int(year), int(month), int(day)).isoformat()
    except ValueError:
        raise ValueError(f"is not a real date: {text} does not exist") from None


def parse_document(value: object) -> str:
    """A CPF or CNPJ (numeric or alphanumeric) with valid check digits, without punctuation."""
    if not isinstance(value, str):
        raise ValueError('must be text such as "529.982.247-25" (as a number it would lose its leading zeros)')
    text = _DOCUMENT_PUNCTUATION.sub("", value).upper()
    if len(text) not in (11, 14):
        raise ValueError(DOCUMENT_LENGTH)
    if len(text) == 11 and not _CPF.fullmatch(text):
        raise ValueError("must be a CPF of 11 digits (or a CNPJ of 14 characters)")
    if len(text) == 14 and not _CNPJ.fullmatch(text):
        raise ValueError("must be a CNPJ of 12 letters or digits and 2 check digits (or a CPF of 11 digits)")
    if len(set(text)) == 1:
        raise ValueError("is not a real CPF or CNPJ: all its characters are the same")
    if not _check_digits_match(text, *(CPF_WEIGHTS if len(text) == 11 else CNPJ_WEIGHTS)):
        raise ValueError("has invalid check digits")
    return text


def parse_issuer(value: object) -> str:
    """The issuer's CNPJ, checked as `parse_document` checks one, without punctuation.

    A CNPJ only: the issuer of a nota fiscal is a company, and an issuer's document is shown in full in
    listings, which a CPF (personal data) must never be."""
    if not isinstance(value, str):
        raise ValueError('must be text such as "11.222.333/0001-81" (as a number it would lose its leading zeros)')
    if len(_DOCUMENT_PUNCTUATION.sub("", value)) != 14:
        raise ValueError(ISSUER_NOT_CNPJ)
    try:
        return parse_document(value)
    except ValueError as error:
        raise ValueError(str(error).replace(" (or a CPF of 11 digits)", "")) from None


def parse_series(value: object) -> str:
    """A series as stored: upper-case letters and digits; all digits read as a number ("001" is "1")."""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise ValueError(NOT_A_SERIES)
    text = str(value).strip().upper() if isinstance(value, str) else (str(value) if 0 <= value < 10 ** MAX_SERIES
                                                                      else "")
    if not _SERIES.fullmatch(text):
        raise ValueError(NOT_A_SERIES)
    return str(int(text)) if text.isdigit() else text


def mask_document(document: str) -> str:
    """A CPF or CNPJ as listings show it: only six middle characters, in their usual punctuation.

    CPF `52998224725` is `***.982.247-**` (the masking Brazil's own transparency portal uses); a CNPJ
    likewise keeps six characters of its root and hides the rest: `11222333000181` is `**.222.333/****-**`.
    Anything else (never stored: documents are validated) is hidden whole."""
    if len(document) == 11:
        return f"***.{document[3:6]}.{document[6:9]}-**"
    if len(document) == 14:
        return f"**.{document[2:5]}.{document[5:8]}/****-**"
    return "*" * len(document)


def _check_digits_match(text: str, first_weights: tuple[int, ...], second_weights: tuple[int, ...]) -> bool:
    """The mod-11 check of CPF and CNPJ; a character counts as ord(c) - 48 (digits 0-9, "A" 17, ...)."""
    values = [ord(c) - 48 for c in text]
    body = values[:len(first_weights)]
    first = _check_digit(body, first_weights)
    second = _check_digit(body + [first], second_weights)
    return values[len(first_weights):] == [first, second]


def _check_digit(values: list[int], weights: tuple[int, ...]) -> int:
    remainder = sum(v * w for v, w in zip(values, weights)) % 11
    return 0 if remainder < 2 else 11 - remainder


_PARSERS: dict[str, Callable[[Any], Any]] = {
    "number": parse_number,
    "customer": parse_customer,
    "amount": parse_amount,
    "issue_date": parse_issue_date,
    "customer_document": parse_document,
    "description": parse_description,
    "issuer": parse_issuer,
    "series": parse_series,
}
