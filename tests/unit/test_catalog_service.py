"""The catalog service on in-memory fakes (tests/fakes.py): accept, store, read, without moto."""
import json

import pytest

from chalicelib.catalog.service import CatalogService, report_key
from chalicelib.errors import InvalidRequest, NotFound
from tests.fakes import FakeIdempotencyKeys, FakeProducts, FakeQueue, FakeReports


@pytest.fixture
def parts():
    return FakeProducts(), FakeQueue("product-queue"), FakeReports("reports"), FakeIdempotencyKeys()


@pytest.fixture
def catalog(parts):
    products, queue, reports, keys = parts
    return CatalogService(products, queue, reports, keys, clock=lambda: "2026-11-20T10:00:00.000Z")


def test_accept_queues_the_product_and_stores_nothing_yet(catalog, parts):
    products, queue, _, _ = parts
    accepted = catalog.accept({"name": "Lamp", "price": "10.50"})
    assert accepted["status"] == "PENDING"
    [message] = queue.messages()
    assert message["id"] == accepted["id"] and message["name"] == "Lamp"
    assert products.items == {}


def test_a_key_names_the_product_and_is_remembered(catalog, parts):
    _, queue, _, keys = parts
    first = catalog.accept({"name": "Lamp", "price": "1"}, idempotency_key="k-1", caller="u")
    again = catalog.accept({"name": "Lamp", "price": "1"}, idempotency_key="k-1", caller="u")
    assert first["id"] == again["id"] and list(keys.remembered) == [first["id"]]
    assert len(queue.bodies) == 2  # the queue's duplicates are the worker's to absorb


def test_a_bad_body_is_refused_before_anything_is_queued(catalog, parts):
    with pytest.raises(InvalidRequest):
        catalog.accept({"name": "", "price": "x"})
    assert parts[1].bodies == []


def test_store_writes_the_report_then_the_product_and_a_redelivery_changes_nothing(catalog, parts):
    products, queue, reports, _ = parts
    catalog.accept({"name": "Lamp", "price": "10.50"})
    [body] = queue.bodies
    catalog.store(body)
    catalog.store(body)
    [product_id] = products.items
    assert "Lamp" in reports.texts[report_key(product_id)]
    shown = catalog.get(product_id)
    assert shown["price"] == "10.50" and shown["report"] == {"bucket": "reports", "key": f"{product_id}.txt"}


def test_get_of_an_unknown_product_is_not_found(catalog):
    with pytest.raises(NotFound):
        catalog.get("00000000-0000-4000-8000-000000000000")


def test_list_pages_through_the_products(catalog, parts):
    for n in range(3):
        catalog.accept({"name": f"P{n}", "price": "1"})
    for body in parts[1].bodies:
        catalog.store(body)
    first = catalog.list("2", None)
    rest = catalog.list("2", first["next"])
    assert len(first["items"]) == 2 and len(rest["items"]) == 1 and rest["next"] is None
    assert json.dumps(first)  # what the route answers is plain JSON
