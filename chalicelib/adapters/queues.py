"""SQS behind an intention-revealing interface."""
import json
from functools import cached_property
from typing import Any

from chalicelib import aws


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
