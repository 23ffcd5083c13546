"""ProductRepository's PostgreSQL twin (PRODUCT_STORE=postgres): the same methods, meanings and cursors' rules.

- `add_if_absent` is one `INSERT … ON CONFLICT (id) DO NOTHING`: a redelivered
  message neither duplicates nor overwrites the stored product.
- `page` is keyset pagination on (created_at, id), never OFFSET: a page costs
  the same however deep it is, and ties on created_at are broken by id.
- Prices are numeric(12,2) in, Decimal out: never a float on the way.
Records look exactly as the DynamoDB repository returns them (absent fields
left out, times as the clock writes them), so the service cannot tell.
"""
import uuid
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any, Iterable

from chalicelib.db.connection import Database
from chalicelib.money import CENT
from chalicelib.pagination import bad_cursor, decode_cursor, encode_cursor

COLUMNS = ("id", "name", "price", "description", "sku", "category", "stock", "created_at", "stored_at")
SELECT = f"SELECT {', '.join(COLUMNS)} FROM products"


def _timestamp(text: str) -> datetime:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError(f"timestamp without a time zone: {text!r}")
    return moment


def _iso(moment: datetime) -> str:
    """UTC with milliseconds, as chalicelib.clock writes it (microseconds only when there are any)."""
    spec = "milliseconds" if moment.microsecond % 1000 == 0 else "microseconds"
    return moment.astimezone(timezone.utc).isoformat(timespec=spec).replace("+00:00", "Z")


def _canonical_uuid(text: Any) -> uuid.UUID | None:
    """The UUID `text` names only when written canonically: DynamoDB would not find 'ABC…' under 'abc…' either."""
    try:
        value = uuid.UUID(text)
    except (ValueError, TypeError, AttributeError):
        return None
    return value if str(value) == text else None


def _record(row: list[Any]) -> dict[str, Any]:
    record = {}
    for name, value in zip(COLUMNS, row):
        if value is None:
            continue
        if isinstance(value, uuid.UUID):
            value = str(value)
        elif isinstance(value, datetime):
            value = _iso(value)
        record[name] = value
    return record


class PostgresProductRepository:
    def __init__(self, db: Database):
        self.db = db

    def add_if_absent(self, product: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        """Store a product unless one with its id exists; return what is stored and whether it was new."""
        price = Decimal(product["price"])
        if price != price.quantize(CENT):
            raise ValueError(f"price {price} has more than 2 decimal places; numeric(12,2) would round it")
        inserted = self.db.run(
            "INSERT INTO products (id, name, price, description, sku, category, stock, created_at, stored_at)"
            " VALUES (:id, :name, :price, :description, :sku, :category, :stock, :created_at, :stored_at)"
            " ON CONFLICT (id) DO NOTHING RETURNING id",
            id=uuid.UUID(product["id"]), name=product["name"], price=price,
            description=product.get("description"), sku=product.get("sku"), category=product.get("category"),
            stock=product.get("stock"), created_at=_timestamp(product["created_at"]),
            stored_at=_timestamp(product["stored_at"]))
        if inserted:
            return product, True
        existing = self.get(product["id"])
        if existing is None:  # deleted in between; nothing newer to protect
            raise RuntimeError(f"product {product['id']} conflicted but cannot be read")
        return existing, False

    def get(self, product_id: str) -> dict[str, Any] | None:
        key = _canonical_uuid(product_id)
        if key is None:
            return None
        rows = self.db.run(f"{SELECT} WHERE id = :id", id=key)
        return _record(rows[0]) if rows else None

    def page(self, limit: int, cursor: str | None) -> tuple[list[dict[str, Any]], str | None]:
        if cursor:
            after_created, after_id = self._decode(cursor)
            rows = self.db.run(f"{SELECT} WHERE (created_at, id) > (:created_at, :id)"
                               " ORDER BY created_at, id LIMIT :n", created_at=after_created, id=after_id, n=limit + 1)
        else:
            rows = self.db.run(f"{SELECT} ORDER BY created_at, id LIMIT :n", n=limit + 1)
        # One row beyond the page says whether another page exists, so the last page carries no cursor.
        more, rows = len(rows) > limit, rows[:limit]
        items = [_record(row) for row in rows]
        if not more:
            return items, None
        last_created, last_id = rows[-1][COLUMNS.index("created_at")], rows[-1][0]
        # The cursor keeps the database's exact timestamp (microseconds), not the rendered one.
        return items, encode_cursor({"created_at": {"S": last_created.isoformat(timespec="microseconds")},
                                     "id": {"S": str(last_id)}})

    @staticmethod
    def _decode(cursor: str) -> tuple[datetime, uuid.UUID]:
        key = decode_cursor(cursor, {"created_at", "id"}, strings_only=True)
        product_id = _canonical_uuid(key["id"]["S"])
        try:
            created_at = _timestamp(key["created_at"]["S"])
        except ValueError:
            raise bad_cursor() from None
        if product_id is None:
            raise bad_cursor()
        return created_at, product_id

    def prices(self, product_ids: Iterable[str], **_retry_options: Any) -> dict[str, Decimal]:
        """Price of each product that exists; an unknown id (or one that is not a UUID) is simply absent."""
        keys = sorted({key for key in map(_canonical_uuid, product_ids) if key is not None})
        if not keys:
            return {}
        rows = self.db.run("SELECT id, price FROM products WHERE id = ANY(CAST(:ids AS uuid[]))",
                           ids=[str(key) for key in keys])
        return {str(product_id): price for product_id, price in rows}
