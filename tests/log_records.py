"""What ProcessedLogsTable holds, line by line, whichever way a run's lines were written.

A run writes each line to an item of its own (`<run>#<line>`, G = 1) or
packs G lines to an item (`<run>#G<group>`, slot `l<n>`:
chalicelib/logbatch/records.py). The tests count and compare lines, not
items: `stored_lines` unpacks every item into one record per line, with
the same field names a line's own item has, and fails on a line stored twice
(in two items, or in two slots), so an exact count can still fail.

It decodes the layout itself (only the table of short names is
records.py's): a packing bug is not hidden by the same bug on both sides.
"""
import re
from typing import Any

import boto3
from boto3.dynamodb.types import TypeDeserializer

from chalicelib.logbatch.records import FIELD_NAMES

_deserialize = TypeDeserializer().deserialize
PACKED_ID = re.compile(r"^(?P<run>.+)#G(?P<group>\d{9})$")
OWN_ID = re.compile(r"^(?P<run>.+)#(?P<line>\d{9})$")
SLOT = re.compile(r"^l(\d+)$")


def scan(table: str, dynamodb=None) -> list[dict[str, Any]]:
    """Every item of the table, as plain values (all pages)."""
    dynamodb = dynamodb or boto3.client("dynamodb")
    items, params = [], {"TableName": table}
    while True:
        page = dynamodb.scan(**params)
        items += [{k: _deserialize(v) for k, v in item.items()} for item in page["Items"]]
        if "LastEvaluatedKey" not in page:
            return items
        params["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def lines_of_item(item: dict[str, Any]) -> list[dict[str, Any]]:
    """The line records one item holds: one for a line's own item, each slot's for a packed one."""
    packed = PACKED_ID.match(item["id"])
    if not packed:
        own = OWN_ID.match(item["id"])
        assert own, f"an item of ProcessedLogsTable with an id no reader looks for: {item['id']!r}"
        assert int(item["line"]) == int(own["line"]) and item["run_id"] == own["run"], item["id"]
        return [{**item, "line": int(item["line"])}]
    per_item, group = int(item["per_item"]), int(packed["group"])
    found = []
    for name, entry in item.items():
        slot = SLOT.match(name)
        if not slot:
            continue
        assert int(slot[1]) < per_item, f"slot {name} in an item of {per_item} lines: {item['id']}"
        record = {FIELD_NAMES.get(short, short.lstrip("_")): value for short, value in entry.items()}
        if isinstance(record.get("message"), list):
            start, end = (int(n) for n in record["message"])
            record["message"] = record["raw"][start:end]
        found.append({**record, "run_id": packed["run"], "line": group * per_item + int(slot[1]) + 1,
                      "batch_id": item["batch_id"], "ttl": item["ttl"], "processed_at": item["processed_at"],
                      "item": item["id"]})
    return found


def stored_lines(table: str = "ProcessedLogsTable", dynamodb=None, batch_id: str | None = None) -> list[dict]:
    """Every stored line (of the upload `batch_id`, when given), one record each, in (run, line) order.
    AssertionError when a line is stored twice."""
    lines: dict[tuple[str, int], dict] = {}
    for item in scan(table, dynamodb):
        for record in lines_of_item(item):
            place = (record["run_id"], record["line"])
            assert place not in lines, f"line {place} stored twice: {lines[place].get('item', lines[place].get('id'))}" \
                                       f" and {record.get('item', record.get('id'))}"
            lines[place] = record
    return [lines[place] for place in sorted(lines) if batch_id is None or lines[place]["batch_id"] == batch_id]
