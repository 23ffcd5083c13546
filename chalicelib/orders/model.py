"""An order as a client submits it, and the pure rules about its numbers.

Validation happens here, before anything is written: a bad body is a 400 that
names the field (`items.0.quantity`) and leaves no trace in the table or on
the queue.
"""
import re
import uuid
import zlib
from decimal import Decimal
from typing import Any, Iterable

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, field_validator

from chalicelib.idempotency import new_id
from chalicelib.money import CENT, MoneyInput, parse_money

# Derives an order id from a client's Idempotency-Key: the same key always
# names the same order, so a retried POST can never create a second one.
ORDER_NAMESPACE = uuid.UUID("0b7e4a52-93c1-4f0d-8a6e-5d21c9f3b874")

MAX_ITEMS = 100
MAX_QUANTITY = 1_000_000
# The sweep queries pending-index-v2 one shard at a time: new orders spread over
# this many partition key values, so at AWS scale no single GSI partition
# takes every new order's write.
PENDING_SHARDS = 10

_EMAIL = re.compile(r"[^@\s\x00-\x1f\x7f]+@[^@\s\x00-\x1f\x7f]+\.[^@\s.\x00-\x1f\x7f]+")
# SNS message attributes (customerId, contact) take no control characters.
_PRINTABLE = r"^[^\x00-\x1f\x7f]+$"
_PHONE = re.compile(r"\+[0-9]{8,15}")  # E.164
# The same rule for the API's published schema (chalicelib/openapi), where a field validator cannot be seen.
CONTACT_PATTERN = f"^(?:{_EMAIL.pattern}|{_PHONE.pattern})$"


def parse_contact(value: Any) -> Any:
    """An email address or an E.164 phone number; anything else is refused."""
    if isinstance(value, str) and not (_EMAIL.fullmatch(value) or _PHONE.fullmatch(value)):
        raise ValueError("must be an email address or an E.164 phone number such as +5511987654321")
    return value


class OrderItem(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, frozen=True)

    productId: StrictStr = Field(min_length=1, max_length=128, pattern=_PRINTABLE)
    # Strict: 2.0 (parsed as Decimal), "2" and true are refused, not coerced.
    quantity: StrictInt = Field(ge=1, le=MAX_QUANTITY)
    unitPrice: MoneyInput | None = None  # absent or null: the worker prices it from the catalog

    @field_validator("unitPrice", mode="before")
    @classmethod
    def _money(cls, value: Any) -> Decimal | None:
        return None if value is None else parse_money(value)


class NewOrder(BaseModel):
    """An order as a client submits it to POST /orders."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, frozen=True)

    customerId: StrictStr = Field(min_length=1, max_length=128, pattern=_PRINTABLE)
    items: list[OrderItem] = Field(min_length=1, max_length=MAX_ITEMS)
    notify: StrictStr | None = Field(default=None, min_length=1, max_length=254,
                                     json_schema_extra={"pattern": CONTACT_PATTERN})  # parse_contact's rule

    _contact = field_validator("notify", mode="after")(parse_contact)


class OrderMessage(BaseModel):
    """What travels on the orders queue: only the id; the table holds the order."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    orderId: uuid.UUID


def new_order_id(idempotency_key: str | None, caller: str = "") -> str:
    return new_id(ORDER_NAMESPACE, idempotency_key, caller)


def pending_shard(order_id: str) -> str:
    # crc32, not hash(): the shard must be the same in every process.
    return f"P{zlib.crc32(order_id.encode()) % PENDING_SHARDS}"


def all_pending_shards() -> list[str]:
    return [f"P{n}" for n in range(PENDING_SHARDS)]


def order_total(items: Iterable[dict[str, Any]]) -> Decimal | None:
    """Σ quantity × unitPrice in cents, or None while some item has no price yet."""
    total = Decimal(0)
    for item in items:
        if item.get("unitPrice") is None:
            return None
        total += int(item["quantity"]) * Decimal(item["unitPrice"])
    return total.quantize(CENT)


def short(text: str, limit: int = 500) -> str:
    """A reason kept short enough to store and show (an error can be kilobytes long)."""
    return text if len(text) <= limit else text[:limit - 1] + "…"
