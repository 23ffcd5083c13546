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
    orders, queue, _, notifier, contacts = parts
    accepted = service.accept({"customerId": "cust-1", "items": ITEMS, "notify": "ana@example.com"})
    # The contact is on the order (no write of its own) and shown until the notification is recorded.
    assert orders.get(accepted["orderId"])["notify"] == "ana@example.com" and contacts.contacts == {}
    assert service.get(accepted["orderId"])["notify"] == "ana@example.com"
    deliver(worker, queue)
    deliver(worker, queue)  # a redelivery: nothing happens twice
    order = orders.get(accepted["orderId"])
    assert order["status"] == "COMPLETED" and order["total"] == Decimal("21.00") and "notifiedAt" in order
    assert [h["status"] for h in order["history"]] == ["RECEIVED", "PROCESSING", "COMPLETED"]
    [sent] = notifier.sent
    assert sent["notify"] == "ana@example.com"
    # The write that recorded the notification removed the contact: no longer stored nor shown.
    shown = service.get(accepted["orderId"])
    assert shown["status"] == "COMPLETED" and "notify" not in shown and "notify" not in order


def test_a_publish_that_fails_keeps_the_contact_for_the_retry(service, worker, parts):
    orders, queue, _, notifier, _ = parts
    accepted = service.accept({"customerId": "cust-1", "items": ITEMS, "notify": "ana@example.com"})
    real, calls = notifier.completed, []

    def fails_once(order):
        calls.append(order)
        if len(calls) == 1:
            raise ConnectionError("SNS unreachable")
        return real(order)
    notifier.completed = fails_once
    with pytest.raises(ConnectionError):
        deliver(worker, queue)
    assert orders.get(accepted["orderId"])["notify"] == "ana@example.com"  # not notified: kept
    deliver(worker, queue, count=2)
    [sent] = notifier.sent
    assert sent["notify"] == "ana@example.com" and "notify" not in orders.get(accepted["orderId"])


def test_an_order_placed_before_the_move_is_notified_with_its_old_tables_contact(service, worker, parts):
    orders, queue, _, notifier, contacts = parts
    accepted = service.accept({"customerId": "cust-1", "items": ITEMS})
    orders.items[accepted["orderId"]]["hasContact"] = True  # as the previous release stored it
    contacts.keep("cust-1", accepted["orderId"], "old@example.com")
    assert service.get(accepted["orderId"])["notify"] == "old@example.com"
    deliver(worker, queue)
    [sent] = notifier.sent
    assert sent["notify"] == "old@example.com" and "notify" not in service.get(accepted["orderId"])


def test_an_unknown_product_fails_the_order_and_the_message_succeeds(service, worker, parts):
    orders, queue, _, notifier, _ = parts
    accepted = service.accept({"customerId": "cust-1", "items": [{"productId": "nope", "quantity": 1}]})
    deliver(worker, queue)
    assert orders.get(accepted["orderId"])["status"] == "FAILED" and notifier.sent == []


def test_a_failed_order_loses_its_contact_in_the_write_that_fails_it(service, worker, parts):
    orders, queue, _, notifier, _ = parts
    accepted = service.accept({"customerId": "cust-1", "items": [{"productId": "nope", "quantity": 1}],
                               "notify": "ana@example.com"})
    deliver(worker, queue)
    order = orders.get(accepted["orderId"])
    assert order["status"] == "FAILED" and "notify" not in order and notifier.sent == []


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


class CountingOrders(FakeOrders):
    """The fake, counting its writes: the order's write cost (docs/orders.md, "Write cost") is a count of them."""

    def __init__(self):
        super().__init__()
        self.writes: list[str] = []

    def add_if_absent(self, order):
        self.writes.append("put")
        return super().add_if_absent(order)

    def transition(self, order_id, current, new, at, reason=None, changes=None, **kwargs):
        self.writes.append(f"{current}->{new}")
        return super().transition(order_id, current, new, at, reason, changes, **kwargs)

    def claim_notification(self, order_id, now, lease_seconds, claim):
        self.writes.append("claim")
        return super().claim_notification(order_id, now, lease_seconds, claim)

    def mark_notified(self, order_id, at):
        self.writes.append("notified")
        return super().mark_notified(order_id, at)


def test_an_order_that_goes_through_at_once_costs_three_writes_and_keeps_its_pending_key(parts):
    _, queue, products, notifier, contacts = parts
    orders = CountingOrders()
    service = OrderService(orders, queue, clock=lambda: "2026-11-20T10:00:00.000Z", contacts=contacts)
    worker = OrderWorker(orders, products, notifier, 5, clock=lambda: "2026-11-20T10:00:01.000Z", contacts=contacts)
    order_id = service.accept({"customerId": "cust-1", "items": ITEMS})["orderId"]
    placed = orders.get(order_id)["pendingSince"]
    completed = {}
    real_completed = notifier.completed
    notifier.completed = lambda order: completed.update(orders.get(order_id)) or real_completed(order)
    deliver(worker, queue)
    # The accept, RECEIVED → PROCESSING → COMPLETED with the claim in one write, notifiedAt: no claim of its own.
    assert orders.writes == ["put", "RECEIVED->COMPLETED", "notified"]
    assert completed["pendingSince"] == placed  # never moved while the order was on the work list
    assert [h["status"] for h in completed["history"]] == ["RECEIVED", "PROCESSING", "COMPLETED"]
    assert len(notifier.sent) == 1


def test_an_attempt_that_fails_stores_processing_and_the_next_completes_from_there(parts):
    orders, queue, products, notifier, contacts = parts
    service = OrderService(orders, queue, clock=lambda: "2026-11-20T10:00:00.000Z", contacts=contacts)
    worker = OrderWorker(orders, products, notifier, 5, clock=lambda: "2026-11-20T10:00:01.000Z", contacts=contacts)
    order_id = service.accept({"customerId": "cust-1", "items": ITEMS})["orderId"]
    real_prices = products.prices
    products.prices = lambda ids: (_ for _ in ()).throw(ConnectionError("catalog down"))
    with pytest.raises(ConnectionError):
        deliver(worker, queue)
    assert orders.get(order_id)["status"] == "PROCESSING" and notifier.sent == []
    products.prices = real_prices
    deliver(worker, queue, count=2)
    order = orders.get(order_id)
    assert order["status"] == "COMPLETED" and "notifiedAt" in order and len(notifier.sent) == 1
    assert [h["status"] for h in order["history"]] == ["RECEIVED", "PROCESSING", "COMPLETED"]


def test_the_sweep_judges_an_orders_wait_by_its_status_not_by_when_it_was_placed(service, parts):
    orders, queue, _, _, _ = parts
    # Placed long ago (pendingSince), but in its status since a moment: neither re-queued nor failed yet.
    moved = service.accept({"customerId": "cust-1", "items": ITEMS})["orderId"]
    orders.transition(moved, "RECEIVED", "PROCESSING", "2026-11-20T23:59:59.000Z")
    queue.bodies.clear()
    late = OrderSweeper(orders, queue, clock=lambda: "2026-11-21T00:00:00.000Z",
                        now=lambda: 1_795_219_200)  # 2026-11-21T00:00:00Z
    assert late.sweep() == {"requeued": 0, "failed": 0}
    assert orders.get(moved)["status"] == "PROCESSING"
    much_later = OrderSweeper(orders, queue, clock=lambda: "2026-11-22T00:00:00.000Z", now=lambda: 1_795_305_600)
    assert much_later.sweep() == {"requeued": 0, "failed": 1}
