"""Which correlation id a request gets, how ids are bound to the work (and its log lines), and how they travel."""
import io
import json
import threading
from types import SimpleNamespace

import pytest

from chalicelib import correlation
from chalicelib.logs import logger

CONTEXT = {"requestId": "c0ffee00-0000-4000-8000-000000000001", "path": "/orders"}


@pytest.fixture
def log_lines():
    """What the app's logger writes (JSON lines on stdout in Lambda), parsed; INFO and up."""
    handler, buffer = logger.registered_handler, io.StringIO()
    previous_stream, previous_level = handler.setStream(buffer), logger.log_level
    logger.setLevel("INFO")
    yield lambda: [json.loads(line) for line in buffer.getvalue().splitlines()]
    handler.setStream(previous_stream)
    logger.setLevel(previous_level)


def test_the_clients_header_wins():
    assert correlation.for_request({"X-Correlation-Id": "abc-123"}, CONTEXT) == "abc-123"


def test_the_header_is_found_whatever_its_case_and_is_trimmed():
    assert correlation.for_request({"x-correlation-id": "  order 7/b  "}, CONTEXT) == "order 7/b"


def test_without_a_header_the_request_id_is_used():
    assert correlation.for_request({"content-type": "application/json"}, CONTEXT) == CONTEXT["requestId"]
    assert correlation.for_request(None, CONTEXT) == CONTEXT["requestId"]


@pytest.mark.parametrize("bad", ["", "   ", "x" * 129, "tab\there", "line\nbreak", "nul\x00", "é-accent", "\u200b"])
def test_a_header_that_is_not_1_to_128_printable_ascii_characters_is_ignored(bad):
    assert correlation.for_request({"X-Correlation-Id": bad}, CONTEXT) == CONTEXT["requestId"]


def test_128_printable_characters_are_still_taken():
    sent = "a" + "".join(chr(32 + i % 95) for i in range(126)) + "z"  # every printable ASCII character
    assert len(sent) == 128
    assert correlation.for_request({"X-Correlation-Id": sent}, CONTEXT) == sent


def test_chalice_local_has_no_request_id_in_the_context_so_its_lambda_request_id_is_used():
    lambda_context = SimpleNamespace(aws_request_id="local-req-1")
    assert correlation.for_request({}, {"path": "/orders"}, lambda_context) == "local-req-1"
    assert correlation.for_request({"X-Correlation-Id": "x" * 500}, {}, lambda_context) == "local-req-1"


def test_with_nothing_at_all_a_fresh_id_is_made():
    first, second = correlation.for_request({}, {}), correlation.for_request({}, {})
    assert first != second and len(first) == 36


def test_the_id_of_an_sqs_record_is_its_attribute():
    record = {"messageId": "m-1", "messageAttributes": {
        "correlation_id": {"stringValue": "abc-123", "dataType": "String", "stringListValues": []}}}
    assert correlation.of_sqs_record(record) == "abc-123"
    assert correlation.of_sqs_record({"messageId": "m-1", "messageAttributes": {}}) is None
    assert correlation.of_sqs_record({"messageId": "m-1"}) is None


def test_bind_puts_the_id_on_every_log_line_and_takes_it_off_afterwards(log_lines):
    assert correlation.current() is None
    with correlation.bind("outer"):
        logger.info("one")
        with correlation.bind("inner"):
            logger.info("two")
        logger.info("three")
    logger.info("four")
    assert [(line["message"], line.get("correlation_id")) for line in log_lines()] == [
        ("one", "outer"), ("two", "inner"), ("three", "outer"), ("four", None)]
    assert correlation.current() is None


def test_bind_restores_the_previous_id_when_the_work_raises():
    with correlation.bind("outer"):
        with pytest.raises(RuntimeError):
            with correlation.bind("inner"):
                raise RuntimeError("boom")
        assert correlation.current() == "outer"


def test_ids_are_per_thread_so_concurrent_local_handlers_do_not_mix(log_lines):
    seen = {}
    both_bound = threading.Barrier(2)

    def work(name):
        with correlation.bind(name):
            both_bound.wait(timeout=5)
            seen[name] = correlation.current()
            logger.info("working", worker=name)

    threads = [threading.Thread(target=work, args=(n,)) for n in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert seen == {"a": "a", "b": "b"}
    assert sorted((line["worker"], line["correlation_id"]) for line in log_lines()) == [("a", "a"), ("b", "b")]
    assert correlation.current() is None


def test_attributes_and_metadata_carry_the_id_as_it_is_when_they_can():
    assert correlation.message_attributes("abc-123") == {
        "correlation_id": {"DataType": "String", "StringValue": "abc-123"}}
    assert correlation.s3_metadata("abc-123") == {"correlation-id": "abc-123"}


def test_a_run_id_with_characters_a_carrier_refuses_is_escaped_not_refused():
    run_id = "logs/relatório\x01\ufffe.log@etag"
    assert correlation.message_attributes(run_id)["correlation_id"]["StringValue"] == \
        "logs/relatório%01%EF%BF%BE.log@etag"  # SQS takes é, not U+0001 nor U+FFFE
    assert correlation.s3_metadata(run_id)["correlation-id"] == "logs/relat%C3%B3rio%01%EF%BF%BE.log@etag"


def test_a_very_long_run_id_is_cut_to_fit_in_s3_metadata():
    run_id = "k" * 1100 + "@etag"
    assert len(correlation.s3_metadata(run_id)["correlation-id"]) == correlation.MAX_CARRIED_LENGTH
    assert len(correlation.message_attributes(run_id)["correlation_id"]["StringValue"]) == 1024
