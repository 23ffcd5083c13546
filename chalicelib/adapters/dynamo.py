"""Plain dicts to and from DynamoDB's typed items, and BatchWriteItem that finishes its work."""
import random
from concurrent.futures import ThreadPoolExecutor
import time
from typing import Any, Callable

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

from chalicelib import aws

_serialize = TypeSerializer().serialize
_deserialize = TypeDeserializer().deserialize
BATCH_WRITE_LIMIT = 25


def to_item(record: dict[str, Any]) -> dict[str, Any]:
    return {key: _serialize(value) for key, value in record.items() if value is not None}


def from_item(item: dict[str, Any]) -> dict[str, Any]:
    return {key: _deserialize(value) for key, value in item.items()}


def backoff(attempt: int, base: float = 0.05, cap: float = 2.0) -> float:
    """Full-jitter exponential backoff (the AWS Architecture Blog's recommendation)."""
    return random.uniform(0, min(cap, base * 2 ** attempt))


def batch_put(table: str, items: list[dict[str, Any]], max_attempts: int = 8,
              sleep: Callable[[float], None] = time.sleep, max_in_flight: int = 4) -> list[dict[str, Any]]:
    """Put typed items 25 at a time, up to `max_in_flight` calls at once, retrying UnprocessedItems;
    return those still unwritten. (A worker's 100 lines are four calls side by side, not one after another.)"""
    client = aws.client("dynamodb")

    def put(chunk: list[dict[str, Any]]) -> list[dict[str, Any]]:
        requests = [{"PutRequest": {"Item": item}} for item in chunk]
        for attempt in range(max_attempts):
            response = client.batch_write_item(RequestItems={table: requests})
            requests = response.get("UnprocessedItems", {}).get(table, [])
            if not requests:
                break
            sleep(backoff(attempt))
        return [request["PutRequest"]["Item"] for request in requests]

    chunks = [items[start:start + BATCH_WRITE_LIMIT] for start in range(0, len(items), BATCH_WRITE_LIMIT)]
    if len(chunks) <= 1:
        return [item for chunk in chunks for item in put(chunk)]
    with ThreadPoolExecutor(min(max_in_flight, len(chunks)), thread_name_prefix="ddb-batch") as pool:
        return [item for left in pool.map(put, chunks) for item in left]


def conditional_put_all(table: str, items: list[dict[str, Any]], condition: str, names: dict[str, str],
                        values: Callable[[dict[str, Any]], dict[str, Any]], max_in_flight: int = 16) -> list[int]:
    """PutItem each typed item under `condition`, up to `max_in_flight` at once; the indexes whose condition failed.

    BatchWriteItem takes no conditions; a conditional PutItem costs the same
    write units, so where a write must be guarded this is the batch. Any other
    error (after botocore's retries) propagates.
    """
    client = aws.client("dynamodb")

    def put(index: int) -> int | None:
        try:
            client.put_item(TableName=table, Item=items[index], ConditionExpression=condition,
                            ExpressionAttributeNames=names, ExpressionAttributeValues=values(items[index]))
            return None
        except client.exceptions.ConditionalCheckFailedException:
            return index

    if len(items) <= 1:
        return [i for i in map(put, range(len(items))) if i is not None]
    with ThreadPoolExecutor(min(max_in_flight, len(items)), thread_name_prefix="ddb-put") as pool:
        return [i for i in pool.map(put, range(len(items))) if i is not None]
