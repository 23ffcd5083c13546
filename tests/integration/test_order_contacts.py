"""An order's contact (issue 19; on the order item since issue 22, 4a): kept until its notification is recorded,
shown only to whom may see the order, never in a listing, a log line or an SNS attribute, and erased on an
operator's request with an answer of what was kept; orders placed before the move still read and erase theirs in
OrderContactsTable."""
import io
import json
import time

import boto3
import pytest

from chalicelib.logs import logger
from chalicelib.orders import service
from chalicelib.orders.contacts import DAY_SECONDS, OrderContacts
from tests.events import sqs_event, sqs_record

JSON = {"Content-Type": "application/json"}
ITEMS = [{"productId": "caneta", "quantity": 1, "unitPrice": "3.10"}]
CONTACT = "ana.contact-test@example.com"


def contacts_table():
    return boto3.resource("dynamodb").Table("OrderContactsTable")


def contact_items():
    return contacts_table().scan(ConsistentRead=True)["Items"]


def place(client, customer_id, notify=CONTACT, headers=None):
    body = {"customerId": customer_id, "items": ITEMS, **({"notify": notify} if notify else {})}
    response = client.http.post("/orders", headers={**JSON, **(headers or {})}, body=json.dumps(body))
    assert response.status_code == 202, response.body
    return json.loads(response.body)["orderId"]


def process(client, *order_ids):
    """Deliver the orders to the worker (the queue's copies are dropped: the test delivers by hand)."""
    boto3.client("sqs").purge_queue(QueueUrl=service.orders().queue.url)
    records = [sqs_record({"orderId": order_id}, "orders-queue") for order_id in order_ids]
    assert client.lambda_.invoke("process_orders", sqs_event(*records)).payload == {"batchItemFailures": []}


def erase(client, customer_id, headers=None):
    return client.http.delete(f"/customers/{customer_id}/personal-data", headers=headers or {})


def notifications(url):
    found = []
    while messages := boto3.client("sqs").receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages"):
        for message in messages:
            boto3.client("sqs").delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
            envelope = json.loads(message["Body"])
            found.append((json.loads(envelope["Message"]), envelope.get("MessageAttributes", {})))
    return found


@pytest.fixture
def log_text():
    """What the app's logger writes (Powertools JSON lines, INFO and up), as one text."""
    handler, buffer = logger.registered_handler, io.StringIO()
    previous_stream, previous_level = handler.setStream(buffer), logger.log_level
    logger.setLevel("INFO")
    yield buffer.getvalue
    handler.setStream(previous_stream)
    logger.setLevel(previous_level)


# --- on the order, until the notification is recorded ---------------------------------------------------

def orders_table():
    return boto3.resource("dynamodb").Table("OrdersTable")


def stored(order_id):
    return orders_table().get_item(Key={"orderId": order_id}, ConsistentRead=True)["Item"]


def place_before_the_move(client, customer_id, contact=CONTACT):
    """An order as placed before contacts moved into the order: `hasContact` on it, the contact in
    OrderContactsTable (written by the test, as the previous release's POST /orders did)."""
    order_id = place(client, customer_id, notify=None)
    orders_table().update_item(Key={"orderId": order_id}, UpdateExpression="SET hasContact = :t",
                               ExpressionAttributeValues={":t": True})
    service.order_contacts().keep(customer_id, order_id, contact)
    return order_id


def test_the_contact_is_on_the_order_until_the_write_that_records_its_notification(client, inbox):
    order_id = place(client, "cust-1")
    assert stored(order_id)["notify"] == CONTACT and contact_items() == []  # no write of its own
    assert json.loads(client.http.get(f"/orders/{order_id}").body)["notify"] == CONTACT
    process(client, order_id)
    [(message, _)] = notifications(inbox)
    assert message["contact"] == CONTACT
    order = stored(order_id)
    assert "notifiedAt" in order and "notify" not in order and CONTACT not in json.dumps(order, default=str)
    assert "notify" not in json.loads(client.http.get(f"/orders/{order_id}").body)


def test_a_failed_order_loses_its_contact_in_the_write_that_fails_it(client, inbox):
    body = {"customerId": "cust-1", "items": [{"productId": "no-such-product", "quantity": 1}], "notify": CONTACT}
    order_id = json.loads(client.http.post("/orders", headers=JSON, body=json.dumps(body)).body)["orderId"]
    process(client, order_id)
    order = stored(order_id)
    assert order["status"] == "FAILED" and "notify" not in order and notifications(inbox) == []


def test_an_order_placed_before_the_move_is_notified_with_its_contact_from_the_old_table(client, inbox):
    order_id = place_before_the_move(client, "cust-1")
    assert json.loads(client.http.get(f"/orders/{order_id}").body)["notify"] == CONTACT
    process(client, order_id)
    [(message, _)] = notifications(inbox)
    assert message["contact"] == CONTACT
    # Notified: no longer shown (the old table's item goes with its TTL).
    assert "notify" not in json.loads(client.http.get(f"/orders/{order_id}").body)


def test_the_old_tables_retention_is_a_per_stage_setting_of_at_least_a_day(client, monkeypatch):
    monkeypatch.setenv("ORDER_CONTACT_RETENTION_DAYS", "7")
    service.reset()
    monkeypatch.setattr(service.order_contacts(), "now", lambda: 1_800_000_000)
    place_before_the_move(client, "cust-1")
    assert [i["expiresAt"] for i in contact_items()] == [1_800_000_000 + 7 * DAY_SECONDS]
    with pytest.raises(ValueError, match="ORDER_CONTACT_RETENTION_DAYS"):
        OrderContacts("OrderContactsTable", 0)
    monkeypatch.delenv("ORDER_CONTACT_RETENTION_DAYS")
    service.reset()
    assert service.order_contacts().retention_days == 30  # the documented default


def test_an_order_without_a_contact_writes_none_and_a_refused_one_writes_nothing(client):
    plain = place(client, "cust-1", notify=None)
    assert "notify" not in stored(plain)
    bad = client.http.post("/orders", headers=JSON, body=json.dumps({"customerId": "c", "items": ITEMS,
                                                                     "notify": "not-a-contact"}))
    assert bad.status_code == 400 and json.loads(bad.body)["errors"][0]["field"] == "notify"
    kept = place(client, "cust-2", headers={"Idempotency-Key": "k-1"})
    reused = client.http.post("/orders", headers={**JSON, "Idempotency-Key": "k-1"},
                              body=json.dumps({"customerId": "cust-2", "items": ITEMS, "notify": "other@example.com"}))
    assert reused.status_code == 422
    holding = [(i["customerId"], i["notify"]) for i in orders_table().scan(ConsistentRead=True)["Items"]
               if "notify" in i]
    assert holding == [("cust-2", CONTACT)] and stored(kept)["notify"] == CONTACT and contact_items() == []


def test_a_retried_post_keeps_one_contact(client):
    first = place(client, "cust-1", headers={"Idempotency-Key": "same"})
    assert place(client, "cust-1", headers={"Idempotency-Key": "same"}) == first
    assert [i["orderId"] for i in orders_table().scan(ConsistentRead=True)["Items"] if "notify" in i] == [first]


# --- who sees it ------------------------------------------------------------------------------------------

def test_one_order_shows_its_contact_to_its_customer_and_operators_and_no_listing_shows_it(client, tokens):
    ana, bruno = tokens.header("customer"), tokens.header("other_customer")
    mine = json.loads(client.http.post("/orders", headers={**JSON, **ana},
                                       body=json.dumps({"items": ITEMS, "notify": CONTACT})).body)["orderId"]
    assert json.loads(client.http.get(f"/orders/{mine}", headers=ana).body)["notify"] == CONTACT
    assert json.loads(client.http.get(f"/orders/{mine}").body)["notify"] == CONTACT  # the operator
    other = client.http.get(f"/orders/{mine}", headers=bruno)
    assert other.status_code == 404 and CONTACT not in other.body.decode()
    listings = [client.http.get("/orders", headers=ana), client.http.get("/orders"),
                client.http.get(f"/orders?customerId={tokens.subs['ana']}")]
    assert all(r.status_code == 200 and json.loads(r.body)["items"] for r in listings)
    assert [CONTACT in r.body.decode() or "notify" in r.body.decode() for r in listings] == [False] * 3


def test_an_expired_contact_not_yet_deleted_is_neither_shown_nor_sent(client, inbox):
    order_id = place_before_the_move(client, "cust-1")
    # DynamoDB's TTL deletes within days of the expiry: until then the item is there, past its time.
    contacts_table().update_item(Key={"customerId": "cust-1", "orderId": order_id},
                                 UpdateExpression="SET expiresAt = :past",
                                 ExpressionAttributeValues={":past": int(time.time()) - 1})
    assert "notify" not in json.loads(client.http.get(f"/orders/{order_id}").body)
    process(client, order_id)
    [(message, _)] = notifications(inbox)
    assert message["orderId"] == order_id and "contact" not in message


def test_the_notification_carries_the_contact_in_its_body_only_and_no_log_line_does(client, inbox, log_text):
    order_id = place(client, "cust-1")
    client.http.get(f"/orders/{order_id}")
    process(client, order_id)
    [(message, attributes)] = notifications(inbox)
    assert message["contact"] == CONTACT
    assert set(attributes) == {"status", "notificationId", "correlation_id"}
    assert CONTACT not in json.dumps(attributes)
    logged = log_text()
    assert order_id in logged  # the lines of this flow were captured...
    assert CONTACT not in logged  # ...and none holds the contact


# --- erasure --------------------------------------------------------------------------------------------

def test_erasure_removes_the_customers_contacts_only_and_answers_what_it_kept(client, inbox, log_text):
    ana = [place(client, "cust-ana"), place(client, "cust-ana"), place(client, "cust-ana", notify=None)]
    notified = place(client, "cust-ana")
    process(client, notified)  # its contact went with its notification: nothing to erase
    notifications(inbox)
    ana.append(place_before_the_move(client, "cust-ana"))  # its contact in the old table
    bruno = place(client, "cust-bruno", notify="bruno@example.com")
    old_bruno = place_before_the_move(client, "cust-bruno", contact="bruno@example.com")
    response = erase(client, "cust-ana")
    assert response.status_code == 200, response.body
    answer = json.loads(response.body)
    assert answer["customerId"] == "cust-ana"
    assert [(r["store"], r["count"]) for r in answer["removed"]] == [("OrdersTable", 2), ("OrderContactsTable", 1)]
    retained = {r["store"]: r for r in answer["retained"]}
    assert retained["OrdersTable"]["count"] == 5
    assert stored(bruno)["notify"] == "bruno@example.com"
    assert all("notify" not in stored(o) for o in ana)
    assert "5" in retained["InvoicesTable"]["reason"] and "fiscal" in retained["InvoicesTable"]["reason"]
    assert {"Cognito user pool", "IdempotencyKeysTable"} <= set(retained)
    assert all(r["reason"] for r in answer["retained"])

    assert [(i["customerId"], i["orderId"]) for i in contact_items()] == [("cust-bruno", old_bruno)]
    assert all("notify" not in json.loads(client.http.get(f"/orders/{o}").body) for o in ana)
    process(client, ana[0])  # completed after the erasure: notified, without a contact
    [(message, _)] = notifications(inbox)
    assert message["orderId"] == ana[0] and "contact" not in message
    assert "cust-ana" not in log_text() and CONTACT not in log_text()  # the audit line names a digest

    again = json.loads(erase(client, "cust-ana").body)
    assert [r["count"] for r in again["removed"]] == [0, 0] and {r["store"]: r.get("count") for r in again[
        "retained"]}["OrdersTable"] == 5


def test_erasure_is_for_operators_only(client, tokens):
    order_id = place(client, tokens.subs["ana"])
    for caller in ("customer", "other_customer", "no_group"):
        response = erase(client, tokens.subs["ana"], headers=tokens.header(caller))
        assert response.status_code == 403, caller
    assert erase(client, tokens.subs["ana"], headers={"Authorization": "Bearer x.y.z"}).status_code == 401
    assert stored(order_id)["notify"] == CONTACT
    assert erase(client, tokens.subs["ana"]).status_code == 200
    assert "notify" not in stored(order_id)


@pytest.mark.parametrize("customer_id", ["%20%20", "c" * 129, "a%01b"])
def test_erasure_refuses_a_bad_customer_id_by_name(client, customer_id):
    response = erase(client, customer_id)
    assert response.status_code == 400, response.body
    assert [e["field"] for e in json.loads(response.body)["errors"]] == ["customerId"]


def test_erasure_retries_what_dynamodb_leaves_unprocessed_and_fails_as_a_503_if_it_stays(client, monkeypatch):
    from chalicelib import aws
    for _ in range(3):
        place_before_the_move(client, "cust-1")
    monkeypatch.setattr(service.order_contacts(), "sleep", lambda seconds: None)
    dynamodb = aws.client("dynamodb")
    real_batch, unprocessed = dynamodb.batch_write_item, {"answers": 1}

    def leave_one(**kwargs):
        """DynamoDB under throttling: the first request of a batch comes back unprocessed."""
        [(table, requests)] = kwargs["RequestItems"].items()
        if unprocessed["answers"] > 0:
            unprocessed["answers"] -= 1
            if requests[1:]:
                real_batch(RequestItems={table: requests[1:]})
            return {"UnprocessedItems": {table: requests[:1]}}
        return real_batch(**kwargs)
    monkeypatch.setattr(dynamodb, "batch_write_item", leave_one)
    assert json.loads(erase(client, "cust-1").body)["removed"][1]["count"] == 3
    assert contact_items() == []

    place_before_the_move(client, "cust-2")
    unprocessed["answers"] = 100  # throttled for good: the request fails rather than claim what it did not do
    response = erase(client, "cust-2")
    assert response.status_code == 503 and json.loads(response.body)["Code"] == "ServiceUnavailable"
    assert len(contact_items()) == 1
    unprocessed["answers"] = 0
    assert erase(client, "cust-2").status_code == 200 and contact_items() == []
