"""What the route table cannot say about each route: its parameters, answers and examples, one entry per route.

app.py's routes give the paths, methods, view names, content types and
authorizers; the pydantic models give the bodies. This table adds the rest,
keyed "METHOD /path" exactly as Chalice registers it. A route missing here
still appears in the document (marked `x-undocumented`), and
tests/contract/test_openapi_document.py fails until it gets an entry; an
entry naming no route fails the same test.

The examples are the README's session (`Caneta azul`, the `c-42` order, Ana
Costa's invoices), so the reference page shows what the README shows.
"""
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from chalicelib.catalog.model import NewProduct
from chalicelib.invoices.fields import MAX_CUSTOMER, MAX_SERIES
from chalicelib.logbatch.parsing.common import LEVELS
from chalicelib.logbatch.queries import LISTED_LEVELS
from chalicelib.openapi import shapes
from chalicelib.orders.model import NewOrder
from chalicelib.orders.service import MAX_CUSTOMER_ID
from chalicelib.pagination import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE
from chalicelib.streaming.runs import MAX_KEY_BYTES


@dataclass(frozen=True)
class Param:
    """One query, path or header parameter (OpenAPI's Parameter Object, less `in`)."""
    name: str
    schema: dict[str, Any]
    description: str
    required: bool = False
    example: Any = None


@dataclass(frozen=True)
class Operation:
    summary: str
    tag: str
    answer: type[BaseModel]
    status: int = 200
    description: str = ""
    body: type[BaseModel] | None = None
    path: tuple[Param, ...] = ()
    query: tuple[Param | str, ...] = ()  # a str names a shared parameter of PARAMETERS
    headers: tuple[str, ...] = ()  # shared header parameters of PARAMETERS
    errors: tuple[int, ...] = ()  # besides 415 (Chalice's content-type check) and 401/403 (the authorizer)
    location: bool = False  # a 202 that names the new resource in Location
    request_example: Any = None
    answer_example: Any = None
    who: str = ""  # who may call it, once the route has an authorizer
    extra: dict[str, Any] = field(default_factory=dict)


# Parameters several routes share: components/parameters of the document.
PARAMETERS: dict[str, tuple[str, Param]] = {
    "Limit": ("query", Param("limit", {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_SIZE,
                                       "default": DEFAULT_PAGE_SIZE},
                             f"Page size, 1 to {MAX_PAGE_SIZE}")),
    "Next": ("query", Param("next", {"type": "string"},
                            "The `next` of the previous page, as it was returned (an opaque cursor)")),
    "UploadKey": ("query", Param("key", {"type": "string", "minLength": 1, "maxLength": MAX_KEY_BYTES},
                                 "The uploaded object's S3 key", required=True, example="demo/app.log")),
    # No example: a fixed key sent with different bodies is a 422, as it should be.
    "IdempotencyKey": ("header", Param(
        "Idempotency-Key", {"type": "string", "minLength": 1, "maxLength": 255},
        "Makes a retry safe: the new resource's id is derived from the caller and the key, so a retried request "
        "gets the same id and never creates a second one; the same key with another body is a 422")),
    # Any value is taken: one that is not 1-128 printable ASCII characters is ignored, never refused.
    "CorrelationId": ("header", Param(
        "X-Correlation-Id", {"type": "string"},
        "Your id for this request: when it is 1-128 printable ASCII characters, it comes back in the "
        "X-Correlation-Id header and follows the work through queues, notifications and logs; otherwise (or "
        "without it) API Gateway's request id does")),
}

# The spellings of the listed levels GET /log-batches/lines takes (it reads any case; these are two of them).
LISTED_LEVEL_SPELLINGS = sorted({spelling for name, level in LEVELS.items() if level in LISTED_LEVELS
                                 for spelling in (name, name.upper())} | set(LISTED_LEVELS))
PRODUCT_ID = "ce26b464-9c70-4f9d-b86e-c73c29a91916"
ORDER_ID = "0b0f5d7e-6c1a-4b7e-9d2f-3a4c5e6f7a8b"
PAGE = ("Limit", "Next")

OPERATIONS: dict[str, Operation] = {
    "POST /products": Operation(
        "Submit a product", "Catalog", shapes.ProductAccepted, status=202, body=NewProduct,
        headers=("IdempotencyKey",), errors=(400, 413, 422), location=True,
        description="Validated at once and queued; the worker stores it moments later (GET it until it is "
                    "there). Unknown fields are refused. `price`: a JSON number or a decimal string, >= 0, at most "
                    "2 decimal places, kept exact end to end.",
        request_example={"name": "Caneta azul", "price": 19.90, "stock": 10},
        answer_example={"id": PRODUCT_ID, "status": "PENDING"}, who="operators"),
    "GET /products": Operation(
        "List products", "Catalog", shapes.ProductPage, query=PAGE, errors=(400, 503),
        answer_example={"items": [], "next": None}),
    "GET /products/{product_id}": Operation(
        "Read a stored product", "Catalog", shapes.Product, errors=(400, 404, 503),
        path=(Param("product_id", {"type": "string", "format": "uuid"}, "The id POST /products answered",
                    required=True, example=PRODUCT_ID),),
        description="404 while the product is unknown or not yet processed.",
        answer_example={"name": "Caneta azul", "price": "19.90", "stock": 10, "id": PRODUCT_ID,
                        "created_at": "2025-10-01T12:00:00.000Z", "stored_at": "2025-10-01T12:00:00.412Z",
                        "report": {"bucket": "async-catalog-reports-dev", "key": f"{PRODUCT_ID}.txt"}}),
    "GET /log-batches": Operation(
        "Progress and report of an uploaded log file", "Log batches", shapes.LogBatch,
        query=("UploadKey",), errors=(400, 404),
        description="The newest upload under the key. `processed_items` moves about 100 lines at a time until "
                    "the run completes; `report` appears once it has.", who="operators"),
    "GET /log-batches/lines": Operation(
        "Problem lines of an uploaded log file", "Log batches", shapes.LogLinePage,
        query=("UploadKey",
               Param("level", {"type": "string", "enum": LISTED_LEVEL_SPELLINGS},
                     "WARN, ERROR or FATAL (other spellings such as WARNING or CRITICAL too, in any case): lines at "
                     "or above it", example="ERROR"),
               Param("status", {"type": "string", "enum": ["5xx", "5XX"]}, "5xx: lines with a 5xx status"),
               *PAGE),
        errors=(400, 404),
        description="In line order. `level` and `status` together must both hold; neither lists every WARN-or-"
                    "worse or 5xx line. A `next` from an earlier upload of the key is a 400.", who="operators"),
    "GET /invoice-uploads": Operation(
        "Status of an uploaded invoice file", "Invoices", shapes.InvoiceUpload,
        query=(Param("key", {"type": "string", "minLength": 1, "maxLength": MAX_KEY_BYTES},
                     "The uploaded object's S3 key", required=True, example="demo/notas_fiscais.csv"),),
        errors=(400, 404),
        answer_example={
            "key": "demo/notas_fiscais.csv", "source": "s3://notas-fiscais/demo/notas_fiscais.csv",
            "run_id": "demo/notas_fiscais.csv@5d41402abc4b2a76b9719d911017c592", "status": "completed",
            "rows": 6, "accepted": 4, "rejected": 2, "superseded": 0, "total_amount": "1240489.86",
            "errors": [{"row": 5, "field": "amount", "problem": "must be zero or more"},
                       {"row": 6, "field": "customer_document", "problem": "has invalid check digits"}],
            "errors_not_shown": 0, "started_at": "2025-10-01T12:00:00.000Z",
            "completed_at": "2025-10-01T12:00:00.380Z", "duration_seconds": 0.38,
            "report": {"bucket": "async-catalog-reports-dev",
                       "key": "invoice-uploads/demo/notas_fiscais.csv@5d41402abc4b2a76b9719d911017c592.json"}},
        who="operators"),
    "GET /invoices": Operation(
        "List invoices", "Invoices", shapes.InvoicePage,
        query=(Param("customer", {"type": "string", "minLength": 1, "maxLength": MAX_CUSTOMER},
                     "Exact customer name (a Query of customer-index, ordered by issue date)", example="Ana Costa"),
               Param("from", {"type": "string", "format": "date"}, "First issue date, inclusive",
                     example="2025-10-01"),
               Param("to", {"type": "string", "format": "date"}, "Last issue date, inclusive",
                     example="2025-10-31"),
               *PAGE),
        errors=(400,),
        description="Without `customer`, `from`/`to` filter a scan: a page may hold fewer than `limit` items and "
                    "still have a `next`. Any other query parameter is a 400.",
        answer_example={"items": [{
            "number": "NF-1001", "issuer": "11222333000181", "series": "1", "customer": "Ana Costa",
            "amount": "2100.43", "issue_date": "2025-10-15", "customer_document": "**.222.333/****-**", "description": "Consultoria de outubro",
            "source": {"bucket": "notas-fiscais", "key": "demo/notas_fiscais.csv", "row": 2},
            "ingested_at": "2025-10-01T12:00:00.120Z"}], "next": None},
        who="operators"),
    "GET /invoices/{number}": Operation(
        "Read an invoice", "Invoices", shapes.Invoice, errors=(400, 404, 409),
        path=(Param("number", {"type": "string", "minLength": 1}, "The invoice number", required=True,
                    example="NF-1001"),),
        query=(Param("issuer", {"type": "string", "pattern": r"^[0-9]{2}\.?[0-9]{3}\.?[0-9]{3}/?[0-9]{4}-?[0-9]{2}$"},
                     "The issuer's CNPJ, with or without punctuation: chooses among invoices sharing the number",
                     example="11.222.333/0001-81"),
               Param("series", {"type": "string", "pattern": f"^[0-9A-Za-z]{{1,{MAX_SERIES}}}$"},
                     "The invoice's series (`001` is `1`): chooses among invoices sharing the number",
                     example="1")),
        description="409 when several issuers or series have the number: `errors` lists each candidate, its "
                    "`problem` the ?issuer=&series= query that chooses it. Any other query parameter is a 400.",
        who="operators"),
    "POST /orders": Operation(
        "Place an order", "Orders", shapes.OrderAccepted, status=202, body=NewOrder,
        headers=("IdempotencyKey",), errors=(400, 413, 422), location=True,
        description="Stored RECEIVED and queued; the worker prices items without `unitPrice` from the catalog, "
                    "completes the order and notifies once. Unknown fields are refused anywhere. A customer "
                    "orders for itself: `customerId` is its token's `sub` (it may leave it out); an operator "
                    "names the customer.",
        request_example={"customerId": "c-42", "items": [{"productId": PRODUCT_ID, "quantity": 2},
                                                         {"productId": "caderno", "quantity": 1,
                                                          "unitPrice": "12.50"}]},
        answer_example={"orderId": ORDER_ID, "status": "RECEIVED"},
        who="operators, and customers for themselves"),
    "GET /orders": Operation(
        "List a customer's orders", "Orders", shapes.OrderPage,
        query=(Param("customerId", {"type": "string", "minLength": 1, "maxLength": MAX_CUSTOMER_ID},
                     "Whose orders. Operators: any customer's, or every order without it; customers: their own "
                     "(their token's `sub`, also what it means when absent)", example="c-42"),
               *PAGE),
        errors=(400,), description="A customer's orders newest first, through customer-index.",
        who="operators, and customers for themselves"),
    "GET /orders/{order_id}": Operation(
        "Read an order", "Orders", shapes.Order, errors=(400, 404),
        path=(Param("order_id", {"type": "string", "format": "uuid"}, "The orderId POST /orders answered",
                    required=True, example=ORDER_ID),),
        answer_example={
            "orderId": ORDER_ID, "customerId": "c-42", "status": "COMPLETED", "total": "52.30",
            "items": [{"productId": PRODUCT_ID, "quantity": 2, "unitPrice": "19.90"},
                      {"productId": "caderno", "quantity": 1, "unitPrice": "12.50"}],
            "history": [{"status": "RECEIVED", "at": "2025-10-01T12:00:00.000Z"},
                        {"status": "PROCESSING", "at": "2025-10-01T12:00:00.210Z"},
                        {"status": "COMPLETED", "at": "2025-10-01T12:00:00.305Z"}],
            "createdAt": "2025-10-01T12:00:00.000Z", "updatedAt": "2025-10-01T12:00:00.305Z"},
        who="operators, and customers for their own orders"),
    "DELETE /customers/{customer_id}/personal-data": Operation(
        "Erase a customer's personal data", "Personal data", shapes.PersonalDataErasure, errors=(400, 503),
        path=(Param("customer_id", {"type": "string", "minLength": 1, "maxLength": MAX_CUSTOMER_ID,
                                    "pattern": r"^[^\x00-\x1f\x7f]+$"},
                    "The customer id orders are filed under (a customer's token `sub`)", required=True,
                    example="c-42"),),
        description="Removes the contact of each of the customer's orders not yet notified (a notified order's "
                    "went with its notification) and answers what it removed per store "
                    "and what is retained, with the reason (invoices are fiscal records kept at least 5 years). "
                    "Idempotent: a repeat removes nothing more. A 503 (some deletions throttled) is safe to "
                    "retry. docs/personal-data.md maps every piece of personal data.",
        answer_example={
            "customerId": "c-42",
            "removed": [{"store": "OrdersTable", "data": "the contact (notify e-mail or phone) of each order not "
                                                           "yet notified", "count": 2},
                        {"store": "OrderContactsTable", "data": "the contact (notify e-mail or phone) of each order "
                                                                "placed before contacts moved into the order",
                         "count": 0}],
            "retained": [{"store": "OrdersTable", "data": "the orders (items, totals, history) under the customer "
                                                          "id", "count": 3,
                          "reason": "the record of each sale; without their contacts they name no one but the "
                                    "pseudonymous customer id. LGPD art. 16, I (compliance with a legal or "
                                    "regulatory obligation)"}]},
        who="operators"),
    "GET /openapi.json": Operation(
        "This document", "Contract", shapes.OpenApiDocument,
        description="OpenAPI 3.1, generated from the route table and the pydantic models."),
}

# One example of an error, for the reference page: what every 4xx/5xx looks like.
ERROR_EXAMPLE = {"Code": "ValidationError", "Message": "The request body is invalid.",
                 "errors": [{"field": "items.0.quantity", "problem": "Input should be greater than or equal to 1"}]}

ERRORS: dict[int, tuple[str, str]] = {  # status -> (components/responses name, description)
    400: ("BadRequest", "The request is invalid; `errors` names each field, parameter or header at fault"),
    401: ("Unauthorized", "No valid ID token in Authorization (`Code`: Unauthorized)"),
    403: ("Forbidden", ("The token's user may not do this (`Code`: Forbidden): customers may only place and read "
                        "their own orders")),
    404: ("NotFound", "Nothing with this id or key (yet)"),
    409: ("Conflict", "The request conflicts with the resource's state"),
    413: ("PayloadTooLarge", "The body is over 64 KiB"),
    415: ("UnsupportedMediaType", "A Content-Type other than application/json"),
    422: ("IdempotencyKeyReused", ("This Idempotency-Key was used before with a different body; "
                                  "`errors` names Idempotency-Key")),
    503: ("ServiceUnavailable", "A store this request needs is down or too slow; retry shortly"),
}
