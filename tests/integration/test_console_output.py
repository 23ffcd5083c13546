"""`make run`'s terminal output: handlers' JSON logs go to a file or render as text (local_runtime/output.py)."""
import io
import json
import logging
import sys

import pytest

from local_runtime.output import APP_SERVICE, HandlerLogSink, Terminal, render_text, route_handler_output
from local_runtime.runner import invocation

POWERTOOLS_LINE = json.dumps({
    "level": "INFO", "location": "store:42", "message": "product stored", "timestamp": "2026-11-23 10:00:00,000+0000",
    "service": "async-catalog", "cold_start": True, "function_name": "process_product_queue",
    "function_request_id": "abc", "sampling_rate": 0, "product_id": "p-1", "duplicate": False,
    "correlation_id": "req-9"})
EMF_LINE = json.dumps({
    "_aws": {"Timestamp": 1, "CloudWatchMetrics": [{"Namespace": "AsyncCatalog", "Dimensions": [["stage"]],
                                                   "Metrics": [{"Name": "ProductsStored", "Unit": "Count"}]}]},
    "stage": "dev", "ProductsStored": [1.0]})


def test_a_powertools_line_renders_as_one_readable_line():
    text = render_text(POWERTOOLS_LINE)
    assert "INFO" in text and "process_product_queue: product stored" in text
    assert "product_id=p-1" in text and "duplicate=false" in text and text.endswith("correlation_id=req-9")
    assert "function_request_id" not in text and "sampling_rate" not in text and "{" not in text


def test_an_exception_is_indented_under_its_line_and_a_missing_correlation_id_is_a_dash():
    line = json.dumps({"level": "ERROR", "message": "boom", "exception": "Traceback (most recent call last):\n  x"})
    first, *rest = render_text(line).splitlines()
    assert first.endswith("boom  correlation_id=-")
    assert rest == ["      Traceback (most recent call last):", "        x"]


def test_metric_lines_render_as_names_and_values():
    assert render_text(EMF_LINE).endswith("METRICS AsyncCatalog ProductsStored=[1.0] (stage=dev)")


def test_other_text_passes_through():
    assert render_text("plain print") == "plain print"
    assert render_text("[1, 2]") == "[1, 2]"


def test_the_json_sink_appends_whole_lines_to_its_file(tmp_path):
    terminal = io.StringIO()
    sink = HandlerLogSink("json", tmp_path / "local" / "handlers.log", Terminal(terminal))
    sink.write('{"a": ')
    sink.write('1}\n\n')
    print(POWERTOOLS_LINE, file=sink)
    sink.close()
    assert (tmp_path / "local" / "handlers.log").read_text().splitlines() == ['{"a": 1}', POWERTOOLS_LINE]
    assert terminal.getvalue() == ""
    sink.write("after close\n")  # a handler still finishing at exit: dropped, not an error


def test_the_text_sink_renders_to_the_terminal(tmp_path):
    terminal = io.StringIO()
    sink = HandlerLogSink("text", tmp_path / "unused.log", Terminal(terminal))
    print(POWERTOOLS_LINE, file=sink)
    assert "process_product_queue: product stored" in terminal.getvalue()
    assert not (tmp_path / "unused.log").exists()


def test_the_text_sink_names_the_handler_running_in_the_thread(tmp_path):
    terminal = io.StringIO()
    sink = HandlerLogSink("text", tmp_path / "unused.log", Terminal(terminal))
    invocation.handler = "process_orders"  # what the runner sets around a handler call
    try:
        print(json.dumps({"level": "INFO", "message": "order completed", "service": "async-catalog"}), file=sink)
    finally:
        invocation.handler = None
    print(json.dumps({"level": "INFO", "message": "between invocations", "service": "async-catalog"}), file=sink)
    first, second = terminal.getvalue().splitlines()
    assert "process_orders: order completed" in first and "async-catalog: between invocations" in second


def test_an_unknown_format_is_refused(tmp_path):
    with pytest.raises(ValueError, match="LOCAL_LOG_FORMAT"):
        HandlerLogSink("yaml", tmp_path / "x.log", Terminal(io.StringIO()))


@pytest.fixture
def restored_output(monkeypatch):
    """route_handler_output changes process-wide state: put stdout and the loggers back afterwards."""
    from chalicelib.logs import logger  # noqa: F401  (the app's Powertools logger exists, as under make run)
    app_logger = logging.getLogger(APP_SERVICE)
    streams = [(h, h.stream) for h in app_logger.handlers if isinstance(h, logging.StreamHandler)]
    errors = logging.getLogger("local_runtime.handler_errors")
    saved = (errors.handlers[:], errors.propagate)
    monkeypatch.setattr(sys, "stdout", sys.stdout)
    yield
    for handler, stream in streams:
        handler.setStream(stream)
    errors.handlers[:], errors.propagate = saved


def test_handler_logs_prints_and_tracebacks_go_to_the_file_and_not_the_terminal(tmp_path, restored_output):
    from chalicelib.logs import logger
    terminal = io.StringIO()
    path = tmp_path / "handlers.log"
    sink = route_handler_output("json", path, Terminal(terminal))
    logger.warning("stored it", product_id="p-2")  # the tests run the app at WARNING
    print(EMF_LINE)
    try:
        raise RuntimeError("handler failed")
    except RuntimeError:
        logging.getLogger("local_runtime.handler_errors").exception("handler %s raised", "process_orders")
    sink.flush()
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert [line.get("message") for line in lines] == ["stored it", None, "handler process_orders raised"]
    assert lines[0]["product_id"] == "p-2" and lines[0]["service"] == "async-catalog"
    assert "_aws" in lines[1]
    assert "RuntimeError: handler failed" in lines[2]["exception"]
    assert terminal.getvalue() == ""
