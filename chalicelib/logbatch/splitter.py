"""The log splitter: an uploaded log file read as a stream and sent on as queued line messages.

It is the log flow's reading step of an upload run (chalicelib/streaming):
the run's start, lease, hand-over and failure are the shared mechanism's;
this reads lines from the run's checkpoint, packs them into numbered
messages, and leaves each checkpoint only after SQS accepted the lines
before it. An upload over the stage's caps is read up to them and ends
`failed`; a corrupt stream ends where it breaks, its report saying why.

A plain upload larger than the stage's part size is split by several readers
at once: its first reader plans it into byte ranges at line starts
(streaming/parts.py), makes each range a run of its own and starts it with a
message on the continuation queue, and each part's reader then reads its range
as this reads a whole file, numbering lines from the part's first real line
number and messages from the part's own first number (repository.first_seq).
The last part to finish ends the run's reading (docs/log-batches.md).
"""
import time
import uuid
from typing import Any

from chalicelib import aws, metrics
from chalicelib.clock import utc_now
from chalicelib.logbatch import messages
from chalicelib.logbatch.completion import BatchCompletion
from chalicelib.logbatch.parsing import is_header
from chalicelib.logbatch.repository import LogRun, first_seq, messages_per_chunk
from chalicelib.logs import logger
from chalicelib.ports import LogRuns, Queue
from chalicelib.streaming import parts
from chalicelib.streaming.caps import OverCap, UploadCaps
from chalicelib.streaming.lines import CorruptStream, LineReader
from chalicelib.streaming.resumable import Checkpointer, ObjectReplaced, UploadReader, run_id_for
from chalicelib.streaming.runs import TOKEN, parent_run_id, part_run_id

# What each part's run copies from its upload's run: enough to read its range and write its lines as the run's.
PART_FIELDS = ("batch_id", "bucket", "key", "etag", "started_at", "lines_per_message", "per_chunk", "lines_per_item")

ACCEPTED_SUFFIXES = (".txt", ".jsonl", ".log")

def accepted(key: str) -> bool:
    name = key.lower().removesuffix(".gz")
    return name.endswith(ACCEPTED_SUFFIXES)


class LogSplitter(UploadReader):
    """Splits an upload into queued line messages: the log flow's reading step of an upload run."""

    def __init__(self, tracker: LogRuns, lines_queue: Queue, continuation_queue: Queue,
                 completion: BatchCompletion, lines_per_message: int = 1, time_budget: float | None = None,
                 monotonic=time.monotonic, part_bytes: int = 64 << 20, max_parts: int = 16, lines_per_item: int = 1):
        super().__init__(tracker, continuation_queue, time_budget, monotonic)
        self.tracker = tracker
        self.lines_queue = lines_queue
        self.completion = completion
        self.lines_per_message = max(1, lines_per_message)
        self.part_bytes, self.max_parts = part_bytes, max_parts
        self.lines_per_item = max(1, lines_per_item)

    def on_upload(self, bucket: str, key: str, etag: str | None = None, context: Any = None) -> str:
        """Start (or, after a crash, resume) splitting an upload. Returns what happened."""
        if not accepted(key):
            logger.info("upload ignored: not a .txt/.jsonl/.log (or .gz) file", bucket=bucket, key=key)
            return "ignored"
        if not etag:
            etag = aws.client("s3").head_object(Bucket=bucket, Key=key)["ETag"]
        etag = etag.strip('"')
        return self.start(LogRun({"run_id": run_id_for(key, etag), "batch_id": key, "bucket": bucket, "key": key,
                           "etag": etag, "started_at": utc_now(), "lines_per_message": self.lines_per_message,
                           "per_chunk": messages_per_chunk(self.lines_per_message),
                           "lines_per_item": self.lines_per_item}), context)

    def initial_progress(self) -> dict[str, Any]:
        return {"checkpoint_line": 0, "checkpoint_seq": 0, "blank_lines": 0, "header_lines": 0, "processed": 0}

    def on_accepted(self, run_id: str) -> None:
        metrics.count("LogUploadsAccepted")

    def on_given_up(self, run_id: str, outcome: str) -> None:
        metrics.count("LogBatchesFailed", int(outcome != "already finished"))

    def on_duplicate(self, run_id: str) -> None:
        metrics.count("LogUploadDuplicates")
        # It may be S3 retrying a splitter that finished the run but failed to write its report (no lines, or
        # workers faster than the splitter), or a continuation after it (of the run, or of one of its parts):
        # nobody else would write it.
        self.completion.try_complete(parent_run_id(run_id))

    def read(self, run: Any, token: str, checkpoints: Checkpointer) -> str:
        if "parent" not in run and self._planned_in_parts(run, token):
            return "planned"
        return self._split(run, token, checkpoints)

    # --- a large upload, read in parts ------------------------------------------------

    def _planned_in_parts(self, run: Any, token: str) -> bool:
        """Plan a large plain upload into parts and start their readers; False when one reader reads it (a small
        file, a `.gz`, one over the byte cap, which fails at once as it always has, or a reader already begun)."""
        run_id = run["run_id"]
        plan = run.get("part_plan")
        if plan is None:
            if run["key"].lower().endswith(".gz") or int(run["checkpoint_offset"]):
                return False
            size = self.object_size(run["bucket"], run["key"])
            count = parts.part_count(size or 0, self.part_bytes, self.max_parts)
            if size is None or count == 1 or size > UploadCaps.of_stage().max_bytes:
                return False  # gone (one reader finds it superseded), small, or refused whole at its first read
            try:
                planned = parts.plan(size, count, self.range_reader(run["bucket"], run["key"], run["etag"]))
            except ObjectReplaced:
                return False
            if len(planned) == 1:
                return False
            plan = [[part.start, part.end, part.lines_before] for part in planned]
            # Recorded before any part starts: the part that finishes last must find how many there are.
            self.tracker.checkpoint(run_id, token, 0, self.LEASE_SECONDS, parts=len(plan), part_plan=plan)
            metrics.count("LogUploadsInParts")
            logger.info("upload planned in parts", run_id=run_id, parts=len(plan), bytes=size)
        per_chunk = int(run["per_chunk"])
        common = {name: run[name] for name in PART_FIELDS if name in run}
        part_runs, starts = [], []
        for index, (start, end, lines_before) in enumerate(plan):
            part_id = part_run_id(run_id, index)
            # The same token at every attempt of this planner: a start sent twice is taken once.
            token_of_part = str(uuid.uuid5(uuid.NAMESPACE_URL, part_id))
            seq = first_seq(index, per_chunk)
            part_runs.append({"run_id": part_id, "parent": run_id, "part": index, TOKEN: token_of_part,
                              "checkpoint_offset": int(start), "end_offset": int(end), "first_line": int(lines_before),
                              "checkpoint_line": int(lines_before), "first_seq": seq, "checkpoint_seq": seq,
                              "blank_lines": 0, "header_lines": 0})
            starts.append({"run_id": part_id, "token": token_of_part})
        self.tracker.start_parts(common, part_runs, self.LEASE_SECONDS)
        for message in starts:
            self.continuation.send_json(message)
        self.tracker.planned(run_id, token, len(plan))
        return True

    def _part_finished(self, run: Any, token: str, ending: str, totals: dict[str, int], stopped: dict) -> None:
        """A part's reading is done: its totals go to the run once, the last part ends the run's reading, and
        then the part's own run ends (in this order, so that a retry after a crash redoes what is missing)."""
        parent = run["parent"]
        image: Any = self.tracker.part_done(parent, int(run["part"]), totals, **stopped)
        sealed: Any = None
        if self.tracker.all_parts_done(image):
            sealed = self.tracker.seal(parent, "failed" if image and image.get("over_cap") else "processing",
                                       total_lines=int((image or {}).get("split_lines", 0)))
        self.tracker.finish(run["run_id"], token, ending, total_lines=totals["split_lines"],
                            blank_lines=totals["blank_lines"], header_lines=totals["header_lines"],
                            messages=totals["messages"], **stopped)
        if sealed is not None:
            logger.info("split done", run_id=parent, parts=int(sealed["parts"]), total_lines=int(sealed["total_lines"]))
        self.completion.try_complete(parent, sealed)

    # --- reading one range (a whole file, or one part) ---------------------------------

    def _split(self, run: Any, token: str, checkpoints: Checkpointer) -> str:
        # A part's lines are its upload run's: counted, stored and reported there.
        run_id, batch_id = run.get("parent") or run["run_id"], run["batch_id"]
        # The run's own packing, not this container's setting: a resumed split must number messages as it began.
        lines_per_message, per_chunk = int(run["lines_per_message"]), int(run["per_chunk"])
        per_item = int(run.get("lines_per_item", 1))  # likewise: how its lines are packed into records (records.py)
        offset, first_line = int(run["checkpoint_offset"]), int(run["checkpoint_line"])
        end = int(run["end_offset"]) if "end_offset" in run else None
        seq, received_at = int(run.get("checkpoint_seq", 0)), run["started_at"]
        blank_before, headers = int(run.get("blank_lines", 0)), int(run.get("header_lines", 0))
        try:
            stream = self.open_object(run["bucket"], run["key"], run["etag"], offset, lines_before=first_line, end=end)
            reader = LineReader(stream, start_offset=offset, start_line=first_line,
                                max_line_bytes=messages.MAX_MESSAGE_BYTES - 1000)
        except ObjectReplaced:
            self.tracker.supersede(run_id)
            if run_id != run["run_id"]:
                self.tracker.supersede(run["run_id"])
            logger.info("upload replaced or removed before splitting; its newer upload is its own run",
                        run_id=run_id)
            return "superseded"
        sender = self.lines_queue.batch_sender(correlation_id=run_id)
        group: list[tuple[int, str, bool]] = []
        stopped, ending = {}, "processing"  # why reading ended before the end of the file, if it did
        try:
            for line in reader:
                if is_header(line.text):  # a W3C log's #Version/#Fields lines describe the file: not items
                    headers += 1
                    continue
                group.append((line.number, line.text, line.truncated))
                if len(group) < lines_per_message:
                    continue
                sender.add(messages.encode(run_id, batch_id, seq, per_chunk, group, received_at, per_item))
                group, seq = [], seq + 1
                if not checkpoints.due():
                    continue
                sender.flush()  # a checkpoint only ever covers lines SQS has accepted
                if checkpoints.save(line.end_offset, checkpoint_line=line.number, checkpoint_seq=seq,
                                    blank_lines=blank_before + reader.blank_lines, header_lines=headers):
                    logger.info("split paused; a continuation resumes it", run_id=run_id, line=line.number,
                                offset=line.end_offset)
                    return "continued"
        except OverCap as error:  # a CorruptStream too, but the upload is whole: it is only too big
            # The lines before the cap are sent already (SQS cannot take them back): they are counted, and
            # the run ends failed, its report covering them alone. A retry would stop at the same line.
            stopped, ending = {"failure_reason": str(error), "over_cap": error.cap}, "failed"
            metrics.count("LogUploadsOverCap")
            logger.warning("upload over the stage's cap; reading stops here", run_id=run_id, cap=error.cap,
                           limit=error.limit, lines_read=reader.last_line)
        except CorruptStream as error:
            # A retry would meet the same bytes: the lines read so far are the batch, and the report says why.
            stopped = {"unreadable": str(error)}
            logger.warning("upload unreadable past this point; splitting ends here", run_id=run_id, reason=str(error))
        if group:
            sender.add(messages.encode(run_id, batch_id, seq, per_chunk, group, received_at, per_item))
            seq += 1
        sender.flush()
        blank = blank_before + reader.blank_lines
        if "parent" in run:
            first = int(run["first_seq"])
            self.tracker.close_chunks(run_id, seq, per_chunk, first=first)
            totals = {"split_lines": reader.last_line - int(run["first_line"]) - blank - headers, "blank_lines": blank,
                      "header_lines": headers, "messages": seq - first}
            self._part_finished(run, token, ending, totals, stopped)
            logger.info("part split", run_id=run["run_id"], lines=totals["split_lines"], messages=totals["messages"])
            return "split"
        total = reader.last_line - blank - headers
        # Before the finish: if this fails, the retry re-sends from the checkpoint and closes the same chunks.
        self.tracker.close_chunks(run_id, seq, per_chunk)
        finished = self.tracker.finish(run_id, token, ending, total_lines=total, blank_lines=blank,
                                       header_lines=headers, messages=seq, **stopped)
        logger.info("split done", run_id=run_id, total_lines=total, blank_lines=blank, messages=seq)
        self.completion.try_complete(run_id, finished)  # an empty file, or workers that were faster
        return "split"


