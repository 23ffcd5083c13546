"""The patched moto server keeps DynamoDB's transaction semantics (all or nothing, reasons per item)."""
import subprocess
import sys

import boto3
import pytest

from tests.e2e.conftest import PROJECT_DIR, free_port, port_is_open, wait_until

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def dynamodb():
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "local_runtime.emulator", "-H", "127.0.0.1", "-p", str(port)],
                               cwd=PROJECT_DIR, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until(lambda: port_is_open(port), timeout=30, what="the emulator")
        client = boto3.session.Session(aws_access_key_id="x", aws_secret_access_key="x",
                                       region_name="us-east-1").client("dynamodb",
                                                                       endpoint_url=f"http://127.0.0.1:{port}")
        client.create_table(TableName="t", BillingMode="PAY_PER_REQUEST",
                            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}])
        yield client
    finally:
        process.terminate()
        process.wait(10)


def put_new(pk):
    return {"Put": {"TableName": "t", "Item": {"pk": {"S": pk}}, "ConditionExpression": "attribute_not_exists(pk)"}}


def add(pk, n):
    return {"Update": {"TableName": "t", "Key": {"pk": {"S": pk}}, "UpdateExpression": "ADD #c :n",
                       "ExpressionAttributeNames": {"#c": "count"}, "ExpressionAttributeValues": {":n": {"N": str(n)}}}}


def count(client, pk):
    item = client.get_item(TableName="t", Key={"pk": {"S": pk}}).get("Item")
    return int(item["count"]["N"]) if item and "count" in item else None


def test_a_transaction_applies_every_write(dynamodb):
    dynamodb.transact_write_items(TransactItems=[put_new("m1"), put_new("m2"), add("counter", 2)])
    assert count(dynamodb, "counter") == 2


def test_a_failed_condition_cancels_the_whole_transaction_and_names_the_item(dynamodb):
    with pytest.raises(dynamodb.exceptions.TransactionCanceledException) as raised:
        dynamodb.transact_write_items(TransactItems=[put_new("m3"), put_new("m1"), add("counter", 2)])
    codes = [reason.get("Code") for reason in raised.value.response["CancellationReasons"]]
    assert codes == ["None", "ConditionalCheckFailed", "None"]
    assert count(dynamodb, "counter") == 2
    assert "Item" not in dynamodb.get_item(TableName="t", Key={"pk": {"S": "m3"}})


def test_two_operations_on_one_item_are_refused(dynamodb):
    with pytest.raises(dynamodb.exceptions.ClientError):
        dynamodb.transact_write_items(TransactItems=[add("counter", 1), add("counter", 1)])
    assert count(dynamodb, "counter") == 2
