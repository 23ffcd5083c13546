"""Plain dicts to and from DynamoDB's typed items, and BatchWriteItem that finishes its work."""
import random
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
              sleep: Callable[[float], None] = time.sleep) -> list[dict[str, Any]]:
    """Put typed items 25 at a time, retrying UnprocessedItems; return those still unwritten."""
    left: list[dict[str, Any]] = []
    client = aws.client("dynamodb")
    for start in range(0, len(items), BATCH_WRITE_LIMIT):
        requests = [{"PutRequest": {"Item": item}} for item in items[start:start + BATCH_WRITE_LIMIT]]
        for attempt in range(max_attempts):
            response = client.batch_write_item(RequestItems={table: requests})
            requests = response.get("UnprocessedItems", {}).get(table, [])
            if not requests:
                break
            sleep(backoff(attempt))
        left += [request["PutRequest"]["Item"] for request in requests]
    return left
