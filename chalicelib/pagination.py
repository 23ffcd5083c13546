"""Pages of DynamoDB results for the API: the page size a client asks for, opaque cursors, and bounded bytes.

A cursor is DynamoDB's LastEvaluatedKey, base64url-encoded. Clients must treat
it as opaque; a forged or mangled one is a 400 that names `next`, never a 500.

A page is also bounded in bytes: a synchronous Lambda answer is at most 6 MB,
and one over it is a 502 however few items it holds. Every list route ends
its page where the next item would take it past PAGE_BYTES (`fitting`,
`bounded_page`), and the log lines listing clips long texts (`clip_texts`).
"""
import base64
import binascii
import json
from typing import Any, Callable

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


# The JSON of a page's items at most (as measured by response_bytes): a sixth of Lambda's 6 MB answer limit,
# so the headers, the body's envelope and any later field added to items all have room.
PAGE_BYTES = 1_000_000
# UTF-8 bytes of any one text of an item in a list (a log line's raw text, its message): the whole stored text
# is a page of its own (up to 150 KB each), and 30 such lines made an 8-9 MB answer.
LIST_TEXT_BYTES = 4_096


def clip_text(text: str, limit: int) -> tuple[str, bool]:
    """`text` cut to at most `limit` UTF-8 bytes (never inside a character), and whether it was cut."""
    encoded = text.encode("utf-8", errors="surrogatepass")
    if len(encoded) <= limit:
        return text, False
    return encoded[:limit].decode("utf-8", errors="ignore"), True


def clip_texts(item: dict[str, Any], limit: int = LIST_TEXT_BYTES) -> dict[str, Any]:
    """The item with every text field cut to `limit` bytes, flagged `clipped: true` when any was."""
    shown, clipped = {}, False
    for name, value in item.items():
        if isinstance(value, str):
            value, cut = clip_text(value, limit)
            clipped |= cut
        shown[name] = value
    if clipped:
        shown["clipped"] = True
    return shown


def response_bytes(value: Any) -> int:
    """What `value` adds to a Lambda answer, at most: its JSON in the body, and that body escaped again as a
    string of the response envelope (ASCII-escaped: a 4-byte character becomes 12 bytes, a control one 7)."""
    body = json.dumps(value, ensure_ascii=False, default=str)  # Decimal as a quoted string: never smaller
    return len(json.dumps(body))


def fitting(items: list[Any], budget: int = PAGE_BYTES) -> int:
    """How many of `items`, from the first, fit in `budget` bytes; at least one, so that a page always moves
    on (one item is bounded by what its route stores and clips, far below the budget)."""
    used = 0
    for count, item in enumerate(items):
        used += response_bytes(item) + 2  # the separator between items, escaped
        if used > budget:
            return max(count, 1)
    return len(items)


def bounded_page(fetch: Callable[[int], tuple[list[Any], str | None]], size: int,
                 budget: int = PAGE_BYTES) -> dict[str, Any]:
    """`{"items", "next"}`: up to `size` items, and no more than fit in `budget` bytes.

    `fetch(n)` reads up to n items from the request's cursor and returns them as shown, with the cursor after
    them. A page too big is read again with only the items that fit, so the store's own cursor resumes right
    after the last item shown, whatever the store keeps in it (DynamoDB's LastEvaluatedKey of a scan, query or
    index, PostgreSQL's keyset). The read is repeated only for a page over the budget, which is rare.
    """
    items, cursor = fetch(size)
    while True:
        count = fitting(items, budget)
        if count >= len(items):
            return {"items": items, "next": cursor}
        items, cursor = fetch(count)  # fewer each round: ends at one item at most
