"""The log flow's services as the app uses them, built once per container from the stage's settings.

The flow's jobs live in their own modules (splitter, worker, completion,
queries); this only wires them, and keeps the names app.py, the local
console and the benchmarks import.
"""
from functools import lru_cache

from chalicelib import settings
from chalicelib.adapters.queues import MessageQueue
from chalicelib.adapters.reports import ReportStore
from chalicelib.logbatch.completion import BatchCompletion, build_report, report_key_for  # noqa: F401  (re-exported)
from chalicelib.logbatch.parsing import LogFormats, load_formats
from chalicelib.logbatch.queries import batch_status, problem_lines
from chalicelib.logbatch.repository import LogRecords, LogRunRepository
from chalicelib.logbatch.splitter import LogSplitter, accepted  # noqa: F401  (re-exported)
from chalicelib.logbatch.worker import LogWorker, clip, line_record  # noqa: F401  (re-exported)


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
    return batch_status(batch_id, _tracker(), settings.processed_data_bucket())


def log_batch_problem_lines(params: dict[str, str]) -> dict:
    return problem_lines(params.get("key"), params.get("level"), params.get("status"), params.get("limit"),
                         params.get("next"), _tracker(), LogRecords(settings.processed_logs_table()))


def reset() -> None:
    for cached in (_tracker, _completion, log_splitter, log_worker, log_formats):
        cached.cache_clear()
