"""Where the app's services are built: each from one frozen Settings, with its repositories, queues and stores.

The flows' modules build nothing themselves. app.py takes its services from
here, and so do the tests and tools: they build the very graph the app runs,
and drop it with `reset()` when they change the environment or the AWS
endpoint. Each getter builds once per container (a Lambda container serves
many invocations; its clients and the user pool's keys are worth keeping),
and no flow has to import another to reach its service (upload failures ask
the readers registered here). After cosmicpython's bootstrap.py.
"""
from functools import lru_cache
from typing import Any

from chalicelib import settings as stage
from chalicelib.adapters.queues import MessageQueue
from chalicelib.adapters.reports import ReportStore
from chalicelib.catalog.service import CatalogService
from chalicelib.catalog.stores import product_repository
from chalicelib.idempotency import IdempotencyKeys
from chalicelib.identity import TokenVerifier
from chalicelib.invoices.ingester import InvoiceIngester, StagePolicy, upload_status
from chalicelib.invoices.reader import InvoiceReader
from chalicelib.invoices.repository import InvoiceRepository, InvoiceRunRepository
from chalicelib.logbatch.completion import BatchCompletion
from chalicelib.logbatch.parsing import LogFormats, load_formats
from chalicelib.logbatch.queries import batch_status, problem_lines
from chalicelib.logbatch.records import LogRecords
from chalicelib.logbatch.repository import LogRunRepository
from chalicelib.logbatch.splitter import LogSplitter
from chalicelib.logbatch.worker import LogWorker
from chalicelib.orders.contacts import OrderContacts
from chalicelib.orders.notifications import OrderNotifier
from chalicelib.orders.repository import OrderRepository
from chalicelib.orders.service import OrderService, OrderSweeper, OrderWorker
from chalicelib.privacy import CustomerErasure
from chalicelib.settings import Settings
from chalicelib.uploadfailures import UploadFailures

_built: list[Any] = []  # every cached getter below, for reset()


def built_once(getter):
    """Build on first use, then keep (until reset())."""
    cached = lru_cache(maxsize=None)(getter)
    _built.append(cached)
    return cached


@built_once
def settings() -> Settings:
    return Settings.from_environment()


def reset_services() -> None:
    """Forget every service and the settings they were built from (tests change both between cases), but not
    the token verifier: the tests' verifier fetches the moto pool's keys its own way (tests/conftest.py)."""
    for cached in _built:
        cached.cache_clear()


def reset() -> None:
    """Forget everything built here, the token verifier too (a new pool, a new endpoint)."""
    reset_services()
    token_verifier.cache_clear()


# --- shared -------------------------------------------------------------------------

@built_once
def idempotency_keys() -> IdempotencyKeys:
    return IdempotencyKeys(settings().idempotency_keys_table, settings().idempotency_key_hours)


@lru_cache(maxsize=None)
def token_verifier() -> TokenVerifier:
    """The stage's pool and client; one per container, so its keys are fetched once. Read from the settings'
    readers, not the frozen Settings: the local runtime and the tests create the pool after the app is imported."""
    return TokenVerifier(stage.user_pool_issuer(), stage.user_pool_client_id(), stage.user_pool_jwks_url())


# --- catalog ------------------------------------------------------------------------

@built_once
def catalog() -> CatalogService:
    return CatalogService(
        products=product_repository(),  # DynamoDB or PostgreSQL, as the stage's PRODUCT_STORE says
        queue=MessageQueue(settings().product_queue),
        reports=ReportStore(settings().reports_bucket),
        keys=idempotency_keys(),
    )


# --- log batches --------------------------------------------------------------------

@built_once
def log_formats() -> LogFormats:
    """The stage's user-defined formats (LOG_FORMATS), compiled once; BadLogFormat for a bad one."""
    return load_formats(settings().log_formats)


@built_once
def log_runs() -> LogRunRepository:
    return LogRunRepository(settings().log_batches_table,
                            problem_lines_ttl_seconds=settings().log_records_retention_days * 24 * 3600)


@built_once
def log_records() -> LogRecords:
    return LogRecords(settings().processed_logs_table)


@built_once
def log_completion() -> BatchCompletion:
    return BatchCompletion(log_runs(), ReportStore(settings().processed_data_bucket), log_records())


@built_once
def log_splitter() -> LogSplitter:
    return LogSplitter(log_runs(), MessageQueue(settings().log_queue), MessageQueue(settings().log_split_queue),
                       log_completion(), settings().log_lines_per_message, settings().log_split_time_budget,
                       part_bytes=settings().log_split_part_bytes, max_parts=settings().log_split_max_parts,
                       lines_per_item=settings().log_lines_per_item)


@built_once
def log_worker() -> LogWorker:
    log_formats()  # a bad LOG_FORMATS stops the worker here, when it starts, naming the format
    return LogWorker(log_records(), log_runs(), log_completion())


def log_batch_status(batch_id: str | None) -> dict:
    return batch_status(batch_id, log_runs(), settings().processed_data_bucket)


def log_batch_problem_lines(params: dict[str, str]) -> dict:
    return problem_lines(params.get("key"), params.get("level"), params.get("status"), params.get("limit"),
                         params.get("next"), log_runs(), log_records())


# --- invoices -----------------------------------------------------------------------

@built_once
def invoice_runs() -> InvoiceRunRepository:
    return InvoiceRunRepository(settings().invoice_uploads_table)


@built_once
def invoice_ingester() -> InvoiceIngester:
    return InvoiceIngester(invoice_runs(), InvoiceRepository(settings().invoices_table),
                           MessageQueue(settings().invoice_ingest_queue), ReportStore(settings().reports_bucket),
                           settings().invoice_ingest_time_budget,
                           StagePolicy.of(settings().invoice_default_issuer, settings().invoice_retention_years))


@built_once
def invoice_reader() -> InvoiceReader:
    return InvoiceReader(InvoiceRepository(settings().invoices_table))


def invoice_upload_status(key: str | None) -> dict:
    return upload_status(invoice_runs(), key, settings().reports_bucket)


# --- orders ---------------------------------------------------------------------------

@built_once
def order_repository() -> OrderRepository:
    return OrderRepository(settings().orders_table)


@built_once
def orders_queue() -> MessageQueue:
    return MessageQueue(settings().orders_queue)


@built_once
def order_contacts() -> OrderContacts:
    return OrderContacts(settings().order_contacts_table, settings().order_contact_retention_days)


@built_once
def orders() -> OrderService:
    return OrderService(order_repository(), orders_queue(), idempotency_keys(), contacts=order_contacts())


@built_once
def order_worker() -> OrderWorker:
    return OrderWorker(order_repository(), product_repository(),
                       OrderNotifier(settings().order_notifications_topic, settings().order_notifications_topic_arn),
                       settings().orders_max_receive_count, contacts=order_contacts())


@built_once
def order_sweeper() -> OrderSweeper:
    return OrderSweeper(order_repository(), orders_queue())


@built_once
def customer_erasure() -> CustomerErasure:
    return CustomerErasure(order_contacts(), order_repository(), settings().invoice_retention_years,
                           settings().idempotency_key_hours)


# --- uploads their reader gave up on ------------------------------------------------

def upload_failures() -> UploadFailures:
    """The upload readers, by the bucket whose uploads they read."""
    return UploadFailures({settings().input_logs_bucket: log_splitter(),
                           settings().invoices_bucket: invoice_ingester()})
