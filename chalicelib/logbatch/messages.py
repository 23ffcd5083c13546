"""The messages on log-processing-queue: one or more numbered lines of one run.

A message carries everything the worker needs to be idempotent: the run (the
upload), the batch id (the source key), its own number in the run (`seq`),
how many messages make one counting chunk (`per_chunk`), how many lines the
run packs into one ProcessedLogsTable item (`per_item`, left out when 1:
records.py), and each line with its number. `seq` and `per_chunk` say which
counting slot the message fills (see repository.py): the splitter numbers messages deterministically from its
checkpoints, so a resumed split sends the same numbers again.
"""
import json
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, field_validator

# SQS has long capped a message (and a SendMessageBatch call) at 256 KiB;
# staying under it works on every queue, old or new, and on the emulator.
MAX_MESSAGE_BYTES = 250_000
# JSON escapes control characters (NUL, ESC, ...); these two are the
# remaining characters SQS refuses, written as JSON escapes too.
_SQS_UNSAFE = {0xFFFE: "\\ufffe", 0xFFFF: "\\uffff"}
# Bounds of what a splitter can write, so a message that breaks them fails alone at decode() instead of
# failing the DynamoDB write of its whole batch: a message marker (`M#<first line>`) has 12 digits; a batch
# id is an S3 key (1024 bytes at most) and a run id that key with its ETag and sequencer. Both end up in
# DynamoDB keys, which hold 2048 bytes at most.
MAX_LINE_NUMBER = 999_999_999_999
MAX_BATCH_ID_BYTES = 1024
MAX_RUN_ID_BYTES = MAX_BATCH_ID_BYTES + 200
MAX_SEQ = 999_999_999_999
MAX_PER_CHUNK = 1000
MAX_PER_ITEM = 50  # lines of one ProcessedLogsTable item: 50 packed lines of at most 4 KB (records.py) fit one


class LogLine(BaseModel):
    model_config = ConfigDict(frozen=True, strict=True)  # `true` is not line 1, nor 7 a text
    number: int = Field(ge=1, le=MAX_LINE_NUMBER)
    text: str
    truncated: bool = False


def _at_most_bytes(limit: int):
    def check(value: str) -> str:
        if len(value.encode("utf-8", errors="surrogatepass")) > limit:
            raise ValueError(f"must be at most {limit} bytes")
        return value
    return check


class LogMessage(BaseModel):
    model_config = ConfigDict(frozen=True)
    run_id: str = Field(min_length=1)
    batch_id: str = Field(min_length=1)
    seq: int = Field(ge=0, le=MAX_SEQ, strict=True)
    per_chunk: int = Field(ge=1, le=MAX_PER_CHUNK, strict=True)
    lines: list[LogLine] = Field(min_length=1)
    # Lines per ProcessedLogsTable item, fixed for the run when it started: a message sent before packing (or
    # by a run started before it) has none, and its lines are written one to an item as they always were.
    per_item: int = Field(default=1, ge=1, le=MAX_PER_ITEM, strict=True)
    # When the run started: the reference for a syslog line's missing year (the same on every redelivery).
    received_at: datetime | None = None

    _run_id = field_validator("run_id")(_at_most_bytes(MAX_RUN_ID_BYTES))
    _batch_id = field_validator("batch_id")(_at_most_bytes(MAX_BATCH_ID_BYTES))

    @property
    def first_line(self) -> int:
        return self.lines[0].number


def _encode(run_id: str, batch_id: str, seq: int, per_chunk: int, lines: list[dict], received_at: str | None,
            per_item: int) -> str:
    document = {"run_id": run_id, "batch_id": batch_id, "seq": seq, "per_chunk": per_chunk, "lines": lines,
                **({"received_at": received_at} if received_at else {}),
                **({"per_item": per_item} if per_item != 1 else {})}
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).translate(_SQS_UNSAFE)


def encode(run_id: str, batch_id: str, seq: int, per_chunk: int, lines: list[tuple[int, str, bool]],
           received_at: str | None = None, per_item: int = 1) -> str:
    """A message body for these lines; a single line too big for a message is cut and flagged."""
    if not 1 <= per_item <= MAX_PER_ITEM:
        raise ValueError(f"per_item must be 1 to {MAX_PER_ITEM}, not {per_item}")
    entries = [{"number": n, "text": t, **({"truncated": True} if cut else {})} for n, t, cut in lines]
    body = _encode(run_id, batch_id, seq, per_chunk, entries, received_at, per_item)
    while len(body.encode("utf-8")) > MAX_MESSAGE_BYTES:
        if len(entries) != 1:
            raise ValueError("several lines do not fit in one message; send fewer per message")
        text = str(entries[0]["text"])
        entries = [{"number": entries[0]["number"], "text": text[: len(text) // 2], "truncated": True}]
        body = _encode(run_id, batch_id, seq, per_chunk, entries, received_at, per_item)
    return body


def size(body: str) -> int:
    return len(body.encode("utf-8"))


def decode(body: str) -> LogMessage:
    return LogMessage.model_validate_json(body)
