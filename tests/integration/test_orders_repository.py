"""OrdersTable's conditional transitions and ProductTable's batched price reads, against moto."""
from decimal import Decimal

import boto3
import pytest

from chalicelib import aws
from chalicelib.catalog.repository import ProductRepository
from chalicelib.orders.repository import OrderRepository
from chalicelib.orders.states import IllegalTransition

T0, T1, T2 = "2026-01-01T00:00:00.000Z", "2026-01-01T00:00:01.000Z", "2026-01-01T00:00:02.000Z"


@pytest.fixture
def orders(aws_resources):
    return OrderRepository("OrdersTable")


def received(orders, order_id="o-1"):
    orders.add_if_absent({"orderId": order_id, "customerId": "c", "status": "RECEIVED", "createdAt": T0,
                          "updatedAt": T0, "items": [{"productId": "p", "quantity": 1}],
                          "history": [{"status": "RECEIVED", "at": T0}], "pendingShard": "P1", "pendingSince": T0})
    return order_id


def raw(order_id):
    return boto3.resource("dynamodb").Table("OrdersTable").get_item(Key={"orderId": order_id},
                                                                   ConsistentRead=True)["Item"]


def test_add_if_absent_keeps_the_first_order(orders):
    received(orders)
    stored, created = orders.add_if_absent({"orderId": "o-1", "customerId": "other", "status": "RECEIVED"})
    assert not created and stored["customerId"] == "c"


def test_a_transition_appends_history_and_leaves_the_pending_index_key_as_placed(orders):
    received(orders)
    after = orders.transition("o-1", "RECEIVED", "PROCESSING", T1)
    assert after == raw("o-1")
    assert after["status"] == "PROCESSING" and after["updatedAt"] == T1
    assert after["history"] == [{"status": "RECEIVED", "at": T0}, {"status": "PROCESSING", "at": T1}]
    done = orders.transition("o-1", "PROCESSING", "COMPLETED", T2, changes={"total": Decimal("1.50")})
    # pendingSince is an index key: moving it would be a delete and a put on pending-index-v2.
    assert done["total"] == Decimal("1.50") and done["pendingSince"] == T0 and done["pendingShard"] == "P1"
    assert done["updatedAt"] == T2  # what the sweep measures an order's wait in its status by


def test_one_write_takes_a_received_order_through_processing_to_completed_with_the_notification_claim(orders):
    received(orders)
    done = orders.transition("o-1", "RECEIVED", "COMPLETED", T2, changes={"total": Decimal("2.00")},
                             passing=("PROCESSING", T1), claim=("me", 1_800_000_030))
    assert done == raw("o-1")
    assert done["history"] == [{"status": "RECEIVED", "at": T0}, {"status": "PROCESSING", "at": T1},
                               {"status": "COMPLETED", "at": T2}]
    assert (done["status"], done["total"], done["pendingSince"]) == ("COMPLETED", Decimal("2.00"), T0)
    assert (done["notifyingClaim"], done["notifyingUntil"]) == ("me", 1_800_000_030)
    # The claim is this delivery's: claimed again with its name (a lost answer retried), it is still its own...
    assert orders.claim_notification("o-1", 1_800_000_000, 30, claim="me")
    # ...and no other delivery's while it holds.
    assert not orders.claim_notification("o-1", 1_800_000_000, 30, claim="another")
    assert orders.transition("o-1", "RECEIVED", "COMPLETED", T2, passing=("PROCESSING", T1)) is None


def test_passing_through_a_status_is_checked_step_by_step_and_the_claim_goes_with_completed_only(orders):
    received(orders)
    with pytest.raises(IllegalTransition):  # RECEIVED → COMPLETED is legal only through PROCESSING
        orders.transition("o-1", "RECEIVED", "COMPLETED", T1)
    with pytest.raises(IllegalTransition):
        orders.transition("o-1", "RECEIVED", "COMPLETED", T1, passing=("FAILED", T1))
    with pytest.raises(ValueError):
        orders.transition("o-1", "RECEIVED", "FAILED", T1, claim=("me", 1))
    failed = orders.transition("o-1", "RECEIVED", "FAILED", T1, reason="unknown", passing=("PROCESSING", T1))
    assert [h["status"] for h in failed["history"]] == ["RECEIVED", "PROCESSING", "FAILED"]
    assert "pendingShard" not in failed and "pendingSince" not in failed


def test_failed_takes_the_order_off_the_work_list_and_keeps_the_reason(orders):
    received(orders)
    failed = orders.transition("o-1", "RECEIVED", "FAILED", T1, reason="because")
    assert failed["failureReason"] == "because"
    assert failed["history"][-1] == {"status": "FAILED", "at": T1, "reason": "because"}
    assert "pendingShard" not in failed and "pendingSince" not in failed


def test_a_stale_starting_state_is_refused_by_the_condition_and_writes_nothing(orders):
    received(orders)
    orders.transition("o-1", "RECEIVED", "PROCESSING", T1)
    orders.transition("o-1", "PROCESSING", "COMPLETED", T2)
    before = raw("o-1")
    # Legal moves, but the order is not where the caller thinks it is.
    assert orders.transition("o-1", "RECEIVED", "PROCESSING", T2) is None
    assert orders.transition("o-1", "PROCESSING", "FAILED", T2, reason="late") is None
    assert raw("o-1") == before


def test_an_illegal_transition_never_reaches_the_table(orders, monkeypatch):
    received(orders)
    orders.transition("o-1", "RECEIVED", "PROCESSING", T1)
    orders.transition("o-1", "PROCESSING", "COMPLETED", T2)
    before = raw("o-1")
    sent = []
    aws.client("dynamodb").meta.events.register("provide-client-params.dynamodb.UpdateItem",
                                                lambda params, **_: sent.append(params))
    for current, new in [("COMPLETED", "PROCESSING"), ("COMPLETED", "FAILED"), ("FAILED", "RECEIVED"),
                         ("RECEIVED", "COMPLETED")]:
        with pytest.raises(IllegalTransition):
            orders.transition("o-1", current, new, T2)
    assert sent == [] and raw("o-1") == before


def test_mark_notified_happens_once_and_only_for_completed_orders(orders):
    received(orders)
    assert not orders.mark_notified("o-1", T1)  # RECEIVED: nothing to record
    orders.transition("o-1", "RECEIVED", "PROCESSING", T1)
    orders.transition("o-1", "PROCESSING", "COMPLETED", T1)
    assert orders.mark_notified("o-1", T2)
    assert not orders.mark_notified("o-1", "2026-01-01T00:00:03.000Z")
    item = raw("o-1")
    assert item["notifiedAt"] == T2 and "pendingShard" not in item and "pendingSince" not in item


def test_waiting_since_pages_through_one_shard_up_to_the_cutoff(orders):
    for n in range(7):
        orders.add_if_absent({"orderId": f"o-{n}", "customerId": "c", "status": "RECEIVED",
                              "pendingShard": "P3" if n < 6 else "P4", "pendingSince": f"2026-01-01T00:00:0{n}.000Z"})
    # Force tiny pages, as a large shard would have.
    aws.client("dynamodb").meta.events.register("provide-client-params.dynamodb.Query",
                                                lambda params, **_: params.update(Limit=2))
    found = list(orders.waiting_since("P3", "2026-01-01T00:00:04.000Z"))
    assert sorted(found) == ["o-0", "o-1", "o-2", "o-3", "o-4"]


def test_prices_reads_only_known_products_in_calls_of_at_most_100_keys(aws_resources):
    table = boto3.resource("dynamodb").Table("ProductTable")
    with table.batch_writer() as batch:
        for n in range(150):
            batch.put_item(Item={"id": f"p-{n}", "name": "x", "price": Decimal(n) / 100})
        batch.put_item(Item={"id": "no-price", "name": "x"})
    calls = []
    aws.client("dynamodb").meta.events.register("provide-client-params.dynamodb.BatchGetItem",
                                                lambda params, **_: calls.append(params))
    wanted = [f"p-{n}" for n in range(150)] + ["p-0", "ghost", "no-price"]
    prices = ProductRepository("ProductTable").prices(wanted)
    assert prices == {f"p-{n}": Decimal(n) / 100 for n in range(150)}
    assert all(isinstance(p, Decimal) for p in prices.values())
    assert [len(c["RequestItems"]["ProductTable"]["Keys"]) for c in calls] == [100, 52]


def test_prices_retries_unprocessed_keys(aws_resources, monkeypatch):
    boto3.resource("dynamodb").Table("ProductTable").put_item(Item={"id": "a", "name": "x", "price": Decimal("2.5")})
    boto3.resource("dynamodb").Table("ProductTable").put_item(Item={"id": "b", "name": "x", "price": Decimal("1")})
    dynamodb = aws.client("dynamodb")
    real, calls = dynamodb.batch_get_item, []

    def throttled(RequestItems):
        calls.append(RequestItems)
        keys = RequestItems["ProductTable"]["Keys"]
        if len(calls) == 1:  # the first answer leaves "b" unprocessed
            answer = real(RequestItems={"ProductTable": {**RequestItems["ProductTable"], "Keys": keys[:1]}})
            answer["UnprocessedKeys"] = {"ProductTable": {**RequestItems["ProductTable"], "Keys": keys[1:]}}
            return answer
        return real(RequestItems=RequestItems)
    monkeypatch.setattr(dynamodb, "batch_get_item", throttled)
    sleeps = []
    assert ProductRepository("ProductTable").prices(["a", "b"], sleep=sleeps.append) == \
        {"a": Decimal("2.5"), "b": Decimal("1")}
    assert len(calls) == 2 and len(sleeps) == 1
    assert calls[1]["ProductTable"]["Keys"] == [{"id": {"S": "b"}}]


def test_prices_gives_up_loudly_rather_than_calling_a_product_unknown(aws_resources, monkeypatch):
    dynamodb = aws.client("dynamodb")
    monkeypatch.setattr(dynamodb, "batch_get_item",
                        lambda RequestItems: {"Responses": {}, "UnprocessedKeys": RequestItems})
    with pytest.raises(RuntimeError, match="could not be read"):
        ProductRepository("ProductTable").prices(["a"], max_attempts=3, sleep=lambda s: None)


def test_a_customers_page_reads_the_keys_index_then_the_listed_attributes_retrying_unprocessed_keys(orders, monkeypatch):
    for n in range(3):
        orders.add_if_absent({"orderId": f"o-{n}", "customerId": "c", "status": "RECEIVED",
                              "createdAt": f"2026-01-01T00:00:0{n}.000Z", "notifyingClaim": "x",
                              "items": [{"productId": "p", "quantity": 1}], "history": []})
    orders.add_if_absent({"orderId": "other", "customerId": "d", "status": "RECEIVED",
                          "createdAt": "2026-01-01T00:00:09.000Z"})
    dynamodb = aws.client("dynamodb")
    real, calls = dynamodb.batch_get_item, []

    def throttled(RequestItems):
        calls.append(RequestItems)
        request = RequestItems["OrdersTable"]
        if len(calls) == 1:  # the first answer leaves the first key unprocessed
            answer = real(RequestItems={"OrdersTable": {**request, "Keys": request["Keys"][1:]}})
            answer["UnprocessedKeys"] = {"OrdersTable": {**request, "Keys": request["Keys"][:1]}}
            return answer
        return real(RequestItems=RequestItems)
    monkeypatch.setattr(dynamodb, "batch_get_item", throttled)
    page, cursor = orders.page_for_customer("c", 2, None, sleep=lambda seconds: None)
    assert [o["orderId"] for o in page] == ["o-2", "o-1"] and cursor  # newest first, as the index orders them
    assert all("notifyingClaim" not in o and "pendingShard" not in o for o in page)  # listed attributes only
    assert len(calls) == 2 and calls[1]["OrdersTable"]["Keys"] == [{"orderId": {"S": "o-2"}}]
    rest, cursor = orders.page_for_customer("c", 2, cursor, sleep=lambda seconds: None)
    assert [o["orderId"] for o in rest] == ["o-0"] and cursor is None


def test_an_order_a_replica_does_not_hold_yet_is_read_again_consistently(orders, monkeypatch):
    received(orders)
    dynamodb = aws.client("dynamodb")
    real, consistent = dynamodb.batch_get_item, []

    def lagging(RequestItems):
        request = RequestItems["OrdersTable"]
        consistent.append(request["ConsistentRead"])
        return real(RequestItems=RequestItems) if request["ConsistentRead"] else {"Responses": {"OrdersTable": []}}
    monkeypatch.setattr(dynamodb, "batch_get_item", lagging)
    page, _ = orders.page_for_customer("c", 5, None)
    assert [o["orderId"] for o in page] == ["o-1"] and consistent == [False, True]


def with_contact(orders, order_id, customer="c", contact="ana@example.com"):
    received(orders, order_id)
    boto3.resource("dynamodb").Table("OrdersTable").update_item(
        Key={"orderId": order_id}, UpdateExpression="SET customerId = :c, notify = :n",
        ExpressionAttributeValues={":c": customer, ":n": contact})
    return order_id


def test_the_contact_stays_until_the_write_that_records_the_notification_and_goes_with_a_failure(orders):
    with_contact(orders, "o-1")
    done = orders.transition("o-1", "RECEIVED", "COMPLETED", T2, passing=("PROCESSING", T1), claim=("me", 1))
    assert done["notify"] == "ana@example.com"  # the worker sends it from this image
    assert orders.mark_notified("o-1", T2)
    assert "notify" not in raw("o-1") and "pendingShard" not in raw("o-1")
    with_contact(orders, "o-2")
    failed = orders.transition("o-2", "RECEIVED", "FAILED", T1, reason="unknown product(s): p")
    assert "notify" not in failed and failed == raw("o-2")


def test_erase_contacts_removes_the_customers_contacts_only_and_counts_what_it_removed(orders, monkeypatch):
    for order_id in ("o-1", "o-2", "o-3"):
        with_contact(orders, order_id)
    received(orders, "o-4")  # no contact
    with_contact(orders, "o-5", customer="other")
    client, real_update = aws.client("dynamodb"), aws.client("dynamodb").update_item

    def notified_meanwhile(**kwargs):
        """o-3 is notified between the read and the erasure's write: its condition refuses, it is not counted."""
        if kwargs["Key"]["orderId"]["S"] == "o-3" and "#notify" in kwargs.get("ExpressionAttributeNames", {}):
            real_update(TableName="OrdersTable", Key=kwargs["Key"], UpdateExpression="REMOVE notify")
        return real_update(**kwargs)
    monkeypatch.setattr(client, "update_item", notified_meanwhile)
    assert orders.erase_contacts("c") == 2
    assert all("notify" not in raw(o) for o in ("o-1", "o-2", "o-3", "o-4"))
    assert raw("o-5")["notify"] == "ana@example.com"
    assert orders.erase_contacts("c") == 0  # idempotent
    assert orders.erase_contacts("nobody") == 0
