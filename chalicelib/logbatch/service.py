"""Log batches: split an uploaded file into queued lines, process lines, report each completed run.

A run is one upload: `<source key>@<ETag>`. The same upload announced twice
is the same run (nothing new happens); a changed file under the same key is a
new run, whose records and report replace the earlier run's as the latest.

The run id is the correlation id of everything a run does: its line
messages, its continuations, its report's metadata, its log lines.

An upload over the stage's caps (chalicelib/streaming/caps.py) is read up to
them: the lines before the cap are sent, stored and counted exactly, and the
run ends `failed` with its reason. Its one report says so, and claims no total
for the file: `total_items` is null and `read_items` the lines it covers.
"""
import json
import time
import uuid
from functools import lru_cache
from typing import Any

from chalicelib import aws, correlation, metrics, settings
from chalicelib.adapters.queues import BatchSender, MessageQueue
from chalicelib.adapters.reports import ReportStore
from chalicelib.clock import seconds_between, utc_now
from chalicelib.errors import InvalidRequest
from chalicelib.logbatch import messages
from chalicelib.streaming.caps import OverCap
from chalicelib.streaming.lines import CorruptStream, LineReader
from chalicelib.streaming.resumable import Checkpointer, ObjectReplaced, UploadReader, open_object, run_id_for
from chalicelib.logbatch.parsing import LogFormats, is_header, load_formats, normalise_level, parse_line, status_class
from chalicelib.logbatch.repository import (UNPARSED_SAMPLE, LogRecords, LogRun, LogRunRepository, MessageCounts,
                                            messages_per_chunk, problem_sets_of)
from chalicelib.streaming.runs import check_upload_key
from chalicelib.pagination import (bad_cursor, clip_texts, decode_cursor, encode_cursor, fitting,
                                   parse_page_size)
from chalicelib.logs import logger

ACCEPTED_SUFFIXES = (".txt", ".jsonl", ".log")
RECORD_TEXT_LIMIT = 150_000  # bytes of raw line and of message each: a DynamoDB item is at most 400 KB
FIELD_TEXT_LIMIT = 2_000  # bytes of any other parsed text (a path, a component): they share what is left


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
    # The run's start, not now: a syslog line without a year must get the same year on every redelivery.
    # A stage's own formats first (those its LOG_FORMATS gives this key): docs/log-formats.md.
    parsed = parse_line(line.text, received_at=message.received_at, formats=log_formats().for_key(message.batch_id))
    raw, raw_cut = clip(line.text)
    fields = parsed.fields()
    fields["message"], message_cut = clip(parsed.message)
    for name in ("path", "component", "client", "method"):
        if isinstance(fields.get(name), str):
            fields[name], field_cut = clip(fields[name], FIELD_TEXT_LIMIT)
            message_cut |= field_cut
    record = {
        "id": f"{message.run_id}#{line.number:09d}",  # deterministic: a redelivery overwrites itself
        "batch_id": message.batch_id, "run_id": message.run_id, "line": line.number,
        **fields, "status_class": status_class(parsed.status_code), "raw": raw, "processed_at": processed_at,
    }
    if line.truncated or raw_cut or message_cut:
        record["truncated"] = True
    record["ttl"] = expires_at(message)
    return record, parsed


def expires_at(message: messages.LogMessage) -> int:
    """When DynamoDB's TTL deletes a line's record: the stage's retention after its run started, so every
    line of a run goes together and a redelivery writes the same item again."""
    started = message.received_at.timestamp() if message.received_at else time.time()
    return int(started) + settings.log_records_retention_days() * 24 * 3600


def build_report(run: dict) -> dict:
    """The completion report of a run, from its tracking item (so it can be rebuilt identically)."""
    report = {
        "status": "Completo",
        "batch_id": run["batch_id"],
        "source": f"s3://{run['bucket']}/{run['key']}",
        "run_id": run["run_id"],
        "total_items": int(run["total_lines"]),
        "processed_items": int(run.get("processed", 0)),
        "unparsed_items": int(run.get("unparsed", 0)),
        "truncated_items": int(run.get("truncated", 0)),
        "blank_lines": int(run.get("blank_lines", 0)),
        "header_lines": int(run.get("header_lines", 0)),
        "by_level": {k[4:]: int(v) for k, v in sorted(run.items()) if k.startswith("lvl_")},
        "by_status": {k[3:]: int(v) for k, v in sorted(run.items()) if k.startswith("st_")},
        "by_format": {k[4:]: int(v) for k, v in sorted(run.items()) if k.startswith("fmt_")},
        "started_at": run["started_at"],
        "completed_at": run["completed_at"],
        "duration_seconds": seconds_between(run["started_at"], run["completed_at"]),
        **({"unreadable": run["unreadable"]} if run.get("unreadable") else {}),
        # the first few, clipped: what a user writes a format for (issue 23); DynamoDB gives the numbers as Decimal
        **({"unparsed_lines": [{**entry, "line": int(entry["line"])} for entry in run["unparsed_lines"]]}
           if run.get("unparsed_lines") else {}),
    }
    if run.get("over_cap"):
        # Exact for the lines read before the cap, and silent on the rest of the file: no total is claimed.
        report.update({"status": "failed", "complete": False, "failure_reason": run["failure_reason"],
                       "total_items": None, "read_items": int(run["total_lines"])})
    return report


class BatchCompletion:
    """Writes a run's report once every line is processed, whoever notices first."""

    UNPARSED_TEXT_LIMIT = 200  # characters of each unparsed line the report shows: enough to write a pattern for

    def __init__(self, tracker: LogRunRepository, reports: ReportStore, records: LogRecords | None = None):
        self.tracker = tracker
        self.reports = reports
        self.records = records  # where the report's first unparsed lines are read (None: the report has none)

    def _first_unparsed(self, run_id: str, run: dict) -> list[dict]:
        """The run's first few unparsed lines ({line, text, clipped?}), from its chunks' U# items and records."""
        if self.records is None or not int(run.get("unparsed", 0)):
            return []
        ids = {number: f"{run_id}#{number:09d}" for number in self.tracker.first_unparsed(run_id)}
        stored = self.records.get_many(list(ids.values()))
        lines = []
        for number, record_id in ids.items():
            if record_id not in stored:  # gone since (expired or deleted): nothing to show
                continue
            text = stored[record_id].get("raw") or ""
            line = {"line": number, "text": text[:self.UNPARSED_TEXT_LIMIT]}
            if len(text) > self.UNPARSED_TEXT_LIMIT:
                line["clipped"] = True
            lines.append(line)
        return lines

    def try_complete(self, run_id: str, run: Any = None) -> bool:
        with correlation.bind(run_id):
            return self._try_complete(run_id, run)

    def _try_complete(self, run_id: str, run: Any) -> bool:
        run = run or self.tracker.get(run_id)
        if not run or run.get("report_written") or run.get("total_lines") is None \
                or run.get("processed", 0) < run["total_lines"]:
            return False
        claim = str(uuid.uuid4())
        # A run stopped at a cap stays `failed`: its report is the account of what was read, not completion.
        claimed = self.tracker.claim_report(run_id, claim, status="failed" if run.get("over_cap") else "completed")
        if claimed is None:  # another worker has it, or it is done
            return False
        key = report_key_for(claimed["key"])
        try:
            claimed = {**claimed, "unparsed_lines": self._first_unparsed(run_id, claimed)}
            self.reports.put_text(key, json.dumps(build_report(claimed), indent=2, ensure_ascii=False) + "\n",
                                  content_type="application/json")
            self.tracker.report_written(run_id, key, claimed["unparsed_lines"])
        except Exception:
            # The caller's messages are redelivered to retry this; holding the claim until its lease ran
            # out would make that redelivery find the report "taken" and leave the run without one.
            try:
                self.tracker.release_report(run_id, claim)
            except Exception:  # the original error matters more; the lease runs out anyway
                pass
            raise
        metrics.count("LogBatchesCompleted")
        logger.info("log batch completed", run_id=run_id, report=key, total=int(claimed["total_lines"]))
        return True


class LogSplitter(UploadReader):
    """Splits an upload into queued line messages: the log flow's reading step of an upload run."""

    def __init__(self, tracker: LogRunRepository, lines_queue: MessageQueue, continuation_queue: MessageQueue,
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
            stream = open_object(run["bucket"], run["key"], run["etag"], offset, lines_before=first_line)
            reader = LineReader(stream, start_offset=offset, start_line=first_line,
                                max_line_bytes=messages.MAX_MESSAGE_BYTES - 1000)
        except ObjectReplaced:
            self.tracker.supersede(run_id)
            logger.info("upload replaced or removed before splitting; its newer upload is its own run",
                        run_id=run_id)
            return "superseded"
        sender = BatchSender(self.lines_queue, correlation_id=run_id)
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


class LogWorker:
    def __init__(self, records: LogRecords, tracker: LogRunRepository, completion: BatchCompletion):
        self.records = records
        self.tracker = tracker
        self.completion = completion

    @staticmethod
    def _prepare(message: messages.LogMessage, processed_at: str) -> tuple[list[dict], MessageCounts]:
        count = MessageCounts(message.run_id, message.seq, message.per_chunk)
        rows = []
        for line in message.lines:
            record, parsed = line_record(message, line, processed_at)
            rows.append(record)
            count.processed += 1
            count.unparsed += parsed.format == "unparsed"
            count.formats[parsed.format] += 1
            if parsed.format == "unparsed" and len(count.unparsed_lines) < UNPARSED_SAMPLE:
                count.unparsed_lines.add(line.number)
            count.truncated += bool(record.get("truncated"))
            count.levels[parsed.level or "NONE"] += 1
            count.statuses[record["status_class"]] += 1
            for problem in problem_sets_of(parsed.level, record["status_class"]):
                count.problems.setdefault(problem, set()).add(line.number)
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
                with correlation.bind(message.run_id):
                    logger.exception("log message could not be processed", message_id=message_id)
                failed.append(message_id)
        # A message delivered twice in one batch gives the same ids: write each item once.
        unique = {row["id"]: row for message_rows in rows.values() for row in message_rows}
        unwritten = {row["id"] for row in self.records.put_all(list(unique.values()))}
        stored = [m for m in rows if not any(r["id"] in unwritten for r in rows[m])]
        failed += [m for m in rows if m not in stored]
        counted = self.tracker.count([counts[m] for m in stored])
        if counted.failed:
            uncounted = {id(message) for message, _ in counted.failed}
            failed += [m for m in stored if id(counts[m]) in uncounted]
            logger.error("counting failed; those messages will be redelivered", messages=len(uncounted),
                         reason=repr(counted.failed[0][1]))
        if counted.duplicates:
            logger.info("duplicate deliveries counted once", duplicates=len(counted.duplicates))
        settled = {id(c) for c, _ in counted.failed} | {id(c) for c in counted.duplicates}
        first_counts = [counts[m] for m in stored if id(counts[m]) not in settled]
        metrics.count("LogLinesProcessed", sum(c.processed for c in first_counts))
        metrics.count("LogLinesUnparsed", sum(c.unparsed for c in first_counts))
        metrics.count("LogMessageDuplicates", len(counted.duplicates))
        for run_id, run in sorted(counted.runs.items()):
            try:
                self.completion.try_complete(run_id, run)
            except Exception:  # counted already; a redelivery is a duplicate that retries completion
                with correlation.bind(run_id):
                    logger.exception("completion check failed", run_id=run_id)
                failed += [m for m in stored if decoded[m].run_id == run_id]
        metrics.count("LogMessagesFailed", len(set(failed)))
        return failed


def batch_status(batch_id: str | None, splitter: LogSplitter, reports_bucket: str) -> dict:
    run: Any = splitter.latest_run(batch_id)
    tracker = splitter.tracker
    total = run.get("total_lines")
    # The RUN item adds 10,000 lines at a time; its sections know the count to the nearest chunk.
    processed = int(run.get("processed", 0)) if run.get("report_written") else tracker.counted_so_far(run["run_id"])
    status = {
        "batch_id": run["batch_id"], "run_id": run["run_id"], "source": f"s3://{run['bucket']}/{run['key']}",
        "status": run["status"], "started_at": run["started_at"], "lines_split": int(run.get("checkpoint_line", 0)),
        "total_items": int(total) if total is not None else None, "processed_items": processed,
        "progress": round(processed / int(total), 4) if total else (1.0 if total == 0 else None),
    }
    if run.get("over_cap"):  # stopped at a cap: the file's total is unknown, progress is over the lines read
        status.update({"total_items": None, "read_items": int(run["total_lines"]), "complete": False})
    if run.get("unreadable"):
        status["unreadable"] = run["unreadable"]
    if run.get("failure_reason"):
        status["failure_reason"] = run["failure_reason"]
    if run.get("report_written"):
        status["report"] = {"bucket": reports_bucket, "key": run["report_key"], "content": build_report(run)}
    return status


# --- the problem lines of a batch ---------------------------------------------------

LISTED_LEVELS = {"WARN": {"pw", "pe", "pf"}, "ERROR": {"pe", "pf"}, "FATAL": {"pf"}}  # "at or above"
LISTED_STATUSES = {"5xx": {"p5"}}
MAX_CHUNKS_PER_PAGE = 1000  # a page that finds fewer lines than asked in this many chunks returns early
RECORD_INTERNALS = ("id", "run_id", "batch_id", "processed_at", "status_class", "ttl")


def _wanted_sets(level: str | None, status: str | None) -> list[set[str]]:
    """The problem sets a line must be in, one of each group (level and status are ANDed)."""
    groups = []
    if level is not None:
        canonical = normalise_level(level)
        if canonical not in LISTED_LEVELS:
            raise InvalidRequest("That level is not listed.", [{"field": "level", "problem": (
                f"must be one of {', '.join(LISTED_LEVELS)} (lines at or above it are listed; "
                "only these levels are indexed)")}])
        groups.append(LISTED_LEVELS[canonical])
    if status is not None:
        if status.lower() not in LISTED_STATUSES:
            raise InvalidRequest("That status is not listed.", [{"field": "status", "problem": "must be 5xx"}])
        groups.append(LISTED_STATUSES[status.lower()])
    return groups or [{"pw", "pe", "pf", "p5"}]


def _matching_lines(chunk_item: dict, groups: list[set[str]]) -> list[int]:
    lines: set[int] | None = None
    for group in groups:
        found = {int(n) for name in group for n in chunk_item.get(name, ())}
        lines = found if lines is None else lines & found
    return sorted(lines or ())


def _read_cursor(cursor: str | None, etag: str) -> tuple[int, int]:
    if cursor is None:
        return 0, 0
    key = decode_cursor(cursor, {"chunk", "line", "etag"})
    try:
        chunk, line = int(key["chunk"]["N"]), int(key["line"]["N"])
    except (KeyError, ValueError):
        raise bad_cursor() from None
    if key["etag"].get("S") != etag:
        raise InvalidRequest("The file was uploaded again since this page.", [
            {"field": "next", "problem": "belongs to an earlier upload of this key; start again without it"}])
    return chunk, line


def problem_lines(key: str | None, level: str | None, status: str | None, limit: str | None,
                  cursor: str | None, splitter: LogSplitter, records: LogRecords) -> dict:
    """A page of the newest run's lines at or above a level and/or with a 5xx status, in line order."""
    check_upload_key(key)  # a bad key is refused before the other parameters are looked at
    groups = _wanted_sets(level, status)
    page_size = parse_page_size(limit)
    run: Any = splitter.latest_run(key)
    tracker = splitter.tracker
    chunk, after = _read_cursor(cursor, run["etag"])
    found: list[tuple[int, int]] = []  # (chunk, line)
    scanned, next_cursor = 0, None
    while len(found) < page_size:
        items = tracker.problem_chunks(run["run_id"], chunk, limit=100)
        for item in items:
            scanned += 1
            lines = [n for n in _matching_lines(item, groups) if item["chunk"] != chunk or n > after]
            found += [(int(item["chunk"]), n) for n in lines]
        if len(items) < 100 or len(found) >= page_size:
            break
        chunk, after = int(items[-1]["chunk"]) + 1, 0
        if scanned >= MAX_CHUNKS_PER_PAGE:  # a short page; the cursor goes on from here
            next_cursor = {"chunk": chunk, "line": 0}
            break
    if len(found) > page_size:
        found = found[:page_size]
    if len(found) == page_size:
        next_cursor = {"chunk": found[-1][0], "line": found[-1][1]}
    ids = [f"{run['run_id']}#{line:09d}" for _, line in found]
    stored = records.get_many(ids)
    shown = [(place, clip_texts({k: v for k, v in stored[i].items() if k not in RECORD_INTERNALS}))
             for place, i in zip(found, ids) if i in stored]
    fit = fitting([item for _, item in shown])
    if fit < len(shown):  # the page is full by bytes: the next one starts after its last line
        next_cursor = {"chunk": shown[fit - 1][0][0], "line": shown[fit - 1][0][1]}
        shown = shown[:fit]
    items = [item for _, item in shown]
    return {"items": items, "next": encode_cursor(
        {"chunk": {"N": str(next_cursor["chunk"])}, "line": {"N": str(next_cursor["line"])},
         "etag": {"S": run["etag"]}}) if next_cursor else None}


@lru_cache(maxsize=None)
def log_formats() -> LogFormats:
    """The stage's user-defined formats (settings.log_formats()), compiled once; BadLogFormat for a bad one."""
    return load_formats(settings.log_formats())


@lru_cache(maxsize=None)
def _tracker() -> LogRunRepository:
    return LogRunRepository(settings.log_batches_table(),
                      problem_lines_ttl_seconds=settings.log_records_retention_days() * 24 * 3600)


@lru_cache(maxsize=None)
def _completion() -> BatchCompletion:
    return BatchCompletion(_tracker(), ReportStore(settings.processed_data_bucket()),
                           LogRecords(settings.processed_logs_table()))


@lru_cache(maxsize=None)
def log_splitter() -> LogSplitter:
    return LogSplitter(_tracker(), MessageQueue(settings.log_queue()), MessageQueue(settings.log_split_queue()),
                       _completion(), settings.log_lines_per_message(), settings.log_split_time_budget())


@lru_cache(maxsize=None)
def log_worker() -> LogWorker:
    log_formats()  # a bad LOG_FORMATS stops the worker here, when it starts, naming the format
    return LogWorker(LogRecords(settings.processed_logs_table()), _tracker(), _completion())


def log_batch_status(batch_id: str | None) -> dict:
    return batch_status(batch_id, log_splitter(), settings.processed_data_bucket())


def log_batch_problem_lines(params: dict[str, str]) -> dict:
    return problem_lines(params.get("key"), params.get("level"), params.get("status"), params.get("limit"),
                         params.get("next"), log_splitter(), LogRecords(settings.processed_logs_table()))


def reset() -> None:
    for cached in (_tracker, _completion, log_splitter, log_worker, log_formats):
        cached.cache_clear()
