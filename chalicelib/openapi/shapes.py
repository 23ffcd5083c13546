"""What the API answers, as pydantic models: the contract's response schemas.

The request bodies already have models (NewProduct, NewOrder); the answers
are plain dicts built by each service's `present`/`summary` function. These
models describe those dicts for the OpenAPI document only: nothing validates
an answer against them at run time. They are kept true from outside: the
contract tests push real data through every flow and validate each answer
against the generated document, and Schemathesis does the same against the
running system. `extra="forbid"` (additionalProperties: false) is on purpose:
a field a service starts answering without the contract saying so fails
those tests instead of drifting silently.
"""
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import SkipJsonSchema

# Optional fields are absent, never null, in these answers: `X | SkipJsonSchema[None] = None` documents
# "may be missing" without also documenting a null the services never send.
Money = Annotated[str, Field(pattern=r"^-?[0-9]+\.[0-9]{2}$", examples=["19.90"],
                             description="Exact decimal string with two places (never a binary float)")]
Timestamp = Annotated[str, Field(description="ISO 8601, UTC", examples=["2026-11-23T08:25:44.515Z"])]
Cursor = Annotated[str | None, Field(description="Pass back as `next` for the following page; null on the last page")]


class _Answer(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ErrorItem(_Answer):
    field: str = Field(description="The field, parameter or header at fault (`items.0.quantity`, `limit`, `body`)")
    problem: str


class Error(_Answer):
    """Every 4xx and 5xx answer of the app (chalicelib/http.py error_response, and Chalice's own 405/415/500)."""
    Code: str = Field(examples=["ValidationError"])
    Message: str
    errors: list[ErrorItem] | SkipJsonSchema[None] = Field(
        default=None, description="One entry per problem; absent when there is nothing to name")


class ReportLocation(_Answer):
    bucket: str
    key: str


# --- Catalog -------------------------------------------------------------------------------------------

class ProductAccepted(_Answer):
    id: str = Field(description="The product's id (a UUID; derived from Idempotency-Key when one is sent)")
    status: Literal["PENDING"]


class Product(_Answer):
    id: str
    name: str
    price: Money
    description: str | SkipJsonSchema[None] = None
    sku: str | SkipJsonSchema[None] = None
    category: str | SkipJsonSchema[None] = None
    stock: int | SkipJsonSchema[None] = None
    created_at: Timestamp
    stored_at: Timestamp
    report: ReportLocation = Field(description="The product's plain-text report in the reports bucket")


class ProductPage(_Answer):
    items: list[Product]
    next: Cursor


# --- Log batches ---------------------------------------------------------------------------------------

LogStatus = Literal["splitting", "processing", "completed", "failed", "superseded"]


class UnparsedLine(_Answer):
    line: int
    text: str
    clipped: bool | SkipJsonSchema[None] = None


class LogReport(_Answer):
    """The completion report (also written to the processed-data bucket)."""
    status: str = Field(examples=["Completo"], description="`Completo`, or `failed` for a run stopped at a cap")
    batch_id: str
    source: str
    run_id: str
    total_items: int | None = Field(description="null when a cap stopped the run: the file's total is unknown")
    processed_items: int
    unparsed_items: int
    truncated_items: int
    blank_lines: int
    header_lines: int
    by_level: dict[str, int]
    by_status: dict[str, int]
    by_format: dict[str, int] | SkipJsonSchema[None] = None
    unparsed_lines: list[UnparsedLine] | SkipJsonSchema[None] = Field(
        default=None, description="The first few lines no format recognised")
    started_at: Timestamp
    completed_at: Timestamp
    duration_seconds: float
    unreadable: dict[str, str] | SkipJsonSchema[None] = None
    complete: bool | SkipJsonSchema[None] = None
    read_items: int | SkipJsonSchema[None] = None
    failure_reason: str | SkipJsonSchema[None] = None


class LogReportLocation(ReportLocation):
    content: LogReport


class LogBatch(_Answer):
    batch_id: str
    run_id: str
    source: str = Field(examples=["s3://input-logs/demo/app.log"])
    status: LogStatus
    started_at: Timestamp
    lines_split: int
    total_items: int | None = Field(description="Known once the splitter is done")
    processed_items: int
    progress: float | None = Field(ge=0, le=1)
    unreadable: dict[str, str] | SkipJsonSchema[None] = None
    failure_reason: str | SkipJsonSchema[None] = None
    complete: bool | SkipJsonSchema[None] = Field(default=None, description="false when a cap stopped the run")
    read_items: int | SkipJsonSchema[None] = Field(default=None, description="Lines read before a cap stopped it")
    parts: int | SkipJsonSchema[None] = Field(default=None, description=(
        "How many readers split a large upload at once (byte ranges); absent when one reader did"))
    parts_split: int | SkipJsonSchema[None] = Field(default=None, description="Of those, how many have finished")
    report: LogReportLocation | SkipJsonSchema[None] = None


class LogLine(_Answer):
    line: int
    format: str
    timestamp: str | SkipJsonSchema[None] = None
    level: str | SkipJsonSchema[None] = None
    status_code: int | SkipJsonSchema[None] = None
    component: str | SkipJsonSchema[None] = None
    message: str | SkipJsonSchema[None] = None
    method: str | SkipJsonSchema[None] = None
    path: str | SkipJsonSchema[None] = None
    bytes_sent: int | SkipJsonSchema[None] = None
    client: str | SkipJsonSchema[None] = None
    details: dict[str, object] | SkipJsonSchema[None] = Field(
        default=None, description="What only this line's format has (host, pid, logger, user_agent...)")
    raw: str
    truncated: bool | SkipJsonSchema[None] = None


class LogLinePage(_Answer):
    items: list[LogLine]
    next: Cursor


# --- Invoices ------------------------------------------------------------------------------------------

class UploadProblem(_Answer):
    row: int
    field: str
    problem: str


class InvoiceUpload(_Answer):
    key: str
    source: str
    run_id: str
    status: Literal["processing", "completed", "failed", "superseded"]
    rows: int
    accepted: int
    rejected: int
    superseded: int
    total_amount: Money
    errors: list[UploadProblem] = Field(description="The first 100 problems in file order")
    errors_not_shown: int
    started_at: Timestamp
    completed_at: Timestamp | None
    duration_seconds: float | None
    failure_reason: str | SkipJsonSchema[None] = None
    report: ReportLocation | SkipJsonSchema[None] = None


class InvoiceSource(_Answer):
    bucket: str
    key: str
    row: int


class Invoice(_Answer):
    number: str
    issuer: str = Field(description="The issuer's CNPJ (14 characters, no punctuation)", examples=["11222333000181"])
    series: str = Field(description="Upper-case letters and digits; all-digit series without leading zeros",
                        examples=["1"])
    customer: str
    amount: Money
    issue_date: str = Field(description="ISO date", examples=["2025-10-15"])
    customer_document: str | SkipJsonSchema[None] = Field(
        default=None, description="CPF or CNPJ: masked in lists (`***.982.247-**`), in full for operators' "
                                  "GET /invoices/{number}")
    description: str | SkipJsonSchema[None] = None
    source: InvoiceSource
    ingested_at: Timestamp


class InvoicePage(_Answer):
    items: list[Invoice]
    next: Cursor


# --- Orders --------------------------------------------------------------------------------------------

OrderStatus = Literal["RECEIVED", "PROCESSING", "COMPLETED", "FAILED"]


class OrderAccepted(_Answer):
    orderId: str
    status: OrderStatus = Field(description="RECEIVED, or where an earlier request with the same key got to")


class OrderLine(_Answer):
    productId: str
    quantity: int
    unitPrice: Money | None = Field(description="null until the worker prices it from the catalog")


class OrderEvent(_Answer):
    status: OrderStatus
    at: Timestamp
    reason: str | SkipJsonSchema[None] = None


class Order(_Answer):
    orderId: str
    customerId: str
    status: OrderStatus
    createdAt: Timestamp
    updatedAt: Timestamp
    items: list[OrderLine]
    total: Money | None = Field(description="null while some item has no price yet")
    history: list[OrderEvent]
    notify: str | SkipJsonSchema[None] = Field(
        default=None, description="The order's contact, kept only until its notification is sent: shown by "
                                  "GET /orders/{order_id} only (never in a listing) until the order is notified "
                                  "or FAILED, absent afterwards")
    failureReason: str | SkipJsonSchema[None] = None


class OrderPage(_Answer):
    items: list[Order]
    next: Cursor


# --- Personal data -------------------------------------------------------------------------------------

class RemovedData(_Answer):
    store: str = Field(examples=["OrdersTable"])
    data: str = Field(description="What kind of personal data")
    count: int = Field(description="How many items were removed (0 when there was nothing, or on a repeat)")


class RetainedData(_Answer):
    store: str = Field(examples=["InvoicesTable"])
    data: str
    count: int | SkipJsonSchema[None] = Field(default=None, description="Absent where the store is not looked "
                                                                       "up by the customer id")
    reason: str = Field(description="Why it is kept (its purpose or legal obligation), and for how long")


class PersonalDataErasure(_Answer):
    customerId: str
    removed: list[RemovedData]
    retained: list[RetainedData]


class OpenApiDocument(BaseModel):
    """This document (GET /openapi.json)."""
    model_config = ConfigDict(extra="allow")

    openapi: str
    info: dict
    paths: dict
