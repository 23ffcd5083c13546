"""The log flow's two reads for operators: a batch's status (GET /log-batches) and its problem lines
(GET /log-batches/lines), both of the key's newest run."""
from typing import Any

from chalicelib.errors import InvalidRequest
from chalicelib.logbatch.completion import build_report
from chalicelib.logbatch.parsing import normalise_level
from chalicelib.logbatch.records import lines_per_item
from chalicelib.logbatch.repository import decode_problem_cursor, encode_problem_cursor
from chalicelib.ports import LogLines, LogRuns
from chalicelib.pagination import clip_texts, fitting, parse_page_size
from chalicelib.streaming.runs import check_upload_key, latest_run, parts_of


def batch_status(batch_id: str | None, tracker: LogRuns, reports_bucket: str) -> dict:
    run: Any = latest_run(tracker, batch_id)
    total = run.get("total_lines")
    # The RUN item adds 10,000 lines at a time; its sections know the count to the nearest chunk.
    processed = int(run.get("processed", 0)) if run.get("report_written") else tracker.counted_so_far(run["run_id"], parts_of(run))
    status = {
        "batch_id": run["batch_id"], "run_id": run["run_id"], "source": f"s3://{run['bucket']}/{run['key']}",
        "status": run["status"], "started_at": run["started_at"], "lines_split": int(run.get("checkpoint_line", 0)),
        "total_items": int(total) if total is not None else None, "processed_items": processed,
        "progress": round(processed / int(total), 4) if total else (1.0 if total == 0 else None),
    }
    if run.get("parts"):  # read by several readers: the lines of the parts that have finished, and how many have
        done = len(run.get("parts_done", ()))
        status.update({"parts": int(run["parts"]), "parts_split": done, "lines_split": sum(
            int(run.get(name, 0)) for name in ("split_lines", "blank_lines", "header_lines"))})
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
    chunk, line, cursor_etag = decode_problem_cursor(cursor)
    if cursor_etag != etag:
        raise InvalidRequest("The file was uploaded again since this page.", [
            {"field": "next", "problem": "belongs to an earlier upload of this key; start again without it"}])
    return chunk, line


def problem_lines(key: str | None, level: str | None, status: str | None, limit: str | None,
                  cursor: str | None, tracker: LogRuns, records: LogLines) -> dict:
    """A page of the newest run's lines at or above a level and/or with a 5xx status, in line order."""
    check_upload_key(key)  # a bad key is refused before the other parameters are looked at
    groups = _wanted_sets(level, status)
    page_size = parse_page_size(limit)
    run: Any = latest_run(tracker, key)
    chunk, after = _read_cursor(cursor, run["etag"])
    found: list[tuple[int, int]] = []  # (chunk, line)
    scanned, next_cursor = 0, None
    while len(found) < page_size:
        items = tracker.problem_chunks(run["run_id"], chunk, limit=100, parts=parts_of(run))
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
    stored = records.lines(run["run_id"], [line for _, line in found], lines_per_item(run))
    shown = [(place, clip_texts({k: v for k, v in stored[place[1]].items() if k not in RECORD_INTERNALS}))
             for place in found if place[1] in stored]
    fit = fitting([item for _, item in shown])
    if fit < len(shown):  # the page is full by bytes: the next one starts after its last line
        next_cursor = {"chunk": shown[fit - 1][0][0], "line": shown[fit - 1][0][1]}
        shown = shown[:fit]
    items = [item for _, item in shown]
    return {"items": items, "next": encode_problem_cursor(next_cursor["chunk"], next_cursor["line"], run["etag"])
            if next_cursor else None}


