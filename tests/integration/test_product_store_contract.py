"""The product repository contract, run unchanged against both stores: DynamoDB (moto) and PostgreSQL (a real server).

The service is written against these behaviours; a store that passes them can
be switched in by PRODUCT_STORE without the API or the worker noticing.
"""
import uuid
from decimal import Decimal

import pytest

from chalicelib.errors import InvalidRequest
from chalicelib.pagination import encode_cursor


@pytest.fixture
def dynamodb_products():
    """ProductTable alone in moto (as infra/resources.py defines it: hash key `id`); provisioning every
    resource per test would cost a second each."""
    from moto import mock_aws

    from chalicelib import aws
    from local_runtime.emulator import lock_dynamodb_writes
    lock_dynamodb_writes()
    with mock_aws():
        aws.reset()
        aws.client("dynamodb").create_table(
            TableName="ProductTable", BillingMode="PAY_PER_REQUEST",
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}])
        yield
        aws.reset()


@pytest.fixture(params=["dynamodb", "postgres"])
def store(request):
    if request.param == "dynamodb":
        request.getfixturevalue("dynamodb_products")
        from chalicelib.catalog.repository import ProductRepository
        return ProductRepository("ProductTable")
    db = request.getfixturevalue("postgres_products")
    from chalicelib.catalog.postgres import PostgresProductRepository
    return PostgresProductRepository(db)


def product(**overrides):
    record = {"id": str(uuid.uuid4()), "name": "Caderno", "price": Decimal("12.50"),
              "created_at": "2026-11-23T10:00:00.000Z", "stored_at": "2026-11-23T10:00:01.250Z"}
    return {**record, **overrides}


def test_a_new_product_is_stored_and_read_back_field_for_field(store):
    full = product(description="Capa dura, 96 folhas", sku="CAD-96", category="papelaria", stock=7)
    assert store.add_if_absent(full) == (full, True)
    read = store.get(full["id"])
    assert read == full  # same keys (none added), same values, timestamps as the clock wrote them
    assert isinstance(read["price"], Decimal) and int(read["stock"]) == 7


def test_absent_optional_fields_stay_absent(store):
    bare = product()
    store.add_if_absent(bare)
    assert set(store.get(bare["id"])) == {"id", "name", "price", "created_at", "stored_at"}


def test_a_second_add_neither_duplicates_nor_overwrites(store):
    first = product()
    store.add_if_absent(first)
    stored, created = store.add_if_absent({**first, "name": "Changed later", "price": Decimal("99.00")})
    assert created is False
    assert stored == first
    assert store.get(first["id"]) == first
    items, _ = store.page(100, None)
    assert [item["id"] for item in items] == [first["id"]]


PRICES = ["0.10", "0.20", "0.01", "19.90", "1234567.89", "9999999999.99", "0.00"]


def test_prices_come_back_exactly(store):
    stored = {price: product(price=Decimal(price)) for price in PRICES}
    stored["0.30"] = product(price=Decimal("0.1") + Decimal("0.2"))  # 0.30000000000000004 as floats
    for record in stored.values():
        store.add_if_absent(record)
    for price, record in stored.items():
        read = store.get(record["id"])["price"]
        assert isinstance(read, Decimal) and read == Decimal(price) and f"{read:.2f}" == price
    assert store.prices([r["id"] for r in stored.values()]) == {r["id"]: Decimal(p) for p, r in stored.items()}


def test_unknown_and_non_canonical_ids_are_not_found(store):
    known = product()
    store.add_if_absent(known)
    assert store.get(str(uuid.uuid4())) is None
    assert store.get(known["id"].upper()) is None
    assert store.get("not-a-uuid") is None


def test_prices_answer_known_ids_only(store):
    a, b = product(price=Decimal("1.10")), product(price=Decimal("2.20"))
    store.add_if_absent(a)
    store.add_if_absent(b)
    missing = str(uuid.uuid4())
    assert store.prices([a["id"], b["id"], a["id"], missing, "caderno"]) == {a["id"]: Decimal("1.10"),
                                                                              b["id"]: Decimal("2.20")}
    assert store.prices([]) == {}


def pages(store, limit):
    seen, cursor, count = [], None, 0
    while True:
        items, cursor = store.page(limit, cursor)
        assert len(items) <= limit
        seen += [item["id"] for item in items]
        count += 1
        if cursor is None:
            return seen, count
        assert isinstance(cursor, str) and count < 50


def test_paging_returns_every_product_once_with_equal_created_at_ties(store):
    # 11 products, 7 of them accepted in the same millisecond: a page boundary must fall inside the tie.
    ids = []
    for i in range(11):
        at = "2026-11-23T10:00:00.000Z" if i < 7 else f"2026-11-23T10:00:{i:02d}.000Z"
        record = product(created_at=at, name=f"p{i}")
        store.add_if_absent(record)
        ids.append(record["id"])
    seen, count = pages(store, 3)
    assert sorted(seen) == sorted(ids) and len(seen) == 11
    assert count >= 4


def test_an_empty_store_has_one_empty_page(store):
    assert store.page(20, None) == ([], None)


@pytest.mark.parametrize("cursor", [
    "garbage!", "eyJ4IjogMX0",  # not base64 JSON; a JSON object of another shape
    encode_cursor({"id": {"S": ""}}),
    encode_cursor({"id": {"S": "x"}, "created_at": {"S": "not a time"}}),
    encode_cursor({"id": {"N": "1"}, "created_at": {"S": "2026-11-23T10:00:00+00:00"}}),
])
def test_a_cursor_this_store_did_not_return_is_a_400_naming_next(store, cursor):
    store.add_if_absent(product())
    with pytest.raises(InvalidRequest) as raised:
        store.page(5, cursor)
    assert raised.value.errors[0]["field"] == "next"
