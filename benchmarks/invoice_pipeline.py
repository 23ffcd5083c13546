"""Benchmark of the invoice pipeline against the local emulator (a script, not a test).

    .venv/bin/python -m benchmarks.invoice_pipeline [--rows 100000] [--memory-sizes 10,500]

Prints:
- rows/s end to end (upload → completed upload status) on a generated CSV in
  the Brazilian Excel dialect, with 1 row in 100 invalid;
- AWS requests per 1,000 rows, by API (counted with a botocore hook);
- DynamoDB write units per row, derived from every item actually sent, by
  DynamoDB's rules: item size rounded up per KB, plus one write per GSI the
  item lands in (customer-index projects ALL, so at the same size), and
  updates of the run item billed at the larger of its before and after images;
- the ingester's peak memory (VmHWM of a process that only ingests, with the
  invoice and rejected-row writes replaced by counting stubs) per file size.
"""
import argparse
import json
import math
import subprocess
import sys
import tempfile
import time
from collections import Counter
from decimal import Decimal
from pathlib import Path

from benchmarks.log_pipeline import PRICES, PROJECT_DIR, peak_rss_kb, start_emulator, use_emulator

GSI_COUNT = {"InvoicesTable": 1}  # customer-index, projection ALL


def attribute_bytes(value: dict) -> int:
    """The size DynamoDB bills for one typed attribute value."""
    (kind, inner), = value.items()
    if kind == "S":
        return len(inner.encode("utf-8"))
    if kind == "N":
        digits = len(Decimal(inner).normalize().as_tuple().digits)
        return math.ceil(digits / 2) + 1
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "M":
        return 3 + sum(len(k.encode()) + attribute_bytes(v) + 1 for k, v in inner.items())
    if kind == "L":
        return 3 + sum(attribute_bytes(v) + 1 for v in inner)
    return len(inner)


def item_bytes(item: dict) -> int:
    return sum(len(name.encode("utf-8")) + attribute_bytes(value) for name, value in item.items())


def write_units(item: dict, table: str) -> int:
    units = math.ceil(item_bytes(item) / 1024)
    return units * (1 + GSI_COUNT.get(table, 0))


def write_csv(path: Path, rows: int = 0, megabytes: int = 0) -> int:
    customers = ["Ana Costa", "João Silva", "Pedro Lima", "Maria Oliveira", "Carlos Santos"]
    written = count = 0
    with open(path, "w", encoding="cp1252", newline="") as out:
        header = "Número;Cliente;Valor;Data Emissão;CNPJ\r\n"
        out.write(header)
        written += len(header)
        while (rows and count < rows) or (megabytes and written < megabytes * 1_000_000):
            count += 1
            amount = f"{count % 900 + 1}.{count % 1000:03d},{count % 100:02d}" if count % 3 else f"{count % 999},90"
            date = f"{count % 28 + 1:02d}/{count % 12 + 1:02d}/2025" if count % 100 else "31/02/2025"
            line = f"NF-{count};{customers[count % 5]};{amount};{date};11.222.333/0001-81\r\n"
            out.write(line)
            written += len(line)
    return count


def finished_run(session, stage, key: str) -> dict | None:
    table = stage.environment["INVOICE_UPLOADS_TABLE_NAME"]
    dynamodb = session.client("dynamodb")
    latest = dynamodb.get_item(TableName=table, Key={"pk": {"S": f"LATEST#{key}"}, "sk": {"S": "LATEST"}}).get("Item")
    if not latest:
        return None
    run = dynamodb.get_item(TableName=table, Key={"pk": latest["run_id"], "sk": {"S": "RUN"}})["Item"]
    return run if run["status"]["S"] in ("completed", "failed") else None


def end_to_end(args) -> dict:
    import boto3

    from chalicelib import aws
    from infra.provision import provision
    from local_runtime.runner import EventRunner
    emulator, endpoint = start_emulator()
    try:
        stage, app = use_emulator(endpoint)
        session = boto3.session.Session()
        provision(stage, app, session)
        requests, units = Counter(), Counter()

        def count_call(model, params, **_):
            requests[f"{model.service_model.service_id.replace(' ', '')}:{model.name}"] += 1
            if model.name == "PutItem":
                units[params["TableName"]] += write_units(params["Item"], params["TableName"])
            elif model.name == "BatchWriteItem":
                for table, entries in params["RequestItems"].items():
                    units[table] += sum(write_units(e["PutRequest"]["Item"], table) for e in entries)
            elif model.name == "BatchExecuteStatement":  # new invoices' INSERTs (all land: the table starts empty)
                from benchmarks.awsstub import partiql_insert
                for entry in params["Statements"]:
                    table, item = partiql_insert(entry["Statement"], entry.get("Parameters", []))
                    units[table] += write_units(item, table)

        def count_update(parsed, model, **_):
            if model.name == "UpdateItem" and "Attributes" in parsed:  # the run item: after image ≥ before here
                units["InvoiceUploadsTable(updates)"] += math.ceil(item_bytes(parsed["Attributes"]) / 1024)
        for service in ("s3", "sqs", "dynamodb"):
            aws.client(service).meta.events.register("provide-client-params.*.*", count_call)
        aws.client("dynamodb").meta.events.register("after-call.dynamodb.*", count_update)
        runner = EventRunner(app, session, concurrency=2, report=print if args.verbose else lambda line: None,
                             timeouts={"ingest_invoice_upload": 300, "continue_invoice_ingest": 300})
        runner.setup().start()
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "notas.csv"
            rows = write_csv(path, rows=args.rows)
            size = path.stat().st_size
            started = time.perf_counter()
            session.client("s3").upload_file(str(path), stage.environment["INVOICES_BUCKET_NAME"], "bench/notas.csv")
            deadline = time.monotonic() + args.timeout
            while True:  # polled with a client of its own, so the figures count only the pipeline's calls
                if (run := finished_run(session, stage, "bench/notas.csv")) is not None:
                    break
                if time.monotonic() > deadline:
                    raise SystemExit(f"not done after {args.timeout} s")
                time.sleep(0.5)
            elapsed = time.perf_counter() - started
        runner.stop()
        from chalicelib.invoices.service import invoice_upload_status
        status = invoice_upload_status("bench/notas.csv")
        assert status["status"] == "completed" and status["rows"] == rows, status
        stored = session.client("dynamodb").describe_table(TableName="InvoicesTable")["Table"]["ItemCount"]
        return {"rows": rows, "bytes": size, "seconds": elapsed, "status": status, "requests": dict(requests),
                "units": dict(units), "stored": stored}
    finally:
        from local_runtime import processes
        processes.stop(emulator)


def memory_child(endpoint: str, key: str) -> None:
    """Runs in its own process: ingest one uploaded object with counting stubs for the row writes."""
    use_emulator(endpoint)
    from chalicelib import aws
    from chalicelib.invoices import repository, service
    counted = Counter()

    def put_newer(self, invoices):
        counted["invoices"] += len(invoices)
        return []

    def record_rejected(self, run_id, rejected):
        counted["rejected"] += len(rejected)
    repository.InvoiceRepository.put_newer = put_newer
    repository.UploadRuns.record_rejected = record_rejected
    for name in ("s3", "dynamodb", "sqs"):
        aws.client(name)
    baseline = peak_rss_kb()
    started = time.perf_counter()
    outcome = service.invoice_ingester().on_upload("notas-fiscais", key, event_time="2026-11-23T00:00:00Z")
    print(json.dumps({"outcome": outcome, "baseline_kb": baseline, "peak_kb": peak_rss_kb(),
                      "seconds": time.perf_counter() - started, **counted}))


def ingest_memory(sizes_mb: list[int]) -> dict:
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
                path = Path(tmp) / f"{size}mb.csv"
                rows = write_csv(path, megabytes=size)
                s3.upload_file(str(path), "notas-fiscais", f"memory/{size}mb.csv")
            child = subprocess.run([sys.executable, "-m", "benchmarks.invoice_pipeline", "--memory-child", endpoint,
                                    f"memory/{size}mb.csv"], cwd=PROJECT_DIR, capture_output=True, text=True)
            if child.returncode:
                raise RuntimeError(child.stderr)
            results[size] = {**json.loads(child.stdout.strip().splitlines()[-1]), "rows": rows}
            s3.delete_object(Bucket="notas-fiscais", Key=f"memory/{size}mb.csv")
    finally:
        from local_runtime import processes
        processes.stop(emulator)
    return results


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--memory-sizes", default="10,500", help="MB, comma-separated; empty to skip")
    parser.add_argument("--skip-end-to-end", action="store_true")
    parser.add_argument("--timeout", type=float, default=3600)
    parser.add_argument("--verbose", action="store_true")
    parser.add_argument("--memory-child", nargs=2, metavar=("ENDPOINT", "KEY"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_child:
        memory_child(*args.memory_child)
        return 0
    if not args.skip_end_to_end:
        result = end_to_end(args)
        rows, status = result["rows"], result["status"]
        print(f"end to end: {rows:,} rows ({result['bytes'] / 1e6:.1f} MB CSV): {result['seconds']:.1f} s = "
              f"{rows / result['seconds']:,.0f} rows/s; accepted {status['accepted']:,}, rejected "
              f"{status['rejected']:,}, invoices stored {result['stored']:,}")
        print("AWS requests per 1,000 rows:")
        for api, count in sorted(result["requests"].items()):
            print(f"  {api:<32} {count * 1000 / rows:10.2f}   ({count:,} in all)")
        total_units = sum(result["units"].values())
        print("DynamoDB write units per row: " + ", ".join(
            f"{table} {n / rows:.3f}" for table, n in sorted(result["units"].items())) + f"; total {total_units / rows:.3f}")
        cost = total_units * PRICES["dynamodb_write_unit"] * 1e6 / rows
        print(f"DynamoDB writes per million rows: ${cost:.2f} (on-demand, us-east-1 list price)")
    sizes = [int(s) for s in args.memory_sizes.split(",") if s]
    for size, figures in ingest_memory(sizes).items():
        print(f"ingest of {size} MB ({figures['rows']:,} rows): peak RSS {figures['peak_kb'] / 1024:.1f} MB "
              f"(after imports {figures['baseline_kb'] / 1024:.1f} MB) in {figures['seconds']:.1f} s; "
              f"{figures['invoices']:,} invoices and {figures['rejected']:,} rejected rows written ({figures['outcome']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
