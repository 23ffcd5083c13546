"""Lambda events built by hand: Chalice's generator gives every record the same messageId."""
import json
import uuid
from typing import Any

ACCOUNT = "123456789012"


def sqs_record(body: str | dict, queue_name: str, message_id: str | None = None, receive_count: int = 1) -> dict:
    return {
        "messageId": message_id or str(uuid.uuid4()),
        "receiptHandle": f"handle-{uuid.uuid4()}",
        "body": body if isinstance(body, str) else json.dumps(body),
        "attributes": {"ApproximateReceiveCount": str(receive_count), "SentTimestamp": "1700000000000",
                       "SenderId": ACCOUNT, "ApproximateFirstReceiveTimestamp": "1700000000000"},
        "messageAttributes": {},
        "md5OfBody": "",
        "eventSource": "aws:sqs",
        "eventSourceARN": f"arn:aws:sqs:us-east-1:{ACCOUNT}:{queue_name}",
        "awsRegion": "us-east-1",
    }


def sqs_event(*records: dict[str, Any]) -> dict:
    return {"Records": list(records)}
