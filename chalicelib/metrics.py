"""Counts of what the flows did, written as CloudWatch Embedded Metric Format (EMF) lines on stdout.

Nothing counts outcomes otherwise: how many products were stored, orders
failed, log lines could not be parsed, records went back to their queue.
CloudWatch Logs turns each EMF line into metric data, so emitting costs no
API call and no latency: namespace `AsyncCatalog`, one dimension, `stage`
(the STAGE variable of .chalice/config.json).

Powertools Metrics serialises the lines. It costs nothing at import: the
package's `__init__`, which importing its Logger already runs, loads it
(measured: `import aws_lambda_powertools.metrics` after `import app` takes
0.1 ms; the whole package is ~24 ms of the app's ~380 ms). Its own
`Metrics` class is not used as the store: its metric set is shared by every
instance and unguarded, while locally several handlers run at once in
threads of one process, and it keeps one value per call (a batch of 100
lines would write a list of 100 ones). Counts are summed here, under a
lock, and flushed once at the end of each invocation (`per_invocation`,
a Chalice middleware for every handler) as one EMF line. (Locally, a line
may hold counts of an invocation running beside it; the sums stay right.)

The metric names are in METRICS, each with what it counts.
"""
import threading
from collections import Counter
from typing import Any, Callable

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch import AmazonCloudWatchEMFProvider

from chalicelib import correlation, settings

NAMESPACE = "AsyncCatalog"
DIMENSION = "stage"

METRICS = {
    "ColdStart": "invocations that were the first of their container",
    # Catalog
    "ProductsAccepted": "POST /products answered 202 (the product was queued)",
    "ProductsStored": "products the worker stored for the first time",
    "ProductDuplicates": "product messages whose product was already stored (redelivery, or a retried POST)",
    "ProductsFailed": "product messages whose handling raised (SQS redelivers them; the DLQ after 5)",
    "ProductsBatchItemFailures": "records process_product_queue gave back to SQS",
    # Log batches
    "LogUploadsAccepted": "uploads whose split started",
    "LogUploadsInParts": "uploads planned into byte ranges, each split by its own reader (large plain files)",
    "LogUploadDuplicates": "duplicate S3 events and continuations of a run that needed nothing",
    "LogLinesProcessed": "log lines stored and counted (a duplicate delivery is not counted again)",
    "LogLinesUnparsed": "of those, lines no known format recognised",
    "LogMessageDuplicates": "line messages the counter had counted already (redeliveries)",
    "LogMessagesFailed": "line messages that failed (malformed, unwritten or uncounted) and go back to SQS",
    "LogMessagesBatchItemFailures": "records process_log_lines gave back to SQS",
    "LogSplitBatchItemFailures": "records continue_log_split gave back to SQS",
    "LogBatchesCompleted": "log runs whose report was written",
    "LogBatchesFailed": "log runs whose splitter Lambda gave up on",
    "LogUploadsOverCap": "log uploads stopped at the stage's cap on bytes or lines (their runs end failed)",
    # Invoices
    "InvoiceUploadsAccepted": "uploads whose ingest started",
    "InvoiceUploadDuplicates": "duplicate S3 events and continuations of a run that needed nothing",
    "InvoiceUploadsCompleted": "uploads read to their end (report written)",
    "InvoiceUploadsFailed": "uploads that could not be read, or whose ingester Lambda gave up on",
    "InvoiceRowsAccepted": "valid rows of finished uploads",
    "InvoiceRowsRejected": "rejected rows of finished uploads",
    "InvoiceIngestBatchItemFailures": "records continue_invoice_ingest gave back to SQS",
    # Orders
    "OrdersAccepted": "POST /orders that stored a new order",
    "OrderRequestDuplicates": "POST /orders replayed with an Idempotency-Key already used",
    "OrdersCompleted": "orders moved to COMPLETED",
    "OrdersFailed": "orders moved to FAILED (unknown products, given up, or stuck)",
    "OrdersNotified": "COMPLETED notifications published to SNS",
    "OrderMessageDuplicates": "order messages that found nothing left to do, or the notification taken",
    "OrdersRequeued": "orders the sweep sent to the queue again",
    "OrdersBatchItemFailures": "records process_orders gave back to SQS",
    # Uploads their reader gave up on
    "UploadFailuresBatchItemFailures": "records record_upload_failure gave back to SQS",
}

_lock = threading.Lock()
_counts: Counter = Counter()
_cold = True


def count(name: str, value: int = 1) -> None:
    """Add `value` to a count of this invocation (zero too: a metric at 0 is data, not a gap)."""
    with _lock:
        _counts[name] += value


def stage() -> str:
    return settings.stage_name()


def _provider(counts: dict[str, int]) -> AmazonCloudWatchEMFProvider:
    # service="": Powertools would add POWERTOOLS_SERVICE_NAME as a second dimension.
    provider = AmazonCloudWatchEMFProvider(namespace=NAMESPACE, service="", metric_set={}, dimension_set={},
                                           default_dimensions={DIMENSION: stage()})
    for name, value in sorted(counts.items()):
        provider.add_metric(name=name, unit=MetricUnit.Count, value=value)
    return provider


def take() -> dict[str, int]:
    """The counts so far, forgotten here."""
    with _lock:
        counts = dict(_counts)
        _counts.clear()
    return counts


def flush() -> None:
    """Print the counts so far as one EMF line (nothing when there are none)."""
    counts = take()
    if counts:
        _provider(counts).flush_metrics()  # prints, unless POWERTOOLS_METRICS_DISABLED says not to


def cold_start() -> None:
    global _cold
    with _lock:
        if _cold:
            _cold = False
            _counts["ColdStart"] += 1


def per_invocation(event: Any, get_response: Callable[[Any], Any]) -> Any:
    """Chalice middleware for every handler: a cold start counted, no correlation id left over from
    an earlier invocation on this thread, and the invocation's counts flushed at its end, failed or not."""
    cold_start()
    try:
        with correlation.bind(None):
            return get_response(event)
    finally:
        flush()
