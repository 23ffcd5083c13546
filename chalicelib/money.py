"""Money as exact `Decimal`: the one rule every flow applies to amounts and prices.

Amounts never pass through a binary float: JSON bodies are parsed with
`parse_float=Decimal`, and this module only ever builds Decimals from text,
ints or Decimals.
"""
from decimal import Decimal, InvalidOperation
from typing import Annotated

from pydantic import WithJsonSchema

CENT = Decimal("0.01")
MAX_AMOUNT = Decimal("9999999999.99")
# Money as a client sends it, for the API's published schemas (chalicelib/openapi). pydantic would describe a
# bare Decimal (any sign, any places; a string pattern that refuses " 7 "); this is the rule parse_money
# applies, less the spellings it also tolerates (surrounding spaces, exponents), which a client need not use.
MONEY_JSON_SCHEMA = {
    "anyOf": [{"type": "number", "minimum": 0, "maximum": float(MAX_AMOUNT)},
              {"type": "string", "pattern": r"^[0-9]{1,10}(\.[0-9]{1,2})?$"}],
    "description": f"A JSON number or a decimal string, 0 to {MAX_AMOUNT}, at most 2 decimal places (kept exact)",
    "examples": ["19.90", 19.9],
}
# A money field of a request model: validated by parse_money (a "before" validator), described as above.
MoneyInput = Annotated[Decimal, WithJsonSchema(MONEY_JSON_SCHEMA)]


def check_amount(amount: Decimal) -> Decimal:
    """An amount ≥ 0, ≤ MAX_AMOUNT, with at most two decimal places, quantized to cents."""
    if not amount.is_finite():
        raise ValueError("must be a finite number")
    if amount < 0:
        raise ValueError("must be zero or more")
    if amount > MAX_AMOUNT:
        raise ValueError(f"must be at most {MAX_AMOUNT}")
    if amount != amount.quantize(CENT):
        raise ValueError("must have at most 2 decimal places")
    return amount.quantize(CENT)


def parse_money(value: object) -> Decimal:
    """Accept a JSON number (int or Decimal) or a plain decimal string such as "19.90"."""
    if isinstance(value, bool) or not isinstance(value, (int, Decimal, str)):
        raise ValueError("must be a number")
    try:
        amount = Decimal(value.strip() if isinstance(value, str) else value)
    except InvalidOperation:
        raise ValueError("must be a number") from None
    return check_amount(amount)


def money_text(amount: Decimal) -> str:
    """The wire form of money: a string with exactly two places ("2100.43")."""
    return f"{Decimal(amount).quantize(CENT)}"
