"""Partial batch responses for SQS-triggered handlers.

Each record is handled on its own; the ids of the records that raised are
returned as `batchItemFailures`, so SQS deletes the rest and redelivers only
those (and, after maxReceiveCount, moves them to the dead-letter queue).

If every record failed, the handler raises instead: Lambda then retries the
whole batch, and nothing is acknowledged even where ReportBatchItemFailures
was not switched on. (Powertools' BatchProcessor does the same; it is not used
because importing it costs ~190 ms of cold start and the log worker needs
whole-batch handling anyway.)
"""
from typing import Any, Callable, Iterable

from chalicelib.logs import logger


class BatchFailed(Exception):
    """Every record of the batch failed; SQS will redeliver all of them."""


def message_id(record: Any) -> str:
    return record.to_dict()["messageId"]


def report_batch_failures(records: Iterable[Any], handle_body: Callable[[str], Any]) -> dict:
    records = list(records)
    failures = []
    for record in records:
        try:
            handle_body(record.body)
        except Exception:
            logger.exception("record failed; SQS will redeliver it", message_id=message_id(record))
            failures.append({"itemIdentifier": message_id(record)})
    if records and len(failures) == len(records):
        raise BatchFailed(f"all {len(records)} records of the batch failed")
    return {"batchItemFailures": failures}
