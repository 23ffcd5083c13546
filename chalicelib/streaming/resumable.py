"""Read an uploaded S3 object from any byte offset, and stop safely before Lambda's time runs out.

`open_object` streams the object (1 MiB chunks, `.gz` decompressed on the
fly) from a byte offset, pinned to the upload's ETag so a replaced object is
never read as if it were the old one. `Checkpointer` is what a reading loop
calls after each unit of work: every few seconds it saves the offset (and the
reader's own progress) with the run, and near the deadline it saves one last
time and hands the run to a continuation message, which a later invocation
resumes from exactly there. Offsets count decompressed bytes. It also stops
an upload at the stage's caps on decompressed bytes and lines (caps.py).

`UploadReader` is what the two upload flows share around their reading: the
start of a run (a duplicate event does nothing), the continuation that takes
over a handed-on lease (a stale one does nothing), the lease given back when
reading fails, and the run given up on when Lambda stops retrying (runs.py's
latest_run is the status APIs' 404, once). A flow supplies only its reading
step and its few differences (its metrics, what a duplicate does), as hooks,
in the manner of Powertools' BasePartialProcessor.
"""
import json
import time
import uuid
from abc import ABC, abstractmethod
from typing import Any, Callable, Iterable

from chalicelib import aws, correlation
from chalicelib.clock import utc_now
from chalicelib.logs import logger
from chalicelib.ports import Queue, Runs
from chalicelib.streaming.caps import UploadCaps, capped, count_newlines, over_bytes
from chalicelib.streaming.lines import gunzip
from chalicelib.streaming.runs import Run

CHUNK_BYTES = 1 << 20


class ObjectReplaced(Exception):
    """The upload was overwritten or deleted before it was read; the newer upload is its own run."""


def open_object(bucket: str, key: str, etag: str, offset: int = 0, lines_before: int | None = None,
                caps: UploadCaps | None = None, end: int | None = None) -> Iterable[bytes]:
    """The object's (decompressed) bytes from `offset` (up to `end`, for one part of a planned plain
    object: streaming/parts.py), within the stage's caps (OverCap past them).

    `lines_before`: the newlines before `offset`, which a reader that numbers lines knows from its checkpoint;
    when not given, a resumed read counts them (a `.gz` while decompressing up to the offset, a plain object
    with one ranged read of the bytes before it), so the line cap holds across resumes for every reader.
    """
    s3 = aws.client("s3")
    caps = caps or UploadCaps.of_stage()
    compressed = key.lower().endswith(".gz")
    params = {"Bucket": bucket, "Key": key, "IfMatch": f'"{etag}"'}
    if end is not None and not compressed:
        if offset >= end:
            return iter(())  # a part resumed exactly at its end
        params["Range"] = f"bytes={offset}-{end - 1}"
    elif offset and not compressed:
        params["Range"] = f"bytes={offset}-"
    try:
        response = s3.get_object(**params)
    except s3.exceptions.ClientError as error:
        code = error.response["Error"]["Code"]
        if code == "InvalidRange":
            return iter(())  # resumed exactly at the end of the file
        if code in ("PreconditionFailed", "412", "NoSuchKey"):
            raise ObjectReplaced(f"s3://{bucket}/{key}") from None
        raise
    chunks = response["Body"].iter_chunks(CHUNK_BYTES)
    if compressed:  # a resumed run decompresses up to its offset again, counting it towards the caps
        return capped(gunzip(chunks), caps, skip_to=offset)
    if offset + response.get("ContentLength", 0) > caps.max_bytes:
        response["Body"].close()
        return _failing(over_bytes(caps))  # its size is known: over the cap before a single line is read
    if lines_before is None:
        lines_before = 0
        if offset:
            before = s3.get_object(Bucket=bucket, Key=key, IfMatch=f'"{etag}"', Range=f"bytes=0-{offset - 1}")
            lines_before = count_newlines(before["Body"].iter_chunks(CHUNK_BYTES))
    return capped(chunks, caps, position=offset, lines=lines_before)


def range_reader(bucket: str, key: str, etag: str) -> Callable[[int, int], Iterable[bytes]]:
    """The bytes in [start, end) of the upload, as streaming/parts.py's `plan` reads them (ObjectReplaced if the
    upload is not that one any more)."""
    s3 = aws.client("s3")

    def read_range(start: int, end: int) -> Iterable[bytes]:
        if start >= end:
            return iter(())
        try:
            response = s3.get_object(Bucket=bucket, Key=key, IfMatch=f'"{etag}"', Range=f"bytes={start}-{end - 1}")
        except s3.exceptions.ClientError as error:
            if error.response["Error"]["Code"] in ("PreconditionFailed", "412", "NoSuchKey"):
                raise ObjectReplaced(f"s3://{bucket}/{key}") from None
            raise
        return response["Body"].iter_chunks(CHUNK_BYTES)
    return read_range


def object_size(bucket: str, key: str) -> int:
    return int(aws.client("s3").head_object(Bucket=bucket, Key=key)["ContentLength"])


def _failing(error: Exception) -> Iterable[bytes]:
    """A stream that raises at its first read, where readers expect a stream's errors."""
    yield from ()
    raise error


def run_id_for(key: str, etag: str, sequencer: str | None = None) -> str:
    """One upload: its key and ETag, and S3's per-key sequencer when known, so that uploading
    the same bytes again (A, B, A) is a new upload while a duplicated event stays the same one."""
    return f"{key}@{etag}" + (f"~{sequencer}" if sequencer else "")


MAX_RUN_ID_BYTES = 2048  # a DynamoDB partition key


def parse_handover(body: str) -> tuple[str, str]:
    """(run id, token) of a continuation message; ValueError for anything else, so it fails to the DLQ."""
    handover = json.loads(body)
    run_id, token = (handover.get("run_id"), handover.get("token")) if isinstance(handover, dict) else (None, None)
    if not (isinstance(run_id, str) and run_id and len(run_id.encode("utf-8", "surrogatepass")) <= MAX_RUN_ID_BYTES
            and isinstance(token, str) and token):
        raise ValueError("a continuation message is {run_id, token}, two non-empty strings")
    return run_id, token


class Checkpointer:
    """Periodic checkpoints for one invocation's reading loop, and the hand-over at its deadline."""

    def __init__(self, runs: Runs, continuation: Queue, run_id: str, token: str, *,
                 context: Any = None, time_budget: float | None = None, every_seconds: float = 10,
                 safety_margin_seconds: float = 30, lease_seconds: int = 60,
                 monotonic: Callable[[], float] = time.monotonic):
        self.runs, self.continuation = runs, continuation
        self.run_id, self.token = run_id, token
        self.every, self.lease_seconds, self.monotonic = every_seconds, lease_seconds, monotonic
        budget = float("inf")
        if context is not None and hasattr(context, "get_remaining_time_in_millis"):
            remaining = context.get_remaining_time_in_millis() / 1000
            # The margin is left for the last flush and the hand-over; a short-lived function keeps most of its time.
            budget = remaining - min(safety_margin_seconds, remaining / 5)
        if time_budget is not None:
            budget = min(budget, time_budget)
        self.deadline = monotonic() + budget
        self.next_save = monotonic() + every_seconds

    def due(self) -> bool:
        now = self.monotonic()
        return now >= self.next_save or now >= self.deadline

    def save(self, offset: int, **progress) -> bool:
        """Checkpoint at `offset` (everything before it is done). True when the run was handed over: stop."""
        if self.monotonic() < self.deadline:
            self.runs.checkpoint(self.run_id, self.token, offset, self.lease_seconds, **progress)
            self.next_save = self.monotonic() + self.every
            return False
        handover = str(uuid.uuid4())
        self.runs.checkpoint(self.run_id, self.token, offset, self.lease_seconds, next_token=handover, **progress)
        self.continuation.send_json({"run_id": self.run_id, "token": handover})
        return True


class UploadReader(ABC):
    """One upload flow's reader: the run mechanism around a reading step the flow supplies (`read`)."""

    LEASE_SECONDS = 60
    CHECKPOINT_EVERY_SECONDS = 10
    SAFETY_MARGIN_SECONDS = 30  # left for the last flush and the hand-over
    # Where the object's bytes come from: S3, or a fake in the services' unit tests (tests/unit/test_log_services.py).
    open_object = staticmethod(open_object)
    # How a reader that plans an upload in parts learns its size and reads its ranges (the same fakes stand in).
    object_size = staticmethod(object_size)
    range_reader = staticmethod(range_reader)

    def __init__(self, runs: Runs, continuation: Queue, time_budget: float | None = None,
                 monotonic: Callable[[], float] = time.monotonic):
        self.runs = runs
        self.continuation = continuation
        self.time_budget = time_budget
        self.monotonic = monotonic

    # --- the hooks a flow supplies ------------------------------------------------

    @abstractmethod
    def read(self, run: Run, token: str, checkpoints: Checkpointer) -> str:
        """Read the run's object from its checkpoint, under the lease `token`; what happened."""

    def initial_progress(self) -> dict[str, Any]:
        """What a new run's item starts with besides the mechanism's own fields (the flow's counters)."""
        return {}

    @abstractmethod
    def on_accepted(self, run_id: str) -> None:
        """A new run was started (the flow counts it; a resumed one is not new)."""

    @abstractmethod
    def on_duplicate(self, run_id: str) -> None:
        """A duplicate event or a stale continuation: nothing to read (the flow counts it, and may have
        something to finish)."""

    @abstractmethod
    def on_given_up(self, run_id: str, outcome: str) -> None:
        """The run of an upload Lambda gave up on was marked (outcome: "created failed", "failed" or
        "already finished"): the flow counts it."""

    def failed_run(self, bucket: str, key: str, etag: str, sequencer: str | None = None,
                   event_time: str | None = None) -> Run:
        """The run an upload given up on names, by the same rule the flow's reader uses."""
        return {"run_id": run_id_for(key, etag), "batch_id": key, "bucket": bucket, "key": key, "etag": etag,
                "started_at": utc_now()}

    # --- the mechanism --------------------------------------------------------------

    def start(self, run: Run, context: Any = None) -> str:
        """Start (or, after a crash, resume) reading an upload's run: what happened."""
        with correlation.bind(run["run_id"]):
            token = str(uuid.uuid4())
            state, how = self.runs.start(run, token, self.LEASE_SECONDS, **self.initial_progress())
            if state is None:
                logger.info("duplicate upload event: nothing to do", run_id=run["run_id"], reason=how)
                self.on_duplicate(run["run_id"])
                return "duplicate"
            if how == "started":
                self.on_accepted(run["run_id"])
            return self._read_leased(state, token, context)

    def on_continuation(self, body: str, context: Any = None) -> str:
        """Take over a run handed on at its reader's deadline; "stale" when it is not this message's to take."""
        run_id, handed_token = parse_handover(body)
        with correlation.bind(run_id):
            token = str(uuid.uuid4())
            state = self.runs.take_over(run_id, handed_token, token, self.LEASE_SECONDS)
            if state is None:
                logger.info("continuation not needed (duplicate, or another reader owns the run)", run_id=run_id)
                self.on_duplicate(run_id)
                return "stale"
            return self._read_leased(state, token, context)

    def _read_leased(self, run: Run, token: str, context: Any) -> str:
        checkpoints = Checkpointer(self.runs, self.continuation, run["run_id"], token, context=context,
                                   time_budget=self.time_budget, every_seconds=self.CHECKPOINT_EVERY_SECONDS,
                                   safety_margin_seconds=self.SAFETY_MARGIN_SECONDS,
                                   lease_seconds=self.LEASE_SECONDS, monotonic=self.monotonic)
        with self.runs.release_on_error(run["run_id"], token):
            return self.read(run, token, checkpoints)

    def give_up(self, bucket: str, key: str, etag: str, reason: str, sequencer: str | None = None,
                event_time: str | None = None) -> str:
        """This upload's reader was given up on (chalicelib/uploadfailures.py): its run ends `failed`."""
        run = self.failed_run(bucket, key, etag, sequencer, event_time)
        outcome = self.runs.give_up(run, reason)
        self.on_given_up(run["run_id"], outcome)
        return outcome
