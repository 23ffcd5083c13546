"""ProductTable in DynamoDB."""
import time
from decimal import Decimal
from typing import Any, Callable, Iterable

from chalicelib import aws
from chalicelib.adapters.dynamo import backoff, from_item, read_page, to_item
from chalicelib.pagination import decode_cursor


BATCH_GET_LIMIT = 100


class ProductRepository:
    def __init__(self, table_name: str):
        self.table_name = table_name

    def add_if_absent(self, product: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        """Store a product unless one with its id exists; return what is stored and whether it was new.

        The conditional write is what makes a redelivered message harmless: it can
        neither duplicate the product nor overwrite a newer version of it.
        """
        dynamodb = aws.client("dynamodb")
        try:
            dynamodb.put_item(
                TableName=self.table_name,
                Item=to_item(product),
                ConditionExpression="attribute_not_exists(id)",
            )
            return product, True
        except dynamodb.exceptions.ConditionalCheckFailedException:
            existing = self.get(product["id"])
            if existing is None:  # deleted in between; nothing newer to protect
                raise
            return existing, False

    def get(self, product_id: str) -> dict[str, Any] | None:
        response = aws.client("dynamodb").get_item(
            TableName=self.table_name, Key={"id": {"S": product_id}}, ConsistentRead=True
        )
        item = response.get("Item")
        return from_item(item) if item else None

    def page(self, limit: int, cursor: str | None) -> tuple[list[dict[str, Any]], str | None]:
        params: dict[str, Any] = {"TableName": self.table_name, "Limit": limit}
        if cursor:
            params["ExclusiveStartKey"] = decode_cursor(cursor, {"id"}, strings_only=True)
        return read_page("scan", params, from_cursor=bool(cursor))

    def prices(self, product_ids: Iterable[str], max_attempts: int = 8,
               sleep: Callable[[float], None] = time.sleep) -> dict[str, Decimal]:
        """Price of each product that exists; an unknown id is simply absent from the answer.

        BatchGetItem takes ≤ 100 distinct keys a call and may leave some
        unprocessed under load; those are retried with backoff, never dropped.
        """
        ids = sorted(set(product_ids))  # BatchGetItem refuses a request with a key twice
        dynamodb = aws.client("dynamodb")
        found: dict[str, Decimal] = {}
        for start in range(0, len(ids), BATCH_GET_LIMIT):
            request: dict[str, Any] | None = {
                "Keys": [{"id": {"S": product_id}} for product_id in ids[start:start + BATCH_GET_LIMIT]],
                "ProjectionExpression": "#id, #price",
                "ExpressionAttributeNames": {"#id": "id", "#price": "price"},
            }
            for attempt in range(max_attempts):
                response = dynamodb.batch_get_item(RequestItems={self.table_name: request})
                for item in response.get("Responses", {}).get(self.table_name, []):
                    if "price" in item:
                        found[item["id"]["S"]] = Decimal(item["price"]["N"])
                request = response.get("UnprocessedKeys", {}).get(self.table_name)
                if not request:
                    break
                sleep(backoff(attempt))
            if request:
                raise RuntimeError(f"{len(request['Keys'])} product(s) could not be read from {self.table_name}")
        return found
