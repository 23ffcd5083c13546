"""What an AWS bill would say about a run, from the requests the app actually sent.

The benchmark used to price a run from a model of what the app *should* send
(lines / lines_per_message messages, one unit per item, no GSI writes). That
model went stale the moment the app changed. This meter instead hooks the
botocore clients (before-call / after-call) and bills every request by the
providers' published rules:

- DynamoDB: item sizes computed from the typed attribute values (the rules of
  "Item sizes and formats" in the DynamoDB developer guide), write units per
  1 KB and read units per 4 KB, per table AND per index (a GSI write at the
  projected size for every item that lands in, leaves or changes in the
  index), transactions at twice the units, updates at the larger of the
  before and after images, failed conditional writes at the existing item's
  size (1 unit at least); a BatchExecuteStatement INSERT as a PutItem, or,
  refused as DuplicateItem, as a failed conditional write.
- SQS: requests, and billed requests (each 64 KB of a request's payload is
  one request); empty receives are counted apart.
- S3: requests by price class (PUT/COPY/POST/LIST vs GET and the rest).
- Lambda: invocations and handler seconds, for GB-seconds.

Before and after images. DynamoDB bills a write by the item it replaces as
well as the one it writes, which the request alone does not say. The meter
keeps a shadow of every item image it has seen written (its size and, per
index, its projected key, size and a digest: never the whole item). A table
that was empty when first seen (checked with a one-item Scan) and whose every
write goes through metered clients is fully known from the shadow. Anything
else - an item the shadow has not seen in a table that was not empty, the
after image of an UpdateItem whose response does not carry ALL_NEW, the
update of a transaction - is read with ConsistentRead on a SEPARATE, unmetered
client, so those side reads neither show up in the counts nor in the request
timings, and their time is taken out of handler durations (per thread).

Moto's ReturnConsumedCapacity is recorded for a cross-check: the meter asks
for it (INDEXES) on every DynamoDB request that does not ask itself, and
takes it out of the response again so the app sees what it asked for. Moto
5.x does not compute capacity from sizes (fixed 1.0 / 0.5 per call, nothing
for transactions; see moto/dynamodb/responses.py include_consumed_capacity),
so the cross-check mostly shows how far a naive "one unit per call" is off.
"""
from __future__ import annotations

import base64
import hashlib
import json
import math
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Callable

KB = 1024
WRITE_BLOCK = KB           # a write request unit covers 1 KB
READ_BLOCK = 4 * KB        # a read request unit covers 4 KB (strongly consistent; eventually consistent = half)
SQS_CHUNK = 64 * KB        # each 64 KB of a request's payload is billed as one SQS request
TRANSACTION_FACTOR = 2     # transactional reads and writes cost twice (prepare + commit)
# Index writes inside a transaction: we bill them once. GSIs are maintained asynchronously, outside the
# transaction's two-phase protocol, and AWS documents no doubling for them. Change here if that proves wrong.
TRANSACTION_INDEX_FACTOR = 1

# us-east-1 list prices, November 2026 (USD).
PRICES = {
    "sqs_request": 0.40 / 1e6,           # standard queue, per request (each 64 KB of payload counts as one)
    "dynamodb_write_unit": 0.625 / 1e6,  # on-demand write request unit
    "dynamodb_read_unit": 0.125 / 1e6,   # on-demand read request unit
    "s3_put": 0.005 / 1000,              # PUT, COPY, POST, LIST
    "s3_get": 0.0004 / 1000,             # GET, SELECT and every other request
    "lambda_request": 0.20 / 1e6,
    "lambda_gb_second": 0.0000166667,
}

# S3 request classes (S3 pricing page). DELETE and Abort are free; everything not listed is billed as GET.
S3_PUT_CLASS = {"PutObject", "CopyObject", "PostObject", "ListObjects", "ListObjectsV2", "ListObjectVersions",
                "ListBuckets", "ListMultipartUploads", "ListParts", "CreateMultipartUpload", "UploadPart",
                "UploadPartCopy", "CompleteMultipartUpload", "CreateBucket", "PutBucketNotificationConfiguration"}
S3_FREE = {"DeleteObject", "DeleteObjects", "AbortMultipartUpload", "DeleteBucket"}


# --- sizes and units (pure; unit-tested against the AWS docs' examples) --------------------------------

def _utf8(text: str) -> int:
    return len(text.encode("utf-8", errors="surrogatepass"))


def number_size(text: str) -> int:
    """A DynamoDB number: about 1 byte per two significant digits, plus 1 (leading/trailing zeros trimmed)."""
    digits = len(Decimal(text).normalize().as_tuple().digits)
    return math.ceil(digits / 2) + 1


def binary_size(value: Any) -> int:
    """Binary is billed by its raw bytes. Requests carry bytes; a str here is the wire's base64."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return len(value)
    return len(base64.b64decode(value))


def attribute_size(value: dict) -> int:
    """The bytes one typed attribute value counts for (its name is counted by the caller)."""
    (kind, inner), = value.items()
    if kind == "S":
        return _utf8(inner)
    if kind == "N":
        return number_size(inner)
    if kind == "B":
        return binary_size(inner)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS":
        return sum(_utf8(v) for v in inner)
    if kind == "NS":
        return sum(number_size(v) for v in inner)
    if kind == "BS":
        return sum(binary_size(v) for v in inner)
    if kind == "L":  # 3 bytes for the list, 1 per element
        return 3 + sum(attribute_size(v) + 1 for v in inner)
    if kind == "M":  # 3 bytes for the map, 1 per element, and the nested names
        return 3 + sum(_utf8(k) + attribute_size(v) + 1 for k, v in inner.items())
    raise ValueError(f"unknown DynamoDB type {kind!r}")


def item_size(item: dict | None) -> int:
    """Sum of attribute name lengths (UTF-8) and value sizes; 0 for no item."""
    if not item:
        return 0
    return sum(_utf8(name) + attribute_size(value) for name, value in item.items())


def write_units(size: int) -> int:
    """WRU for one item write of `size` bytes: per started KB, at least 1."""
    return max(1, math.ceil(size / WRITE_BLOCK))


def read_units(size: int, consistent: bool) -> float:
    """RRU for reading `size` bytes in one unit of rounding (an item, or a whole Query/Scan page)."""
    blocks = max(1, math.ceil(size / READ_BLOCK))
    return float(blocks) if consistent else blocks / 2


def sqs_billed_requests(payload_bytes: int) -> int:
    """One SQS request is billed per started 64 KB of its payload (a request with no payload is one)."""
    return max(1, math.ceil(payload_bytes / SQS_CHUNK))


def sqs_message_bytes(body: str, attributes: dict | None = None) -> int:
    """A message's payload: its body plus each message attribute's name, type and value."""
    size = _utf8(body or "")
    for name, value in (attributes or {}).items():
        size += _utf8(name) + _utf8(value.get("DataType", ""))
        if "StringValue" in value:
            size += _utf8(value["StringValue"])
        if "BinaryValue" in value:
            size += binary_size(value["BinaryValue"])
    return size


# --- tables, indexes, item images ---------------------------------------------------------------------

@dataclass(frozen=True)
class Index:
    name: str
    keys: tuple[str, ...]
    projection: str = "ALL"          # ALL | KEYS_ONLY | INCLUDE
    include: tuple[str, ...] = ()    # INCLUDE's NonKeyAttributes

    def project(self, item: dict | None, table_keys: tuple[str, ...]) -> dict | None:
        """The index entry of a table item: None when the item lacks an index key (a sparse index)."""
        if item is None or any(k not in item for k in self.keys):
            return None
        if self.projection == "ALL":
            return item
        wanted = set(self.keys) | set(table_keys) | (set(self.include) if self.projection == "INCLUDE" else set())
        return {k: v for k, v in item.items() if k in wanted}


@dataclass(frozen=True)
class TableSchema:
    name: str
    keys: tuple[str, ...]
    indexes: tuple[Index, ...] = ()

    @classmethod
    def from_description(cls, table: dict) -> "TableSchema":
        """From DescribeTable's `Table`: key schema, GSIs and LSIs with their projections."""
        def keys(schema):
            return tuple(k["AttributeName"] for k in sorted(schema, key=lambda k: k["KeyType"] != "HASH"))
        indexes = []
        for index in table.get("GlobalSecondaryIndexes", []) + table.get("LocalSecondaryIndexes", []):
            projection = index.get("Projection", {})
            indexes.append(Index(index["IndexName"], keys(index["KeySchema"]), projection.get("ProjectionType", "ALL"),
                                 tuple(projection.get("NonKeyAttributes", ()))))
        return cls(table["TableName"], keys(table["KeySchema"]), tuple(indexes))

    def key_of(self, item: dict) -> str:
        """A hashable identity of the item's primary key."""
        return json.dumps([item[k] for k in self.keys], sort_keys=True, default=_json_default)


def _json_default(value):
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode()
    return str(value)


@dataclass(frozen=True)
class Image:
    """What billing needs to remember of an item: its size, and per index its entry's key, size and digest."""
    size: int
    entries: dict[str, tuple[str, int, str]] = field(default_factory=dict)


def image_of(schema: TableSchema, item: dict | None) -> Image | None:
    if item is None:
        return None
    entries = {}
    for index in schema.indexes:
        entry = index.project(item, schema.keys)
        if entry is not None:
            key = json.dumps([entry[k] for k in index.keys], sort_keys=True, default=_json_default)
            digest = hashlib.blake2b(json.dumps(entry, sort_keys=True, default=_json_default).encode(),
                                     digest_size=12).hexdigest()
            entries[index.name] = (key, item_size(entry), digest)
    return Image(item_size(item), entries)


def write_charges(schema: TableSchema, before: Image | None, after: Image | None,
                  transactional: bool = False) -> dict[str, float]:
    """WRU per table and per index (`table/index`) for one applied write turning `before` into `after`.

    The table: the larger of the two images (a put replacing a bigger item pays for the bigger one; a delete
    pays for the deleted item), per KB, at least 1. Each index (DynamoDB developer guide, "Provisioned
    throughput considerations for GSIs"): an item entering it is a put at its projected size, leaving it a
    delete, changing its index key a delete plus a put, changing only projected attributes one write at the
    larger projected size; a write that leaves the entry as it was costs the index nothing.
    """
    factor = TRANSACTION_FACTOR if transactional else 1
    charges = {schema.name: float(factor * write_units(max(before.size if before else 0, after.size if after else 0)))}
    for index in schema.indexes:
        old = before.entries.get(index.name) if before else None
        new = after.entries.get(index.name) if after else None
        if old is None and new is None:
            continue
        if old is None:
            units = write_units(new[1])
        elif new is None:
            units = write_units(old[1])
        elif old[0] != new[0]:
            units = write_units(old[1]) + write_units(new[1])
        elif old[2] != new[2]:
            units = write_units(max(old[1], new[1]))
        else:
            continue
        charges[f"{schema.name}/{index.name}"] = float((TRANSACTION_INDEX_FACTOR if transactional else 1) * units)
    return charges


def item_kind(schema: TableSchema, key_item: dict) -> str:
    """A label for a family of items, to tell where a table's units go: its sort key's text up to the first
    `#` (RUN, S#..., P#... -> RUN, S, P); tables without a sort key are one family."""
    if len(schema.keys) < 2:
        return "*"
    value = next(iter(key_item.get(schema.keys[1], {"?": "?"}).values()))
    return str(value).split("#", 1)[0][:24] or "?"


def failed_write_charges(schema: TableSchema, existing: Image | None, factor: int = 1) -> dict[str, float]:
    """A write refused by its condition still costs the existing item's size in WRU (1 at least); no index."""
    return {schema.name: float(factor * write_units(existing.size if existing else 0))}


# --- the meter ---------------------------------------------------------------------------------------------

class Meter:
    """Counts and bills every request of the clients it instruments. Thread-safe."""

    def __init__(self, *, side_session=None, emulation_queue: Callable[[str], bool] = lambda name: False,
                 cross_check: bool = True):
        self._side_session = side_session
        self._side_client = None
        self.emulation_queue = emulation_queue  # queues that exist only because of the local runner
        self.cross_check = cross_check
        self.lock = threading.RLock()
        self._local = threading.local()
        self.calls: Counter = Counter()            # "Service:Operation" -> API calls (all)
        self.attempts: Counter = Counter()         # HTTP attempts (retries included)
        self.seconds: Counter = Counter()          # time in the call, side reads excluded
        self.errors: Counter = Counter()           # "Service:Operation:ErrorCode" -> calls
        self.billable: Counter = Counter()         # calls that count towards the per-line cost
        self.excluded: Counter = Counter()         # "Service:Operation (why)" -> calls left out of it
        self.wru: defaultdict = defaultdict(Counter)  # table or table/index -> operation -> units
        self.rru: defaultdict = defaultdict(Counter)
        self.wru_by_kind: defaultdict = defaultdict(Counter)  # "table kind" (see item_kind) -> operation -> units
        self.reported: Counter = Counter()         # operation -> capacity the emulator reported
        self.ours_where_reported: Counter = Counter()  # operation -> our units for those same calls
        self.sqs_billed: Counter = Counter()       # operation -> billed requests (64 KB chunks)
        self.sqs_payload: Counter = Counter()      # operation -> payload bytes
        self.sqs_sent: Counter = Counter()         # queue -> messages accepted (SendMessage, SendMessageBatch)
        self.empty_receives: Counter = Counter()   # queue -> ReceiveMessage calls that returned nothing
        self.s3_classes: Counter = Counter()       # "put" | "get" | "free" -> requests
        self.notes: Counter = Counter()            # approximations made, and how often
        self.meter_errors: list[str] = []          # a meter bug must not break the app: it is recorded here
        self.side_calls = 0
        self.side_seconds = 0.0
        # Timings by kind of call: a receive that came back empty (a long poll that waited) or one on the
        # runner's own queues apart from the app's, so a model can be fed the latency of a working call.
        self.timing_calls: Counter = Counter()
        self.timing_seconds: Counter = Counter()
        self.invocations: Counter = Counter()      # Lambda handler -> invocations
        self.handler_seconds: Counter = Counter()  # Lambda handler -> seconds in the handler, side reads excluded
        self._schemas: dict[str, TableSchema] = {}
        self._started_empty: dict[str, bool] = {}
        self._shadow: dict[str, dict[str, Image | None]] = defaultdict(dict)

    # --- wiring ------------------------------------------------------------------------

    def instrument(self, client) -> Any:
        events = client.meta.events
        events.register("provide-client-params.*.*", self._on_params)
        events.register("before-call.*.*", self._on_before)
        events.register("before-send.*.*", self._on_send)
        events.register("after-call.*.*", self._on_after)
        return client

    def wrap_handlers(self, app) -> None:
        """Time each Lambda handler the runner calls (what Lambda bills), minus this meter's side reads."""
        for name, handler in list(app.handler_map.items()):
            if getattr(handler, "_metered", False):
                continue

            def timed(event, context, _handler=handler, _name=name):
                side_before = self._thread_side_seconds()
                started = time.perf_counter()
                try:
                    return _handler(event, context)
                finally:
                    elapsed = time.perf_counter() - started - (self._thread_side_seconds() - side_before)
                    with self.lock:
                        self.invocations[_name] += 1
                        self.handler_seconds[_name] += max(0.0, elapsed)
            timed._metered = True
            app.handler_map[name] = timed

    # --- side reads (unmetered) ---------------------------------------------------------------

    @property
    def side(self):
        if self._side_client is None:
            import boto3
            from botocore.config import Config
            session = self._side_session or boto3.session.Session()
            self._side_client = session.client("dynamodb", config=Config(max_pool_connections=32,
                                                                        retries={"mode": "standard"}))
        return self._side_client

    def _thread_side_seconds(self) -> float:
        return getattr(self._local, "side_seconds", 0.0)

    def _side_call(self, operation: str, **params) -> dict:
        started = time.perf_counter()
        try:
            return getattr(self.side, operation)(**params)
        finally:
            elapsed = time.perf_counter() - started
            self._local.side_seconds = self._thread_side_seconds() + elapsed
            with self.lock:
                self.side_calls += 1
                self.side_seconds += elapsed

    def schema(self, table: str) -> TableSchema:
        with self.lock:
            known = self._schemas.get(table)
        if known:
            return known
        schema = TableSchema.from_description(self._side_call("describe_table", TableName=table)["Table"])
        # Empty when first seen: every item in it will pass through a metered write, so the shadow is complete.
        empty = not self._side_call("scan", TableName=table, Limit=1, ConsistentRead=True).get("Items")
        with self.lock:
            self._schemas.setdefault(table, schema)
            self._started_empty.setdefault(table, empty)
        return schema

    def _images(self, schema: TableSchema, keys: list[str], key_items: dict[str, dict]) -> dict[str, Image | None]:
        """The current images of these keys: from the shadow, else (side) BatchGetItem."""
        found: dict[str, Image | None] = {}
        missing = []
        with self.lock:
            shadow = self._shadow[schema.name]
            for key in keys:
                if key in shadow:
                    found[key] = shadow[key]
                elif self._started_empty.get(schema.name):
                    found[key] = None  # never written through a meter into a table that started empty
                else:
                    missing.append(key)
        for start in range(0, len(missing), 100):
            chunk = {k: key_items[k] for k in missing[start:start + 100]}
            for key, item in self._side_read(schema, chunk).items():
                found[key] = image_of(schema, item)
        return found

    def _side_read(self, schema: TableSchema, key_items: dict[str, dict]) -> dict[str, dict | None]:
        result = {k: None for k in key_items}
        pending = [{a: key_items[k][a] for a in schema.keys} for k in key_items]
        while pending:
            response = self._side_call("batch_get_item", RequestItems={
                schema.name: {"Keys": pending, "ConsistentRead": True}})
            for item in response.get("Responses", {}).get(schema.name, []):
                result[schema.key_of(item)] = item
            pending = response.get("UnprocessedKeys", {}).get(schema.name, {}).get("Keys", [])
        return result

    def _remember(self, table: str, key: str, image: Image | None) -> None:
        with self.lock:
            self._shadow[table][key] = image

    # --- hooks -------------------------------------------------------------------------

    @staticmethod
    def _api(model) -> str:
        return f"{model.service_model.service_id.replace(' ', '')}:{model.name}"

    def _on_params(self, params, model, context, **_):
        context["meter_params"] = params  # the API parameters; botocore's own handlers transform them in place
        if (self.cross_check and model.service_model.service_id == "DynamoDB" and model.input_shape is not None
                and "ReturnConsumedCapacity" in model.input_shape.members
                and "ReturnConsumedCapacity" not in params):
            params["ReturnConsumedCapacity"] = "INDEXES"
            context["meter_injected_capacity"] = True

    def _on_before(self, model, context, **_):
        try:
            if model.service_model.service_id == "DynamoDB":
                context["meter_plan"] = self._dynamodb_plan(model.name, context.get("meter_params", {}))
        except Exception as error:  # never break the app's call
            self._meter_error(model, error)
        context["meter_started"] = time.perf_counter()

    @staticmethod
    def _on_send(request, **_):
        # Once per HTTP attempt: botocore's retries are requests too (the request carries the call's context).
        context = getattr(request, "context", None)
        if context is not None:
            context["meter_attempts"] = context.get("meter_attempts", 0) + 1

    def _on_after(self, http_response, parsed, model, context, **_):
        elapsed = time.perf_counter() - context.get("meter_started", time.perf_counter())
        api = self._api(model)
        status = getattr(http_response, "status_code", 200)
        error = (parsed.get("Error") or {}).get("Code") if status >= 300 else None
        params = context.get("meter_params", {})
        kind = api
        if model.service_model.service_id == "SQS":
            if self.emulation_queue(queue_name(params.get("QueueUrl") or params.get("QueueName") or "")):
                kind = f"{api} (runner's own queue)"
            elif model.name == "ReceiveMessage" and not error and not (parsed or {}).get("Messages"):
                kind = f"{api} (empty)"
        with self.lock:
            self.calls[api] += 1
            self.attempts[api] += context.get("meter_attempts", 1)
            self.seconds[api] += elapsed
            self.timing_calls[kind] += 1
            self.timing_seconds[kind] += elapsed
            if error:
                self.errors[f"{api}:{error}"] += 1
        try:
            service = model.service_model.service_id
            if service == "DynamoDB":
                self._dynamodb_after(model.name, params, parsed, error, context)
            elif service == "SQS":
                self._sqs_after(model.name, params, parsed, error)
            else:
                if service == "S3":
                    kind = "free" if model.name in S3_FREE else "put" if model.name in S3_PUT_CLASS else "get"
                    with self.lock:
                        self.s3_classes[kind] += 1
                with self.lock:
                    self.billable[api] += 1
        except Exception as failure:
            self._meter_error(model, failure)
        if context.get("meter_injected_capacity") and isinstance(parsed, dict):
            parsed.pop("ConsumedCapacity", None)  # the app sees the response it asked for

    def _meter_error(self, model, error: Exception) -> None:
        with self.lock:
            if len(self.meter_errors) < 20:
                self.meter_errors.append(f"{self._api(model)}: {type(error).__name__}: {error}")

    def _note(self, text: str) -> None:
        with self.lock:
            self.notes[text] += 1

    # --- DynamoDB ----------------------------------------------------------------------

    def _dynamodb_plan(self, operation: str, params: dict) -> list[tuple] | None:
        """Before a write: each item it touches, with its current image (needed to bill the larger one)."""
        writes: list[tuple[str, str, str, dict, dict | None]] = []  # (kind, table, key, key item, put item)
        if operation == "PutItem":
            writes.append(("put", params["TableName"], None, params["Item"], params["Item"]))
        elif operation in ("UpdateItem", "DeleteItem"):
            writes.append((operation, params["TableName"], None, params["Key"], None))
        elif operation == "BatchWriteItem":
            for table, requests in params.get("RequestItems", {}).items():
                for request in requests:
                    if "PutRequest" in request:
                        item = request["PutRequest"]["Item"]
                        writes.append(("put", table, None, item, item))
                    else:
                        writes.append(("DeleteItem", table, None, request["DeleteRequest"]["Key"], None))
        elif operation == "BatchExecuteStatement":  # INSERTs (the invoice ingester's): each a put if absent
            from benchmarks.awsstub import partiql_insert
            for entry in params.get("Statements", []):
                table, item = partiql_insert(entry["Statement"], entry.get("Parameters", []))
                writes.append(("insert", table, None, item, item))
        elif operation == "TransactWriteItems":
            for entry in params.get("TransactItems", []):
                (kind, op), = entry.items()
                if kind == "Put":
                    writes.append(("put", op["TableName"], None, op["Item"], op["Item"]))
                else:
                    writes.append(({"Update": "UpdateItem", "Delete": "DeleteItem"}.get(kind, kind),
                                   op["TableName"], None, op["Key"], None))
        else:
            return None
        plan = []
        by_table: dict[str, dict[str, dict]] = defaultdict(dict)
        for kind, table, _, key_item, put_item in writes:
            schema = self.schema(table)
            key = schema.key_of(key_item)
            by_table[table][key] = key_item
            plan.append((kind, schema, key, key_item, put_item))
        before: dict[tuple[str, str], Image | None] = {}
        for table, keys in by_table.items():
            for key, image in self._images(self.schema(table), list(keys), keys).items():
                before[(table, key)] = image
        return [(kind, schema, key, key_item, put_item, before[(schema.name, key)])
                for kind, schema, key, key_item, put_item in plan]

    def _charge(self, units: dict[str, float], operation: str, table: dict) -> float:
        with self.lock:
            for target, n in units.items():
                table[target][operation] += n
        return sum(units.values())

    def _dynamodb_after(self, operation: str, params: dict, parsed: dict, error: str | None, context: dict) -> None:
        plan = context.get("meter_plan")
        ours = 0.0
        if plan is not None:
            ours = self._bill_writes(operation, params, parsed, error, plan)
        elif operation in ("GetItem", "BatchGetItem", "Query", "Scan", "TransactGetItems") and not error:
            ours = self._bill_reads(operation, params, parsed)
        api = f"DynamoDB:{operation}"
        with self.lock:
            self.billable[api] += 1
        reported = parsed.get("ConsumedCapacity") if isinstance(parsed, dict) else None
        if reported is not None:
            total = sum(c.get("CapacityUnits", 0) for c in (reported if isinstance(reported, list) else [reported]))
            with self.lock:
                self.reported[operation] += total
                self.ours_where_reported[operation] += ours

    def _bill_writes(self, operation: str, params: dict, parsed: dict, error: str | None, plan: list) -> float:
        transactional = operation == "TransactWriteItems"
        if error == "TransactionCanceledException":
            # Cancelled: no item changes. We bill the prepare phase, one (non-doubled) write per item at its
            # current size; AWS does not publish the exact rule.
            self._note("cancelled TransactWriteItems billed as one write per item (prepare phase; estimate)")
            return sum(self._charge(failed_write_charges(schema, before), operation, self.wru)
                       for _, schema, _, _, _, before in plan)
        if error == "ConditionalCheckFailedException":
            return sum(self._charge(failed_write_charges(schema, before), operation, self.wru)
                       for _, schema, _, _, _, before in plan)
        if error:
            return 0.0  # throttled, invalid...: not applied, not billed
        unprocessed: set[tuple[str, str]] = set()
        if operation == "BatchExecuteStatement":
            # Each statement on its own: an INSERT whose key is held (DuplicateItem) is billed as a failed
            # conditional write; one that failed otherwise (throttled, invalid) was not applied.
            total = 0.0
            for (_, schema, key, key_item, put_item, before), result in zip(plan, parsed.get("Responses", [])):
                code = (result.get("Error") or {}).get("Code")
                if code == "DuplicateItem":
                    total += self._charge(failed_write_charges(schema, before), operation, self.wru)
                elif code is None:
                    after = image_of(schema, put_item)
                    charges = write_charges(schema, before, after, False)
                    total += self._charge(charges, operation, self.wru)
                    with self.lock:
                        self.wru_by_kind[f"{schema.name} {item_kind(schema, key_item)}"][operation] += \
                            charges[schema.name]
                    self._remember(schema.name, key, after)
            return total
        if operation == "BatchWriteItem":
            for table, requests in (parsed.get("UnprocessedItems") or {}).items():
                schema = self.schema(table)
                for request in requests:
                    key_item = request["PutRequest"]["Item"] if "PutRequest" in request else \
                        request["DeleteRequest"]["Key"]
                    unprocessed.add((table, schema.key_of(key_item)))
        # Updates: the after image from the response when it holds ALL_NEW, else read it (side read).
        after_items: dict[tuple[str, str], dict | None] = {}
        updates: dict[str, dict[str, dict]] = defaultdict(dict)
        for kind, schema, key, key_item, _, _ in plan:
            if kind != "UpdateItem":
                continue
            if operation == "UpdateItem" and params.get("ReturnValues") == "ALL_NEW" and "Attributes" in parsed:
                after_items[(schema.name, key)] = parsed["Attributes"]
            else:
                updates[schema.name][key] = key_item
        for table, keys in updates.items():
            self._note(f"{operation}: after image of an update read back (side read; a concurrent write to "
                       f"the same item may show in it)")
            for key, item in self._side_read(self.schema(table), keys).items():
                after_items[(table, key)] = item
        total = 0.0
        for kind, schema, key, key_item, put_item, before in plan:
            if (schema.name, key) in unprocessed:
                continue
            if kind == "put":
                after = image_of(schema, put_item)
            elif kind == "DeleteItem":
                after = None
            elif kind == "UpdateItem":
                after = image_of(schema, after_items.get((schema.name, key)))
            else:  # ConditionCheck: reads the item in the transaction; billed like a transactional write of it
                self._note("TransactWriteItems ConditionCheck billed as a transactional write of the item (estimate)")
                total += self._charge(failed_write_charges(schema, before, TRANSACTION_FACTOR), operation, self.wru)
                continue
            charges = write_charges(schema, before, after, transactional)
            total += self._charge(charges, operation, self.wru)
            with self.lock:
                self.wru_by_kind[f"{schema.name} {item_kind(schema, key_item)}"][operation] += charges[schema.name]
            self._remember(schema.name, key, after)
        return total

    def _full_size(self, schema: TableSchema, item: dict, index: str | None) -> int:
        """The size a read is billed on: the whole item (or index entry), whatever the projection returned."""
        try:
            key = schema.key_of(item)
        except KeyError:
            return item_size(item)
        with self.lock:
            image = self._shadow[schema.name].get(key)
        if image is None:
            return item_size(item)
        if index is None:
            return max(image.size, item_size(item))
        entry = image.entries.get(index)
        return max(entry[1] if entry else 0, item_size(item))

    def _bill_reads(self, operation: str, params: dict, parsed: dict) -> float:
        total = 0.0
        if operation == "GetItem":
            schema = self.schema(params["TableName"])
            item = parsed.get("Item")
            size = self._full_size(schema, item, None) if item else 0
            total += self._charge({schema.name: read_units(size, bool(params.get("ConsistentRead")))},
                                  operation, self.rru)
        elif operation == "BatchGetItem":
            for table, request in params.get("RequestItems", {}).items():
                schema = self.schema(table)
                consistent = bool(request.get("ConsistentRead"))
                returned = {schema.key_of(i): i for i in parsed.get("Responses", {}).get(table, [])}
                unprocessed = {schema.key_of(k) for k in
                               parsed.get("UnprocessedKeys", {}).get(table, {}).get("Keys", [])}
                for key_item in request.get("Keys", []):
                    key = schema.key_of(key_item)
                    if key in unprocessed:
                        continue
                    item = returned.get(key)  # each item rounded up on its own; a missing one as an empty item
                    size = self._full_size(schema, item, None) if item else 0
                    total += self._charge({table: read_units(size, consistent)}, operation, self.rru)
        elif operation in ("Query", "Scan"):
            schema = self.schema(params["TableName"])
            index = params.get("IndexName")
            target = f"{schema.name}/{index}" if index else schema.name
            if params.get("FilterExpression") or params.get("ScanFilter") or params.get("QueryFilter") \
                    or params.get("Select") == "COUNT":
                self._note(f"{operation} with a filter or COUNT: billed on the items returned, not all evaluated "
                           f"(an underestimate)")
            size = sum(self._full_size(schema, item, index) for item in parsed.get("Items", []))
            total += self._charge({target: read_units(size, bool(params.get("ConsistentRead")))},
                                  operation, self.rru)
        elif operation == "TransactGetItems":
            for entry, response in zip(params.get("TransactItems", []), parsed.get("Responses", [])):
                schema = self.schema(entry["Get"]["TableName"])
                item = response.get("Item")
                size = self._full_size(schema, item, None) if item else 0
                total += self._charge({schema.name: TRANSACTION_FACTOR * read_units(size, True)},
                                      operation, self.rru)
        return total

    # --- SQS ------------------------------------------------------------------------------

    def _sqs_after(self, operation: str, params: dict, parsed: dict, error: str | None) -> None:
        api = f"SQS:{operation}"
        queue = (params.get("QueueUrl") or params.get("QueueName") or "").rstrip("/").rsplit("/", 1)[-1]
        if queue and self.emulation_queue(queue):
            with self.lock:
                self.excluded[f"{api} (local runner's own queue)"] += 1
            return
        payload = 0
        if operation == "SendMessage":
            payload = sqs_message_bytes(params.get("MessageBody", ""), params.get("MessageAttributes"))
            if not error:
                with self.lock:
                    self.sqs_sent[queue] += 1
        elif operation == "SendMessageBatch":
            payload = sum(sqs_message_bytes(e.get("MessageBody", ""), e.get("MessageAttributes"))
                          for e in params.get("Entries", []))
            if not error:
                with self.lock:
                    self.sqs_sent[queue] += len(parsed.get("Successful", []))
        elif operation == "ReceiveMessage" and not error:
            messages = parsed.get("Messages", [])
            if not messages:
                with self.lock:
                    self.empty_receives[queue] += 1
                    self.excluded[f"{api} (empty: the local runner's idle polls)"] += 1
                return
            payload = sum(sqs_message_bytes(m.get("Body", ""), m.get("MessageAttributes")) for m in messages)
        with self.lock:
            self.billable[api] += 1
            self.sqs_billed[operation] += sqs_billed_requests(payload)
            self.sqs_payload[operation] += payload

    # --- figures -------------------------------------------------------------------------------

    def totals(self) -> dict:
        with self.lock:
            return {
                "write_units": {t: sum(ops.values()) for t, ops in sorted(self.wru.items())},
                "read_units": {t: sum(ops.values()) for t, ops in sorted(self.rru.items())},
                "write_units_by_operation": {t: dict(ops) for t, ops in sorted(self.wru.items())},
                "read_units_by_operation": {t: dict(ops) for t, ops in sorted(self.rru.items())},
            }

    def figures(self, lines: int, memory_mb: Callable[[str], int]) -> dict:
        """Everything per line / per 1,000 lines / per million lines, from what was counted."""
        totals = self.totals()
        wru, rru = sum(totals["write_units"].values()), sum(totals["read_units"].values())
        with self.lock:
            lambda_gb_seconds = {h: self.handler_seconds[h] * memory_mb(h) / 1024 for h in self.invocations}
            invocations = sum(self.invocations.values())
            sqs_billed = sum(self.sqs_billed.values())
            costs = {
                "sqs": sqs_billed * PRICES["sqs_request"],
                "dynamodb": wru * PRICES["dynamodb_write_unit"] + rru * PRICES["dynamodb_read_unit"],
                "s3": self.s3_classes["put"] * PRICES["s3_put"] + self.s3_classes["get"] * PRICES["s3_get"],
                "lambda": invocations * PRICES["lambda_request"]
                + sum(lambda_gb_seconds.values()) * PRICES["lambda_gb_second"],
            }
            scale = 1e6 / lines
            per_million = {k: v * scale for k, v in costs.items()}
            per_million["total"] = sum(per_million.values())
            return {
                "write_units_per_line": {t: u / lines for t, u in totals["write_units"].items()},
                "read_units_per_line": {t: u / lines for t, u in totals["read_units"].items()},
                "write_units_per_line_by_operation": {t: {o: u / lines for o, u in ops.items()}
                                                      for t, ops in totals["write_units_by_operation"].items()},
                "table_write_units_per_line_by_item_kind": {
                    k: {o: u / lines for o, u in ops.items()} for k, ops in sorted(self.wru_by_kind.items())},
                "read_units_per_line_by_operation": {t: {o: u / lines for o, u in ops.items()}
                                                     for t, ops in totals["read_units_by_operation"].items()},
                "requests_per_1000_lines": {a: n * 1000 / lines for a, n in sorted(self.billable.items())},
                "excluded_requests_per_1000_lines": {a: n * 1000 / lines for a, n in sorted(self.excluded.items())},
                "sqs_billed_requests_per_1000_lines": {o: n * 1000 / lines for o, n in sorted(self.sqs_billed.items())},
                "s3_requests_per_1000_lines": {k: n * 1000 / lines for k, n in sorted(self.s3_classes.items())},
                "lambda": {h: {"invocations": self.invocations[h], "handler_seconds": self.handler_seconds[h],
                               "memory_mb": memory_mb(h), "gb_seconds": lambda_gb_seconds[h]}
                           for h in sorted(self.invocations)},
                "lambda_gb_seconds_note": "upper bound: handler time on the emulator, slower than AWS's endpoints",
                "cost_per_million_lines_usd": per_million,
                "ms_per_call_on_emulator": {a: self.seconds[a] / n * 1000 for a, n in sorted(self.calls.items())},
                "ms_per_call_on_emulator_by_kind": {k: self.timing_seconds[k] / n * 1000
                                                    for k, n in sorted(self.timing_calls.items())},
                "calls_by_kind": dict(sorted(self.timing_calls.items())),
                "calls": dict(sorted(self.calls.items())),
                "http_attempts": dict(sorted(self.attempts.items())),
                "errors": dict(sorted(self.errors.items())),
                "cross_check_consumed_capacity": {
                    op: {"emulator_reported": self.reported[op], "meter": self.ours_where_reported[op]}
                    for op in sorted(self.reported)},
                "side_reads": {"calls": self.side_calls, "seconds": self.side_seconds},
                "notes": dict(self.notes),
                "meter_errors": list(self.meter_errors),
            }


def queue_name(url: str) -> str:
    return url.rstrip("/").rsplit("/", 1)[-1]
