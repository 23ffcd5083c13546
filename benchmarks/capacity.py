"""A capacity model of the system on AWS (`make capacity`): an analytic part and a discrete-event simulation.

    .venv/bin/python -m benchmarks.capacity [--stage prod] [--cpu build/bench/cpu.json] [--files 50]
        [--lines-per-message 1] [--lever NAME=VALUE ...] [--config OTHER/config.json] [--json build/bench/capacity.json]

Inputs, each from where it is measured or set:
- CPU per line, row, order and request of every handler: `make bench-cpu`'s
  JSON (benchmarks/cpu.py: the real handlers and boto3 against a zero-latency
  stub), with the calls each handler makes per batch, counted at the stub;
- the request mix and write units per line, row, product and order:
  benchmarks/meter.py's figures in the same JSON (DynamoDB's billing rules);
- the stage: memory sizes and timeouts (.chalice/config.json), batch sizes and
  windows (app.py's event sources, as recorded by bench-cpu), the SQS
  triggers' MaximumConcurrency (infra.stage.InfraSettings.sqs_maximum_concurrency
  when the stage sets it; else none, AWS's own caps apply), each table's
  WarmThroughput (infra.warm_throughput), the byte ranges an upload is read in
  (LOG_SPLIT_PART_BYTES, LOG_SPLIT_MAX_PARTS, through chalicelib/settings.py's
  readers and chalicelib/streaming/parts.py's part_count), the API stage's
  throttle, the queues' maxReceiveCount (infra/resources.py);
- the code's in-flight limits as the code sets them now (the splitter's sends,
  the planner's ranged GETs, the workers' writes), over the CPU file's record;
- AWS's limits below, each with its source.

The analytic part gives each stage's ceiling (the splitters, the workers, each
table, each hot partition, the API) and the least of them is the
bottleneck. An upload larger than the stage's part size is planned first (one
pass over the object: ranged GETs at S3's rate per connection, newlines
counted at the CPU per MB bench-cpu measures) and then read by one reader per
part, each part counting under a partition key of its own; a .gz stays one. The simulation (`LogSimulation`) plays the log pipeline with one
event per batch (a splitter's batch of lines, a worker's batch of messages),
never per line: the SQS trigger's ramp, the account's concurrency, the
splitter's hand-overs (and a .gz's re-decompression on each), each table's
capacity (a new on-demand table's, doubling every 30 minutes of use) and each
run's hot partition as fluid token buckets; a batch that cannot get its
write units within the app's own retry budget fails, comes back after the
queue's visibility timeout, and goes to the DLQ after maxReceiveCount.
Lines are conserved: split = stored + queued (incl. in flight) + DLQ.

Fed the emulator's measured latencies instead of AWS's (`emulator_platform`),
the same simulation reproduces `make bench`'s measured lines/s: see
tests/tooling/test_capacity.py and benchmarks/measurements/.

Assumptions the model cannot measure from here are named as such (AWS's
request latencies, the hand-over delay), and the printout shows how much the
answers move when they double.
"""
from __future__ import annotations

import argparse
import heapq
import inspect
import json
import math
import sys
from collections import deque
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

PROJECT_DIR = Path(__file__).resolve().parent.parent
if str(PROJECT_DIR) not in sys.path:
    sys.path.insert(0, str(PROJECT_DIR))

CPU_JSON = PROJECT_DIR / "build" / "bench" / "cpu.json"
MEASUREMENTS = PROJECT_DIR / "benchmarks" / "measurements"
RECORDED_CPU = MEASUREMENTS / "cpu.json"
OUT = PROJECT_DIR / "build" / "bench" / "capacity.json"
GIB = 1 << 30

# --- AWS limits, each with its source -------------------------------------------------------------------------

# https://docs.aws.amazon.com/lambda/latest/dg/configuration-memory.html: "At 1,769 MB, a function has the
# equivalent of one vCPU (one vCPU-second of credits per second)"; CPU is allocated in proportion to memory.
LAMBDA_MB_PER_VCPU = 1769
# https://docs.python.org/3/glossary.html#term-global-interpreter-lock: one thread executes Python bytecode at a
# time, so a Python handler uses at most about one vCPU whatever the memory (above 1,769 MB it gets more).
PYTHON_MAX_VCPU = 1.0
# https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-scaling.html: "When messages are available, Lambda
# starts processing five batches at a time with five concurrent invocations ... increases the number of
# processes that are reading batches by up to 300 more instances per minute. The maximum number of batches that
# an event source mapping can process simultaneously is 1,000."
SQS_TRIGGER_INITIAL = 5
SQS_TRIGGER_RAMP_PER_MINUTE = 300
SQS_TRIGGER_MAX = 1000
# https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-properties-lambda-eventsourcemapping-scalingconfig.html:
# MaximumConcurrency, minimum 2, maximum 1000.
MAXIMUM_CONCURRENCY_RANGE = (2, 1000)
# https://docs.aws.amazon.com/lambda/latest/dg/lambda-concurrency.html (and Service Quotas, "Concurrent
# executions"): 1,000 per Region by default, shared by every function of the account.
LAMBDA_ACCOUNT_CONCURRENCY = 1000
# https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/warm-throughput-scenarios.html: "each
# individual partition is limited to 1,000 write units per second and 3,000 read units per second".
PARTITION_WRU = 1000
PARTITION_RRU = 3000
# https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/pre-warming-on-demand-capacity-mode.html: "New
# on-demand tables will be able to sustain up to 4,000 writes per second and 12,000 reads per second ...
# throttling can still occur if the throughput exceeds twice the previous peak within the same 30 minutes".
NEW_TABLE_WRU = 4000
NEW_TABLE_RRU = 12000
ON_DEMAND_DOUBLING_SECONDS = 30 * 60
# https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/on-demand-capacity-mode-max-throughput.html:
# "your on-demand throughput rate is bounded by 40,000 table-level read and write throughput AWS service quota".
TABLE_QUOTA_WRU = 40000
# https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/warm-throughput.html: WarmThroughput raises what
# a table (or GSI) serves at once; the stage sets it (infra.warm_throughput, emitted on the table by
# infra/cloudformation.py), and `--lever warm:<Table>=WRU` tries another value.
# https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/DistributedQueues.html: standard
# queues "support a nearly unlimited number of API calls per second, per API action"; and
# https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/quotas-queues.html: "a maximum of
# approximately 120,000 in flight messages" per standard queue.
SQS_IN_FLIGHT = 120_000
# https://docs.aws.amazon.com/AmazonS3/latest/userguide/optimizing-performance.html: "at least 3,500
# PUT/COPY/POST/DELETE or 5,500 GET/HEAD requests per second per partitioned Amazon S3 prefix".
S3_PUT_PER_PREFIX = 3500
S3_GET_PER_PREFIX = 5500
# https://docs.aws.amazon.com/AmazonS3/latest/userguide/optimizing-performance-guidelines.html ("Scale storage
# connections horizontally"): "make one concurrent request for each 85-90 MB/s of desired network throughput".
# The low end: what one ranged GET of the split's planning pass reads per second.
S3_MB_PER_SECOND_PER_CONNECTION = 85.0
# https://docs.aws.amazon.com/general/latest/gr/sns.html (Service quotas, Publish API): 30,000 per second in
# us-east-1 (less in other Regions).
SNS_PUBLISH_PER_SECOND = 30_000
# https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-request-throttling.html: 10,000 requests
# per second per account and Region (burst 5,000); a stage's own throttle (infra settings) applies first.
API_GATEWAY_ACCOUNT_RPS = 10_000
# https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_ReceiveMessage.html: at most 10
# messages per ReceiveMessage (and per DeleteMessageBatch): the trigger's pollers need B/10 of each per batch.
SQS_MESSAGES_PER_CALL = 10
B_PER_SEND = SQS_MESSAGES_PER_CALL  # a SendMessageBatch carries at most 10 messages (same page's SendMessageBatch)

# WarmThroughput is paid once per increase above what the table (or index) already serves: "If you proactively
# increase these default warm throughput values to pre-warm your tables, you will be charged for those requests"
# (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/warm-throughput.html; the rate is on
# https://aws.amazon.com/dynamodb/pricing/on-demand/, "Warm throughput"). That page could not be read from here:
# ESTIMATE the one-time charge as one hour of the increase at provisioned capacity's us-east-1 rates ($0.00065 per
# WCU-hour, $0.00013 per RCU-hour), and check it against the page before deploying a larger value.
WARM_THROUGHPUT_DOLLARS_PER_UNIT = {"write": 0.00065, "read": 0.00013}

# --- what cannot be measured from here: assumptions, shown with their sensitivity --------------------------------

# Request latency from a Lambda function in the same Region, in ms. DynamoDB: "single-digit millisecond"
# (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/on-demand-capacity-mode.html); 10 ms is that
# claim's bound. SQS, S3 and SNS publish no figure: 20 ms is an ASSUMPTION (the printout doubles every latency
# to show what depends on it).
AWS_LATENCY_MS = {"DynamoDB": 10.0, "SQS": 20.0, "S3": 20.0, "SNS": 20.0, "STS": 20.0}
# ASSUMPTION: from a splitter's hand-over (its continuation message sent) to the next invocation starting
# (SQS trigger pick-up plus a cold start of the continuation function).
HANDOVER_SECONDS = 1.0
# The local runner (local_runtime/runner.py) as `make bench` starts it: 4 slots, 4 pollers per queue.
EMULATOR_POLLERS = 4
# "Across many files": that many 1 GiB uploads arriving at once, simulated for two hours; the sustained rate is
# the last half hour's (the first invocations' burst has drained by then).
MANY_FILES_HORIZON = 2 * 3600.0
STEADY_WINDOW = 30 * 60.0


# --- inputs -------------------------------------------------------------------------------------------------------

@dataclass
class Function:
    name: str
    memory_mb: int
    timeout_s: int
    batch_size: int | None = None
    window_s: float = 0.0
    max_concurrency: int | None = None  # the SQS trigger's MaximumConcurrency (None: not set)

    @property
    def vcpu(self) -> float:
        return min(PYTHON_MAX_VCPU, self.memory_mb / LAMBDA_MB_PER_VCPU)

    @property
    def gb(self) -> float:
        return self.memory_mb / 1024


@dataclass
class Stage:
    name: str
    functions: dict[str, Function]
    api_rate_limit: float
    api_burst_limit: int
    max_receive_count: dict[str, int]     # consumer function -> its queue's maxReceiveCount
    warm_wru: dict[str, int] = field(default_factory=dict)  # table logical id -> WarmThroughput write units
    warm_rru: dict[str, int] = field(default_factory=dict)  # ... and read units (priced; the model is of writes)
    maximum_concurrency_source: str = "not set on the stage (AWS's caps apply)"
    # A plain upload over part_bytes is planned into min(max_parts, ceil(size / part_bytes)) byte ranges, each
    # split by its own reader (chalicelib/streaming/parts.py); the stage's LOG_SPLIT_PART_BYTES, LOG_SPLIT_MAX_PARTS.
    part_bytes: int = 1 << 62  # a stage built here splits each upload with one reader unless it says otherwise
    max_parts: int = 1
    lines_per_item: int | None = None  # LOG_LINES_PER_ITEM, when the app reads one (shown; the meter prices it)

    def visibility_timeout(self, function: str) -> int:
        # infra/stage.py Stage.visibility_timeout: at least six times the consumer's timeout (AWS's advice).
        return max(30, 6 * self.functions[function].timeout_s)


def app_setting(stage, reader: str, default: Any) -> Any:
    """A chalicelib/settings.py reader's value on the stage's environment (its default where the stage sets
    none); `default` where the app has no such reader."""
    from unittest import mock
    from chalicelib import settings as app_settings
    read = getattr(app_settings, reader, None)
    if read is None:
        return default
    with mock.patch.dict("os.environ", stage.environment, clear=True):
        return read()


def load_stage(name: str, cpu: dict, config: Path | None = None) -> Stage:
    """The stage of .chalice/config.json (or of another config.json, e.g. an older commit's, for a before)."""
    from infra.resources import RESOURCES
    from infra.stage import Stage as ChaliceStage
    stage = ChaliceStage(name, json.loads(config.read_text())) if config else ChaliceStage.load(name)
    settings = stage.settings
    caps = dict(getattr(settings, "sqs_maximum_concurrency", None) or {})
    # infra/stage.py InfraSettings.sqs_concurrency: the stage's cap, or its default for consumers it does not
    # name; without that setting (an older tree) no cap is set and AWS's own apply.
    cap_of = getattr(settings, "sqs_concurrency", None) or (lambda function: caps.get(function))
    functions = {}
    sources = cpu.get("event_sources", {})
    names = set(stage.config["stages"][name].get("lambda_functions", {})) | set(sources)
    for function in sorted(names):
        source = sources.get(function, {})
        consumer = source.get("batch_size") is not None  # an SQS event source (S3 and schedules have none)
        functions[function] = Function(
            function, int(stage.function_setting(function, "lambda_memory_size", 128)),
            int(stage.function_setting(function, "lambda_timeout", 60)),
            source.get("batch_size"), float(source.get("window_seconds") or 0.0),
            cap_of(function) if consumer else None)
    receive = {"process_log_lines": RESOURCES["LogQueue"].max_receive_count,
               "process_orders": RESOURCES["OrdersQueue"].max_receive_count,
               "process_product_queue": RESOURCES["ProductQueue"].max_receive_count}
    source = ("infra.sqs_maximum_concurrency of the stage " + json.dumps(caps) +
              (" (others: InfraSettings.sqs_concurrency's default)" if hasattr(settings, "sqs_concurrency") else "")
              if caps or hasattr(settings, "sqs_concurrency") else "not set on the stage (AWS's caps apply)")
    warm = getattr(settings, "warm_throughput", None) or {}
    return Stage(name, functions, float(settings.api_throttle_rate_limit), int(settings.api_throttle_burst_limit),
                 receive, maximum_concurrency_source=source,
                 warm_wru={table: int(units["write"]) for table, units in warm.items() if "write" in units},
                 warm_rru={table: int(units["read"]) for table, units in warm.items() if "read" in units},
                 part_bytes=int(app_setting(stage, "log_split_part_bytes", 1 << 62)),
                 max_parts=int(app_setting(stage, "log_split_max_parts", 1)),
                 lines_per_item=app_setting(stage, "log_lines_per_item", None))


def warm_throughput_cost(stage: "Stage") -> dict:
    """The stage's WarmThroughput on each table, and the one-time charge of raising a new table to it."""
    from infra.stage import NEW_TABLE_WARM_THROUGHPUT
    tables = {table: {"write": units} for table, units in stage.warm_wru.items()}
    for table, units in stage.warm_rru.items():
        tables.setdefault(table, {})["read"] = units
    dollars = sum(max(0, units - NEW_TABLE_WARM_THROUGHPUT[kind]) * WARM_THROUGHPUT_DOLLARS_PER_UNIT[kind]
                  for given in tables.values() for kind, units in given.items())
    return {"tables": tables, "one_time_dollars": dollars,
            "price": "ESTIMATE: one hour of the increase at provisioned rates; see WARM_THROUGHPUT_DOLLARS_PER_UNIT"}


def load_cpu(path: Path | None = None) -> dict:
    for candidate in ([path] if path else [CPU_JSON, RECORDED_CPU]):
        if candidate and Path(candidate).exists():
            data = json.loads(Path(candidate).read_text())
            data["_path"] = str(candidate)
            return data
    raise SystemExit("no CPU figures: run `make bench-cpu` first (build/bench/cpu.json)")


@dataclass
class Platform:
    """Where the handlers run: AWS (documented limits, assumed latencies) or the local emulator (measured)."""
    name: str
    latency_ms: dict[str, float]
    aws: bool = True
    pollers: int = EMULATOR_POLLERS
    batch_messages: float | None = None  # the local runner's mean batch (its receives come back short; see below)

    def latency(self, api: str) -> float:
        """Seconds per call of `Service:Operation`."""
        if api in self.latency_ms:
            return self.latency_ms[api] / 1000
        return self.latency_ms.get(api.split(":", 1)[0], 0.0) / 1000

    def scaled(self, factor: float) -> "Platform":
        return replace(self, latency_ms={k: v * factor for k, v in self.latency_ms.items()})


AWS = Platform("aws", dict(AWS_LATENCY_MS))


def emulator_platform(measurement: dict) -> Platform:
    """The latencies `make bench` measured per working call (benchmarks/meter.py's timings by kind)."""
    by_kind = measurement["figures"]["ms_per_call_on_emulator_by_kind"]
    latency = {k: v for k, v in by_kind.items() if "(" not in k}
    # The runner stops filling a batch at the first short receive, and with four pollers on one moto queue
    # receives come back short: its batches are smaller than the event source's. The run counted them.
    deliveries = measurement.get("deliveries", {})
    invocations = deliveries.get("invocations:process_log_lines")
    mean = deliveries.get("received", 0) / invocations if invocations else None
    return Platform("emulator", latency, aws=False, pollers=int(measurement.get("concurrency", EMULATOR_POLLERS)),
                    batch_messages=mean)


# --- levers (design changes the model can evaluate before they are built) -------------------------------------------

@dataclass
class Levers:
    lines_per_message: int = 1
    memory: dict[str, int] = field(default_factory=dict)           # function -> MB
    max_concurrency: dict[str, int] = field(default_factory=dict)  # function -> the trigger's MaximumConcurrency
    warm_wru: dict[str, int] = field(default_factory=dict)         # table logical id -> WarmThroughput
    # Readers per upload on the run's one partition key, whatever the stage plans (the hypothetical lever of before
    # the byte ranges were built; 0: the stage's own plan, whose parts count on keys of their own).
    split_ranges: int = 0
    part_bytes: int | None = None  # LOG_SPLIT_PART_BYTES other than the stage's (a setting)
    max_parts: int | None = None   # LOG_SPLIT_MAX_PARTS other than the stage's (a setting)
    hot_key_spread: int = 1        # each key's counting items spread over this many keys more (hypothetical)
    worker_cpu_factor: float = 1.0  # a cheaper write path: the worker's CPU per line × this (hypothetical)
    resumable_gz: bool = False      # a .gz continuation that does not decompress from byte 0 (hypothetical)
    log_wru_per_line: float | None = None  # ProcessedLogsTable's write units per line (e.g. lines packed per item)
    send_in_flight: int | None = None      # the splitter's SendMessageBatch calls in flight (a code constant, 8)
    table_quota: int | None = None         # the table-level quota after an increase request (40,000 by default)
    invoice_ranges: int = 1                # ingesters per invoice upload, each on its own byte range (hypothetical)
    put_in_flight: int | None = None       # the ingester's conditional puts in flight (a code constant, 16)

    @classmethod
    def parse(cls, pairs: list[str], lines_per_message: int = 1) -> "Levers":
        levers = cls(lines_per_message=lines_per_message)
        for pair in pairs:
            name, _, value = pair.partition("=")
            kind, _, target = name.partition(":")
            if kind == "memory":
                levers.memory[target] = int(value)
            elif kind == "max_concurrency":
                levers.max_concurrency[target] = int(value)
            elif kind == "warm":
                levers.warm_wru[target] = int(value)
            elif kind in ("split_ranges", "hot_key_spread"):
                setattr(levers, kind, int(value))
            elif kind == "worker_cpu_factor":
                levers.worker_cpu_factor = float(value)
            elif kind == "resumable_gz":
                levers.resumable_gz = value.lower() in ("1", "true", "yes")
            elif kind == "log_wru_per_line":
                levers.log_wru_per_line = float(value)
            elif kind in ("send_in_flight", "table_quota", "invoice_ranges", "put_in_flight", "part_bytes",
                          "max_parts"):
                setattr(levers, kind, int(value))
            else:
                raise SystemExit(f"unknown lever {name!r}")
        return levers


def apply_levers(stage: Stage, levers: Levers) -> Stage:
    stage = replace(stage, part_bytes=levers.part_bytes or stage.part_bytes,
                    max_parts=levers.max_parts or stage.max_parts)
    functions = {}
    for name, function in stage.functions.items():
        function = replace(function)
        if name in levers.memory:
            function.memory_mb = levers.memory[name]
        if name in levers.max_concurrency:
            low, high = MAXIMUM_CONCURRENCY_RANGE
            function.max_concurrency = max(low, min(high, levers.max_concurrency[name]))
        functions[name] = function
    return replace(stage, functions=functions, warm_wru={**stage.warm_wru, **levers.warm_wru})


# --- the model: service times per unit ---------------------------------------------------------------------------

def part_count(size: int, part_bytes: int, max_parts: int) -> int:
    """Byte ranges of a plain upload of `size` bytes: the app's own rule (chalicelib/streaming/parts.py) when
    importable, else the same arithmetic."""
    try:
        from chalicelib.streaming.parts import part_count as app_part_count
    except ImportError:
        if size <= part_bytes or max_parts <= 1:
            return 1
        return min(max_parts, -(-size // part_bytes))
    return app_part_count(size, part_bytes, max_parts)


def code_default(name: str) -> int | None:
    """An in-flight limit as the code sets it today (the default of the function that takes it), or None: the
    model on AWS takes these over bench-cpu's recorded ones, so a changed constant counts before the next run."""
    try:
        from chalicelib.adapters import dynamo, queues
        from chalicelib.streaming import parts
        where = {"sqs_send_in_flight": (queues.BatchSender.__init__, "max_in_flight"),
                 "batch_write_in_flight": (dynamo.batch_put, "max_in_flight"),
                 "conditional_put_in_flight": (dynamo.conditional_put_all, "max_in_flight"),
                 "insert_in_flight": (dynamo.insert_all, "max_in_flight"),
                 "plan_in_flight": (parts.plan, "max_in_flight")}
        function, parameter = where[name]
        return int(inspect.signature(function).parameters[parameter].default)
    except (ImportError, KeyError, AttributeError, TypeError, ValueError):
        return None


def with_todays_code(cpu: dict) -> dict:
    """bench-cpu's figures with the in-flight limits of the code as it is now (a constant changed since the
    recorded run counts at once); `_changed` names what differs. Not for the emulator check, whose runs were
    made with the recorded ones."""
    cpu = {**cpu, "parallelism": dict(cpu["parallelism"])}
    changed = {}
    for name in ("sqs_send_in_flight", "batch_write_in_flight", "conditional_put_in_flight", "insert_in_flight",
                 "plan_in_flight"):
        now = code_default(name)
        if now is not None and now != cpu["parallelism"].get(name):
            changed[name] = (cpu["parallelism"].get(name), now)
            cpu["parallelism"][name] = now
    cpu["_changed"] = changed
    return cpu


def retry_budget_seconds() -> float:
    """How long a worker keeps retrying unprocessed writes before it gives their messages back: the expected sum
    of the full-jitter backoffs of chalicelib/adapters/dynamo.py's batch_put (its defaults, read from the code)."""
    try:
        from chalicelib.adapters import dynamo
        attempts = inspect.signature(dynamo.batch_put).parameters["max_attempts"].default
        backoff = inspect.signature(dynamo.backoff).parameters
        base, cap = backoff["base"].default, backoff["cap"].default
    except Exception:  # the model runs without the app importable: the values of today's code
        attempts, base, cap = 8, 0.05, 2.0
    return sum(min(cap, base * 2 ** a) / 2 for a in range(attempts))


class Model:
    def __init__(self, cpu: dict, stage: Stage, platform: Platform = AWS, levers: Levers | None = None):
        self.cpu = cpu
        self.levers = levers or Levers()
        self.stage = apply_levers(stage, self.levers)
        self.platform = platform
        self.par = dict(cpu["parallelism"])
        if self.levers.send_in_flight:
            self.par["sqs_send_in_flight"] = self.levers.send_in_flight
        if self.levers.put_in_flight:
            self.par["conditional_put_in_flight"] = self.levers.put_in_flight
        self.mix = cpu.get("request_mix", {})
        self.quota = self.levers.table_quota or TABLE_QUOTA_WRU

    # --- inputs ---

    def fn(self, name: str) -> Function:
        return self.stage.functions[name]

    def vcpu(self, name: str) -> float:
        return self.fn(name).vcpu if self.platform.aws else 1.0

    def handler(self, key: str) -> dict:
        try:
            return self.cpu["handlers"][key]
        except KeyError:
            raise SystemExit(f"bench-cpu's JSON has no {key!r} (measured modes: "
                             f"{', '.join(sorted(self.cpu['handlers']))})") from None

    def cpu_seconds(self, key: str, per: str) -> float:
        return self.handler(key)[f"cpu_us_per_{per}"]["median"] / 1e6

    def log_mix(self, m: int | None = None) -> dict:
        return self.mix.get(f"log/{m or self.levers.lines_per_message}lpm", {})

    # --- log splitter ---

    def split_seconds_per_line(self, m: int, gz: bool = False) -> float:
        """Wall seconds per line of one splitter: its CPU at its share of a vCPU, or its sends, whichever binds
        (the sends run in threads beside the reading)."""
        key = f"split_log_upload/{m}lpm" + (".gz" if gz and m == 1 else "")
        if gz and m != 1:  # only 1 line per message was measured on a .gz: its extra CPU per line carried over
            extra = self.cpu_seconds("split_log_upload/1lpm.gz", "line") - self.cpu_seconds("split_log_upload/1lpm", "line")
            cpu = self.cpu_seconds(f"split_log_upload/{m}lpm", "line") + extra
        else:
            cpu = self.cpu_seconds(key, "line")
        cpu /= self.vcpu("split_log_upload")
        sends = self.par["sqs_send_in_flight"] * SQS_MESSAGES_PER_CALL * m / self.platform.latency("SQS:SendMessageBatch")
        return max(cpu, 1 / sends)

    def split_rate(self, m: int | None = None, gz: bool = False) -> float:
        """Lines/s of one reader (one splitter invocation on one byte range)."""
        return 1 / self.split_seconds_per_line(m or self.levers.lines_per_message, gz)

    def split_plan(self, file_bytes: float, gz: bool = False) -> tuple[int, int]:
        """(readers, partition keys) of one upload of `file_bytes`: the stage's byte ranges, each counted under a
        key of its own (`<run>#R<p>`; part 0 under the run's); one of each for a .gz, which has no byte entry
        points; or the `split_ranges` lever's readers, all on the run's key."""
        if gz:
            return 1, 1
        if self.levers.split_ranges:
            return self.levers.split_ranges, 1
        parts = part_count(int(file_bytes), self.stage.part_bytes, self.stage.max_parts)
        return parts, parts

    def planning_seconds(self, file_bytes: float, parts: int) -> float:
        """The first invocation's pass over the whole object before any line is sent (chalicelib/streaming/parts.py
        `plan`): ranged GETs, `plan_in_flight` at a time, each at S3's per-connection rate, while counting newlines
        at the measured CPU per MB; the slower of the two (the reads and the counting overlap in its threads)."""
        if parts <= 1:
            return 0.0
        mb = file_bytes / 1e6
        connections = min(parts, int(self.par.get("plan_in_flight") or code_default("plan_in_flight") or 1))
        network = mb / (S3_MB_PER_SECOND_PER_CONNECTION * connections) + self.platform.latency("S3:GetObject")
        figures = self.cpu["handlers"].get("split_plan")
        cpu = figures["cpu_us_per_mb"]["median"] / 1e6 * mb / self.vcpu("split_log_upload") if figures else 0.0
        return max(network, cpu)

    def split_budget_seconds(self) -> float:
        # chalicelib/streaming/resumable.py Checkpointer: the remaining time less min(30 s, a fifth of it).
        timeout = self.fn("split_log_upload").timeout_s
        return timeout - min(30, timeout / 5)

    def continuation_cap(self) -> int:
        """Splitters that may continue at once, across uploads: continue_log_split's trigger cap. (An upload's
        first invocation comes from S3, uncapped; every later one is a continuation.)"""
        if not self.platform.aws:
            return 10 ** 9
        cap = self.fn("continue_log_split").max_concurrency if "continue_log_split" in self.stage.functions else None
        return min(cap or SQS_TRIGGER_MAX, LAMBDA_ACCOUNT_CONCURRENCY)

    def gz_skip_seconds(self, offset_bytes: float) -> float:
        """A .gz continuation decompresses (and drops) everything before its offset again."""
        if self.levers.resumable_gz:
            return 0.0
        return self.handler("gunzip_skip")["cpu_us_per_mb"] / 1e6 * offset_bytes / 1e6 / self.vcpu("continue_log_split")

    def bytes_per_line(self) -> float:
        return self.handler("split_log_upload/1lpm")["bytes"] / self.handler("split_log_upload/1lpm")["lines"]

    # --- log worker ---

    def batch_messages(self) -> int:
        return self.fn("process_log_lines").batch_size or 10

    def worker_seconds(self, lines: float, m: int | None = None) -> float:
        """One worker invocation's handler time for `lines` lines (CPU at its share, plus its waves of calls)."""
        m = m or self.levers.lines_per_message
        figures = self.handler(f"process_log_lines/{m}lpm")
        cpu = self.cpu_seconds(f"process_log_lines/{m}lpm", "line") * self.levers.worker_cpu_factor * lines
        cpu /= self.vcpu("process_log_lines")
        full = figures["batch_messages"] * m
        scale = lines / full
        calls = figures["calls_per_batch"]
        chunk_lines = self.par["log_chunk_lines"]
        threads = self.par["log_count_threads"]
        writes = math.ceil(calls.get("DynamoDB:BatchWriteItem", 0) * scale)
        rolls = lines / chunk_lines                      # a chunk rolls up once, when its last message is counted
        chunk_updates = max(1.0, calls.get("DynamoDB:UpdateItem", 0) * scale - rolls)
        puts_per_roll = calls.get("DynamoDB:PutItem", 0) / (full / chunk_lines)
        roll_rounds = math.ceil(rolls / threads) if rolls >= 1 else rolls
        L = self.platform.latency
        io = (math.ceil(writes / self.par["batch_write_in_flight"]) * L("DynamoDB:BatchWriteItem")
              + math.ceil(chunk_updates / threads) * L("DynamoDB:UpdateItem")
              + roll_rounds * (puts_per_roll * L("DynamoDB:PutItem") + L("DynamoDB:UpdateItem")))
        return cpu + io

    def poller_seconds(self, messages: int, m: int | None = None) -> float:
        """What one batch holds its consumer for: on AWS the handler; on the local runner also its receives and
        deletes (local_runtime/runner.py receives 10 at a time until a short one, then deletes 10 at a time)."""
        m = m or self.levers.lines_per_message
        handler = self.worker_seconds(messages * m, m)
        if self.platform.aws:
            return handler
        receives = math.ceil(messages / SQS_MESSAGES_PER_CALL)
        if messages < self.batch_messages() and messages % SQS_MESSAGES_PER_CALL == 0:
            receives += 1  # the receive that came back short
        deletes = math.ceil(messages / SQS_MESSAGES_PER_CALL)
        return (handler + receives * self.platform.latency("SQS:ReceiveMessage")
                + deletes * self.platform.latency("SQS:DeleteMessageBatch"))

    def worker_concurrency_cap(self, splitters: int = 0) -> int:
        if not self.platform.aws:
            return self.platform.pollers
        cap = min(SQS_TRIGGER_MAX, LAMBDA_ACCOUNT_CONCURRENCY - splitters)
        if self.fn("process_log_lines").max_concurrency:
            cap = min(cap, self.fn("process_log_lines").max_concurrency)
        return max(1, cap)

    # --- DynamoDB write units per line ---

    def log_wru(self, m: int | None = None) -> dict[str, float]:
        """Write units per line by table logical id, and on the run's own partition key ("hot")."""
        mix = self.log_mix(m)
        units = mix.get("write_units", {})
        kinds = mix.get("write_units_by_item_kind", {})
        logs, batches = self._table("ProcessedLogsTable"), self._table("LogBatchesTable")
        # S# and P# items are counted on their part's key (the run's for part 0 and a one-part upload; `<run>#R<p>`
        # for part p), the RUN item on the run's key (chalicelib/logbatch/repository.py); C items on keys of their own.
        def kind(*names: str) -> float:
            return sum(v for k, v in kinds.items() if k.startswith(f"{batches} ") and k.split(" ", 1)[1] in names)
        stored = self.levers.log_wru_per_line if self.levers.log_wru_per_line is not None else units.get(logs, 1.0)
        part_key, run_key = kind("S", "P") / self.levers.hot_key_spread, kind("RUN")
        return {"ProcessedLogsTable": stored, "LogBatchesTable": units.get(batches, 0.0),
                "part_key": part_key, "run_key": run_key, "hot": part_key + run_key}

    def hot_key_wru(self, keys: int) -> float:
        """Write units per line of an upload on its busiest key, its lines spread evenly over `keys` keys: the
        run's key takes its share of the counting items and every line's RUN roll-up."""
        wru = self.log_wru()
        return wru["part_key"] / keys + wru["run_key"]

    def _table(self, logical_id: str) -> str:
        names = self.cpu.get("table_names", {})
        return names.get(logical_id, logical_id)

    def table_wru(self, logical_id: str) -> float:
        """What a table serves at once: WarmThroughput when set, else a new on-demand table's (capped by the quota)."""
        return min(self.quota, max(NEW_TABLE_WRU, self.stage.warm_wru.get(logical_id, 0)))

    # --- the analytic part -------------------------------------------------------------------------------

    def splitters_at_once(self, files: int, file_bytes: float = GIB, gz: bool = False) -> tuple[int, bool]:
        """(readers splitting at once across `files` uploads, whether continue_log_split's cap holds some back).

        An upload read by one reader starts in its S3-invoked first invocation, outside the cap; when that fits
        its whole file, `files` readers run beside the cap's; else, in the long run, only the cap's. An upload
        planned in parts has every part started by a start message (chalicelib/logbatch/splitter.py: the
        planner sends one per part and reads none), so all its readers are continuations, under the cap."""
        readers, keys = self.split_plan(file_bytes, gz)
        lines = file_bytes / self.bytes_per_line() / readers
        fits = readers == 1 and lines / self.split_rate(None, gz) <= self.split_budget_seconds()
        outside = files if fits and self.platform.aws else 0
        at_once = min(files * readers, outside + self.continuation_cap())
        return at_once, at_once < files * readers

    def log_ceilings(self, files: int, file_bytes: float = GIB, gz: bool = False) -> dict[str, float]:
        """Lines/s each stage can sustain for `files` uploads of `file_bytes` at once (warm-up ramps aside)."""
        m = self.levers.lines_per_message
        wru = self.log_wru(m)
        lines_per_batch = self.batch_messages() * m
        readers, keys = self.split_plan(file_bytes, gz)
        at_once, capped = self.splitters_at_once(files, file_bytes, gz)
        workers = self.worker_concurrency_cap(splitters=at_once)
        held = " (continue_log_split's MaximumConcurrency)" if capped else ""
        ceilings = {
            f"splitter ({at_once:g} of {files * readers} reader{'s' if files * readers > 1 else ''} at once{held}: "
            f"{files} upload{'s' if files > 1 else ''} × {readers} part{'s' if readers > 1 else ''}, "
            f"{self.fn('split_log_upload').memory_mb} MB)": at_once * self.split_rate(m, gz),
            f"workers ({workers} × batches of {lines_per_batch} lines, {self.fn('process_log_lines').memory_mb} MB)":
                workers * lines_per_batch / self.poller_seconds(self.batch_messages(), m),
        }
        if self.platform.aws:
            ceilings[f"ProcessedLogsTable ({self.table_wru('ProcessedLogsTable'):,} WRU/s at once, "
                     f"{wru['ProcessedLogsTable']:.3f} WRU/line)"] = self.table_wru("ProcessedLogsTable") / wru["ProcessedLogsTable"]
            if wru["LogBatchesTable"]:
                ceilings[f"LogBatchesTable ({self.table_wru('LogBatchesTable'):,} WRU/s at once, "
                         f"{wru['LogBatchesTable']:.3f} WRU/line)"] = self.table_wru("LogBatchesTable") / wru["LogBatchesTable"]
            hot = self.hot_key_wru(keys)
            if hot:
                ceilings[f"the run's partition key ({PARTITION_WRU:,} WCU/s per partition, {hot:.4f} WRU/line on it, "
                         f"{keys} key{'s' if keys > 1 else ''} per upload)"] = files * PARTITION_WRU / hot
            in_flight = SQS_IN_FLIGHT / (self.batch_messages() / lines_per_batch) / self.poller_seconds(self.batch_messages(), m)
            ceilings["SQS in-flight messages (120,000 per queue)"] = in_flight
        return ceilings

    def log_costs(self) -> dict[str, float]:
        """$ per million lines: the metered request mix, the trigger's receives and deletes, Lambda at the
        modelled durations."""
        from benchmarks.meter import PRICES
        m = self.levers.lines_per_message
        mix = self.log_mix(m)
        lines_per_batch = self.batch_messages() * m
        wru = sum(self.log_wru(m)[t] for t in ("ProcessedLogsTable", "LogBatchesTable"))
        rru = sum(mix.get("read_units", {}).values())
        sqs_app = sum(mix.get("sqs_billed_requests", {}).values())
        sqs_trigger = 2 * math.ceil(self.batch_messages() / SQS_MESSAGES_PER_CALL) / lines_per_batch
        s3 = mix.get("s3_requests_by_class", {})
        worker = self.fn("process_log_lines")
        splitter = self.fn("split_log_upload")
        # Per line of a 1 GiB upload: its planning pass (the first invocation's, before any line), and each
        # part's start message, invocation and GET (the meter's mix has one of each per upload).
        file_lines = GIB / self.bytes_per_line()
        readers, _ = self.split_plan(GIB)
        planning = self.planning_seconds(GIB, readers) / file_lines
        extra_parts = (readers - 1) / file_lines
        gb_seconds = (self.worker_seconds(lines_per_batch, m) / lines_per_batch * worker.gb
                      + (self.split_seconds_per_line(m) + planning) * splitter.gb)
        invocations = (1 / lines_per_batch + max(readers / file_lines, 1 / max(1.0, self.split_rate(m)
                                                                               * self.split_budget_seconds())))
        per_line = {
            "dynamodb": wru * PRICES["dynamodb_write_unit"] + rru * PRICES["dynamodb_read_unit"],
            # a start message per part: its send, and the trigger's receive and delete
            "sqs": (sqs_app + sqs_trigger + 3 * extra_parts) * PRICES["sqs_request"],
            # the planning pass's GET per range, and each part's own
            "s3": (s3.get("put", 0) * PRICES["s3_put"]
                   + (s3.get("get", 0) + (2 * readers - 1) / file_lines * (readers > 1)) * PRICES["s3_get"]),
            "lambda": invocations * PRICES["lambda_request"] + gb_seconds * PRICES["lambda_gb_second"],
        }
        costs = {k: v * 1e6 for k, v in per_line.items()}
        costs["total"] = sum(costs.values())
        return costs

    # --- invoices -----------------------------------------------------------------------------------------

    def invoice_seconds_per_row(self) -> float:
        figures = self.handler("ingest_invoice_upload")
        cpu = self.cpu_seconds("ingest_invoice_upload", "row") / self.vcpu("ingest_invoice_upload")
        calls = figures["calls_per_1000_rows"]
        chunk = self.par["invoice_write_chunk_rows"]
        puts = calls.get("DynamoDB:PutItem", 0) * chunk / 1000
        inserts = calls.get("DynamoDB:BatchExecuteStatement", 0) * chunk / 1000  # conditional INSERTs, 25 a call
        writes = calls.get("DynamoDB:BatchWriteItem", 0) * chunk / 1000
        L = self.platform.latency
        io = (math.ceil(puts / self.par["conditional_put_in_flight"]) * L("DynamoDB:PutItem")
              + math.ceil(inserts / self.par.get("insert_in_flight", 1)) * L("DynamoDB:BatchExecuteStatement")
              + writes * L("DynamoDB:BatchWriteItem")) / chunk
        return (cpu + io) / self.levers.invoice_ranges

    def invoice_ceilings(self, uploads: int, customers: int) -> dict[str, float]:
        mix = self.mix.get("invoices", {})
        units = mix.get("write_units", {})
        table = self._table("InvoicesTable")
        table_wru = units.get(table, 1.0)
        index_wru = sum(v for k, v in units.items() if k.startswith(f"{table}/"))
        # An upload longer than one invocation goes on in continuations, continue_invoice_ingest's cap at once.
        cap = self.fn("continue_invoice_ingest").max_concurrency if self.platform.aws else None
        at_once = min(uploads * self.levers.invoice_ranges, cap) / self.levers.invoice_ranges if cap else uploads
        capped = " (continue_invoice_ingest's MaximumConcurrency, past their first invocation)" if at_once < uploads else ""
        ceilings = {f"ingester ({at_once:g} of {uploads} upload{'s' if uploads > 1 else ''} at once{capped}, "
                    f"{self.fn('ingest_invoice_upload').memory_mb} MB)": at_once / self.invoice_seconds_per_row()}
        if self.platform.aws:
            ceilings[f"InvoicesTable ({self.table_wru('InvoicesTable'):,} WRU/s, {table_wru:.2f} WRU/row)"] = \
                self.table_wru("InvoicesTable") / table_wru
            if index_wru:
                ceilings[f"customer-index ({self.table_wru('InvoicesTable'):,} WRU/s, {index_wru:.2f} WRU/row)"] = \
                    self.table_wru("InvoicesTable") / index_wru
                ceilings[f"customer-index partition per customer ({customers} customers in the file)"] = \
                    customers * PARTITION_WRU / index_wru
        return ceilings

    # --- orders and products ---------------------------------------------------------------------------------

    def calls_seconds(self, calls: dict[str, float]) -> float:
        return sum(n * self.platform.latency(api) for api, n in calls.items())

    def route_seconds(self, route: str) -> float:
        figures = self.cpu["api"][route]
        return (figures["cpu_us_per_request"]["median"] / 1e6 / self.vcpu("api_handler")
                + self.calls_seconds(figures["calls_per_request"]))

    def authorizer_seconds(self) -> float:
        handlers = self.cpu.get("authorizer", {}).get("handlers", {})
        if not handlers:
            return 0.0
        name, figures = next(iter(handlers.items()))
        function = self.stage.functions.get(name) or Function(name, 128, 10)
        return figures["cpu_us_per_check"]["median"] / 1e6 / (function.vcpu if self.platform.aws else 1.0)

    def order_seconds(self) -> float:
        """The order worker's time per order: each order of a batch is handled in turn, its calls one by one."""
        figures = self.handler("process_orders")
        return (self.cpu_seconds("process_orders", "order") / self.vcpu("process_orders")
                + self.calls_seconds(figures["calls_per_order"]))

    def product_seconds(self) -> float:
        figures = self.handler("process_product_queue")
        return (self.cpu_seconds("process_product_queue", "message") / self.vcpu("process_product_queue")
                + self.calls_seconds(figures["calls_per_message"]))

    def request_ceilings(self, kind: str) -> dict[str, float]:
        """Requests/s for orders or products: the API, the Lambdas behind it, the worker, the tables."""
        route = "POST /orders" if kind == "orders" else "POST /products"
        worker = "process_orders" if kind == "orders" else "process_product_queue"
        per_message = self.order_seconds() if kind == "orders" else self.product_seconds()
        api_seconds = self.route_seconds(route) + self.authorizer_seconds()
        workers = min(SQS_TRIGGER_MAX, self.fn(worker).max_concurrency or SQS_TRIGGER_MAX)
        ceilings = {
            f"API stage throttle (stage {self.stage.name}: {self.stage.api_rate_limit:g} req/s, "
            f"burst {self.stage.api_burst_limit})": self.stage.api_rate_limit,
            "API Gateway account quota": API_GATEWAY_ACCOUNT_RPS,
            f"API Lambdas ({LAMBDA_ACCOUNT_CONCURRENCY} concurrent, route + authorizer "
            f"{api_seconds * 1000:.0f} ms)": LAMBDA_ACCOUNT_CONCURRENCY / api_seconds,
            f"{worker} ({workers} × {self.fn(worker).memory_mb} MB, {per_message * 1000:.0f} ms per message)":
                workers / per_message,
        }
        mix = self.mix.get(kind, {})
        units = mix.get("write_units", {})
        if kind == "orders":
            table = self._table("OrdersTable")
            total = sum(units.values()) or 1.0
            busiest = max(units, key=units.get) if units else table
            ceilings[f"OrdersTable and its indexes ({self.table_wru('OrdersTable'):,} WRU/s each; {busiest} "
                     f"{units.get(busiest, 1.0):.1f} of {total:.1f} WRU/order)"] = \
                self.table_wru("OrdersTable") / max(units.values() or [1.0])
            # the sparse pending index, by its name's stem (a projection change renames it: pending-index-v2)
            pending = sum(v for k, v in units.items() if k.startswith(f"{table}/pending-index"))
            if pending:
                shards = self.cpu.get("constants", {}).get("pending_shards", 10)
                ceilings[f"pending-index partitions ({shards} shards × {PARTITION_WRU:,} WCU/s)"] = \
                    shards * PARTITION_WRU / pending
            ceilings["SNS Publish (us-east-1)"] = SNS_PUBLISH_PER_SECOND
        else:
            table = self._table("ProductTable")
            ceilings[f"ProductTable ({self.table_wru('ProductTable'):,} WRU/s)"] = \
                self.table_wru("ProductTable") / max(units.get(table, 1.0), 1e-9)
            ceilings["S3 PUT per prefix (reports at the bucket's root)"] = S3_PUT_PER_PREFIX
        return ceilings


def bottleneck(ceilings: dict[str, float]) -> tuple[str, float]:
    name = min(ceilings, key=ceilings.get)
    return name, ceilings[name]


# --- the discrete-event simulation of the log pipeline --------------------------------------------------------------

class Bucket:
    """A fluid token bucket: work is served at `rate` units/s in arrival order; `next_free` is when it is idle."""

    def __init__(self, rate: float):
        self.rate = rate
        self.next_free = 0.0
        self.used = 0.0
        self.window_used = 0.0

    def wait(self, now: float) -> float:
        return max(0.0, self.next_free - now)

    def take(self, now: float, units: float) -> None:
        self.next_free = max(now, self.next_free) + units / self.rate
        self.used += units
        self.window_used += units


@dataclass
class Segment:
    file: int
    messages: int
    receives: int = 0
    part: int = 0


class LogSimulation:
    """One event per batch: a splitter's batch of lines queued, a worker's batch of messages done."""

    def __init__(self, model: Model, files: int, lines_per_file: int, gz: bool = False,
                 horizon: float | None = None, start_delay: float = 0.0, group: int | None = None,
                 split_step: int | None = None, file_bytes: float | None = None):
        self.model, self.files, self.lines_per_file, self.gz = model, files, lines_per_file, gz
        self.horizon, self.start_delay = horizon, start_delay
        # The upload's size decides its parts (the stage's LOG_SPLIT_PART_BYTES): the lines' measured bytes.
        self.file_bytes = file_bytes if file_bytes is not None else lines_per_file * model.bytes_per_line()
        self.m = model.levers.lines_per_message
        self.batch = model.batch_messages()
        self.readers, self.keys = model.split_plan(self.file_bytes, gz)
        self.splitters = model.splitters_at_once(files, self.file_bytes, gz)[0]
        cap = model.worker_concurrency_cap(splitters=self.splitters)
        # Groups of k invocations run side by side when concurrency is in the hundreds (one event per k batches).
        self.group = group or max(1, cap // 50)
        self.aws = model.platform.aws
        # A splitter event: one SendMessageBatch (10 messages) on the local runner, whose pollers take what is
        # there; on AWS one worker batch's worth (the trigger's window fills its batches anyway).
        self.split_step = split_step or (B_PER_SEND if not self.aws else None)

    def run(self) -> dict[str, Any]:
        """Play the pipeline to its end (or to `horizon` seconds). Quantities are messages; lines are messages ×
        lines per message (a file's last message may hold fewer: give line counts divisible by it).

        An upload the stage plans in parts has `readers` readers, one per byte range: its first invocation (from
        S3) makes the planning pass and sends a start message per part; each part is then read by continuations,
        under continue_log_split's cap, and hands over on its own. Other uploads (one part, or the `split_ranges`
        lever's readers) start reading in their first invocation, outside the cap."""
        model, m, B, k = self.model, self.m, self.batch, self.group
        taking = max(1, round(model.platform.batch_messages)) if model.platform.batch_messages else B
        events: list = []
        seq = 0

        def at(time, kind, *payload):
            nonlocal seq
            seq += 1
            heapq.heappush(events, (time, seq, kind, payload))

        readers, keys = self.readers, self.keys
        rate = model.split_rate(m, self.gz)  # one reader's lines/s
        planning = model.planning_seconds(self.file_bytes, readers) if keys > 1 else 0.0
        budget = model.split_budget_seconds()
        bytes_per_line = model.bytes_per_line()
        total_messages = math.ceil(self.lines_per_file / m)
        # Reader r's share of a file's messages (the ranges are even cuts of the bytes: of the lines, near enough).
        shares = [total_messages * (r + 1) // readers - total_messages * r // readers for r in range(readers)]
        step = self.split_step or B * k
        wru = model.log_wru(m)
        buckets: dict[str, Bucket] = {}
        if self.aws:
            buckets["ProcessedLogsTable"] = Bucket(model.table_wru("ProcessedLogsTable"))
            buckets["LogBatchesTable"] = Bucket(model.table_wru("LogBatchesTable"))
            for f in range(self.files):
                for key in range(keys):  # key 0 is the run's own
                    buckets[f"hot{f}#{key}"] = Bucket(PARTITION_WRU)
        retry = retry_budget_seconds()
        visibility = model.stage.visibility_timeout("process_log_lines")
        max_receives = model.stage.max_receive_count["process_log_lines"]
        cap = model.worker_concurrency_cap(splitters=self.splitters)
        window = model.fn("process_log_lines").window_s if self.aws else 0.0

        queue: deque[Segment] = deque()
        state = {"available": 0, "in_flight": 0, "busy": 0, "stored": 0, "dlq": 0, "batches": 0, "failed": 0,
                 "allowed": min(cap, SQS_TRIGGER_INITIAL) if self.aws else cap, "idle_since": None}
        split = [0] * self.files                       # messages split, per file
        split_by_reader = [[0] * readers for _ in range(self.files)]
        open_readers = [readers] * self.files          # readers of the file not yet done (or stuck)
        done = [False] * self.files
        stuck: list[int] = []
        continuing: set[tuple[int, int]] = set()       # readers in a continuation now (holding a slot)
        waiting: deque[tuple[int, int, float]] = deque()  # (file, reader, offset) waiting for a slot
        continuation_slots = model.continuation_cap()
        handovers = 0
        first_message_at = None
        last_stored_at = 0.0
        samples: list[tuple] = []

        def start_batches(now: float) -> None:
            while state["busy"] < math.ceil(state["allowed"] / k) and state["available"] > 0:
                want = min(B, taking) * k
                if state["available"] < want and window:
                    if state["idle_since"] is None:
                        state["idle_since"] = now
                        at(now + window, "wake")
                        return
                    if now - state["idle_since"] < window:
                        return
                taken, parts = 0, []
                while queue and taken < want:
                    segment = queue[0]
                    n = min(segment.messages, want - taken)
                    parts.append(Segment(segment.file, n, segment.receives, segment.part))
                    segment.messages -= n
                    taken += n
                    if not segment.messages:
                        queue.popleft()
                state["available"] -= taken
                state["in_flight"] += taken
                state["busy"] += 1
                state["batches"] += 1
                state["idle_since"] = None
                at(now + model.poller_seconds(max(1, math.ceil(taken / k)), m), "done", parts, taken)

        def reader_done(f: int) -> None:
            open_readers[f] -= 1
            if not open_readers[f]:
                done[f] = True

        def resume(now: float) -> None:
            """Start waiting continuations while continue_log_split has room."""
            while waiting and len(continuing) < continuation_slots:
                f, r, offset = waiting.popleft()
                skip = model.gz_skip_seconds(offset) if self.gz else 0.0
                if skip + step * m / rate >= budget:  # it can no longer get past its offset (and a batch more)
                    if f not in stuck:
                        stuck.append(f)
                    reader_done(f)
                    continue
                continuing.add((f, r))
                at(now + HANDOVER_SECONDS + skip, "split", f, r, skip, offset, 0)

        def finished() -> bool:
            return all(done) and not waiting and state["available"] == 0 and state["in_flight"] == 0 \
                and state["busy"] == 0

        for f in range(self.files):
            if keys > 1:  # planned: the start messages the planning pass sends, one per part
                for r in range(readers):
                    at(self.start_delay + planning, "start", f, r)
                continue
            # (file, reader, seconds into its invocation, offset, messages): the first invocation reads at once
            at(self.start_delay, "split", f, 0, 0.0, 0.0, 0)
            for r in range(1, readers):  # the lever's other readers: as many first invocations
                at(self.start_delay, "split", f, r, 0.0, 0.0, 0)
        if self.aws:
            at(self.start_delay + 10.0, "scale")
            at(self.start_delay + ON_DEMAND_DOUBLING_SECONDS, "warm")
        now = 0.0
        while events:
            now, _, kind, payload = heapq.heappop(events)
            if self.horizon is not None and now > self.horizon:
                now = self.horizon
                break
            if kind == "split":
                f, r, elapsed, offset, n = payload
                if n:  # the messages this reader finished sending by now
                    split[f] += n
                    split_by_reader[f][r] += n
                    queue.append(Segment(f, n, 0, r))
                    state["available"] += n
                    first_message_at = now if first_message_at is None else first_message_at
                    start_batches(now)
                if split_by_reader[f][r] >= shares[r]:
                    reader_done(f)
                    if (f, r) in continuing:
                        continuing.discard((f, r))
                        resume(now)
                    continue
                n = min(step, shares[r] - split_by_reader[f][r])
                lines = min(n * m, self.lines_per_file - split[f] * m)
                seconds = lines / rate
                if self.aws and elapsed > 0 and elapsed + seconds > budget:
                    # The invocation hands over; the continuation starts after the delay (a .gz decompressing
                    # again from byte 0 up to where it stopped, before its first new line).
                    handovers += 1
                    continuing.discard((f, r))
                    waiting.append((f, r, offset))  # its continuation message queues behind the others
                    resume(now)
                    continue
                at(now + seconds, "split", f, r, elapsed + seconds, offset + lines * bytes_per_line, n)
            elif kind == "start":
                f, r = payload
                waiting.append((f, r, 0.0))
                resume(now)
            elif kind == "wake":
                start_batches(now)
            elif kind == "scale":  # the SQS trigger adds up to 300 concurrent batches a minute while messages wait
                if state["available"] > 0 and state["allowed"] < cap:
                    state["allowed"] = min(cap, state["allowed"] + SQS_TRIGGER_RAMP_PER_MINUTE / 6)
                    start_batches(now)
                if not finished():
                    at(now + 10.0, "scale")
            elif kind == "warm":  # on demand: twice the previous peak within 30 minutes (peak: this window's use)
                for name, bucket in buckets.items():
                    if not name.startswith("hot"):
                        bucket.rate = min(model.quota, max(bucket.rate, 2 * bucket.window_used / ON_DEMAND_DOUBLING_SECONDS))
                        bucket.window_used = 0.0
                if not finished():
                    at(now + ON_DEMAND_DOUBLING_SECONDS, "warm")
            elif kind == "done":
                parts, taken = payload
                demands = []
                if self.aws:
                    per_key: dict[str, float] = {}
                    for p in parts:  # a part's counting items on its key; every line's RUN roll-up on the run's
                        part_key, run_key = f"hot{p.file}#{p.part if keys > 1 else 0}", f"hot{p.file}#0"
                        per_key[part_key] = per_key.get(part_key, 0.0) + p.messages * m * wru["part_key"]
                        per_key[run_key] = per_key.get(run_key, 0.0) + p.messages * m * wru["run_key"]
                    lines = taken * m
                    demands = [("ProcessedLogsTable", lines * wru["ProcessedLogsTable"]),
                               ("LogBatchesTable", lines * wru["LogBatchesTable"])]
                    demands += [(key, units) for key, units in per_key.items() if units]
                wait = max([buckets[name].wait(now) for name, _ in demands] or [0.0])
                if wait > retry:  # throttled past the app's retries: the messages come back after the timeout
                    at(now + retry, "failed", parts, taken)
                else:
                    for name, units in demands:
                        buckets[name].take(now, units)
                    at(now + wait, "stored", parts, taken)
            elif kind == "stored":
                parts, taken = payload
                state["in_flight"] -= taken
                state["busy"] -= 1
                state["stored"] += taken
                last_stored_at = now
                start_batches(now)
            elif kind == "failed":
                parts, taken = payload
                state["in_flight"] -= taken
                state["busy"] -= 1
                state["failed"] += 1
                for p in parts:
                    p.receives += 1
                    if p.receives >= max_receives:
                        state["dlq"] += p.messages
                    else:
                        state["in_flight"] += p.messages  # invisible until the timeout
                        at(now + visibility, "visible", p)
                start_batches(now)
            elif kind == "visible":
                (p,) = payload
                state["in_flight"] -= p.messages
                queue.append(p)
                state["available"] += p.messages
                start_batches(now)
            if not samples or now - samples[-1][0] >= 60:
                samples.append((now, state["stored"], state["available"] + state["in_flight"], state["dlq"],
                                state["allowed"]))
            if finished():
                break
        end = last_stored_at if self.horizon is None else now
        steady = None  # over the last half hour of a run cut at its horizon (the first burst drained by then)
        tail = [sample for sample in samples if sample[0] >= end - STEADY_WINDOW]
        if self.horizon is not None and len(tail) >= 2 and tail[-1][0] > tail[0][0]:
            steady = (tail[-1][1] - tail[0][1]) * m / (tail[-1][0] - tail[0][0])
        return {"files": self.files, "lines_per_file": self.lines_per_file, "lines_per_message": m,
                "readers_per_file": readers, "keys_per_file": keys, "planning_seconds": planning,
                "split_lines": sum(split) * m, "stored_lines": state["stored"] * m,
                "queued_lines": (state["available"] + state["in_flight"]) * m, "dlq_lines": state["dlq"] * m,
                "seconds": end, "lines_per_second": state["stored"] * m / end if end else 0.0,
                "steady_lines_per_second": steady, "batches": state["batches"], "failed_batches": state["failed"],
                "handovers": handovers, "stuck_files": stuck, "group": k, "peak_concurrency": state["allowed"],
                "first_message_at": first_message_at,
                "timeline": [{"t": t, "stored_lines": s * m, "queued_lines": q * m, "dlq_lines": d * m,
                              "concurrency": c} for t, s, q, d, c in samples]}


# --- the emulator check --------------------------------------------------------------------------------------------

def emulator_prediction(cpu: dict, measurement: dict, stage_name: str = "dev") -> dict:
    """Lines/s the model predicts for a `make bench` run, fed that run's measured latencies (and this repo's
    CPU figures), beside what the run measured."""
    stage = load_stage(stage_name, cpu)
    platform = emulator_platform(measurement)
    m = int(measurement["lines_per_message"])
    # The worker's calls per batch as that run made them (the meter's counts; the app may have changed since
    # bench-cpu counted them): DynamoDB's calls are the worker's, but for the splitter's few run writes.
    cpu = json.loads(json.dumps(cpu))
    worker = cpu["handlers"][f"process_log_lines/{m}lpm"]
    lines_per_batch = worker["batch_messages"] * m
    per_thousand = measurement["figures"]["requests_per_1000_lines"]
    worker["calls_per_batch"] = {api: n * lines_per_batch / 1000 for api, n in per_thousand.items()
                                 if api.startswith("DynamoDB:")}
    model = Model(cpu, stage, platform, Levers(lines_per_message=m))
    # The upload (a PutObject) and the runner's receive of its S3 notification come before the first split.
    start = platform.latency("S3:PutObject") + platform.latency("SQS:ReceiveMessage")
    result = LogSimulation(model, 1, int(measurement["lines"]), start_delay=start, group=1).run()
    return {"predicted_lines_per_second": result["lines_per_second"], "measured_lines_per_second":
            measurement["lines_per_second"], "ratio": result["lines_per_second"] / measurement["lines_per_second"],
            "simulation": {k: v for k, v in result.items() if k != "timeline"}}


# --- the report -------------------------------------------------------------------------------------------------------

def log_report(model: Model, files: int, gz: bool = False, simulate: bool = True) -> dict:
    one_gib_lines = int(GIB / model.bytes_per_line())
    report: dict[str, Any] = {}
    for label, count in (("one file", 1), (f"{files} files", files)):
        ceilings = model.log_ceilings(count, GIB, gz)
        name, rate = bottleneck(ceilings)
        readers, keys = model.split_plan(GIB, gz)
        planning = model.planning_seconds(GIB, readers) if keys > 1 else 0.0
        starts = HANDOVER_SECONDS if readers > 1 else 0.0  # parts 1.. start from their start messages
        entry = {"ceilings": ceilings, "bottleneck": name, "sustained_lines_per_second": rate,
                 "parts_per_upload": readers, "planning_seconds": planning,
                 "analytic_seconds_for_1_gib": planning + starts + one_gib_lines * count / rate}
        if simulate:
            if count == 1:
                sim = LogSimulation(model, 1, one_gib_lines, gz=gz).run()
                entry["simulated"] = sim
                entry["simulated_seconds_for_1_gib"] = sim["seconds"]
            else:
                sim = LogSimulation(model, count, one_gib_lines, gz=gz, horizon=MANY_FILES_HORIZON).run()
                entry["simulated"] = sim
        report[label] = entry
    report["lines_in_1_gib"] = one_gib_lines
    report["cost_per_million_lines"] = model.log_costs()
    report["warm_throughput"] = warm_throughput_cost(model.stage)
    return report


def fmt_seconds(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    if seconds >= 60:
        return f"{seconds / 60:.1f} min"
    return f"{seconds:.0f} s"


def print_log_report(report: dict, title: str) -> None:
    print(f"\n== {title} ==")
    for label in [k for k in report if k not in ("lines_in_1_gib", "cost_per_million_lines", "warm_throughput")]:
        entry = report[label]
        print(f"{label}: sustained {entry['sustained_lines_per_second']:,.0f} lines/s, bottleneck: {entry['bottleneck']}"
              f"; {entry['parts_per_upload']} part(s) per 1 GiB upload"
              + (f", planned in {entry['planning_seconds']:.1f} s" if entry["planning_seconds"] else ""))
        for name, rate in sorted(entry["ceilings"].items(), key=lambda kv: kv[1]):
            print(f"    {rate:14,.0f} lines/s  {name}")
        sim = entry.get("simulated")
        if sim and "simulated_seconds_for_1_gib" in entry:
            print(f"  1 GiB ({report['lines_in_1_gib']:,} lines): analytic {fmt_seconds(entry['analytic_seconds_for_1_gib'])}, "
                  f"simulated {fmt_seconds(sim['seconds'])} ({sim['lines_per_second']:,.0f} lines/s, "
                  f"{sim['handovers']} hand-overs, peak concurrency {sim['peak_concurrency']:.0f}, "
                  f"DLQ {sim['dlq_lines']:,} lines)")
        elif sim:
            steady = sim["steady_lines_per_second"]
            print(f"  simulated {fmt_seconds(MANY_FILES_HORIZON)} of {sim['files']} × 1 GiB arriving at once: "
                  f"{sim['stored_lines']:,} lines stored ({steady or sim['lines_per_second']:,.0f} lines/s over the "
                  f"last {fmt_seconds(STEADY_WINDOW)}), "
                  f"{sim['queued_lines']:,} queued, {sim['dlq_lines']:,} in the DLQ, "
                  f"{sim['failed_batches']:,} throttled batches")
    costs = report["cost_per_million_lines"]
    print("  $ per million lines: " + ", ".join(f"{k} ${v:.3f}" for k, v in costs.items() if k != "total")
          + f"; total ${costs['total']:.2f}")
    warm = report.get("warm_throughput") or {}
    if warm.get("tables"):
        print("  WarmThroughput (the stage's infra.warm_throughput): " + ", ".join(
            f"{t} {u['write']:,} WRU/s" for t, u in warm["tables"].items())
              + f"; paid once per increase: ${warm['one_time_dollars']:,.2f} ({warm['price']})")


def print_requests(model: Model, kind: str) -> dict:
    ceilings = model.request_ceilings(kind)
    name, rate = bottleneck(ceilings)
    backend = {k: v for k, v in ceilings.items() if not k.startswith(("API stage", "API Gateway"))}
    backend_name, backend_rate = bottleneck(backend)
    print(f"\n== {kind}: {rate:,.0f} requests/s, bottleneck: {name}; behind the API: {backend_rate:,.0f}/s "
          f"({backend_name}) ==")
    for n, r in sorted(ceilings.items(), key=lambda kv: kv[1]):
        print(f"    {r:14,.0f} /s  {n}")
    mix = model.mix.get(kind, {})
    if mix:
        print(f"  write units per {mix['unit']} by the meter: " + ", ".join(
            f"{t} {u:.2f}" for t, u in mix["write_units"].items()) + f" = {sum(mix['write_units'].values()):.2f}")
    variants = {k.split("/", 1)[1]: v for k, v in model.mix.items() if k.startswith(f"{kind}/")}
    for variant, figures in variants.items():
        print(f"  {variant} ({figures.get('lever', 'a variant')}), by the meter on the same flow: " + ", ".join(
            f"{t} {u:.2f}" for t, u in figures["write_units"].items())
              + f" = {sum(figures['write_units'].values()):.2f} WRU per {figures['unit']}")
    return {"ceilings": ceilings, "bottleneck": name, "requests_per_second": rate,
            "behind_the_api": {"bottleneck": backend_name, "requests_per_second": backend_rate},
            "write_units": mix.get("write_units", {}),
            "variants": {v: f["write_units"] for v, f in variants.items()}}


# The stage as shipped, and each of its levers taken back (or a hypothetical one added), for docs/capacity.md
# (`make capacity CAPACITY_ARGS=--lever-table`). (name, levers, lines per message, .gz uploads).
LOG_SCENARIOS = [
    ("the stage as shipped", [], 1, False),
    ("10 lines per message (setting)", [], 10, False),
    ("one reader per upload (LOG_SPLIT_MAX_PARTS=1)", ["max_parts=1"], 1, False),
    ("splitter and continuations at 128 MB (as before)", ["memory:split_log_upload=128",
                                                          "memory:continue_log_split=128"], 1, False),
    ("8 sends in flight (the code before)", ["send_in_flight=8"], 1, False),
    ("log workers at 512 MB (as before)", ["memory:process_log_lines=512"], 1, False),
    ("log workers' MaximumConcurrency 10 (as before)", ["max_concurrency:process_log_lines=10"], 1, False),
    ("continuations' MaximumConcurrency 2 (as before)", ["max_concurrency:continue_log_split=2"], 1, False),
    ("no WarmThroughput (a new table's 4,000 WRU/s)", ["warm:ProcessedLogsTable=4000",
                                                       "warm:LogBatchesTable=4000"], 1, False),
    ("1 WRU per line (lines not packed)", ["log_wru_per_line=1.0"], 1, False),
    ("+ table quota 250,000 WRU/s (AWS request)", ["table_quota=250000", "warm:ProcessedLogsTable=250000"], 1, False),
    (".gz upload (one reader)", [], 1, True),
    (".gz upload, resumable continuation (hypothetical)", ["resumable_gz=1"], 1, True),
]
INVOICE_SCENARIOS = [
    ("the stage as shipped", []),
    ("ingester and continuations at 256 MB (as before)", ["memory:ingest_invoice_upload=256",
                                                          "memory:continue_invoice_ingest=256"]),
    ("ingester and continuations at 1,024 MB", ["memory:ingest_invoice_upload=1024",
                                                "memory:continue_invoice_ingest=1024"]),
    ("+ WarmThroughput 40,000 WRU/s on InvoicesTable and its index (setting)", ["warm:InvoicesTable=40000"]),
]


def lever_table(cpu: dict, stage: Stage, files: int, customers: int) -> dict:
    rows: dict[str, Any] = {"logs": [], "invoices": []}
    print(f"| lever (stage {stage.name}) | one file, sustained: lines/s (bottleneck) | 1 GiB, simulated | {files} files: "
          f"lines/s (bottleneck) | $ per M lines |")
    print("| --- | --- | --- | --- | --- |")
    for name, pairs, m, gz in LOG_SCENARIOS:
        model = Model(cpu, stage, AWS, Levers.parse(pairs, m))
        one_name, one = bottleneck(model.log_ceilings(1, GIB, gz))
        many_name, many = bottleneck(model.log_ceilings(files, GIB, gz))
        sim = LogSimulation(model, 1, int(GIB / model.bytes_per_line()), gz=gz).run()
        cost = model.log_costs()["total"]
        print(f"| {name} | {one:,.0f} ({one_name.split(' (')[0]}) | {fmt_seconds(sim['seconds'])} "
              f"({sim['lines_per_second']:,.0f} lines/s) | {many:,.0f} ({many_name.split(' (')[0]}) | ${cost:.2f} |")
        rows["logs"].append({"name": name, "levers": pairs, "lines_per_message": m, "gz": gz,
                             "one_file": one, "one_file_bottleneck": one_name, "one_gib_seconds": sim["seconds"],
                             "many_files": many, "many_files_bottleneck": many_name, "cost_per_million_lines": cost})
    print(f"\n| lever | one upload: rows/s (bottleneck) | {files} uploads: rows/s (bottleneck) |")
    print("| --- | --- | --- |")
    for name, pairs in INVOICE_SCENARIOS:
        model = Model(cpu, stage, AWS, Levers.parse(pairs))
        one_name, one = bottleneck(model.invoice_ceilings(1, customers))
        many_name, many = bottleneck(model.invoice_ceilings(files, customers))
        print(f"| {name} | {one:,.0f} ({one_name.split(' (')[0]}) | {many:,.0f} ({many_name.split(' (')[0]}) |")
        rows["invoices"].append({"name": name, "levers": pairs, "one_upload": one, "one_upload_bottleneck": one_name,
                                 "many_uploads": many, "many_uploads_bottleneck": many_name})
    return rows


def targets(result: dict, files: int) -> dict:
    """Issue 22's targets against this run's figures (one file and 1 GiB simulated when the simulation ran)."""
    logs = result["logs"]
    one, many = logs["one file"], logs[f"{files} files"]
    gib = one.get("simulated_seconds_for_1_gib", one["analytic_seconds_for_1_gib"])
    cost = logs["cost_per_million_lines"]["total"]
    invoice = result["invoices"]["one upload"]["rows_per_second"]
    invoice_wru = sum(result.get("invoice_write_units", {}).values())
    order_wru = sum(result["orders"]["write_units"].values())
    rows = {
        "one file, sustained": (one["sustained_lines_per_second"] >= 50_000,
                                f"{one['sustained_lines_per_second']:,.0f} lines/s", ">= 50,000 lines/s"),
        "1 GiB": (gib <= 300, fmt_seconds(gib), "<= 5 min"),
        f"{files} files at once": (many["sustained_lines_per_second"] >= 200_000,
                                   f"{many['sustained_lines_per_second']:,.0f} lines/s", ">= 200,000 lines/s"),
        "$ per million lines": (cost <= 0.80 + 1e-9, f"${cost:.3f}", "<= $0.80"),
        "invoices, one upload": (invoice >= 2000, f"{invoice:,.0f} rows/s", ">= 2,000 rows/s"),
        "invoice write units": (0 < invoice_wru <= 2.0 + 1e-9, f"{invoice_wru:.2f} WRU/row", "<= 2 WRU/row"),
        "order write units": (0 < order_wru <= 6.0 + 1e-9, f"{order_wru:.2f} WRU/order", "<= 6 WRU/order"),
    }
    return {name: {"met": bool(met), "value": value, "target": target} for name, (met, value, target) in rows.items()}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--stage", default="prod")
    parser.add_argument("--cpu", type=Path, help="bench-cpu's JSON (default build/bench/cpu.json, else the "
                                                 "recorded benchmarks/measurements/cpu.json)")
    parser.add_argument("--files", type=int, default=50, help="uploads at once for the 'across files' figures")
    parser.add_argument("--customers", type=int, default=5, help="distinct customers in an invoice file")
    parser.add_argument("--lines-per-message", type=int, default=1)
    parser.add_argument("--lever", action="append", default=[], help="NAME=VALUE, over the stage's own: "
                        "memory:<function>=MB, max_concurrency:<function>=N, warm:<Table>=WRU, part_bytes=N, "
                        "max_parts=N, send_in_flight=N, put_in_flight=N (settings and constants); split_ranges=N "
                        "(readers on one key), hot_key_spread=N, worker_cpu_factor=F, resumable_gz=1, "
                        "log_wru_per_line=F, table_quota=N, invoice_ranges=N (hypothetical)")
    parser.add_argument("--gz", action="store_true", help="the uploads are .gz")
    parser.add_argument("--no-simulation", action="store_true")
    parser.add_argument("--lever-table", action="store_true", help="the design levers' table (docs/capacity.md)")
    parser.add_argument("--json", type=Path, default=OUT)
    parser.add_argument("--config", type=Path, help="another .chalice/config.json for the stage (e.g. an older "
                        "commit's, `git show <commit>:.chalice/config.json`): its settings beside today's code")
    args = parser.parse_args()
    recorded = load_cpu(args.cpu)
    cpu = with_todays_code(recorded)
    stage = load_stage(args.stage, cpu, args.config)
    if args.lever_table:
        rows = lever_table(cpu, stage, args.files, args.customers)
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.with_name("capacity-levers.json").write_text(json.dumps(rows, indent=2, default=str) + "\n")
        return 0
    levers = Levers.parse(args.lever, args.lines_per_message)
    model = Model(cpu, stage, AWS, levers)
    print(f"inputs: CPU {cpu['_path']} ({cpu['machine']['cpu']}); stage {stage.name} ({args.config or '.chalice/config.json'}); "
          f"MaximumConcurrency: {stage.maximum_concurrency_source}; levers: {args.lever or 'none'}")
    if cpu["_changed"]:
        print("in-flight limits changed in the code since that run (today's used): " + ", ".join(
            f"{name} {was} -> {now}" for name, (was, now) in cpu["_changed"].items()))
    print(f"byte ranges: a plain upload over {model.stage.part_bytes / (1 << 20):,.0f} MiB is split by "
          f"min({model.stage.max_parts}, ceil(size / that)) readers (LOG_SPLIT_PART_BYTES, LOG_SPLIT_MAX_PARTS)"
          + (f"; {model.stage.lines_per_item} lines per item (LOG_LINES_PER_ITEM)" if model.stage.lines_per_item else "")
          + ("" if "split_plan" in cpu["handlers"] else "; the planning pass's CPU is not in this CPU file "
             "(make bench-cpu): its reads alone are modelled"))
    print("memory: " + ", ".join(f"{f.name} {f.memory_mb} MB ({f.vcpu:.3f} vCPU)" for f in model.stage.functions.values()
                                 if f.name in ("split_log_upload", "process_log_lines", "ingest_invoice_upload",
                                               "process_orders", "process_product_queue", "api_handler")))
    print(f"assumed AWS latencies (ms): {AWS_LATENCY_MS}; hand-over {HANDOVER_SECONDS} s")
    result: dict[str, Any] = {"stage": stage.name, "levers": args.lever, "lines_per_message": args.lines_per_message,
                              "cpu_json": cpu["_path"], "config": str(args.config or ".chalice/config.json"),
                              "latency_ms": AWS_LATENCY_MS, "in_flight": model.par,
                              "code_changed_since_cpu_json": cpu["_changed"]}
    logs = log_report(model, args.files, args.gz, simulate=not args.no_simulation)
    print_log_report(logs, f"log lines at {args.lines_per_message} line(s) per message"
                     + (" (.gz uploads)" if args.gz else ""))
    result["logs"] = logs
    doubled = Model(cpu, stage, AWS.scaled(2), levers)
    slow = {label: bottleneck(doubled.log_ceilings(n)) for label, n in (("one file", 1), ("files", args.files))}
    print("  with every AWS latency doubled: " + "; ".join(f"{label} {rate:,.0f} lines/s" for label, (_, rate) in slow.items()))
    result["logs_latency_doubled"] = {label: rate for label, (_, rate) in slow.items()}
    per_row = model.invoice_seconds_per_row()
    invoices = {"one upload": model.invoice_ceilings(1, args.customers),
                f"{args.files} uploads": model.invoice_ceilings(args.files, args.customers)}
    print(f"\n== invoices: one upload {1 / per_row:,.0f} rows/s ({per_row * 1000:.2f} ms per row at "
          f"{model.fn('ingest_invoice_upload').memory_mb} MB) ==")
    for label, ceilings in invoices.items():
        name, rate = bottleneck(ceilings)
        print(f"  {label}: {rate:,.0f} rows/s, bottleneck: {name}")
    mix = model.mix.get("invoices", {})
    result["invoice_write_units"] = mix.get("write_units", {})
    if mix:
        print("  write units per row by the meter: " + ", ".join(f"{t} {u:.3f}" for t, u in mix["write_units"].items())
              + f" = {sum(mix['write_units'].values()):.2f}")
    result["invoices"] = {label: {"ceilings": c, "bottleneck": bottleneck(c)[0], "rows_per_second": bottleneck(c)[1]}
                          for label, c in invoices.items()}
    result["orders"] = print_requests(model, "orders")
    result["products"] = print_requests(model, "products")
    result["targets"] = targets(result, args.files)
    print(f"\n== issue 22's targets (stage {stage.name}, {args.lines_per_message} line(s) per message) ==")
    for name, target in result["targets"].items():
        print(f"  {'met    ' if target['met'] else 'NOT MET'}  {name}: {target['value']} (target {target['target']})")
    checks = []
    for path in sorted(MEASUREMENTS.glob("emulator-log-*.json")):
        prediction = emulator_prediction(recorded, json.loads(path.read_text()))
        checks.append({"measurement": path.name, **prediction})
    if checks:
        print("\n== the model fed the emulator's measured latencies, beside the emulator's measured throughput ==")
        for check in checks:
            print(f"  {check['measurement']}: predicted {check['predicted_lines_per_second']:,.0f} lines/s, measured "
                  f"{check['measured_lines_per_second']:,.0f} ({check['ratio'] - 1:+.0%})")
    result["emulator_checks"] = checks
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2, sort_keys=True, default=str) + "\n")
    print(f"\nfigures written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
