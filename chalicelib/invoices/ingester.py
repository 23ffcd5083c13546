"""The invoice ingester (notas fiscais): read an uploaded file as a stream, keep the valid invoices, account for every row.

An upload is a run (`<key>@<ETag>`, see chalicelib.streaming): a duplicated S3
event for it does nothing, a reader that runs out of Lambda time hands over to
`continue_invoice_ingest` from its last checkpoint, and one that crashed is
resumed after its lease. Rows are counted in memory and saved with each
checkpoint; rows after a checkpoint are read again on a resume, and their
writes are idempotent (same invoice, same version; same rejected-row item),
so the counts stay exact.

A row is accepted (valid; written unless a newer upload already wrote that
invoice, then counted as `superseded`) or rejected with its problems. An
invoice is its issuer, series and number (chalicelib/invoices/fields.py); a
row that names no issuer or series is the stage's own issuer's, series 1
(`StagePolicy`), and every invoice expires `retention_years` whole years
after the end of the year it was issued in (DynamoDB's TTL deletes it then).
A row already past that is rejected: it would be deleted as soon as stored.

Nothing this module writes (reports, rejected-row records, log lines,
metrics) holds a customer's document: problems name the field, never echo
its value, and listings show documents masked. A file
that cannot be read at all ends `failed` with the reason and is not retried:
trying again cannot fix its content.

The run id is the correlation id of everything a run does: its
continuations, its report's metadata, its log lines.
"""
import json
import time
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from chalicelib import aws, metrics, settings
from chalicelib.clock import seconds_between, utc_now
from chalicelib.invoices.fields import DEFAULT_SERIES, Invoice, parse_issuer, validate_row
from chalicelib.invoices.formats import UnreadableFile, reader_for
from chalicelib.invoices.repository import issuer_series
from chalicelib.logs import logger
from chalicelib.money import money_text
from chalicelib.ports import InvoiceRuns, Invoices, Queue, Reports
from chalicelib.streaming.lines import CorruptStream
from chalicelib.streaming.resumable import Checkpointer, ObjectReplaced, UploadReader, run_id_for
from chalicelib.streaming.runs import IN_PROGRESS, Run, latest_run

# Rows held before their invoices and rejections are written: 400 new invoices are 16 INSERT batches of 25,
# sent at once (adapters/dynamo.insert_all), so one chunk costs one round trip, and its rejected rows one
# BatchWriteItem. Smaller chunks made the round trips, not the CPU, an upload's limit.
WRITE_CHUNK_ROWS = 400
STATUS_PROBLEMS_SHOWN = 100
REPORT_PROBLEMS_SHOWN = 1000
MIN_RETENTION_YEARS = 5  # Brazil's tax code: fiscal records are kept until the right to assess them lapses


def _epoch_of_new_year(year: int) -> int:
    """Seconds from 1970-01-01 to January 1 of `year`, UTC: exact for any year (datetime stops at 9999)."""
    def days_before(y: int) -> int:
        return 365 * (y - 1) + (y - 1) // 4 - (y - 1) // 100 + (y - 1) // 400
    return (days_before(year) - days_before(1970)) * 86400


@dataclass(frozen=True)
class StagePolicy:
    """What a stage decides for the invoices it stores: whose an invoice is when its file does not say, and how
    long it is kept. Fiscal records must be kept 5 years counted from the first day of the year after the one
    they were issued in (CTN art. 173), so an invoice expires `retention_years` after that day."""
    default_issuer: str | None
    retention_years: int = MIN_RETENTION_YEARS

    def __post_init__(self):
        if self.retention_years < MIN_RETENTION_YEARS:
            raise ValueError(f"invoices must be kept at least {MIN_RETENTION_YEARS} years, "
                             f"not {self.retention_years} (INVOICE_RETENTION_YEARS)")

    @classmethod
    def of(cls, default_issuer: str | None, retention_years: int) -> "StagePolicy":
        """From the stage's INVOICE_DEFAULT_ISSUER (as written) and INVOICE_RETENTION_YEARS; ValueError naming
        the setting that breaks the rules."""
        try:
            issuer = parse_issuer(default_issuer) if default_issuer is not None else None
        except ValueError as error:
            raise ValueError(f"INVOICE_DEFAULT_ISSUER {error}") from None
        return cls(issuer, retention_years)

    @classmethod
    def from_settings(cls) -> "StagePolicy":
        return cls.of(settings.invoice_default_issuer(), settings.invoice_retention_years())

    def expires_at(self, issue_date: str) -> int:
        """When an invoice issued on `issue_date` (ISO) may go: epoch seconds, DynamoDB's TTL format."""
        return _epoch_of_new_year(int(issue_date[:4]) + 1 + self.retention_years)

    def problems(self, invoice: Invoice, now: float) -> list[dict]:
        """Why a valid row cannot be stored on this stage."""
        found = []
        if invoice.issuer is None and self.default_issuer is None:
            found.append({"field": "issuer", "problem": "is required: name the issuer's CNPJ in a cnpj_emitente "
                          "column (this stage has no default issuer, INVOICE_DEFAULT_ISSUER)"})
        if self.expires_at(invoice.issue_date) <= now:
            year = int(invoice.issue_date[:4])
            found.append({"field": "issue_date", "problem": f"is past the {self.retention_years}-year retention of "
                          f"invoices (one issued in {year} is kept until "
                          f"{year + 1 + self.retention_years}-01-01), so it is not stored"})
        return found


def report_key_for(run: dict) -> str:
    """Under its own prefix of the reports bucket, one report per upload: it cannot collide with any other."""
    return f"invoice-uploads/{run['key']}@{run['etag']}.json"


def problem_entries(rejected_rows: list[dict], limit: int) -> list[dict]:
    entries = [{"row": int(r["row"]), **p} for r in rejected_rows for p in r["problems"]]
    return entries[:limit]


class Progress:
    """The counts of a run so far, as saved with its checkpoints."""
    FIELDS = ("rows", "accepted", "rejected", "superseded", "problems")
    rows: int  # each of FIELDS, set by __init__
    accepted: int
    rejected: int
    superseded: int
    problems: int

    def __init__(self, run: dict):
        for name in self.FIELDS:
            setattr(self, name, int(run.get(name, 0)))
        self.total_amount = Decimal(str(run.get("total_amount", "0")))

    def saved(self) -> dict:
        return {**{name: getattr(self, name) for name in self.FIELDS}, "total_amount": self.total_amount}


class InvoiceIngester(UploadReader):
    """Reads an upload's rows into invoices and rejections: the invoice flow's reading step of an upload run."""

    def __init__(self, runs: InvoiceRuns, invoices: Invoices, continuation: Queue,
                 reports: Reports, time_budget: float | None = None, policy: StagePolicy | None = None):
        super().__init__(runs, continuation, time_budget)
        self.runs: InvoiceRuns = runs
        self.invoices = invoices
        self.reports = reports
        self.policy = policy or StagePolicy.from_settings()

    def on_upload(self, bucket: str, key: str, etag: str | None = None, event_time: str | None = None,
                  sequencer: str | None = None, context: Any = None) -> str:
        """Start (or, after a crash, resume) ingesting an upload. Returns what happened."""
        if reader_for(key) is None:
            logger.info("upload ignored: not a .csv/.json/.jsonl (or .gz) file", bucket=bucket, key=key)
            return "ignored"
        if not etag or not event_time:
            head = aws.client("s3").head_object(Bucket=bucket, Key=key)
            etag = etag or head["ETag"]
            event_time = event_time or head["LastModified"].isoformat()
        etag = etag.strip('"')
        return self.start({"run_id": run_id_for(key, etag, sequencer), "batch_id": key, "bucket": bucket, "key": key,
                           "etag": etag, "uploaded_at": event_time, "started_at": utc_now()}, context)

    def initial_progress(self) -> dict[str, Any]:
        return Progress({}).saved()

    def on_accepted(self, run_id: str) -> None:
        metrics.count("InvoiceUploadsAccepted")

    def on_duplicate(self, run_id: str) -> None:
        metrics.count("InvoiceUploadDuplicates")

    def on_given_up(self, run_id: str, outcome: str) -> None:
        metrics.count("InvoiceUploadsFailed", int(outcome != "already finished"))

    def failed_run(self, bucket: str, key: str, etag: str, sequencer: str | None = None,
                   event_time: str | None = None) -> Run:
        return {"run_id": run_id_for(key, etag, sequencer), "batch_id": key, "bucket": bucket, "key": key,
                "etag": etag, "uploaded_at": event_time or utc_now(), "started_at": utc_now()}

    def read(self, run: Any, token: str, checkpoints: Checkpointer) -> str:
        progress = Progress(run)
        batch = RowBatch(run, self.invoices, self.runs, progress, self.policy)
        return self._read(run, token, checkpoints, batch, progress, int(run["checkpoint_offset"]))

    def _read(self, run: dict, token: str, checkpoints: Checkpointer, batch: "RowBatch", progress: Progress,
              offset: int) -> str:
        run_id = run["run_id"]
        try:
            reader_class = reader_for(run["key"])
            assert reader_class is not None, "on_upload ignores a key no reader takes"
            reader = reader_class(self.open_object(run["bucket"], run["key"], run["etag"], offset),
                                  start_offset=offset, state=run.get("reader_state"))
            for row in reader:
                batch.add(row)
                if batch.full():
                    batch.write()
                if checkpoints.due():
                    batch.write()  # a checkpoint only ever covers rows already written
                    if checkpoints.save(row.end_offset, reader_state=reader.state(), **progress.saved()):
                        logger.info("ingest paused; a continuation resumes it", run_id=run_id, rows=progress.rows)
                        return "continued"
            batch.write()
        except ObjectReplaced:
            self.runs.supersede(run_id)
            logger.info("upload replaced or removed before it was read; the newer upload is its own run",
                        run_id=run_id)
            return "superseded"
        except (UnreadableFile, CorruptStream) as error:
            batch.write()  # the rows before the breakage stand
            return self._finish(run, token, progress, "failed", str(error))
        return self._finish(run, token, progress, "completed")

    def _finish(self, run: dict, token: str, progress: Progress, status: str, reason: str | None = None) -> str:
        """Write the report, then end the run: a crash in between re-reads and rewrites the same report."""
        completed_at = utc_now()
        final = {**run, **progress.saved(), "status": status, "completed_at": completed_at,
                 "report_key": report_key_for(run), **({"failure_reason": reason} if reason else {})}
        rejected = self.runs.rejected_rows(run["run_id"], REPORT_PROBLEMS_SHOWN)
        report = upload_summary(final, rejected, REPORT_PROBLEMS_SHOWN)
        self.reports.put_text(final["report_key"], json.dumps(report, indent=2, ensure_ascii=False) + "\n",
                              content_type="application/json")
        self.runs.finish(run["run_id"], token, status, completed_at=completed_at, report_key=final["report_key"],
                         **progress.saved(), **({"failure_reason": reason} if reason else {}))
        # Counted once a run, at its end: rows read again after a resume would otherwise count twice.
        metrics.count("InvoiceUploadsCompleted" if status == "completed" else "InvoiceUploadsFailed")
        metrics.count("InvoiceRowsAccepted", progress.accepted)
        metrics.count("InvoiceRowsRejected", progress.rejected)
        logger.info("invoice upload done", run_id=run["run_id"], status=status, accepted=progress.accepted,
                    rejected=progress.rejected, reason=reason)
        return status


class RowBatch:
    """Rows read but not yet written: their invoices (guarded by version) and their rejections."""

    def __init__(self, run: dict, invoices: Invoices, runs: InvoiceRuns, progress: Progress,
                 policy: StagePolicy):
        self.run, self.invoices, self.runs, self.progress, self.policy = run, invoices, runs, progress, policy
        self.valid: dict[tuple[str, str], dict] = {}
        self.rejected: list[dict] = []
        self.ingested_at = utc_now()
        self.now = time.time()

    def add(self, row) -> None:
        self.progress.rows += 1
        invoice, problems = self._checked(row)
        if invoice is None:
            self.progress.rejected += 1
            self.progress.problems += len(problems)
            self.rejected.append({"row": row.number, "problems": problems})
            return
        self.progress.accepted += 1
        self.progress.total_amount += invoice.amount
        record = self._record(invoice, row.number)
        # The same invoice twice in a few rows: the later row is the newer one.
        self.valid[(record["number"], record["issuer_series"])] = record

    def _checked(self, row) -> tuple[Invoice | None, list[dict]]:
        if row.problem:
            return None, [{"field": "row", "problem": row.problem}]
        invoice, found = validate_row(row.data)
        if invoice is None:
            return None, [_problem(p) for p in found]
        problems = self.policy.problems(invoice, self.now)
        return (None, problems) if problems else (invoice, [])

    def full(self) -> bool:
        return len(self.valid) + len(self.rejected) >= WRITE_CHUNK_ROWS

    def write(self) -> None:
        if self.valid:
            self.progress.superseded += len(self.invoices.put_newer(list(self.valid.values())))
        if self.rejected:
            self.runs.record_rejected(self.run["run_id"], self.rejected)
        self.valid, self.rejected = {}, []

    def _record(self, invoice: Invoice, row: int) -> dict:
        run = self.run
        issuer, series = invoice.issuer or self.policy.default_issuer, invoice.series or DEFAULT_SERIES
        assert issuer is not None, "StagePolicy.problems rejects a row without an issuer on a stage without one"
        return {
            "number": invoice.number, "issuer_series": issuer_series(issuer, series), "issuer": issuer,
            "series": series, "expires_at": self.policy.expires_at(invoice.issue_date),
            "customer": invoice.customer, "amount": invoice.amount,
            "issue_date": invoice.issue_date, "customer_document": invoice.customer_document,
            "description": invoice.description,
            "source": {"bucket": run["bucket"], "key": run["key"], "row": row},
            "ingested_at": self.ingested_at, "upload": run["run_id"],
            "version": f"{run['uploaded_at']}|{run['key']}|{row:012d}",
        }


def _problem(problem: Any) -> dict:
    if isinstance(problem, dict):
        return {"field": problem["field"], "problem": problem["problem"]}
    return {"field": problem.field, "problem": problem.problem}


def upload_status(runs: InvoiceRuns, key: str | None, reports_bucket: str) -> dict:
    """GET /invoice-uploads: the key's newest run, its first problems, and where its report is once written."""
    run: Any = latest_run(runs, key)
    summary = upload_summary(run, runs.rejected_rows(run["run_id"], STATUS_PROBLEMS_SHOWN), STATUS_PROBLEMS_SHOWN)
    if run.get("report_key"):
        summary["report"] = {"bucket": reports_bucket, "key": run["report_key"]}
    return summary


def upload_summary(run: dict, rejected_rows: list[dict], max_problems: int) -> dict:
    """An upload's status as the API and the report show it."""
    status = "processing" if run["status"] == IN_PROGRESS else run["status"]
    problems = int(run.get("problems", 0))
    shown = problem_entries(rejected_rows, max_problems)
    summary = {
        "key": run["key"], "source": f"s3://{run['bucket']}/{run['key']}", "run_id": run["run_id"],
        "status": status, "rows": int(run.get("rows", 0)), "accepted": int(run.get("accepted", 0)),
        "rejected": int(run.get("rejected", 0)), "superseded": int(run.get("superseded", 0)),
        "total_amount": money_text(Decimal(str(run.get("total_amount", "0")))),
        "errors": shown, "errors_not_shown": max(0, problems - len(shown)),
        "started_at": run["started_at"], "completed_at": run.get("completed_at"),
        "duration_seconds": seconds_between(run["started_at"], run["completed_at"]) if run.get("completed_at")
        else None,
    }
    if run.get("failure_reason"):
        summary["failure_reason"] = run["failure_reason"]
    return summary


