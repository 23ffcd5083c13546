"""JSON Lines: one object per line, with any of the usual keys for time, level, status and message."""
import json
from datetime import datetime, timezone

from chalicelib.logbatch.parsing.common import ParsedLine, _storable, _status, _utc, normalise_level

TIME_KEYS = ("timestamp", "@timestamp", "time", "ts", "datetime", "date", "asctime", "eventTime")
LEVEL_KEYS = ("level", "severity", "lvl", "levelname", "log.level", "loglevel")
STATUS_KEYS = ("status", "status_code", "statusCode", "http.status_code", "http_status", "response.status",
               "response_code")
MESSAGE_KEYS = ("message", "msg", "text", "event", "log")
COMPONENT_KEYS = ("component", "logger", "logger_name", "service", "module", "name", "source")


def _lookup(document: dict, keys: tuple[str, ...]):
    for key in keys:
        value: object = document
        for part in key.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        if value is None and key in document:
            value = document[key]
        if value is not None and value != "":
            return value
    return None


def _json_time(value) -> str | None:
    if isinstance(value, bool):
        return None
    # Out of range is "no time", like a time that does not parse: 10**400 ms cannot become a float,
    # and 0001-01-01T00:00:00+05:00 has no UTC form.
    try:
        if isinstance(value, (int, float)):
            seconds = value / 1000 if value > 1e11 else value  # epoch milliseconds or seconds
            return _utc(datetime.fromtimestamp(seconds, timezone.utc))
        if isinstance(value, str):
            text = value.strip().replace(",", ".")
            return _utc(datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z") else text))
    except (OverflowError, OSError, ValueError):
        return None
    return None


def _json_line(line: str, _received_at) -> ParsedLine | None:
    if not line.startswith("{"):
        return None
    try:
        document = json.loads(line)
    except (ValueError, RecursionError):  # nested deeper than the parser goes: not a log record either
        return None
    if not isinstance(document, dict):
        return None
    message = _lookup(document, MESSAGE_KEYS)
    component = _lookup(document, COMPONENT_KEYS)
    return ParsedLine(
        "json", _json_time(_lookup(document, TIME_KEYS)), normalise_level(_lookup(document, LEVEL_KEYS)),
        _status(_lookup(document, STATUS_KEYS)),
        _storable(str(component)) if component is not None and not isinstance(component, (dict, list)) else None,
        _storable(message) if isinstance(message, str) else (json.dumps(message) if message is not None else None),
    )
