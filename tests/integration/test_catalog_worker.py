import uuid
from decimal import Decimal

import boto3
import pytest

from chalicelib.batch import BatchFailed
from tests.events import sqs_event, sqs_record


def product_message(**overrides):
    message = {"id": str(uuid.uuid4()), "created_at": "2026-11-23T10:00:00.000Z",
               "name": "Caderno", "price": "12.50", "stock": 4}
    return {**message, **overrides}


def stored_items():
    return boto3.client("dynamodb").scan(TableName="ProductTable")["Items"]


def report_keys():
    listing = boto3.client("s3").list_objects_v2(Bucket="async-catalog-reports-dev")
    return [o["Key"] for o in listing.get("Contents", [])]


def invoke(client, *bodies, message_ids=None):
    ids = message_ids or [str(uuid.uuid4()) for _ in bodies]
    event = sqs_event(*(sqs_record(b, "product-queue", i) for b, i in zip(bodies, ids)))
    return client.lambda_.invoke("process_product_queue", event).payload


def test_worker_stores_the_product_and_writes_its_report(client):
    message = product_message()
    assert invoke(client, message) == {"batchItemFailures": []}
    [item] = stored_items()
    assert item["id"] == {"S": message["id"]}
    assert Decimal(item["price"]["N"]) == Decimal("12.50")
    assert item["created_at"] == {"S": "2026-11-23T10:00:00.000Z"}
    body = boto3.client("s3").get_object(Bucket="async-catalog-reports-dev", Key=f"{message['id']}.txt")
    text = body["Body"].read().decode()
    assert f"id:          {message['id']}" in text and "price:       12.50" in text
    assert body["ContentType"].startswith("text/plain")


def test_the_same_message_twice_leaves_one_item_and_one_report(client):
    message = product_message()
    invoke(client, message)
    invoke(client, message)
    assert len(stored_items()) == 1
    assert report_keys() == [f"{message['id']}.txt"]


def test_a_redelivery_never_overwrites_the_stored_product(client):
    message = product_message()
    invoke(client, message)
    invoke(client, {**message, "name": "Changed later"})
    [item] = stored_items()
    assert item["name"] == {"S": "Caderno"}


def test_one_malformed_message_fails_alone(client):
    good1, good2 = product_message(), product_message()
    ids = ["m-good-1", "m-bad", "m-good-2"]
    result = invoke(client, good1, "{this is not json", good2, message_ids=ids)
    assert result == {"batchItemFailures": [{"itemIdentifier": "m-bad"}]}
    assert sorted(i["id"]["S"] for i in stored_items()) == sorted([good1["id"], good2["id"]])


@pytest.mark.parametrize("bad", [product_message(price="-1"), product_message(id="nope"), {"name": "x"}])
def test_messages_that_fail_validation_are_reported_as_failures(client, bad):
    result = invoke(client, product_message(), bad, message_ids=["ok", "bad"])
    assert result == {"batchItemFailures": [{"itemIdentifier": "bad"}]}


def test_a_batch_where_every_record_fails_raises_so_nothing_is_acknowledged(client):
    with pytest.raises(BatchFailed):
        invoke(client, "{", "[]")
