"""Which product store a stage uses: PRODUCT_STORE=dynamodb (the default) or postgres.

Both repositories answer the same four calls with the same meanings
(add_if_absent, get, page, prices); the service is handed one and never asks
which. The PostgreSQL modules (and the driver) are imported only when chosen,
so DynamoDB stages pay nothing for them at cold start.
"""
from decimal import Decimal
from typing import Any, Iterable, Protocol

from chalicelib import settings
from chalicelib.settings import MissingSetting

STORES = ("dynamodb", "postgres")


class ProductStore(Protocol):
    def add_if_absent(self, product: dict[str, Any]) -> tuple[dict[str, Any], bool]: ...

    def get(self, product_id: str) -> dict[str, Any] | None: ...

    def page(self, limit: int, cursor: str | None) -> tuple[list[dict[str, Any]], str | None]: ...

    def prices(self, product_ids: Iterable[str]) -> dict[str, Decimal]: ...


def product_store_name() -> str:
    name = settings.product_store()
    if name not in STORES:
        raise MissingSetting(f"PRODUCT_STORE must be one of {', '.join(STORES)}, not {name!r}")
    return name


def product_repository() -> ProductStore:
    """The repository of the stage's store (call once per container; the service caches it)."""
    if product_store_name() == "postgres":
        from chalicelib.catalog.postgres import PostgresProductRepository
        from chalicelib.db.connection import database
        return PostgresProductRepository(database())
    from chalicelib.catalog.repository import ProductRepository
    return ProductRepository(settings.product_table())
