"""process_orders: pricing, failure, exactly one notification across redeliveries and crashes, the DLQ path."""
import json
import uuid
from decimal import Decimal

import boto3
import pytest

from chalicelib.batch import BatchFailed
from chalicelib.catalog.repository import ProductRepository
from chalicelib.orders import service
from chalicelib.orders.notifications import OrderNotifier
from chalicelib.orders.repository import OrderRepository
from chalicelib.orders.service import OrderWorker
from tests.events import sqs_event, sqs_record


def notifications(inbox_url):
    """Every notification delivered so far, as (message, attributes)."""
    sqs, found = boto3.client("sqs"), []
    while True:
        messages = sqs.receive_message(QueueUrl=inbox_url, MaxNumberOfMessages=10).get("Messages", [])
        if not messages:
            return found
        for message in messages:
            envelope = json.loads(message["Body"])
            found.append((json.loads(envelope["Message"]),
                          {k: v["Value"] for k, v in envelope.get("MessageAttributes", {}).items()}))


def put_product(product_id, price):
    boto3.resource("dynamodb").Table("ProductTable").put_item(
        Item={"id": product_id, "name": "Caderno", "price": Decimal(price)})


def new_order(items, customer="cust-1", notify=None):
    body = {"customerId": customer, "items": items, **({"notify": notify} if notify else {})}
    accepted = service.orders().accept(body)
    # The API queued it; these tests deliver by hand, so the queue's copy is dropped.
    boto3.client("sqs").purge_queue(QueueUrl=service.orders().queue.url)
    return accepted["orderId"]


def stored(order_id):
    return boto3.resource("dynamodb").Table("OrdersTable").get_item(
        Key={"orderId": order_id}, ConsistentRead=True)["Item"]


class Raw(str):
    """A message body sent as it is, not as {"orderId": ...}."""


def deliver(client, *orders, receive_count=1):
    """One process_orders invocation with a message per order id; returns (payload, messageIds)."""
    records = [sqs_record(o if isinstance(o, Raw) else {"orderId": o}, "orders-queue", receive_count=receive_count)
               for o in orders]
    return client.lambda_.invoke("process_orders", sqs_event(*records)).payload, [r["messageId"] for r in records]


def failed_ids(payload):
    return [f["itemIdentifier"] for f in payload["batchItemFailures"]]


def test_items_without_a_price_are_priced_from_the_catalog(client, inbox):
    put_product("p-1", "19.90")
    put_product("p-2", "0.10")
    order_id = new_order([{"productId": "p-1", "quantity": 2}, {"productId": "p-2", "quantity": 3},
                          {"productId": "p-3", "quantity": 1, "unitPrice": "5.00"}], notify="+5511987654321")
    payload, _ = deliver(client, order_id)
    assert payload == {"batchItemFailures": []}
    order = stored(order_id)
    assert order["status"] == "COMPLETED"
    assert [i["unitPrice"] for i in order["items"]] == [Decimal("19.90"), Decimal("0.10"), Decimal("5.00")]
    assert order["total"] == Decimal("45.10")
    assert [h["status"] for h in order["history"]] == ["RECEIVED", "PROCESSING", "COMPLETED"]
    assert "notifiedAt" in order and "pendingShard" not in order and "pendingSince" not in order
    [(message, attributes)] = notifications(inbox)
    # The contact in the body, which the topic's KMS key encrypts; attributes (kept in clear) name no one.
    assert message == {"orderId": order_id, "customerId": "cust-1", "status": "COMPLETED", "total": "45.10",
                       "contact": "+5511987654321"}
    attributes.pop("correlation_id")  # followed in tests/integration/test_correlation.py
    assert attributes == {"status": "COMPLETED", "notificationId": f"{order_id}:COMPLETED"}


def test_a_client_price_wins_over_the_catalog_and_needs_no_lookup(client, inbox, monkeypatch):
    def no_lookup(self, ids):
        raise AssertionError("the catalog was read")
    monkeypatch.setattr(ProductRepository, "prices", no_lookup)
    put_product("p-1", "99.00")
    order_id = new_order([{"productId": "p-1", "quantity": 1, "unitPrice": "1.00"}])
    assert deliver(client, order_id)[0] == {"batchItemFailures": []}
    assert stored(order_id)["total"] == Decimal("1.00")
    [(message, attributes)] = notifications(inbox)
    assert message["total"] == "1.00" and "contact" not in message and "contact" not in attributes


def test_an_unknown_product_fails_the_order_at_once_and_the_record_succeeds(client, inbox):
    put_product("p-1", "1.00")
    order_id = new_order([{"productId": "p-1", "quantity": 1}, {"productId": "ghost-b", "quantity": 1},
                          {"productId": "ghost-a", "quantity": 2}])
    healthy = new_order([{"productId": "p-1", "quantity": 1}])
    payload, _ = deliver(client, order_id, healthy)
    assert payload == {"batchItemFailures": []}  # retrying cannot make the product exist
    order = stored(order_id)
    assert order["status"] == "FAILED"
    assert order["failureReason"] == "unknown product(s): ghost-a, ghost-b"
    assert order["history"][-1]["reason"] == order["failureReason"]
    assert "pendingShard" not in order and "pendingSince" not in order and "total" not in order
    assert [m["orderId"] for m, _ in notifications(inbox)] == [healthy]  # a FAILED order notifies nobody
    assert deliver(client, order_id)[0] == {"batchItemFailures": []}  # redelivered: nothing more happens
    assert stored(order_id)["history"] == order["history"]


def test_the_same_message_twice_in_one_batch_notifies_once(client, inbox):
    order_id = new_order([{"productId": "p", "quantity": 1, "unitPrice": "2.00"}])
    payload, ids = deliver(client, order_id, order_id)
    assert len(set(ids)) == 2 and payload == {"batchItemFailures": []}
    assert len(notifications(inbox)) == 1
    assert [h["status"] for h in stored(order_id)["history"]] == ["RECEIVED", "PROCESSING", "COMPLETED"]


def test_the_same_message_in_two_invocations_notifies_once(client, inbox):
    order_id = new_order([{"productId": "p", "quantity": 1, "unitPrice": "2.00"}])
    assert deliver(client, order_id)[0] == {"batchItemFailures": []}
    first = stored(order_id)
    assert deliver(client, order_id, receive_count=2)[0] == {"batchItemFailures": []}
    assert len(notifications(inbox)) == 1
    assert stored(order_id) == first  # the redelivery wrote nothing


def test_a_delivery_that_finds_the_order_already_moved_carries_on_from_there(client, inbox, monkeypatch):
    order_id = new_order([{"productId": "p", "quantity": 1, "unitPrice": "2.00"}])
    OrderRepository("OrdersTable").transition(order_id, "RECEIVED", "PROCESSING", "2026-01-01T00:00:00.000Z")
    real_get, reads = OrderRepository.get, []

    def stale_first_read(self, wanted):
        order = real_get(self, wanted)
        reads.append(order["status"])
        return {**order, "status": "RECEIVED"} if len(reads) == 1 else order
    monkeypatch.setattr(OrderRepository, "get", stale_first_read)
    assert deliver(client, order_id)[0] == {"batchItemFailures": []}
    assert len(reads) >= 2  # the refused RECEIVED → PROCESSING made it read again
    assert [h["status"] for h in stored(order_id)["history"]] == ["RECEIVED", "PROCESSING", "COMPLETED"]
    assert len(notifications(inbox)) == 1


def test_a_crash_before_publishing_is_recovered_by_the_redelivery_with_one_notification(client, inbox, monkeypatch):
    real_completed, calls = OrderNotifier.completed, []

    def crash_once(self, order):
        calls.append(order["orderId"])
        if len(calls) == 1:
            raise TimeoutError("SNS did not answer")
        return real_completed(self, order)
    monkeypatch.setattr(OrderNotifier, "completed", crash_once)
    order_id = new_order([{"productId": "p", "quantity": 3, "unitPrice": "2.50"}])
    healthy = new_order([{"productId": "p", "quantity": 1, "unitPrice": "1.00"}])
    payload, (order_message, _) = deliver(client, order_id, healthy)
    assert failed_ids(payload) == [order_message]
    order = stored(order_id)
    assert order["status"] == "COMPLETED" and "notifiedAt" not in order
    assert "pendingShard" in order  # still on the sweep's work list
    assert [m["orderId"] for m, _ in notifications(inbox)] == [healthy]

    assert deliver(client, order_id, receive_count=2)[0] == {"batchItemFailures": []}
    [(message, _)] = notifications(inbox)
    assert message == {"orderId": order_id, "customerId": "cust-1", "status": "COMPLETED", "total": "7.50"}
    order = stored(order_id)
    assert "notifiedAt" in order and "pendingShard" not in order
    assert [h["status"] for h in order["history"]] == ["RECEIVED", "PROCESSING", "COMPLETED"]


def test_a_crash_after_publishing_repeats_the_notification_with_the_same_id(client, inbox, monkeypatch):
    # The documented worst case: subscribers deduplicate on notificationId.
    real_mark = OrderRepository.mark_notified
    calls = []

    def crash_once(self, order_id, at):
        calls.append(order_id)
        if len(calls) == 1:
            raise TimeoutError("DynamoDB did not answer")
        return real_mark(self, order_id, at)
    monkeypatch.setattr(OrderRepository, "mark_notified", crash_once)
    order_id = new_order([{"productId": "p", "quantity": 1, "unitPrice": "1.00"}])
    with pytest.raises(BatchFailed):
        deliver(client, order_id)
    deliver(client, order_id, receive_count=2)  # the crashed delivery's claim still holds: nothing is sent
    first = notifications(inbox)
    assert len(first) == 1
    import time
    later = time.time() + OrderWorker.NOTIFY_LEASE_SECONDS + 1
    monkeypatch.setattr("chalicelib.orders.service.time.time", lambda: later)
    deliver(client, order_id, receive_count=3)  # once it has run out, the order is notified (again)
    ids = [attributes["notificationId"] for _, attributes in first + notifications(inbox)]
    assert ids == [f"{order_id}:COMPLETED"] * 2


def test_two_deliveries_racing_publish_one_notification(client, inbox, monkeypatch):
    # The sweep's re-send of a slow order can be delivered while the first message is still publishing.
    from chalicelib.orders.notifications import OrderNotifier
    real_publish = OrderNotifier.completed
    order_id = new_order([{"productId": "p", "quantity": 1, "unitPrice": "1.00"}])

    def publish_while_another_delivery_arrives(self, order):
        monkeypatch.setattr(OrderNotifier, "completed", real_publish)
        deliver(client, order_id, receive_count=1)  # the racing delivery, inside the first one's publish
        return real_publish(self, order)
    monkeypatch.setattr(OrderNotifier, "completed", publish_while_another_delivery_arrives)
    deliver(client, order_id)
    assert len(notifications(inbox)) == 1


def test_a_lasting_error_fails_the_order_on_the_last_receive_and_the_message_goes_on_to_the_dlq(client, inbox,
                                                                                                monkeypatch):
    def broken(self, ids):
        raise ConnectionError("ProductTable is unreachable " + "x" * 1000)
    monkeypatch.setattr(ProductRepository, "prices", broken)
    order_id = new_order([{"productId": "p", "quantity": 1}])
    for attempt in range(1, 5):
        with pytest.raises(BatchFailed):
            deliver(client, order_id, receive_count=attempt)
        assert stored(order_id)["status"] == "PROCESSING"
    healthy = new_order([{"productId": "q", "quantity": 1, "unitPrice": "1.00"}])
    payload, (last, _) = deliver(client, order_id, healthy, receive_count=5)
    assert failed_ids(payload) == [last]  # still failed, so SQS moves it to the DLQ
    order = stored(order_id)
    assert order["status"] == "FAILED"
    assert order["failureReason"].startswith("processing failed 5 times: ProductTable is unreachable")
    assert len(order["failureReason"]) <= 500
    assert order["history"][-1] == {"status": "FAILED", "at": order["updatedAt"], "reason": order["failureReason"]}
    assert [h["status"] for h in order["history"]] == ["RECEIVED", "PROCESSING", "FAILED"]
    assert "pendingShard" not in order and "pendingSince" not in order
    assert [m["orderId"] for m, _ in notifications(inbox)] == [healthy]


def test_the_last_receive_fails_a_received_order_too(client, monkeypatch):
    # The catalog and every write but FAILED throttled: the order never leaves RECEIVED, then fails.
    def broken(self, order_id, current, new, at, reason=None, changes=None, **kwargs):
        if new != "FAILED":
            raise ConnectionError("throttled")
        return real_transition(self, order_id, current, new, at, reason, changes, **kwargs)
    real_transition = OrderRepository.transition
    monkeypatch.setattr(OrderRepository, "transition", broken)
    monkeypatch.setattr(ProductRepository, "prices", lambda self, ids: (_ for _ in ()).throw(ConnectionError("throttled")))
    order_id = new_order([{"productId": "p", "quantity": 1}])
    with pytest.raises(BatchFailed):
        deliver(client, order_id, receive_count=5)
    order = stored(order_id)
    assert [h["status"] for h in order["history"]] == ["RECEIVED", "FAILED"]
    assert order["failureReason"] == "processing failed 5 times: throttled"


def test_an_attempt_that_does_not_finish_leaves_the_order_processing_and_a_retry_completes_it(client, inbox,
                                                                                              monkeypatch):
    # One write takes an order from RECEIVED to COMPLETED when the attempt finishes; one that does not
    # (the catalog is down) stores PROCESSING, as GET /orders/{id} and the sweep's stuck rule expect.
    monkeypatch.setattr(ProductRepository, "prices", lambda self, ids: (_ for _ in ()).throw(ConnectionError("down")))
    put_product("p-1", "4.00")
    order_id = new_order([{"productId": "p-1", "quantity": 1}])
    with pytest.raises(BatchFailed):
        deliver(client, order_id)
    first = stored(order_id)
    assert first["status"] == "PROCESSING" and first["pendingShard"]
    monkeypatch.undo()
    assert deliver(client, order_id, receive_count=2)[0] == {"batchItemFailures": []}
    order = stored(order_id)
    assert order["status"] == "COMPLETED" and order["total"] == Decimal("4.00") and "notifiedAt" in order
    assert order["history"][:2] == first["history"]  # PROCESSING, when the first attempt started
    assert [h["status"] for h in order["history"]] == ["RECEIVED", "PROCESSING", "COMPLETED"]
    assert len(notifications(inbox)) == 1


def test_the_last_receive_never_fails_a_completed_order_that_only_lacks_its_notification(client, inbox, monkeypatch):
    def sns_down(self, order):
        raise ConnectionError("SNS is unreachable")
    monkeypatch.setattr(OrderNotifier, "completed", sns_down)
    order_id = new_order([{"productId": "p", "quantity": 1, "unitPrice": "1.00"}])
    with pytest.raises(BatchFailed):
        deliver(client, order_id, receive_count=5)
    order = stored(order_id)
    assert order["status"] == "COMPLETED" and "failureReason" not in order
    assert "notifiedAt" not in order and "pendingShard" in order  # the sweep will queue it again
    monkeypatch.undo()
    service.reset()
    assert deliver(client, order_id)[0] == {"batchItemFailures": []}
    assert len(notifications(inbox)) == 1


@pytest.mark.parametrize("body", ["not json", "{}", '{"orderId": "nope"}', "[1]"])
def test_a_malformed_message_fails_alone(client, body):
    healthy = new_order([{"productId": "p", "quantity": 1, "unitPrice": "1.00"}])
    payload, (bad, _) = deliver(client, Raw(body), healthy)
    assert failed_ids(payload) == [bad]
    assert stored(healthy)["status"] == "COMPLETED"


def test_a_message_for_an_order_that_does_not_exist_fails(client):
    payload, (ghost, _) = deliver(client, str(uuid.uuid4()),
                                  new_order([{"productId": "p", "quantity": 1, "unitPrice": "1.00"}]))
    assert failed_ids(payload) == [ghost]


def test_a_topic_arn_given_by_the_stack_is_used_without_asking_sts(client, inbox, monkeypatch):
    from chalicelib import aws
    sns_arn = aws.client("sns").list_topics()["Topics"][0]["TopicArn"]
    monkeypatch.setenv("ORDER_NOTIFICATIONS_TOPIC_ARN", sns_arn)
    real_client = aws.client

    def no_sts(name):
        assert name != "sts", "the worker asked STS for an ARN the stack gave it"
        return real_client(name)
    monkeypatch.setattr(aws, "client", no_sts)
    notifier = OrderNotifier("order-notifications", service.settings.order_notifications_topic_arn())
    order_id = new_order([{"productId": "p-9", "quantity": 1, "unitPrice": "1.00"}])
    assert notifier.completed({"orderId": order_id, "customerId": "cust-1", "status": "COMPLETED",
                               "total": Decimal("1.00")})
    [(message, _)] = notifications(inbox)
    assert message["orderId"] == order_id
