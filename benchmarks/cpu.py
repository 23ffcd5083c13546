"""Each handler's own CPU per line, row or request, through the real handlers and boto3 (`make bench-cpu`).

    .venv/bin/python -m benchmarks.cpu [--lines 20000] [--rows 5000] [--requests 300] [--repeats 3]
                                       [--skip-meter] [--only invoices] [--out build/bench/cpu.json]

`--only invoices` runs the invoice ingester's part alone (its CPU per row and, unless --skip-meter, its
request mix and write units per row), in a minute instead of many, and writes build/bench/cpu-invoices.json:
not the capacity model's input, which needs every part.

The handlers run in this process, called as Lambda calls them (S3 and SQS
events, API Gateway proxy events through `app(event, context)`), against
benchmarks/awsstub.py: a do-nothing AWS endpoint in a process of its own that
answers every call at once with a valid minimal response. What this process
spends (`time.process_time()`: every thread, user + system) is then the
handlers' own CPU: their parsing and logic, botocore's serialisation, signing
and parsing, HTTP on the loopback. The stub's CPU is measured apart (its
getrusage) and is not in it. Event building and the stub's control calls
happen outside the timed regions.

Covered: the splitter (1 and 10 lines per message, and a .gz), the planning
pass of an upload read in parts (its CPU per MB: `split_plan`), the line
worker on the messages that splitter really sent (batches of the event
source's batch size), the invoice ingester, the product and order workers,
and the API routes. Routes are called with a proxy event whose
requestContext.authorizer is filled as a custom authorizer would fill it, so
they do not depend on one; an authorizer in chalicelib (app.builtin_auth_handlers)
is measured on its own when there is one (see `authorizer`).

Checks that FAIL the run (exit 1, nothing written), counted at the stub:
each mode took effect (messages sent = ceil(lines / lines per message), one
SendMessageBatch per ≤ 10), the worker stored every line and wrote the
run's report, every valid invoice row was put, every product and order
reached its end (stored / notified), every route answered its status.

Then (unless --skip-meter) the same flows run again with benchmarks/meter.py
on the app's clients, for the request mix and write units per line, row,
product and order by DynamoDB's rules; the capacity model reads both.

The figures go to build/bench/cpu.json (benchmarks/capacity.py's input).
Caveats: this machine's core stands for Lambda's vCPU; HTTP, not HTTPS (TLS
record encryption is not in the figures; handshakes happen once per
connection and clients keep theirs); conditional writes always succeed.
"""
from __future__ import annotations

import argparse
import contextlib
import gc
import gzip
import inspect
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import urllib.request
import uuid
from collections import Counter
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_DIR))

OUT = PROJECT_DIR / "build" / "bench" / "cpu.json"
TOPIC_ARN = "arn:aws:sns:us-east-1:000000000000:order-notifications"
OPERATOR = {"principalId": "bench-operator", "sub": "bench-operator", "groups": "operators"}


# --- the stub ---------------------------------------------------------------------------------------------

class Stub:
    def __init__(self):
        self.process = subprocess.Popen([sys.executable, "-m", "benchmarks.awsstub", "--port", "0"],
                                        cwd=PROJECT_DIR, stdout=subprocess.PIPE, text=True)
        line = self.process.stdout.readline()
        if not line.startswith("PORT "):
            raise SystemExit(f"the AWS stub did not start: {line!r}")
        self.endpoint = f"http://127.0.0.1:{int(line.split()[1])}"

    def call(self, path: str, body: dict | None = None) -> dict:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.endpoint + path, data=data, method="POST" if data is not None else "GET")
        with urllib.request.urlopen(request, timeout=60) as response:
            return json.loads(response.read() or b"{}")

    def stats(self) -> dict:
        return self.call("/__stub/stats")

    def reset(self, data: bool = False) -> None:
        self.call("/__stub/reset" + ("?data=1" if data else ""), {})

    def configure(self, tables: dict, sinks: list[str]) -> None:
        self.call("/__stub/tables", {"tables": tables, "sinks": sinks})

    def pop(self, queue: str) -> list[dict]:
        return self.call(f"/__stub/queue?name={queue}")["Messages"]

    def close(self) -> None:
        self.process.terminate()
        self.process.wait(10)


# --- the app, pointed at the stub ---------------------------------------------------------------------------

class Bench:
    def __init__(self, stub: Stub, stage_name: str = "dev"):
        for name in [k for k in os.environ if k.startswith("AWS_ENDPOINT_URL")]:
            del os.environ[name]
        os.environ.update({"AWS_ENDPOINT_URL": stub.endpoint, "AWS_ACCESS_KEY_ID": "bench",
                           "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": "us-east-1"})
        os.environ.pop("AWS_PROFILE", None)
        from infra.stage import Stage
        self.stub = stub
        self.stage = Stage.load(stage_name)
        self.app = self.stage.load_app()
        # The topic's ARN as the template gives it on AWS (no STS call), and prod's log level (WARNING).
        os.environ["ORDER_NOTIFICATIONS_TOPIC_ARN"] = TOPIC_ARN
        from chalicelib.logs import logger
        logger.setLevel("WARNING")
        import boto3
        self.s3 = boto3.session.Session().client("s3")  # the benchmark's own uploads: not timed
        self.sources = {s.name: s for s in self.app.event_sources}
        self.tables = {}
        from infra.resources import RESOURCES, Table
        for logical_id, resource in RESOURCES.items():
            if isinstance(resource, Table) and self.stage.uses(logical_id):
                self.tables[logical_id] = self.stage.resource_name(logical_id)
        # Each table as the template defines it, its indexes' projections too (the meter bills an index
        # write by what the index projects: DescribeTable says it).
        self.stub.configure({self.tables[lid]: {"keys": [r.hash_key] + ([r.range_key] if r.range_key else []),
                                                "indexes": {n: [h] + ([k] if k else []) for n, (h, k) in r.indexes.items()},
                                                "projections": dict(r.projections)}
                             for lid, r in RESOURCES.items() if lid in self.tables}, [])
        self.failures: list[str] = []

    def name(self, logical_id: str) -> str:
        return self.stage.resource_name(logical_id)

    def settings(self, lines_per_message: int = 1) -> None:
        """The app's settings for a mode; cached services and clients dropped (they read settings when built)."""
        os.environ["LOG_LINES_PER_MESSAGE"] = str(lines_per_message)
        from chalicelib import aws
        from chalicelib.catalog import service as catalog_service
        from chalicelib.invoices import service as invoices
        from chalicelib.logbatch import service as logbatch
        from chalicelib.orders import service as orders
        aws.reset()
        logbatch.reset()
        invoices.reset()
        orders.reset()
        catalog_service.catalog.cache_clear()

    def context(self, function: str):
        from chalice.local import LambdaContext
        return LambdaContext(function, self.stage.function_setting(function, "lambda_memory_size", 128),
                             max_runtime_ms=self.stage.function_setting(function, "lambda_timeout", 60) * 1000)

    def handler(self, function: str):
        return self.app.handler_map[function]

    def sinks(self, *logical_ids: str) -> None:
        self.stub.configure({}, [self.name(lid) for lid in logical_ids])

    def check(self, ok: bool, failure: str) -> None:
        if not ok:
            self.failures.append(failure)

    def put_object(self, bucket: str, key: str, body: bytes) -> str:
        return self.s3.put_object(Bucket=bucket, Key=key, Body=body)["ETag"].strip('"')

    def queue_arn(self, queue: str) -> str:
        return f"arn:aws:sqs:us-east-1:000000000000:{queue}"

    def sqs_events(self, function: str, messages: list[dict]) -> list[dict]:
        from local_runtime.runner import sqs_record
        source = self.sources[function]
        arn = self.queue_arn(source.queue)
        records = [sqs_record({**m, "ReceiptHandle": m["MessageId"], "Attributes": {"ApproximateReceiveCount": "1"}},
                              arn, "us-east-1") for m in messages]
        size = source.batch_size
        return [{"Records": records[i:i + size]} for i in range(0, len(records), size)]


def timed(stub: Stub, work) -> dict:
    """CPU of this process (all threads) over `work()`, its wall time, and the stub's CPU beside it."""
    gc.collect()
    before = stub.stats()
    cpu, wall = time.process_time(), time.perf_counter()
    result = work()
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    after = stub.stats()
    calls = Counter(after["calls"])
    calls.subtract(before["calls"])
    return {"result": result, "cpu_seconds": cpu, "wall_seconds": wall,
            "stub_cpu_seconds": after["stub_cpu_seconds"] - before["stub_cpu_seconds"],
            "calls": {k: v for k, v in calls.items() if v}, "stats": after}


def per_unit(runs: list[dict], units: int, scale: float = 1e6) -> dict:
    """Median CPU per unit over repeated runs (µs by default), with every run's figure."""
    each = [r["cpu_seconds"] / units * scale for r in runs]
    return {"median": statistics.median(each), "runs": each, "min": min(each), "max": max(each)}


def calls_per(calls: dict, units: float, per: float = 1000) -> dict:
    return {api: n * per / units for api, n in sorted(calls.items())}


# --- log batches ---------------------------------------------------------------------------------------------

def log_file(lines: int) -> bytes:
    from tests.logfiles import generated_lines
    pool = generated_lines(1000)
    return "".join(pool[i % len(pool)] + "\n" for i in range(lines)).encode()


def split(bench: Bench, body: bytes, lines: int, lines_per_message: int, key: str) -> tuple[dict, list[dict]]:
    from tests.events import s3_event
    bucket, log_queue = bench.name("InputLogsBucket"), bench.name("LogQueue")
    etag = bench.put_object(bucket, key, body)
    event = s3_event(bucket, key, etag)
    bench.stub.reset()
    run = timed(bench.stub, lambda: bench.handler("split_log_upload")(event, bench.context("split_log_upload")))
    sent = run["stats"]["sqs_sent"].get(log_queue, 0)
    expected = -(-lines // lines_per_message)
    bench.check(sent == expected, f"splitter ({key}): {sent:,} messages sent to {log_queue}, not ceil({lines:,} / "
                                  f"{lines_per_message}) = {expected:,}: the mode did not take effect")
    batches = run["calls"].get("SQS:SendMessageBatch", 0)
    bench.check(batches == -(-expected // 10), f"splitter ({key}): {batches} SendMessageBatch calls for {expected:,} "
                                               f"messages (expected ceil(n / 10))")
    run["messages_sent"] = sent
    return run, bench.stub.pop(log_queue)


def log_records_written(bench: Bench, batch_id: str) -> dict:
    """What ProcessedLogsTable holds of one upload, read back from the stub after the timed part: its lines
    (unpacked by tests/log_records.py, which fails on a line stored twice) and its items, packed or a line's own."""
    import boto3
    from tests.log_records import lines_of_item, scan
    items = [item for item in scan(bench.name("ProcessedLogsTable"), boto3.session.Session().client("dynamodb"))
             if item["batch_id"] == batch_id]
    lines = [record["line"] for item in items for record in lines_of_item(item)]
    return {"lines": len(lines), "distinct_lines": len(set(lines)), "items": len(items),
            "packed_items": sum("per_item" in item for item in items)}


def records_figures(written: dict, lines: int, updates: int) -> dict:
    """Items per line, and UpdateItem calls per packed item: how many batches an item's lines came in (1 when
    each item's lines came together; G at worst, each update billed at the item's size then)."""
    return {"lines": lines, "items": written["items"], "packed_items": written["packed_items"],
            "items_per_line": written["items"] / lines, "update_calls": updates,
            "updates_per_packed_item": updates / written["packed_items"] if written["packed_items"] else None}


def bench_logs(bench: Bench, lines: int, repeats: int, modes=(1, 10)) -> dict:
    figures = {}
    body = log_file(lines)
    handler_batch = bench.sources["process_log_lines"].batch_size
    for lines_per_message in modes:
        bench.settings(lines_per_message)
        bench.sinks()  # ProcessedLogsTable keeps its items: the lines stored are counted in them below
        # A warm container: imports, clients and queue URLs resolved by a small first run (not measured).
        split(bench, log_file(300), 300, lines_per_message, f"bench/warm-{lines_per_message}-{uuid.uuid4().hex[:6]}.log")
        runs, kept = [], None
        for rep in range(repeats):
            run, messages = split(bench, body, lines, lines_per_message, f"bench/cpu-{lines_per_message}lpm-{rep}-"
                                                                         f"{uuid.uuid4().hex[:6]}.log")
            runs.append(run)
            kept = kept or messages
        mode = f"{lines_per_message}lpm"
        figures[f"split_log_upload/{mode}"] = {
            "unit": "line", "lines": lines, "bytes": len(body), "lines_per_message": lines_per_message,
            "cpu_us_per_line": per_unit(runs, lines), "wall_seconds": [r["wall_seconds"] for r in runs],
            "stub_cpu_seconds": [r["stub_cpu_seconds"] for r in runs],
            "messages_sent": runs[0]["messages_sent"], "calls_per_1000_lines": calls_per(runs[0]["calls"], lines)}
        # The worker, on the messages that splitter really sent, in the event source's batches.
        events = bench.sqs_events("process_log_lines", kept)
        handler, context = bench.handler("process_log_lines"), bench.context("process_log_lines")
        updates_name = f"{bench.name('ProcessedLogsTable')} UpdateItem"
        bench.stub.reset()
        handler(events[0], context)  # warm: the first batch (its lines are counted as stored below)
        warm_updates = bench.stub.stats()["items_written"].get(updates_name, 0)
        bench.stub.reset()
        run = timed(bench.stub, lambda h=handler, c=context, es=events: [h(e, c) for e in es[1:]])
        failed = sum(len((r or {}).get("batchItemFailures", [])) for r in run["result"])
        measured_lines = lines - sum(len(json.loads(r["body"])["lines"]) for r in events[0]["Records"])
        try:
            written = log_records_written(bench, json.loads(kept[0]["Body"])["batch_id"])
        except AssertionError as unknown:  # an item no reader looks for
            written = {"lines": -1, "distinct_lines": -1, "items": 0, "packed_items": 0}
            bench.check(False, f"worker ({mode}): {unknown}")
        bench.check(failed == 0, f"worker ({mode}): {failed} records failed")
        bench.check(written["lines"] == written["distinct_lines"] == lines,
                    f"worker ({mode}): {written['distinct_lines']:,} lines stored ({written['lines']:,} times), "
                    f"not {lines:,}")
        reports = run["stats"]["s3_puts"].get(bench.name("ProcessedDataBucket"), 0)
        bench.check(reports == 1, f"worker ({mode}): {reports} reports written, not 1 (the run did not complete)")
        batches = len(events) - 1
        figures[f"process_log_lines/{mode}"] = {
            "unit": "line", "lines": measured_lines, "lines_per_message": lines_per_message,
            "batch_messages": handler_batch, "batches": batches,
            "cpu_us_per_line": per_unit([run], measured_lines),
            "cpu_ms_per_batch": run["cpu_seconds"] / batches * 1000,
            "wall_seconds": run["wall_seconds"], "stub_cpu_seconds": run["stub_cpu_seconds"],
            "calls_per_batch": calls_per(run["calls"], batches, 1),
            "calls_per_1000_lines": calls_per(run["calls"], measured_lines),
            "records": records_figures(written, lines, warm_updates + run["stats"]["items_written"].get(updates_name, 0))}
    # A .gz upload at one line per message: the splitter decompresses as it reads.
    bench.settings(1)
    compressed = gzip.compress(body, 6)
    split(bench, gzip.compress(log_file(300), 6), 300, 1, f"bench/warm-gz-{uuid.uuid4().hex[:6]}.log.gz")  # warm
    runs = []
    for rep in range(repeats):
        run, _ = split(bench, compressed, lines, 1, f"bench/cpu-gz-{rep}-{uuid.uuid4().hex[:6]}.log.gz")
        runs.append(run)
    figures["split_log_upload/1lpm.gz"] = {
        "unit": "line", "lines": lines, "bytes": len(body), "compressed_bytes": len(compressed), "lines_per_message": 1,
        "cpu_us_per_line": per_unit(runs, lines), "messages_sent": runs[0]["messages_sent"]}
    # What a resumed .gz pays before its first line: decompressing (and dropping) everything up to its offset.
    from chalicelib.streaming.lines import gunzip, skip_bytes
    chunks = [compressed[i:i + (1 << 20)] for i in range(0, len(compressed), 1 << 20)]
    samples = []
    for _ in range(repeats):
        started = time.process_time()
        for _ in skip_bytes(gunzip(iter(chunks)), len(body)):
            pass
        samples.append((time.process_time() - started) / (len(body) / 1e6) * 1e6)
    figures["gunzip_skip"] = {"unit": "decompressed MB", "cpu_us_per_mb": statistics.median(samples),
                              "runs": samples, "bytes_per_line": len(body) / lines}
    return figures


def bench_plan(bench: Bench, repeats: int, megabytes: int = 32, parts_count: int = 16) -> dict:
    """The planning pass of an upload read in parts (chalicelib/streaming/parts.py `plan`, its newlines counted
    by `_scan`): CPU per MB over the splitter's own ranged GETs (streaming/resumable.py `range_reader`), checked
    against the object (parts contiguous, each at a line start, each knowing the newlines before it)."""
    from chalicelib.streaming import parts
    from chalicelib.streaming.resumable import range_reader
    chunk = log_file(20_000)
    body = chunk * max(1, megabytes * 1_000_000 // len(chunk))
    bucket, key = bench.name("InputLogsBucket"), f"bench/plan-{uuid.uuid4().hex[:6]}.log"
    etag = bench.put_object(bucket, key, body)
    read = range_reader(bucket, key, etag)
    parts.plan(len(body), parts_count, read)  # warm: the client and its connections
    runs = []
    for _ in range(repeats):
        bench.stub.reset()
        runs.append(timed(bench.stub, lambda: parts.plan(len(body), parts_count, read)))
    planned = runs[0]["result"]
    bench.check(len(planned) == parts_count and planned[0].start == 0 and planned[-1].end == len(body)
                and all(a.end == b.start for a, b in zip(planned, planned[1:])),
                f"plan: {len(planned)} parts, not {parts_count} contiguous ones over {len(body):,} bytes")
    bench.check(all(body[p.start - 1:p.start] == b"\n" and p.lines_before == body.count(b"\n", 0, p.start)
                    for p in planned[1:]), "plan: a part does not start at a line start, or miscounts the lines before it")
    gets = runs[0]["calls"].get("S3:GetObject", 0)
    bench.check(gets == parts_count, f"plan: {gets} ranged GETs, not one per part ({parts_count})")
    return {"split_plan": {"unit": "MB", "bytes": len(body), "parts": parts_count,
                           "cpu_us_per_mb": per_unit(runs, len(body) / 1e6),
                           "wall_seconds": [r["wall_seconds"] for r in runs],
                           "stub_cpu_seconds": [r["stub_cpu_seconds"] for r in runs],
                           "calls": runs[0]["calls"]}}


# --- invoices --------------------------------------------------------------------------------------------------

def bench_invoices(bench: Bench, rows: int, repeats: int) -> dict:
    import tempfile
    from benchmarks.invoice_pipeline import write_csv
    from tests.events import s3_event
    bench.settings()
    bench.sinks("InvoicesTable")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "notas.csv"
        write_csv(path, rows=rows)
        body = path.read_bytes()
        small = Path(tmp) / "warm.csv"
        write_csv(small, rows=200)
        warm = small.read_bytes()
    bucket, table = bench.name("InvoicesBucket"), bench.name("InvoicesTable")
    handler, context = bench.handler("ingest_invoice_upload"), bench.context("ingest_invoice_upload")
    key = f"bench/warm-{uuid.uuid4().hex[:6]}.csv"
    handler(s3_event(bucket, key, bench.put_object(bucket, key, warm)), context)
    runs = []
    valid = rows - rows // 100  # write_csv: one row in 100 has an impossible date
    for rep in range(repeats):
        key = f"bench/notas-{rep}-{uuid.uuid4().hex[:6]}.csv"
        event = s3_event(bucket, key, bench.put_object(bucket, key, body))
        bench.stub.reset()
        run = timed(bench.stub, lambda e=event: handler(e, context))
        written = run["stats"]["items_written"]  # new invoices are INSERTed; one whose key is taken is put
        put = written.get(f"{table} PutItem", 0) + written.get(f"{table} BatchExecuteStatement", 0)
        bench.check(put == valid, f"invoice ingester: {put:,} invoices written, not the {valid:,} valid rows")
        reports = run["stats"]["s3_puts"].get(bench.name("ReportsBucket"), 0)
        bench.check(reports == 1, f"invoice ingester: {reports} reports, not 1 (the upload did not finish)")
        runs.append(run)
    return {"ingest_invoice_upload": {
        "unit": "row", "rows": rows, "valid_rows": valid, "bytes": len(body),
        "cpu_us_per_row": per_unit(runs, rows), "wall_seconds": [r["wall_seconds"] for r in runs],
        "stub_cpu_seconds": [r["stub_cpu_seconds"] for r in runs],
        "calls_per_1000_rows": calls_per(runs[0]["calls"], rows)}}


# --- API routes, products, orders -----------------------------------------------------------------------------

def api_event(method: str, resource: str, path: str, path_parameters: dict | None = None,
              query: dict | None = None, body: dict | None = None) -> dict:
    """An API Gateway (REST, proxy) event as Lambda gets it behind a custom authorizer that allowed it."""
    return {
        "resource": resource, "path": path, "httpMethod": method,
        "headers": {"Host": "abc123.execute-api.us-east-1.amazonaws.com", "Content-Type": "application/json",
                    "Accept": "application/json", "User-Agent": "bench-cpu"},
        "multiValueHeaders": None,
        "queryStringParameters": query, "multiValueQueryStringParameters": {k: [v] for k, v in query.items()}
        if query else None,
        "pathParameters": path_parameters, "stageVariables": None,
        "requestContext": {"resourcePath": resource, "httpMethod": method, "path": f"/api{path}", "stage": "api",
                           "requestId": str(uuid.uuid4()), "identity": {"sourceIp": "203.0.113.7"},
                           "authorizer": dict(OPERATOR)},
        "body": json.dumps(body) if body is not None else None, "isBase64Encoded": False,
    }


def call_routes(bench: Bench, events: list[dict], status: int, label: str) -> dict:
    context = bench.context("api_handler")
    bench.app(events[0], context)  # warm
    bench.stub.reset()
    run = timed(bench.stub, lambda: [bench.app(e, context) for e in events[1:]])
    codes = Counter(r["statusCode"] for r in run["result"])
    bench.check(set(codes) == {status}, f"{label}: answered {dict(codes)}, not all {status}")
    n = len(events) - 1
    return {"unit": "request", "requests": n, "cpu_us_per_request": per_unit([run], n),
            "wall_seconds": run["wall_seconds"], "stub_cpu_seconds": run["stub_cpu_seconds"],
            "calls_per_request": calls_per(run["calls"], n, 1), "result": run["result"]}


def bench_api(bench: Bench, requests: int, log_key: str, invoice_key: str, invoice_customer: str) -> dict:
    from local_runtime.runner import sqs_record  # noqa: F401  (imported for the same records as the workers)
    bench.settings()
    bench.sinks()
    figures = {}
    # Products: accept (POST), then the worker stores them.
    products = [api_event("POST", "/products", "/products", body={
        "name": f"Product {i}", "price": "19.90", "description": "A product of the CPU benchmark",
        "sku": f"SKU-{i:06d}", "category": "bench", "stock": 5}) for i in range(requests + 1)]
    figures["POST /products"] = call_routes(bench, products, 202, "POST /products")
    product_ids = [json.loads(r["body"])["id"] for r in figures["POST /products"].pop("result")]
    sent = bench.stub.stats()["sqs_sent"].get(bench.name("ProductQueue"), 0)
    bench.check(sent == requests, f"POST /products: {sent} messages queued, not {requests}")
    events = bench.sqs_events("process_product_queue", bench.stub.pop(bench.name("ProductQueue")))
    handler, context = bench.handler("process_product_queue"), bench.context("process_product_queue")
    handler(events[0], context)
    bench.stub.reset()
    run = timed(bench.stub, lambda: [handler(e, context) for e in events[1:]])
    stored = run["stats"]["items_written"].get(f"{bench.name('ProductTable')} PutItem", 0)
    n = sum(len(e["Records"]) for e in events[1:])
    bench.check(stored == n, f"product worker: {stored} products stored, not {n}")
    figures_workers = {"process_product_queue": {
        "unit": "message", "messages": n, "batch_messages": bench.sources["process_product_queue"].batch_size,
        "cpu_us_per_message": per_unit([run], n), "wall_seconds": run["wall_seconds"],
        "calls_per_message": calls_per(run["calls"], n, 1)}}
    # Orders: accept (POST), then the worker prices, completes and notifies them. One item in two is priced
    # by the client; the other is priced from the catalog (a BatchGetItem).
    orders = [api_event("POST", "/orders", "/orders", body={
        "customerId": f"customer-{i % 20:03d}", "notify": "ops@example.com",
        "items": [{"productId": product_ids[i % len(product_ids)], "quantity": 2},
                  {"productId": f"external-{i}", "quantity": 1, "unitPrice": "5.00"}]}) for i in range(requests + 1)]
    figures["POST /orders"] = call_routes(bench, orders, 202, "POST /orders")
    order_ids = [json.loads(r["body"])["orderId"] for r in figures["POST /orders"].pop("result")]
    events = bench.sqs_events("process_orders", bench.stub.pop(bench.name("OrdersQueue")))
    handler, context = bench.handler("process_orders"), bench.context("process_orders")
    handler(events[0], context)
    bench.stub.reset()
    run = timed(bench.stub, lambda: [handler(e, context) for e in events[1:]])
    n = sum(len(e["Records"]) for e in events[1:])
    published = sum(run["stats"]["sns_published"].values())
    bench.check(published == n, f"order worker: {published} notifications for {n} orders")
    figures_workers["process_orders"] = {
        "unit": "order", "orders": n, "batch_messages": bench.sources["process_orders"].batch_size,
        "cpu_us_per_order": per_unit([run], n), "wall_seconds": run["wall_seconds"],
        "calls_per_order": calls_per(run["calls"], n, 1)}
    # Reads.
    reads = {
        "GET /products": (lambda i: api_event("GET", "/products", "/products", query={"limit": "20"})),
        "GET /products/{product_id}": (lambda i: api_event(
            "GET", "/products/{product_id}", f"/products/{product_ids[i % len(product_ids)]}",
            {"product_id": product_ids[i % len(product_ids)]})),
        "GET /orders/{order_id}": (lambda i: api_event(
            "GET", "/orders/{order_id}", f"/orders/{order_ids[i % len(order_ids)]}",
            {"order_id": order_ids[i % len(order_ids)]})),
        "GET /orders": (lambda i: api_event("GET", "/orders", "/orders",
                                            query={"customerId": f"customer-{i % 20:03d}", "limit": "10"})),
        "GET /log-batches": (lambda i: api_event("GET", "/log-batches", "/log-batches", query={"key": log_key})),
        "GET /log-batches/lines": (lambda i: api_event("GET", "/log-batches/lines", "/log-batches/lines",
                                                       query={"key": log_key, "level": "ERROR", "limit": "20"})),
        "GET /invoice-uploads": (lambda i: api_event("GET", "/invoice-uploads", "/invoice-uploads",
                                                     query={"key": invoice_key})),
        "GET /invoices/{number}": (lambda i: api_event("GET", "/invoices/{number}", f"/invoices/NF-{i % 90 + 1}",
                                                       {"number": f"NF-{i % 90 + 1}"})),
        "GET /invoices": (lambda i: api_event("GET", "/invoices", "/invoices",
                                              query={"customer": invoice_customer, "limit": "20"})),
    }
    read_count = max(20, requests // 3)
    for route, build in reads.items():
        figures[route] = call_routes(bench, [build(i) for i in range(read_count + 1)], 200, route)
        figures[route].pop("result")
    return {"api": figures, "workers": figures_workers}


def seed_for_reads(bench: Bench) -> tuple[str, str, str]:
    """A small log run and invoice upload, kept whole (no sink tables), for the read routes to find."""
    from tests.events import s3_event
    from benchmarks.invoice_pipeline import write_csv
    import tempfile
    bench.settings()
    bench.sinks()
    key = f"bench/routes-{uuid.uuid4().hex[:6]}.log"
    _, messages = split(bench, log_file(2000), 2000, 1, key)
    for event in bench.sqs_events("process_log_lines", messages):
        bench.handler("process_log_lines")(event, bench.context("process_log_lines"))
    bucket = bench.name("InvoicesBucket")
    invoice_key = f"bench/routes-{uuid.uuid4().hex[:6]}.csv"
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "notas.csv"
        write_csv(path, rows=500)
        etag = bench.put_object(bucket, invoice_key, path.read_bytes())
    bench.handler("ingest_invoice_upload")(s3_event(bucket, invoice_key, etag), bench.context("ingest_invoice_upload"))
    return key, invoice_key, "Ana Costa"


def bench_authorizer(bench: Bench, checks: int) -> dict:
    """The token check of the app's custom authorizer (a Lambda API Gateway calls before a protected route).

    A pool of our own: an RSA key whose JWKS the stub publishes where the app looks for the pool's keys,
    and ID tokens signed with it, as Cognito's are (RS256, kid, iss, aud, token_use=id, cognito:groups).
    """
    import importlib
    handlers = list(getattr(bench.app, "builtin_auth_handlers", []))
    if not handlers:
        return {"status": "absent", "note": "app.py registers no authorizer (app.builtin_auth_handlers is empty); "
                                            "routes were measured with requestContext.authorizer filled in"}
    import jwt
    from cryptography.hazmat.primitives.asymmetric import rsa
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)  # Cognito signs with RSA-2048 keys
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    jwk.update({"kid": "bench-key", "alg": "RS256", "use": "sig"})
    bench.stub.call("/__stub/jwks", {"keys": [jwk]})
    os.environ.update({"COGNITO_USER_POOL_ID": "us-east-1_BenchPool", "COGNITO_APP_CLIENT_ID": "benchclient"})
    from chalicelib import identity, settings
    identity.token_verifier.cache_clear()
    now = int(time.time())
    claims = {"sub": str(uuid.uuid4()), "iss": settings.user_pool_issuer(), "aud": settings.user_pool_client_id(),
              "token_use": "id", "iat": now, "exp": now + 3600, "auth_time": now,
              "cognito:username": "operator", "cognito:groups": ["operators"], "email": "ops@example.com",
              "email_verified": True, "event_id": str(uuid.uuid4()), "origin_jti": str(uuid.uuid4()),
              "jti": str(uuid.uuid4())}
    token = jwt.encode(claims, key, algorithm="RS256", headers={"kid": "bench-key"})
    figures = {}
    for config in handlers:
        module, _, attribute = config.handler_string.rpartition(".")
        handler = getattr(importlib.import_module(module), attribute)
        event = {"type": "TOKEN", "authorizationToken": f"Bearer {token}",
                 "methodArn": "arn:aws:execute-api:us-east-1:000000000000:abc123/api/GET/log-batches"}
        context = bench.context(config.name)
        first = timed(bench.stub, lambda h=handler, e=event, c=context: h(e, c))  # a cold verifier: imports PyJWT, fetches keys
        allowed = first["result"].get("policyDocument", {}).get("Statement", [{}])[0].get("Effect")
        bench.check(allowed == "Allow", f"authorizer {config.name}: {allowed!r} for a valid token, not Allow")
        run = timed(bench.stub, lambda h=handler, e=event, c=context: [h(e, c) for _ in range(checks)])
        bench.check(all(r["policyDocument"]["Statement"][0]["Effect"] == "Allow" for r in run["result"]),
                    f"authorizer {config.name}: some checks did not allow")
        figures[config.name] = {"unit": "check", "checks": checks, "cpu_us_per_check": per_unit([run], checks),
                                "first_check_cpu_ms": first["cpu_seconds"] * 1000,
                                "calls_per_check": calls_per(run["calls"], checks, 1),
                                "ttl_seconds": getattr(config, "ttl_seconds", None)}
    return {"status": "measured", "handlers": figures,
            "note": "API Gateway caches an authorizer's answer per token for its TTL; 0 runs it on every request"}


# --- request mix by the meter ---------------------------------------------------------------------------------

def store_products(bench: Bench, count: int) -> list[str]:
    """`count` products through `POST /products` and `process_product_queue`, as the app stores them; their ids
    (the orders' benchmarks price their orders from them)."""
    context = bench.context("api_handler")
    ids = []
    for i in range(count):
        response = bench.app(api_event("POST", "/products", "/products", body={
            "name": f"Product {i}", "price": "19.90", "description": "A product of the CPU benchmark",
            "sku": f"SKU-{i:06d}", "category": "bench", "stock": 5}), context)
        ids.append(json.loads(response["body"])["id"])
    for event in bench.sqs_events("process_product_queue", bench.stub.pop(bench.name("ProductQueue"))):
        bench.handler("process_product_queue")(event, bench.context("process_product_queue"))
    return ids


def metered(bench: Bench, flow, keep_data: bool = False) -> dict:
    """Run `flow()` with benchmarks/meter.py on fresh app clients; its counts and units.

    The stub starts empty (unless `keep_data`), so the meter knows every item's before image."""
    from benchmarks.meter import Meter
    from chalicelib import aws
    aws.reset()
    if not keep_data:
        bench.stub.reset(data=True)
    bench.sinks()
    meter = Meter()
    for service in ("s3", "sqs", "dynamodb", "sns"):
        meter.instrument(aws.client(service))
    flow()
    totals = meter.totals()
    return {"requests": dict(meter.billable), "write_units": totals["write_units"],
            "read_units": totals["read_units"], "write_units_by_item_kind": {k: sum(v.values()) for k, v in
                                                                             meter.wru_by_kind.items()},
            "sqs_billed_requests": dict(meter.sqs_billed), "sqs_payload_bytes": dict(meter.sqs_payload),
            "s3_requests_by_class": dict(meter.s3_classes), "errors": dict(meter.errors),
            "meter_errors": list(meter.meter_errors), "notes": dict(meter.notes)}


def per(figures: dict, units: float) -> dict:
    scale = lambda d: {k: v / units for k, v in d.items()}  # noqa: E731
    return {"requests": scale(figures["requests"]), "write_units": scale(figures["write_units"]),
            "read_units": scale(figures["read_units"]), "write_units_by_item_kind": scale(figures["write_units_by_item_kind"]),
            "sqs_billed_requests": scale(figures["sqs_billed_requests"]),
            "s3_requests_by_class": scale(figures["s3_requests_by_class"]),
            "errors": figures["errors"], "meter_errors": figures["meter_errors"], "notes": figures["notes"]}


def meter_invoices(bench: Bench, rows: int) -> dict:
    """The ingester's request mix and units per row, over one upload of `rows` rows."""
    from tests.events import s3_event
    from benchmarks.invoice_pipeline import write_csv
    import tempfile
    bench.settings()

    def invoice_flow():
        bucket = bench.name("InvoicesBucket")
        key = f"bench/meter-{uuid.uuid4().hex[:6]}.csv"
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "notas.csv"
            write_csv(path, rows=rows)
            etag = bench.put_object(bucket, key, path.read_bytes())
        bench.handler("ingest_invoice_upload")(s3_event(bucket, key, etag), bench.context("ingest_invoice_upload"))
    return {"unit": "row", "units": rows, **per(metered(bench, invoice_flow), rows)}


def bench_meter(bench: Bench, lines: int, rows: int, requests: int) -> dict:
    mix = {}
    for lines_per_message in (1, 10):
        bench.settings(lines_per_message)

        updates, uploads = [], []

        def log_flow(lines_per_message=lines_per_message):
            from chalicelib import aws

            def count_update(params, **_):
                updates.append(params.get("TableName") == bench.name("ProcessedLogsTable"))
            aws.client("dynamodb").meta.events.register("provide-client-params.dynamodb.UpdateItem", count_update)
            _, messages = split(bench, log_file(lines), lines, lines_per_message, f"bench/meter-{uuid.uuid4().hex[:6]}.log")
            uploads.append(json.loads(messages[0]["Body"])["batch_id"])
            for event in bench.sqs_events("process_log_lines", messages):
                bench.handler("process_log_lines")(event, bench.context("process_log_lines"))
        mix[f"log/{lines_per_message}lpm"] = {"unit": "line", "units": lines, **per(metered(bench, log_flow), lines)}
        mix[f"log/{lines_per_message}lpm"]["records"] = records_figures(
            log_records_written(bench, uploads[0]), lines, sum(updates))
    mix["invoices"] = meter_invoices(bench, rows)
    product_ids: list[str] = []

    def product_flow():
        product_ids.extend(store_products(bench, requests))
    mix["products"] = {"unit": "product", "units": requests, **per(metered(bench, product_flow), requests)}

    def order_flow():
        context = bench.context("api_handler")
        for i in range(requests):
            bench.app(api_event("POST", "/orders", "/orders", body={
                "customerId": f"customer-{i % 20:03d}", "notify": "ops@example.com",
                "items": [{"productId": product_ids[i % len(product_ids)], "quantity": 2},
                          {"productId": f"external-{i}", "quantity": 1, "unitPrice": "5.00"}]}), context)
        for event in bench.sqs_events("process_orders", bench.stub.pop(bench.name("OrdersQueue"))):
            bench.handler("process_orders")(event, bench.context("process_orders"))
    # The orders are priced from products that exist: those stay in the stub, and their writes are not the
    # orders' cost (the orders' flow is metered on its own, on fresh clients). OrdersTable's indexes are
    # metered as the template defines them (KEYS_ONLY since issue 22: docs/orders.md, "Write cost").
    mix["orders"] = {"unit": "order", "units": requests, **per(metered(bench, order_flow, keep_data=True), requests)}
    return mix


# --- the code's own concurrency, for the model ------------------------------------------------------------------

def code_parallelism() -> dict:
    """In-flight limits the handlers use, read from the code (defaults of the functions that set them)."""
    from chalicelib.adapters import dynamo, queues
    default = lambda f, p: inspect.signature(f).parameters[p].default  # noqa: E731
    return {
        "sqs_send_in_flight": default(queues.BatchSender.__init__, "max_in_flight"),
        "batch_write_in_flight": default(dynamo.batch_put, "max_in_flight"),
        "conditional_put_in_flight": default(dynamo.conditional_put_all, "max_in_flight"),
        "plan_in_flight": default(__import__("chalicelib.streaming.parts", fromlist=["x"]).plan, "max_in_flight"),
        "insert_in_flight": default(dynamo.insert_all, "max_in_flight"),  # BatchExecuteStatement calls at once
        "insert_batch_statements": dynamo.BATCH_STATEMENT_LIMIT,
        "log_count_threads": 8,  # chalicelib/logbatch/repository.py, the chunk counting: ThreadPoolExecutor(min(8, ...))
        "invoice_write_chunk_rows": __import__("chalicelib.invoices.service", fromlist=["x"]).WRITE_CHUNK_ROWS,
        "log_chunk_lines": __import__("chalicelib.logbatch.repository", fromlist=["x"]).CHUNK_LINES,
        "log_section_chunks": __import__("chalicelib.logbatch.repository", fromlist=["x"]).SECTION_CHUNKS,
    }


def machine() -> dict:
    model = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")),
                 platform.processor())
    import botocore
    return {"cpu": model, "cores": os.cpu_count(), "python": platform.python_version(),
            "botocore": botocore.__version__, "load_average": os.getloadavg(), "platform": platform.platform()}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lines", type=int, default=20_000)
    parser.add_argument("--rows", type=int, default=5_000)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--meter-lines", type=int, default=3_000)
    parser.add_argument("--skip-meter", action="store_true")
    parser.add_argument("--only", choices=["invoices"], help="run this part alone (its own output file)")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    args.out = args.out or (OUT.with_name(f"cpu-{args.only}.json") if args.only else OUT)
    if args.only:
        return only(args)
    stub = Stub()
    handler_log = PROJECT_DIR / "build" / "bench" / "cpu-handlers.log"
    handler_log.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    try:
        # The handlers' metric (EMF) lines go to a file, as Lambda's stdout goes to CloudWatch.
        with open(handler_log, "w") as sink, contextlib.redirect_stdout(sink):
            bench = Bench(stub)
            handlers = {}
            handlers.update(bench_logs(bench, args.lines, args.repeats))
            handlers.update(bench_plan(bench, args.repeats))
            handlers.update(bench_invoices(bench, args.rows, args.repeats))
            log_key, invoice_key, customer = seed_for_reads(bench)
            api = bench_api(bench, args.requests, log_key, invoice_key, customer)
            handlers.update(api["workers"])
            result = {"machine": machine(), "arguments": vars(args) | {"out": str(args.out)},
                      "handlers": handlers, "api": api["api"], "authorizer": bench_authorizer(bench, max(50, args.requests)),
                      "parallelism": code_parallelism(), "table_names": bench.tables,
                      "constants": {"pending_shards": __import__("chalicelib.orders.model",
                                                                 fromlist=["x"]).PENDING_SHARDS},
                      "event_sources": {s.name: {"batch_size": getattr(s, "batch_size", None),
                                                 "window_seconds": getattr(s, "maximum_batching_window_in_seconds", None)}
                                        for s in bench.app.event_sources},
                      "failures": bench.failures}
            if not args.skip_meter and not bench.failures:
                result["request_mix"] = bench_meter(bench, args.meter_lines, max(500, args.rows // 5),
                                                    max(50, args.requests // 3))
    finally:
        stub.close()
    result["seconds"] = time.perf_counter() - started
    print_result(result)
    if result["failures"]:
        print("\nFAILED (nothing written):\n  " + "\n  ".join(result["failures"]), file=sys.stderr)
        return 1
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2, sort_keys=True, default=str) + "\n")
    print(f"figures written to {args.out.relative_to(PROJECT_DIR) if args.out.is_relative_to(PROJECT_DIR) else args.out}")
    return 0


def only(args: argparse.Namespace) -> int:
    """One part of the benchmark (`--only`), with the same checks, printout and failure rule as the whole."""
    stub = Stub()
    handler_log = PROJECT_DIR / "build" / "bench" / f"cpu-{args.only}-handlers.log"
    handler_log.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    try:
        with open(handler_log, "w") as sink, contextlib.redirect_stdout(sink):
            bench = Bench(stub)
            result = {"machine": machine(), "arguments": vars(args) | {"out": str(args.out)},
                      "handlers": bench_invoices(bench, args.rows, args.repeats), "api": {},
                      "authorizer": {"status": "not run (--only)"}, "parallelism": code_parallelism(),
                      "failures": bench.failures}
            if not args.skip_meter and not bench.failures:
                result["request_mix"] = {"invoices": meter_invoices(bench, max(500, args.rows // 5))}
    finally:
        stub.close()
    result["seconds"] = time.perf_counter() - started
    print_result(result)
    if result["failures"]:
        print("\nFAILED (nothing written):\n  " + "\n  ".join(result["failures"]), file=sys.stderr)
        return 1
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2, sort_keys=True, default=str) + "\n")
    print(f"figures written to {args.out.relative_to(PROJECT_DIR) if args.out.is_relative_to(PROJECT_DIR) else args.out}")
    return 0


def print_result(result: dict) -> None:
    m = result["machine"]
    print(f"CPU per unit, this process only (the stub's CPU excluded), on {m['cpu']} ({m['cores']} cores, load "
          f"{m['load_average'][0]:.1f}), median of runs:")
    for name, figures in result["handlers"].items():
        key = next((k for k in figures if k.startswith("cpu_us_per_") and isinstance(figures[k], dict)), None)
        if key:
            detail = f"  ({figures['cpu_ms_per_batch']:.1f} ms per batch of {figures['batch_messages']})" \
                if "cpu_ms_per_batch" in figures else ""
            print(f"  {name:<34} {figures[key]['median']:9.1f} µs per {figures['unit']}{detail}")
        elif "cpu_us_per_mb" in figures:
            print(f"  {name:<34} {figures['cpu_us_per_mb']:9.0f} µs per decompressed MB skipped on resume")
    for route, figures in result["api"].items():
        print(f"  {route:<34} {figures['cpu_us_per_request']['median']:9.1f} µs per request")
    authorizer = result["authorizer"]
    for name, figures in authorizer.get("handlers", {}).items():
        print(f"  authorizer {name:<23} {figures['cpu_us_per_check']['median']:9.1f} µs per token check "
              f"(first, cold: {figures['first_check_cpu_ms']:.0f} ms)")
    if authorizer["status"] != "measured":
        print(f"authorizer: {authorizer['status']}")
    for flow, mix in result.get("request_mix", {}).items():
        wru = sum(mix["write_units"].values())
        print(f"  meter {flow:<12} {wru:6.3f} WRU per {mix['unit']} ("
              + ", ".join(f"{t} {u:.3f}" for t, u in mix["write_units"].items()) + ")")
    print(f"({result['seconds']:.0f} s)")


if __name__ == "__main__":
    sys.exit(main())
