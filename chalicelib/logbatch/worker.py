"""The log worker: parse and store each queued line, count it exactly once, and complete its run when it is the last.

A line is stored in a place its number alone decides (records.py: packed
`per_item` to an item, or `<run>#<line>` when the run packs 1), so a
redelivery writes the same values there again; the run's counters take each
message once (the chunk tallies of repository.py), whatever SQS redelivers.
"""
import time
from typing import Any

from chalicelib import correlation, metrics, settings
from chalicelib.clock import utc_now
from chalicelib.logbatch import messages
from chalicelib.logbatch.completion import BatchCompletion
from chalicelib.logbatch.parsing import LogFormats, parse_line, status_class
from chalicelib.logbatch.records import record_id
from chalicelib.logbatch.repository import UNPARSED_SAMPLE, MessageCounts, problem_sets_of
from chalicelib.logs import logger
from chalicelib.ports import LogLines, LogRuns

RECORD_TEXT_LIMIT = 150_000  # bytes of raw line and of message each: a DynamoDB item is at most 400 KB
FIELD_TEXT_LIMIT = 2_000  # bytes of any other parsed text (a path, a component): they share what is left


def stage_formats() -> LogFormats:
    """The stage's user-defined formats, compiled once where the services are built (a line is parsed with them
    first). A function, not the worker's attribute: line_record's three arguments are what a test replaces."""
    from chalicelib import bootstrap  # it builds this module's worker: imported when first used
    return bootstrap.log_formats()


def clip(text: str | None, limit: int = RECORD_TEXT_LIMIT) -> tuple[str | None, bool]:
    if text is None:
        return None, False
    encoded = text.encode("utf-8")
    if len(encoded) <= limit:
        return text, False
    return encoded[:limit].decode("utf-8", errors="ignore"), True


def line_record(message: messages.LogMessage, line: messages.LogLine, processed_at: str) -> tuple[dict, Any]:
    """The ProcessedLogsTable record of one line (records.py packs it), and what was parsed from it."""
    # The run's start, not now: a syslog line without a year must get the same year on every redelivery.
    # A stage's own formats first (those its LOG_FORMATS gives this key): docs/log-formats.md.
    parsed = parse_line(line.text, received_at=message.received_at, formats=stage_formats().for_key(message.batch_id))
    raw, raw_cut = clip(line.text)
    fields = parsed.fields()
    fields["message"], message_cut = clip(parsed.message)
    for name in ("path", "component", "client", "method"):
        if isinstance(fields.get(name), str):
            fields[name], field_cut = clip(fields[name], FIELD_TEXT_LIMIT)
            message_cut |= field_cut
    record = {
        "id": record_id(message.run_id, line.number),  # deterministic: a redelivery writes the same line again
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


class LogWorker:
    def __init__(self, records: LogLines, tracker: LogRuns, completion: BatchCompletion):
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
        # A message delivered twice in one batch gives the same ids: write each line once. Runs pack their lines
        # as they started (`per_item`), so a batch holding two runs' messages may write both ways.
        layouts: dict[int, dict[str, dict]] = {}
        for message_id, message_rows in rows.items():
            layouts.setdefault(decoded[message_id].per_item, {}).update({row["id"]: row for row in message_rows})
        unwritten = {row["id"] for per_item, unique in sorted(layouts.items())
                     for row in self.records.store(list(unique.values()), per_item)}
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


