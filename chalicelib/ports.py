"""What the services need of their queues, stores and repositories, as Protocols.

The services are handed these by chalicelib/bootstrap.py: the AWS adapters
and repositories on a stage, in-memory fakes (tests/fakes.py) in the services'
own unit tests, which then run in milliseconds without moto. Each Protocol is
the calls a service makes, no more; the real class is the one that says how
(and moto's tests of it say that it does). The product store's is
chalicelib/catalog/stores.py's ProductStore.
"""
from contextlib import AbstractContextManager
from typing import Any, Iterable, Iterator, Protocol

from chalicelib.streaming.runs import Run


class Sender(Protocol):
    """Bodies sent in batches: `flush()` returns once every body added so far is accepted."""

    def add(self, body: str) -> None: ...

    def flush(self) -> None: ...


class Queue(Protocol):
    name: str

    def send_json(self, payload: dict[str, Any]) -> str: ...

    def batch_sender(self, correlation_id: str | None = None) -> Sender: ...


class Reports(Protocol):
    """Where generated reports are written (an S3 bucket on a stage)."""
    bucket: str

    def put_text(self, key: str, text: str, content_type: str = "text/plain; charset=utf-8") -> None: ...

    def get_text(self, key: str) -> str | None: ...


class Runs(Protocol):
    """Upload runs (chalicelib/streaming/runs.py's RunRepository): the lease, checkpoints and ending of each."""

    def get(self, run_id: str) -> Run | None: ...

    def latest(self, key: str) -> Run | None: ...

    def start(self, run: Run, token: str, lease_seconds: int, **initial: Any) -> tuple[Run | None, str]: ...

    def take_over(self, run_id: str, expected_token: str | None, token: str, lease_seconds: int) -> Run | None: ...

    def release_on_error(self, run_id: str, token: str) -> AbstractContextManager[None]: ...

    def checkpoint(self, run_id: str, token: str, offset: int, lease_seconds: int, next_token: str | None = None,
                   **progress: Any) -> None: ...

    def finish(self, run_id: str, token: str, status: str, **fields: Any) -> Run: ...

    def give_up(self, run: Run, reason: str) -> str: ...

    def supersede(self, run_id: str) -> None: ...

    def start_parts(self, run: dict[str, Any], parts: list[dict[str, Any]], lease_seconds: int) -> None: ...

    def planned(self, run_id: str, token: str, parts: int) -> None: ...

    def part_done(self, run_id: str, part: int, totals: dict[str, int], **fields: Any) -> Run | None: ...

    def all_parts_done(self, run: Any) -> bool: ...

    def seal(self, run_id: str, status: str, **fields: Any) -> Run | None: ...



class LogRuns(Runs, Protocol):
    """A log run's table: the run, plus exact counting, problem lines and the report's claim."""

    def count(self, messages: list[Any]) -> Any: ...

    def close_chunks(self, run_id: str, messages: int, per_chunk: int, first: int = 0) -> dict | None: ...

    def counted_so_far(self, run_id: str, parts: int = 1) -> int: ...

    def problem_chunks(self, run_id: str, from_chunk: int, limit: int = 100, parts: int = 1) -> list[dict]: ...

    def first_unparsed(self, run_id: str, limit: int = ..., parts: int = 1) -> list[int]: ...

    def claim_report(self, run_id: str, claim: str, lease_seconds: int = 120,
                     status: str = "completed") -> dict | None: ...

    def release_report(self, run_id: str, claim: str) -> None: ...

    def report_written(self, run_id: str, report_key: str, unparsed_lines: list[dict] | None = None) -> None: ...


class LogLines(Protocol):
    """Each log line's record (ProcessedLogsTable), packed `per_item` lines to an item (logbatch/records.py)."""

    def store(self, records: list[dict[str, Any]], per_item: int) -> list[dict[str, Any]]: ...

    def lines(self, run_id: str, numbers: list[int], per_item: int) -> dict[int, dict[str, Any]]: ...


class Invoices(Protocol):
    def put_newer(self, invoices: list[dict[str, Any]]) -> list[dict[str, Any]]: ...

    def find(self, number: str, now: int, issuer: str | None = None, series: str | None = None,
             limit: int = 21) -> list[dict[str, Any]]: ...

    def page(self, limit: int, cursor: str | None, now: int, customer: str | None = None,
             issued_from: str | None = None, issued_to: str | None = None) -> tuple[list[dict[str, Any]], str | None]: ...


class InvoiceRuns(Runs, Protocol):
    """An invoice upload's run, plus its rejected rows."""

    def record_rejected(self, run_id: str, rejected: list[dict[str, Any]]) -> None: ...

    def rejected_rows(self, run_id: str, max_problems: int) -> list[dict[str, Any]]: ...


class IdempotencyKeyStore(Protocol):
    def remember(self, resource_id: str, request_fingerprint: str) -> bool: ...


class Orders(Protocol):
    """OrdersTable (chalicelib/orders/repository.py): the orders and the sweep's work list."""

    def add_if_absent(self, order: dict[str, Any]) -> tuple[dict[str, Any], bool]: ...

    def get(self, order_id: str) -> dict[str, Any] | None: ...

    def transition(self, order_id: str, current: str, new: str, at: str, reason: str | None = None,
                   changes: dict[str, Any] | None = None, *, passing: tuple[str, str] | None = None,
                   claim: tuple[str, int] | None = None) -> dict[str, Any] | None: ...

    def claim_notification(self, order_id: str, now: float, lease_seconds: int, claim: str) -> bool: ...

    def release_notification(self, order_id: str) -> None: ...

    def mark_notified(self, order_id: str, at: str) -> bool: ...

    def page_all(self, limit: int, cursor: str | None) -> tuple[list[dict[str, Any]], str | None]: ...

    def page_for_customer(self, customer_id: str, limit: int,
                          cursor: str | None) -> tuple[list[dict[str, Any]], str | None]: ...

    def waiting_since(self, shard: str, before: str) -> Iterator[str]: ...


class Prices(Protocol):
    """What the order worker asks of the product store."""

    def prices(self, product_ids: Iterable[str]) -> dict[str, Any]: ...
