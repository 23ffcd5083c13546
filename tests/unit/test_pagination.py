"""Pages bounded in bytes (issue 19): every list route's page stays far under Lambda's 6 MB answer."""
import json

import pytest

from chalicelib.pagination import (LIST_TEXT_BYTES, PAGE_BYTES, bounded_page, clip_text, clip_texts, fitting,
                                   response_bytes)


class KeysetStore:
    """A store that pages as DynamoDB and PostgreSQL do: `limit` items after a cursor, and the cursor after them."""

    def __init__(self, items):
        self.items = items
        self.reads = []

    def page(self, limit, cursor):
        self.reads.append(limit)
        start = int(cursor) if cursor else 0
        chunk = self.items[start:start + limit]
        return chunk, (str(start + len(chunk)) if start + len(chunk) < len(self.items) else None)


def read_all(store, size, budget):
    pages, cursor = [], None
    while True:
        page = bounded_page(lambda n, after=cursor: store.page(n, after), size, budget)
        pages.append(page["items"])
        cursor = page["next"]
        if cursor is None:
            return pages


def test_pages_over_the_budget_are_read_again_shorter_and_the_next_one_starts_after_the_last_shown():
    items = [{"id": n, "text": "x" * (50 if n % 3 else 900)} for n in range(40)]
    store = KeysetStore(items)
    pages = read_all(store, size=20, budget=3_000)
    assert [item for page in pages for item in page] == items  # every item once, in order
    assert all(sum(response_bytes(i) + 2 for i in page) <= 3_000 for page in pages)
    assert max(len(page) for page in pages) < 20 and any(n < 20 for n in store.reads[1:])


def test_a_page_under_the_budget_is_read_once():
    store = KeysetStore([{"id": n} for n in range(10)])
    assert bounded_page(lambda n: store.page(n, None), 10) == {"items": store.items, "next": None}
    assert store.reads == [10]


def test_one_item_over_the_budget_is_still_a_page_so_listing_moves_on():
    assert fitting([{"text": "x" * 5_000}, {"id": 1}], budget=1_000) == 1
    assert fitting([], budget=1_000) == 0


def test_sizes_count_the_envelope_escaping_of_the_body():
    # In the Lambda answer the body is a JSON string: a control character takes 7 bytes, an emoji 12.
    assert response_bytes({"t": "\x01" * 100}) >= 700
    assert response_bytes({"t": "\U0001F600" * 100}) >= 1200
    assert response_bytes({"t": "a" * 100}) < 130


def test_the_largest_page_of_clipped_items_is_far_under_six_megabytes():
    worst = clip_texts({name: "\x01" * 200_000 for name in ("raw", "message", "path", "component", "client")})
    page = [worst] * fitting([worst] * 100)
    body = json.dumps({"items": page, "next": "c" * 200}, ensure_ascii=False)
    assert len(json.dumps(body)) <= PAGE_BYTES + 1_000 < 6_000_000


@pytest.mark.parametrize("text, limit, expected", [
    ("abc", 3, ("abc", False)), ("abcd", 3, ("abc", True)),
    ("aé", 2, ("a", True)),  # never half a character
    ("\U0001F600\U0001F600", 7, ("\U0001F600", True)),
])
def test_clip_text_cuts_at_a_character_boundary(text, limit, expected):
    assert clip_text(text, limit) == expected


def test_clip_texts_flags_only_what_it_cut():
    assert clip_texts({"raw": "short", "line": 7}) == {"raw": "short", "line": 7}
    clipped = clip_texts({"raw": "y" * (LIST_TEXT_BYTES + 1), "line": 7})
    assert clipped == {"raw": "y" * LIST_TEXT_BYTES, "line": 7, "clipped": True}
