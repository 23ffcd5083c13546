"""Benchmark of the log batch pipeline against the local emulator (a script, not a test).

    .venv/bin/python -m benchmarks.log_pipeline [--lines 100000] [--lines-per-message 1]
        [--memory-sizes 10,500] [--concurrency 4]

Prints:
- lines/s end to end (upload → report), splitter and workers running together;
- AWS requests per 1,000 lines, by API (exact: counted with a botocore hook);
- counter updates per SQS batch received by the worker;
- the implied AWS cost per million lines at the list prices below;
- the splitter's peak memory (RSS of a process that only splits) on files of
  each size in --memory-sizes MB, with a counting stub for SQS so the figure
  measures reading and splitting alone.
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_DIR))

# us-east-1 list prices, November 2026 (USD).
PRICES = {
    "sqs_request": 0.40 / 1e6,           # standard queue, per request (each 64 KB of payload counts as one)
    "dynamodb_write_unit": 0.625 / 1e6,  # on-demand write request unit (1 KB; 2 per item in a transaction)
    "dynamodb_read_unit": 0.125 / 1e6,   # on-demand read request unit (4 KB strongly consistent)
    "s3_put": 0.005 / 1000,
    "s3_get": 0.0004 / 1000,
    "lambda_request": 0.20 / 1e6,
    "lambda_gb_second": 0.0000166667,
}


def start_emulator():
    from local_runtime import processes
    import socket
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    process = processes.start([sys.executable, "-m", "local_runtime.emulator", "-H", "127.0.0.1", "-p", str(port)],
                              dict(os.environ))
    processes.wait_for_port("127.0.0.1", port, process)
    return process, f"http://127.0.0.1:{port}"


def use_emulator(endpoint: str, stage_name: str = "dev"):
    os.environ.update({"AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench",
                       "AWS_DEFAULT_REGION": "us-east-1", "POWERTOOLS_LOG_LEVEL": "ERROR"})
    from infra.stage import Stage
    stage = Stage.load(stage_name)
    app = stage.load_app()
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


# --- end to end -------------------------------------------------------------------

def end_to_end(args) -> dict:
    import boto3
    from chalicelib import aws
    from infra.provision import provision
    from local_runtime.runner import EventRunner

    emulator, endpoint = start_emulator()
    try:
        os.environ["LOG_LINES_PER_MESSAGE"] = str(args.lines_per_message)
        stage, app = use_emulator(endpoint)
        session = boto3.session.Session()
        provision(stage, app, session)
        requests = Counter()
        invocations = Counter()

        seconds = Counter()

        def count_call(model, context, **_):
            requests[f"{model.service_model.service_id.replace(' ', '')}:{model.name}"] += 1
            context["benchmark_started"] = time.perf_counter()

        def time_call(model, context, **_):
            if "benchmark_started" in context:
                seconds[f"{model.service_model.service_id.replace(' ', '')}:{model.name}"] += \
                    time.perf_counter() - context["benchmark_started"]
        for service in ("s3", "sqs", "dynamodb"):
            aws.client(service).meta.events.register("before-call.*.*", count_call)
            aws.client(service).meta.events.register("after-call.*.*", time_call)
        runner = EventRunner(app, session, concurrency=args.concurrency,
                             report=(print if args.verbose else lambda line: None),
                             timeouts={"split_log_upload": 300, "continue_log_split": 300, "process_log_lines": 60})
        runner.setup()
        runner.sqs.meta.events.register("before-call.*.*", count_call)  # the poller's calls are billed too
        runner.sqs.meta.events.register("after-call.*.*", time_call)
        deliveries = Counter()

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

        original_report = runner.report

        def count_delivery(line: str):
            invocations[line.split(" -> ")[1].split(":")[0] if " -> " in line else "other"] += 1
            original_report(line)
        runner.report = count_delivery
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "bench.log"
            lines = write_log_file(path, lines=args.lines)
            size = path.stat().st_size
            runner.start()
            started = time.perf_counter()
            session.client("s3").upload_file(str(path), "input-logs", "bench/bench.log")
            s3 = session.client("s3")
            deadline = time.monotonic() + args.timeout
            while True:
                try:
                    s3.head_object(Bucket="processed-data", Key="bench/relatorio_bench.log.json")
                    break
                except s3.exceptions.ClientError:
                    if time.monotonic() > deadline:
                        raise SystemExit(f"no report after {args.timeout} s: {invocations}")
                    time.sleep(0.2)
            elapsed = time.perf_counter() - started
            runner.stop()
        report = json.loads(s3.get_object(Bucket="processed-data", Key="bench/relatorio_bench.log.json")["Body"].read())
        assert report["processed_items"] == lines, report
        worker_batches = invocations["process_log_lines"]
        return {"lines": lines, "bytes": size, "seconds": elapsed, "lines_per_second": lines / elapsed,
                "requests": dict(requests), "request_seconds": dict(seconds), "deliveries": dict(deliveries), "worker_batches": worker_batches, "report": report}
    finally:
        from local_runtime import processes
        processes.stop(emulator)


def cost_per_million(result: dict, lines_per_message: int) -> dict:
    r, lines = result["requests"], result["lines"]
    scale = 1e6 / lines
    sqs = sum(n for api, n in r.items() if api.startswith("SQS:"))
    # Items written: one per line by BatchWriteItem (1 unit each, lines are < 1 KB); in each transaction
    # one marker per message plus one counter update, both at 2 units.
    messages = lines / lines_per_message
    transaction_items = messages + r.get("DynamoDB:TransactWriteItems", 0)
    write_units = lines + 2 * transaction_items + r.get("DynamoDB:UpdateItem", 0) + r.get("DynamoDB:PutItem", 0)
    read_units = r.get("DynamoDB:GetItem", 0)
    lambda_invocations = result["worker_batches"] + r.get("SQS:SendMessage", 0) + 1
    lambda_gb_seconds = result["seconds"] * 0.25  # upper bound: the whole run at 256 MB
    costs = {
        "sqs": sqs * PRICES["sqs_request"],
        "dynamodb": write_units * PRICES["dynamodb_write_unit"] + read_units * PRICES["dynamodb_read_unit"],
        "s3": r.get("S3:PutObject", 0) * PRICES["s3_put"] + r.get("S3:GetObject", 0) * PRICES["s3_get"],
        "lambda": lambda_invocations * PRICES["lambda_request"] + lambda_gb_seconds * PRICES["lambda_gb_second"],
    }
    return {k: v * scale for k, v in costs.items()}


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

    def send_message(self, QueueUrl, MessageBody):
        return {"MessageId": "stub"}


def peak_rss_kb() -> int:
    """This process's peak RSS. Not ru_maxrss: Linux carries that over from the parent across fork+exec."""
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def memory_child(endpoint: str, key: str) -> None:
    """Runs in its own process: split one uploaded object, print peak RSS."""
    stage, app = use_emulator(endpoint)
    from chalicelib import aws
    from chalicelib.logbatch import service
    stub = CountingSQS()
    real_client = aws.client
    aws.client = lambda name: stub if name == "sqs" else real_client(name)
    for name in ("s3", "dynamodb"):
        real_client(name)  # clients are part of the baseline, as in a warm Lambda container
    baseline = peak_rss_kb()
    started = time.perf_counter()
    outcome = service.log_splitter().on_upload("input-logs", key)
    print(json.dumps({"outcome": outcome, "baseline_kb": baseline, "peak_kb": peak_rss_kb(), "seconds": time.perf_counter() - started,
        "send_calls": stub.calls, "lines": stub.entries}))


def splitter_memory(sizes_mb: list[int]) -> dict:
    import boto3
    from infra.provision import provision
    emulator, endpoint = start_emulator()
    results = {}
    try:
        stage, app = use_emulator(endpoint)
        provision(stage, app)
        s3 = boto3.client("s3")
        for size in sizes_mb:
            with tempfile.TemporaryDirectory() as tmp:
                path = Path(tmp) / f"{size}mb.log"
                write_log_file(path, megabytes=size)
                s3.upload_file(str(path), "input-logs", f"memory/{size}mb.log")
            child = subprocess.run([sys.executable, "-m", "benchmarks.log_pipeline", "--memory-child", endpoint,
                                    f"memory/{size}mb.log"], cwd=PROJECT_DIR, capture_output=True, text=True)
            if child.returncode:
                raise RuntimeError(child.stderr)
            results[size] = json.loads(child.stdout.strip().splitlines()[-1])
            s3.delete_object(Bucket="input-logs", Key=f"memory/{size}mb.log")
    finally:
        from local_runtime import processes
        processes.stop(emulator)
    return results


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lines", type=int, default=100_000)
    parser.add_argument("--lines-per-message", type=int, default=1)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--memory-sizes", default="10,500", help="MB, comma-separated; empty to skip")
    parser.add_argument("--skip-end-to-end", action="store_true")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds to wait for the report")
    parser.add_argument("--verbose", action="store_true", help="print every delivery")
    parser.add_argument("--memory-child", nargs=2, metavar=("ENDPOINT", "KEY"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_child:
        memory_child(*args.memory_child)
        return 0

    if not args.skip_end_to_end:
        result = end_to_end(args)
        lines = result["lines"]
        print(f"end to end: {lines:,} lines ({result['bytes'] / 1e6:.1f} MB), {args.lines_per_message} line(s) per "
              f"message, concurrency {args.concurrency}: {result['seconds']:.1f} s = "
              f"{result['lines_per_second']:,.0f} lines/s")
        print(f"SQS messages (all queues): {result['deliveries']}")
        print("AWS requests per 1,000 lines:")
        for api, count in sorted(result["requests"].items()):
            print(f"  {api:<32} {count * 1000 / lines:10.2f}   ({count:,} in all, "
                  f"{result['request_seconds'].get(api, 0) / count * 1000:.1f} ms each on the emulator)")
        sends = result["requests"].get("SQS:SendMessageBatch", 0)
        updates = result["requests"].get("DynamoDB:TransactWriteItems", 0)
        print(f"SendMessageBatch calls per line: {sends / lines:.3f}")
        print(f"worker batches: {result['worker_batches']:,}; counter transactions: {updates:,} "
              f"= {updates / max(1, result['worker_batches']):.2f} per SQS batch (one counter update each)")
        costs = cost_per_million(result, args.lines_per_message)
        print("implied AWS cost per million lines (list prices, us-east-1): "
              + ", ".join(f"{k} ${v:.2f}" for k, v in costs.items()) + f"; total ${sum(costs.values()):.2f}")
    sizes = [int(s) for s in args.memory_sizes.split(",") if s]
    if sizes:
        memory = splitter_memory(sizes)
        for size, figures in memory.items():
            print(f"splitter on {size} MB: peak RSS {figures['peak_kb'] / 1024:.1f} MB "
                  f"(after imports {figures['baseline_kb'] / 1024:.1f} MB), {figures['lines']:,} lines in "
                  f"{figures['seconds']:.1f} s, {figures['send_calls']:,} SendMessageBatch calls")
        if len(memory) > 1:
            peaks = [m["peak_kb"] / 1024 for m in memory.values()]
            print(f"peak difference largest - smallest file: {max(peaks) - min(peaks):.1f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
