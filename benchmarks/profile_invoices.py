"""Where the invoice ingester's CPU per row goes: cProfile over one upload against benchmarks/awsstub.py.

    .venv/bin/python -m benchmarks.profile_invoices [--rows 5000] [--top 40] [--out build/bench/invoices.prof]

The same upload as `make bench-cpu`'s invoice part (benchmarks/invoice_pipeline.write_csv's rows, the stub's
InvoicesTable a sink), after a warm one. cProfile sees only the thread that runs it, so here the writes that
chalicelib/adapters/dynamo.py sends from a thread pool run one after another on the calling thread: the
figures are the CPU of every call, not the wall time of an upload (`benchmarks.cpu --only invoices` measures
that). Profiling slows pure-Python code more than C, so read shares, not microseconds. Prints the functions by
cumulative and by own time, and the share of a few areas; the raw profile goes to --out (pstats, snakeviz).
"""
from __future__ import annotations

import argparse
import contextlib
import cProfile
import io
import pstats
import sys
import tempfile
import time
import uuid
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_DIR))

# (label, a function's "file:line(name)" contains this): the areas whose cumulative time is shown apart.
AREAS = (
    ("all AWS calls (botocore, from the call to the parsed answer)", "botocore/client.py", "(_make_api_call)"),
    ("  botocore parameter validation", "botocore/validate.py", "(validate)"),
    ("  botocore serialisation", "botocore/serialize.py", "(serialize_to_request)"),
    ("  signing, HTTP, answer parsing", "botocore/endpoint.py", "(_send_request)"),
    ("row checks (fields.validate_row)", "invoices/fields.py", "(validate_row)"),
    ("typed items (dynamo.to_item)", "adapters/dynamo.py", "(to_item)"),
    ("reading rows (formats: CSV/JSON)", "invoices/formats.py", "(__iter__)"),
)


class _OneAtATime:
    """A ThreadPoolExecutor stand-in that runs each call on the calling thread, where cProfile looks."""

    def __init__(self, *args, **kwargs):
        pass

    def __enter__(self) -> "_OneAtATime":
        return self

    def __exit__(self, *exc) -> bool:
        return False

    def map(self, function, *iterables):
        return list(map(function, *iterables))


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=5_000)
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--out", type=Path, default=PROJECT_DIR / "build" / "bench" / "invoices.prof")
    args = parser.parse_args()
    from benchmarks.cpu import Bench, Stub
    from benchmarks.invoice_pipeline import write_csv
    from tests.events import s3_event
    stub = Stub()
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # the handlers' metric lines
            bench = Bench(stub)
            bench.settings()
            bench.sinks("InvoicesTable")
        from chalicelib.adapters import dynamo
        dynamo.ThreadPoolExecutor = _OneAtATime  # type: ignore[misc,assignment]
        with tempfile.TemporaryDirectory() as tmp:
            write_csv(Path(tmp) / "warm.csv", rows=200)
            write_csv(Path(tmp) / "notas.csv", rows=args.rows)
            warm, body = (Path(tmp) / "warm.csv").read_bytes(), (Path(tmp) / "notas.csv").read_bytes()
        bucket = bench.name("InvoicesBucket")
        handler, context = bench.handler("ingest_invoice_upload"), bench.context("ingest_invoice_upload")
        events = []
        for name, data in (("warm", warm), ("profiled", body)):
            key = f"bench/profile-{name}-{uuid.uuid4().hex[:6]}.csv"
            events.append(s3_event(bucket, key, bench.put_object(bucket, key, data)))
        with contextlib.redirect_stdout(io.StringIO()):
            handler(events[0], context)
        profile = cProfile.Profile()
        cpu = time.process_time()
        with contextlib.redirect_stdout(io.StringIO()):
            profile.runcall(handler, events[1], context)
        cpu = time.process_time() - cpu
    finally:
        stub.close()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    profile.dump_stats(str(args.out))
    stats = pstats.Stats(profile)
    total = stats.total_tt  # type: ignore[attr-defined]
    print(f"{args.rows:,} rows: {cpu / args.rows * 1e6:,.0f} µs of CPU per row under the profiler "
          f"(without it: benchmarks.cpu --only invoices)")
    for label, path, name in AREAS:
        seconds = sum(row[3] for function, row in stats.stats.items()  # type: ignore[attr-defined]
                      if path in function[0] and f"({function[2]})" == name)
        print(f"  {seconds / total:6.1%}  {label}")
    stats.sort_stats("cumulative").print_stats(args.top)
    stats.sort_stats("tottime").print_stats(args.top)
    print(f"profile written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
