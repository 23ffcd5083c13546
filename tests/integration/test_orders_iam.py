"""The generated policies of api_handler, process_orders and sweep_orders allow every call the orders flow makes.

Last of the replay tests (by file name), this module also checks the other way round: every action a
policy grants was made by some call in the replays, or is kept in infra/resources.py KEPT with its reason.
"""
import inspect
import json
from fnmatch import fnmatchcase
from decimal import Decimal

import boto3
import pytest

from chalicelib.adapters.queues import MessageQueue
from chalicelib.orders import service
from infra import iam
from infra.stage import CHALICE_DIR
from tests.events import sqs_event, sqs_record
from tests import iam_check
from tests.iam_check import CallRecorder, allowed, replay

ARN = "arn:aws:{}:us-east-1:123456789012:{}"


def policy(stage, function):
    return json.loads((CHALICE_DIR / iam.policy_filename(stage, function)).read_text())


@pytest.fixture
def recorder(app, stage, aws_resources):
    recorder = CallRecorder().attach().attribute(app)
    yield recorder
    recorder.restore()  # undo the tagging wrappers


def operations(recorder, function):
    return {operation for _, operation, _ in recorder.by_function.get(function, [])}


@replay
def test_every_orders_call_is_allowed_by_its_functions_policy(client, stage, recorder, monkeypatch):
    boto3.resource("dynamodb").Table("ProductTable").put_item(Item={"id": "p-1", "name": "x", "price": Decimal("2")})
    headers = {"Content-Type": "application/json"}
    body = json.dumps({"customerId": "c", "items": [{"productId": "p-1", "quantity": 1}]})
    with_contact = json.dumps({"customerId": "c", "items": [{"productId": "p-1", "quantity": 1}],
                               "notify": "c@example.com"})
    order_id = json.loads(client.http.post("/orders", headers=headers, body=with_contact).body)["orderId"]
    client.http.post("/orders", headers={**headers, "Idempotency-Key": "k"}, body=body)
    client.http.post("/orders", headers={**headers, "Idempotency-Key": "k"}, body=body)  # the duplicate path
    client.http.get(f"/orders/{order_id}")
    client.http.get("/orders?customerId=c&limit=1")
    client.http.get("/orders?limit=1")  # an operator's listing of every customer's orders: a Scan

    for _ in range(2):  # the second delivery finds it COMPLETED and notified
        client.lambda_.invoke("process_orders", sqs_event(sqs_record({"orderId": order_id}, "orders-queue")))
    # An order placed before contacts moved into the order: its contact read from OrderContactsTable.
    with recorder.paused():  # set up as the previous release left it
        placed_before = service.orders().accept({"customerId": "c", "items": [{"productId": "p-1", "quantity": 1}]})
        boto3.resource("dynamodb").Table("OrdersTable").update_item(
            Key={"orderId": placed_before["orderId"]}, UpdateExpression="SET hasContact = :t",
            ExpressionAttributeValues={":t": True})
        service.order_contacts().keep("c", placed_before["orderId"], "c@example.com")
    client.http.get(f"/orders/{placed_before['orderId']}")
    client.lambda_.invoke("process_orders",
                          sqs_event(sqs_record({"orderId": placed_before["orderId"]}, "orders-queue")))

    # The sweep: one stranded order to re-queue and one stuck in PROCESSING to fail.
    with monkeypatch.context() as patched:
        patched.setattr(MessageQueue, "send_json", lambda self, payload: (_ for _ in ()).throw(ConnectionError()))
        # With a contact: never notified here, so the erasure removes it from the order (UpdateItem).
        stranded = service.orders().accept({"customerId": "c", "items": [{"productId": "p-1", "quantity": 1}],
                                            "notify": "c@example.com"})
        stuck = service.orders().accept({"customerId": "c", "items": [{"productId": "p-1", "quantity": 1}]})
    with recorder.paused():  # the worker's transition, made here by the test
        service.order_worker().orders.transition(stuck["orderId"], "RECEIVED", "PROCESSING",
                                                 "2026-01-01T00:00:00.000Z")
    monkeypatch.setenv("ORDERS_REQUEUE_AFTER_SECONDS", "0")
    monkeypatch.setenv("ORDERS_STUCK_AFTER_SECONDS", "0")
    event = client.events.generate_cw_event("aws.events", "Scheduled Event", {}, [], region="us-east-1")
    # Re-queued: the stranded order and the one posted under "k", never delivered here.
    assert client.lambda_.invoke("sweep_orders", event).payload == {"requeued": 2, "failed": 1}
    # The customer's personal data erased (its order's contact), by an operator.
    assert client.http.delete("/customers/c/personal-data").status_code == 200

    assert operations(recorder, "api_handler") >= {"PutItem", "GetItem", "Query", "GetQueueUrl", "SendMessage",
                                                   "BatchWriteItem", "UpdateItem", "BatchGetItem"}
    assert operations(recorder, "process_orders") >= {"GetItem", "UpdateItem", "BatchGetItem", "Publish"}
    assert operations(recorder, "sweep_orders") >= {"Query", "GetItem", "UpdateItem", "SendMessage"}
    assert recorder.denied_by_function(lambda function: policy(stage, function)) == []


def test_orders_policies_deny_what_a_function_does_not_need(stage):
    table, index = ARN.format("dynamodb", "table/OrdersTable"), ARN.format("dynamodb", "table/OrdersTable/index/x")
    worker, sweeper, api = (policy(stage, f) for f in ("process_orders", "sweep_orders", "api_handler"))
    topic = ARN.format("sns", "order-notifications")
    assert allowed(worker, "sns:Publish", topic)
    assert not allowed(worker, "sns:Publish", ARN.format("sns", "other-topic"))
    assert not allowed(worker, "sns:CreateTopic", topic)  # the ARN is built, not looked up
    assert not allowed(worker, "sqs:SendMessage", ARN.format("sqs", "orders-queue"))
    assert not allowed(worker, "dynamodb:PutItem", ARN.format("dynamodb", "table/ProductTable"))
    assert allowed(worker, "dynamodb:BatchGetItem", ARN.format("dynamodb", "table/ProductTable"))
    assert not allowed(sweeper, "sns:Publish", topic)  # the sweep never notifies
    assert allowed(sweeper, "dynamodb:Query", index) and allowed(sweeper, "sqs:SendMessage",
                                                                 ARN.format("sqs", "orders-queue"))
    assert not allowed(api, "sns:Publish", topic)
    assert allowed(api, "dynamodb:PutItem", table)
    contacts = ARN.format("dynamodb", "table/OrderContactsTable")
    assert allowed(worker, "dynamodb:GetItem", contacts) and not allowed(worker, "dynamodb:PutItem", contacts)
    assert not allowed(sweeper, "dynamodb:GetItem", contacts)  # the sweep never sees a contact
    assert allowed(api, "dynamodb:BatchWriteItem", contacts)  # the erasure (orders placed before the move)
    assert not allowed(api, "dynamodb:PutItem", contacts)  # contacts are on the order item now
    assert allowed(api, "dynamodb:UpdateItem", table)  # the erasure removes the contact from the order
    assert not allowed(api, "dynamodb:DeleteItem", contacts) and not allowed(api, "dynamodb:Scan", contacts)


def test_every_granted_action_is_exercised_by_a_replay_or_kept_for_a_reason(request, stage, app):
    from infra.resources import KEPT, RESOURCES
    from tests.integration import test_iam_policies  # noqa: F401  (registers its replays)
    for name, test in iam_check.REPLAYS.items():  # replays deselected or not yet run: run them here
        if name in iam_check.REPLAYED:
            continue
        test(**{arg: request.getfixturevalue(arg) for arg in inspect.signature(test).parameters})

    arns = {lid: iam.resource_arns(r, stage.resource_name(lid)) for lid, r in RESOURCES.items()}
    exercised = {(function, lid, action.split(":", 1)[1])
                 for function, action, arn in iam_check.EXERCISED
                 for lid, patterns in arns.items() if any(fnmatchcase(arn, p) for p in patterns)}
    granted = {(function, lid, action) for function, access in iam.function_grants(stage, app).items()
               for lid, actions in access.items() for action in actions}

    def kept(grant):
        return any(all(k in ("*", g) for k, g in zip(key, grant)) for key in KEPT)

    unexplained = sorted(g for g in granted - exercised if not kept(g))
    assert unexplained == [], "\n".join(map(str, unexplained))
    # A reason that matches no grant is stale: the grant it explained is gone.
    assert [key for key in KEPT if not any(all(k in ("*", g) for k, g in zip(key, grant))
                                           for grant in granted)] == []
