"""How to keep a user's log pattern from hanging a worker: a time budget, or RE2? Measured, not guessed.

A user-defined format (chalicelib/logbatch/parsing/user.py) is a regex run
on every line of every upload. Python's `re` backtracks: `(a|aa)+$` on 40
`a`s and a `b` runs for minutes, and one such line would hold a worker until
Lambda kills it, then the message would be redelivered into the same wall.
The candidates:

1. `re` under a time budget (SIGALRM interrupts `re`: its matcher checks for
   signals), which only works on the main thread;
2. the `regex` package's `timeout=` (any thread), backtracking up to the budget;
3. RE2 (`google-re2`), which never backtracks: time linear in the line's length.

This prints, for each: CPU per line on realistic patterns (grok expansions of
three formats, on lines that match and lines that do not), and wall time on
catastrophic ones. The figures behind the choice are in docs/log-formats.md.

    python -m benchmarks.regex_engines
"""
import signal
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import re  # noqa: E402

from chalicelib.logbatch.parsing.grok import expand  # noqa: E402
from chalicelib.logbatch.parsing.user import Matcher  # noqa: E402

BUDGET_SECONDS = 0.05  # what a per-line budget would have to be: 100 lines a message, a 60 s Lambda, room to spare
REALISTIC = [
    ("%{TIMESTAMP_ISO8601:time} %{LOGLEVEL:level} \\[%{DATA:component}\\] %{GREEDYDATA:message}",
     "2026-11-20 10:00:01,123 ERROR [checkout] payment 991 declined: card expired",
     "Nov 20 10:00:11 web-1 shop[77]: payment 991 declined"),
    (("%{IPORHOST:client} - %{USER:user} \\[%{HTTPDATE:time}\\] \"%{WORD:method} %{URIPATHPARAM:path} HTTP/%{NUMBER}\" "
      "%{INT:status:int} %{INT:bytes}"),
     '192.0.2.1 - alice [20/Nov/2026:10:00:08 +0000] "GET /products?page=2 HTTP/1.1" 200 512',
     "2026-11-20 10:00:01 INFO [Api] Response sent: 200 OK (12ms)"),
    ("%{SYSLOGTIMESTAMP:time} %{HOSTNAME:host} %{SYSLOGPROG:program}: %{GREEDYDATA:message}",
     "Nov 20 10:00:11 ip-172-31-5-10 systemd[1]: Started Session 42 of User ubuntu.",
     '{"time": "2026-11-20T10:00:06Z", "level": "error", "msg": "upstream down"}'),
]
CATASTROPHIC = r"(?P<message>(a|aa)+)$"


def cpu_per_call(match, lines: list[str], repeat: int = 20_000) -> float:
    best = float("inf")
    for _ in range(5):
        started = time.process_time()
        for _ in range(repeat):
            for line in lines:
                match(line)
        best = min(best, time.process_time() - started)
    return best / (repeat * len(lines)) * 1e6


def groups(match) -> dict | None:
    return match.groupdict() if match else None


class OverBudget(Exception):
    pass


def with_alarm(pattern, line: str, seconds: float):
    """`re` under SIGALRM: what a budget on Python's own engine would be."""
    def expire(*_):
        raise OverBudget()
    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        return pattern.match(line)
    except OverBudget:
        return None
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def wall(call) -> float:
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


def main() -> int:
    import regex
    import re2
    options = re2.Options()
    options.log_errors = False
    print(f"per-line CPU, realistic grok patterns (matching and non-matching lines), budget {BUDGET_SECONDS} s:")
    totals = {"re": 0.0, "re + SIGALRM budget": 0.0, "regex timeout=": 0.0, "re2": 0.0, "re2 Matcher": 0.0}
    for grok, good, bad in REALISTIC:
        pattern, _ = expand(grok)
        python_pattern = pattern.replace(r"[\pL\pN_]+", r"\w+")  # `re` has no \pL; its \w is Unicode already
        compiled_re, compiled_regex, compiled_re2 = re.compile(python_pattern), regex.compile(python_pattern), \
            re2.compile(pattern, options=options)
        # Each call ends with the named groups' texts, as a format needs them.
        figures = {
            "re": cpu_per_call(lambda line, c=compiled_re: groups(c.match(line)), [good, bad]),
            "re + SIGALRM budget": cpu_per_call(
                lambda line, c=compiled_re: groups(with_alarm(c, line, BUDGET_SECONDS)), [good, bad], repeat=2_000),
            "regex timeout=": cpu_per_call(
                lambda line, c=compiled_regex: groups(c.match(line, timeout=BUDGET_SECONDS)), [good, bad]),
            "re2": cpu_per_call(lambda line, c=compiled_re2: groups(c.match(line)), [good, bad]),
            "re2 Matcher": cpu_per_call(Matcher(compiled_re2), [good, bad]),  # byte spans: how the worker calls it
        }
        for name, figure in figures.items():
            totals[name] += figure / len(REALISTIC)
        print(f"  {grok[:60]:62} " + "  ".join(f"{n}: {f:5.2f} µs" for n, f in figures.items()))
    print("  mean: " + "  ".join(f"{n}: {f:5.2f} µs" for n, f in totals.items()))

    print(f"\ncatastrophic pattern {CATASTROPHIC} on 'a' * n + 'b' (wall time of one line):")
    backtracking = re.compile(CATASTROPHIC)
    times = {n: wall(lambda n=n: backtracking.match("a" * n + "b")) for n in (24, 26, 28, 30)}
    for n, seconds in times.items():
        print(f"  re, no budget, n={n}: {seconds:.3f} s")
    growth = (times[30] / times[24]) ** (1 / 6)
    print(f"  re grows x{growth:.2f} a character: n=40 would take ~{times[30] * growth ** 10:.0f} s, "
          f"n=60 ~{times[30] * growth ** 30 / 86400:.0f} days")
    line = "a" * 40 + "b"
    print(f"  re + SIGALRM {BUDGET_SECONDS} s, n=40: {wall(lambda: with_alarm(backtracking, line, BUDGET_SECONDS)):.3f} s")
    in_thread = []

    def try_alarm_in_thread():
        try:
            with_alarm(backtracking, "a", BUDGET_SECONDS)
            in_thread.append("works")
        except ValueError as error:
            in_thread.append(f"refused: {error}")
    worker = threading.Thread(target=try_alarm_in_thread)
    worker.start()
    worker.join()
    print(f"  re + SIGALRM on a worker thread (as `make run` invokes handlers): {in_thread[0]}")
    compiled_regex = regex.compile(CATASTROPHIC)

    def regex_budget():
        try:
            compiled_regex.match(line, timeout=BUDGET_SECONDS)
        except TimeoutError:
            pass
    print(f"  regex timeout={BUDGET_SECONDS}, n=40: {wall(regex_budget):.3f} s until TimeoutError")
    compiled_re2 = re2.compile(CATASTROPHIC, options=options)
    for n in (40, 1_000, 250_000):
        print(f"  re2, n={n}: {wall(lambda n=n: compiled_re2.match('a' * n + 'b')) * 1e3:.3f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
