"""The capacity model (benchmarks/capacity.py) on fixed inputs: its arithmetic, never this machine's timings."""
import json
from pathlib import Path

import pytest

from benchmarks import capacity
from benchmarks.capacity import (AWS, GIB, LAMBDA_MB_PER_VCPU, NEW_TABLE_WRU, PARTITION_WRU,
                                 S3_MB_PER_SECOND_PER_CONNECTION, Function, Levers, LogSimulation, Model, Stage,
                                 bottleneck, emulator_prediction, load_cpu, load_stage)

MEASUREMENTS = Path(capacity.__file__).resolve().parent / "measurements"


def inputs(split_us=10.0, worker_us=10.0, wru=1.0, batches_wru=0.0, hot_wru=0.0, worker_cap=1000,
           continuation_cap=1000, memory=LAMBDA_MB_PER_VCPU):
    """A CPU file and a stage written here: fast handlers unless a test says otherwise."""
    cpu = {
        "handlers": {
            "split_log_upload/1lpm": {"cpu_us_per_line": {"median": split_us}, "lines": 1000, "bytes": 100_000},
            "process_log_lines/1lpm": {"cpu_us_per_line": {"median": worker_us}, "batch_messages": 100,
                                       "calls_per_batch": {"DynamoDB:BatchWriteItem": 4, "DynamoDB:UpdateItem": 3,
                                                           "DynamoDB:PutItem": 1}},
            "gunzip_skip": {"cpu_us_per_mb": 1000.0},
        },
        "parallelism": {"sqs_send_in_flight": 8, "batch_write_in_flight": 4, "conditional_put_in_flight": 16,
                        "log_count_threads": 8, "invoice_write_chunk_rows": 100, "log_chunk_lines": 100,
                        "log_section_chunks": 100},
        "request_mix": {"log/1lpm": {
            "write_units": {"ProcessedLogsTable": wru, "LogBatchesTable": batches_wru + hot_wru},
            "write_units_by_item_kind": {"LogBatchesTable C": batches_wru, "LogBatchesTable S": hot_wru}}},
        "table_names": {},
        "event_sources": {"process_log_lines": {"batch_size": 100, "window_seconds": 1}},
    }
    functions = {
        "split_log_upload": Function("split_log_upload", memory, 300),
        "continue_log_split": Function("continue_log_split", memory, 300, 1, 0.0, continuation_cap),
        "process_log_lines": Function("process_log_lines", memory, 60, 100, 1.0, worker_cap),
    }
    stage = Stage("test", functions, 50.0, 100, {"process_log_lines": 5})
    return cpu, stage


def conserved(result):
    return result["split_lines"] == result["stored_lines"] + result["queued_lines"] + result["dlq_lines"]


def test_one_vcpu_per_1769_mb_and_no_more_than_one_for_python():
    assert Function("f", 128, 60).vcpu == pytest.approx(128 / 1769)
    assert Function("f", 1769, 60).vcpu == 1.0
    assert Function("f", 4096, 60).vcpu == 1.0


def test_a_splitter_is_bound_by_its_cpu_share_or_its_sends():
    cpu, stage = inputs(split_us=100.0, memory=177)  # 0.1 vCPU: 1 ms a line
    model = Model(cpu, stage, AWS)
    assert model.split_rate() == pytest.approx(1 / (100e-6 / (177 / 1769)))
    cpu, stage = inputs(split_us=0.001)  # free CPU: 8 sends of 10 messages in flight, 20 ms each
    assert Model(cpu, stage, AWS).split_rate() == pytest.approx(8 * 10 / 0.020)


def test_conservation_through_throttling_redelivery_and_the_dlq():
    # Far more workers than a cold table serves: batches fail past the retries, come back, some reach the DLQ.
    cpu, stage = inputs(wru=1.0)
    stage.max_receive_count["process_log_lines"] = 2
    model = Model(cpu, stage, AWS, Levers(split_ranges=50))
    result = LogSimulation(model, 4, 2_000_000, horizon=1500.0).run()
    assert result["failed_batches"] > 0 and result["dlq_lines"] > 0
    assert conserved(result)
    cut = LogSimulation(model, 4, 2_000_000, horizon=500.0).run()  # stopped with lines still on the queue
    assert cut["queued_lines"] > 0 and cut["stored_lines"] > 0
    assert conserved(cut)
    finished = LogSimulation(Model(*inputs(), AWS), 2, 30_000).run()
    assert conserved(finished) and finished["stored_lines"] == 60_000 and finished["dlq_lines"] == 0


def test_a_hot_key_throttles_at_its_partitions_limit():
    # 0.1 WRU per line on the run's own partition key: 1,000 WCU/s / 0.1 = 10,000 lines/s, whatever else.
    # Twenty workers ask for more than that; the app's retries absorb the waits (nothing fails).
    cpu, stage = inputs(wru=0.0001, hot_wru=0.1, worker_cap=20)
    model = Model(cpu, stage, AWS, Levers(split_ranges=20, warm_wru={"ProcessedLogsTable": 40_000,
                                                                     "LogBatchesTable": 40_000}))
    name, rate = bottleneck(model.log_ceilings(1))
    assert "partition key" in name and rate == pytest.approx(PARTITION_WRU / 0.1)
    result = LogSimulation(model, 1, 3_000_000).run()
    assert result["lines_per_second"] == pytest.approx(10_000, rel=0.05)
    assert result["dlq_lines"] == 0 and conserved(result)


def test_a_cold_table_caps_at_its_limit():
    # A new on-demand table: 4,000 WRU/s until it has been busy for 30 minutes; 1 WRU a line; twenty workers.
    cpu, stage = inputs(wru=1.0, worker_cap=20)
    model = Model(cpu, stage, AWS, Levers(split_ranges=5))
    name, rate = bottleneck(model.log_ceilings(1))
    assert name.startswith("ProcessedLogsTable") and rate == NEW_TABLE_WRU
    result = LogSimulation(model, 1, 4_000_000, horizon=1200.0).run()
    assert result["steady_lines_per_second"] == pytest.approx(NEW_TABLE_WRU, rel=0.05)
    assert conserved(result)
    # WarmThroughput lifts it; the workers are then what binds.
    warm = Model(cpu, stage, AWS, Levers(split_ranges=5, warm_wru={"ProcessedLogsTable": 20_000}))
    assert bottleneck(warm.log_ceilings(1))[1] > NEW_TABLE_WRU


def test_an_on_demand_table_doubles_its_peak_every_half_hour():
    cpu, stage = inputs(wru=1.0, worker_cap=20)
    model = Model(cpu, stage, AWS, Levers(split_ranges=5))
    result = LogSimulation(model, 1, 40_000_000, horizon=3000.0, group=5).run()
    late = [s for s in result["timeline"] if s["t"] >= 2000]
    rate = (late[-1]["stored_lines"] - late[0]["stored_lines"]) / (late[-1]["t"] - late[0]["t"])
    assert rate == pytest.approx(2 * NEW_TABLE_WRU, rel=0.05)


def test_the_sqs_trigger_ramps_by_300_a_minute_from_5():
    cpu, stage = inputs(worker_us=100_000.0)  # 10 s a batch: concurrency, not the table, binds
    result = LogSimulation(Model(cpu, stage, AWS, Levers(split_ranges=50)), 1, 2_000_000, horizon=65.0,
                           group=1).run()
    assert result["peak_concurrency"] == pytest.approx(5 + 6 * 50)


def test_continuations_are_capped_across_uploads():
    cpu, stage = inputs(split_us=1000.0, memory=1769, continuation_cap=2)
    model = Model(cpu, stage, AWS)
    name, rate = bottleneck(model.log_ceilings(10))
    assert name.startswith("splitter (2 of 10 readers") and rate == pytest.approx(2 * 1000)


def test_a_gz_continuation_that_cannot_reach_its_offset_is_stuck():
    cpu, stage = inputs(split_us=1.0, memory=177)
    cpu["handlers"]["split_log_upload/1lpm.gz"] = {"cpu_us_per_line": {"median": 1.0}}
    cpu["handlers"]["gunzip_skip"]["cpu_us_per_mb"] = 100_000.0  # 0.1 s a MB at 1 vCPU, 1 s at 0.1 vCPU
    model = Model(cpu, stage, AWS)
    result = LogSimulation(model, 1, 10_000_000, gz=True).run()
    assert result["stuck_files"] == [0] and result["split_lines"] < 10_000_000
    resumable = Model(cpu, stage, AWS, Levers(resumable_gz=True))
    assert LogSimulation(resumable, 1, 10_000_000, gz=True).run()["stored_lines"] == 10_000_000


@pytest.mark.parametrize("name", sorted(p.name for p in MEASUREMENTS.glob("emulator-log-*.json")))
def test_fed_the_emulators_latencies_it_reproduces_the_emulators_throughput(name):
    measurement = json.loads((MEASUREMENTS / name).read_text())
    prediction = emulator_prediction(load_cpu(MEASUREMENTS / "cpu.json"), measurement)
    assert prediction["ratio"] == pytest.approx(1.0, abs=0.20)
    assert prediction["simulation"]["stored_lines"] == measurement["lines"]


def test_the_recorded_measurements_are_there():
    assert (MEASUREMENTS / "cpu.json").exists()
    assert len(list(MEASUREMENTS.glob("emulator-log-*.json"))) >= 2


# --- the stage's own levers: byte ranges, their keys and planning, WarmThroughput -----------------------------------

def parted(stage, part_bytes=64 << 20, max_parts=16):
    """The stage with the byte-range settings of LOG_SPLIT_PART_BYTES and LOG_SPLIT_MAX_PARTS."""
    from dataclasses import replace
    return replace(stage, part_bytes=part_bytes, max_parts=max_parts)


def test_an_upload_is_planned_into_parts_by_its_size_and_the_stages_settings():
    cpu, stage = inputs()
    model = Model(cpu, parted(stage), AWS)
    assert model.split_plan(GIB) == (16, 16)                 # 1 GiB / 64 MiB: 16 parts, each on its own key
    assert model.split_plan(100 << 20) == (2, 2)
    assert model.split_plan(64 << 20) == (1, 1)              # not over the part size: one reader
    assert model.split_plan(GIB, gz=True) == (1, 1)          # a gzip stream has no byte entry points
    assert Model(cpu, parted(stage, max_parts=4), AWS).split_plan(GIB) == (4, 4)
    assert Model(cpu, stage, AWS).split_plan(GIB) == (1, 1)  # a stage that plans no parts


def test_planning_reads_the_object_at_s3s_rate_per_connection_or_counts_at_its_cpu_whichever_is_slower():
    cpu, stage = inputs()
    model = Model(cpu, parted(stage), AWS)
    connections = cpu["parallelism"]["plan_in_flight"] = 8
    reads = GIB / 1e6 / (S3_MB_PER_SECOND_PER_CONNECTION * connections) + AWS.latency("S3:GetObject")
    assert model.planning_seconds(GIB, 16) == pytest.approx(reads)
    assert model.planning_seconds(GIB, 1) == 0.0  # nothing planned for one reader
    cpu["handlers"]["split_plan"] = {"cpu_us_per_mb": {"median": 20_000.0}}  # 20 ms a MB at one vCPU: 21 s
    assert model.planning_seconds(GIB, 16) == pytest.approx(GIB / 1e6 * 0.020)


def test_a_1_gib_upload_in_p_parts_takes_its_planning_and_a_pth_of_one_readers_time():
    # The splitter binds (1 ms a line at one vCPU; warm tables, no hot key, many workers): P readers side by side.
    cpu, stage = inputs(split_us=1000.0, continuation_cap=1000)
    cpu["parallelism"]["plan_in_flight"] = 8
    warm = Levers(warm_wru={"ProcessedLogsTable": 40_000, "LogBatchesTable": 40_000})
    lines = int(GIB / 100)  # the CPU file's 100 bytes a line
    one = LogSimulation(Model(cpu, stage, AWS, warm), 1, lines, file_bytes=GIB).run()
    model = Model(cpu, parted(stage), AWS, warm)
    sixteen = LogSimulation(model, 1, lines, file_bytes=GIB).run()
    assert one["readers_per_file"] == 1 and sixteen["readers_per_file"] == 16
    planning = model.planning_seconds(GIB, 16)
    assert sixteen["planning_seconds"] == planning > 0
    expected = planning + one["seconds"] / 16
    assert sixteen["seconds"] == pytest.approx(expected, rel=0.10)
    assert sixteen["stored_lines"] == lines and conserved(sixteen)
    # and the analytic part says the same of the splitter's ceiling: 16 readers at once
    name, rate = bottleneck(model.log_ceilings(1))
    assert name.startswith("splitter (16 of 16 readers") and rate == pytest.approx(16 * 1000)


def test_a_gz_upload_stays_one_part():
    cpu, stage = inputs(split_us=1000.0)
    cpu["handlers"]["split_log_upload/1lpm.gz"] = {"cpu_us_per_line": {"median": 1000.0}}
    model = Model(cpu, parted(stage), AWS, Levers(warm_wru={"ProcessedLogsTable": 40_000}))
    result = LogSimulation(model, 1, 200_000, gz=True, file_bytes=GIB).run()
    assert result["readers_per_file"] == 1 and result["planning_seconds"] == 0.0
    assert bottleneck(model.log_ceilings(1, gz=True))[1] == pytest.approx(1000)


def test_each_parts_counting_items_are_on_a_key_of_their_own():
    # 0.1 WRU a line on the counting items (S, P), none on RUN: one key caps an upload at 10,000 lines/s;
    # 16 parts on 16 keys at 160,000; the split_ranges lever's readers all share the run's key.
    cpu, stage = inputs(wru=0.0001, hot_wru=0.1)
    assert bottleneck({k: v for k, v in Model(cpu, parted(stage), AWS).log_ceilings(1).items()
                       if "partition key" in k})[1] == pytest.approx(16 * PARTITION_WRU / 0.1)
    shared = Model(cpu, stage, AWS, Levers(split_ranges=16)).log_ceilings(1)
    assert min(v for k, v in shared.items() if "partition key" in k) == pytest.approx(PARTITION_WRU / 0.1)
    # the RUN item stays on the run's key, whatever the parts
    cpu["request_mix"]["log/1lpm"]["write_units_by_item_kind"]["LogBatchesTable RUN"] = 0.01
    assert Model(cpu, parted(stage), AWS).hot_key_wru(16) == pytest.approx(0.1 / 16 + 0.01)


def test_a_table_with_warm_throughput_starts_at_it():
    cpu, stage = inputs(wru=1.0, worker_cap=20)
    stage.warm_wru["ProcessedLogsTable"] = 12_000
    model = Model(cpu, stage, AWS, Levers(split_ranges=5))
    name, rate = bottleneck(model.log_ceilings(1))
    assert name.startswith("ProcessedLogsTable (12,000 WRU/s") and rate == 12_000
    result = LogSimulation(model, 1, 4_000_000, horizon=600.0).run()  # well within the first 30 minutes
    assert result["steady_lines_per_second"] == pytest.approx(12_000, rel=0.05)
    assert conserved(result)


def test_the_stage_gives_the_model_its_warm_throughput_caps_memory_and_parts():
    from infra.stage import Stage as ChaliceStage
    cpu = load_cpu(MEASUREMENTS / "cpu.json")
    prod = ChaliceStage.load("prod")
    stage = load_stage("prod", cpu)
    assert stage.warm_wru == {t: u["write"] for t, u in prod.settings.warm_throughput.items() if "write" in u}
    for function in ("split_log_upload", "continue_log_split", "process_log_lines"):
        assert stage.functions[function].memory_mb == prod.function_setting(function, "lambda_memory_size")
    assert stage.functions["continue_log_split"].max_concurrency == prod.settings.sqs_concurrency("continue_log_split")
    # LOG_SPLIT_PART_BYTES and LOG_SPLIT_MAX_PARTS as the app reads them on the stage (its defaults where unset)
    assert (stage.part_bytes, stage.max_parts) == (capacity.app_setting(prod, "log_split_part_bytes", 1 << 62),
                                                   capacity.app_setting(prod, "log_split_max_parts", 1))


def test_the_targets_are_judged_on_the_runs_figures():
    logs = {"one file": {"sustained_lines_per_second": 60_000, "analytic_seconds_for_1_gib": 400.0,
                         "simulated_seconds_for_1_gib": 290.0},
            "50 files": {"sustained_lines_per_second": 199_999},
            "cost_per_million_lines": {"total": 0.80}}
    result = {"logs": logs, "invoices": {"one upload": {"rows_per_second": 2000}},
              "invoice_write_units": {"InvoicesTable": 1.0, "InvoicesTable/customer-index": 1.0},
              "orders": {"write_units": {"OrdersTable": 3.0, "OrdersTable/pending-index-v2": 3.5}}}
    judged = {name: t["met"] for name, t in capacity.targets(result, 50).items()}
    assert judged == {"one file, sustained": True, "1 GiB": True,  # the simulated time, not the analytic one
                      "50 files at once": False, "$ per million lines": True, "invoices, one upload": True,
                      "invoice write units": True, "order write units": False}
