"""Pages of DynamoDB results for the API: the page size a client asks for, and opaque cursors.

A cursor is DynamoDB's LastEvaluatedKey, base64url-encoded. Clients must treat
it as opaque; a forged or mangled one is a 400 that names `next`, never a 500.
"""
import base64
import binascii
import json
from typing import Any

from chalicelib.errors import InvalidRequest

MAX_PAGE_SIZE = 100
DEFAULT_PAGE_SIZE = 20


def parse_page_size(raw: str | None) -> int:
    if raw is None:
        return DEFAULT_PAGE_SIZE
    # '²'.isdigit() is true, and int() of over 4,300 digits raises: both are checked before int().
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 4) or not 1 <= int(raw) <= MAX_PAGE_SIZE:
        raise InvalidRequest("The page size is not valid.",
                             [{"field": "limit", "problem": f"must be an integer from 1 to {MAX_PAGE_SIZE}"}])
    return int(raw)


def bad_cursor() -> InvalidRequest:
    return InvalidRequest("The pagination cursor is not valid.",
                          [{"field": "next", "problem": "is not a cursor this API returned"}])


def encode_cursor(last_key: dict[str, Any] | None) -> str | None:
    if not last_key:
        return None
    return base64.urlsafe_b64encode(json.dumps(last_key).encode()).decode().rstrip("=")


def _is_key_value(value: Any) -> bool:
    return isinstance(value, dict) and len(value) == 1 and (
        isinstance(value.get("S"), str) or isinstance(value.get("N"), str))


def decode_cursor(cursor: str, key_names: set[str], strings_only: bool = False) -> dict[str, Any]:
    """The ExclusiveStartKey a cursor holds; it must name exactly `key_names`, each a string or number."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        key = json.loads(base64.urlsafe_b64decode(padded.encode()))
        if not (isinstance(key, dict) and set(key) == key_names and all(map(_is_key_value, key.values()))):
            raise ValueError
        if strings_only and not all(value.get("S") for value in key.values()):
            raise ValueError  # DynamoDB refuses a key of the wrong type or an empty string
        return key
    except (ValueError, binascii.Error, TypeError, UnicodeDecodeError, RecursionError):
        raise bad_cursor() from None
