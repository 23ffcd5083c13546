"""Formats users define (LOG_FORMATS): grok and named-group regexes on RE2, time formats, levels, key prefixes;
a bad setting refused with the format named (by the worker and by infra); a catastrophic pattern cannot hang."""
import json
import re
import threading
from datetime import datetime, timezone
from pathlib import Path

import pytest
import re2
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.logbatch.parsing import BadLogFormat, load_formats, parse_line
from chalicelib.logbatch.parsing.grok import LIBRARY, GrokError, expand
from chalicelib.logbatch.parsing.user import BUILT_IN_NAMES, Matcher, compile_pattern

RECEIVED = datetime(2026, 11, 20, 12, 0, tzinfo=timezone.utc)
DOCS = Path(__file__).resolve().parents[2] / "docs" / "log-formats.md"
CHECKOUT = {"name": "checkout",
            "grok": "%{TIMESTAMP_ISO8601:time} %{LOGLEVEL:level} \\[%{DATA:component}\\] %{GREEDYDATA:message}"}


def one(definition: dict):
    return load_formats(json.dumps([definition])).default[0]


# --- grok ---------------------------------------------------------------------------------------------------

def test_the_issues_grok_example_parses_its_line():
    user_format = one({"name": "simple", "grok": "%{TIMESTAMP_ISO8601:time} %{LOGLEVEL:level} %{GREEDYDATA:message}"})
    parsed = user_format.parse("2026-11-20 10:00:01,250 WARN disk 91% full", RECEIVED)
    assert (parsed.format, parsed.timestamp, parsed.level, parsed.message) == \
        ("simple", "2026-11-20T10:00:01.250000Z", "WARN", "disk 91% full")


# A line each library pattern matches whole, so that a pattern broken by an edit fails here.
LIBRARY_SAMPLES = {
    "WORD": "héllo_1", "NOTSPACE": "a/b:c", "SPACE": "  ", "DATA": "any thing", "GREEDYDATA": "any thing",
    "QUOTEDSTRING": '"say \\"hi\\""', "QS": "'x'", "INT": "-42", "POSINT": "42", "NONNEGINT": "0", "NUMBER": "-4.5",
    "BASE10NUM": "3.", "BASE16NUM": "0x1F", "UUID": "550e8400-e29b-41d4-a716-446655440000", "USERNAME": "ana.c-1",
    "USER": "ana", "EMAILADDRESS": "ana@example.com", "JAVACLASS": "com.shop.Pay$Inner", "PROG": "sshd",
    "SYSLOGPROG": "sshd[1021]", "LOGLEVEL": "Warning", "IPV4": "192.0.2.1", "IPV6": "2001:db8::1", "IP": "::1",
    "HOSTNAME": "web-1.example.com", "IPORHOST": "192.0.2.1", "HOSTPORT": "example.com:8080",
    "MAC": "00:1a:2b:3c:4d:5e", "UNIXPATH": "/var/log/app.log", "WINPATH": "C:\\Windows\\Logs",
    "PATH": "/tmp/x", "URIPROTO": "https", "URIHOST": "example.com:443", "URIPATH": "/a/b.html",
    "URIPARAM": "?q=1&r=2", "URIPATHPARAM": "/a?q=1", "URI": "https://ana@example.com:8443/a/b?q=1",
    "MONTH": "November", "MONTHNUM": "7", "MONTHNUM2": "07", "MONTHDAY": "31", "DAY": "Tuesday", "YEAR": "2026",
    "HOUR": "23", "MINUTE": "59", "SECOND": "59.999", "TIME": "10:00:01", "DATE_US": "11/20/2026",
    "DATE_EU": "20.11.2026", "DATE": "11/20/2026", "DATESTAMP": "11/20/2026 10:00:01", "ISO8601_TIMEZONE": "+05:30",
    "TIMESTAMP_ISO8601": "2026-11-20T10:00:01.5Z", "SYSLOGTIMESTAMP": "Nov  2 06:25:01",
    "HTTPDATE": "20/Nov/2026:10:00:08 +0000", "EPOCH": "1700000000.25",
}


@pytest.mark.parametrize("name", sorted(LIBRARY))
def test_every_library_pattern_compiles_in_re2_and_matches_its_sample(name):
    regex, _ = expand(f"%{{{name}:value}}")
    assert re2.fullmatch(regex, LIBRARY_SAMPLES[name]) is not None


def test_the_library_documented_is_the_library_in_force():
    documented = set(re.findall(r"^\| `([A-Z0-9_]+)` \|", DOCS.read_text(), re.MULTILINE))
    assert documented == set(LIBRARY)


def test_a_format_adds_patterns_of_its_own_and_types_a_field():
    user_format = one({"name": "orders", "grok": "%{ORDER:order} took %{INT:millis:int}ms %{GREEDYDATA:message}",
                       "patterns": {"ORDER": "ORD-%{POSINT}"}})
    parsed = user_format.parse("ORD-991 took 12ms then shipped", RECEIVED)
    assert parsed.details == {"order": "ORD-991", "millis": 12} and parsed.timestamp is None


@pytest.mark.parametrize("pattern, problem", [
    ("%{NOPE:x}", "unknown pattern %{NOPE}"),
    ("%{INT:x:float}", "malformed reference"),
    ("%{SELF:x}", "refers to itself"),
])
def test_grok_errors_say_what_is_wrong(pattern, problem):
    with pytest.raises(GrokError, match=re.escape(problem)):
        expand(pattern, {"SELF": "a%{SELF}"})


# --- what a format fills ----------------------------------------------------------------------------------------

def test_named_groups_fill_the_record_and_the_rest_goes_in_details():
    user_format = one({"name": "gateway", "regex": r"(?P<client>\S+) (?P<method>[A-Z]+) (?P<path>\S+) (?P<status>\d{3}) "
                                                   r"(?P<bytes>\d+|-) (?P<route>\S+) (?P<msg>.*)"})
    parsed = user_format.parse("192.0.2.9 GET /orders/7 503 120 orders-v2 upstream timed out", RECEIVED)
    assert (parsed.client, parsed.method, parsed.path, parsed.status_code, parsed.bytes_sent, parsed.message) == \
        ("192.0.2.9", "GET", "/orders/7", 503, 120, "upstream timed out")
    assert parsed.details == {"route": "orders-v2"} and parsed.level is None


def test_a_format_brings_its_own_level_words():
    user_format = one({"name": "pos", "regex": r"(?P<level>[A-Z!]+) (?P<message>.*)", "levels": {"E!": "ERROR"}})
    assert user_format.parse("E! printer jammed", RECEIVED).level == "ERROR"
    assert user_format.parse("WARNING paper low", RECEIVED).level == "WARN"  # the words normalise_level knows
    assert user_format.parse("CHATTY hello", RECEIVED).level == "UNKNOWN"


@pytest.mark.parametrize("time_format, written, expected", [
    ("auto", "2026-11-20T10:00:01+02:00", "2026-11-20T08:00:01Z"),
    ("auto", "20/Nov/2026:10:00:08 +0000", "2026-11-20T10:00:08Z"),
    ("epoch", "1700000000.5", "2023-11-14T22:13:20.500000Z"),
    ("epoch_ms", "1700000000500", "2023-11-14T22:13:20.500000Z"),
    ("%d.%m.%Y %H:%M:%S", "20.11.2026 10:00:01", "2026-11-20T10:00:01Z"),
    ("%d/%b/%Y:%H:%M:%S %z", "20/Nov/2026:10:00:08 -0300", "2026-11-20T13:00:08Z"),
    ("%b %d %H:%M:%S", "Dec 31 23:59:59", "2025-12-31T23:59:59Z"),  # no year: syslog's rule (reference Nov 2026)
    ("%m-%d %H:%M:%S", "02-29 08:00:00", "2024-02-29T08:00:00Z"),  # only a leap year has it
])
def test_time_formats(time_format, written, expected):
    user_format = one({"name": "timed", "regex": r"(?P<time>[^|]+)\|(?P<message>.*)", "time_format": time_format})
    received = RECEIVED if "%b %d" not in time_format else datetime(2026, 1, 5, tzinfo=timezone.utc)
    assert user_format.parse(f"{written}|x", received).timestamp == expected


def test_a_time_the_format_cannot_read_is_not_that_format():
    formats = load_formats(json.dumps([{"name": "eu", "regex": r"(?P<time>\S+ \S+) (?P<message>.*)",
                                        "time_format": "%d.%m.%Y %H:%M:%S"}])).default
    assert parse_line("31.02.2026 10:00:01 Feb 31", RECEIVED, formats).format == "unparsed"
    assert parse_line("2026-11-20 10:00:01 INFO [Auth] ok", RECEIVED, formats).format == "app"  # built-ins next


def test_user_formats_come_before_the_built_in_ones():
    formats = load_formats(json.dumps([CHECKOUT])).default
    line = "2026-11-20 10:00:01 INFO [Auth] ok"
    assert parse_line(line, RECEIVED).format == "app"
    assert parse_line(line, RECEIVED, formats).format == "checkout"
    assert parse_line("not for it", RECEIVED, formats).format == "unparsed"


def test_key_prefixes_override_the_stages_formats():
    formats = load_formats(json.dumps({
        "formats": [CHECKOUT, {"name": "pos", "regex": r"POS (?P<message>.*)"}],
        "by_prefix": {"stores/": ["pos"], "stores/legacy/": [], "web/": ["checkout"]}}))
    assert [f.name for f in formats.for_key("app/x.log")] == ["checkout", "pos"]
    assert [f.name for f in formats.for_key("stores/7/x.log")] == ["pos"]
    assert [f.name for f in formats.for_key("stores/legacy/x.log")] == []  # the longest prefix wins
    assert [f.name for f in formats.for_key(None)] == ["checkout", "pos"]
    assert load_formats(None).for_key("x") == () and load_formats("  ").for_key("x") == ()


# --- refused, with the format named ---------------------------------------------------------------------------

@pytest.mark.parametrize("setting, problem", [
    ("{not json", "LOG_FORMATS is not JSON"),
    ('{"formats": [], "other": 1}', "must be a list of formats"),
    ([{"name": "Bad Name", "regex": "(?P<x>.)"}], "name must be"),
    ([{"name": "json", "regex": "(?P<x>.)"}], "'json' is a built-in format's name"),
    ([{"name": "a", "regex": "(?P<x>.)", "time_fromat": "epoch"}], "log format 'a': unknown keys ['time_fromat']"),
    ([{"name": "a"}], "log format 'a': give one of grok or regex"),
    ([{"name": "a", "grok": "%{INT:x}", "regex": "(?P<x>.)"}], "log format 'a': give one of grok or regex"),
    ([{"name": "a", "grok": "%{NOPE:x}"}], "log format 'a': grok pattern '%{NOPE:x}': unknown pattern %{NOPE}"),
    ([{"name": "a", "regex": r"(?P<x>a)\1"}], "log format 'a': pattern '(?P<x>a)\\\\1': RE2 refuses it"),
    ([{"name": "a", "regex": r"(?P<x>a)(?=b)"}], "log format 'a'"),
    ([{"name": "a", "regex": "(?P<x>a"}], "RE2 refuses it: missing )"),
    ([{"name": "a", "regex": "abc"}], "log format 'a': pattern 'abc' captures nothing"),
    ([{"name": "a", "regex": "(?P<x>.)", "time_format": "%H:%M:%S"}], "needs a month"),
    ([{"name": "a", "regex": "(?P<x>.)", "time_format": "%d %m %Q"}], "is not a strptime format"),
    ([{"name": "a", "regex": "(?P<x>.)", "levels": {"E": "BAD"}}], "levels must map"),
    ([{"name": "a", "regex": "(?P<x>.)"}, {"name": "a", "regex": "(?P<y>.)"}], "log format 'a': defined twice"),
    ({"formats": [], "by_prefix": {"x/": ["ghost"]}}, "by_prefix 'x/' names undefined formats ['ghost']"),
    ([{"name": "a", "regex": "(?P<x>" + "a" * 5000 + ")"}], "1 to 4000 characters"),
    ([{"name": "a", "regex": "(?P<x>((a{100}){100}){100})"}], "RE2 refuses it"),  # over RE2's memory budget
])
def test_a_bad_setting_is_refused_naming_the_format_and_the_problem(setting, problem):
    text = setting if isinstance(setting, str) else json.dumps(setting)
    with pytest.raises(BadLogFormat) as refused:
        load_formats(text)
    assert problem in str(refused.value)


def test_every_built_in_format_name_is_reserved():
    from tests.logfiles import FORMAT_SAMPLES
    names = {parse_line(line, RECEIVED).format for _, line in FORMAT_SAMPLES} | {"app", "json", "access"}
    families = Path(__file__).resolve().parent.parent / "fixtures" / "logs"
    names |= {parse_line(line, RECEIVED).format for path in families.glob("*.log") for line in path.read_text().splitlines()}
    assert names <= BUILT_IN_NAMES


def test_infra_refuses_a_stage_with_a_bad_pattern_naming_it(monkeypatch):
    from infra.stage import Stage
    stage = Stage.load("dev")
    monkeypatch.setenv("LOG_FORMATS", json.dumps([{"name": "pos", "grok": "%{NOPE:x}"}]))
    with pytest.raises(SystemExit) as refused:
        stage.check_log_formats()
    assert "stage dev" in str(refused.value) and "log format 'pos'" in str(refused.value)
    with pytest.raises(SystemExit):  # `python -m infra package`/`deploy` and `make run` load the app through here
        stage.load_app()
    monkeypatch.setenv("LOG_FORMATS", json.dumps([CHECKOUT]))
    stage.check_log_formats()


def test_the_worker_refuses_a_bad_setting_when_it_starts(monkeypatch):
    from chalicelib.logbatch import service
    monkeypatch.setenv("LOG_FORMATS", json.dumps([{"name": "pos", "regex": "(?P<x>a)\\1"}]))
    service.reset()
    try:
        with pytest.raises(BadLogFormat, match="log format 'pos'"):
            service.log_worker()
    finally:
        monkeypatch.delenv("LOG_FORMATS")
        service.reset()


# --- RE2: fast path, and no hang ---------------------------------------------------------------------------------

@pytest.mark.parametrize("line", ["2026-11-20 10:00:01 ERROR [çà] héllo 😀", "2026-11-20 10:00:01 INFO [] x",
                                  "no match here", "", "2026-11-20 10:00:01 INFO [unclosed"])
@pytest.mark.parametrize("regex", [
    r"(?P<time>\S+ \S+) (?P<level>[A-Z]+) \[(?P<component>[^\]]*)\] (?P<message>.*)",
    r"(\S+) (?P<time>\S+)(?: (?P<absent>NEVER))? (?P<rest>.*)",  # an unnamed group first, an optional one unset
])
def test_the_byte_span_matcher_agrees_with_re2s_own_match(regex, line):
    compiled = compile_pattern(regex)
    matcher = Matcher(compiled)
    assert matcher._engine is not None  # the fast path is the one in use with the pinned google-re2
    own = compiled.match(line)
    assert matcher(line) == (own.groupdict() if own else None)


HANG_GUARD_SECONDS = 120


def test_a_catastrophic_pattern_cannot_hang_the_worker():
    # `re` would take longer than the universe has on this line; RE2 is linear. The guard is no speed figure
    # (benchmarks/regex_engines.py has those): it only keeps a backtracking engine from hanging the suite.
    formats = load_formats(json.dumps([{"name": "evil", "regex": "(?P<message>(a|aa)+)$"}])).default
    line = "a" * 200_000 + "b"
    results = []
    worker = threading.Thread(target=lambda: results.append(parse_line(line, RECEIVED, formats)), daemon=True)
    worker.start()
    worker.join(HANG_GUARD_SECONDS)
    assert not worker.is_alive(), "the user pattern is still running: it backtracks"
    assert results[0].format == "unparsed"
    assert parse_line("aaaa", RECEIVED, formats).format == "evil"


@settings(max_examples=300, deadline=None)
@given(line=st.text(st.characters(exclude_categories=()), max_size=120))
def test_no_line_makes_a_user_format_raise(line):
    formats = load_formats(json.dumps([CHECKOUT, {"name": "any", "regex": r"(?P<time>\S*) ?(?P<status>\d*)(?P<message>.*)",
                                                  "time_format": "%Y-%m-%d"}])).default
    parsed = parse_line(line, RECEIVED, formats)
    assert parsed.format in ("checkout", "any") or parsed == parse_line(line, RECEIVED)


def test_the_documented_example_setting_loads_and_parses_its_lines():
    text = DOCS.read_text()
    example = text[text.index("```json\n{\n  \"formats\"") + len("```json\n"):]
    formats = load_formats(example[:example.index("```")])
    assert [f.name for f in formats.for_key("stores/7/pos.log")] == ["pos-terminal"]
    parsed = parse_line("20.11.2026 10:00:01 192.0.2.9 GET /orders/7 503 upstream timed out", RECEIVED,
                        formats.for_key("web/gateway.log"))
    assert (parsed.format, parsed.timestamp, parsed.status_code, parsed.path) == \
        ("gateway", "2026-11-20T10:00:01Z", 503, "/orders/7")
