"""ProcessedLogsTable: each log line's record, several lines packed into one item (issue 22's write path).

A write unit covers 1 KB, and a line's record is 100-200 bytes once the
run's fields are out of it, so one item per line paid ≥ 1 unit for a fifth of
that. A run's lines are packed `per_item` (G) to an item:

- item `<run>#G<group>` (group = (line - 1) // G, 9 digits) holds line
  `group * G + slot + 1` as the map attribute `l<slot>`, in short field names
  (PACKED_NAMES), plus the item's own `batch_id`, `ttl`, `processed_at` and
  `per_item` (the run id is the id's prefix, and no line carries it again);
- a line whose packed entry is over OWN_ITEM_BYTES, and every line of a run
  written with G = 1 (every run before packing), is today's item of its own:
  `<run>#<line>` (9 digits), written whole by BatchWriteItem.

SQS does not keep order, so the lines of one item may come in different
worker batches: an item is merged into, never replaced by part of its lines.
A batch that holds all of an item's lines puts it whole (BatchWriteItem, 25
items a call): whatever another batch wrote there is among them, with the
same values. Otherwise it sends one UpdateItem for the item, SETting one
attribute per line it holds. A redelivery writes the same values again, so
nothing is doubled or lost.
G is fixed per run by the splitter (in each message) so that every line of a
run lands where the readers look, whatever a deploy changes meanwhile.
"""
import json
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from chalicelib import aws
from chalicelib.adapters.dynamo import Update, backoff, batch_put, from_item, to_item
from chalicelib.logbatch.parsing import status_class

# A line whose packed entry is bigger gets an item of its own: the clip limits let one line's record reach
# about 310 KB (raw and message 150,000 bytes each, four 2,000-byte fields), and a few such lines would not
# fit one 400 KB item. Below it, an item's size grows with its lines' and is billed by the KB as one line's
# would be; above it, a line pays for its own item, as it does at G = 1.
OWN_ITEM_BYTES = 4_000  # × messages.MAX_PER_ITEM (50) = 200 KB: half an item, whatever a run packs
BATCH_GET_LIMIT = 100
ITEM_FIELDS = ("batch_id", "ttl", "processed_at", "per_item")  # the item's, not any one line's
# Record fields -> their names inside a packed line. Every field a line's record has (worker.line_record);
# `line` is the slot, `status_class` is computed again on reading, the rest is the item's.
PACKED_NAMES = {"raw": "r", "format": "f", "timestamp": "t", "level": "v", "status_code": "s", "component": "c",
                "message": "m", "method": "q", "path": "p", "bytes_sent": "n", "client": "a", "details": "d",
                "truncated": "x"}
FIELD_NAMES = {short: name for name, short in PACKED_NAMES.items()}
RECORD_ORDER = ("id", "batch_id", "run_id", "line", "format", "timestamp", "level", "status_code", "component",
                "message", "method", "path", "bytes_sent", "client", "details", "status_class", "raw",
                "processed_at", "truncated", "ttl")  # a record's fields in worker.line_record's order


def lines_per_item(run: dict[str, Any]) -> int:
    """How a run's lines were packed: the splitter keeps it on the run item when it starts (absent: 1, a run
    written before packing)."""
    return int(run.get("lines_per_item", 1))


def record_id(run_id: str, line: int) -> str:
    """A line's own item: every line of a run written with G = 1, and a line too big to pack."""
    return f"{run_id}#{line:09d}"


def item_id(run_id: str, group: int) -> str:
    """A packed item: `G` keeps it apart from any line's own id (`#000000001`)."""
    return f"{run_id}#G{group:09d}"


def place(line: int, per_item: int) -> tuple[int, int]:
    """(group, slot) of a line in a run packed `per_item` to an item."""
    return (line - 1) // per_item, (line - 1) % per_item


def pack_line(record: dict[str, Any]) -> dict[str, Any]:
    """A line's record as the map one slot of its item holds: short names, and the message, when the raw line
    holds it (nearly always), as where it is in it ([start, end]) instead of a second copy."""
    packed: dict[str, Any] = {}
    raw = record.get("raw")
    for name, value in record.items():
        if name in ITEM_FIELDS or name in ("id", "run_id", "line", "status_class") or value is None:
            continue
        short = PACKED_NAMES.get(name, f"_{name}")  # a field this table does not know yet keeps its name
        if name == "message" and isinstance(raw, str) and value:
            start = raw.find(value)
            if start >= 0:
                value = [start, start + len(value)]
        packed[short] = value
    return packed


def unpack_line(run_id: str, line: int, item: dict[str, Any], packed: dict[str, Any]) -> dict[str, Any]:
    """The record of line `line` from its slot of `item`: the fields a record of its own has."""
    fields = {FIELD_NAMES.get(short, short.removeprefix("_")): value for short, value in packed.items()}
    message = fields.get("message")
    if isinstance(message, list):
        start, end = (int(n) for n in message)
        fields["message"] = str(fields.get("raw", ""))[start:end]
    fields.update({"id": record_id(run_id, line), "run_id": run_id, "line": line,
                   "status_class": status_class(int(fields["status_code"]) if "status_code" in fields else None)})
    fields.update({name: item[name] for name in ("batch_id", "processed_at", "ttl") if name in item})
    ordered = {name: fields.pop(name) for name in RECORD_ORDER if name in fields}
    return {**ordered, **fields}


def packed_size(packed: dict[str, Any]) -> int:
    """An upper bound of the bytes a packed line adds to its item: its JSON (quotes, colons and commas
    outweigh DynamoDB's 1 byte per map element and a number's bytes)."""
    return len(json.dumps(packed, ensure_ascii=False, default=str).encode("utf-8", errors="surrogatepass"))


class LogRecords:
    """ProcessedLogsTable: log lines stored (packed or one to an item) and read back by line number."""

    def __init__(self, table_name: str, max_in_flight: int = 16, sleep=time.sleep):
        self.table_name = table_name
        self.max_in_flight = max_in_flight  # a batch of 100 lines touches about 100 / G items
        self.sleep = sleep

    # --- writing -------------------------------------------------------------------------

    def store(self, records: list[dict[str, Any]], per_item: int) -> list[dict[str, Any]]:
        """Store line records (worker.line_record's, each with `run_id` and `line`) of runs packed `per_item` to an
        item; return those still unwritten after retries. Idempotent: every item's place is the line number's."""
        whole: list[dict[str, Any]] = []
        items: dict[str, dict[int, dict[str, Any]]] = {}  # item id -> slot -> packed line
        of_item: dict[str, list[dict[str, Any]]] = {}
        present: dict[str, set[int]] = {}  # item id -> slots this batch holds, a line of its own's too
        for record in records:
            packed = pack_line(record) if per_item > 1 else None
            if packed is not None:
                group, slot = place(int(record["line"]), per_item)
                key = item_id(record["run_id"], group)
                present.setdefault(key, set()).add(slot)
            if packed is None or packed_size(packed) > OWN_ITEM_BYTES:
                whole.append(record)
                continue
            items.setdefault(key, {})[slot] = packed
            of_item.setdefault(key, []).append(record)
        # An item whose every line is in this batch is put whole: nothing another batch wrote can be lost, as
        # any line it wrote there is one of these, with the same values. BatchWriteItem puts 25 a call, where
        # the merge is one UpdateItem an item. SQS's batches come nearly in order: most items are whole in one.
        complete = [key for key in items if len(present[key]) == per_item]
        puts = [to_item(r) for r in whole] + [to_item(self._item(key, items[key], of_item[key][0], per_item))
                                              for key in complete]
        unwritten = [record for item in (batch_put(self.table_name, puts) if puts else [])
                     for record in of_item.get(item["id"]["S"], [from_item(item)])]

        def merge(key: str) -> list[dict[str, Any]]:
            update = Update()
            for name, value in self._item(key, items[key], of_item[key][0], per_item).items():
                if name != "id":
                    update.set(name, value)
            try:
                aws.client("dynamodb").update_item(TableName=self.table_name, Key={"id": {"S": key}},
                                                   **update.params())
            except Exception:  # after botocore's retries: these lines' messages are redelivered
                return of_item[key]
            return []

        merged = sorted(set(items) - set(complete))
        if len(merged) <= 1:
            return unwritten + [record for key in merged for record in merge(key)]
        with ThreadPoolExecutor(min(self.max_in_flight, len(merged)), thread_name_prefix="log-records") as pool:
            return unwritten + [record for left in pool.map(merge, merged) for record in left]

    @staticmethod
    def _item(key: str, slots: dict[int, dict[str, Any]], first: dict[str, Any], per_item: int) -> dict[str, Any]:
        """A packed item's attributes from these lines: theirs (`l<slot>`), and the item's, the same for every
        line of a run (processed_at: the last batch's)."""
        item: dict[str, Any] = {"id": key, **{f"l{slot}": packed for slot, packed in sorted(slots.items())}}
        item.update({name: first[name] for name in ITEM_FIELDS if first.get(name) is not None})
        item["per_item"] = per_item
        return item

    # --- reading -------------------------------------------------------------------------

    def lines(self, run_id: str, numbers: list[int], per_item: int) -> dict[int, dict[str, Any]]:
        """The records of these lines of a run written `per_item` to an item, by line number, in the shape of
        a line's own item; lines not stored (expired, not yet written) are left out."""
        wanted = sorted(set(numbers))
        found: dict[int, dict[str, Any]] = {}
        if per_item > 1:
            items = self._get([item_id(run_id, group) for group in dict.fromkeys(place(n, per_item)[0]
                                                                                 for n in wanted)])
            for number in wanted:
                group, slot = place(number, per_item)
                item = items.get(item_id(run_id, group))
                # An item packed by another G would put another line in that slot: it is not this run's layout.
                if item and int(item.get("per_item", 0)) == per_item and f"l{slot}" in item:
                    found[number] = unpack_line(run_id, number, item, item[f"l{slot}"])
        missing = [n for n in wanted if n not in found]  # G = 1, or a line too big to pack
        own = self._get([record_id(run_id, n) for n in missing]) if missing else {}
        found.update({n: own[record_id(run_id, n)] for n in missing if record_id(run_id, n) in own})
        return {n: found[n] for n in wanted if n in found}

    def _get(self, ids: list[str]) -> dict[str, dict]:
        """The items with these ids, by id (BatchGetItem, 100 keys a call, retrying UnprocessedKeys)."""
        db = aws.client("dynamodb")
        found: dict[str, dict] = {}
        unique = list(dict.fromkeys(ids))
        for start in range(0, len(unique), BATCH_GET_LIMIT):
            keys = [{"id": {"S": i}} for i in unique[start:start + BATCH_GET_LIMIT]]
            for attempt in range(8):
                response = db.batch_get_item(RequestItems={self.table_name: {"Keys": keys}})
                for item in response.get("Responses", {}).get(self.table_name, []):
                    record = from_item(item)
                    found[record["id"]] = record
                keys = response.get("UnprocessedKeys", {}).get(self.table_name, {}).get("Keys", [])
                if not keys:
                    break
                self.sleep(backoff(attempt))
            if keys:
                raise RuntimeError(f"{len(keys)} log records unread after retries (throttled)")
        return found
