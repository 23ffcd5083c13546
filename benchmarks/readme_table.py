"""The README's log benchmark table, rendered from the JSON the benchmark wrote (so no figure is typed by hand).

    .venv/bin/python -m benchmarks.readme_table build/bench/log_pipeline-1lpm.json build/bench/log_pipeline-10lpm.json
"""
import json
import sys


def _join(pairs: dict, digits: int) -> str:
    return ", ".join(f"{name} {value:.{digits}f}" for name, value in sorted(pairs.items(), key=lambda p: -p[1]) if value)


def table(results: list[dict]) -> str:
    header = "| figure | " + " | ".join(f"{r['lines_per_message']} line(s) per message" for r in results) + " |"
    rows = [header, "| --- |" + " --- |" * len(results)]

    def row(label: str, cell) -> None:
        rows.append(f"| {label} | " + " | ".join(cell(r) for r in results) + " |")

    row("lines", lambda r: f"{r['lines']:,} ({r['bytes'] / 1e6:.1f} MB)")
    row("end to end (emulator-bound)", lambda r: f"{r['lines_per_second']:,.0f} lines/s ({r['seconds']:.0f} s)")
    row("emulator ceilings, same run", lambda r: f"SQS {r['ceilings']['sqs']['messages_per_second']:,.0f} msg/s, "
        f"BatchWriteItem {r['ceilings']['batch_write']['items_per_second']:,.0f} items/s")
    row("pipeline / ceiling", lambda r: f"{r['ratios']['of_sqs_ceiling']:.0%} of SQS, "
        f"{r['ratios']['of_batch_write_ceiling']:.0%} of BatchWriteItem")
    row("messages sent (checked)", lambda r: f"{r['messages_to_log_queue']:,}")
    row("requests per 1,000 lines", lambda r: _join(
        {k: v for k, v in r["figures"]["requests_per_1000_lines"].items() if not k.endswith("GetQueueUrl")}, 1))
    row("write units per line, by table", lambda r: _join(
        {k: v for k, v in r["figures"]["write_units_per_line"].items() if "/" not in k}, 3))
    row("LogBatchesTable units per line, by item", lambda r: _join(
        {kind.split(" ", 1)[1]: sum(ops.values()) for kind, ops in
         r["figures"]["table_write_units_per_line_by_item_kind"].items() if kind.startswith("LogBatchesTable")}, 4))
    row("index write units per line", lambda r: _join(  # the meter names an index `table/index`
        {k: v for k, v in r["figures"]["write_units_per_line"].items() if "/" in k}, 3) or "0 (no index is written)")
    row("read units per line (hot path)", lambda r: _join(r["figures"]["read_units_per_line"], 4) or "0")
    row("cost per million lines", lambda r: f"**${r['figures']['cost_per_million_lines_usd']['total']:.2f}**: " + ", ".join(
        f"{k} ${v:.3f}" for k, v in r["figures"]["cost_per_million_lines_usd"].items() if k != "total"))
    return "\n".join(rows)


if __name__ == "__main__":
    print(table([json.load(open(path)) for path in sys.argv[1:]]))
