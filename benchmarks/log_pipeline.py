"""Benchmark of the log batch pipeline against the local emulator (a script, not a test).

    .venv/bin/python -m benchmarks.log_pipeline [--lines 100000] [--lines-per-message 1] [--split-emulator]
        [--memory-sizes 10,500] [--concurrency 4] [--skip-ceilings]

Runs the pipeline end to end in this process (upload → splitter → queue →
workers → report), with the event runner calling the Chalice handlers as
Lambda would, and prints what it cost, counted from what was actually sent
(benchmarks/meter.py hooks every botocore client the app and the runner use):

- lines/s end to end, and as a ratio of the emulator's own ceilings measured
  in the same run (benchmarks/ceiling.py): SQS send+receive+delete messages/s
  and BatchWriteItem items/s on one client;
- DynamoDB write and read units per line, by table and by index;
- AWS requests per 1,000 lines, by API (and what was left out of the cost:
  the runner's idle polls and its own internal queues);
- cost per million lines by service at us-east-1 list prices;
- the splitter's peak memory (RSS of a process that only splits) on files of
  each size in --memory-sizes MB, with a counting stub for SQS so the figure
  measures reading and splitting alone.

The figures are also written to build/bench/log_pipeline-<mode>.json.

Checks that FAIL the run (exit 1): the mode did not take effect (messages
sent to the log queue must be ceil(lines / lines per message); with
--split-emulator the app's DynamoDB client must point at the second
emulator and the first must hold no table), the report does not count every
line, or the meter itself failed.

--split-emulator runs DynamoDB in a second moto process (S3 and SQS stay
together: S3's notifications to SQS happen inside one moto process), chosen
per service by botocore's AWS_ENDPOINT_URL_DYNAMODB, which takes precedence
over AWS_ENDPOINT_URL (botocore/configprovider.py EndpointConfigProvider).
"""
import argparse
import contextlib
import json
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_DIR))

from benchmarks.meter import PRICES, Meter  # noqa: E402,F401  (PRICES: benchmarks.invoice_pipeline imports it)

OUT_DIR = PROJECT_DIR / "build" / "bench"
DYNAMODB_ENDPOINT_VARIABLE = "AWS_ENDPOINT_URL_DYNAMODB"


def start_emulator():
    from local_runtime import processes
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_ENDPOINT_URL")}
    process = processes.start([sys.executable, "-m", "local_runtime.emulator", "-H", "127.0.0.1", "-p", str(port)], env)
    processes.wait_for_port("127.0.0.1", port, process)
    return process, f"http://127.0.0.1:{port}"


def use_emulator(endpoint: str, stage_name: str = "dev", overrides: dict[str, str] | None = None):
    """Point boto3 at the emulator and load the app with the stage's environment, then `overrides`.

    `Stage.load_app` applies the stage's environment variables (as `chalice deploy` does), which would
    overwrite a setting exported before it: the benchmark's own settings (--lines-per-message) go on
    after it. The app reads settings when its services are first built, so those caches are dropped too.
    """
    os.environ.update({"AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench",
                       "AWS_DEFAULT_REGION": "us-east-1", "POWERTOOLS_LOG_LEVEL": "ERROR"})
    from infra.stage import Stage
    stage = Stage.load(stage_name)
    app = stage.load_app()
    os.environ.update(overrides or {})
    from chalicelib import aws
    from chalicelib.logbatch import service
    aws.reset()      # clients find their endpoints when created: AWS_ENDPOINT_URL_* may have changed
    service.reset()  # the splitter read LOG_LINES_PER_MESSAGE when built
    return stage, app


def write_log_file(path: Path, lines: int = 0, megabytes: int = 0) -> int:
    from tests.logfiles import generated_lines
    pool = generated_lines(1000)
    written = count = 0
    with open(path, "w") as out:
        while (lines and count < lines) or (megabytes and written < megabytes * 1_000_000):
            line = pool[count % len(pool)] + "\n"
            out.write(line)
            written += len(line)
            count += 1
    return count


class Emulators:
    """The emulator process(es) of one run: one for everything, or a second one for DynamoDB alone."""

    def __init__(self, split: bool):
        self.split = split
        self.processes = []
        self.endpoint = self.dynamodb_endpoint = None
        self._saved = os.environ.get(DYNAMODB_ENDPOINT_VARIABLE)

    def __enter__(self) -> "Emulators":
        process, self.endpoint = start_emulator()
        self.processes.append(process)
        self.dynamodb_endpoint = self.endpoint
        if self.split:
            process, self.dynamodb_endpoint = start_emulator()
            self.processes.append(process)
            os.environ[DYNAMODB_ENDPOINT_VARIABLE] = self.dynamodb_endpoint
        else:
            os.environ.pop(DYNAMODB_ENDPOINT_VARIABLE, None)
        return self

    def __exit__(self, *_):
        from local_runtime import processes
        for process in reversed(self.processes):
            processes.stop(process)
        os.environ.pop(DYNAMODB_ENDPOINT_VARIABLE, None)
        if self._saved is not None:
            os.environ[DYNAMODB_ENDPOINT_VARIABLE] = self._saved


# --- end to end -------------------------------------------------------------------

def check_endpoints(emulators: Emulators, stage, session) -> list[str]:
    """Did --split-emulator (or its absence) take effect? Returns the failures."""
    from chalicelib import aws
    failures = []
    app_endpoint = aws.client("dynamodb").meta.endpoint_url
    if app_endpoint != emulators.dynamodb_endpoint:
        failures.append(f"the app's DynamoDB client uses {app_endpoint}, not {emulators.dynamodb_endpoint}")
    for service in ("s3", "sqs"):
        if aws.client(service).meta.endpoint_url != emulators.endpoint:
            failures.append(f"the app's {service} client uses {aws.client(service).meta.endpoint_url}")
    if emulators.split:
        # Every table must be in the DynamoDB emulator, none in the other: nothing went to the wrong process.
        main_tables = session.client("dynamodb", endpoint_url=emulators.endpoint).list_tables()["TableNames"]
        split_tables = session.client("dynamodb").list_tables()["TableNames"]
        log_table = stage.resource_name("ProcessedLogsTable")
        if main_tables or log_table not in split_tables:
            failures.append(f"tables on the main emulator: {main_tables}; on the DynamoDB one: {split_tables}")
    return failures


def end_to_end(args, emulators: Emulators) -> dict:
    import boto3
    from chalicelib import aws, settings
    from infra.provision import provision
    from infra.resources import RESOURCES, Table
    from local_runtime.runner import INTERNAL_PREFIX, EventRunner

    stage, app = use_emulator(emulators.endpoint, overrides={"LOG_LINES_PER_MESSAGE": str(args.lines_per_message)})
    if not args.verbose:  # the stage's POWERTOOLS_LOG_LEVEL (INFO) was applied when the app was imported
        from chalicelib.logs import logger
        logger.setLevel("WARNING")
    if settings.log_lines_per_message() != args.lines_per_message:
        raise SystemExit(f"LOG_LINES_PER_MESSAGE is {settings.log_lines_per_message()} after loading the stage, "
                         f"not {args.lines_per_message}")
    session = boto3.session.Session()
    provision(stage, app, session)
    failures = check_endpoints(emulators, stage, session)

    meter = Meter(emulation_queue=lambda name: name.startswith(INTERNAL_PREFIX))
    # Known while empty: every item that lands in them afterwards passes through a metered write.
    for logical_id, resource in RESOURCES.items():
        if isinstance(resource, Table):
            meter.schema(stage.resource_name(logical_id))
    for service in ("s3", "sqs", "dynamodb", "sns"):
        meter.instrument(aws.client(service))
    functions = [s.name for s in app.event_sources]
    runner = EventRunner(app, session, concurrency=args.concurrency,
                         report=(print if args.verbose else lambda line: None),
                         timeouts={f: stage.function_setting(f, "lambda_timeout", 60) for f in functions},
                         memory={f: stage.function_setting(f, "lambda_memory_size", 128) for f in functions})
    runner.setup()
    meter.instrument(runner.sqs)  # Lambda's pollers receive and delete on the customer's bill too
    meter.wrap_handlers(app)

    deliveries, delivery_ms = Counter(), Counter()

    def count_messages(parsed, model, **_):
        if model.name == "ReceiveMessage":
            received = parsed.get("Messages", [])
            deliveries["received"] += len(received)
            deliveries["redelivered"] += sum(m.get("Attributes", {}).get("ApproximateReceiveCount") != "1"
                                             for m in received)
        elif model.name == "DeleteMessageBatch":
            deliveries["deleted"] += len(parsed.get("Successful", []))
            deliveries["delete_failed"] += len(parsed.get("Failed", []))
    runner.sqs.meta.events.register("after-call.sqs.*", count_messages)

    original_done = runner._done

    def count_delivery(delivery):  # the runner's own view of each invocation (its ms include the slot wait)
        deliveries[f"invocations:{delivery.handler}"] += 1
        deliveries[f"failed:{delivery.handler}"] += bool(delivery.failed)
        delivery_ms[delivery.handler] += delivery.ms
        return original_done(delivery)
    runner._done = count_delivery

    input_bucket = stage.resource_name("InputLogsBucket")
    output_bucket = stage.resource_name("ProcessedDataBucket")
    uploader = meter.instrument(session.client("s3"))  # the user's upload is an S3 PUT of its own
    s3 = session.client("s3")  # polls for the report: the benchmark's, not the app's, requests
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.log"
        lines = write_log_file(path, lines=args.lines)
        size = path.stat().st_size
        runner.start()
        started = time.perf_counter()
        uploader.upload_file(str(path), input_bucket, "bench/bench.log")
        deadline = time.monotonic() + args.timeout
        while True:
            try:
                s3.head_object(Bucket=output_bucket, Key="bench/relatorio_bench.log.json")
                break
            except s3.exceptions.ClientError:
                if time.monotonic() > deadline:
                    runner.stop()
                    raise SystemExit(f"FAILED: no report after {args.timeout} s: {dict(deliveries)}")
                time.sleep(0.2)
        elapsed = time.perf_counter() - started
        runner.stop()
    report = json.loads(s3.get_object(Bucket=output_bucket, Key="bench/relatorio_bench.log.json")["Body"].read())

    # --- did the mode take effect, and did the run do its work? ---
    log_queue = stage.resource_name("LogQueue")
    expected = -(-lines // args.lines_per_message)
    sent = meter.sqs_sent[log_queue]
    if sent != expected:
        failures.append(f"{sent:,} messages were sent to {log_queue}, not ceil({lines:,} lines / "
                        f"{args.lines_per_message} per message) = {expected:,}: --lines-per-message did not take "
                        f"effect (or the splitter sent some twice)")
    if report.get("processed_items") != lines:
        failures.append(f"the report counts {report.get('processed_items')} processed lines, not the {lines:,} uploaded")
    if meter.meter_errors:
        failures.append("the meter failed on some calls (its figures are incomplete): "
                        + "; ".join(meter.meter_errors[:5]))

    figures = meter.figures(lines, lambda h: stage.function_setting(h, "lambda_memory_size", 128))
    return {"lines": lines, "bytes": size, "seconds": elapsed, "lines_per_second": lines / elapsed,
            "lines_per_message": args.lines_per_message, "concurrency": args.concurrency,
            "split_emulator": emulators.split,
            "endpoints": {"s3_sqs": emulators.endpoint, "dynamodb": aws.client("dynamodb").meta.endpoint_url},
            "messages_to_log_queue": sent, "expected_messages": expected,
            "deliveries": dict(deliveries), "runner_delivery_ms": dict(delivery_ms),
            "figures": figures, "report": report, "failures": failures}


def ratios(result: dict, ceilings: dict) -> dict:
    speed = result["lines_per_second"]
    return {"of_sqs_ceiling": speed / ceilings["sqs"]["messages_per_second"],
            "of_batch_write_ceiling": speed / ceilings["batch_write"]["items_per_second"]}


def print_result(result: dict) -> None:
    f, lines = result["figures"], result["lines"]
    where = (f"split emulator (DynamoDB on {result['endpoints']['dynamodb']})" if result["split_emulator"]
             else "one emulator")
    print(f"end to end: {lines:,} lines ({result['bytes'] / 1e6:.1f} MB), {result['lines_per_message']} line(s) "
          f"per message, concurrency {result['concurrency']}, {where}: {result['seconds']:.1f} s = "
          f"{result['lines_per_second']:,.0f} lines/s")
    print(f"messages to the log queue: {result['messages_to_log_queue']:,} (expected {result['expected_messages']:,}); "
          f"SQS deliveries: " + ", ".join(f"{k} {v:,}" for k, v in sorted(result["deliveries"].items())))
    print("DynamoDB units per line, by table and index (by operation):")
    for kind, key in (("write", "write_units_per_line"), ("read", "read_units_per_line")):
        for target, units in f[key].items():
            detail = ", ".join(f"{op} {u:.3f}" for op, u in sorted(f[f"{key}_by_operation"][target].items()))
            print(f"  {kind:<5} {target:<36} {units:8.3f}   ({detail})")
    kinds = f["table_write_units_per_line_by_item_kind"]
    if kinds:
        print("  table writes by item kind (sort key up to '#'): " + ", ".join(
            f"{kind} {sum(ops.values()):.3f}" for kind, ops in kinds.items()))
    print("AWS requests per 1,000 lines, by API (billable; ms per call on the emulator):")
    for api, per_thousand in f["requests_per_1000_lines"].items():
        print(f"  {api:<32} {per_thousand:10.2f}   ({f['calls'].get(api, 0):,} calls in all, "
              f"{f['ms_per_call_on_emulator'].get(api, 0):.1f} ms each)")
    if f["excluded_requests_per_1000_lines"]:
        print("left out of the per-line cost (the local runner's idle polls and internal queues; Lambda's own "
              "pollers long-poll each queue ~3 times a minute whatever the load):")
        for api, per_thousand in f["excluded_requests_per_1000_lines"].items():
            print(f"  {api:<60} {per_thousand:10.2f}")
    print("SQS billed requests (each 64 KB of payload) per 1,000 lines: "
          + ", ".join(f"{op} {n:.2f}" for op, n in f["sqs_billed_requests_per_1000_lines"].items()))
    print("S3 requests per 1,000 lines by price class: "
          + ", ".join(f"{k} {n:.2f}" for k, n in f["s3_requests_per_1000_lines"].items()))
    print("Lambda (GB-s an upper bound: handler time on the emulator, whose calls are slower than AWS's):")
    for handler, figures in f["lambda"].items():
        print(f"  {handler:<22} {figures['invocations']:6,} invocations, {figures['handler_seconds']:7.1f} s in "
              f"handlers at {figures['memory_mb']} MB = {figures['gb_seconds']:.1f} GB-s")
    if f["cross_check_consumed_capacity"]:
        print("cross-check with the emulator's ReturnConsumedCapacity (moto reports a fixed 1 or 0.5 per call and "
              "nothing for transactions, not sizes):")
        for op, both in f["cross_check_consumed_capacity"].items():
            print(f"  {op:<20} emulator {both['emulator_reported']:10.1f}   meter {both['meter']:10.1f}")
    print(f"meter side reads (unmetered client, excluded from timings): {f['side_reads']['calls']:,} calls, "
          f"{f['side_reads']['seconds']:.1f} s")
    for note, count in f["notes"].items():
        print(f"  note ({count:,}×): {note}")
    if f["errors"]:
        print("errors returned: " + ", ".join(f"{k} {v:,}" for k, v in f["errors"].items()))
    costs = f["cost_per_million_lines_usd"]
    print("cost per million lines (us-east-1 list prices): "
          + ", ".join(f"{k} ${v:.2f}" for k, v in costs.items() if k != "total") + f"; total ${costs['total']:.2f}")


# --- splitter memory ----------------------------------------------------------------

class CountingSQS:
    """Stands in for SQS so only reading and splitting are measured."""

    def __init__(self):
        self.calls = self.entries = 0

    def get_queue_url(self, QueueName):
        return {"QueueUrl": f"https://stub/{QueueName}"}

    def send_message_batch(self, QueueUrl, Entries):
        self.calls += 1
        self.entries += len(Entries)
        return {"Successful": [{"Id": e["Id"]} for e in Entries], "Failed": []}

    def send_message(self, QueueUrl, MessageBody, **_):  # a continuation (with its correlation attribute)
        return {"MessageId": "stub"}


def peak_rss_kb() -> int:
    """This process's peak RSS. Not ru_maxrss: Linux carries that over from the parent across fork+exec."""
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def memory_child(endpoint: str, key: str, lines_per_message: int) -> None:
    """Runs in its own process: split one uploaded object, print peak RSS."""
    stage, app = use_emulator(endpoint, overrides={"LOG_LINES_PER_MESSAGE": str(lines_per_message)})
    from chalicelib import aws
    from chalicelib.logbatch import service
    stub = CountingSQS()
    real_client = aws.client
    aws.client = lambda name: stub if name == "sqs" else real_client(name)
    for name in ("s3", "dynamodb"):
        real_client(name)  # clients are part of the baseline, as in a warm Lambda container
    baseline = peak_rss_kb()
    started = time.perf_counter()
    outcome = service.log_splitter().on_upload(stage.resource_name("InputLogsBucket"), key)
    print(json.dumps({"outcome": outcome, "baseline_kb": baseline, "peak_kb": peak_rss_kb(), "seconds": time.perf_counter() - started,
        "send_calls": stub.calls, "messages": stub.entries, "lines_per_message": lines_per_message}))


def splitter_memory(sizes_mb: list[int], lines_per_message: int) -> dict:
    import boto3
    from infra.provision import provision
    results = {}
    with Emulators(split=False) as emulators:
        stage, app = use_emulator(emulators.endpoint)
        provision(stage, app)
        s3 = boto3.client("s3")
        bucket = stage.resource_name("InputLogsBucket")
        for size in sizes_mb:
            with tempfile.TemporaryDirectory() as tmp:
                path = Path(tmp) / f"{size}mb.log"
                write_log_file(path, megabytes=size)
                s3.upload_file(str(path), bucket, f"memory/{size}mb.log")
            child = subprocess.run([sys.executable, "-m", "benchmarks.log_pipeline", "--memory-child",
                                    emulators.endpoint, f"memory/{size}mb.log",
                                    "--lines-per-message", str(lines_per_message)],
                                   cwd=PROJECT_DIR, capture_output=True, text=True)
            if child.returncode:
                raise RuntimeError(child.stderr)
            results[size] = json.loads(child.stdout.strip().splitlines()[-1])
            s3.delete_object(Bucket=bucket, Key=f"memory/{size}mb.log")
    return results


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lines", type=int, default=100_000)
    parser.add_argument("--lines-per-message", type=int, default=1)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--split-emulator", action="store_true",
                        help="DynamoDB in a second emulator process (S3 and SQS stay together)")
    parser.add_argument("--memory-sizes", default="10,500", help="MB, comma-separated; empty to skip")
    parser.add_argument("--skip-end-to-end", action="store_true")
    parser.add_argument("--skip-ceilings", action="store_true", help="do not measure the emulator's ceilings")
    parser.add_argument("--ceiling-messages", type=int, default=5_000)
    parser.add_argument("--ceiling-items", type=int, default=10_000)
    parser.add_argument("--timeout", type=float, default=1800, help="seconds to wait for the report")
    parser.add_argument("--verbose", action="store_true", help="print every delivery")
    parser.add_argument("--memory-child", nargs=2, metavar=("ENDPOINT", "KEY"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_child:
        memory_child(*args.memory_child, args.lines_per_message)
        return 0

    failed = False
    if not args.skip_end_to_end:
        import boto3
        from benchmarks.ceiling import ceilings, describe
        with Emulators(split=args.split_emulator) as emulators:
            # The handlers still emit their metric (EMF) lines, as on Lambda, but into a file: on the
            # terminal they would bury the figures.
            handler_log = PROJECT_DIR / "build" / "bench" / "handlers.log"
            handler_log.parent.mkdir(parents=True, exist_ok=True)
            with open(handler_log, "w") as sink, contextlib.redirect_stdout(sys.stdout if args.verbose else sink):
                result = end_to_end(args, emulators)
            if not args.skip_ceilings:  # same emulator process(es), the pipeline's runner stopped
                result["ceilings"] = ceilings(boto3.session.Session(), args.ceiling_messages, args.ceiling_items)
                result["ratios"] = ratios(result, result["ceilings"])
        print_result(result)
        if "ceilings" in result:
            print("\n".join(describe(result["ceilings"])))
            r = result["ratios"]
            print(f"pipeline lines/s as a share of the ceilings: {r['of_sqs_ceiling']:.0%} of SQS messages/s "
                  f"(target at 1 line/message: ≥ 50%), {r['of_batch_write_ceiling']:.0%} of BatchWriteItem items/s "
                  f"(target packed: ≥ 40%)")
        mode = f"{args.lines_per_message}lpm" + ("-split" if args.split_emulator else "")
        if result["failures"]:
            failed = True
            print("\nFAILED (figures above are not written):\n  " + "\n  ".join(result["failures"]), file=sys.stderr)
        else:
            OUT_DIR.mkdir(parents=True, exist_ok=True)
            out = OUT_DIR / f"log_pipeline-{mode}.json"
            out.write_text(json.dumps({"mode": mode, **result}, indent=2, sort_keys=True, default=str) + "\n")
            print(f"figures written to {out.relative_to(PROJECT_DIR)}")
    sizes = [int(s) for s in args.memory_sizes.split(",") if s]
    if sizes and not failed:
        memory = splitter_memory(sizes, args.lines_per_message)
        for size, figures in memory.items():
            print(f"splitter on {size} MB: peak RSS {figures['peak_kb'] / 1024:.1f} MB "
                  f"(after imports {figures['baseline_kb'] / 1024:.1f} MB), {figures['messages']:,} messages of "
                  f"{figures['lines_per_message']} line(s) in {figures['seconds']:.1f} s, "
                  f"{figures['send_calls']:,} SendMessageBatch calls")
        if len(memory) > 1:
            peaks = [m["peak_kb"] / 1024 for m in memory.values()]
            print(f"peak difference largest - smallest file: {max(peaks) - min(peaks):.1f} MB")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
