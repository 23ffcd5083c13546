"""The benchmark meter's billing rules, on hand-computed examples from the AWS docs.

DynamoDB developer guide: "Item sizes and formats", "Read/write capacity mode",
"Global secondary indexes: provisioned throughput considerations", "Condition
expressions"; SQS pricing ("each 64 KB chunk of a payload is billed as 1 request").
"""
import boto3
import pytest
from moto import mock_aws

from benchmarks.meter import (Image, Index, Meter, TableSchema, attribute_size, failed_write_charges, image_of,
                              item_size, number_size, read_units, sqs_billed_requests, sqs_message_bytes,
                              write_charges, write_units)

KB = 1024


def s(n: int) -> dict:
    return {"S": "x" * n}


# --- item sizes ---------------------------------------------------------------------------------------

def test_the_docs_shirt_example_is_23_bytes():
    # "shirt-color" = "R" and "shirt-size" = "M": 11 + 1 + 10 + 1.
    assert item_size({"shirt-color": {"S": "R"}, "shirt-size": {"S": "M"}}) == 23


def test_strings_count_utf8_bytes_and_names_count_too():
    assert item_size({"ã": {"S": "ção"}}) == 2 + 5
    assert item_size(None) == 0


def test_numbers_one_byte_per_two_significant_digits_plus_one():
    assert number_size("12345") == 4           # 5 digits -> 3 + 1
    assert number_size("1000") == 2            # trailing zeros trimmed: 1 digit
    assert number_size("0.000123") == 3        # leading zeros trimmed: 3 digits -> 2 + 1
    assert number_size("1234567890") == 6
    assert attribute_size({"N": "7"}) == 2


def test_binary_bool_null_and_sets():
    assert attribute_size({"B": b"\x00\x01\x02"}) == 3
    assert attribute_size({"B": "AAEC"}) == 3  # base64 of the same 3 bytes
    assert attribute_size({"BOOL": True}) == 1
    assert attribute_size({"NULL": True}) == 1
    assert attribute_size({"SS": ["ab", "c"]}) == 3
    assert attribute_size({"NS": ["12345", "1"]}) == 4 + 2


def test_lists_and_maps_cost_3_bytes_plus_1_per_element():
    assert attribute_size({"L": []}) == 3
    assert attribute_size({"L": [{"S": "ab"}, {"N": "1"}]}) == 3 + (2 + 1) + (2 + 1)
    assert attribute_size({"M": {"k": {"S": "v"}, "n": {"BOOL": False}}}) == 3 + (1 + 1 + 1) + (1 + 1 + 1)


# --- units ---------------------------------------------------------------------------------------------

def test_writes_round_up_per_kb_with_a_minimum_of_one():
    assert write_units(0) == 1
    assert write_units(500) == 1
    assert write_units(KB) == 1
    assert write_units(KB + 1) == 2
    assert write_units(int(1.5 * KB)) == 2   # the docs: a 1.5 KB item is rounded up to 2 KB
    assert write_units(int(3.5 * KB)) == 4


def test_reads_round_up_per_4kb_and_eventual_consistency_is_half():
    assert read_units(7 * KB, consistent=True) == 2       # the docs: 7 KB -> 8 KB -> 2 units
    assert read_units(7 * KB, consistent=False) == 1
    assert read_units(int(3.5 * KB), consistent=True) == 1
    assert read_units(0, consistent=False) == 0.5         # an item not found still costs the minimum
    # A Query of 10 items of 40 bytes: rounded once over the response, 400 B -> 4 KB.
    assert read_units(10 * 40, consistent=True) == 1


def test_transactions_cost_twice():
    table = TableSchema("T", ("id",))
    item = {"id": {"S": "a"}, "body": s(int(1.5 * KB))}
    assert write_charges(table, None, image_of(table, item), transactional=True) == {"T": 4.0}  # 2 KB x 2
    assert write_charges(table, None, image_of(table, item)) == {"T": 2.0}


def test_batch_get_rounds_each_item_on_its_own():
    # The docs: a 1.5 KB and a 6.5 KB item are read as 4 KB + 8 KB = 3 units, not 8 KB = 2 units.
    meter = Meter()
    meter._schemas["T"] = TableSchema("T", ("id",))
    items = [{"id": {"S": "a"}, "b": s(int(1.5 * KB) - 3)}, {"id": {"S": "b"}, "b": s(int(6.5 * KB) - 3)}]
    total = meter._bill_reads("BatchGetItem", {"RequestItems": {"T": {"Keys": [{"id": {"S": "a"}}, {"id": {"S": "b"}}],
                                                                          "ConsistentRead": True}}},
                              {"Responses": {"T": items}})
    assert total == 3.0


# --- updates, conditions, indexes -----------------------------------------------------------------------

def test_an_update_is_billed_at_the_larger_image():
    table = TableSchema("T", ("id",))
    before = image_of(table, {"id": {"S": "a"}, "body": s(int(2.5 * KB))})
    after = image_of(table, {"id": {"S": "a"}, "body": s(int(0.8 * KB))})
    assert write_charges(table, before, after) == {"T": 3.0}
    assert write_charges(table, after, before) == {"T": 3.0}


def test_a_delete_costs_the_deleted_item_and_a_failed_condition_the_existing_one():
    table = TableSchema("T", ("id",))
    existing = Image(int(1.2 * KB))
    assert write_charges(table, existing, None) == {"T": 2.0}
    assert failed_write_charges(table, existing) == {"T": 2.0}
    assert failed_write_charges(table, None) == {"T": 1.0}


KEYS_ONLY = TableSchema("Orders", ("orderId",), (Index("customer-index", ("customerId", "createdAt"), "KEYS_ONLY"),))


def order(customer: str | None, body: int = 1500, status: str = "NEW") -> dict:
    item = {"orderId": {"S": "o-1"}, "createdAt": {"S": "2026-11-01"}, "status": {"S": status}, "body": s(body)}
    if customer:
        item["customerId"] = {"S": customer}
    return item


def test_a_new_item_in_a_keys_only_gsi_costs_one_more_write_at_its_projected_size():
    # 1.5 KB in the table -> 2; the index entry is orderId + customerId + createdAt, well under 1 KB -> 1.
    assert write_charges(KEYS_ONLY, None, image_of(KEYS_ONLY, order("c-1"))) == {"Orders": 2.0,
                                                                                 "Orders/customer-index": 1.0}


def test_a_sparse_index_costs_nothing_for_items_without_its_keys():
    assert write_charges(KEYS_ONLY, None, image_of(KEYS_ONLY, order(None))) == {"Orders": 2.0}


def test_changing_an_index_key_costs_a_delete_and_a_put_in_the_index():
    charges = write_charges(KEYS_ONLY, image_of(KEYS_ONLY, order("c-1")), image_of(KEYS_ONLY, order("c-2")))
    assert charges == {"Orders": 2.0, "Orders/customer-index": 2.0}


def test_removing_an_index_key_costs_the_delete_from_the_index():
    charges = write_charges(KEYS_ONLY, image_of(KEYS_ONLY, order("c-1")), image_of(KEYS_ONLY, order(None)))
    assert charges == {"Orders": 2.0, "Orders/customer-index": 1.0}


def test_an_update_outside_the_projection_costs_the_index_nothing():
    charges = write_charges(KEYS_ONLY, image_of(KEYS_ONLY, order("c-1")), image_of(KEYS_ONLY, order("c-1", 1600)))
    assert charges == {"Orders": 2.0}


def test_projected_sizes_all_include_and_keys_only():
    item = order("c-1", body=3000)
    table_keys = ("orderId",)
    keys_only = Index("i", ("customerId", "createdAt"), "KEYS_ONLY")
    include = Index("i", ("customerId", "createdAt"), "INCLUDE", ("status",))
    everything = Index("i", ("customerId", "createdAt"), "ALL")
    keys_bytes = (7 + 3) + (10 + 3) + (9 + 10)
    assert item_size(keys_only.project(item, table_keys)) == keys_bytes
    assert item_size(include.project(item, table_keys)) == keys_bytes + 6 + 3
    assert item_size(everything.project(item, table_keys)) == item_size(item)
    # ALL: a 3 KB item is written at 3 KB in the index too.
    schema = TableSchema("Orders", table_keys, (everything,))
    assert write_charges(schema, None, image_of(schema, item)) == {"Orders": 3.0, "Orders/i": 3.0}


def test_schema_from_describe_table():
    schema = TableSchema.from_description({
        "TableName": "T", "KeySchema": [{"AttributeName": "sk", "KeyType": "RANGE"},
                                        {"AttributeName": "pk", "KeyType": "HASH"}],
        "GlobalSecondaryIndexes": [{"IndexName": "g", "KeySchema": [{"AttributeName": "a", "KeyType": "HASH"}],
                                    "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["x"]}}]})
    assert schema.keys == ("pk", "sk")
    assert schema.indexes == (Index("g", ("a",), "INCLUDE", ("x",)),)


# --- SQS -------------------------------------------------------------------------------------------------

def test_sqs_bills_each_64_kb_of_payload_as_a_request():
    assert sqs_billed_requests(0) == 1
    assert sqs_billed_requests(64 * KB) == 1
    assert sqs_billed_requests(64 * KB + 1) == 2
    assert sqs_billed_requests(256 * KB) == 4  # the docs: a 256 KB payload is billed as 4 requests


def test_sqs_payload_counts_message_attributes():
    attributes = {"kind": {"DataType": "String", "StringValue": "log"}}
    assert sqs_message_bytes("hello", attributes) == 5 + 4 + 6 + 3


# --- the hooks, on an in-process moto -------------------------------------------------------------------

@pytest.fixture
def dynamodb():
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        client.create_table(
            TableName="Lines", BillingMode="PAY_PER_REQUEST",
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": a, "AttributeType": "S"} for a in ("id", "batch")],
            GlobalSecondaryIndexes=[{"IndexName": "batch-index", "KeySchema": [{"AttributeName": "batch", "KeyType": "HASH"}],
                                     "Projection": {"ProjectionType": "ALL"}}])
        yield client


def test_the_hooks_bill_what_is_sent_per_table_and_index(dynamodb):
    meter = Meter(side_session=boto3.session.Session(region_name="us-east-1"))
    meter.instrument(dynamodb)
    items = [{"PutRequest": {"Item": {"id": {"S": f"l{i}"}, "batch": {"S": "b"}, "raw": s(1500)}}} for i in range(3)]
    dynamodb.batch_write_item(RequestItems={"Lines": items})
    assert meter.totals()["write_units"] == {"Lines": 6.0, "Lines/batch-index": 6.0}  # 3 items x 2 KB, twice
    # An update that shrinks the item: the larger (before) image, in the table and the index.
    dynamodb.update_item(TableName="Lines", Key={"id": {"S": "l0"}}, UpdateExpression="SET #r = :r",
                         ExpressionAttributeNames={"#r": "raw"}, ExpressionAttributeValues={":r": {"S": "short"}})
    assert meter.wru["Lines"]["UpdateItem"] == 2.0 and meter.wru["Lines/batch-index"]["UpdateItem"] == 2.0
    # A refused conditional put costs the existing (now small) item: 1.
    with pytest.raises(dynamodb.exceptions.ConditionalCheckFailedException):
        dynamodb.put_item(TableName="Lines", Item={"id": {"S": "l0"}}, ConditionExpression="attribute_not_exists(id)")
    assert meter.wru["Lines"]["PutItem"] == 1.0
    # Eventually consistent GetItem of a 2 KB item: 0.5; the response the app gets has no ConsumedCapacity.
    response = dynamodb.get_item(TableName="Lines", Key={"id": {"S": "l1"}})
    assert "ConsumedCapacity" not in response
    assert meter.rru["Lines"]["GetItem"] == 0.5
    assert meter.calls["DynamoDB:BatchWriteItem"] == 1 and not meter.meter_errors
