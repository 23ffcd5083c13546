"""The stage's settings, read from the environment that `.chalice/config.json` sets per stage: the one place
the app reads it.

Each reader is read when first needed, not at import, so a test or a tool can
set the environment after importing the app. `Settings` is all of them at
once, frozen: what chalicelib/bootstrap.py builds the services from (and
reads again after its `reset()`).
"""
import os
from dataclasses import dataclass, fields
from typing import overload


class MissingSetting(RuntimeError):
    pass


def setting(name: str, default: str | None = None) -> str:
    value = os.environ.get(name, default)
    if value is None or value == "":
        raise MissingSetting(
            f"environment variable {name} is not set; it comes from .chalice/config.json"
        )
    return value


@overload
def environment(name: str) -> str | None: ...
@overload
def environment(name: str, default: str) -> str: ...
def environment(name: str, default: str | None = None) -> str | None:
    """A variable that may be unset or empty, as is (the product database's, which their reader interprets)."""
    return os.environ.get(name, default)


def stage_name() -> str:
    """The stage (dev, prod): the dimension of every metric. "unknown" outside a deployed or local stage."""
    return os.environ.get("STAGE") or "unknown"


def product_store() -> str:
    """PRODUCT_STORE, which store holds the products: dynamodb (the default) or postgres (checked by its user)."""
    return os.environ.get("PRODUCT_STORE") or "dynamodb"


def product_queue() -> str:
    return setting("PRODUCT_QUEUE_NAME")


def product_table() -> str:
    return setting("PRODUCT_TABLE_NAME")


def reports_bucket() -> str:
    return setting("REPORTS_BUCKET_NAME")


def input_logs_bucket() -> str:
    return setting("INPUT_LOGS_BUCKET_NAME")


def processed_data_bucket() -> str:
    return setting("PROCESSED_DATA_BUCKET_NAME")


def upload_failures_queue() -> str:
    """Where Lambda sends the S3 events it gave up on (the upload readers' on-failure destination)."""
    return setting("UPLOAD_FAILURES_QUEUE_NAME")


def log_queue() -> str:
    return setting("LOG_QUEUE_NAME")


def log_split_queue() -> str:
    return setting("LOG_SPLIT_QUEUE_NAME")


def processed_logs_table() -> str:
    return setting("PROCESSED_LOGS_TABLE_NAME")


def log_batches_table() -> str:
    return setting("LOG_BATCHES_TABLE_NAME")


def log_lines_per_message() -> int:
    return int(setting("LOG_LINES_PER_MESSAGE", "1"))


def log_lines_per_item() -> int:
    """Log lines packed into one ProcessedLogsTable item (chalicelib/logbatch/records.py), fixed for a run when its
    split starts; 1 is one item per line, the layout before issue 22. 5 by default: the benchmark's lines (67 bytes
    on average) make items of at most 1,004 bytes, 1 write unit for 5 lines (docs/log-batches.md). 1 to 50."""
    return min(50, max(1, int(setting("LOG_LINES_PER_ITEM", "5"))))


def log_split_time_budget() -> float | None:
    """Seconds one splitter invocation may spend before handing over (tests force a tiny one)."""
    value = os.environ.get("LOG_SPLIT_TIME_BUDGET_SECONDS")
    return float(value) if value else None


def invoices_bucket() -> str:
    return setting("INVOICES_BUCKET_NAME")


def invoice_ingest_queue() -> str:
    return setting("INVOICE_INGEST_QUEUE_NAME")


def invoices_table() -> str:
    return setting("INVOICES_TABLE_NAME")


def invoice_uploads_table() -> str:
    return setting("INVOICE_UPLOADS_TABLE_NAME")


def invoice_ingest_time_budget() -> float | None:
    """Seconds one ingest invocation may spend before handing over (tests force a tiny one)."""
    value = os.environ.get("INVOICE_INGEST_TIME_BUDGET_SECONDS")
    return float(value) if value else None


def orders_queue() -> str:
    return setting("ORDERS_QUEUE_NAME")


def orders_table() -> str:
    return setting("ORDERS_TABLE_NAME")


def order_notifications_topic() -> str:
    return setting("ORDER_NOTIFICATIONS_TOPIC_NAME")


def order_notifications_topic_arn() -> str | None:
    """Set by the CloudFormation template (the topic's Ref); unset locally, where the ARN is built."""
    return os.environ.get("ORDER_NOTIFICATIONS_TOPIC_ARN") or None


def orders_requeue_after_seconds() -> float:
    """How long an order may wait in RECEIVED (or unnotified in COMPLETED) before the sweep re-queues it."""
    return float(os.environ.get("ORDERS_REQUEUE_AFTER_SECONDS", "60"))


def orders_stuck_after_seconds() -> float:
    """How long an order may stay PROCESSING: the queue's visibility (180 s) × 5 receives, then it is FAILED."""
    return float(os.environ.get("ORDERS_STUCK_AFTER_SECONDS", "900"))


def user_pool_id() -> str:
    """The Cognito user pool whose ID tokens the API accepts: the template's Ref, or the local runtime's pool."""
    return setting("COGNITO_USER_POOL_ID")


def user_pool_client_id() -> str:
    """The pool's app client: a token issued to another client is refused (its `aud`)."""
    return setting("COGNITO_APP_CLIENT_ID")


def user_pool_issuer() -> str:
    """Cognito's issuer for the pool; the region is the pool id's prefix (`us-east-1_abc`)."""
    pool = user_pool_id()
    return f"https://cognito-idp.{pool.split('_', 1)[0]}.amazonaws.com/{pool}"


def user_pool_jwks_url() -> str:
    """Where the pool's signing keys are published: on the emulator's endpoint locally, as boto3 finds it."""
    endpoint = os.environ.get("AWS_ENDPOINT_URL_COGNITO_IDP") or os.environ.get("AWS_ENDPOINT_URL")
    if endpoint:
        return f"{endpoint.rstrip('/')}/{user_pool_id()}/.well-known/jwks.json"
    return f"{user_pool_issuer()}/.well-known/jwks.json"


def authorizer_cache_seconds() -> int:
    """How long API Gateway may reuse the authorizer's answer for one token (read when app.py is imported).

    0 by default: a cached answer outlives the token's expiry by up to this long, and an expired token must
    be refused. A stage may trade that for fewer authorizer invocations.
    """
    return int(setting("AUTHORIZER_CACHE_SECONDS", "0"))


def idempotency_keys_table() -> str:
    return setting("IDEMPOTENCY_KEYS_TABLE_NAME")


def idempotency_key_hours() -> int:
    """How long a caller's Idempotency-Key names its resource and remembers its body (Stripe keeps 24 h)."""
    return int(setting("IDEMPOTENCY_KEY_HOURS", "24"))


def orders_max_receive_count() -> int:
    """The orders queue's maxReceiveCount: the worker marks an order FAILED on its last attempt."""
    return int(setting("ORDERS_MAX_RECEIVE_COUNT", "5"))


def invoice_default_issuer() -> str | None:
    """The CNPJ of the stage's own company: the issuer of an invoice row that names none. Unset or empty:
    no default, and such rows are rejected (better than filing them under a made-up issuer)."""
    return os.environ.get("INVOICE_DEFAULT_ISSUER") or None


def invoice_retention_years() -> int:
    """Whole years an invoice is kept after the end of its issue year, then expired by DynamoDB's TTL
    (default 5, the least Brazil's tax code allows; chalicelib/invoices/ingester.py refuses fewer)."""
    return int(setting("INVOICE_RETENTION_YEARS", "5"))


def log_split_part_bytes() -> int:
    """A plain log upload larger than this is split by several readers at once, one per byte range of about this
    size (docs/log-batches.md, "Large files"). 64 MiB by default: about 1 M lines, two minutes of one splitter at a
    full vCPU, so a 1 GiB file is 16 ranges. A `.gz` is always read by one (a gzip stream has no byte entry points)."""
    return int(setting("LOG_SPLIT_PART_BYTES", str(64 << 20)))


def log_split_max_parts() -> int:
    """At most this many byte ranges per upload (and at least 1: one reader, as for a small file). 16 by default;
    64 at most, the room the counting keys leave (chalicelib/logbatch/repository.py CHUNKS_PER_PART)."""
    return min(64, max(1, int(setting("LOG_SPLIT_MAX_PARTS", "16"))))


def log_formats() -> str | None:
    """The stage's user-defined log formats: JSON (docs/log-formats.md), from LOG_FORMATS in the stage's
    environment_variables in .chalice/config.json. Unset or empty: none, only the built-in formats."""
    return os.environ.get("LOG_FORMATS") or None


# --- Bounds on log and invoice uploads and on what is kept of them (docs/log-batches.md) ---------------

def upload_max_bytes() -> int:
    """Decompressed bytes of one upload (log or invoice) a stage reads; past them it ends `failed`.
    1 GiB by default: a `.gz` expands 10 to 1000 times, and what it expands to is what the queue and tables pay."""
    return int(setting("UPLOAD_MAX_BYTES", str(1 << 30)))


def upload_max_lines() -> int:
    """Lines of one upload a stage reads (blank ones too); past them it ends `failed`. 2,000,000 by default:
    about $1.60 of queue, Lambda and table work at the measured $0.67-0.80 per million log lines."""
    return int(setting("UPLOAD_MAX_LINES", "2000000"))


def log_records_retention_days() -> int:
    """Days ProcessedLogsTable keeps a log line (its raw text may hold client IPs) and a batch's problem-line
    index: DynamoDB's TTL deletes them after that, counted from the run's start. 90 by default."""
    return int(setting("LOG_RECORDS_RETENTION_DAYS", "90"))


# --- Personal data in orders (docs/personal-data.md) ----------------------------------------------------

def order_contacts_table() -> str:
    """OrderContactsTable: the contacts of orders placed before they moved into the order (orders/contacts.py)."""
    return setting("ORDER_CONTACTS_TABLE_NAME")


def order_contact_retention_days() -> int:
    """Days OrderContactsTable keeps a contact (orders placed before contacts moved into the order), counted
    from the order's placement; then DynamoDB's TTL deletes it. 30 by default, at least 1. A contact on the
    order item is kept until the notification is recorded or the order fails instead (docs/orders.md)."""
    return int(setting("ORDER_CONTACT_RETENTION_DAYS", "30"))


@dataclass(frozen=True)
class Settings:
    """Every setting a service is built from, read once (by `from_environment`) and then fixed."""
    product_store: str
    product_queue: str
    product_table: str
    reports_bucket: str
    input_logs_bucket: str
    processed_data_bucket: str
    log_queue: str
    log_split_queue: str
    processed_logs_table: str
    log_batches_table: str
    log_lines_per_message: int
    log_lines_per_item: int
    log_split_time_budget: float | None
    log_split_part_bytes: int
    log_split_max_parts: int
    log_records_retention_days: int
    log_formats: str | None
    invoices_bucket: str
    invoice_ingest_queue: str
    invoices_table: str
    invoice_uploads_table: str
    invoice_ingest_time_budget: float | None
    invoice_default_issuer: str | None
    invoice_retention_years: int
    orders_queue: str
    orders_table: str
    order_notifications_topic: str
    order_notifications_topic_arn: str | None
    orders_max_receive_count: int
    orders_requeue_after_seconds: float
    orders_stuck_after_seconds: float
    order_contacts_table: str
    order_contact_retention_days: int
    idempotency_keys_table: str
    idempotency_key_hours: int
    # Not the user pool's: the local runtime and the tests create the pool after importing the app, so the token
    # verifier reads them when it is built (chalicelib/bootstrap.py).

    @classmethod
    def from_environment(cls) -> "Settings":
        """Each field from the reader of the same name above; MissingSetting for a required one unset."""
        readers = globals()
        return cls(**{f.name: readers[f.name]() for f in fields(cls)})
