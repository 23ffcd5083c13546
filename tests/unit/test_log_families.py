"""The log families issue 23 added: Android logcat, Windows CBS, BlueGene/L and Thunderbird RAS, HPC event logs,
pipe-separated app logs, Proxifier, Spark and OpenStack. Lines written here and in tests/fixtures/logs/ (in
these systems' layouts, not copied from any collection); each family's file must come out timed, and levelled
where its lines carry a level."""
from datetime import datetime, timezone
from pathlib import Path

import pytest

from chalicelib.logbatch.parsing import parse_line

RECEIVED = datetime(2026, 11, 20, 12, 0, tzinfo=timezone.utc)
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "logs"
# family file -> (format, whether its lines carry a level)
FAMILIES = {"android": ("android", True), "windows_cbs": ("windows_cbs", True), "bgl": ("bgl", True),
            "thunderbird": ("thunderbird", False), "hpc": ("hpc", False), "pipe": ("pipe", False),
            "proxifier": ("proxifier", False), "spark": ("spark", True), "openstack": ("openstack", True)}


def lines_of(name: str) -> list[str]:
    return [line for line in (FIXTURES / f"{name}.log").read_text().splitlines() if line]


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_every_line_of_each_family_file_is_its_format_timed_and_levelled(name):
    expected_format, levelled = FAMILIES[name]
    parsed = [parse_line(line, RECEIVED) for line in lines_of(name)]
    assert len(parsed) >= 7
    assert [p.format for p in parsed] == [expected_format] * len(parsed)
    timed = sum(p.timestamp is not None for p in parsed)
    assert timed / len(parsed) >= 0.99
    if levelled:
        assert all(p.level in ("TRACE", "DEBUG", "INFO", "NOTICE", "WARN", "ERROR", "FATAL") for p in parsed)


# --- Android --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("letter, level", [("V", "TRACE"), ("D", "DEBUG"), ("I", "INFO"), ("W", "WARN"),
                                           ("E", "ERROR"), ("F", "FATAL"), ("A", "FATAL")])
def test_android_letters_are_canonical_levels(letter, level):
    parsed = parse_line(f"11-02 08:14:07.311  1204  1388 {letter} ActivityManager: something", RECEIVED)
    assert (parsed.format, parsed.level) == ("android", level)


def test_android_threadtime_fields():
    parsed = parse_line("11-02 08:14:08.100  4121  4121 F libc    : Fatal signal 11 (SIGSEGV)", RECEIVED)
    assert (parsed.timestamp, parsed.component, parsed.message) == \
        ("2026-11-02T08:14:08.100000Z", "libc", "Fatal signal 11 (SIGSEGV)")
    assert parsed.details == {"pid": 4121, "tid": 4121, "tag": "libc"}


def test_android_time_layout_and_year_layout():
    time_layout = parse_line("11-02 08:14:08.002 E/NotesSync( 4121): upload failed", RECEIVED)
    assert (time_layout.format, time_layout.level, time_layout.component, time_layout.details) == \
        ("android", "ERROR", "NotesSync", {"pid": 4121, "tag": "NotesSync"})
    year_layout = parse_line("2019-03-17 16:13:38.811  1702  2395 D WindowManager: x", RECEIVED)
    assert year_layout.timestamp == "2019-03-17T16:13:38.811000Z"


@pytest.mark.parametrize("stamp, received, year", [
    ("12-31 23:59:59.999", datetime(2027, 1, 3, tzinfo=timezone.utc), 2026),  # last year's, read in January
    ("11-20 11:00:00.000", RECEIVED, 2026),
    ("12-15 08:00:00.000", RECEIVED, 2026),  # a little ahead of the reference: skew, not a year ago
    ("02-29 08:00:00.000", datetime(2026, 3, 1, tzinfo=timezone.utc), 2024),  # only a leap year has it
])
def test_android_without_a_year_gets_syslogs_year(stamp, received, year):
    parsed = parse_line(f"{stamp}  1204  1388 I Tag: x", received)
    assert parsed.timestamp.startswith(f"{year}-")


@pytest.mark.parametrize("line", ["02-30 08:14:07.311  1204  1388 I Tag: Feb 30",
                                  "11-02 08:14:07.311  1204  1388 X Tag: no such letter",
                                  "11-02 08:14:07  1204  1388 I Tag: no milliseconds"])
def test_malformed_android_lines_are_not_android(line):
    assert parse_line(line, RECEIVED).format != "android"


# --- Windows CBS ---------------------------------------------------------------------------------------------

def test_windows_cbs_levels_component_and_message():
    info, warning, error = (parse_line(line) for line in lines_of("windows_cbs")[:1] + lines_of("windows_cbs")[6:9:2])
    assert (info.level, warning.level, error.level) == ("INFO", "WARN", "ERROR")
    assert (info.timestamp, info.component) == ("2016-09-28T04:30:30Z", "CBS")
    assert info.message.startswith("Loaded Servicing Stack v6.1.7601.23505")


def test_a_cbs_shaped_line_without_a_level_word_is_not_cbs():
    assert parse_line("2016-09-28 04:30:30, Banana                CBS    not a level").format != "windows_cbs"


# --- BlueGene/L and Thunderbird RAS -----------------------------------------------------------------------

@pytest.mark.parametrize("written, level", [("INFO", "INFO"), ("WARNING", "WARN"), ("SEVERE", "ERROR"),
                                            ("ERROR", "ERROR"), ("FATAL", "FATAL"), ("FAILURE", "FATAL")])
def test_bgl_levels(written, level):
    parsed = parse_line(f"- 1117838570 2005.06.03 R02-M1-N0-C:J12-U11 2005-06-03-15.42.50.675872 R02-M1-N0-C:J12-U11"
                        f" RAS KERNEL {written} something happened")
    assert (parsed.format, parsed.level) == ("bgl", level)


def test_bgl_time_is_the_epoch_in_utc_and_the_fields_are_details():
    parsed = parse_line(lines_of("bgl")[4])
    # 1118536327 is 2005-06-12 00:32:07 UTC; the node's clock wrote 17:32:07 (Pacific daylight time)
    assert (parsed.timestamp, parsed.level, parsed.component) == ("2005-06-12T00:32:07Z", "FATAL", "KERNEL")
    assert parsed.details == {"alert": "KERNDTLB", "node": "R30-M0-N9-C:J16-U01", "location": "R30-M0-N9-C:J16-U01",
                              "type": "RAS", "component": "KERNEL"}
    assert parsed.message == "data TLB error interrupt"


def test_an_implausible_epoch_leaves_the_written_time():
    parsed = parse_line(lines_of("bgl")[-1])
    assert parsed.timestamp == "2005-07-01T01:02:03.040506Z"


def test_an_unknown_ras_level_is_not_bgl():
    line = lines_of("bgl")[0].replace(" INFO ", " CHATTY ")
    assert parse_line(line).format != "bgl"


def test_thunderbird_lines():
    parsed = parse_line(lines_of("thunderbird")[0])
    assert (parsed.format, parsed.timestamp, parsed.level, parsed.component) == \
        ("thunderbird", "2005-11-09T20:01:01Z", None, "crond(pam_unix)")
    assert parsed.details == {"node": "dn228", "location": "dn228/dn228", "program": "crond(pam_unix)", "pid": 2915}
    alert = parse_line(lines_of("thunderbird")[3])
    assert alert.details["alert"] == "VAPI" and alert.message.startswith("[ib_sm_sweep.c:1831]")
    assert parse_line("- 1131566461 2005.11.09 dn228 Nov 9 12:01:01 dn228/dn228 app[1]: ERROR disk").level == "ERROR"


def test_thunderbird_without_a_plausible_epoch_takes_the_date_field_and_the_syslog_time():
    parsed = parse_line("- 12 2005.11.09 dn228 Nov 9 12:01:01 dn228/dn228 crond[2916]: tick")
    assert parsed.timestamp == "2005-11-09T12:01:01Z"


# --- HPC ---------------------------------------------------------------------------------------------------

def test_hpc_event_fields():
    parsed = parse_line(lines_of("hpc")[0])
    assert (parsed.format, parsed.timestamp, parsed.level, parsed.component) == \
        ("hpc", "2004-02-26T14:12:22Z", None, "unix.hw")
    assert parsed.details == {"log_id": 134681, "node": "node-246", "component": "unix.hw",
                              "state": "state_change.unavailable", "flag": 1}


def test_an_hpc_shaped_line_without_a_plausible_epoch_is_not_hpc():
    assert parse_line("134681 node-246 unix.hw state_change 0000001234 1 not a time").format != "hpc"


# --- pipe-separated -----------------------------------------------------------------------------------------

def test_pipe_separated_fields():
    parsed = parse_line(lines_of("pipe")[0])
    assert (parsed.format, parsed.timestamp, parsed.component, parsed.message) == \
        ("pipe", "2017-12-23T22:15:29.606000Z", "Step_LSC", "onStandStepChanged 3579")
    assert parsed.details == {"component": "Step_LSC", "pid": 30002312}
    assert parse_line(lines_of("pipe")[7]).level == "ERROR"


def test_a_pipe_message_keeps_its_own_pipes_and_iso_times_work():
    parsed = parse_line("2026-11-20T10:00:01.5Z|Checkout|42|order 7 | 3 items")
    assert (parsed.timestamp, parsed.component, parsed.message) == ("2026-11-20T10:00:01.500000Z", "Checkout",
                                                                   "order 7 | 3 items")
    assert parsed.details == {"component": "Checkout", "pid": 42}
    extra = parse_line("20171223-22:15:29:606|App|7|WARN|tag9|done here")
    assert (extra.level, extra.component, extra.message, extra.details) == \
        ("WARN", "App", "done here", {"component": "App", "pid": 7, "fields": "tag9"})


@pytest.mark.parametrize("line", ["20171223-22:15:29:606|only a message", "20171323-22:15:29:606|a|1|month 13"])
def test_what_is_not_a_pipe_record(line):
    assert parse_line(line).format != "pipe"


# --- Proxifier ------------------------------------------------------------------------------------------------

def test_proxifier_lines_get_a_year_and_an_error_level_only_for_errors():
    opened, failed = parse_line(lines_of("proxifier")[2], RECEIVED), parse_line(lines_of("proxifier")[3], RECEIVED)
    assert (opened.format, opened.timestamp, opened.level, opened.component) == \
        ("proxifier", "2026-10-30T16:49:07Z", None, "chrome.exe *64")
    assert opened.details == {"program": "chrome.exe *64", "target": "www.example.org:443"}
    assert failed.level == "ERROR"
    december = parse_line("[12.31 23:59:59] a.exe - h:1 close", datetime(2027, 1, 2, tzinfo=timezone.utc))
    assert december.timestamp == "2026-12-31T23:59:59Z"


# --- Spark and OpenStack ---------------------------------------------------------------------------------------

def test_spark_lines():
    parsed = parse_line(lines_of("spark")[3])
    assert (parsed.format, parsed.timestamp, parsed.level, parsed.component) == \
        ("spark", "2017-06-09T20:10:41Z", "WARN", "util.NativeCodeLoader")
    assert parse_line("99/12/31 23:59:59 INFO a.B: pivot").timestamp == "1999-12-31T23:59:59Z"
    assert parse_line("17/06/09 20:10:40 CHATTY a.B: not a level").format != "spark"


def test_openstack_lines_with_and_without_the_file_prefix():
    prefixed = parse_line(lines_of("openstack")[1])
    assert (prefixed.format, prefixed.timestamp, prefixed.level, prefixed.status_code, prefixed.component) == \
        ("openstack", "2017-05-16T00:00:03.432000Z", "INFO", 500, "nova.osapi_compute.wsgi.server")
    assert prefixed.details["file"] == "nova-api.log.1.2017-05-16_13:53:08"
    assert prefixed.details["request_id"] == "req-4c8d1c1a-1f0e-4b0e-9b4a-0c6f0c7e2d11"
    assert prefixed.message.startswith('10.11.10.1 "POST /v2/')
    bare = parse_line(lines_of("openstack")[-1])
    assert (bare.level, bare.component, bare.details) == ("FATAL", "nova", {"pid": 25746, "logger": "nova"})
