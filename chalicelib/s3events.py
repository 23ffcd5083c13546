"""S3 notifications as the upload handlers need them.

S3 sends `s3:TestEvent` (a body with no `Records`) when a bucket's
notifications are set up; Chalice's S3Event would raise a KeyError on it, and
the invocation would be retried and logged as a failure. `ignoring_test_events`
answers it before Chalice looks at it.
"""
from typing import Any, Callable

from chalicelib.logs import logger


def ignoring_test_events(handler: Callable[[dict, Any], Any]) -> Callable[[dict, Any], Any]:
    """Wrap a Chalice S3 handler (what Lambda calls): an s3:TestEvent is logged and acknowledged."""
    def lambda_handler(event: dict, context: Any = None) -> Any:
        if isinstance(event, dict) and event.get("Event") == "s3:TestEvent":
            logger.info("s3:TestEvent ignored", bucket=event.get("Bucket"))
            return None
        return handler(event, context)
    lambda_handler.__wrapped__ = handler  # type: ignore[attr-defined]  # a function's attribute, as functools sets it
    return lambda_handler


def uploaded_object(event: Any) -> dict:
    """The object of a Chalice S3 event: bucket, key (URL-decoded by Chalice), ETag, sequencer and event time."""
    record = event.to_dict()["Records"][0]
    uploaded = record["s3"]["object"]
    return {"bucket": event.bucket, "key": event.key, "etag": uploaded.get("eTag"),
            "sequencer": uploaded.get("sequencer"), "event_time": record.get("eventTime")}
