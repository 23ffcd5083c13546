"""Log batches: split an uploaded file into queued lines, process lines, report each completed run.

A run is one upload: `<source key>@<ETag>`. The same upload announced twice
is the same run (nothing new happens); a changed file under the same key is a
new run, whose records and report replace the earlier run's as the latest.
"""
import json
import time
import uuid
from functools import lru_cache
from typing import Any

from chalicelib import aws, settings
from chalicelib.adapters.queues import BatchSender, MessageQueue
from chalicelib.adapters.reports import ReportStore
from chalicelib.clock import seconds_between, utc_now
from chalicelib.errors import InvalidRequest, NotFound
from chalicelib.logbatch import messages
from chalicelib.streaming.lines import CorruptStream, LineReader
from chalicelib.streaming.runs import check_upload_key
from chalicelib.streaming.resumable import Checkpointer, ObjectReplaced, open_object, parse_handover, run_id_for
from chalicelib.logbatch.parsing import parse_line, status_class
from chalicelib.logbatch.repository import LogRecords, MessageCounts, RunTracker
from chalicelib.logs import logger

ACCEPTED_SUFFIXES = (".txt", ".jsonl", ".log")
RECORD_TEXT_LIMIT = 150_000  # bytes of raw line and of message each: a DynamoDB item is at most 400 KB


def accepted(key: str) -> bool:
    name = key.lower().removesuffix(".gz")
    return name.endswith(ACCEPTED_SUFFIXES)


def report_key_for(source_key: str) -> str:
    folder, _, name = source_key.rpartition("/")
    return f"{folder}/relatorio_{name}.json" if folder else f"relatorio_{name}.json"


def clip(text: str | None, limit: int = RECORD_TEXT_LIMIT) -> tuple[str | None, bool]:
    if text is None:
        return None, False
    encoded = text.encode("utf-8")
    if len(encoded) <= limit:
        return text, False
    return encoded[:limit].decode("utf-8", errors="ignore"), True


def line_record(message: messages.LogMessage, line: messages.LogLine, processed_at: str) -> tuple[dict, Any]:
    """The ProcessedLogsTable item for one line, and what was parsed from it."""
    parsed = parse_line(line.text)
    raw, raw_cut = clip(line.text)
    fields = parsed.fields()
    fields["message"], message_cut = clip(parsed.message)
    record = {
        "id": f"{message.run_id}#{line.number:09d}",  # deterministic: a redelivery overwrites itself
        "batch_id": message.batch_id, "run_id": message.run_id, "line": line.number,
        **fields, "status_class": status_class(parsed.status_code), "raw": raw, "processed_at": processed_at,
    }
    if line.truncated or raw_cut or message_cut:
        record["truncated"] = True
    return record, parsed


def build_report(run: dict) -> dict:
    """The completion report of a run, from its tracking item (so it can be rebuilt identically)."""
    return {
        "status": "Completo",
        "batch_id": run["batch_id"],
        "source": f"s3://{run['bucket']}/{run['key']}",
        "run_id": run["run_id"],
        "total_items": int(run["total_lines"]),
        "processed_items": int(run.get("processed", 0)),
        "unparsed_items": int(run.get("unparsed", 0)),
        "truncated_items": int(run.get("truncated", 0)),
        "blank_lines": int(run.get("blank_lines", 0)),
        "by_level": {k[4:]: int(v) for k, v in sorted(run.items()) if k.startswith("lvl_")},
        "by_status": {k[3:]: int(v) for k, v in sorted(run.items()) if k.startswith("st_")},
        "started_at": run["started_at"],
        "completed_at": run["completed_at"],
        "duration_seconds": seconds_between(run["started_at"], run["completed_at"]),
        **({"unreadable": run["unreadable"]} if run.get("unreadable") else {}),
    }


class BatchCompletion:
    """Writes a run's report once every line is processed, whoever notices first."""

    def __init__(self, tracker: RunTracker, reports: ReportStore):
        self.tracker = tracker
        self.reports = reports

    def try_complete(self, run_id: str, run: dict | None = None) -> bool:
        run = run or self.tracker.get(run_id)
        if not run or run.get("report_written") or run.get("total_lines") is None \
                or run.get("processed", 0) < run["total_lines"]:
            return False
        claim = str(uuid.uuid4())
        claimed = self.tracker.claim_report(run_id, claim)
        if claimed is None:  # another worker has it, or it is done
            return False
        key = report_key_for(claimed["key"])
        try:
            self.reports.put_text(key, json.dumps(build_report(claimed), indent=2, ensure_ascii=False) + "\n",
                                  content_type="application/json")
            self.tracker.report_written(run_id, key)
        except Exception:
            # The caller's messages are redelivered to retry this; holding the claim until its lease ran
            # out would make that redelivery find the report "taken" and leave the run without one.
            try:
                self.tracker.release_report(run_id, claim)
            except Exception:  # the original error matters more; the lease runs out anyway
                pass
            raise
        logger.info("log batch completed", run_id=run_id, report=key, total=int(claimed["total_lines"]))
        return True


class LogSplitter:
    LEASE_SECONDS = 60
    CHECKPOINT_EVERY_SECONDS = 10
    SAFETY_MARGIN_SECONDS = 30  # left for the last flush and the hand-over

    def __init__(self, tracker: RunTracker, lines_queue: MessageQueue, continuation_queue: MessageQueue,
                 completion: BatchCompletion, lines_per_message: int = 1, time_budget: float | None = None,
                 monotonic=time.monotonic):
        self.tracker = tracker
        self.lines_queue = lines_queue
        self.continuation_queue = continuation_queue
        self.completion = completion
        self.lines_per_message = max(1, lines_per_message)
        self.time_budget = time_budget
        self.monotonic = monotonic

    def on_upload(self, bucket: str, key: str, etag: str | None = None, context: Any = None) -> str:
        """Start (or, after a crash, resume) splitting an upload. Returns what happened."""
        if not accepted(key):
            logger.info("upload ignored: not a .txt/.jsonl/.log (or .gz) file", bucket=bucket, key=key)
            return "ignored"
        if not etag:
            etag = aws.client("s3").head_object(Bucket=bucket, Key=key)["ETag"]
        etag = etag.strip('"')
        run = {"run_id": run_id_for(key, etag), "batch_id": key, "bucket": bucket, "key": key, "etag": etag,
               "started_at": utc_now(), "lines_per_message": self.lines_per_message}
        token = str(uuid.uuid4())
        state, how = self.tracker.start(run, token, self.LEASE_SECONDS, checkpoint_line=0, blank_lines=0,
                                        processed=0)
        if state is None:
            logger.info("duplicate upload event: nothing to do", run_id=run["run_id"], reason=how)
            # It may be S3 retrying a splitter that finished the run but failed to write its report (no
            # lines, or workers faster than the splitter): nobody else would write it. Otherwise a read.
            self.completion.try_complete(run["run_id"])
            return "duplicate"
        return self._split(state, token, context)

    def on_continuation(self, body: str, context: Any = None) -> str:
        run_id, handed_token = parse_handover(body)
        token = str(uuid.uuid4())
        state = self.tracker.take_over(run_id, handed_token, token, self.LEASE_SECONDS)
        if state is None:
            logger.info("continuation not needed (duplicate, or another splitter owns the run)",
                        run_id=run_id)
            self.completion.try_complete(run_id)  # as for a duplicate upload event
            return "stale"
        return self._split(state, token, context)

    def _split(self, run: dict, token: str, context: Any) -> str:
        with self.tracker.release_on_error(run["run_id"], token):
            return self._split_leased(run, token, context)

    def _split_leased(self, run: dict, token: str, context: Any) -> str:
        run_id, batch_id = run["run_id"], run["batch_id"]
        checkpoints = Checkpointer(self.tracker, self.continuation_queue, run_id, token, context=context,
                                   time_budget=self.time_budget, every_seconds=self.CHECKPOINT_EVERY_SECONDS,
                                   safety_margin_seconds=self.SAFETY_MARGIN_SECONDS,
                                   lease_seconds=self.LEASE_SECONDS, monotonic=self.monotonic)
        offset, first_line = int(run["checkpoint_offset"]), int(run["checkpoint_line"])
        blank_before = int(run.get("blank_lines", 0))
        try:
            reader = LineReader(open_object(run["bucket"], run["key"], run["etag"], offset), start_offset=offset,
                                start_line=first_line, max_line_bytes=messages.MAX_MESSAGE_BYTES - 1000)
        except ObjectReplaced:
            self.tracker.supersede(run_id)
            logger.info("upload replaced or removed before splitting; its newer upload is its own run",
                        run_id=run_id)
            return "superseded"
        sender = BatchSender(self.lines_queue)
        group: list[tuple[int, str, bool]] = []
        unreadable = {}
        try:
            for line in reader:
                group.append((line.number, line.text, line.truncated))
                if len(group) < self.lines_per_message:
                    continue
                sender.add(messages.encode(run_id, batch_id, group))
                group = []
                if not checkpoints.due():
                    continue
                sender.flush()  # a checkpoint only ever covers lines SQS has accepted
                if checkpoints.save(line.end_offset, checkpoint_line=line.number,
                                    blank_lines=blank_before + reader.blank_lines):
                    logger.info("split paused; a continuation resumes it", run_id=run_id, line=line.number,
                                offset=line.end_offset)
                    return "continued"
        except CorruptStream as error:
            # A retry would meet the same bytes: the lines read so far are the batch, and the report says why.
            unreadable = {"unreadable": str(error)}
            logger.warning("upload unreadable past this point; splitting ends here", run_id=run_id, reason=str(error))
        if group:
            sender.add(messages.encode(run_id, batch_id, group))
        sender.flush()
        blank = blank_before + reader.blank_lines
        total = reader.last_line - blank
        finished = self.tracker.finish(run_id, token, "processing", total_lines=total, blank_lines=blank,
                                       **unreadable)
        logger.info("split done", run_id=run_id, total_lines=total, blank_lines=blank)
        self.completion.try_complete(run_id, finished)  # an empty file, or workers that were faster
        return "split"


class LogWorker:
    def __init__(self, records: LogRecords, tracker: RunTracker, completion: BatchCompletion):
        self.records = records
        self.tracker = tracker
        self.completion = completion

    @staticmethod
    def _prepare(message: messages.LogMessage, processed_at: str) -> tuple[list[dict], MessageCounts]:
        count = MessageCounts(message.run_id, message.first_line)
        rows = []
        for line in message.lines:
            record, parsed = line_record(message, line, processed_at)
            rows.append(record)
            count.processed += 1
            count.unparsed += parsed.format == "unparsed"
            count.truncated += bool(record.get("truncated"))
            count.levels[parsed.level or "NONE"] += 1
            count.statuses[status_class(parsed.status_code)] += 1
        return rows, count

    def process(self, received: list[tuple[str, str]]) -> list[str]:
        """Store and count a batch of queued messages; return the ids of those that failed."""
        failed: list[str] = []
        decoded: dict[str, messages.LogMessage] = {}
        for message_id, body in received:
            try:
                decoded[message_id] = messages.decode(body)
            except ValueError:
                logger.exception("malformed log message", message_id=message_id)
                failed.append(message_id)
        processed_at = utc_now()
        rows: dict[str, list[dict]] = {}
        counts: dict[str, MessageCounts] = {}
        for message_id, message in decoded.items():
            try:
                rows[message_id], counts[message_id] = self._prepare(message, processed_at)
            except Exception:
                logger.exception("log message could not be processed", message_id=message_id)
                failed.append(message_id)
        # A message delivered twice in one batch gives the same ids: write each item once.
        unique = {row["id"]: row for message_rows in rows.values() for row in message_rows}
        unwritten = {row["id"] for row in self.records.put_all(list(unique.values()))}
        stored = [m for m in rows if not any(r["id"] in unwritten for r in rows[m])]
        failed += [m for m in rows if m not in stored]
        try:
            self.tracker.count([counts[m] for m in stored])
        except Exception:
            logger.exception("counting failed; the batch's messages will be redelivered")
            return failed + stored
        for run_id in sorted({decoded[m].run_id for m in stored}):
            try:
                self.completion.try_complete(run_id)
            except Exception:  # counted already; a redelivery is a duplicate that retries completion
                logger.exception("completion check failed", run_id=run_id)
                failed += [m for m in stored if decoded[m].run_id == run_id]
        return failed


def batch_status(batch_id: str | None, tracker: RunTracker, reports_bucket: str) -> dict:
    check_upload_key(batch_id)
    run = tracker.latest(batch_id)
    if run is None:
        raise NotFound("No upload with this key has been seen.", [{"field": "key", "problem": "not found"}])
    total = run.get("total_lines")
    processed = int(run.get("processed", 0))
    status = {
        "batch_id": run["batch_id"], "run_id": run["run_id"], "source": f"s3://{run['bucket']}/{run['key']}",
        "status": run["status"], "started_at": run["started_at"], "lines_split": int(run.get("checkpoint_line", 0)),
        "total_items": int(total) if total is not None else None, "processed_items": processed,
        "progress": round(processed / int(total), 4) if total else (1.0 if total == 0 else None),
    }
    if run.get("unreadable"):
        status["unreadable"] = run["unreadable"]
    if run.get("report_written"):
        status["report"] = {"bucket": reports_bucket, "key": run["report_key"], "content": build_report(run)}
    return status


@lru_cache(maxsize=None)
def _tracker() -> RunTracker:
    return RunTracker(settings.log_batches_table())


@lru_cache(maxsize=None)
def _completion() -> BatchCompletion:
    return BatchCompletion(_tracker(), ReportStore(settings.processed_data_bucket()))


@lru_cache(maxsize=None)
def log_splitter() -> LogSplitter:
    return LogSplitter(_tracker(), MessageQueue(settings.log_queue()), MessageQueue(settings.log_split_queue()),
                       _completion(), settings.log_lines_per_message(), settings.log_split_time_budget())


@lru_cache(maxsize=None)
def log_worker() -> LogWorker:
    return LogWorker(LogRecords(settings.processed_logs_table()), _tracker(), _completion())


def log_batch_status(batch_id: str | None) -> dict:
    return batch_status(batch_id, _tracker(), settings.processed_data_bucket())


def reset() -> None:
    for cached in (_tracker, _completion, log_splitter, log_worker):
        cached.cache_clear()
