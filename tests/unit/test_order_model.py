import uuid
from decimal import Decimal

import pytest

from chalicelib.errors import InvalidRequest
from chalicelib.orders.model import (ORDER_NAMESPACE, NewOrder, OrderMessage, all_pending_shards, new_order_id,
                                     order_total, pending_shard, short)
from chalicelib.orders.service import MalformedMessage, parse_message, present
from chalicelib.validation import validate

ITEM = {"productId": "p-1", "quantity": 2}


def order(**overrides):
    return {"customerId": "c-1", "items": [ITEM], **overrides}


def test_a_minimal_order_is_valid_and_trimmed():
    parsed = validate(NewOrder, order(customerId="  c-1  ", items=[{"productId": " p-1 ", "quantity": 1}]))
    assert parsed.customerId == "c-1"
    assert parsed.items[0].productId == "p-1" and parsed.items[0].unitPrice is None
    assert parsed.notify is None


@pytest.mark.parametrize("raw, expected", [
    (Decimal("12.5"), Decimal("12.50")), ("12.50", Decimal("12.50")), (3, Decimal("3.00")), (None, None),
])
def test_unit_price_is_exact_money_or_left_for_the_catalog(raw, expected):
    parsed = validate(NewOrder, order(items=[{**ITEM, "unitPrice": raw}]))
    assert parsed.items[0].unitPrice == expected
    assert parsed.items[0].unitPrice is None or isinstance(parsed.items[0].unitPrice, Decimal)


@pytest.mark.parametrize("contact", ["ana@example.com", "+5511987654321", "+12345678"])
def test_notify_takes_an_email_or_an_e164_phone(contact):
    assert validate(NewOrder, order(notify=contact)).notify == contact


@pytest.mark.parametrize("contact", ["ana", "ana@example", "5511987654321", "+1234567", "+1234567890123456",
                                     "+55 11 98765-4321", "a@b.c" + "c" * 250, ""])
def test_notify_refuses_anything_else(contact):
    with pytest.raises(InvalidRequest) as refused:
        validate(NewOrder, order(notify=contact))
    assert [e["field"] for e in refused.value.errors] == ["notify"]


@pytest.mark.parametrize("quantity", [Decimal("2.0"), "2", True, 0, -1, 1_000_001, None])
def test_quantity_is_a_strict_positive_integer(quantity):
    with pytest.raises(InvalidRequest) as refused:
        validate(NewOrder, order(items=[{"productId": "p", "quantity": quantity}]))
    assert [e["field"] for e in refused.value.errors] == ["items.0.quantity"]


def test_quantity_bounds_are_inclusive():
    for quantity in (1, 1_000_000):
        assert validate(NewOrder, order(items=[{"productId": "p", "quantity": quantity}])).items[0].quantity == quantity


def test_order_ids_follow_the_idempotency_key_in_the_orders_own_namespace():
    assert new_order_id("key-1") == new_order_id("key-1") == str(uuid.uuid5(ORDER_NAMESPACE, "key-1"))
    assert new_order_id("key-1") != new_order_id("key-2")
    assert new_order_id(None) != new_order_id(None)
    from chalicelib.catalog.model import new_product_id
    assert new_order_id("key-1") != new_product_id("key-1")


def test_pending_shards_are_stable_and_spread_over_ten_values():
    ids = [str(uuid.uuid5(ORDER_NAMESPACE, str(n))) for n in range(500)]
    shards = [pending_shard(i) for i in ids]
    assert shards == [pending_shard(i) for i in ids]
    assert set(shards) == set(all_pending_shards()) == {f"P{n}" for n in range(10)}
    # crc32 of the text: the same in every process, unlike hash()
    assert pending_shard("00000000-0000-0000-0000-000000000000") == "P5"


def test_total_is_the_exact_sum_in_cents_or_none_while_a_price_is_missing():
    items = [{"quantity": 3, "unitPrice": Decimal("0.10")}, {"quantity": 1, "unitPrice": Decimal("19.90")}]
    assert order_total(items) == Decimal("20.20")
    assert str(order_total(items)) == "20.20"  # 3 × 0.1 as a float would not be
    assert order_total(items + [{"quantity": 1}]) is None
    assert order_total([{"quantity": Decimal(2), "unitPrice": Decimal("12.5")}]) == Decimal("25.00")


def test_short_keeps_reasons_bounded():
    assert short("abc") == "abc"
    assert short("x" * 1000, 10) == "x" * 9 + "…"


def test_queue_messages_must_carry_a_uuid_order_id():
    order_id = str(uuid.uuid4())
    assert parse_message(f'{{"orderId": "{order_id}"}}') == order_id
    assert OrderMessage.model_validate_json(f'{{"orderId": "{order_id}", "later": 1}}').orderId == uuid.UUID(order_id)
    for body in ["", "not json", "[]", "{}", '{"orderId": "nope"}', '{"orderId": 5}']:
        with pytest.raises(MalformedMessage):
            parse_message(body)


def test_present_shows_money_as_strings_and_hides_bookkeeping():
    stored = {
        "orderId": "o", "customerId": "c", "status": "FAILED", "createdAt": "t0", "updatedAt": "t1",
        "items": [{"productId": "p", "quantity": Decimal(2), "unitPrice": Decimal("12.5")},
                  {"productId": "q", "quantity": Decimal(1)}],
        "history": [{"status": "RECEIVED", "at": "t0"}, {"status": "FAILED", "at": "t1", "reason": "r"}],
        "failureReason": "r", "pendingShard": "P1", "pendingSince": "t1", "notifiedAt": "t2",
    }
    shown = present(stored)
    assert shown == {
        "orderId": "o", "customerId": "c", "status": "FAILED", "createdAt": "t0", "updatedAt": "t1",
        "items": [{"productId": "p", "quantity": 2, "unitPrice": "12.50"},
                  {"productId": "q", "quantity": 1, "unitPrice": None}],
        "total": None,
        "history": [{"status": "RECEIVED", "at": "t0"}, {"status": "FAILED", "at": "t1", "reason": "r"}],
        "failureReason": "r",
    }
    assert type(shown["items"][0]["quantity"]) is int
