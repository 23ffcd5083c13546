"""Uploads whose reader Lambda gave up on: their runs end `failed`, with why, where the status APIs show them.

S3 invokes the upload readers (the log splitter, the invoice ingester)
asynchronously. When every retry fails, Lambda sends an invocation record to
the function's on-failure destination, the upload-failures queue: without
this, the run would stay `splitting` forever and nobody would know. The
record carries the original S3 event (`requestPayload`) and the last error
(`responsePayload`); each S3 record in it names a run by the same rule its
reader uses. The local runner sends the same records when it gives up.

It knows no flow: it is handed the upload readers by bucket, and asks the
one whose bucket an upload is in to give its run up.
"""
import json
from typing import Any, Mapping, Protocol
from urllib.parse import unquote_plus

from chalicelib.logs import logger

REASON_LIMIT = 1000  # characters of the error kept on the run


def failure_reason(record: dict) -> str:
    response = record.get("responsePayload")
    context = record.get("requestContext") or {}
    if isinstance(response, dict):
        error = f"{response.get('errorType', 'Error')}: {response.get('errorMessage', '')}".strip()
    else:
        error = str(response) if response is not None else "no error was reported"
    attempts = context.get("approximateInvokeCount")
    condition = context.get("condition", "RetriesExhausted")
    return f"gave up ({condition}{f', {attempts} attempts' if attempts else ''}): {error}"[:REASON_LIMIT]


def _uploads(record: dict) -> list[dict]:
    payload = record.get("requestPayload")
    if not isinstance(payload, dict):
        raise ValueError("not a Lambda invocation record: no requestPayload object")
    uploads = []
    for s3 in payload.get("Records", []):  # an s3:TestEvent has none: nothing failed
        obj = s3["s3"]["object"]
        uploads.append({"bucket": s3["s3"]["bucket"]["name"], "key": unquote_plus(obj["key"]),
                        "etag": (obj.get("eTag") or "").strip('"'), "sequencer": obj.get("sequencer"),
                        "event_time": s3.get("eventTime")})
    return uploads


class GivesUp(Protocol):
    """What this module asks of an upload reader (chalicelib/streaming/resumable.py's UploadReader)."""

    def give_up(self, bucket: str, key: str, etag: str, reason: str, sequencer: str | None = None,
                event_time: str | None = None) -> str: ...


class UploadFailures:
    """Records the on-failure records of the upload readers registered by bucket."""

    def __init__(self, readers: Mapping[str, GivesUp]):
        self.readers = readers

    def record(self, body: str) -> str:
        """Mark the runs of one on-failure record failed; ValueError if the body is not such a record."""
        try:
            record: Any = json.loads(body)
        except RecursionError:
            raise ValueError("nested too deeply to be an invocation record") from None
        if not isinstance(record, dict):
            raise ValueError("not a Lambda invocation record")
        try:
            uploads = _uploads(record)
        except (KeyError, TypeError, AttributeError) as error:
            raise ValueError(f"not an S3 event inside: {error!r}") from None
        reason, outcomes = failure_reason(record), []
        for upload in uploads:
            reader = self.readers.get(upload["bucket"])
            if reader is None or not upload["etag"]:
                logger.warning("a failed upload of no known reader, or without its ETag: not recorded", **upload)
                outcomes.append("unknown")
                continue
            outcome = reader.give_up(reason=reason, **upload)
            logger.error("upload reader gave up: the run is failed", outcome=outcome, reason=reason, **upload)
            outcomes.append(outcome)
        return ", ".join(outcomes) or "no uploads"
