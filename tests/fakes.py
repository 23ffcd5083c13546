"""In-memory fakes of the queues, report store and repositories (chalicelib/ports.py), for the services' unit tests.

Each fake keeps what the real one would store in plain dicts, and keeps the
real one's meaning where a service depends on it (a conditional write that
refuses, a lease that is someone else's, a message counted once): the moto
tests of the repositories say the real ones do the same. None of them counts
chunks or pages by bytes the way DynamoDB does; tests of that stay on moto.
"""
import itertools
import json
from contextlib import contextmanager
from decimal import Decimal
from typing import Any, Iterator

from chalicelib.streaming.runs import FAILED, IN_PROGRESS, TOKEN, LeaseLost


class FakeSender:
    def __init__(self, queue: "FakeQueue"):
        self.queue, self.pending = queue, []

    def add(self, body: str) -> None:
        self.pending.append(body)

    def flush(self) -> None:
        self.queue.bodies += self.pending
        self.pending = []


class FakeQueue:
    def __init__(self, name: str = "queue"):
        self.name = name
        self.bodies: list[str] = []
        self._ids = itertools.count(1)

    def send_json(self, payload: dict[str, Any]) -> str:
        self.bodies.append(json.dumps(payload, separators=(",", ":")))
        return f"m{next(self._ids)}"

    def batch_sender(self, correlation_id: str | None = None) -> FakeSender:
        return FakeSender(self)

    def messages(self) -> list[Any]:
        return [json.loads(body) for body in self.bodies]


class FakeReports:
    def __init__(self, bucket: str = "reports"):
        self.bucket = bucket
        self.texts: dict[str, str] = {}

    def put_text(self, key: str, text: str, content_type: str = "text/plain; charset=utf-8") -> None:
        self.texts[key] = text

    def get_text(self, key: str) -> str | None:
        return self.texts.get(key)


class FakeProducts:
    def __init__(self):
        self.items: dict[str, dict[str, Any]] = {}

    def add_if_absent(self, product: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        if product["id"] in self.items:
            return self.items[product["id"]], False
        self.items[product["id"]] = {**product, "price": Decimal(str(product["price"]))}
        return self.items[product["id"]], True

    def get(self, product_id: str) -> dict[str, Any] | None:
        return self.items.get(product_id)

    def page(self, limit: int, cursor: str | None) -> tuple[list[dict[str, Any]], str | None]:
        ids = sorted(self.items)
        start = ids.index(cursor) + 1 if cursor in ids else 0
        chosen = ids[start:start + limit]
        return [self.items[i] for i in chosen], (chosen[-1] if start + limit < len(ids) else None)

    def prices(self, product_ids) -> dict[str, Decimal]:
        return {i: self.items[i]["price"] for i in product_ids if i in self.items}


class FakeIdempotencyKeys:
    def __init__(self):
        self.remembered: dict[str, str] = {}

    def remember(self, resource_id: str, request_fingerprint: str) -> bool:
        if resource_id in self.remembered:
            return False
        self.remembered[resource_id] = request_fingerprint
        return True


class FakeRuns:
    """Upload runs with the real lease rules: one token reads; a hand-over names the next."""

    def __init__(self, now: float = 1_800_000_000.0):
        self.items: dict[str, dict[str, Any]] = {}
        self.latest_of: dict[str, str] = {}
        self.now = lambda: now

    def get(self, run_id: str) -> dict | None:
        run = self.items.get(run_id)
        return dict(run) if run else None

    def latest(self, key: str) -> dict | None:
        return self.get(self.latest_of[key]) if key in self.latest_of else None

    def start(self, run: dict, token: str, lease_seconds: int, **initial: Any) -> tuple[dict | None, str]:
        if run["run_id"] in self.items:
            return None, f"already {self.items[run['run_id']]['status']}"
        self.items[run["run_id"]] = {**run, "status": IN_PROGRESS, TOKEN: token, "checkpoint_offset": 0,
                                     "lease_until": self.now() + lease_seconds, **initial}
        self.latest_of[run["batch_id"]] = run["run_id"]
        return self.get(run["run_id"]), "started"

    def take_over(self, run_id: str, expected_token: str | None, token: str, lease_seconds: int) -> dict | None:
        run = self.items.get(run_id)
        if not run or run["status"] != IN_PROGRESS or (run[TOKEN] != expected_token
                                                       and run["lease_until"] >= self.now()):
            return None
        run.update({TOKEN: token, "lease_until": self.now() + lease_seconds})
        return self.get(run_id)

    @contextmanager
    def release_on_error(self, run_id: str, token: str) -> Iterator[None]:
        try:
            yield
        except LeaseLost:
            raise
        except Exception:
            if self.items.get(run_id, {}).get(TOKEN) == token:
                self.items[run_id]["lease_until"] = 0
            raise

    def checkpoint(self, run_id: str, token: str, offset: int, lease_seconds: int, next_token: str | None = None,
                   **progress: Any) -> None:
        run = self.items[run_id]
        if run[TOKEN] != token:
            raise LeaseLost(run_id)
        run.update(progress, checkpoint_offset=offset, lease_until=self.now() + lease_seconds)
        run[TOKEN] = next_token or token

    def finish(self, run_id: str, token: str, status: str, **fields: Any) -> dict:
        run = self.items[run_id]
        if run[TOKEN] != token or run["status"] != IN_PROGRESS:
            raise LeaseLost(run_id)
        run.update(fields, status=status)
        run.pop("lease_until", None)
        return self.get(run_id)  # type: ignore[return-value]

    def give_up(self, run: dict, reason: str) -> str:
        if run["run_id"] not in self.items:
            self.items[run["run_id"]] = {**run, "status": FAILED, "failure_reason": reason}
            self.latest_of[run["batch_id"]] = run["run_id"]
            return "created failed"
        stored = self.items[run["run_id"]]
        if stored["status"] != IN_PROGRESS:
            return "already finished"
        stored.update(status=FAILED, failure_reason=reason)
        return "failed"

    def supersede(self, run_id: str) -> None:
        if self.items[run_id]["status"] == IN_PROGRESS:
            self.items[run_id]["status"] = "superseded"

    # --- runs read in parts: the conditions of RunRepository's, in memory ---------------

    def start_parts(self, run: dict[str, Any], parts: list[dict[str, Any]], lease_seconds: int) -> None:
        for part in parts:
            self.items.setdefault(part["run_id"], {**run, **part, "status": IN_PROGRESS,
                                                   "lease_until": self.now() + lease_seconds})

    def planned(self, run_id: str, token: str, parts: int) -> None:
        run = self.items[run_id]
        if run.get("parts") != parts or run[TOKEN] != token:
            raise LeaseLost(run_id)
        run.pop("lease_until", None)

    def part_done(self, run_id: str, part: int, totals: dict[str, int], **fields: Any) -> dict | None:
        run = self.items.get(run_id)
        if run is None:
            return None
        if part not in run.setdefault("parts_done", set()):
            run["parts_done"].add(part)
            for name, value in totals.items():
                run[name] = run.get(name, 0) + value
            for name, value in fields.items():
                run.setdefault(name, value)
        return self.get(run_id)

    @staticmethod
    def all_parts_done(run: Any) -> bool:
        return run is not None and run.get("parts") is not None and len(run.get("parts_done", ())) >= run["parts"]

    def seal(self, run_id: str, status: str, **fields: Any) -> dict | None:
        run = self.items[run_id]
        if run["status"] != IN_PROGRESS or run.get("parts") is None:
            return None
        run.update(fields, status=status)
        return self.get(run_id)


class FakeLogRuns(FakeRuns):
    """A log run's table: counting each message once (by run and seq), problem lines and the report's claim."""

    def __init__(self, now: float = 1_800_000_000.0):
        super().__init__(now)
        self.counted: set[tuple[str, int]] = set()
        self.problems: dict[str, dict[int, dict[str, set[int]]]] = {}  # run -> chunk -> set name -> lines
        self.unparsed: dict[str, set[int]] = {}

    def count(self, messages: list[Any]) -> Any:
        from chalicelib.logbatch.repository import CountResult
        result = CountResult()
        for message in messages:
            if (message.run_id, message.seq) in self.counted:
                result.duplicates.append(message)
                continue
            self.counted.add((message.run_id, message.seq))
            run = self.items[message.run_id]
            for name, value in message.counters().items():
                run[name] = run.get(name, 0) + value
            chunk = self.problems.setdefault(message.run_id, {}).setdefault(message.chunk, {})
            for name, lines in message.problems.items():
                chunk.setdefault(name, set()).update(lines)
            self.unparsed.setdefault(message.run_id, set()).update(message.unparsed_lines)
            result.runs[message.run_id] = self.get(message.run_id)
        return result

    def close_chunks(self, run_id: str, messages: int, per_chunk: int, first: int = 0) -> dict | None:
        return None

    def counted_so_far(self, run_id: str, parts: int = 1) -> int:
        return int(self.items[run_id].get("processed", 0))

    def problem_chunks(self, run_id: str, from_chunk: int, limit: int = 100, parts: int = 1) -> list[dict]:
        chunks = sorted((c, sets) for c, sets in self.problems.get(run_id, {}).items() if c >= from_chunk and sets)
        return [{"chunk": c, **sets} for c, sets in chunks[:limit]]

    def first_unparsed(self, run_id: str, limit: int = 5, parts: int = 1) -> list[int]:
        return sorted(self.unparsed.get(run_id, ()))[:limit]

    def claim_report(self, run_id: str, claim: str, lease_seconds: int = 120,
                     status: str = "completed") -> dict | None:
        run = self.items[run_id]
        if run.get("total_lines") is None or run.get("processed", 0) < run["total_lines"] \
                or run.get("report_written") or run.get("report_claim") not in (None, claim):
            return None
        run.update(status=status, report_claim=claim, completed_at=run.get("completed_at", "2026-11-20T10:00:05.000Z"))
        return self.get(run_id)

    def release_report(self, run_id: str, claim: str) -> None:
        if self.items[run_id].get("report_claim") == claim:
            del self.items[run_id]["report_claim"]

    def report_written(self, run_id: str, report_key: str, unparsed_lines: list[dict] | None = None) -> None:
        self.items[run_id].update(report_written=True, report_key=report_key)
        if unparsed_lines:
            self.items[run_id]["unparsed_lines"] = unparsed_lines


class FakeLogLines:
    """Records by (run, line), and how each was packed: like ProcessedLogsTable, a line written packed G to an item
    is found only by a reader that knows the run's G (a line written 1 to an item, by any)."""

    def __init__(self):
        self.records: dict[tuple[str, int], dict] = {}
        self.per_item: dict[tuple[str, int], int] = {}

    def store(self, records: list[dict[str, Any]], per_item: int) -> list[dict[str, Any]]:
        for record in records:
            place = (record["run_id"], int(record["line"]))
            self.records[place], self.per_item[place] = record, per_item
        return []

    def lines(self, run_id: str, numbers: list[int], per_item: int) -> dict[int, dict[str, Any]]:
        return {n: self.records[(run_id, n)] for n in sorted(set(numbers))
                if (run_id, n) in self.records and self.per_item[(run_id, n)] in (1, per_item)}


class FakeInvoices:
    def __init__(self):
        self.items: dict[tuple[str, str], dict[str, Any]] = {}

    def put_newer(self, invoices: list[dict[str, Any]]) -> list[dict[str, Any]]:
        stale = []
        for invoice in invoices:
            key = (invoice["number"], invoice["issuer_series"])
            if key in self.items and self.items[key]["version"] > invoice["version"]:
                stale.append(invoice)
            else:
                self.items[key] = invoice
        return stale

    def find(self, number: str, now: int, issuer: str | None = None, series: str | None = None,
             limit: int = 21) -> list[dict[str, Any]]:
        found = [i for (n, _), i in sorted(self.items.items()) if n == number and i["expires_at"] > now
                 and (issuer is None or i["issuer"] == issuer) and (series is None or i["series"] == series)]
        return found[:limit]

    def page(self, limit: int, cursor: str | None, now: int, customer: str | None = None,
             issued_from: str | None = None, issued_to: str | None = None) -> tuple[list[dict[str, Any]], str | None]:
        chosen = [i for _, i in sorted(self.items.items()) if i["expires_at"] > now
                  and (customer is None or i["customer"] == customer)
                  and (issued_from is None or i["issue_date"] >= issued_from)
                  and (issued_to is None or i["issue_date"] <= issued_to)]
        start = int(cursor) if cursor else 0
        return chosen[start:start + limit], (str(start + limit) if start + limit < len(chosen) else None)


class FakeInvoiceRuns(FakeRuns):
    def __init__(self, now: float = 1_800_000_000.0):
        super().__init__(now)
        self.rejected: dict[str, dict[int, dict]] = {}

    def record_rejected(self, run_id: str, rejected: list[dict[str, Any]]) -> None:
        self.rejected.setdefault(run_id, {}).update({r["row"]: r for r in rejected})

    def rejected_rows(self, run_id: str, max_problems: int) -> list[dict[str, Any]]:
        rows, gathered = [], 0
        for _, row in sorted(self.rejected.get(run_id, {}).items()):
            if gathered >= max_problems:
                break
            rows.append(row)
            gathered += len(row["problems"])
        return rows


class FakeOrders:
    """OrdersTable: a transition applies only from the status it names, as the conditional write does."""

    def __init__(self):
        self.items: dict[str, dict[str, Any]] = {}

    def add_if_absent(self, order: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        if order["orderId"] in self.items:
            return self.items[order["orderId"]], False
        self.items[order["orderId"]] = {k: v for k, v in order.items() if v is not None}
        return self.items[order["orderId"]], True

    def get(self, order_id: str) -> dict[str, Any] | None:
        return dict(self.items[order_id]) if order_id in self.items else None

    def transition(self, order_id: str, current: str, new: str, at: str, reason: str | None = None,
                   changes: dict[str, Any] | None = None, *, passing: tuple[str, str] | None = None,
                   claim: tuple[str, int] | None = None) -> dict[str, Any] | None:
        from chalicelib.orders.states import check_transition, history_entry, leaves_work_list
        for start, end in ([(current, passing[0]), (passing[0], new)] if passing else [(current, new)]):
            check_transition(start, end)
        if claim is not None and new != "COMPLETED":
            raise ValueError("the notification is claimed with COMPLETED only")
        order = self.items.get(order_id)
        if order is None or order["status"] != current:
            return None
        order.update(changes or {}, status=new, updatedAt=at)
        order["history"] = order.get("history", []) + ([history_entry(passing[0], passing[1])] if passing else []) \
            + [history_entry(new, at, reason)]
        if reason:
            order["failureReason"] = reason
        if claim is not None:
            order.update(notifyingClaim=claim[0], notifyingUntil=claim[1])
        if leaves_work_list(new):  # otherwise pendingSince stays when the order was placed, as the real one
            order.pop("pendingShard", None)
            order.pop("pendingSince", None)
            order.pop("notify", None)  # FAILED is never notified: the contact goes with the same write
        return dict(order)

    def claim_notification(self, order_id: str, now: float, lease_seconds: int, claim: str) -> bool:
        order = self.items[order_id]
        if order["status"] != "COMPLETED" or "notifiedAt" in order or (
                order.get("notifyingUntil", 0) >= now and order.get("notifyingClaim") != claim):
            return False
        order.update(notifyingUntil=int(now) + lease_seconds, notifyingClaim=claim)
        return True

    def release_notification(self, order_id: str) -> None:
        self.items[order_id].pop("notifyingUntil", None)

    def mark_notified(self, order_id: str, at: str) -> bool:
        order = self.items[order_id]
        if "notifiedAt" in order or order["status"] != "COMPLETED":
            return False
        order["notifiedAt"] = at
        order.pop("pendingShard", None)
        order.pop("pendingSince", None)
        order.pop("notify", None)  # the contact is kept until the notification is recorded, as the real one
        return True

    def erase_contacts(self, customer_id: str) -> int:
        holding = [o for o in self.items.values() if o["customerId"] == customer_id and "notify" in o]
        for order in holding:
            del order["notify"]
        return len(holding)

    def count_for_customer(self, customer_id: str) -> int:
        return sum(o["customerId"] == customer_id for o in self.items.values())

    def _page(self, orders: list[dict], limit: int, cursor: str | None) -> tuple[list[dict[str, Any]], str | None]:
        start = int(cursor) if cursor else 0
        return orders[start:start + limit], (str(start + limit) if start + limit < len(orders) else None)

    def page_all(self, limit: int, cursor: str | None) -> tuple[list[dict[str, Any]], str | None]:
        return self._page(sorted(self.items.values(), key=lambda o: o["orderId"]), limit, cursor)

    def page_for_customer(self, customer_id: str, limit: int,
                          cursor: str | None) -> tuple[list[dict[str, Any]], str | None]:
        mine = sorted((o for o in self.items.values() if o["customerId"] == customer_id),
                      key=lambda o: o["createdAt"], reverse=True)
        return self._page(mine, limit, cursor)

    def waiting_since(self, shard: str, before: str) -> Iterator[str]:
        return iter([i for i, o in sorted(self.items.items())
                     if o.get("pendingShard") == shard and o.get("pendingSince", "") <= before])


class FakeContacts:
    def __init__(self):
        self.contacts: dict[tuple[str, str], str] = {}

    def keep(self, customer_id: str, order_id: str, contact: str) -> None:
        self.contacts[(customer_id, order_id)] = contact

    def get(self, customer_id: str, order_id: str) -> str | None:
        return self.contacts.get((customer_id, order_id))

    def erase_customer(self, customer_id: str) -> int:
        mine = [key for key in self.contacts if key[0] == customer_id]
        for key in mine:
            del self.contacts[key]
        return len(mine)


class FakeNotifier:
    def __init__(self):
        self.sent: list[dict[str, Any]] = []

    def completed(self, order: dict[str, Any]) -> str:
        self.sent.append(order)
        return f"n{len(self.sent)}"
