"""SQS behind an intention-revealing interface."""
import json
import time
from functools import cached_property
from typing import Any, Callable

from chalicelib import aws
from chalicelib.adapters.dynamo import backoff


class MessageQueue:
    def __init__(self, name: str):
        self.name = name

    @cached_property
    def url(self) -> str:
        return aws.client("sqs").get_queue_url(QueueName=self.name)["QueueUrl"]

    def send_json(self, payload: dict[str, Any]) -> str:
        response = aws.client("sqs").send_message(
            QueueUrl=self.url, MessageBody=json.dumps(payload, separators=(",", ":"))
        )
        return response["MessageId"]


class SendFailed(RuntimeError):
    pass


class BatchSender:
    """Sends message bodies with SendMessageBatch: ≤ 10 entries and ≤ max_bytes a call.

    Entries SQS reports in `Failed` are retried with backoff, never dropped; if
    they still fail, SendFailed is raised so the caller's event is retried.
    """

    MAX_ENTRIES = 10

    def __init__(self, queue: MessageQueue, max_bytes: int = 250_000, max_attempts: int = 8,
                 sleep: Callable[[float], None] = time.sleep):
        self.queue = queue
        self.max_bytes = max_bytes
        self.max_attempts = max_attempts
        self.sleep = sleep
        self.pending: list[str] = []
        self.pending_bytes = 0
        self.sent = 0

    def add(self, body: str) -> None:
        size = len(body.encode("utf-8"))
        if self.pending and (len(self.pending) == self.MAX_ENTRIES or self.pending_bytes + size > self.max_bytes):
            self.flush()
        self.pending.append(body)
        self.pending_bytes += size

    def flush(self) -> None:
        entries = [{"Id": str(i), "MessageBody": body} for i, body in enumerate(self.pending)]
        for attempt in range(self.max_attempts):
            if not entries:
                break
            response = aws.client("sqs").send_message_batch(QueueUrl=self.queue.url, Entries=entries)
            failed = {f["Id"]: f for f in response.get("Failed", [])}
            entries = [e for e in entries if e["Id"] in failed]
            if entries:
                self.sleep(backoff(attempt))
        if entries:
            raise SendFailed(f"{len(entries)} message(s) could not be sent to {self.queue.name}: {failed}")
        self.sent += len(self.pending)
        self.pending, self.pending_bytes = [], 0
