"""OrderContactsTable: where orders placed before issue 22 item 4a kept their contact; read and erased until empty.

Orders keep their contact (`notify`) on the order item now, removed by the
write that records the notification (chalicelib/orders/repository.py,
docs/orders.md). Before, each contact was an item here, keyed by
(customerId, orderId), with `expiresAt` (DynamoDB's TTL) set
ORDER_CONTACT_RETENTION_DAYS after the order was placed; the order carried
`hasContact`. Nothing on the order's path writes here any more; what is left:

- the worker (and GET /orders/{id}) read an order's contact here when the
  order has `hasContact` and is not yet notified (service.contact_of), so an
  order in flight across the deploy is still notified with its contact;
- the customer's erasure (chalicelib/privacy.py) still deletes theirs;
- TTL empties the table ORDER_CONTACT_RETENTION_DAYS after the deploy. Then
  this module, the table, its grants and the setting can go (docs/orders.md,
  "The contact").

`keep` stays for the tests that set up such an order.
"""
import time
from typing import Any, Callable

from chalicelib import aws
from chalicelib.adapters.dynamo import BATCH_WRITE_LIMIT, backoff
from chalicelib.errors import Unavailable

DAY_SECONDS = 24 * 3600


class OrderContacts:
    def __init__(self, table_name: str, retention_days: int, now: Callable[[], float] = time.time,
                 sleep: Callable[[float], None] = time.sleep):
        if retention_days < 1:  # 0 would drop a contact before its notification could use it
            raise ValueError(f"ORDER_CONTACT_RETENTION_DAYS must be at least 1, not {retention_days}")
        self.table_name = table_name
        self.retention_days = retention_days
        self.now = now
        self.sleep = sleep

    def keep(self, customer_id: str, order_id: str, contact: str) -> None:
        """Store an order's contact until it expires. A retried POST puts the same contact again: harmless."""
        expires_at = int(self.now()) + self.retention_days * DAY_SECONDS
        aws.client("dynamodb").put_item(TableName=self.table_name, Item={
            "customerId": {"S": customer_id}, "orderId": {"S": order_id}, "contact": {"S": contact},
            "expiresAt": {"N": str(expires_at)}})

    def get(self, customer_id: str, order_id: str) -> str | None:
        """The order's contact; None when it never had one, it expired or it was erased."""
        item = aws.client("dynamodb").get_item(
            TableName=self.table_name, Key=self._key(customer_id, order_id), ConsistentRead=True).get("Item")
        if not item or int(item["expiresAt"]["N"]) <= self.now():
            return None
        return item["contact"]["S"]

    def erase_customer(self, customer_id: str) -> int:
        """Delete every contact of the customer's orders; how many there were (expired ones not yet deleted too).

        Each page of keys is deleted before the next is read, so a customer with many orders never holds more
        than a page in memory. What BatchWriteItem leaves unprocessed is retried; if some still are, the
        request fails as a 503 (the client retries: a second erasure finds only what is left).
        """
        client = aws.client("dynamodb")
        params: dict[str, Any] = {
            "TableName": self.table_name, "KeyConditionExpression": "customerId = :customer",
            "ExpressionAttributeValues": {":customer": {"S": customer_id}},
            "ProjectionExpression": "customerId, orderId", "ConsistentRead": True}
        erased = 0
        while True:
            page = client.query(**params)
            keys = [{"customerId": item["customerId"], "orderId": item["orderId"]} for item in page.get("Items", [])]
            for start in range(0, len(keys), BATCH_WRITE_LIMIT):
                self._delete(keys[start:start + BATCH_WRITE_LIMIT])
            erased += len(keys)
            if not page.get("LastEvaluatedKey"):
                return erased
            params["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def _delete(self, keys: list[dict[str, Any]], max_attempts: int = 8) -> None:
        client = aws.client("dynamodb")
        requests = [{"DeleteRequest": {"Key": key}} for key in keys]
        for attempt in range(max_attempts):
            response = client.batch_write_item(RequestItems={self.table_name: requests})
            requests = response.get("UnprocessedItems", {}).get(self.table_name, [])
            if not requests:
                return
            self.sleep(backoff(attempt))
        raise Unavailable("Some contacts could not be erased yet; erase again (what is erased stays erased).")

    @staticmethod
    def _key(customer_id: str, order_id: str) -> dict[str, Any]:
        return {"customerId": {"S": customer_id}, "orderId": {"S": order_id}}
