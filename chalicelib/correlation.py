"""Correlation ids: one id follows a piece of work from where it started to every place it went.

In an asynchronous system a 202 says nothing about what happened next. The
id answers "where is my message?": a request's id (the client's
`X-Correlation-Id`, else API Gateway's request id) comes back in the response
header, travels with the work as the `correlation_id` attribute of every SQS
message and SNS notification the app sends and as the `correlation-id`
metadata of every S3 object it writes, and is the `correlation_id` key of
every log line written while that work is handled. An upload's run id plays
the same role for everything its run does.

The id is kept in Powertools Logger's per-thread keys, which is what puts it
on the log lines. Per thread, not the logger's shared keys
(`Logger.set_correlation_id`): `chalice local` and the local event runner
handle several requests and records at once, in threads of one process, and a
shared key would label one's lines with another's id. In Lambda, one
invocation at a time, the two behave the same.
"""
import uuid
from contextlib import contextmanager
from typing import Any, Iterator, Mapping, TypeGuard

from chalicelib.logs import logger

HEADER = "X-Correlation-Id"
ATTRIBUTE = "correlation_id"  # SQS and SNS message attribute, and the log key
METADATA = "correlation-id"  # S3 user metadata (x-amz-meta-correlation-id)
MAX_HEADER_LENGTH = 128
# An S3 key can make a run id of over 1 KB; what travels is capped so an attribute never crowds a
# 256 KB message out and S3's 2 KB of user metadata always has room for it.
MAX_CARRIED_LENGTH = 1024


def current() -> str | None:
    """The id bound to the work this thread is doing, if any."""
    return logger.thread_safe_get_current_keys().get(ATTRIBUTE)


def _set(value: str | None) -> None:
    # None, not a removal: the logger drops None keys, and removing mutates a dict other contexts may share.
    logger.thread_safe_append_keys(**{ATTRIBUTE: value})


@contextmanager
def bind(value: str | None) -> Iterator[str | None]:
    """Everything done (and logged) inside carries `value`; the previous id is back afterwards."""
    previous = current()
    _set(value)
    try:
        yield value
    finally:
        _set(previous)


def new() -> str:
    return str(uuid.uuid4())


def acceptable(value: Any) -> TypeGuard[str]:
    """A client's id is used only if it is 1-128 printable ASCII characters: it goes into headers and metadata."""
    return (isinstance(value, str) and 0 < len(value) <= MAX_HEADER_LENGTH and value.isascii()
            and value.isprintable() and bool(value.strip()))


def for_request(headers: Mapping[str, str] | None, context: Mapping[str, Any] | None,
                lambda_context: Any = None) -> str:
    """The id of a request: the client's header if sane, else API Gateway's request id.

    `chalice local` sends no requestId in the request context; its Lambda
    context's request id (also its `x-amzn-RequestId` response header) stands in.
    """
    sent = next((value for name, value in (headers or {}).items() if name.lower() == HEADER.lower()), None)
    if isinstance(sent, str) and acceptable(sent.strip()):
        return sent.strip()
    request_id = (context or {}).get("requestId") or getattr(lambda_context, "aws_request_id", None)
    return request_id if acceptable(request_id) else new()


def of_sqs_record(record: Mapping[str, Any]) -> str | None:
    """The id an SQS record carries (Lambda's event shape), if it carries one."""
    attribute = (record.get("messageAttributes") or {}).get(ATTRIBUTE) or {}
    value = attribute.get("stringValue")
    return value if isinstance(value, str) and value else None


def _escaped(value: str, allowed) -> str:
    """Characters a carrier refuses, written as %XX escapes of their UTF-8 bytes."""
    text = "".join(c if allowed(c) else "".join(f"%{b:02X}" for b in c.encode("utf-8", "surrogatepass"))
                   for c in value)
    return text[:MAX_CARRIED_LENGTH]


def _sqs_allowed(c: str) -> bool:
    # The characters SQS accepts in a message or attribute: #x9 | #xA | #xD | #x20-#xD7FF | #xE000-#xFFFD | astral.
    code = ord(c)
    return code in (0x9, 0xA, 0xD) or 0x20 <= code <= 0xD7FF or 0xE000 <= code <= 0xFFFD or code >= 0x10000


def _header_allowed(c: str) -> bool:
    return " " <= c <= "~"


def message_attributes(value: str) -> dict[str, dict[str, str]]:
    """The SQS/SNS MessageAttributes that carry `value` (a run id may hold any character of an S3 key)."""
    return {ATTRIBUTE: {"DataType": "String", "StringValue": _escaped(value, _sqs_allowed) or new()}}  # never empty


def s3_metadata(value: str) -> dict[str, str]:
    """The S3 user metadata that carries `value` (sent as an HTTP header: printable ASCII only)."""
    return {METADATA: _escaped(value, _header_allowed)}
