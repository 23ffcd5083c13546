from decimal import Decimal

import pytest
from pydantic import ValidationError

from chalicelib.catalog.model import NewProduct, new_product_id, parse_money, render_report


@pytest.mark.parametrize("raw, expected", [
    (Decimal("19.90"), Decimal("19.90")),
    (19, Decimal("19.00")),
    ("0.1", Decimal("0.10")),
    (Decimal("0"), Decimal("0.00")),
    (Decimal("1E+2"), Decimal("100.00")),
])
def test_money_is_kept_exact_with_two_places(raw, expected):
    amount = parse_money(raw)
    assert amount == expected and str(amount) == str(expected)


@pytest.mark.parametrize("raw, problem", [
    ("abc", "must be a number"),
    (True, "must be a number"),
    (1.5, "must be a number"),  # a binary float never gets in: bodies are parsed with Decimal
    (Decimal("-0.01"), "must be zero or more"),
    (Decimal("1.999"), "at most 2 decimal places"),
    (Decimal("NaN"), "finite"),
    (Decimal("1e20"), "at most"),
])
def test_money_rejects_what_is_not_an_amount(raw, problem):
    with pytest.raises(ValueError, match=problem):
        parse_money(raw)


def test_new_product_strips_names_and_forbids_unknown_fields():
    assert NewProduct(name="  Café  ", price=Decimal("1.00")).name == "Café"
    with pytest.raises(ValidationError, match="colour"):
        NewProduct(name="x", price=Decimal("1"), colour="red")


def test_stock_must_be_a_real_integer():
    with pytest.raises(ValidationError):
        NewProduct(name="x", price=Decimal("1"), stock="5")
    with pytest.raises(ValidationError):
        NewProduct(name="x", price=Decimal("1"), stock=-1)


def test_the_same_idempotency_key_always_names_the_same_product():
    assert new_product_id("order-42") == new_product_id("order-42")
    assert new_product_id("order-42") != new_product_id("order-43")
    assert new_product_id(None) != new_product_id(None)


def test_report_lists_the_product_with_its_exact_price():
    report = render_report({"id": "abc", "name": "Lápis", "price": Decimal("19.9"), "stock": Decimal("3"),
                            "created_at": "2026-01-01T00:00:00.000Z", "stored_at": "2026-01-01T00:00:01.000Z"})
    assert "price:       19.90" in report
    assert "name:        Lápis" in report
    assert "stock:       3" in report
    assert "description" not in report
