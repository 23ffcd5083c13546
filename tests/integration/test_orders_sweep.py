"""sweep_orders: the relay that re-queues orders left behind and fails those stuck in PROCESSING."""
import json

import boto3
import pytest

from chalicelib.adapters.queues import MessageQueue
from chalicelib.orders import service
from chalicelib.orders.notifications import OrderNotifier
from chalicelib.orders.repository import OrderRepository
from tests.events import sqs_event, sqs_record


@pytest.fixture
def now_is_late(monkeypatch):
    """Every order counts as waiting long enough to be swept."""
    monkeypatch.setenv("ORDERS_REQUEUE_AFTER_SECONDS", "0")
    monkeypatch.setenv("ORDERS_STUCK_AFTER_SECONDS", "0")


def stranded(items=None, customer="c"):
    """An order stored as RECEIVED whose message never reached the queue."""
    def lost(self, payload):
        raise ConnectionError("SQS is unreachable")
    with pytest.MonkeyPatch.context() as patched:
        patched.setattr(MessageQueue, "send_json", lost)
        return service.orders().accept({"customerId": customer, "items": items or [
            {"productId": "p", "quantity": 1, "unitPrice": "1.00"}]})["orderId"]


def queued(aws_resources):
    messages = boto3.client("sqs").receive_message(QueueUrl=aws_resources["OrdersQueue"],
                                                   MaxNumberOfMessages=10).get("Messages", [])
    return [json.loads(m["Body"])["orderId"] for m in messages]


def stored(order_id):
    return boto3.resource("dynamodb").Table("OrdersTable").get_item(
        Key={"orderId": order_id}, ConsistentRead=True)["Item"]


def sweep(client):
    event = client.events.generate_cw_event("aws.events", "Scheduled Event", {}, [], region="us-east-1")
    return client.lambda_.invoke("sweep_orders", event).payload


def work(client, order_id, receive_count=1):
    record = sqs_record({"orderId": order_id}, "orders-queue", receive_count=receive_count)
    return client.lambda_.invoke("process_orders", sqs_event(record)).payload


def test_a_young_order_is_left_alone(client, aws_resources):
    stranded()
    assert sweep(client) == {"requeued": 0, "failed": 0}
    assert queued(aws_resources) == []


def test_stranded_orders_in_every_shard_are_requeued(client, aws_resources, now_is_late):
    ids = [stranded() for _ in range(12)]
    assert sweep(client) == {"requeued": 12, "failed": 0}
    found = queued(aws_resources)
    found += queued(aws_resources)
    assert sorted(found) == sorted(ids)
    assert len({stored(i)["pendingShard"] for i in ids}) > 1


def test_a_completed_order_without_its_notification_is_requeued_and_then_notified_once(client, aws_resources,
                                                                                      now_is_late, monkeypatch):
    order_id = stranded()
    with monkeypatch.context() as patched:
        patched.setattr(OrderNotifier, "completed", lambda self, order: (_ for _ in ()).throw(TimeoutError()))
        with pytest.raises(Exception):
            work(client, order_id)
    assert stored(order_id)["status"] == "COMPLETED"
    published = []
    real_completed = OrderNotifier.completed
    monkeypatch.setattr(OrderNotifier, "completed",
                        lambda self, order: published.append(order["orderId"]) or real_completed(self, order))
    assert sweep(client) == {"requeued": 1, "failed": 0}
    assert published == []  # the sweep only queues; the worker decides
    assert queued(aws_resources) == [order_id]
    assert work(client, order_id) == {"batchItemFailures": []}
    assert published == [order_id]
    assert sweep(client) == {"requeued": 0, "failed": 0}
    assert work(client, order_id) == {"batchItemFailures": []}  # a late duplicate notifies nobody
    assert published == [order_id]


def test_finished_orders_are_not_swept(client, aws_resources, now_is_late):
    done = stranded()
    work(client, done)
    failed = stranded(items=[{"productId": "ghost", "quantity": 1}])
    work(client, failed)
    assert (stored(done)["status"], stored(failed)["status"]) == ("COMPLETED", "FAILED")
    assert sweep(client) == {"requeued": 0, "failed": 0}
    assert queued(aws_resources) == []


def test_an_order_stuck_in_processing_is_failed(client, aws_resources, monkeypatch):
    order_id = stranded()
    OrderRepository("OrdersTable").transition(order_id, "RECEIVED", "PROCESSING", "2026-01-01T00:00:00.000Z")
    monkeypatch.setenv("ORDERS_REQUEUE_AFTER_SECONDS", "0")
    # Waiting, but not yet for ORDERS_STUCK_AFTER_SECONDS: SQS may still redeliver it.
    monkeypatch.setenv("ORDERS_STUCK_AFTER_SECONDS", str(100 * 365 * 24 * 3600))
    assert sweep(client) == {"requeued": 0, "failed": 0}
    assert stored(order_id)["status"] == "PROCESSING"
    monkeypatch.setenv("ORDERS_STUCK_AFTER_SECONDS", "0")
    assert sweep(client) == {"requeued": 0, "failed": 1}
    order = stored(order_id)
    assert order["status"] == "FAILED" and order["failureReason"] == "processing did not finish"
    assert order["history"][-1]["reason"] == "processing did not finish"
    assert "pendingShard" not in order
    assert queued(aws_resources) == []
    assert sweep(client) == {"requeued": 0, "failed": 0}


def test_the_default_stuck_time_spares_a_processing_order(client, monkeypatch):
    order_id = stranded()
    OrderRepository("OrdersTable").transition(order_id, "RECEIVED", "PROCESSING", service.utc_now())
    monkeypatch.setenv("ORDERS_REQUEUE_AFTER_SECONDS", "0")
    monkeypatch.delenv("ORDERS_STUCK_AFTER_SECONDS", raising=False)
    assert service.stuck_after_seconds() == 900
    assert sweep(client) == {"requeued": 0, "failed": 0}
    assert stored(order_id)["status"] == "PROCESSING"


def test_the_sweep_reads_the_order_itself_not_the_lagging_index(client, aws_resources, now_is_late, monkeypatch):
    order_id = stranded()
    work(client, order_id)  # COMPLETED and notified, off the index
    monkeypatch.setattr(OrderRepository, "waiting_since", lambda self, shard, before: iter([order_id]))
    assert sweep(client) == {"requeued": 0, "failed": 0}
    assert queued(aws_resources) == []
