"""Money as exact `Decimal`: the one rule every flow applies to amounts and prices.

Amounts never pass through a binary float: JSON bodies are parsed with
`parse_float=Decimal`, and this module only ever builds Decimals from text,
ints or Decimals.
"""
from decimal import Decimal, InvalidOperation

CENT = Decimal("0.01")
MAX_AMOUNT = Decimal("9999999999.99")


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
