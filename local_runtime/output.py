"""Where `make run`'s output goes: the runner's one-line reports on the terminal, the handlers' own logs aside.

The runner calls the app's handlers in this process, so their Powertools JSON
log lines, the metric (EMF) lines they print, and the tracebacks of handlers
that raise all came out between the runner's lines, one screen of JSON per
delivery. Here:

- the terminal gets the runtime's own lines (`Terminal.say`), one per delivery;
- everything the handlers write to stdout (Powertools' stream is stdout, and
  Powertools Metrics prints its EMF lines) and the runner's handler tracebacks
  go to a `HandlerLogSink`: appended as they are to `build/local/handlers.log`
  (`LOCAL_LOG_FORMAT=json`, the default), or rendered as short readable lines
  on the terminal (`LOCAL_LOG_FORMAT=text`).

The app is not told anything: its logger keeps writing JSON to what it thinks
is stdout. chalicelib/ is untouched.
"""
import io
import json
import logging
import sys
import threading
import traceback
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

from local_runtime.runner import invocation

FORMATS = ("json", "text")
APP_SERVICE = "async-catalog"  # the Powertools logger's name (chalicelib/logs.py)
# Powertools keys that say nothing a local reader needs on every line.
QUIET_KEYS = {"level", "message", "timestamp", "service", "sampling_rate", "location", "cold_start",
              "function_name", "function_memory_size", "function_arn", "function_request_id", "xray_trace_id",
              "exception", "exception_name", "stack_trace", "correlation_id"}


class Terminal:
    """The real stdout, for the runtime's own lines; one lock, so two threads never mix halves of lines."""

    def __init__(self, stream: TextIO | None = None):
        self.stream = stream or sys.stdout
        self.lock = threading.Lock()

    def write_lines(self, text: str) -> None:
        with self.lock:
            self.stream.write(text if text.endswith("\n") else text + "\n")
            self.stream.flush()

    def say(self, line: str) -> None:
        self.write_lines(f"{datetime.now():%H:%M:%S} {line}")


def render_text(line: str, handler: str | None = None) -> str:
    """One handler log line, readable: time, level, function (`handler` when the line does not say), message,
    its keys, the correlation id last."""
    try:
        data = json.loads(line)
    except ValueError:
        return line
    if not isinstance(data, dict):
        return line
    if "_aws" in data:
        return render_metrics(data)
    if "message" not in data:
        return line
    now = f"{datetime.now():%H:%M:%S}"
    where = data.get("function_name") or handler or data.get("service") or ""
    extras = " ".join(f"{k}={_short(v)}" for k, v in data.items() if k not in QUIET_KEYS)
    text = (f"{now}   {str(data.get('level', '')):<7} {where}: {data['message']}"
            + (f"  {extras}" if extras else "") + f"  correlation_id={data.get('correlation_id') or '-'}")
    if data.get("exception"):
        text += "\n" + "\n".join(f"      {part}" for part in str(data["exception"]).splitlines())
    return text


def render_metrics(data: dict[str, Any]) -> str:
    """An Embedded Metric Format line: namespace, each metric's value, the dimensions."""
    now = f"{datetime.now():%H:%M:%S}"
    parts = []
    for directive in data["_aws"].get("CloudWatchMetrics", []):
        names = [m.get("Name") for m in directive.get("Metrics", [])]
        dimensions = {d: data.get(d) for group in directive.get("Dimensions", []) for d in group}
        values = " ".join(f"{name}={_short(data.get(name))}" for name in names)
        where = ",".join(f"{k}={v}" for k, v in dimensions.items())
        parts.append(f"{directive.get('Namespace', '')} {values}" + (f" ({where})" if where else ""))
    return f"{now}   METRICS {'; '.join(parts)}"


def _short(value: Any, limit: int = 200) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= limit else text[:limit] + "..."


class HandlerLogSink(io.TextIOBase):
    """A text stream for the handlers' output: whole lines to the log file, or rendered to the terminal."""

    def __init__(self, log_format: str, path: Path | None, terminal: Terminal):
        if log_format not in FORMATS:
            raise ValueError(f"LOCAL_LOG_FORMAT must be one of {', '.join(FORMATS)}, not {log_format!r}")
        self.log_format = log_format
        self.path = path
        self.terminal = terminal
        self._file = None
        self._file_lock = threading.Lock()
        # print() writes a line in two calls (text, then "\n"): each thread's partial line waits for its end.
        self._partial = threading.local()
        if log_format == "json":
            path.parent.mkdir(parents=True, exist_ok=True)
            self._file = open(path, "a", encoding="utf-8", buffering=1)

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        pending = getattr(self._partial, "text", "") + text
        *lines, rest = pending.split("\n")
        self._partial.text = rest
        for line in lines:
            self._emit(line)
        return len(text)

    def flush(self) -> None:
        with self._file_lock:
            if self._file:
                self._file.flush()

    def _emit(self, line: str) -> None:
        if not line.strip():
            return
        if self.log_format == "text":
            self.terminal.write_lines(render_text(line, getattr(invocation, "handler", None)))
            return
        with self._file_lock:
            if self._file:  # after close() (a handler still finishing at exit), the line is dropped
                self._file.write(line + "\n")

    def close(self) -> None:
        with self._file_lock:
            if self._file:
                self._file.close()
                self._file = None
        super().close()


class JsonLineFormatter(logging.Formatter):
    """The runner's own records (a handler's traceback) in the shape of the app's lines, so both render alike."""

    def format(self, record: logging.LogRecord) -> str:
        data = {"level": record.levelname, "message": record.getMessage(),
                "timestamp": datetime.fromtimestamp(record.created).isoformat(timespec="milliseconds"),
                "service": "local-runtime", "correlation_id": getattr(record, "correlation_id", None)}
        if record.exc_info:
            data["exception"] = "".join(traceback.format_exception(*record.exc_info)).rstrip()
        return json.dumps(data, default=str)


def route_handler_output(log_format: str, path: Path, terminal: Terminal) -> HandlerLogSink:
    """Send everything the in-process handlers write to stdout, and the runner's handler tracebacks, to one sink.

    Call it before the app is imported: Powertools' Logger takes sys.stdout as its stream when it is created.
    A logger created earlier is pointed at the sink too.
    """
    sink = HandlerLogSink(log_format, path, terminal)
    sys.stdout = sink
    for handler in logging.getLogger(APP_SERVICE).handlers:
        if isinstance(handler, logging.StreamHandler) and not isinstance(handler, logging.FileHandler):
            handler.setStream(sink)
    errors = logging.getLogger("local_runtime.handler_errors")
    errors.propagate = False
    errors.handlers[:] = []
    errors_handler = logging.StreamHandler(sink)
    errors_handler.setFormatter(JsonLineFormatter())
    errors.addHandler(errors_handler)
    return sink
