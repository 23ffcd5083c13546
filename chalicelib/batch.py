"""Partial batch responses for SQS-triggered handlers.

The ids of the records that failed are returned as `batchItemFailures`, so SQS
deletes the rest and redelivers only those (and, after maxReceiveCount, moves
them to the dead-letter queue).

If every record failed, the handler raises instead: Lambda then retries the
whole batch, and nothing is acknowledged even where ReportBatchItemFailures
was not switched on. (Powertools' BatchProcessor does the same; it is not used
because importing it costs ~190 ms of cold start and the log worker needs
whole-batch handling anyway.)
"""
from dataclasses import dataclass
from typing import Any, Callable, Iterable

from chalicelib.logs import logger


class BatchFailed(Exception):
    """Every record of the batch failed; SQS will redeliver all of them."""


@dataclass(frozen=True)
class Received:
    """One SQS record as a handler needs it: how many times SQS has delivered it tells the last attempt."""
    message_id: str
    body: str
    receive_count: int


def sqs_messages(records: Iterable[Any]) -> list[tuple[str, str]]:
    """(messageId, body) of each record of a Chalice SQS event."""
    return [(record.to_dict()["messageId"], record.body) for record in records]


def batch_response(message_ids: list[str], failed_ids: list[str]) -> dict:
    failed = set(failed_ids)
    if message_ids and failed >= set(message_ids):
        raise BatchFailed(f"all {len(message_ids)} records of the batch failed")
    return {"batchItemFailures": [{"itemIdentifier": i} for i in message_ids if i in failed]}


def process_batch(records: Iterable[Any], handle_batch: Callable[[list[tuple[str, str]]], list[str]]) -> dict:
    """Hand the whole batch to `handle_batch`, which returns the ids that failed."""
    received = sqs_messages(records)
    return batch_response([i for i, _ in received], handle_batch(received))


def report_each_failure(records: Iterable[Any], handle: Callable[[Received], Any]) -> dict:
    """Handle each record on its own; a record that raises fails alone."""
    received = [Received(r.to_dict()["messageId"], r.body,
                         int(r.to_dict().get("attributes", {}).get("ApproximateReceiveCount", 1)))
                for r in records]
    failed = []
    for message in received:
        try:
            handle(message)
        except Exception:
            logger.exception("record failed; SQS will redeliver it", message_id=message.message_id,
                             receive_count=message.receive_count)
            failed.append(message.message_id)
    return batch_response([m.message_id for m in received], failed)


def report_batch_failures(records: Iterable[Any], handle_body: Callable[[str], Any]) -> dict:
    """Handle each record's body on its own; a record that raises fails alone."""
    return report_each_failure(records, lambda message: handle_body(message.body))
