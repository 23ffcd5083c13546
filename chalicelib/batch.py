"""Partial batch responses for SQS-triggered handlers.

The ids of the records that failed are returned as `batchItemFailures`, so SQS
deletes the rest and redelivers only those (and, after maxReceiveCount, moves
them to the dead-letter queue).

If every record failed, the handler raises instead: Lambda then retries the
whole batch, and nothing is acknowledged even where ReportBatchItemFailures
was not switched on. (Powertools' BatchProcessor does the same; it is not used
because importing it costs ~190 ms of cold start and the log worker needs
whole-batch handling anyway.)

Each record is handled under the correlation id it carries (its
`correlation_id` message attribute, else its messageId), so the log lines and
whatever it sends on carry that id; and the count of records given back to
SQS is the metric `<flow>BatchItemFailures`.

Three ways to hand a batch over, named for what the handler is given:
`handle_whole_batch` (every record at once; the handler says which failed),
`handle_each_record` (one `Received` at a time) and `handle_each_body` (one
message body at a time).
"""
from dataclasses import dataclass
from typing import Any, Callable, Iterable

from chalicelib import correlation, metrics
from chalicelib.logs import logger


class BatchFailed(Exception):
    """Every record of the batch failed; SQS will redeliver all of them."""


@dataclass(frozen=True)
class Received:
    """One SQS record as a handler needs it: how many times SQS has delivered it tells the last attempt;
    the correlation id it carries, or its messageId when it carries none."""
    message_id: str
    body: str
    receive_count: int
    correlation_id: str | None = None


def received(record: Any) -> Received:
    """One record of a Chalice SQS event."""
    raw = record.to_dict()
    return Received(raw["messageId"], record.body, int(raw.get("attributes", {}).get("ApproximateReceiveCount", 1)),
                    correlation.of_sqs_record(raw) or raw["messageId"])


def batch_response(message_ids: list[str], failed_ids: list[str], flow: str | None = None) -> dict:
    failed = set(failed_ids)
    if message_ids and failed >= set(message_ids):
        if flow:  # every record goes back to the queue, though none is named
            metrics.count(f"{flow}BatchItemFailures", len(message_ids))
        raise BatchFailed(f"all {len(message_ids)} records of the batch failed")
    response = {"batchItemFailures": [{"itemIdentifier": i} for i in message_ids if i in failed]}
    if flow:
        metrics.count(f"{flow}BatchItemFailures", len(response["batchItemFailures"]))
    return response


def handle_whole_batch(records: Iterable[Any], handle_batch: Callable[[list[tuple[str, str]]], list[str]],
                  flow: str | None = None) -> dict:
    """Hand the whole batch to `handle_batch`, which returns the ids that failed.

    The batch is handled under its records' correlation id when they share
    one (the log worker's usually do: one upload's run); otherwise under none,
    and the handler binds each run's id where it works on one run.
    """
    messages = [received(record) for record in records]
    ids = {message.correlation_id for message in messages}
    with correlation.bind(ids.pop() if len(ids) == 1 else None):
        failed = handle_batch([(message.message_id, message.body) for message in messages])
    return batch_response([message.message_id for message in messages], failed, flow)


def handle_each_record(records: Iterable[Any], handle: Callable[[Received], Any], flow: str | None = None) -> dict:
    """Handle each record on its own, under its correlation id; a record that raises fails alone."""
    messages = [received(record) for record in records]
    failed = []
    for message in messages:
        with correlation.bind(message.correlation_id):
            try:
                handle(message)
            except Exception:
                logger.exception("record failed; SQS will redeliver it", message_id=message.message_id,
                                 receive_count=message.receive_count)
                failed.append(message.message_id)
    return batch_response([m.message_id for m in messages], failed, flow)


def handle_each_body(records: Iterable[Any], handle_body: Callable[[str], Any], flow: str | None = None) -> dict:
    """Handle each record's body on its own, under its correlation id; a record that raises fails alone."""
    return handle_each_record(records, lambda message: handle_body(message.body), flow)
