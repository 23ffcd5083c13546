"""Every SQS handler, with batches that mix malformed messages among valid ones.

Property: exactly the malformed records are in `batchItemFailures` (when every
record is malformed the handler raises chalicelib.batch.BatchFailed, so SQS
keeps them all), and each valid record has done its work: the product is
stored, the order completed and notified, the log lines written and counted,
the split or the invoice ingest moved on. A malformed message is one no retry
can fix: not JSON, not an object, a field missing or of the wrong type, a
value out of range or too big for where it goes, nesting past any parser.
"""
import itertools
import json
import uuid

import pytest
from hypothesis import given, note
from hypothesis import strategies as st

from chalicelib.batch import BatchFailed
from tests.events import s3_event, sqs_event, sqs_record
from tests.fuzz.support import TRIED, aws, budget, deep_values, dump, json_values, long_text, nested, odd_text
from tests.logfiles import APP_LINES

runs = itertools.count(1)

not_json = st.one_of(
    odd_text.filter(lambda text: not _is_json(text)),
    st.sampled_from(["", " ", "{", '{"a": 1', "[1,]", "{'id': 1}", "NaN?", "null null", "\ufeff{}", '{"a": 1}}']),
    st.sampled_from([5000, 200_000]).map(lambda n: "[" * n),  # past any parser's nesting; near SQS's 256 KiB
    st.sampled_from([1000, 200_000]).map(lambda n: "x" * n),
)
not_objects = st.one_of(
    st.sampled_from(["[]", "null", "true", "1", '"text"', "1e999999", "[{}]"]),
    st.builds(lambda depth: "[" * depth + "]" * depth, st.sampled_from([2, 1000, 5000])),
    json_values.filter(lambda value: not isinstance(value, dict)).map(dump),
)
# Values no field of any message may hold: a non-string, a non-number, nesting past any parser.
wrong_types = st.one_of(st.none(), st.booleans(), st.lists(st.integers(), max_size=2),
                        st.dictionaries(st.sampled_from(["S", "N", "a"]), st.integers(), max_size=2),
                        deep_values, st.just(nested(5000)))


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
        return True
    except (ValueError, RecursionError):
        return False


_MISSING = object()
missing = st.just(_MISSING)


def present(fields: dict) -> dict:
    """The fields that are not `missing`."""
    return {k: v for k, v in fields.items() if v is not _MISSING}


def with_field(base: dict, field: str, values) -> st.SearchStrategy[str]:
    """`base` as JSON with `field` set to each of `values` (or left out, for `missing`)."""
    return values.map(lambda value: dump(present({**base, field: value})))


@st.composite
def batches(draw, valid: list[str], malformed) -> list[tuple[str, str, bool]]:
    """The valid bodies and 1-4 malformed ones, shuffled: (messageId, body, malformed?)."""
    bad = draw(st.lists(malformed, min_size=1, max_size=4))
    records = [(body, False) for body in valid] + [(body, True) for body in bad]
    records = draw(st.permutations(records))
    return [(f"m-{n}-{uuid.uuid4()}", body, is_bad) for n, (body, is_bad) in enumerate(records)]


def deliver(client, handler: str, queue: str, records: list[tuple[str, str, bool]]) -> None:
    """Invoke the handler with the batch and check exactly the malformed records failed."""
    event = sqs_event(*(sqs_record(body, queue, message_id) for message_id, body, _ in records))
    note([(message_id, body[:300], bad) for message_id, body, bad in records])
    TRIED[f"{handler} (records)"] += len(records)
    TRIED[f"{handler} (malformed records)"] += sum(bad for _, _, bad in records)
    expected = {message_id for message_id, _, bad in records if bad}
    try:
        result = client.lambda_.invoke(handler, event).payload
    except BatchFailed:
        result = "raised BatchFailed"
    if len(expected) == len(records):
        assert result == "raised BatchFailed", result
        return
    assert isinstance(result, dict), result
    failed = [failure["itemIdentifier"] for failure in result["batchItemFailures"]]
    assert len(failed) == len(set(failed)) and set(failed) == expected, result


# --- process_product_queue -----------------------------------------------------------

def product_message(name: str = "Caneta azul") -> dict:
    return {"id": str(uuid.uuid4()), "created_at": "2026-11-20T10:00:00.000Z", "name": name, "price": "19.90",
            "stock": 3, "sku": "CAN-1", "extra": {"ignored": True}}


PRODUCT_BASE = product_message()
malformed_products = st.one_of(
    not_json, not_objects,
    with_field(PRODUCT_BASE, "id", st.one_of(missing, wrong_types, st.sampled_from(["", "x", "1234", "g" * 36]),
                                             st.integers(), long_text)),
    with_field(PRODUCT_BASE, "name", st.one_of(missing, wrong_types, st.integers(), st.just("  "), st.just("n" * 201),
                                               long_text.filter(lambda text: len(text.strip()) > 200))),
    with_field(PRODUCT_BASE, "price", st.one_of(missing, wrong_types, st.floats(), st.sampled_from(
        ["-1", "abc", "1e400", "0.001", "NaN", "Infinity", "10000000000", ""]))),
    with_field(PRODUCT_BASE, "stock", st.one_of(st.sampled_from([-1, 10 ** 10, 1.5, "3", 10 ** 40]),
                                                wrong_types.filter(lambda value: value is not None))),
    with_field(PRODUCT_BASE, "created_at", st.one_of(missing, st.integers(), wrong_types)),
    with_field(PRODUCT_BASE, "description", st.just("d" * 2001)),
)


@budget(0.5)
@given(data=st.data(), valid_count=st.integers(0, 3))
def test_product_worker_fails_exactly_the_malformed_messages(client, data, valid_count):
    from chalicelib.catalog.service import catalog
    valid = [product_message(f"produto {n}") for n in range(valid_count)]
    deliver(client, "process_product_queue", "product-queue",
            data.draw(batches([json.dumps(v) for v in valid], malformed_products)))
    for product in valid:
        assert catalog().products.get(product["id"]) is not None, product


# --- process_orders ------------------------------------------------------------------

malformed_orders = st.one_of(
    not_json, not_objects,
    with_field({"orderId": str(uuid.uuid4())}, "orderId",
               st.one_of(missing, wrong_types, st.integers(), long_text, odd_text,
                         st.sampled_from(["", "not-a-uuid", "0" * 31, str(uuid.uuid4()) + "0"]))),
)


@budget(0.5)
@given(data=st.data(), valid_count=st.integers(0, 3))
def test_order_worker_fails_exactly_the_malformed_messages(client, data, valid_count):
    from chalicelib.orders.service import orders
    valid = [orders().accept({"customerId": "c-42", "items": [{"productId": "p", "quantity": 2, "unitPrice": "1.50"}]})
             ["orderId"] for _ in range(valid_count)]
    deliver(client, "process_orders", "orders-queue",
            data.draw(batches([json.dumps({"orderId": order_id}) for order_id in valid], malformed_orders)))
    for order_id in valid:
        order = orders().orders.get(order_id)
        assert order["status"] == "COMPLETED" and "notifiedAt" in order, order


# --- process_log_lines -----------------------------------------------------------------

def start_log_run(lines: int) -> tuple[str, str]:
    """A run whose splitting is done with `lines` lines, none of them queued: the test delivers them."""
    from chalicelib import bootstrap
    key = f"fuzz/queue-{next(runs)}.log"
    run = {"run_id": f"{key}@etag", "batch_id": key, "bucket": "input-logs", "key": key, "etag": "etag",
           "started_at": "2026-11-20T10:00:00.000Z"}
    tracker = bootstrap.log_runs()
    tracker.start(run, "t", 60, checkpoint_line=0, blank_lines=0, processed=0)
    tracker.close_chunks(run["run_id"], lines, 100)
    tracker.finish(run["run_id"], "t", "processing", total_lines=lines, blank_lines=0)
    return run["run_id"], key


def line_message(run_id: str, key: str, number, text="line") -> dict:
    return {"run_id": run_id, "batch_id": key, "seq": number - 1 if isinstance(number, int) else 0,
            "per_chunk": 100, "lines": [{"number": number, "text": text}]}


LOG_BASE = line_message("fuzz/other.log@etag", "fuzz/other.log", 7, APP_LINES[0])
bad_lines = st.one_of(
    st.just([]), wrong_types, st.lists(st.one_of(wrong_types, st.integers(), st.text(max_size=5)), min_size=1,
                                       max_size=2),
    st.builds(lambda number: [present({"number": number, "text": "x"})],
              st.one_of(st.sampled_from([0, -1, 1.5, "x", "", 10 ** 40, 10 ** 13, "1e3"]), wrong_types, missing)),
    st.builds(lambda text: [present({"number": 1, "text": text})], st.one_of(st.integers(), wrong_types, missing)),
    st.builds(lambda flag: [{"number": 1, "text": "x", "truncated": flag}],
              st.one_of(st.sampled_from(["maybe", 2, -1, "", [], {}]), st.just(nested(3000)))),
)
malformed_log_messages = st.one_of(
    not_json, not_objects,
    with_field(LOG_BASE, "run_id", st.one_of(missing, wrong_types, st.integers(), st.just(""),
                                             st.sampled_from(["r" * 3000, "é" * 1500]))),
    with_field(LOG_BASE, "batch_id", st.one_of(missing, wrong_types, st.integers(), st.just(""),
                                               st.sampled_from(["b" * 3000, "😀" * 600]))),
    with_field(LOG_BASE, "lines", st.one_of(missing, bad_lines)),
    with_field(LOG_BASE, "seq", st.one_of(missing, wrong_types, st.sampled_from([-1, 1.5, "3", True, 10 ** 13]))),
    with_field(LOG_BASE, "per_chunk", st.one_of(missing, wrong_types, st.sampled_from([0, -1, 2.5, "100", 10 ** 6]))),
    with_field(LOG_BASE, "per_item", st.one_of(wrong_types, st.sampled_from([0, -1, 2.5, "5", 51, 10 ** 6, True]))),
)


@budget(0.5)
@given(data=st.data(), valid_count=st.integers(0, 3), per_item=st.sampled_from([1, 2]))
def test_log_worker_fails_exactly_the_malformed_messages(client, data, valid_count, per_item):
    from chalicelib import bootstrap
    from chalicelib.logbatch import service as logbatch
    run_id, key = start_log_run(valid_count)
    valid = [json.dumps({**line_message(run_id, key, n, APP_LINES[n % len(APP_LINES)]), "per_item": per_item})
             for n in range(1, valid_count + 1)]
    deliver(client, "process_log_lines", "log-processing-queue", data.draw(batches(valid, malformed_log_messages)))
    if valid_count:  # stored once each (one to an item, or packed 2 to an item), and only those
        stored = bootstrap.log_records().lines(run_id, list(range(1, valid_count + 2)), per_item)
        assert sorted(stored) == list(range(1, valid_count + 1))
        status = logbatch.log_batch_status(key)
        assert (status["processed_items"], status["status"]) == (valid_count, "completed"), status


# --- continue_log_split and continue_invoice_ingest ------------------------------------

# Hand-overs no reader could have written: a run id and a token are non-empty strings, the run id no longer
# than a DynamoDB key (moto takes an empty or 3,000-byte one; AWS would not).
HANDOVER = {"run_id": "fuzz/a.log@etag", "token": "t"}
malformed_handovers = st.one_of(
    not_json, not_objects,
    with_field(HANDOVER, "run_id", st.one_of(missing, wrong_types, st.integers(), st.sampled_from(["", "r" * 3000]))),
    with_field(HANDOVER, "token", st.one_of(missing, wrong_types, st.integers(), st.just(""))),
)


def take_handovers(queue: str) -> list[str]:
    """The hand-over messages waiting on a continuation queue, taken off it."""
    sqs = aws("sqs")
    url = sqs.get_queue_url(QueueName=queue)["QueueUrl"]
    messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
    for message in messages:
        sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return [message["Body"] for message in messages]


def handover(queue: str) -> str:
    bodies = take_handovers(queue)
    assert len(bodies) == 1, bodies
    return bodies[0]


@pytest.fixture
def tiny_time_budgets(monkeypatch, client):
    """Readers hand over after every line or row, so every upload yields a continuation to deliver."""
    from chalicelib.invoices import service as invoices
    from chalicelib.logbatch import service as logbatch
    monkeypatch.setenv("LOG_SPLIT_TIME_BUDGET_SECONDS", "0")
    monkeypatch.setenv("INVOICE_INGEST_TIME_BUDGET_SECONDS", "0")
    logbatch.reset()
    invoices.reset()


def split_handover(client) -> tuple[str, str]:
    key = f"fuzz/split-{next(runs)}.log"
    etag = aws("s3").put_object(Bucket="input-logs", Key=key, Body="\n".join(APP_LINES).encode())["ETag"]
    client.lambda_.invoke("split_log_upload", s3_event("input-logs", key, etag))
    return handover("log-split-queue"), key


def ingest_handover(client) -> tuple[str, str]:
    key = f"fuzz/ingest-{next(runs)}.csv"
    rows = "numero;cliente;valor;data_emissao\n" + "".join(f"Q-{n};Ana;1,00;01/10/2025\n" for n in range(4))
    etag = aws("s3").put_object(Bucket="notas-fiscais", Key=key, Body=rows.encode())["ETag"]
    client.lambda_.invoke("ingest_invoice_upload", s3_event("notas-fiscais", key, etag))
    return handover("invoice-ingest-queue"), key


def split_progress(key: str) -> int:
    from chalicelib.logbatch import service as logbatch
    return logbatch.log_batch_status(key)["lines_split"]


def ingest_progress(key: str) -> int:
    from chalicelib.invoices.service import invoice_upload_status
    return invoice_upload_status(key)["rows"]


CONTINUATIONS = {
    "continue_log_split": ("log-split-queue", split_handover, split_progress),
    "continue_invoice_ingest": ("invoice-ingest-queue", ingest_handover, ingest_progress),
}


@budget(0.5)
@given(data=st.data(), handler=st.sampled_from(list(CONTINUATIONS)), valid_count=st.integers(0, 2))
def test_continuations_fail_exactly_the_malformed_messages(client, tiny_time_budgets, data, handler, valid_count):
    queue, make_handover, progress = CONTINUATIONS[handler]
    valid = [make_handover(client) for _ in range(valid_count)]
    before = [progress(key) for _, key in valid]
    deliver(client, handler, queue, data.draw(batches([body for body, _ in valid], malformed_handovers)))
    assert [progress(key) for _, key in valid] == [n + 1 for n in before]  # each went on by a line or row
    assert len(take_handovers(queue)) == valid_count  # and handed over again (the budget is 0)
