"""The messages on log-processing-queue: one or more numbered lines of one run.

A message carries everything the worker needs to be idempotent: the run (the
upload), the batch id (the source key), and each line with its number.
"""
import json

from pydantic import BaseModel, ConfigDict, Field

# SQS has long capped a message (and a SendMessageBatch call) at 256 KiB;
# staying under it works on every queue, old or new, and on the emulator.
MAX_MESSAGE_BYTES = 250_000
# JSON escapes control characters (NUL, ESC, ...); these two are the
# remaining characters SQS refuses, written as JSON escapes too.
_SQS_UNSAFE = {0xFFFE: "\\ufffe", 0xFFFF: "\\uffff"}


class LogLine(BaseModel):
    model_config = ConfigDict(frozen=True)
    number: int = Field(ge=1)
    text: str
    truncated: bool = False


class LogMessage(BaseModel):
    model_config = ConfigDict(frozen=True)
    run_id: str = Field(min_length=1)
    batch_id: str = Field(min_length=1)
    lines: list[LogLine] = Field(min_length=1)

    @property
    def first_line(self) -> int:
        return self.lines[0].number


def _encode(run_id: str, batch_id: str, lines: list[dict]) -> str:
    document = {"run_id": run_id, "batch_id": batch_id, "lines": lines}
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).translate(_SQS_UNSAFE)


def encode(run_id: str, batch_id: str, lines: list[tuple[int, str, bool]]) -> str:
    """A message body for these lines; a single line too big for a message is cut and flagged."""
    entries = [{"number": n, "text": t, **({"truncated": True} if cut else {})} for n, t, cut in lines]
    body = _encode(run_id, batch_id, entries)
    while len(body.encode("utf-8")) > MAX_MESSAGE_BYTES:
        if len(entries) != 1:
            raise ValueError("several lines do not fit in one message; send fewer per message")
        text = entries[0]["text"]
        entries = [{"number": entries[0]["number"], "text": text[: len(text) // 2], "truncated": True}]
        body = _encode(run_id, batch_id, entries)
    return body


def size(body: str) -> int:
    return len(body.encode("utf-8"))


def decode(body: str) -> LogMessage:
    return LogMessage.model_validate_json(body)
