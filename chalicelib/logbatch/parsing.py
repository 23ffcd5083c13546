"""Recognise a log line's format and pull out its time, level, status and message.

Pure functions. Recognised: the spec's `YYYY-MM-DD HH:MM:SS LEVEL [Component] message`,
JSON Lines, Apache/Nginx access logs (common and combined) and Apache error
logs. Anything else is kept as `unparsed` with the raw line: not an error.
Times without a zone are taken as UTC; every time comes out as ISO 8601 UTC.
No line makes `parse_line` raise: a worker that raised on one would send its
whole message to the DLQ and leave the run short of its report forever.
"""
import json
import re
from dataclasses import asdict, dataclass
from datetime import datetime, timezone

LEVELS = {
    "trace": "TRACE", "debug": "DEBUG", "fine": "DEBUG", "info": "INFO", "information": "INFO",
    "notice": "NOTICE", "warn": "WARN", "warning": "WARN", "error": "ERROR", "err": "ERROR",
    "severe": "ERROR", "critical": "FATAL", "crit": "FATAL", "fatal": "FATAL", "alert": "FATAL",
    "emerg": "FATAL", "emergency": "FATAL", "panic": "FATAL",
}


@dataclass(frozen=True)
class ParsedLine:
    format: str
    timestamp: str | None = None
    level: str | None = None
    status_code: int | None = None
    component: str | None = None
    message: str | None = None
    method: str | None = None
    path: str | None = None
    bytes_sent: int | None = None
    client: str | None = None

    def fields(self) -> dict:
        return {key: value for key, value in asdict(self).items() if value is not None}


def normalise_level(raw) -> str | None:
    if raw is None or raw == "":
        return None
    text = str(raw).strip().lower()
    if ":" in text:  # Apache 2.4 writes "module:level"
        text = text.rsplit(":", 1)[-1]
    return LEVELS.get(text, "UNKNOWN")


def status_class(status: int | None) -> str:
    return f"{status // 100}xx" if status and 100 <= status <= 599 else "none"


def _utc(moment: datetime) -> str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def _status(value) -> int | None:
    try:
        status = int(str(value).strip())
    except (TypeError, ValueError):
        return None
    return status if 100 <= status <= 599 else None


# --- the spec's own format ---------------------------------------------------------

SPEC_LINE = re.compile(
    r"^(?P<date>\d{4}-\d{2}-\d{2})[ T](?P<time>\d{2}:\d{2}:\d{2})(?P<fraction>[.,]\d{1,6})?(?P<zone>Z|[+-]\d{2}:?\d{2})?"
    r"\s+(?P<level>[A-Za-z]+)\s+\[(?P<component>[^\]]*)\]\s?(?P<message>.*)$")
STATUS_IN_MESSAGE = re.compile(
    r"(?:\bstatus(?:_code|Code)?\s*[=:]\s*|\bresponse sent:\s*|\bHTTP/\d(?:\.\d)?\"?\s+)(?P<status>[1-5]\d\d)\b",
    re.IGNORECASE)


def _spec_line(line: str) -> ParsedLine | None:
    match = SPEC_LINE.match(line)
    if not match or match["level"].lower() not in LEVELS:
        return None
    fraction = (match["fraction"] or "").replace(",", ".")
    zone = match["zone"] or ""
    if zone and zone != "Z" and ":" not in zone:
        zone = f"{zone[:3]}:{zone[3:]}"
    moment = datetime.fromisoformat(f"{match['date']}T{match['time']}{fraction}{'+00:00' if zone == 'Z' else zone}")
    status = STATUS_IN_MESSAGE.search(match["message"])
    return ParsedLine("app", _utc(moment), normalise_level(match["level"]),
                      _status(status["status"]) if status else None,
                      match["component"] or None, match["message"])


# --- JSON Lines -----------------------------------------------------------------------

TIME_KEYS = ("timestamp", "@timestamp", "time", "ts", "datetime", "date", "asctime", "eventTime")
LEVEL_KEYS = ("level", "severity", "lvl", "levelname", "log.level", "loglevel")
STATUS_KEYS = ("status", "status_code", "statusCode", "http.status_code", "http_status", "response.status",
               "response_code")
MESSAGE_KEYS = ("message", "msg", "text", "event", "log")
COMPONENT_KEYS = ("component", "logger", "logger_name", "service", "module", "name", "source")


def _lookup(document: dict, keys: tuple[str, ...]):
    for key in keys:
        value = document
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


def _json_line(line: str) -> ParsedLine | None:
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


def _storable(text: str) -> str:
    """A JSON string as text that can be stored: a lone surrogate (`"\\ud800"`, which JSON allows) cannot be
    encoded as UTF-8, so it becomes U+FFFD, as invalid UTF-8 in the file does."""
    return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


# --- Apache / Nginx ---------------------------------------------------------------------

ACCESS_LINE = re.compile(
    r'^(?P<client>\S+) \S+ \S+ \[(?P<time>[^\]]+)\] "(?P<request>[^"]*)" (?P<status>\d{3}) (?P<bytes>\d+|-)'
    r'(?: "(?P<referer>[^"]*)" "(?P<agent>[^"]*)")?')
ERROR_LINE = re.compile(
    r"^\[(?P<time>\w{3} \w{3} +\d{1,2} \d{2}:\d{2}:\d{2}(?:\.\d+)? \d{4})\] \[(?P<level>[^\]]+)\]"
    r"(?: \[pid [^\]]*\])?(?: \[client (?P<client>[^\]]+)\])? ?(?P<message>.*)$")


def _access_line(line: str) -> ParsedLine | None:
    match = ACCESS_LINE.match(line)
    if not match:
        return None
    try:
        moment = datetime.strptime(match["time"], "%d/%b/%Y:%H:%M:%S %z")
    except ValueError:
        return None
    parts = match["request"].split()
    method, path = (parts[0], parts[1]) if len(parts) >= 2 else (None, None)
    status = _status(match["status"])
    level = "ERROR" if status and status >= 500 else "WARN" if status and status >= 400 else "INFO"
    return ParsedLine("access", _utc(moment), level, status, None, match["request"], method, path,
                      _size(match["bytes"]), match["client"])


def _size(text: str) -> int | None:
    """Bytes sent; none for a size no server writes (over 18 digits), which a DynamoDB number (38 digits at
    most) or int() (4300 digits at most) would refuse and fail the line's whole message with."""
    if text == "-":
        return 0
    return int(text) if len(text) <= 18 else None


def _error_line(line: str) -> ParsedLine | None:
    match = ERROR_LINE.match(line)
    if not match:
        return None
    text = re.sub(r" +", " ", match["time"])
    for pattern in ("%a %b %d %H:%M:%S.%f %Y", "%a %b %d %H:%M:%S %Y"):
        try:
            moment = datetime.strptime(text, pattern)
            break
        except ValueError:
            continue
    else:
        return None
    level_text = match["level"]
    component = level_text.split(":", 1)[0] if ":" in level_text else None
    return ParsedLine("apache_error", _utc(moment), normalise_level(level_text), None, component,
                      match["message"], client=match["client"])


PARSERS = (_spec_line, _json_line, _access_line, _error_line)


def parse_line(line: str) -> ParsedLine:
    for parser in PARSERS:
        try:
            parsed = parser(line)
        except (ValueError, OverflowError, RecursionError):
            # The shape of a format with a value it cannot hold (2026-13-45, a year-1 time shifted out of
            # range): not that format, and still a line to keep.
            parsed = None
        if parsed is not None:
            return parsed
    return ParsedLine("unparsed", message=line)
