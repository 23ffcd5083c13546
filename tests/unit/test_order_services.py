"""The orders' service, worker and sweeper on in-memory fakes (tests/fakes.py): each step once, one notification."""
import json
from decimal import Decimal

import pytest

from chalicelib.batch import Received
from chalicelib.errors import NotFound
from chalicelib.orders.service import OrderService, OrderSweeper, OrderWorker
from tests.fakes import FakeContacts, FakeIdempotencyKeys, FakeNotifier, FakeOrders, FakeProducts, FakeQueue

ITEMS = [{"productId": "p1", "quantity": 2}]


@pytest.fixture
def parts():
    products = FakeProducts()
    products.add_if_absent({"id": "p1", "name": "Lamp", "price": "10.50"})
    return FakeOrders(), FakeQueue("orders-queue"), products, FakeNotifier(), FakeContacts()


@pytest.fixture
def service(parts):
    orders, queue, _, _, contacts = parts
    return OrderService(orders, queue, FakeIdempotencyKeys(), clock=lambda: "2026-11-20T10:00:00.000Z",
                        contacts=contacts)


@pytest.fixture
def worker(parts):
    orders, _, products, notifier, contacts = parts
    return OrderWorker(orders, products, notifier, 5, clock=lambda: "2026-11-20T10:00:01.000Z", contacts=contacts)


def deliver(worker: OrderWorker, queue: FakeQueue, count: int = 1) -> None:
    for body in queue.bodies:
        worker.process(Received("m", body, count))


def test_an_order_is_stored_queued_priced_completed_and_notified_once(service, worker, parts):
    orders, queue, _, notifier, _ = parts
    accepted = service.accept({"customerId": "cust-1", "items": ITEMS, "notify": "ana@example.com"})
    deliver(worker, queue)
    deliver(worker, queue)  # a redelivery: nothing happens twice
    order = orders.get(accepted["orderId"])
    assert order["status"] == "COMPLETED" and order["total"] == Decimal("21.00") and "notifiedAt" in order
    assert [h["status"] for h in order["history"]] == ["RECEIVED", "PROCESSING", "COMPLETED"]
    [sent] = notifier.sent
    assert sent["notify"] == "ana@example.com"
    shown = service.get(accepted["orderId"])
    assert shown["status"] == "COMPLETED" and shown["notify"] == "ana@example.com"


def test_an_unknown_product_fails_the_order_and_the_message_succeeds(service, worker, parts):
    orders, queue, _, notifier, _ = parts
    accepted = service.accept({"customerId": "cust-1", "items": [{"productId": "nope", "quantity": 1}]})
    deliver(worker, queue)
    assert orders.get(accepted["orderId"])["status"] == "FAILED" and notifier.sent == []


def test_listing_is_per_customer_and_an_unknown_order_is_not_found(service, parts):
    for customer in ("cust-1", "cust-1", "cust-2"):
        service.accept({"customerId": customer, "items": ITEMS})
    assert len(service.list("cust-1", None, None)["items"]) == 2
    with pytest.raises(NotFound):
        service.get("00000000-0000-4000-8000-000000000000")


def test_the_sweep_requeues_an_order_left_behind_and_fails_one_stuck_processing(service, parts):
    orders, queue, _, _, _ = parts
    left = service.accept({"customerId": "cust-1", "items": ITEMS})["orderId"]
    stuck = service.accept({"customerId": "cust-1", "items": ITEMS})["orderId"]
    orders.transition(stuck, "RECEIVED", "PROCESSING", "2026-11-20T10:00:00.000Z")
    queue.bodies.clear()
    sweeper = OrderSweeper(orders, queue, clock=lambda: "2026-11-21T00:00:00.000Z", now=lambda: 1_800_000_000)
    assert sweeper.sweep() == {"requeued": 1, "failed": 1}
    assert [json.loads(b)["orderId"] for b in queue.bodies] == [left]
    assert orders.get(stuck)["status"] == "FAILED"
