"""The log formats users upload besides the spec's: syslog, log4j-style, Hadoop, AWS access logs, the generic
fallback; W3C headers; and that no line, however broken, makes parse_line raise or yield an unstorable item."""
import re
import threading
from datetime import datetime, timedelta, timezone

import pytest
from boto3.dynamodb.types import TypeSerializer
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.logbatch import parsing
from chalicelib.logbatch.parsing import DETAIL_LIMIT, LEVELS, ParsedLine, is_header, normalise_level, parse_line
from tests.logfiles import FORMAT_SAMPLES

RECEIVED = datetime(2026, 11, 20, 12, 0, tzinfo=timezone.utc)
SAMPLE_LINES = [line for _, line in FORMAT_SAMPLES]


def storable_problems(parsed: ParsedLine, line: str = "") -> list[str]:
    """What DynamoDB (or the record's 400 KB) would refuse in the line's fields; empty when it takes them all.
    A lone surrogate in the line itself is in its raw text and message anyway (the file reader never makes one),
    so only `details` must be free of it then."""
    line_is_text = not re.search("[\ud800-\udfff]", line)
    fields = parsed.fields()
    TypeSerializer().serialize(fields)  # raises on a float or any type DynamoDB has none for
    problems = []
    for key, value in list(fields.items()) + [(f"details.{k}", v) for k, v in (fields.get("details") or {}).items()]:
        if isinstance(value, (bool, float)):
            problems.append(f"{key}: {type(value).__name__}")
        elif isinstance(value, int):
            if len(str(abs(value))) > 18:
                problems.append(f"{key}: {len(str(abs(value)))} digits")
        elif isinstance(value, str):
            if value == "" and key.startswith("details."):
                problems.append(f"{key}: empty")
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                if line_is_text or key.startswith("details."):
                    problems.append(f"{key}: lone surrogate")
            if key.startswith("details.") and len(value) > DETAIL_LIMIT:
                problems.append(f"{key}: {len(value)} characters")
        elif key != "details" or not isinstance(value, dict) or not value:
            problems.append(f"{key}: {value!r}")
    return problems


# --- one of each ----------------------------------------------------------------------------

@pytest.mark.parametrize("expected, line", FORMAT_SAMPLES, ids=[f"{f}-{i}" for i, (f, _) in enumerate(FORMAT_SAMPLES)])
def test_each_sample_is_recognised_as_its_format_with_a_storable_record(expected, line):
    parsed = parse_line(line, RECEIVED)
    assert parsed.format == expected
    assert parsed.timestamp is None or re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?Z", parsed.timestamp)
    assert parsed.level in (None, "TRACE", "DEBUG", "INFO", "NOTICE", "WARN", "ERROR", "FATAL")
    assert storable_problems(parsed) == []


def test_fields_carry_details_only_when_there_are_some_and_as_a_copy():
    alb = parse_line(FORMAT_SAMPLES[12][1])
    fields = alb.fields()
    fields["details"]["elb"] = "changed"
    assert alb.details["elb"] == "app/my-loadbalancer/50dc6c495c0c9188"  # the parsed line is not shared state
    assert "details" not in parse_line("2026-11-20 10:00:01 INFO [Auth] ok").fields()
    assert "details" not in ParsedLine("syslog", details={}).fields()
    hash(alb)  # frozen and hashable although details is a dict: a set of parsed lines must still work


def test_the_level_table_in_the_module_docstring_is_the_mapping_in_force():
    rows = re.findall(r"^\| ([a-z][a-z, ]+) \| ([A-Z]+) \|$", parsing.__doc__, re.MULTILINE)
    documented = {word: level for words, level in rows for word in words.split(", ")}
    assert documented == LEVELS


def test_the_pri_table_in_the_module_docstring_is_the_mapping_in_force():
    rows = re.findall(r"^\| ([\d, ]+) \| [a-z, ]+ \| ([A-Z]+) \|$", parsing.__doc__, re.MULTILINE)
    documented = {int(n): level for numbers, level in rows for n in numbers.split(", ")}
    assert documented == dict(enumerate(parsing.SYSLOG_SEVERITIES))


def test_java_logging_names_are_canonical_levels():
    assert [normalise_level(w) for w in ("FINEST", "FINER", "FINE", "SEVERE")] == ["TRACE", "TRACE", "DEBUG", "ERROR"]


# --- syslog ------------------------------------------------------------------------------------

def test_a_linux_syslog_line_gives_host_program_pid_and_no_level_without_pri():
    parsed = parse_line("Nov 20 10:00:11 ip-172-31-5-10 systemd[1]: Started Session 42 of User ubuntu.", RECEIVED)
    assert (parsed.format, parsed.timestamp, parsed.level, parsed.component, parsed.message) == \
        ("syslog", "2026-11-20T10:00:11Z", None, "systemd", "Started Session 42 of User ubuntu.")
    assert parsed.details == {"host": "ip-172-31-5-10", "program": "systemd", "pid": 1}


def test_a_space_padded_day_and_a_tag_without_pid():
    parsed = parse_line("Nov  2 06:25:01 web-1 kernel: [1234567.890123] EXT4-fs (nvme0n1p1): re-mounted", RECEIVED)
    assert parsed.timestamp == "2026-11-02T06:25:01Z" and parsed.details == {"host": "web-1", "program": "kernel"}
    assert parsed.message == "[1234567.890123] EXT4-fs (nvme0n1p1): re-mounted"


def test_without_pri_a_level_word_opening_the_message_is_the_level():
    assert parse_line("Nov 20 10:00:11 web-1 shop[77]: ERROR payment gateway down", RECEIVED).level == "ERROR"
    # further in, the word is part of what happened, not how bad it is
    assert parse_line("Nov 20 10:00:11 web-1 shop[77]: retry after ERROR earlier", RECEIVED).level is None


@pytest.mark.parametrize("pri, level, facility", [
    (0, "FATAL", 0), (1, "FATAL", 0), (2, "FATAL", 0), (3, "ERROR", 0), (4, "WARN", 0), (5, "NOTICE", 0),
    (6, "INFO", 0), (7, "DEBUG", 0), (34, "FATAL", 4), (86, "INFO", 10), (165, "NOTICE", 20), (191, "DEBUG", 23)])
def test_pri_gives_the_severity_and_facility(pri, level, facility):
    old = parse_line(f"<{pri}>Oct 11 22:14:15 mymachine su: 'su root' failed for lonvick on /dev/pts/8", RECEIVED)
    new = parse_line(f"<{pri}>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 - 'su root' failed", RECEIVED)
    assert (old.format, old.level, old.details["facility"]) == ("syslog", level, facility)
    assert (new.format, new.level, new.details["facility"]) == ("syslog5424", level, facility)


def test_pri_wins_over_a_level_word_in_the_message():
    assert parse_line("<14>Oct 11 22:14:15 web-1 shop: ERROR but only informational", RECEIVED).level == "INFO"


@pytest.mark.parametrize("line", ["<192>Oct 11 22:14:15 mymachine su: failed", "<999>Oct 11 22:14:15 mymachine su: x",
                                  "<999>1 2003-10-11T22:14:15.003Z host su - ID47 - failed"])
def test_a_pri_no_facility_has_is_not_syslog(line):
    assert parse_line(line, RECEIVED).format == "unparsed"


@pytest.mark.parametrize("stamp, received, year", [
    ("Dec 31 23:59:59", datetime(2026, 1, 5, tzinfo=timezone.utc), 2025),  # last year's lines read in January
    ("Nov 20 12:00:00", RECEIVED, 2026),  # exactly the reference time
    ("Jan  3 08:00:00", datetime(2025, 12, 28, tzinfo=timezone.utc), 2026),  # a little ahead: skew, not a year ago
    ("Feb 19 23:59:59", datetime(2026, 1, 20, tzinfo=timezone.utc), 2026),  # just within 31 days ahead
    ("Feb 20 00:00:01", datetime(2026, 1, 20, tzinfo=timezone.utc), 2025),  # just past them
    ("Feb 29 08:00:00", datetime(2026, 3, 1, tzinfo=timezone.utc), 2024),  # only a leap year has it
    # 20:00 UTC on Dec 31, although it is already Jan 1 at +05:00: Jan 31 21:00 is then more than 31 days ahead
    ("Jan 31 21:00:00", datetime(2026, 1, 1, 1, 0, tzinfo=timezone(timedelta(hours=5))), 2025),
])
def test_rfc3164_takes_the_latest_year_no_more_than_31_days_after_the_reference(stamp, received, year):
    parsed = parse_line(f"{stamp} web-1 cron[1]: tick", received)
    assert parsed.format == "syslog" and parsed.timestamp.startswith(f"{year}-")


def test_without_a_reference_the_year_is_the_current_one():
    now = datetime.now(timezone.utc)
    parsed = parse_line(f"{now:%b %d %H:%M:%S} web-1 cron[1]: tick")
    assert parsed.timestamp == f"{now:%Y-%m-%dT%H:%M:%S}Z"


@pytest.mark.parametrize("line", ["Feb 30 10:00:00 web-1 cron[1]: tick", "Nov 20 25:00:00 web-1 cron[1]: tick",
                                  "Foo 20 10:00:00 web-1 cron[1]: tick", "Nov 20 10:00:61 web-1 cron[1]: tick"])
def test_an_impossible_syslog_time_is_not_syslog(line):
    assert parse_line(line, RECEIVED).format == "unparsed"


def test_rsyslog_iso_times_are_syslog_without_a_year_to_guess():
    parsed = parse_line(FORMAT_SAMPLES[3][1], datetime(2001, 1, 1))
    assert (parsed.format, parsed.timestamp, parsed.component) == ("syslog", "2026-11-20T10:00:12.123456Z", "sshd")


def test_rfc5424_fields_nil_values_and_structured_data_as_text():
    parsed = parse_line(FORMAT_SAMPLES[4][1])
    assert (parsed.timestamp, parsed.level, parsed.component) == ("2003-10-11T22:14:15.003000Z", "NOTICE", "evntslog")
    assert parsed.message == "An application event log entry..."  # the BOM that says "UTF-8" is not text
    assert parsed.details == {"host": "mymachine.example.com", "program": "evntslog", "msgid": "ID47",
                              "facility": 20, "structured_data": '[exampleSDID@32473 iut="3" '
                                                                 'eventSource="Application" eventID="1011"]'}
    zoned = parse_line("<165>1 2003-08-24T05:14:15.000003-07:00 192.0.2.1 myproc 8710 - - %% It's time to make "
                       "the do-nuts.")
    assert zoned.timestamp == "2003-08-24T12:14:15.000003Z" and zoned.details["pid"] == 8710
    assert zoned.message == "%% It's time to make the do-nuts."


def test_rfc5424_without_time_or_message_and_with_escapes_in_structured_data():
    parsed = parse_line('<13>1 - host app - - [id@1 a="x\\"]y" b="2"][other@1 c="3"]')
    assert (parsed.format, parsed.timestamp, parsed.message) == ("syslog5424", None, None)
    assert parsed.details["structured_data"] == '[id@1 a="x\\"]y" b="2"][other@1 c="3"]'


@pytest.mark.parametrize("line", [
    "<34>1 2003-10-11T22:14:15.003Z mymachine su - ID47 [unclosed sd",
    "<34>1 2003-13-11T22:14:15.003Z mymachine su - ID47 - month 13",
    "<34>1 2003-10-11 22:14:15 mymachine su - ID47 - not RFC 3339",
])
def test_malformed_rfc5424_is_not_syslog(line):
    assert parse_line(line).format == "unparsed"


# --- log4j, logback, Spring Boot, Python logging ---------------------------------------------------

@pytest.mark.parametrize("line, expected", [
    ("2026-11-20 10:00:13,482 INFO  [main] org.apache.catalina.startup.Catalina - Server startup in 12 ms",
     ("2026-11-20T10:00:13.482000Z", "INFO", "org.apache.catalina.startup.Catalina", "Server startup in 12 ms",
      {"thread": "main", "logger": "org.apache.catalina.startup.Catalina"})),
    ("2015-10-18 18:01:47,978 INFO [main] org.apache.hadoop.mapreduce.v2.app.MRAppMaster: Created MRAppMaster",
     ("2015-10-18T18:01:47.978000Z", "INFO", "org.apache.hadoop.mapreduce.v2.app.MRAppMaster", "Created MRAppMaster",
      {"thread": "main", "logger": "org.apache.hadoop.mapreduce.v2.app.MRAppMaster"})),
    ("2026-11-20 10:00:15.007 [http-nio-8080-exec-1] ERROR c.e.shop.OrderController - Order 991 failed: timeout",
     ("2026-11-20T10:00:15.007000Z", "ERROR", "c.e.shop.OrderController", "Order 991 failed: timeout",
      {"thread": "http-nio-8080-exec-1", "logger": "c.e.shop.OrderController"})),
    ("2026-11-20 10:00:14.120  INFO 28123 --- [           main] c.e.shop.ShopApplication                 : "
     "Started ShopApplication in 3.112 seconds",
     ("2026-11-20T10:00:14.120000Z", "INFO", "c.e.shop.ShopApplication", "Started ShopApplication in 3.112 seconds",
      {"thread": "main", "logger": "c.e.shop.ShopApplication", "pid": 28123})),
    ("2026-11-20T10:00:14.120+01:00  WARN 28123 --- [shop] [nio-8080-exec-4] o.s.web.servlet.PageNotFound     : "
     "No mapping for GET /favicon.ico",
     ("2026-11-20T09:00:14.120000Z", "WARN", "o.s.web.servlet.PageNotFound", "No mapping for GET /favicon.ico",
      {"thread": "nio-8080-exec-4", "logger": "o.s.web.servlet.PageNotFound", "pid": 28123, "app": "shop"})),
    ("2026-11-20 10:00:16,301 - shop.payments - WARNING - Retrying capture, attempt 2",
     ("2026-11-20T10:00:16.301000Z", "WARN", "shop.payments", "Retrying capture, attempt 2",
      {"logger": "shop.payments"})),
    ("2026-11-20 10:00:16,301 - CRITICAL - disk full - cannot write",
     ("2026-11-20T10:00:16.301000Z", "FATAL", None, "disk full - cannot write", None)),
    ("2026-11-20 10:00:17,000 [ERROR] shop.mailer: SMTP connection refused",
     ("2026-11-20T10:00:17Z", "ERROR", "shop.mailer", "SMTP connection refused", {"logger": "shop.mailer"})),
    ("2026-11-20 10:00:18,250 myapp.area1  DEBUG    Quick zephyrs blow, vexing daft Jim.",
     ("2026-11-20T10:00:18.250000Z", "DEBUG", "myapp.area1", "Quick zephyrs blow, vexing daft Jim.",
      {"logger": "myapp.area1"})),
    ("2026-11-20 10:00:19 INFO  Foo:42 - cache warmed",
     ("2026-11-20T10:00:19Z", "INFO", "Foo:42", "cache warmed", {"logger": "Foo:42"})),
    ("2026-11-20 10:00:20,001 INFO     worker started",
     ("2026-11-20T10:00:20.001000Z", "INFO", None, "worker started", None)),
])
def test_log4j_logback_spring_and_python_layouts(line, expected):
    parsed = parse_line(line)
    assert parsed.format == "log4j"
    assert (parsed.timestamp, parsed.level, parsed.component, parsed.message, parsed.details) == expected


@pytest.mark.parametrize("line", [
    "2026-11-20 10:00:13 INFO [main] org.example.Foo - no fraction: the spec's own shape",
    "2026-11-20 10:00:13,482 INFO [Checkout] Payment: captured",  # `word: ` without a dot is the spec's message
    "2026-11-20 10:00:13,482 Warning [Svc] Cache - warm",  # log4j writes its levels in upper case
])
def test_spec_shaped_lines_stay_app_unless_they_carry_log4js_fraction_and_logger(line):
    assert parse_line(line).format == "app"


@pytest.mark.parametrize("line", [
    "2026-13-20 10:00:15.007 [main] ERROR c.e.Foo - month 13",
    "2026-02-30 10:00:16,301 - WARNING - Feb 30",
    "2026-11-20 25:00:20,001 INFO hour 25",
])
def test_an_impossible_log4j_time_is_not_log4j_but_its_level_still_counts(line):
    parsed = parse_line(line)
    assert (parsed.format, parsed.timestamp) == ("generic", None) and parsed.level in ("ERROR", "WARN", "INFO")


@pytest.mark.parametrize("line", ["2026-11-20 10:00:20,001 VERBOSE chatty", "2026-11-20 10:00:20,001 - a - b - c",
                                  "2026-11-20 10:00:20,001 [main] chatty c.e.Foo - x"])
def test_a_log4j_layout_without_a_level_is_not_log4j(line):
    assert parse_line(line).format == "unparsed"


# --- Hadoop ------------------------------------------------------------------------------------

def test_hadoop_hdfs_lines():
    parsed = parse_line(FORMAT_SAMPLES[10][1])
    assert (parsed.format, parsed.timestamp, parsed.level, parsed.component) == \
        ("hadoop", "2008-11-09T20:36:15Z", "INFO", "dfs.DataNode$PacketResponder")
    assert parsed.message == "PacketResponder 1 for block blk_38865049064139660 terminating"
    assert parsed.details == {"pid": 148, "logger": "dfs.DataNode$PacketResponder"}
    assert parse_line(FORMAT_SAMPLES[11][1]).level == "WARN"
    # %y's pivot: 69 and later are the 1900s
    assert parse_line("690101 000000 1 INFO a.B: x").timestamp == "1969-01-01T00:00:00Z"


@pytest.mark.parametrize("line, expected_format", [
    ("081309 203615 148 INFO dfs.DataNode: month 13", "generic"),
    ("081109 206015 148 INFO dfs.DataNode: minute 60", "generic"),
    ("081109 203615 148 CHATTY dfs.DataNode: no such level", "unparsed"),
    ("081109 203615 INFO dfs.DataNode: no pid", "generic"),
])
def test_malformed_hadoop_lines_fall_through(line, expected_format):
    assert parse_line(line).format == expected_format


# --- ALB, CloudFront, S3 -------------------------------------------------------------------------

ALB_HTTP = ('http 2018-07-02T22:23:00.186641Z app/my-loadbalancer/50dc6c495c0c9188 192.168.131.39:2817 10.0.0.1:80'
            ' 0.000 0.001 0.000 200 200 34 366 "GET http://www.example.com:80/?a=1 HTTP/1.1" "curl/7.46.0" - -'
            ' arn:aws:elasticloadbalancing:us-east-2:123456789012:targetgroup/my-targets/73e2d6bc24d8a067'
            ' "Root=1-58337262-36d228ad5d99923122bbe354" "-" "-" 0 2018-07-02T22:22:48.364000Z "forward" "-" "-"'
            ' "10.0.0.1:80" "200" "-" "-" TID_1234abcd5678ef90')


def test_alb_access_log():
    parsed = parse_line(ALB_HTTP)
    assert (parsed.format, parsed.timestamp, parsed.status_code, parsed.level) == \
        ("alb", "2018-07-02T22:23:00.186641Z", 200, "INFO")
    assert (parsed.method, parsed.path, parsed.bytes_sent, parsed.client) == ("GET", "/?a=1", 366, "192.168.131.39")
    assert parsed.details["target"] == "10.0.0.1:80" and parsed.details["received_bytes"] == 34
    assert parsed.details["request_processing_time"] == "0.000"  # a string: DynamoDB takes no floats
    assert "ssl_cipher" not in parsed.details and "domain" not in parsed.details  # "-" is nil, not a value


def test_alb_status_is_the_load_balancers_and_gives_the_level():
    failed = ALB_HTTP.replace(" 10.0.0.1:80 0.000 0.001 0.000 200 200 ", " - 0.000 -1 -1 502 - ")
    parsed = parse_line(failed.replace("http 2018", "h2 2018").replace("192.168.131.39:2817", "2001:db8::1:2817"))
    assert (parsed.format, parsed.status_code, parsed.level, parsed.client) == ("alb", 502, "ERROR", "2001:db8::1")
    assert "target" not in parsed.details and "target_status" not in parsed.details
    assert parse_line(ALB_HTTP.replace(" 200 200 ", " 404 404 ")).level == "WARN"


@pytest.mark.parametrize("kind", ["http", "https", "h2", "grpcs", "ws", "wss"])
def test_every_alb_request_type_is_alb(kind):
    assert parse_line(ALB_HTTP.replace("http 2018", f"{kind} 2018", 1)).format == "alb"


@pytest.mark.parametrize("line", [
    ALB_HTTP.replace("2018-07-02T22:23:00", "2018-07-02T25:23:00"),
    ALB_HTTP.replace("2018-07-02T22:23:00", "2018-02-30T22:23:00"),
    ALB_HTTP.split(' "curl')[0],  # cut before the user agent
    ALB_HTTP.replace("http 2018", "ftp 2018"),
])
def test_malformed_alb_lines_are_not_alb(line):
    assert parse_line(line).format == "unparsed"


CLOUDFRONT_ERROR = ("2019-12-13\t22:36:27\tSEA19-C1\t900\t192.0.2.200\tGET\td111111abcdef8.cloudfront.net\t/favicon.ico"
                    "\t502\thttp://www.example.com/\tMozilla/5.0%20(Windows%20NT%2010.0;%20Win64;%20x64)\tv=2\t-\tError"
                    "\t1pkpNfBQ39sYMnjjUQjmH2w1wdJnbHYTbag21o_3OfcQgPzdL2RSSQ==\twww.example.com\thttp\t675\t0.102"
                    "\t-\t-\t-\tError\tHTTP/1.1\t-\t-\t25260\t0.102\tOriginDnsError\ttext/html\t507\t-\t-")


def test_cloudfront_standard_log():
    parsed = parse_line(CLOUDFRONT_ERROR)
    assert (parsed.format, parsed.timestamp, parsed.status_code, parsed.level) == \
        ("cloudfront", "2019-12-13T22:36:27Z", 502, "ERROR")
    assert (parsed.method, parsed.path, parsed.bytes_sent, parsed.client) == ("GET", "/favicon.ico?v=2", 900,
                                                                              "192.0.2.200")
    assert parsed.details["edge_location"] == "SEA19-C1" and parsed.details["result_type"] == "Error"
    assert parsed.details["time_taken"] == "0.102" and parsed.details["referer"] == "http://www.example.com/"
    assert parsed.details["user_agent"] == "Mozilla/5.0 (Windows NT 10.0; Win64; x64)"  # CloudFront %-encodes it


@pytest.mark.parametrize("line", [
    CLOUDFRONT_ERROR.replace("\t900\t", "\tmany\t"),
    CLOUDFRONT_ERROR.replace("2019-12-13", "2019-13-13"),
    "\t".join(CLOUDFRONT_ERROR.split("\t")[:9]),  # fewer fields than any CloudFront log has had
    CLOUDFRONT_ERROR.replace("\t", " "),
])
def test_malformed_cloudfront_lines_are_not_cloudfront(line):
    assert parse_line(line).format == "unparsed"


S3_NOT_FOUND = ("79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be DOC-EXAMPLE-BUCKET1"
                " [06/Feb/2019:00:00:38 -0300] 192.0.2.3 arn:aws:iam::123456789012:user/alice A1206F460EXAMPLE"
                ' REST.GET.OBJECT photos/2019/cat%20pic.jpg'
                ' "GET /DOC-EXAMPLE-BUCKET1/photos/2019/cat%20pic.jpg HTTP/1.1"'
                ' 404 NoSuchKey 297 - 38 - "-" "aws-cli/2.15.0 Python/3.11.6" - BNaBsXZQQDbssi6xMBdBU2sLt+Yf5kZDmeBUP35'
                " SigV4 ECDHE-RSA-AES128-GCM-SHA256 AuthHeader DOC-EXAMPLE-BUCKET1.s3.us-west-1.amazonaws.com"
                " TLSV1.2 - -")


def test_s3_server_access_log():
    parsed = parse_line(S3_NOT_FOUND)
    assert (parsed.format, parsed.timestamp, parsed.status_code, parsed.level) == \
        ("s3_access", "2019-02-06T03:00:38Z", 404, "WARN")
    assert (parsed.method, parsed.path, parsed.bytes_sent, parsed.client) == \
        ("GET", "/DOC-EXAMPLE-BUCKET1/photos/2019/cat%20pic.jpg", 297, "192.0.2.3")
    assert parsed.details == {
        "bucket": "DOC-EXAMPLE-BUCKET1", "key": "photos/2019/cat%20pic.jpg", "operation": "REST.GET.OBJECT",
        "request_id": "A1206F460EXAMPLE", "requester": "arn:aws:iam::123456789012:user/alice",
        "error_code": "NoSuchKey", "total_time": "38", "user_agent": "aws-cli/2.15.0 Python/3.11.6"}


@pytest.mark.parametrize("line", [
    S3_NOT_FOUND.replace("06/Feb/2019", "06/Foo/2019"),
    S3_NOT_FOUND.replace("06/Feb/2019", "30/Feb/2019"),
    S3_NOT_FOUND.replace("-0300", "+9900"),
    S3_NOT_FOUND.split(" 404 ")[0],
])
def test_malformed_s3_access_lines_are_not_s3_access(line):
    assert parse_line(line).format == "unparsed"


# --- W3C headers ------------------------------------------------------------------------------------

@pytest.mark.parametrize("line", ["#Version: 1.0", "#Fields: date time x-edge-location sc-bytes c-ip cs-method",
                                  "#Software: Microsoft Internet Information Services 10.0",
                                  "#Date: 2019-12-04 21:02:31",
                                  "#Start-Date: 2019-12-04 21:02:31", "#End-Date: 2019-12-04 22:00:00",
                                  "#Remark: rotated", "#Fields:date"])
def test_w3c_directives_are_headers(line):
    assert is_header(line)


@pytest.mark.parametrize("line", ["# Version: 1.0", "#version: 1.0", "#Fields date time", " #Version: 1.0",
                                  "#!/bin/sh", "# TODO: fix", "#Comment: not a W3C directive", "", "#",
                                  FORMAT_SAMPLES[13][1], "2019-12-04 #Version: 1.0"])
def test_other_lines_are_not_headers(line):
    assert not is_header(line)


# --- generic fallback ---------------------------------------------------------------------------------

@pytest.mark.parametrize("line, level", [
    ("WARNING:root:disk usage at 91%", "WARN"),
    ("ERROR something broke", "ERROR"),
    ("myapp | 12 | ERROR: lost connection", "ERROR"),
    ("[Warning] low memory", "WARN"),
    ("[crit] 12#0: cannot allocate", "FATAL"),
    ("worker-3 [info]: heartbeat", "INFO"),
    ("t=2026-11-20T10:00:00Z lvl=eror level=error msg=\"boom\"", "ERROR"),
    ('time="2026-11-20T10:00:00Z" level=warning msg="slow"', "WARN"),
    ("main.go:42: CRITICAL disk full", "FATAL"),
    ("a b c d NOTICE fifth token", "NOTICE"),
])
def test_a_level_word_near_the_start_makes_a_line_generic(line, level):
    parsed = parse_line(line)
    assert (parsed.format, parsed.level) == ("generic", level)


def test_generic_keeps_a_leading_time_and_pythons_logger():
    nginx = parse_line(FORMAT_SAMPLES[15][1])
    assert (nginx.timestamp, nginx.level, nginx.message) == ("2026-11-20T10:00:17Z", "ERROR", FORMAT_SAMPLES[15][1])
    python = parse_line("ERROR:shop.mailer:SMTP connection refused")
    assert (python.component, python.message) == ("shop.mailer", "SMTP connection refused")


@pytest.mark.parametrize("line", [
    "the error was harmless",
    "error: no such file or directory",  # lower case unbracketed: prose as often as a level
    "Connection error: timeout after 30s",
    "INFORMATION desk opens at nine",
    "ERRORS were counted",
    "a b c d e ERROR is the sixth token",
    "x" * 75 + " INFORMATION",  # cut at 80 characters it would read "INFO"
    "y" * 81 + " ERROR",
    "status=error code=7",  # not a level key
    "[information] not one of the bracketed words",
    "#Version: 1.0",
])
def test_level_words_in_prose_or_far_in_do_not_count(line):
    assert parse_line(line).format == "unparsed"


# --- never raises, always storable -------------------------------------------------------------------

ANY_CHAR = st.characters(exclude_categories=())  # lone surrogates included: a caller may hand one in
EDITS = st.lists(st.tuples(st.integers(0, 400), st.integers(0, 3), st.text(ANY_CHAR, max_size=4)), max_size=4)


def edited(line: str, edits) -> str:
    for at, cut, text in edits:
        at %= len(line) + 1
        line = line[:at] + text + line[at + cut:]
    return line


def sequential(line: str) -> ParsedLine:
    """What trying every parser in order gives, without the first-character table."""
    for parser, _ in parsing.PARSERS:
        try:
            parsed = parser(line, RECEIVED)
        except (ValueError, OverflowError, RecursionError):
            parsed = None
        if parsed is not None:
            return parsed
    return ParsedLine("unparsed", message=line)


@settings(max_examples=400, deadline=None)
@given(line=st.one_of(st.text(ANY_CHAR, max_size=200), st.builds(edited, st.sampled_from(SAMPLE_LINES), EDITS)),
       received=st.one_of(st.none(), st.datetimes(timezones=st.sampled_from(
           [timezone.utc, timezone(timedelta(hours=14)), timezone(timedelta(hours=-12))])), st.datetimes()))
def test_no_line_raises_and_every_record_is_storable(line, received):
    parsed = parse_line(line, received)
    assert storable_problems(parsed, line) == []


@settings(max_examples=300, deadline=None)
@given(line=st.one_of(st.sampled_from(SAMPLE_LINES), st.builds(edited, st.sampled_from(SAMPLE_LINES), EDITS),
                      st.text(st.sampled_from("<>[]{}\" -:0123456789ADFJMNOSTZhgw\t"), max_size=60)))
def test_choosing_parsers_by_first_character_changes_no_result(line):
    assert parse_line(line, RECEIVED) == sequential(line)


@pytest.mark.parametrize("line", [
    "\x00" * 10, "\ud800", "<13>1 - h\ud800 a - - - m\udfff", "Nov 20 10:00:11 h\udc80 p[1]: x",
    FORMAT_SAMPLES[12][1].replace("curl/7.46.0", "curl\ud800"), "<0>", "<>", "<-1>Oct 11 22:14:15 h p: x",
    "0" * 10000, "9" * 19 + " INFO x", "081109 203615 " + "9" * 40 + " INFO a.B: x",
])
def test_odd_lines_parse_to_storable_records(line):
    assert storable_problems(parse_line(line, RECEIVED), line) == []


@pytest.mark.parametrize("received", [datetime(1, 1, 1), datetime(9999, 12, 31, 23, 59),
                                      datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=5))),
                                      datetime(9999, 12, 31, 23, 0, tzinfo=timezone(timedelta(hours=-5)))])
def test_reference_times_at_the_calendars_edges_do_not_raise(received):
    parsed = parse_line("Dec 31 23:59:59 web-1 cron[1]: tick", received)
    assert parsed.format in ("syslog", "unparsed")


MEGABYTE = 1_000_000


HANG_GUARD_SECONDS = 120


def parse_without_hanging(line: str) -> ParsedLine:
    """Parse on a thread a watchdog can give up on: linear regexes take milliseconds on a megabyte,
    backtracking ones take hours. The guard is no speed figure (those are in benchmarks): it only keeps
    a backtracking regex from hanging the suite instead of failing it."""
    parsed: list[ParsedLine] = []
    worker = threading.Thread(target=lambda: parsed.append(parse_line(line, RECEIVED)), daemon=True)
    worker.start()
    worker.join(HANG_GUARD_SECONDS)
    assert not worker.is_alive(), "the parser is still running: a regex backtracks"
    return parsed[0]


@pytest.mark.parametrize("expected, line", FORMAT_SAMPLES, ids=[f"{f}-{i}" for i, (f, _) in enumerate(FORMAT_SAMPLES)])
def test_a_megabyte_line_parses_without_backtracking_with_clipped_details(expected, line):
    # a long value where each format has free text: its user agent, message, request
    long = line.replace("curl/7.46.0", "c" * MEGABYTE).replace("S3Console/0.4", "s" * MEGABYTE) \
        .replace("Mozilla/5.0", "m" * MEGABYTE).replace("iut=\"3\"", f'iut="{"3" * MEGABYTE}"') + " " + "z" * MEGABYTE
    parsed = parse_without_hanging(long)
    assert parsed.format == expected and storable_problems(parsed) == []


@pytest.mark.parametrize("line", [
    "<13>1 - h a - - " + "[x" * 50_000,
    "<13>1 - h a - - [x a=\"" + "\\\"" * 50_000,
    "<13>1 - h a - - " + '[x a="1"]' * 30_000 + "no space",
    'http 2018-07-02T22:23:00Z e c t 0 0 0 200 200 1 1 "' + '\\"' * 50_000,
    "a " * 100_000,
    "[" * 100_000,
    "Nov 20 10:00:11 " + "h" * MEGABYTE,
])
def test_adversarial_lines_do_not_backtrack(line):
    parse_without_hanging(line)


def test_the_first_character_table_stays_small_whatever_lines_open_with():
    for code in range(0x4E00, 0x4E00 + 2000):  # a file of CJK lines would otherwise add an entry per character
        parse_line(chr(code) + " ERROR x")
    assert len(parsing._BY_FIRST) <= 256
