"""Safe retries for POST routes: a client's Idempotency-Key always names the same new resource.

The id of what a POST creates is derived from the key (uuid5 in a namespace of
the route's own), so a retried request gets the same id, and the conditional
write of that id makes the second attempt a no-op instead of a duplicate.
"""
import uuid

from chalicelib.errors import InvalidRequest

MAX_IDEMPOTENCY_KEY_LENGTH = 255


def check_idempotency_key(key: str | None) -> str | None:
    if key is None:
        return None
    if not key.strip() or len(key) > MAX_IDEMPOTENCY_KEY_LENGTH:
        raise InvalidRequest("The Idempotency-Key header is not valid.",
                             [{"field": "Idempotency-Key",
                               "problem": f"must be 1 to {MAX_IDEMPOTENCY_KEY_LENGTH} characters"}])
    return key


def new_id(namespace: uuid.UUID, idempotency_key: str | None) -> str:
    """A fresh random id, or the one the key has always named."""
    if idempotency_key:
        return str(uuid.uuid5(namespace, check_idempotency_key(idempotency_key)))
    return str(uuid.uuid4())
