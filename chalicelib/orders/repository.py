"""OrdersTable in DynamoDB: the orders themselves, and the outbox the sweep relays from.

Every change of status is a conditional UpdateItem (`#status = :from`) that
also appends to the order's history, so two deliveries of one message can
never both apply the same step, and the history is exactly the steps taken.
Orders with work left carry `pendingShard`/`pendingSince`, which puts them in
the sparse pending-index-v2; removing both takes them off the sweep's list.

Both indexes project keys only and their keys are written once, so each
costs a write unit where an order enters it (and pending-index-v2 one more
where it leaves), whatever else the order's writes change:
`pendingSince` is the time the order was placed and stays so (the sweep
measures how long an order has been in its status by `updatedAt`, on the
order itself). docs/orders.md has the cost of every write.

An order's contact (`notify`, an e-mail or phone) is on the order item only
while it has a use: the write that records the notification (`notifiedAt`)
removes it, and so does the one that fails the order (a FAILED order is never
notified). The indexes project keys only, so no index copies it. The
customer's erasure removes it from the orders not yet notified
(erase_contacts). docs/personal-data.md.
"""
import time
from typing import Any, Callable, Iterator

from chalicelib import aws
from chalicelib.adapters.dynamo import Update, backoff, from_item, read_page, to_item
from chalicelib.errors import Unavailable
from chalicelib.orders.states import COMPLETED, check_transition, history_entry, leaves_work_list
from chalicelib.pagination import bad_cursor, decode_cursor

# "-v2": the indexes project keys only since issue 22; a GSI's projection cannot change in place, so the
# indexes of the first design (customer-index, pending-index: ALL) are replaced by new ones (docs/orders.md).
CUSTOMER_INDEX = "customer-index-v2"
PENDING_INDEX = "pending-index-v2"
CURSOR_KEYS = {"orderId", "customerId", "createdAt"}
# What a listing reads of each order (GET /orders shows no contact and no bookkeeping).
LISTED = ("orderId", "customerId", "status", "createdAt", "updatedAt", "items", "total", "history", "failureReason")
BATCH_GET_LIMIT = 100


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
                   changes: dict[str, Any] | None = None, *, passing: tuple[str, str] | None = None,
                   claim: tuple[str, int] | None = None) -> dict[str, Any] | None:
        """Move an order from `current` to `new`; the order as stored after, or None if it was not in `current`.

        `passing` (status, at): a status the order goes through on the way, in the same write: the worker
        takes a RECEIVED order to COMPLETED in one write whose history records PROCESSING too (when it
        started). `claim` (claim, until): with COMPLETED, the notification's claim is taken in the same write
        (see claim_notification). An illegal move raises IllegalTransition before anything is sent.
        """
        steps = [(current, passing[0]), (passing[0], new)] if passing else [(current, new)]
        for start, end in steps:
            check_transition(start, end)
        if claim is not None and new != COMPLETED:
            raise ValueError("the notification is claimed with COMPLETED only")
        entries = ([history_entry(passing[0], passing[1])] if passing else []) + [history_entry(new, at, reason)]
        update = Update().set("status", new).set("updatedAt", at).append("history", entries)
        if reason:
            update.set("failureReason", reason)
        for attribute, value in (changes or {}).items():
            update.set(attribute, value)
        if claim is not None:
            # Written as claim_notification writes it (the fault tests find the claim by this text).
            update.clause("SET", "#until = :until, #claim = :claim", until=claim[1], claim=claim[0])
            update.names.update({"#until": "notifyingUntil", "#claim": "notifyingClaim"})
        if leaves_work_list(new):
            # FAILED: nothing will notify the order, so its contact has no use left: removed in the same write.
            update.remove("pendingShard", "pendingSince", "notify")
        # Otherwise pendingSince stays the time the order was placed: moving it would move an index key
        # (a delete and a put on pending-index-v2); the sweep reads how long the order waited from updatedAt.
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
        """Record that a COMPLETED order's notification went out, take it off the work list and drop its contact.

        The contact (`notify`) was kept only to be sent: it goes in this same write (no write of its own).
        False when it was already recorded (a concurrent delivery published too).
        """
        update = Update().set("notifiedAt", at).remove("pendingShard", "pendingSince", "notify") \
            .with_values(completed=COMPLETED)
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

    def page_for_customer(self, customer_id: str, limit: int, cursor: str | None,
                          sleep: Callable[[float], None] = time.sleep) -> tuple[list[dict[str, Any]], str | None]:
        """One page of a customer's orders, newest first: a Query on customer-index-v2, never a Scan.

        The index holds keys only (so no order write but the first touches it): the orders themselves are
        read with one BatchGetItem of the page's keys, their listed attributes only."""
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
        keys, next_cursor = read_page("query", params, from_cursor=bool(cursor))
        found = self.get_many([key["orderId"] for key in keys], sleep=sleep)
        # In the index's order; an order the index names is in the table (the index is written after it).
        return [found[key["orderId"]] for key in keys if key["orderId"] in found], next_cursor

    def get_many(self, order_ids: list[str], sleep: Callable[[float], None] = time.sleep) -> dict[str, dict[str, Any]]:
        """The listed attributes of these orders, by id (BatchGetItem).

        Eventually consistent reads (half a read unit per order, as the index's own reads are): an order the
        index already names but a replica does not yet hold is read again consistently, so a page never
        skips one."""
        found = self._batch_get(order_ids, consistent=False, sleep=sleep)
        missing = [order_id for order_id in order_ids if order_id not in found]
        if missing:
            found.update(self._batch_get(missing, consistent=True, sleep=sleep))
        return found

    def _batch_get(self, order_ids: list[str], consistent: bool, sleep: Callable[[float], None],
                   max_attempts: int = 8) -> dict[str, dict[str, Any]]:
        """What DynamoDB leaves unprocessed is asked again with backoff; if some still are, the request fails as
        a 503 rather than answer a short page."""
        client = aws.client("dynamodb")
        names = {f"#{n}": n for n in LISTED}
        found: dict[str, dict[str, Any]] = {}
        unique = list(dict.fromkeys(order_ids))
        for start in range(0, len(unique), BATCH_GET_LIMIT):
            request: dict[str, Any] = {self.table_name: {
                "Keys": [{"orderId": {"S": order_id}} for order_id in unique[start:start + BATCH_GET_LIMIT]],
                "ProjectionExpression": ", ".join(names), "ExpressionAttributeNames": names,
                "ConsistentRead": consistent}}
            for attempt in range(max_attempts):
                response = client.batch_get_item(RequestItems=request)
                for item in response.get("Responses", {}).get(self.table_name, []):
                    order = from_item(item)
                    found[order["orderId"]] = order
                request = response.get("UnprocessedKeys") or {}
                if not request:
                    break
                sleep(backoff(attempt))
            else:
                raise Unavailable("Some orders of this page could not be read yet; try again.")
        return found

    def erase_contacts(self, customer_id: str, sleep: Callable[[float], None] = time.sleep) -> int:
        """Remove the contact (`notify`) from every order of the customer that still holds one; how many did.

        customer-index-v2 names the orders (keys only), one consistent BatchGetItem per page reads which hold
        a contact, and each of those gets an UpdateItem that removes it, conditional on the order existing (an
        update never creates an item) and still holding it (one notified meanwhile lost it already: not
        counted). A page at a time, so a customer with many orders never holds more than a page in memory.
        """
        client = aws.client("dynamodb")
        params: dict[str, Any] = {
            "TableName": self.table_name, "IndexName": CUSTOMER_INDEX,
            "KeyConditionExpression": "customerId = :customer",
            "ExpressionAttributeValues": {":customer": {"S": customer_id}}}
        erased = 0
        while True:
            page = client.query(**params)
            ids = [item["orderId"]["S"] for item in page.get("Items", [])]
            for order_id in self._holding_contact(ids, sleep):
                try:
                    client.update_item(
                        TableName=self.table_name, Key={"orderId": {"S": order_id}},
                        UpdateExpression="REMOVE #notify", ConditionExpression="attribute_exists(#notify)",
                        ExpressionAttributeNames={"#notify": "notify"})
                    erased += 1
                except client.exceptions.ConditionalCheckFailedException:
                    pass  # notified (or failed) since it was read: its contact is gone already
            if not page.get("LastEvaluatedKey"):
                return erased
            params["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def _holding_contact(self, order_ids: list[str], sleep: Callable[[float], None],
                         max_attempts: int = 8) -> list[str]:
        """Which of these orders hold a contact (consistent reads of `orderId` and `notify` only)."""
        client = aws.client("dynamodb")
        holding: list[str] = []
        unique = list(dict.fromkeys(order_ids))
        for start in range(0, len(unique), BATCH_GET_LIMIT):
            request: dict[str, Any] = {self.table_name: {
                "Keys": [{"orderId": {"S": order_id}} for order_id in unique[start:start + BATCH_GET_LIMIT]],
                "ProjectionExpression": "#id, #notify", "ExpressionAttributeNames": {
                    "#id": "orderId", "#notify": "notify"}, "ConsistentRead": True}}
            for attempt in range(max_attempts):
                response = client.batch_get_item(RequestItems=request)
                holding += [item["orderId"]["S"] for item in response.get("Responses", {}).get(self.table_name, [])
                            if "notify" in item]
                request = response.get("UnprocessedKeys") or {}
                if not request:
                    break
                sleep(backoff(attempt))
            else:
                raise Unavailable("Some orders could not be read yet; erase again (what is erased stays erased).")
        return holding

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
        """Ids of the orders of one pending-index-v2 shard placed at `before` or earlier and not yet done.

        The index is eventually consistent, and holds when an order was placed, not when it entered its status:
        callers read each order again before acting, and judge its wait by its `updatedAt`.
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
