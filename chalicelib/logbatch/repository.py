"""DynamoDB for log batches: one record per line (ProcessedLogsTable) and the runs' progress (LogBatchesTable).

LogBatchesTable holds, under the run's id (`<source key>@<ETag>`):
- `RUN`: status, split checkpoint and lease, totals, counters, report state;
- `M#<first line>`: one marker per counted message. A message's marker and
  its counts are written in one transaction, so a redelivered message can
  never be counted twice, and a batch's counts land in one update per run.
and, under `LATEST#<source key>`, the id of the key's newest run.
"""
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable

from chalicelib import aws
from chalicelib.adapters.dynamo import backoff, batch_put, from_item, to_item
from chalicelib.clock import iso_from_epoch

RUN = "RUN"
MARKER_TTL_SECONDS = 30 * 24 * 3600  # longer than any message can live in a queue or its DLQ
MAX_TRANSACTION_ITEMS = 100


class LeaseLost(RuntimeError):
    """Another splitter owns this run now."""


@dataclass
class MessageCounts:
    """What one message adds to its run's counters."""
    run_id: str
    first_line: int
    processed: int = 0
    unparsed: int = 0
    truncated: int = 0
    levels: Counter = field(default_factory=Counter)
    statuses: Counter = field(default_factory=Counter)


def _counter_update(counts: list[MessageCounts]) -> tuple[str, dict, dict]:
    totals: Counter = Counter()
    for c in counts:
        totals["processed"] += c.processed
        totals["unparsed"] += c.unparsed
        totals["truncated"] += c.truncated
        totals.update({f"lvl_{level}": n for level, n in c.levels.items()})
        totals.update({f"st_{status}": n for status, n in c.statuses.items()})
    names = {f"#a{i}": name for i, name in enumerate(sorted(totals))}
    values = {f":a{i}": {"N": str(totals[name])} for i, name in enumerate(sorted(totals))}
    return "ADD " + ", ".join(f"{n} {v}" for n, v in zip(names, values)), names, values


class LogRecords:
    def __init__(self, table_name: str):
        self.table_name = table_name

    def put_all(self, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Write records (idempotent: ids are deterministic); return those still unwritten after retries."""
        return [from_item(item) for item in batch_put(self.table_name, [to_item(r) for r in records])]


class RunTracker:
    def __init__(self, table_name: str, now: Callable[[], float] = time.time):
        self.table_name = table_name
        self.now = now

    @property
    def _db(self):
        return aws.client("dynamodb")

    def _key(self, run_id: str, sort: str = RUN) -> dict:
        return {"pk": {"S": run_id}, "sk": {"S": sort}}

    def _update(self, run_id: str, expression: str, condition: str | None = None, **values) -> dict | None:
        """UpdateItem on the run; None when the condition fails. Values are plain Python."""
        params: dict[str, Any] = {
            "TableName": self.table_name, "Key": self._key(run_id), "UpdateExpression": expression,
            "ExpressionAttributeValues": {f":{k}": v for k, v in to_item(values).items()},
            # Every attribute is written #name: many (status, processed, ttl, ...) are reserved words.
            "ExpressionAttributeNames": {f"#{n}": n for n in re.findall(r"#(\w+)", f"{expression} {condition}")},
            "ReturnValues": "ALL_NEW",
        }
        if condition:
            params["ConditionExpression"] = condition
        if not params["ExpressionAttributeValues"]:
            del params["ExpressionAttributeValues"]
        try:
            return from_item(self._db.update_item(**params)["Attributes"])
        except self._db.exceptions.ConditionalCheckFailedException:
            return None

    def get(self, run_id: str) -> dict | None:
        item = self._db.get_item(TableName=self.table_name, Key=self._key(run_id), ConsistentRead=True).get("Item")
        return from_item(item) if item else None

    def latest(self, batch_id: str) -> dict | None:
        item = self._db.get_item(TableName=self.table_name, Key=self._key(f"LATEST#{batch_id}", "LATEST"),
                                 ConsistentRead=True).get("Item")
        return self.get(from_item(item)["run_id"]) if item else None

    # --- splitting ---------------------------------------------------------------

    def start(self, run: dict, token: str, lease_seconds: int) -> tuple[dict | None, str]:
        """Own the run's splitting: ("started" | "resumed", run) or (None, why not)."""
        now = self.now()
        item = {**run, "pk": run["run_id"], "sk": RUN, "status": "splitting", "split_token": token,
                "lease_until": int(now + lease_seconds), "checkpoint_offset": 0, "checkpoint_line": 0,
                "blank_lines": 0, "processed": 0}
        try:
            self._db.put_item(TableName=self.table_name, Item=to_item(item),
                              ConditionExpression="attribute_not_exists(pk)")
            self._db.put_item(TableName=self.table_name, Item=to_item({
                "pk": f"LATEST#{run['batch_id']}", "sk": "LATEST", "run_id": run["run_id"]}))
            return item, "started"
        except self._db.exceptions.ConditionalCheckFailedException:
            pass
        resumed = self.take_over(run["run_id"], None, token, lease_seconds)
        if resumed:
            return resumed, "resumed"
        existing = self.get(run["run_id"]) or {}
        return None, f"already {existing.get('status', 'unknown')}"

    def take_over(self, run_id: str, expected_token: str | None, token: str, lease_seconds: int) -> dict | None:
        """Become the splitter: with the handed-over token, or because the owner's lease ran out."""
        now = self.now()
        condition = "#status = :splitting AND (#lease_until < :now"
        condition += " OR #split_token = :expected)" if expected_token else ")"
        values = {"splitting": "splitting", "now": int(now), "token": token, "until": int(now + lease_seconds)}
        if expected_token:
            values["expected"] = expected_token
        return self._update(run_id, "SET #split_token = :token, #lease_until = :until", condition, **values)

    def checkpoint(self, run_id: str, token: str, offset: int, line: int, blank_lines: int, lease_seconds: int,
                   next_token: str | None = None) -> None:
        """Record how far splitting got (and renew the lease, or hand it to `next_token`)."""
        saved = self._update(
            run_id, "SET #checkpoint_offset = :offset, #checkpoint_line = :line, #blank_lines = :blank, "
                    "#lease_until = :until, #split_token = :next",
            "#split_token = :token", offset=offset, line=line, blank=blank_lines, token=token,
            until=int(self.now() + lease_seconds), next=next_token or token)
        if saved is None:
            raise LeaseLost(run_id)

    def finish_split(self, run_id: str, token: str, total_lines: int, blank_lines: int) -> dict:
        finished = self._update(
            run_id, "SET #total_lines = :total, #blank_lines = :blank, #status = :processing REMOVE #lease_until",
            "#split_token = :token AND #status = :splitting", total=total_lines, blank=blank_lines,
            token=token, processing="processing", splitting="splitting")
        if finished is None:
            raise LeaseLost(run_id)
        return finished

    def supersede(self, run_id: str) -> None:
        self._update(run_id, "SET #status = :superseded", "#status = :splitting",
                     superseded="superseded", splitting="splitting")

    # --- counting ----------------------------------------------------------------

    def count(self, messages: list[MessageCounts], max_attempts: int = 10,
              sleep: Callable[[float], None] = time.sleep) -> list[MessageCounts]:
        """Add each message's counts to its run exactly once; return the ones that were duplicates."""
        duplicates: list[MessageCounts] = []
        pending, seen = [], set()
        for message in messages:  # the same message twice in one batch is counted once
            key = (message.run_id, message.first_line)
            (duplicates if key in seen else pending).append(message)
            seen.add(key)
        ttl = int(self.now() + MARKER_TTL_SECONDS)
        attempt = 0
        while pending:
            runs = sorted({m.run_id for m in pending})
            chunk: list[MessageCounts] = []
            for message in pending:  # markers + one counter update per run must fit in a transaction
                if len(chunk) + len(runs) >= MAX_TRANSACTION_ITEMS:
                    break
                chunk.append(message)
            items = [{"Put": {"TableName": self.table_name,
                              "Item": {**self._key(m.run_id, f"M#{m.first_line:012d}"), "ttl": {"N": str(ttl)}},
                              "ConditionExpression": "attribute_not_exists(pk)"}} for m in chunk]
            for run_id in sorted({m.run_id for m in chunk}):
                expression, names, values = _counter_update([m for m in chunk if m.run_id == run_id])
                items.append({"Update": {"TableName": self.table_name, "Key": self._key(run_id),
                                         "UpdateExpression": expression, "ExpressionAttributeNames": names,
                                         "ExpressionAttributeValues": values}})
            try:
                self._db.transact_write_items(TransactItems=items)
                pending = pending[len(chunk):]
                attempt = 0
            except self._db.exceptions.TransactionCanceledException as error:
                reasons = error.response.get("CancellationReasons", [])
                repeated = [m for m, r in zip(chunk, reasons) if r.get("Code") == "ConditionalCheckFailed"]
                if repeated:  # already counted: drop them and try the rest again at once
                    duplicates += repeated
                    pending = [m for m in pending if not any(m is r for r in repeated)]
                    continue
                attempt += 1  # conflicts with a concurrent batch on the same run: back off
                if attempt >= max_attempts:
                    raise
                sleep(backoff(attempt, base=0.02))
        return duplicates

    # --- completion --------------------------------------------------------------

    def claim_report(self, run_id: str, lease_seconds: int = 120) -> dict | None:
        """Mark a fully processed run completed and take the right to write its report; None if not due/taken."""
        now = self.now()
        return self._update(
            run_id, "SET #status = :completed, #completed_at = if_not_exists(#completed_at, :iso), "
                    "#report_lease_until = :until",
            "attribute_exists(#total_lines) AND #processed >= #total_lines AND attribute_not_exists(#report_written) "
            "AND (attribute_not_exists(#report_lease_until) OR #report_lease_until < :now)",
            completed="completed", iso=iso_from_epoch(now),
            until=int(now + lease_seconds), now=int(now))

    def report_written(self, run_id: str, report_key: str) -> None:
        self._update(run_id, "SET #report_written = :yes, #report_key = :key REMOVE #report_lease_until",
                     yes=True, key=report_key)
