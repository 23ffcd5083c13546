"""DynamoDB for log batches: one record per line (ProcessedLogsTable) and the runs' progress (LogBatchesTable).

LogBatchesTable holds, under the run's id (`<source key>@<ETag>`):
- `RUN`: status, split checkpoint and lease, totals, counters, report state;
- `M#<first line>`: one marker per counted message. A message's marker and
  its counts are written in one transaction, so a redelivered message can
  never be counted twice, and a batch's counts land in one update per run.
and, under `LATEST#<source key>`, the id of the key's newest run. Leases,
checkpoints and hand-overs are the shared `RunLeases` mechanism.
"""
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable

from chalicelib.adapters.dynamo import backoff, batch_put, from_item, to_item
from chalicelib.clock import iso_from_epoch
from chalicelib.streaming.runs import RunLeases

MARKER_TTL_SECONDS = 30 * 24 * 3600  # longer than any message can live in a queue or its DLQ
MAX_TRANSACTION_ITEMS = 100


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


class RunTracker(RunLeases):
    """A log run's lease and checkpoints (RunLeases), plus exact counting and the report claim."""

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

    def claim_report(self, run_id: str, claim: str, lease_seconds: int = 120) -> dict | None:
        """Mark a fully processed run completed and take the right to write its report; None if not due/taken.

        `claim` names the claimer: a claim applied but answered with a timeout is sent again by botocore
        and must find the report still its own, not taken by "another worker" that nobody will replace.
        """
        now = self.now()
        return self._update(
            run_id, "SET #status = :completed, #completed_at = if_not_exists(#completed_at, :iso), "
                    "#report_lease_until = :until, #report_claim = :claim",
            "attribute_exists(#total_lines) AND #processed >= #total_lines AND attribute_not_exists(#report_written) "
            "AND (attribute_not_exists(#report_lease_until) OR #report_lease_until < :now OR #report_claim = :claim)",
            completed="completed", iso=iso_from_epoch(now),
            until=int(now + lease_seconds), now=int(now), claim=claim)

    def release_report(self, run_id: str, claim: str) -> None:
        """Give up a claim whose report could not be written, so that the redelivery retrying it claims at once."""
        self._update(run_id, "SET #report_lease_until = :zero", "#report_claim = :claim", zero=0, claim=claim)

    def report_written(self, run_id: str, report_key: str) -> None:
        self._update(run_id, "SET #report_written = :yes, #report_key = :key REMOVE #report_lease_until",
                     yes=True, key=report_key)
