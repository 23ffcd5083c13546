"""The log splitter: an uploaded log file read as a stream and sent on as queued line messages.

It is the log flow's reading step of an upload run (chalicelib/streaming):
the run's start, lease, hand-over and failure are the shared mechanism's;
this reads lines from the run's checkpoint, packs them into numbered
messages, and leaves each checkpoint only after SQS accepted the lines
before it. An upload over the stage's caps is read up to them and ends
`failed`; a corrupt stream ends where it breaks, its report saying why.
"""
import time
from typing import Any

from chalicelib import aws, metrics
from chalicelib.clock import utc_now
from chalicelib.logbatch import messages
from chalicelib.logbatch.completion import BatchCompletion
from chalicelib.logbatch.parsing import is_header
from chalicelib.logbatch.repository import LogRun, messages_per_chunk
from chalicelib.logs import logger
from chalicelib.ports import LogRuns, Queue
from chalicelib.streaming.caps import OverCap
from chalicelib.streaming.lines import CorruptStream, LineReader
from chalicelib.streaming.resumable import Checkpointer, ObjectReplaced, UploadReader, run_id_for

ACCEPTED_SUFFIXES = (".txt", ".jsonl", ".log")

def accepted(key: str) -> bool:
    name = key.lower().removesuffix(".gz")
    return name.endswith(ACCEPTED_SUFFIXES)


class LogSplitter(UploadReader):
    """Splits an upload into queued line messages: the log flow's reading step of an upload run."""

    def __init__(self, tracker: LogRuns, lines_queue: Queue, continuation_queue: Queue,
                 completion: BatchCompletion, lines_per_message: int = 1, time_budget: float | None = None,
                 monotonic=time.monotonic):
        super().__init__(tracker, continuation_queue, time_budget, monotonic)
        self.tracker = tracker
        self.lines_queue = lines_queue
        self.completion = completion
        self.lines_per_message = max(1, lines_per_message)

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
                           "per_chunk": messages_per_chunk(self.lines_per_message)}), context)

    def initial_progress(self) -> dict[str, Any]:
        return {"checkpoint_line": 0, "checkpoint_seq": 0, "blank_lines": 0, "header_lines": 0, "processed": 0}

    def on_accepted(self, run_id: str) -> None:
        metrics.count("LogUploadsAccepted")

    def on_given_up(self, run_id: str, outcome: str) -> None:
        metrics.count("LogBatchesFailed", int(outcome != "already finished"))

    def on_duplicate(self, run_id: str) -> None:
        metrics.count("LogUploadDuplicates")
        # It may be S3 retrying a splitter that finished the run but failed to write its report (no lines, or
        # workers faster than the splitter), or a continuation after it: nobody else would write it.
        self.completion.try_complete(run_id)

    def read(self, run: Any, token: str, checkpoints: Checkpointer) -> str:
        run_id, batch_id = run["run_id"], run["batch_id"]
        # The run's own packing, not this container's setting: a resumed split must number messages as it began.
        lines_per_message, per_chunk = int(run["lines_per_message"]), int(run["per_chunk"])
        offset, first_line = int(run["checkpoint_offset"]), int(run["checkpoint_line"])
        seq, received_at = int(run.get("checkpoint_seq", 0)), run["started_at"]
        blank_before, headers = int(run.get("blank_lines", 0)), int(run.get("header_lines", 0))
        try:
            stream = self.open_object(run["bucket"], run["key"], run["etag"], offset, lines_before=first_line)
            reader = LineReader(stream, start_offset=offset, start_line=first_line,
                                max_line_bytes=messages.MAX_MESSAGE_BYTES - 1000)
        except ObjectReplaced:
            self.tracker.supersede(run_id)
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
                sender.add(messages.encode(run_id, batch_id, seq, per_chunk, group, received_at))
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
            sender.add(messages.encode(run_id, batch_id, seq, per_chunk, group, received_at))
            seq += 1
        sender.flush()
        blank = blank_before + reader.blank_lines
        total = reader.last_line - blank - headers
        # Before the finish: if this fails, the retry re-sends from the checkpoint and closes the same chunks.
        self.tracker.close_chunks(run_id, seq, per_chunk)
        finished = self.tracker.finish(run_id, token, ending, total_lines=total, blank_lines=blank,
                                       header_lines=headers, messages=seq, **stopped)
        logger.info("split done", run_id=run_id, total_lines=total, blank_lines=blank, messages=seq)
        self.completion.try_complete(run_id, finished)  # an empty file, or workers that were faster
        return "split"


