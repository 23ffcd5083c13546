"""The product as the API accepts it and as the worker stores it."""
import uuid
from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, field_validator

from chalicelib.idempotency import new_id
from chalicelib.money import CENT, MoneyInput, parse_money

# Derives a product id from a client's Idempotency-Key: the same key always
# names the same product, so a retried POST can never create a second one.
IDEMPOTENCY_NAMESPACE = uuid.UUID("6f1c9a4e-2b7d-4c51-9a8e-3d2f0b5c7e11")


class NewProduct(BaseModel):
    """A product as a client submits it to POST /products."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, frozen=True)

    name: StrictStr = Field(min_length=1, max_length=200)
    price: MoneyInput
    description: StrictStr | None = Field(default=None, max_length=2000)
    sku: StrictStr | None = Field(default=None, min_length=1, max_length=64)
    category: StrictStr | None = Field(default=None, min_length=1, max_length=100)
    stock: StrictInt | None = Field(default=None, ge=0, le=1_000_000_000)

    _money = field_validator("price", mode="before")(parse_money)


class ProductMessage(NewProduct):
    """What travels on product-queue: the accepted product plus its id and accept time."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    id: uuid.UUID
    created_at: StrictStr


def new_product_id(idempotency_key: str | None, caller: str = "") -> str:
    return new_id(IDEMPOTENCY_NAMESPACE, idempotency_key, caller)


def render_report(product: dict) -> str:
    """The plain-text report the worker writes to S3 for each product."""
    lines = [
        "AsyncCatalog product report",
        "===========================",
        f"id:          {product['id']}",
        f"name:        {product['name']}",
        f"price:       {Decimal(product['price']).quantize(CENT)}",
    ]
    for field in ("description", "sku", "category", "stock"):
        if product.get(field) is not None:
            lines.append(f"{field + ':':<13}{product[field]}")
    lines += [
        f"created_at:  {product['created_at']}",
        f"stored_at:   {product['stored_at']}",
    ]
    return "\n".join(lines) + "\n"
