"""CPU per line of `parse_line` over a mixed log file: the figure issue 23 must not make worse.

Parsing runs once per uploaded line inside the worker's Lambda, so a slower
parser is a dearer line. This times `parse_line` on the process's own CPU
clock (not the wall clock: the machine is shared) over two mixes and prints
the best of several rounds in microseconds per line:

- `known`: lines in the formats recognised before issue 23 (tests/logfiles.py),
  one in six a line no parser knows;
- `new`: the layouts issue 23 adds (tests/fixtures/logs/*.log), which used to
  go through every parser and end `unparsed`.

    python -m benchmarks.parse_cpu                       # the working tree's parser
    git show <rev>:chalicelib/logbatch/parsing.py > /tmp/old_parsing.py
    python -m benchmarks.parse_cpu --parser /tmp/old_parsing.py   # a single-file parser of an earlier revision

Figures are for comparison on one machine, run after run; no test asserts on them.
"""
import argparse
import importlib
import importlib.util
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
FIXTURES = PROJECT_DIR / "tests" / "fixtures" / "logs"
RECEIVED = datetime(2026, 11, 20, 12, 0, tzinfo=timezone.utc)


def known_mix() -> list[str]:
    sys.path.insert(0, str(PROJECT_DIR))
    from tests.logfiles import ACCESS_LINES, APP_LINES, ERROR_LINES, FORMAT_SAMPLES, JSON_LINES
    lines = APP_LINES + JSON_LINES + ACCESS_LINES + ERROR_LINES + [line for _, line in FORMAT_SAMPLES]
    return lines + ["free text that no parser knows"] * (len(lines) // 5)


def new_mix() -> list[str]:
    return [line for path in sorted(FIXTURES.glob("*.log")) for line in path.read_text().splitlines() if line]


def load_parser(path: str | None):
    if path is None:
        return importlib.import_module("chalicelib.logbatch.parsing").parse_line
    spec = importlib.util.spec_from_file_location("parser_under_test", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.parse_line


def microseconds_per_line(parse, lines: list[str], rounds: int, repeat: int) -> float:
    best = float("inf")
    for _ in range(rounds):
        started = time.process_time()
        for _ in range(repeat):
            for line in lines:
                parse(line, RECEIVED)
        best = min(best, time.process_time() - started)
    return best / (repeat * len(lines)) * 1e6


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.parse_cpu")
    parser.add_argument("--parser", help="a parsing.py file to time instead of chalicelib.logbatch.parsing")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--repeat", type=int, default=200)
    args = parser.parse_args(argv)
    parse = load_parser(args.parser)
    for name, lines in (("known", known_mix()), ("new", new_mix())):
        figure = microseconds_per_line(parse, lines, args.rounds, args.repeat)
        print(f"{name:6} {len(lines):4} lines  {figure:6.2f} µs CPU per line (best of {args.rounds})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
