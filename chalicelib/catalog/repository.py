"""ProductTable in DynamoDB."""
from typing import Any

from chalicelib import aws
from chalicelib.adapters.dynamo import from_item, to_item
from chalicelib.pagination import decode_cursor, encode_cursor


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
            params["ExclusiveStartKey"] = decode_cursor(cursor, {"id"})
        response = aws.client("dynamodb").scan(**params)
        items = [from_item(item) for item in response.get("Items", [])]
        return items, encode_cursor(response.get("LastEvaluatedKey"))
