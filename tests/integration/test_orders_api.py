"""POST /orders, GET /orders/{id}, GET /orders?customerId=, and the stranded-order path through the sweep."""
import json
import uuid
from decimal import Decimal

import boto3
import pytest

from chalicelib.adapters.queues import MessageQueue
from chalicelib.orders import service
from chalicelib.pagination import encode_cursor
from tests.events import sqs_event, sqs_record

JSON = {"Content-Type": "application/json"}
VALID = {"customerId": "cust-1", "items": [{"productId": "p-1", "quantity": 2, "unitPrice": "12.50"}],
         "notify": "ana@example.com"}


def post(client, body, headers=None):
    raw = body if isinstance(body, (str, bytes)) else json.dumps(body)
    return client.http.post("/orders", headers={**JSON, **(headers or {})}, body=raw)


def stored_orders():
    return boto3.client("dynamodb").scan(TableName="OrdersTable", ConsistentRead=True)["Items"]


def stored(order_id):
    return boto3.resource("dynamodb").Table("OrdersTable").get_item(
        Key={"orderId": order_id}, ConsistentRead=True).get("Item")


def receive(queue_url):
    return boto3.client("sqs").receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])


def queue_depth(queue_url):
    attributes = boto3.client("sqs").get_queue_attributes(
        QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])
    return sum(int(v) for v in attributes["Attributes"].values())


def deliver(client, messages):
    records = [sqs_record(m["Body"], "orders-queue", m["MessageId"]) for m in messages]
    return client.lambda_.invoke("process_orders", sqs_event(*records)).payload


def put_product(product_id, price):
    boto3.resource("dynamodb").Table("ProductTable").put_item(
        Item={"id": product_id, "name": "Caneta", "price": Decimal(price)})


def two_items(n=2):
    return [{"productId": f"p-{i}", "quantity": 1} for i in range(n)]


BAD_BODIES = [
    ({"items": [{"productId": "p", "quantity": 1}]}, "customerId", "required"),
    ({"customerId": "   ", "items": [{"productId": "p", "quantity": 1}]}, "customerId", "at least 1 character"),
    ({"customerId": 7, "items": [{"productId": "p", "quantity": 1}]}, "customerId", "valid string"),
    ({"customerId": "c" * 129, "items": [{"productId": "p", "quantity": 1}]}, "customerId", "at most 128"),
    ({"customerId": "c"}, "items", "required"),
    ({"customerId": "c", "items": []}, "items", "at least 1 item"),
    ({"customerId": "c", "items": two_items(101)}, "items", "at most 100 items"),
    ({"customerId": "c", "items": {"productId": "p", "quantity": 1}}, "items", "valid list"),
    ({"customerId": "c", "items": ["p"]}, "items.0", "valid dictionary"),
    ({"customerId": "c", "items": [{"quantity": 1}]}, "items.0.productId", "required"),
    ({"customerId": "c", "items": [{"productId": " ", "quantity": 1}]}, "items.0.productId", "at least 1"),
    ({"customerId": "c", "items": [{"productId": "p" * 129, "quantity": 1}]}, "items.0.productId", "at most 128"),
    ({"customerId": "c", "items": [{"productId": "p"}]}, "items.0.quantity", "required"),
    ({"customerId": "c", "items": [{"productId": "p", "quantity": 0}]}, "items.0.quantity", "greater than or equal"),
    ('{"customerId": "c", "items": [{"productId": "p", "quantity": 2.0}]}', "items.0.quantity", "valid integer"),
    ({"customerId": "c", "items": [{"productId": "p", "quantity": "2"}]}, "items.0.quantity", "valid integer"),
    ({"customerId": "c", "items": [{"productId": "p", "quantity": True}]}, "items.0.quantity", "valid integer"),
    ({"customerId": "c", "items": [{"productId": "p", "quantity": 1_000_001}]}, "items.0.quantity", "less than"),
    ({"customerId": "c", "items": [{"productId": "p", "quantity": 1}, {"productId": "q", "quantity": -3}]},
     "items.1.quantity", "greater than or equal"),
    ({"customerId": "c", "items": [{"productId": "p", "quantity": 1, "unitPrice": -1}]},
     "items.0.unitPrice", "zero or more"),
    ('{"customerId": "c", "items": [{"productId": "p", "quantity": 1, "unitPrice": 1.001}]}',
     "items.0.unitPrice", "at most 2 decimal places"),
    ({"customerId": "c", "items": [{"productId": "p", "quantity": 1, "unitPrice": "abc"}]},
     "items.0.unitPrice", "must be a number"),
    ({"customerId": "c", "items": [{"productId": "p", "quantity": 1, "unitPrice": True}]},
     "items.0.unitPrice", "must be a number"),
    ({"customerId": "c", "items": [{"productId": "p", "quantity": 1}], "coupon": "X"}, "coupon", "not a known field"),
    ({"customerId": "c", "items": [{"productId": "p", "quantity": 1, "colour": "red"}]},
     "items.0.colour", "not a known field"),
    ({"customerId": "c", "items": [{"productId": "p", "quantity": 1}], "notify": "ana"}, "notify", "email"),
    ({"customerId": "c", "items": [{"productId": "p", "quantity": 1}], "notify": "11987654321"}, "notify", "E.164"),
    ({"customerId": "c", "items": [{"productId": "p", "quantity": 1}], "notify": "a@b.co" + "m" * 250},
     "notify", "at most 254"),
    ('["not", "an", "object"]', "body", "not an object"),
    ("{not json", "body", "not valid JSON"),
    ("", "body", "empty"),
]


@pytest.mark.parametrize("body, field, problem", BAD_BODIES)
def test_a_bad_body_is_a_400_naming_the_field_and_leaves_no_trace(client, aws_resources, body, field, problem):
    response = post(client, body)
    assert response.status_code == 400, response.body
    answer = json.loads(response.body)
    assert answer["Code"] == "ValidationError"
    assert field in [e["field"] for e in answer["errors"]], answer
    assert any(problem in e["problem"] for e in answer["errors"] if e["field"] == field), answer
    assert stored_orders() == []
    assert queue_depth(aws_resources["OrdersQueue"]) == 0


def test_a_bad_idempotency_key_is_a_400_before_anything_is_written(client, aws_resources):
    response = post(client, VALID, {"Idempotency-Key": "k" * 300})
    assert response.status_code == 400
    assert json.loads(response.body)["errors"][0]["field"] == "Idempotency-Key"
    assert stored_orders() == [] and queue_depth(aws_resources["OrdersQueue"]) == 0


def test_post_answers_202_stores_the_order_received_and_queues_its_id(client, aws_resources):
    response = post(client, {**VALID, "items": [{"productId": "p-1", "quantity": 2, "unitPrice": 12.5},
                                                {"productId": "p-2", "quantity": 1}]})
    assert response.status_code == 202
    body = json.loads(response.body)
    assert body == {"orderId": body["orderId"], "status": "RECEIVED"}
    assert str(uuid.UUID(body["orderId"])) == body["orderId"]
    assert response.headers["Location"] == f"/orders/{body['orderId']}"
    item = stored(body["orderId"])
    assert item["status"] == "RECEIVED" and item["customerId"] == "cust-1"
    assert item["items"] == [{"productId": "p-1", "quantity": 2, "unitPrice": Decimal("12.50")},
                             {"productId": "p-2", "quantity": 1}]
    assert "total" not in item  # one item waits for the catalog's price
    assert item["history"] == [{"status": "RECEIVED", "at": item["createdAt"]}]
    assert item["createdAt"] == item["updatedAt"] == item["pendingSince"]
    assert item["pendingShard"] in {f"P{n}" for n in range(10)}
    # The contact is on the order until its notification is recorded (tests/integration/test_order_contacts.py).
    assert item["notify"] == "ana@example.com" and "hasContact" not in item
    [message] = receive(aws_resources["OrdersQueue"])
    assert json.loads(message["Body"]) == {"orderId": body["orderId"]}


def test_total_is_stored_when_every_item_has_a_price(client):
    items = [{"productId": "a", "quantity": 3, "unitPrice": "0.10"}, {"productId": "b", "quantity": 1, "unitPrice": 5}]
    accepted = json.loads(post(client, {"customerId": "c", "items": items}).body)
    assert stored(accepted["orderId"])["total"] == Decimal("5.30")


def test_a_retry_with_the_same_idempotency_key_returns_the_same_order_and_stores_one(client, aws_resources):
    first = post(client, VALID, {"Idempotency-Key": "order-42"})
    second = post(client, VALID, {"Idempotency-Key": "order-42"})
    assert first.status_code == second.status_code == 202
    assert json.loads(first.body) == json.loads(second.body)
    assert first.headers["Location"] == second.headers["Location"]
    # Changed on purpose (issue 18): the key reused with another body is a 422 naming the header, where it
    # used to answer 202 with the first order (README: "Idempotency-Key").
    reused = post(client, {**VALID, "customerId": "someone-else"}, {"Idempotency-Key": "order-42"})
    assert reused.status_code == 422 and json.loads(reused.body)["errors"][0]["field"] == "Idempotency-Key"
    [item] = stored_orders()
    assert item["customerId"] == {"S": "cust-1"}  # the first body accepted under a key wins
    # Still RECEIVED, so the retry queued it again (harmless: the worker is idempotent).
    assert [json.loads(m["Body"]) for m in receive(aws_resources["OrdersQueue"])] == \
        [{"orderId": json.loads(first.body)["orderId"]}] * 2
    assert json.loads(post(client, VALID, {"Idempotency-Key": "order-43"}).body)["orderId"] != \
        json.loads(first.body)["orderId"]


def test_a_retry_after_processing_reports_the_real_status_and_queues_nothing(client, aws_resources):
    accepted = json.loads(post(client, VALID, {"Idempotency-Key": "k-done"}).body)
    deliver(client, receive(aws_resources["OrdersQueue"]))
    again = post(client, VALID, {"Idempotency-Key": "k-done"})
    assert json.loads(again.body) == {"orderId": accepted["orderId"], "status": "COMPLETED"}
    assert receive(aws_resources["OrdersQueue"]) == []


def test_a_failed_send_still_answers_202_and_the_sweep_relays_the_stranded_order(client, aws_resources,
                                                                                  monkeypatch):
    def unreachable(self, payload):
        raise ConnectionError("SQS is unreachable")
    put_product("p-9", "4.25")
    with monkeypatch.context() as patched:
        patched.setattr(MessageQueue, "send_json", unreachable)
        response = post(client, {"customerId": "c", "items": [{"productId": "p-9", "quantity": 4}]})
    assert response.status_code == 202
    order_id = json.loads(response.body)["orderId"]
    assert stored(order_id)["status"] == "RECEIVED"
    assert receive(aws_resources["OrdersQueue"]) == []

    assert service.order_sweeper().sweep() == {"requeued": 0, "failed": 0}  # too young to be stranded
    monkeypatch.setenv("ORDERS_REQUEUE_AFTER_SECONDS", "0")
    assert service.order_sweeper().sweep() == {"requeued": 1, "failed": 0}
    messages = receive(aws_resources["OrdersQueue"])
    assert [json.loads(m["Body"]) for m in messages] == [{"orderId": order_id}]

    assert deliver(client, messages) == {"batchItemFailures": []}
    order = json.loads(client.http.get(f"/orders/{order_id}").body)
    assert order["status"] == "COMPLETED" and order["total"] == "17.00"
    assert service.order_sweeper().sweep() == {"requeued": 0, "failed": 0}  # notified: off the work list


def test_get_shows_a_completed_order_with_exact_money_and_its_history(client, aws_resources):
    put_product("p-2", "3.33")
    accepted = json.loads(post(client, {**VALID, "items": VALID["items"] + [{"productId": "p-2", "quantity": 3}]}).body)
    received = json.loads(client.http.get(f"/orders/{accepted['orderId']}").body)
    assert received["status"] == "RECEIVED" and received["total"] is None
    assert received["notify"] == "ana@example.com"  # kept until the order is notified
    assert received["items"][1] == {"productId": "p-2", "quantity": 3, "unitPrice": None}
    deliver(client, receive(aws_resources["OrdersQueue"]))
    response = client.http.get(f"/orders/{accepted['orderId']}")
    assert response.status_code == 200
    order = json.loads(response.body)
    assert set(order) == {"orderId", "customerId", "status", "items", "total", "history", "createdAt",
                          "updatedAt"}  # notified: its contact went with the write that recorded it
    assert order["status"] == "COMPLETED"
    assert order["items"] == [{"productId": "p-1", "quantity": 2, "unitPrice": "12.50"},
                              {"productId": "p-2", "quantity": 3, "unitPrice": "3.33"}]
    assert order["total"] == "34.99"
    assert [h["status"] for h in order["history"]] == ["RECEIVED", "PROCESSING", "COMPLETED"]
    assert all(set(h) == {"status", "at"} for h in order["history"])
    assert order["history"][-1]["at"] == order["updatedAt"]


def test_get_shows_why_an_order_failed(client, aws_resources):
    accepted = json.loads(post(client, {"customerId": "c", "items": [{"productId": "ghost", "quantity": 1}]}).body)
    deliver(client, receive(aws_resources["OrdersQueue"]))
    order = json.loads(client.http.get(f"/orders/{accepted['orderId']}").body)
    assert order["status"] == "FAILED"
    assert "ghost" in order["failureReason"]
    assert order["history"][-1] == {"status": "FAILED", "at": order["updatedAt"], "reason": order["failureReason"]}
    assert "notify" not in order


def test_get_unknown_is_404_and_not_a_uuid_is_400(client):
    missing = client.http.get(f"/orders/{uuid.uuid4()}")
    assert missing.status_code == 404
    assert json.loads(missing.body)["Code"] == "NotFound"
    bad = client.http.get("/orders/not-a-uuid")
    assert bad.status_code == 400
    assert json.loads(bad.body)["errors"] == [{"field": "orderId", "problem": "must be a UUID"}]


def make_orders(client, customer, count):
    ticks = iter(f"2026-01-01T00:00:{n:02d}.000Z" for n in range(count))
    service.orders().clock = lambda: next(ticks)
    ids = [json.loads(post(client, {"customerId": customer, "items": [{"productId": "p", "quantity": 1}]}).body)
           ["orderId"] for _ in range(count)]
    service.reset()
    return ids


def test_list_pages_through_a_customers_orders_newest_first(client):
    ids = make_orders(client, "cust-a", 5)
    make_orders(client, "cust-b", 2)
    seen, cursor, pages = [], None, 0
    while True:
        query = "/orders?customerId=cust-a&limit=2" + (f"&next={cursor}" if cursor else "")
        response = client.http.get(query)
        assert response.status_code == 200
        page = json.loads(response.body)
        assert len(page["items"]) <= 2
        seen += page["items"]
        pages += 1
        cursor = page["next"]
        if not cursor:
            break
    assert pages == 3
    assert [o["orderId"] for o in seen] == ids[::-1]
    assert all(o["customerId"] == "cust-a" and "pendingShard" not in o for o in seen)
    assert json.loads(client.http.get("/orders?customerId=nobody").body) == {"items": [], "next": None}


# "/orders" with no customerId is no longer refused (issue 18): an operator lists every customer's orders,
# a customer its own (tests/integration/test_access.py).
@pytest.mark.parametrize("query, field", [
    ("/orders?customerId=%20%20", "customerId"),
    (f"/orders?customerId={'c' * 129}", "customerId"),
    ("/orders?customerId=cust-a&limit=0", "limit"),
    ("/orders?customerId=cust-a&limit=101", "limit"),
    ("/orders?customerId=cust-a&next=forged", "next"),
    ("/orders?customerId=cust-a&next=" + encode_cursor({"id": {"S": "x"}}), "next"),
    ("/orders?customerId=cust-a&next=" + encode_cursor(
        {"orderId": {"S": "x"}, "customerId": {"S": "cust-b"}, "createdAt": {"S": "2026"}}), "next"),
    ("/orders?customerId=cust-a&next=" + encode_cursor(
        {"orderId": {"N": "1"}, "customerId": {"S": "cust-a"}, "createdAt": {"S": "2026"}}), "next"),
    ("/orders?customerId=cust-a&next=" + encode_cursor(
        {"orderId": {"S": ""}, "customerId": {"S": "cust-a"}, "createdAt": {"S": "2026"}}), "next"),
])
def test_list_refuses_bad_parameters_by_name(client, query, field):
    make_orders(client, "cust-a", 3)
    response = client.http.get(query)
    assert response.status_code == 400, response.body
    assert [e["field"] for e in json.loads(response.body)["errors"]] == [field]
