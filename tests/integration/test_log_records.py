"""ProcessedLogsTable's layout against moto (chalicelib/logbatch/records.py): lines packed G to an item are merged
into it, never replace it; a line too big to pack has an item of its own; a failed item fails only its lines;
the reader finds each line where its number says, and nowhere else."""
import boto3
import pytest

from chalicelib.logbatch import records as layout
from chalicelib.logbatch.records import LogRecords
from tests.log_records import stored_lines

TABLE = "ProcessedLogsTable"
RUN = "app.log@etag"


def record(line: int, raw: str | None = None, **fields) -> dict:
    """A line's record as worker.line_record makes it."""
    raw = raw if raw is not None else f"2026-11-20 10:00:{line % 60:02d} INFO [A] line {line}"
    return {"id": layout.record_id(RUN, line), "batch_id": "app.log", "run_id": RUN, "line": line, "format": "app",
            "timestamp": "2026-11-20T10:00:00Z", "level": "INFO", "component": "A", "message": f"line {line}",
            "status_class": "none", "raw": raw, "processed_at": "2026-11-20T10:00:05.000Z", "ttl": 1802944800,
            **fields}


@pytest.fixture
def records(aws_resources):
    return LogRecords(TABLE, sleep=lambda seconds: None)


def items() -> dict[str, dict]:
    return {item["id"]["S"]: item for item in boto3.client("dynamodb").scan(TableName=TABLE)["Items"]}


def test_lines_of_one_item_arriving_in_several_batches_are_merged_not_replaced(records):
    # No batch below holds all of an item's lines: each merges its own into the item.
    assert records.store([record(5), record(2)], per_item=4) == []   # lines 1-4 are item 0, 5-8 item 1
    assert records.store([record(1), record(8)], per_item=4) == []
    assert records.store([record(2), record(4), record(3)], per_item=4) == []  # line 2 again: the same values
    assert sorted(items()) == [f"{RUN}#G000000000", f"{RUN}#G000000001"]
    assert [r["line"] for r in stored_lines()] == [1, 2, 3, 4, 5, 8]
    assert sorted(items()[f"{RUN}#G000000000"]) == ["batch_id", "id", "l0", "l1", "l2", "l3", "per_item",
                                                    "processed_at", "ttl"]


def test_a_batch_puts_the_items_it_holds_whole_and_merges_into_the_others(records):
    from chalicelib import aws
    calls = []

    def note(params, model, **_):
        calls.append((model.name, params.get("Key", {}).get("id", {}).get("S")))
    events = aws.client("dynamodb").meta.events
    events.register("provide-client-params.dynamodb.*", note)
    try:
        assert records.store([record(n) for n in range(1, 8)], per_item=5) == []  # item 0 whole, 2 of item 1
        assert calls == [("BatchWriteItem", None), ("UpdateItem", f"{RUN}#G000000001")]
        assert records.store([record(n) for n in range(6, 11)], per_item=5) == []  # item 1 whole: put over it
        assert records.store([record(n) for n in (1, 2)], per_item=5) == []  # a redelivery merges into item 0
    finally:
        events.unregister("provide-client-params.dynamodb.*", note)
    assert calls[2:] == [("BatchWriteItem", None), ("UpdateItem", f"{RUN}#G000000000")]
    assert [r["line"] for r in stored_lines()] == list(range(1, 11))
    assert sorted(items()) == [f"{RUN}#G000000000", f"{RUN}#G000000001"]


def test_a_typical_item_of_five_lines_stays_within_one_write_unit(records):
    from benchmarks.meter import item_size
    from tests.logfiles import generated_lines
    lines = [text for text in generated_lines(200) if len(text) <= 90]  # the benchmark's lines, 67 bytes a line
    from chalicelib.logbatch.worker import line_record
    from chalicelib.logbatch import messages
    packed = []
    for n, text in enumerate(lines[:5], 1):
        message = messages.decode(messages.encode(RUN, "app.log", n - 1, 100, [(n, text, False)],
                                                  "2026-11-20T10:00:00+00:00", per_item=5))
        packed.append(line_record(message, message.lines[0], "2026-11-20T10:00:05.000Z")[0])
    assert records.store(packed, per_item=5) == []
    [item] = items().values()
    assert item_size(item) <= 1024


def test_a_line_too_big_to_pack_gets_an_item_of_its_own_and_is_read_back(records):
    big = "2026-11-20 10:00:01 ERROR [A] " + "é" * layout.OWN_ITEM_BYTES
    assert records.store([record(1), record(2, raw=big, message="é" * layout.OWN_ITEM_BYTES), record(3)], 3) == []
    assert sorted(items()) == [f"{RUN}#000000002", f"{RUN}#G000000000"]
    assert "l1" not in items()[f"{RUN}#G000000000"]
    found = records.lines(RUN, [1, 2, 3], per_item=3)
    assert sorted(found) == [1, 2, 3] and found[2]["raw"] == big and found[2]["message"] == "é" * layout.OWN_ITEM_BYTES
    # A whole item of lines just under the bound stays well inside DynamoDB's 400 KB.
    at_bound = "x" * (layout.OWN_ITEM_BYTES - 200)
    assert layout.packed_size(layout.pack_line(record(1, raw=at_bound))) <= layout.OWN_ITEM_BYTES
    from chalicelib.logbatch.messages import MAX_PER_ITEM
    assert MAX_PER_ITEM * layout.OWN_ITEM_BYTES < 400 * 1024 - 2048  # and the id: a partition key of 2 KB at most


def test_an_item_that_fails_fails_only_its_own_lines(records):
    from chalicelib import aws
    client = aws.client("dynamodb")

    def refuse_item_one(params, **_):
        if params.get("Key") == {"id": {"S": f"{RUN}#G000000001"}}:
            raise client.exceptions.ProvisionedThroughputExceededException(
                {"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "injected"}}, "UpdateItem")
    client.meta.events.register("provide-client-params.dynamodb.UpdateItem", refuse_item_one)
    try:
        unwritten = records.store([record(n) for n in (1, 2, 3, 5)], per_item=2)  # item 0 whole, 1 and 2 merged
    finally:
        client.meta.events.unregister("provide-client-params.dynamodb.UpdateItem", refuse_item_one)
    assert [r["line"] for r in unwritten] == [3]
    assert [r["line"] for r in stored_lines()] == [1, 2, 5]
    assert records.store(unwritten, per_item=2) == []  # the redelivery
    assert [r["line"] for r in stored_lines()] == [1, 2, 3, 5]


def test_the_reader_finds_lines_of_runs_from_before_packing_and_ignores_another_layout(records):
    assert records.store([record(n) for n in (1, 2, 3)], per_item=1) == []  # one item a line, as before packing
    assert sorted(items()) == [layout.record_id(RUN, n) for n in (1, 2, 3)]
    assert sorted(records.lines(RUN, [1, 2, 3, 4], per_item=1)) == [1, 2, 3]
    assert sorted(records.lines(RUN, [3, 1], per_item=5)) == [1, 3]  # a line of its own is found under any G
    other = "other.log@etag"
    assert records.store([{**record(n), "run_id": other, "id": layout.record_id(other, n)} for n in (1, 2)], 2) == []
    assert records.lines(other, [1, 2], per_item=3) == {}  # item 0 of G = 2 holds other lines than G = 3's
    assert sorted(records.lines(other, [1, 2], per_item=2)) == [1, 2]


def test_the_reader_reads_over_a_hundred_items_and_retries_unprocessed_keys(records):
    assert records.store([record(n) for n in range(1, 251)], per_item=2) == []  # 125 items
    from chalicelib import aws
    client = aws.client("dynamodb")
    held = {"once": True}

    def hold_back_a_key(parsed, model, **_):
        if held["once"] and model.name == "BatchGetItem":
            held["once"] = False
            kept = parsed["Responses"][TABLE].pop()
            parsed["UnprocessedKeys"] = {TABLE: {"Keys": [{"id": kept["id"]}]}}
    client.meta.events.register("after-call.dynamodb.BatchGetItem", hold_back_a_key)
    try:
        found = records.lines(RUN, list(range(1, 251)), per_item=2)
    finally:
        client.meta.events.unregister("after-call.dynamodb.BatchGetItem", hold_back_a_key)
    assert not held["once"] and sorted(found) == list(range(1, 251))
    assert all(found[n]["raw"] == record(n)["raw"] and found[n]["message"] == f"line {n}" for n in found)


def test_a_line_stored_twice_fails_the_count(records):
    # The helper the tests count lines with must be able to fail: the same line packed and in an item of its own.
    assert records.store([record(1), record(2)], per_item=2) == []
    assert records.store([record(2)], per_item=1) == []
    with pytest.raises(AssertionError, match="stored twice"):
        stored_lines()
