"""OrdersTable in DynamoDB: the orders themselves, and the outbox the sweep relays from.

Every change of status is a conditional UpdateItem (`#status = :from`) that
also appends to the order's history, so two deliveries of one message can
never both apply the same step, and the history is exactly the steps taken.
Orders with work left carry `pendingShard`/`pendingSince`, which puts them in
the sparse pending-index; removing both takes them off the sweep's list.
"""
from typing import Any, Iterator


from chalicelib import aws
from chalicelib.adapters.dynamo import Update, from_item, read_page, to_item
from chalicelib.orders.states import COMPLETED, check_transition, history_entry, leaves_work_list
from chalicelib.pagination import bad_cursor, decode_cursor

CUSTOMER_INDEX = "customer-index"
PENDING_INDEX = "pending-index"
CURSOR_KEYS = {"orderId", "customerId", "createdAt"}


class OrderRepository:
    def __init__(self, table_name: str):
        self.table_name = table_name

    def add_if_absent(self, order: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        """Store a new order unless its id exists; return what is stored and whether it was new.

        The id comes from the Idempotency-Key when there is one, so this
        condition is what turns a retried POST into a read of the first order.
        """
        dynamodb = aws.client("dynamodb")
        try:
            dynamodb.put_item(TableName=self.table_name, Item=to_item(order),
                              ConditionExpression="attribute_not_exists(orderId)")
            return order, True
        except dynamodb.exceptions.ConditionalCheckFailedException:
            existing = self.get(order["orderId"])
            if existing is None:  # deleted in between: nothing to return, let the client retry
                raise
            return existing, False

    def get(self, order_id: str) -> dict[str, Any] | None:
        response = aws.client("dynamodb").get_item(
            TableName=self.table_name, Key={"orderId": {"S": order_id}}, ConsistentRead=True)
        item = response.get("Item")
        return from_item(item) if item else None

    def transition(self, order_id: str, current: str, new: str, at: str, reason: str | None = None,
                   changes: dict[str, Any] | None = None) -> dict[str, Any] | None:
        """Move an order from `current` to `new`; the order as stored after, or None if it was not in `current`.

        An illegal move raises IllegalTransition before anything is sent.
        """
        check_transition(current, new)
        update = Update().set("status", new).set("updatedAt", at) \
            .append("history", [history_entry(new, at, reason)])
        if reason:
            update.set("failureReason", reason)
        for attribute, value in (changes or {}).items():
            update.set(attribute, value)
        if leaves_work_list(new):
            update.remove("pendingShard", "pendingSince")
        else:
            # The sweep measures how long an order has waited in its current state.
            update.set("pendingSince", at)
        update.with_values(**{"from": current})
        dynamodb = aws.client("dynamodb")
        try:
            response = dynamodb.update_item(
                TableName=self.table_name, Key={"orderId": {"S": order_id}},
                UpdateExpression=update.expression(), ConditionExpression=f"{update.name('status')} = :from",
                ExpressionAttributeNames=update.names, ExpressionAttributeValues=update.values,
                ReturnValues="ALL_NEW")
        except dynamodb.exceptions.ConditionalCheckFailedException:
            return None
        return from_item(response["Attributes"])

    def claim_notification(self, order_id: str, now: float, lease_seconds: int, claim: str) -> bool:
        """Take the right to publish a COMPLETED order's notification for a while; False if another delivery has it.

        Two deliveries of one order (a sweep's re-send racing the first message)
        must not both publish; one that dies holding the claim is replaced once
        it runs out. `claim` names the claimer: a claim applied but answered
        with a timeout is sent again by botocore and must find itself, not
        "another delivery" that leaves the order unnotified until the sweep.
        """
        dynamodb = aws.client("dynamodb")
        try:
            dynamodb.update_item(
                TableName=self.table_name, Key={"orderId": {"S": order_id}},
                UpdateExpression="SET #until = :until, #claim = :claim",
                ConditionExpression="#status = :completed AND attribute_not_exists(#notified) "
                                    "AND (attribute_not_exists(#until) OR #until < :now OR #claim = :claim)",
                ExpressionAttributeNames={"#until": "notifyingUntil", "#claim": "notifyingClaim",
                                          "#status": "status", "#notified": "notifiedAt"},
                ExpressionAttributeValues={":until": {"N": str(int(now) + lease_seconds)},
                                           ":now": {"N": str(int(now))}, ":completed": {"S": COMPLETED},
                                           ":claim": {"S": claim}})
        except dynamodb.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def release_notification(self, order_id: str) -> None:
        """The publish failed: let the next delivery claim the notification at once."""
        aws.client("dynamodb").update_item(
            TableName=self.table_name, Key={"orderId": {"S": order_id}}, UpdateExpression="REMOVE #until",
            ExpressionAttributeNames={"#until": "notifyingUntil"})

    def mark_notified(self, order_id: str, at: str) -> bool:
        """Record that a COMPLETED order's notification went out, and take it off the work list.

        False when it was already recorded (a concurrent delivery published too).
        """
        update = Update().set("notifiedAt", at).remove("pendingShard", "pendingSince").with_values(completed=COMPLETED)
        dynamodb = aws.client("dynamodb")
        try:
            dynamodb.update_item(
                TableName=self.table_name, Key={"orderId": {"S": order_id}},
                UpdateExpression=update.expression(),
                ConditionExpression=f"attribute_not_exists({update.name('notifiedAt')}) "
                                    f"AND {update.name('status')} = :completed",
                ExpressionAttributeNames=update.names, ExpressionAttributeValues=update.values)
        except dynamodb.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def page_all(self, limit: int, cursor: str | None) -> tuple[list[dict[str, Any]], str | None]:
        """One page of every customer's orders, in no particular order (an operator's listing: a Scan)."""
        params: dict[str, Any] = {"TableName": self.table_name, "Limit": limit}
        if cursor:
            start = decode_cursor(cursor, {"orderId"}, strings_only=True)
            params["ExclusiveStartKey"] = start
        return read_page("scan", params, from_cursor=bool(cursor))

    def page_for_customer(self, customer_id: str, limit: int,
                          cursor: str | None) -> tuple[list[dict[str, Any]], str | None]:
        """One page of a customer's orders, newest first (a Query on customer-index, never a Scan)."""
        params: dict[str, Any] = {
            "TableName": self.table_name, "IndexName": CUSTOMER_INDEX, "Limit": limit,
            "KeyConditionExpression": "customerId = :customer",
            "ExpressionAttributeValues": {":customer": {"S": customer_id}},
            "ScanIndexForward": False,
        }
        if cursor:
            start = decode_cursor(cursor, CURSOR_KEYS)
            # A cursor of another customer's listing, or with non-string keys, is
            # refused here: DynamoDB would answer a 500-worthy ValidationException.
            if start["customerId"] != {"S": customer_id} or \
                    not all(isinstance(v.get("S"), str) and v["S"] for v in start.values()):
                raise bad_cursor()
            params["ExclusiveStartKey"] = start
        return read_page("query", params, from_cursor=bool(cursor))

    def count_for_customer(self, customer_id: str) -> int:
        """How many orders the customer has (customer-index, Select COUNT: no item is sent back)."""
        params: dict[str, Any] = {
            "TableName": self.table_name, "IndexName": CUSTOMER_INDEX, "Select": "COUNT",
            "KeyConditionExpression": "customerId = :customer",
            "ExpressionAttributeValues": {":customer": {"S": customer_id}},
        }
        count = 0
        while True:
            response = aws.client("dynamodb").query(**params)
            count += response.get("Count", 0)
            if not response.get("LastEvaluatedKey"):
                return count
            params["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def waiting_since(self, shard: str, before: str) -> Iterator[str]:
        """Ids of the orders of one pending-index shard waiting since `before` or earlier.

        The index is eventually consistent: callers read each order again before acting.
        """
        params: dict[str, Any] = {
            "TableName": self.table_name, "IndexName": PENDING_INDEX,
            "KeyConditionExpression": "pendingShard = :shard AND pendingSince <= :before",
            "ExpressionAttributeValues": {":shard": {"S": shard}, ":before": {"S": before}},
            "ProjectionExpression": "orderId",
        }
        while True:
            response = aws.client("dynamodb").query(**params)
            for item in response.get("Items", []):
                yield item["orderId"]["S"]
            if not response.get("LastEvaluatedKey"):
                return
            params["ExclusiveStartKey"] = response["LastEvaluatedKey"]
