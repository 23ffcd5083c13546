"""A log run's completion: its report, written once when every line is counted, by whoever notices first.

The splitter (an empty file, or workers faster than it) and every worker
batch that rolls a run's last section ask; a claim with a lease decides who
writes, and the report is rebuilt from the run's item alone, so a retry
writes the same report.
"""
import json
import uuid
from typing import Any

from chalicelib import correlation, metrics
from chalicelib.clock import seconds_between
from chalicelib.logbatch.records import lines_per_item
from chalicelib.logs import logger
from chalicelib.ports import LogLines, LogRuns, Reports
from chalicelib.streaming.runs import parts_of


def report_key_for(source_key: str) -> str:
    folder, _, name = source_key.rpartition("/")
    return f"{folder}/relatorio_{name}.json" if folder else f"relatorio_{name}.json"


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

    def __init__(self, tracker: LogRuns, reports: Reports, records: LogLines | None = None):
        self.tracker = tracker
        self.reports = reports
        self.records = records  # where the report's first unparsed lines are read (None: the report has none)

    def _first_unparsed(self, run_id: str, run: dict) -> list[dict]:
        """The run's first few unparsed lines ({line, text, clipped?}), from its chunks' U# items and records."""
        if self.records is None or not int(run.get("unparsed", 0)):
            return []
        numbers = self.tracker.first_unparsed(run_id, parts=parts_of(run))
        stored = self.records.lines(run_id, numbers, lines_per_item(run))
        lines = []
        for number in numbers:
            if number not in stored:  # gone since (expired or deleted): nothing to show
                continue
            text = stored[number].get("raw") or ""
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


