"""The patched moto server keeps DynamoDB's transaction semantics (all or nothing, reasons per item), and
answers only requests for a loopback Host."""
import http.client
import json
import subprocess
import sys

import boto3
import pytest

from tests.e2e.conftest import PROJECT_DIR, free_port, port_is_open, wait_until

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def emulator_port():
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "local_runtime.emulator", "-H", "127.0.0.1", "-p", str(port)],
                               cwd=PROJECT_DIR, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until(lambda: port_is_open(port), timeout=30, what="the emulator")
        yield port
    finally:
        process.terminate()
        process.wait(10)


@pytest.fixture(scope="module")
def dynamodb(emulator_port):
    client = boto3.session.Session(aws_access_key_id="x", aws_secret_access_key="x",
                                   region_name="us-east-1").client("dynamodb",
                                                                   endpoint_url=f"http://127.0.0.1:{emulator_port}")
    client.create_table(TableName="t", BillingMode="PAY_PER_REQUEST",
                        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}])
    return client


def list_tables(port: int, host: str) -> tuple[int, bytes]:
    """DynamoDB ListTables sent to the emulator on 127.0.0.1 with `host` as the Host header (a page whose
    name was rebound to 127.0.0.1 sends its own name there)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.putrequest("POST", "/", skip_host=True)
        for name, value in (("Host", host), ("X-Amz-Target", "DynamoDB_20120810.ListTables"),
                            ("Content-Type", "application/x-amz-json-1.0"), ("Content-Length", "2"),
                            ("Authorization", ("AWS4-HMAC-SHA256 Credential=x/20260101/us-east-1/dynamodb/"
                                               "aws4_request, SignedHeaders=host, Signature=x"))):
            connection.putheader(name, value)
        connection.endheaders(b"{}")
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def test_only_a_loopback_host_is_answered(emulator_port, dynamodb):
    for host in ("127.0.0.1", f"127.0.0.1:{emulator_port}", f"localhost:{emulator_port}", f"[::1]:{emulator_port}",
                 f"bucket.localhost:{emulator_port}"):
        status, body = list_tables(emulator_port, host)
        assert status == 200 and "t" in json.loads(body)["TableNames"], (host, status, body)
    for host in (f"evil.example:{emulator_port}", "evil.example", f"127.0.0.1.nip.io:{emulator_port}",
                 f"localhost.evil.example:{emulator_port}", f"0.0.0.0:{emulator_port}", ""):
        status, body = list_tables(emulator_port, host)
        assert status == 403 and b"TableNames" not in body and b"loopback" in body, (host, status, body)


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
