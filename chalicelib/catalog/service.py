"""The catalog's use cases: accept a product, store it, read it back (built by chalicelib/bootstrap.py)."""
from typing import Any, Callable

from chalicelib import metrics
from chalicelib.catalog.model import NewProduct, ProductMessage, new_product_id, render_report
from chalicelib.catalog.stores import ProductStore
from chalicelib.clock import utc_now
from chalicelib.errors import NotFound
from chalicelib.idempotency import fingerprint
from chalicelib.logs import logger
from chalicelib.pagination import bounded_page, parse_page_size
from chalicelib.ports import IdempotencyKeyStore, Queue, Reports
from chalicelib.validation import parse_uuid, validate


def report_key(product_id: str) -> str:
    return f"{product_id}.txt"


class CatalogService:
    def __init__(self, products: ProductStore, queue: Queue, reports: Reports,
                 keys: IdempotencyKeyStore | None = None, clock: Callable[[], str] = utc_now):
        self.products = products
        self.queue = queue
        self.reports = reports
        self.keys = keys
        self.clock = clock

    def accept(self, body: dict[str, Any], idempotency_key: str | None = None, caller: str = "") -> dict[str, str]:
        """Validate a new product and queue it; the worker stores it later.

        With an Idempotency-Key the id is the caller's key's, and a key reused with another body is a 422."""
        product = validate(NewProduct, body)
        product_id = new_product_id(idempotency_key, caller)
        if idempotency_key and self.keys is not None:
            self.keys.remember(product_id, fingerprint(product.model_dump(mode="json")))
        message = {"id": product_id, "created_at": self.clock(),
                   **product.model_dump(mode="json", exclude_none=True)}
        self.queue.send_json(message)
        metrics.count("ProductsAccepted")
        logger.info("product accepted", product_id=product_id)
        return {"id": product_id, "status": "PENDING"}

    def store(self, message_body: str) -> None:
        """Persist one queued product and write its report; safe to run twice for one message."""
        try:
            self._store(message_body)
        except Exception:
            metrics.count("ProductsFailed")
            raise

    def _store(self, message_body: str) -> None:
        message = ProductMessage.model_validate_json(message_body)
        record = {**message.model_dump(exclude_none=True), "id": str(message.id), "stored_at": self.clock()}
        # The report goes first, so a product visible through the API always has
        # its report. On a redelivery the stored version wins and its report is
        # written again (the first delivery may have died in between).
        self.reports.put_text(report_key(record["id"]), render_report(record))
        stored, created = self.products.add_if_absent(record)
        if not created:
            self.reports.put_text(report_key(stored["id"]), render_report(stored))
        metrics.count("ProductsStored" if created else "ProductDuplicates")
        logger.info("product stored", product_id=stored["id"], duplicate=not created)

    def get(self, raw_id: str) -> dict[str, Any]:
        product = self.products.get(parse_uuid(raw_id, "The product id is not a UUID."))
        if product is None:
            raise NotFound("No product with this id (it may still be processing).",
                           [{"field": "id", "problem": "not found"}])
        return self._present(product)

    def list(self, limit: str | None, cursor: str | None) -> dict[str, Any]:
        def fetch(count: int) -> tuple[list, str | None]:  # read again shorter when over the page's bytes
            items, next_cursor = self.products.page(count, cursor)
            return [self._present(item) for item in items], next_cursor
        return bounded_page(fetch, parse_page_size(limit))

    def _present(self, product: dict[str, Any]) -> dict[str, Any]:
        return {**product, "price": f"{product['price']:.2f}",
                "report": {"bucket": self.reports.bucket, "key": report_key(product["id"])}}


def __getattr__(name: str) -> Any:
    """`catalog`, the service's getter, is chalicelib/bootstrap.py's: found there for the tests and benchmarks
    that still import it from here (`catalog.cache_clear()` clears the bootstrap's)."""
    if name == "catalog":
        from chalicelib import bootstrap
        return bootstrap.catalog
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

