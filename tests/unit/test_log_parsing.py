import pytest

from chalicelib.logbatch.parsing import normalise_level, parse_line, status_class
from tests.conftest import SHARED_SAMPLES


def test_spec_sample_format_gives_time_level_component_and_message():
    parsed = parse_line("2025-10-28 09:15:28 ERROR [EmailService] Failed to send email: SMTP connection refused")
    assert parsed.format == "app"
    assert parsed.timestamp == "2025-10-28T09:15:28Z"
    assert parsed.level == "ERROR" and parsed.component == "EmailService"
    assert parsed.message == "Failed to send email: SMTP connection refused"
    assert parsed.status_code is None
    assert parsed.details is None  # the spec's records keep the attributes they were stored with before


def test_spec_format_finds_a_status_code_in_the_message_when_there_is_one():
    assert parse_line("2025-10-28 09:15:31 INFO [APIController] Response sent: 200 OK (45ms)").status_code == 200
    assert parse_line("2025-10-28 09:15:31 WARN [Api] upstream status=503 after retry").status_code == 503
    assert parse_line("2025-10-28 09:15:33 INFO [Inv] Stock updated: quantity=500").status_code is None


def test_spec_format_accepts_fractions_zones_and_warning():
    parsed = parse_line("2025-10-28T09:15:28,123+02:00 WARNING [Svc] slow")
    assert parsed.timestamp == "2025-10-28T07:15:28.123000Z" and parsed.level == "WARN"


def test_json_lines_with_common_keys():
    parsed = parse_line('{"ts": "2025-01-02T03:04:05Z", "severity": "warning", "status_code": 404, '
                        '"msg": "not found", "logger": "web"}')
    assert (parsed.format, parsed.timestamp, parsed.level, parsed.status_code, parsed.message, parsed.component) == \
        ("json", "2025-01-02T03:04:05Z", "WARN", 404, "not found", "web")


def test_json_lines_with_epoch_millis_and_nested_status():
    parsed = parse_line('{"@timestamp": 1700000000000, "level": "info", "http": {"status_code": 201}, "message": "ok"}')
    assert parsed.timestamp == "2023-11-14T22:13:20Z" and parsed.status_code == 201


def test_json_that_is_not_an_object_is_unparsed():
    assert parse_line("[1, 2, 3]").format == "unparsed"
    assert parse_line("{broken json").format == "unparsed"


def test_apache_common_access_log():
    parsed = parse_line('127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" 200 2326')
    assert parsed.format == "access"
    assert parsed.timestamp == "2000-10-10T20:55:36Z"
    assert (parsed.method, parsed.path, parsed.status_code, parsed.bytes_sent) == ("GET", "/apache_pb.gif", 200, 2326)
    assert parsed.level == "INFO" and parsed.client == "127.0.0.1"


def test_nginx_combined_access_log_with_server_error():
    parsed = parse_line('10.0.0.5 - - [23/Nov/2026:08:00:01 +0000] "POST /api/orders HTTP/1.1" 502 -'
                        ' "https://shop.example/" "Mozilla/5.0 (X11; Linux x86_64)"')
    assert (parsed.status_code, parsed.level, parsed.bytes_sent, parsed.method) == (502, "ERROR", 0, "POST")


def test_apache_error_log_2_2_and_2_4():
    old = parse_line("[Sun Dec 04 04:47:44 2005] [notice] workerEnv.init() ok /etc/httpd/conf/workers2.properties")
    assert (old.format, old.timestamp, old.level) == ("apache_error", "2005-12-04T04:47:44Z", "NOTICE")
    new = parse_line("[Wed Oct 11 14:32:52.123456 2000] [core:error] [pid 35708:tid 4328636416] "
                     "[client 72.15.99.187] File does not exist: /usr/local/apache2/htdocs/favicon.ico")
    assert (new.level, new.component, new.client) == ("ERROR", "core", "72.15.99.187")
    assert new.message.startswith("File does not exist")


@pytest.mark.parametrize("line", ["just some text", "2025-10-28 09:15:28 [NoLevel] x", "", "\u00e9\u00e8 \x00 weird"])
def test_anything_else_is_kept_unparsed_with_the_raw_line(line):
    parsed = parse_line(line)
    assert parsed.format == "unparsed" and parsed.message == line


def test_levels_and_status_classes_have_a_bounded_vocabulary():
    assert normalise_level("Warning") == "WARN" and normalise_level("crit") == "FATAL"
    assert normalise_level("verbose") == "UNKNOWN" and normalise_level(None) is None
    assert status_class(404) == "4xx" and status_class(None) == "none" and status_class(999) == "none"


def test_every_line_of_the_shared_sample_is_recognised():
    sample = SHARED_SAMPLES / "logs-example.txt"
    if not sample.exists():
        pytest.skip("../shared/samples is not here")
    lines = [line for line in sample.read_text().splitlines() if line.strip()]
    assert lines and all(parse_line(line).format == "app" for line in lines)
