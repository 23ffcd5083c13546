"""The invoice flow's services as the app uses them, built once per container from the stage's settings.

The ingester and the reader are their own modules; this only wires them, and
keeps the names app.py, the local console and the benchmarks import.
"""
from functools import lru_cache

from chalicelib import settings
from chalicelib.adapters.queues import MessageQueue
from chalicelib.adapters.reports import ReportStore
from chalicelib.invoices.ingester import (REPORT_PROBLEMS_SHOWN, STATUS_PROBLEMS_SHOWN,  # noqa: F401  (re-exported)
                                          WRITE_CHUNK_ROWS, InvoiceIngester, RowBatch, StagePolicy, report_key_for,
                                          upload_status, upload_summary)
from chalicelib.invoices.reader import InvoiceReader, ambiguity, parse_iso_date, present  # noqa: F401  (re-exported)
from chalicelib.invoices.repository import InvoiceRepository, InvoiceRunRepository


@lru_cache(maxsize=None)
def invoice_ingester() -> InvoiceIngester:
    return InvoiceIngester(InvoiceRunRepository(settings.invoice_uploads_table()),
                           InvoiceRepository(settings.invoices_table()), MessageQueue(settings.invoice_ingest_queue()),
                           ReportStore(settings.reports_bucket()), settings.invoice_ingest_time_budget(),
                           StagePolicy.from_settings())


@lru_cache(maxsize=None)
def invoice_reader() -> InvoiceReader:
    return InvoiceReader(InvoiceRepository(settings.invoices_table()))


def invoice_upload_status(key: str | None) -> dict:
    return upload_status(invoice_ingester().runs, key, settings.reports_bucket())


def reset() -> None:
    for cached in (invoice_ingester, invoice_reader):
        cached.cache_clear()
