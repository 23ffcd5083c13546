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


def s3_event(bucket: str, key: str, etag: str, event_time: str = "2026-11-20T10:00:00.000Z",
             event_name: str = "ObjectCreated:Put", sequencer: str = "0055AED6DCD90281E5") -> dict:
    """An S3 notification as Lambda receives it; the key URL-encoded, as S3 sends it."""
    from urllib.parse import quote_plus
    return {"Records": [{
        "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1", "eventTime": event_time,
        "eventName": event_name, "userIdentity": {"principalId": "local"},
        "requestParameters": {"sourceIPAddress": "127.0.0.1"}, "responseElements": {},
        "s3": {"s3SchemaVersion": "1.0", "configurationId": "tests",
               "bucket": {"name": bucket, "arn": f"arn:aws:s3:::{bucket}", "ownerIdentity": {"principalId": "x"}},
               "object": {"key": quote_plus(key, safe="/"), "size": 0, "eTag": etag, "sequencer": sequencer}},
    }]}
