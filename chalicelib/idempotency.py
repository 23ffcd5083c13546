"""Safe retries for POST routes: a caller's Idempotency-Key always names the same new resource, and only its own.

The id of what a POST creates is derived from the caller (the token's `sub`)
and the key (uuid5 in a namespace of the route's own), so a retried request
gets the same id, and the conditional write of that id makes the second
attempt a no-op instead of a duplicate. Two callers who pick the same key name
two different resources: one can neither overwrite nor read the other's.

A key also remembers the body it came with (a fingerprint of the validated
request, in IdempotencyKeysTable, for IDEMPOTENCY_KEY_HOURS): the same key
with another body is refused with 422 naming the header, as the IETF
Idempotency-Key draft and Stripe do, instead of silently answering with the
first request's resource. The record is written before anything is queued, so
a retry never finds a resource without it.
"""
import hashlib
import json
import time
import uuid
from typing import Any, Callable

from chalicelib import aws
from chalicelib.errors import ClientError, InvalidRequest

MAX_IDEMPOTENCY_KEY_LENGTH = 255


class IdempotencyKeyReused(ClientError):
    status_code = 422
    code = "IdempotencyKeyReused"


def check_idempotency_key(key: str | None) -> str | None:
    if key is None:
        return None
    if not key.strip() or len(key) > MAX_IDEMPOTENCY_KEY_LENGTH:
        raise InvalidRequest("The Idempotency-Key header is not valid.",
                             [{"field": "Idempotency-Key",
                               "problem": f"must be 1 to {MAX_IDEMPOTENCY_KEY_LENGTH} characters"}])
    return key


def new_id(namespace: uuid.UUID, idempotency_key: str | None, caller: str = "") -> str:
    """A fresh random id, or the one this caller's key has always named."""
    key = check_idempotency_key(idempotency_key)
    if key:
        # A NUL cannot occur in a token's sub, so no (caller, key) pair spells another's.
        return str(uuid.uuid5(namespace, f"{caller}\x00{key}" if caller else key))
    return str(uuid.uuid4())


def fingerprint(request: Any) -> str:
    """A stable digest of a validated request: the same fields and values give the same digest."""
    canonical = json.dumps(request, sort_keys=True, separators=(",", ":"), default=str, ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


class IdempotencyKeys:
    """What each resource id derived from a key was first requested with (DynamoDB, expiring by TTL)."""

    def __init__(self, table_name: str, keep_hours: int = 24, clock: Callable[[], float] = time.time):
        self.table_name, self.keep_seconds, self.clock = table_name, keep_hours * 3600, clock

    def remember(self, resource_id: str, request_fingerprint: str) -> bool:
        """Record the first request for `resource_id`. True when it is new; False for a retry of the same
        request; IdempotencyKeyReused when the key came before with another body."""
        dynamodb = aws.client("dynamodb")
        now = int(self.clock())
        try:
            dynamodb.put_item(
                TableName=self.table_name,
                Item={"id": {"S": resource_id}, "fingerprint": {"S": request_fingerprint},
                      "ttl": {"N": str(now + self.keep_seconds)}},
                # An expired record that TTL has not deleted yet counts as absent.
                ConditionExpression="attribute_not_exists(id) OR #ttl < :now",
                ExpressionAttributeNames={"#ttl": "ttl"}, ExpressionAttributeValues={":now": {"N": str(now)}})
            return True
        except dynamodb.exceptions.ConditionalCheckFailedException:
            item = dynamodb.get_item(TableName=self.table_name, Key={"id": {"S": resource_id}},
                                     ConsistentRead=True).get("Item") or {}
        if item.get("fingerprint", {}).get("S") not in (None, request_fingerprint):
            raise IdempotencyKeyReused(
                "This Idempotency-Key was already used with a different request body.",
                [{"field": "Idempotency-Key", "problem": "was used before with a different body; use a new key"}])
        return False


def __getattr__(name: str) -> Any:
    """`idempotency_keys`, the table's getter, is chalicelib/bootstrap.py's: found there for the callers that
    import it from here."""
    if name == "idempotency_keys":
        from chalicelib import bootstrap
        return bootstrap.idempotency_keys
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
