"""Recognise a log line's format and pull out its time, level, status and message.

Users upload whatever their systems write, not only the spec's format: a
report that files most of a syslog, a Spring Boot log or an ALB access log
under `unparsed` tells them nothing. This module turns each line into a
`ParsedLine` whose time, level and status are comparable across formats
(times ISO 8601 UTC with a `Z`, levels canonical, statuses ints), and keeps
what is particular to a format in `details`. Pure functions.

Formats (the `format` of a `ParsedLine`), tried in this order:

| format | looks like |
| --- | --- |
| `app` | the spec's `YYYY-MM-DD HH:MM:SS LEVEL [Component] message` (always tried first) |
| `json` | JSON Lines: an object with any of the usual time/level/status/message keys |
| `access` | Apache/Nginx access logs, common and combined |
| `apache_error` | `[Wed Oct 11 14:32:52 2000] [core:error] ... message` |
| `syslog5424` | `<165>1 2003-10-11T22:14:15.003Z host app procid msgid [structured-data] message` |
| `log4j` | log4j, logback, Spring Boot and Python `logging` layouts that start with a date and time (below) |
| `syslog` | RFC 3164 `[<PRI>]Oct 11 22:14:15 host program[pid]: message`, or with rsyslog's RFC 3339 time |
| `hadoop` | `081109 203615 148 INFO dfs.DataNode$PacketResponder: message` (`yyMMdd HHmmss pid LEVEL class: message`) |
| `alb` | Application Load Balancer access logs |
| `cloudfront` | CloudFront standard (legacy) access logs, tab-separated |
| `s3_access` | S3 server access logs |
| `generic` | anything else with a level word near its start (below) |
| `unparsed` | nothing recognisable: kept with the raw line, not an error |

`log4j` layouts: `%d %p [%t] %c - %m` (a line in the spec's shape whose time
has a fraction and whose message starts with `logger - ` or `dotted.logger: `;
without a fraction it stays `app`, as the spec's own lines never have one),
`%d [%t] %p %c - %m` (logback's default), Spring Boot's
`%d  LEVEL pid --- [app] [thread] logger : message`, Python's
`%(asctime)s - %(name)s - %(levelname)s - %(message)s` (the name optional),
`%(asctime)s [%(levelname)s] %(name)s: %(message)s`,
`%(asctime)s %(name)s %(levelname)s %(message)s`, log4j's `%d %p %c:%L - %m`
and a bare `time LEVEL message`. Written levels are upper case, as these libraries write
them (a bracketed level may be any case). Python's no-time default
`LEVEL:logger:message` is `generic`.

Times. A time without a zone is taken as UTC. RFC 3164 syslog has no year: it
is the latest year that puts the line's time no more than 31 days after the
reference time (`received_at`, default now; an aware one is taken in UTC): a
December line read in January is from the previous year, a line up to a month
ahead of the reference (clock skew, zones) keeps the nearer year, and a
`Feb 29` is from the latest leap year that fits. Hadoop's
two-digit years follow Python's `%y`: 69-99 are 19xx, 00-68 are 20xx. An
impossible time (Feb 30, month 13, hour 25) means "not that format": the line
goes on to the next parser and ends up `generic` or `unparsed` at worst.

Levels. `normalise_level` maps what a format writes (any case) to one of
TRACE, DEBUG, INFO, NOTICE, WARN, ERROR, FATAL; anything else is UNKNOWN:

| written | level |
| --- | --- |
| trace, finer, finest | TRACE |
| debug, fine | DEBUG |
| info, information | INFO |
| notice | NOTICE |
| warn, warning | WARN |
| error, err, severe | ERROR |
| fatal, critical, crit, alert, emerg, emergency, panic | FATAL |

Syslog's severity is the `<PRI>` value modulo 8:

| PRI % 8 | syslog name | level |
| --- | --- | --- |
| 0, 1, 2 | emerg, alert, crit | FATAL |
| 3 | err | ERROR |
| 4 | warning | WARN |
| 5 | notice | NOTICE |
| 6 | info | INFO |
| 7 | debug | DEBUG |

A PRI over 191 (facility 23, severity 7) is not syslog. A syslog line without
PRI takes its level from a level word opening its message (`myapp[7]: ERROR
...`, the generic rule below), or has none. Access-style logs (`access`, `alb`,
`cloudfront`, `s3_access`) take theirs from the status: 5xx ERROR, 4xx WARN,
anything else INFO.

Generic fallback: a line no format recognises is `generic` when one of its
first five whitespace-separated tokens, within its first 80 characters, is a
level word: upper case as a whole token, or before a colon (`ERROR`,
`ERROR:`, `WARNING:root:...`), from TRACE, DEBUG, INFO, NOTICE, WARN, WARNING, ERROR, FATAL, CRITICAL; in
square brackets in any case, also syslog's and nginx's short names (`[error]`,
`[Warn]`, `[crit]`, `[emerg]`, `[ERROR]:`); or a logfmt `level=`/`lvl=`/
`severity=` value in any case that `normalise_level` knows. A lower-case word on its own (`the error was`,
`error: no such file`) is prose, not a level. A leading `YYYY-MM-DD` or
`YYYY/MM/DD` date and time, when there is one, is its timestamp.

W3C-style headers (`#Version:`, `#Fields:`, `#Date:`, ... at the top of a
CloudFront or IIS log) are not items: `is_header` tells them, and the splitter
skips them rather than count them as lines.

Fields are DynamoDB-storable: `details` holds short str and int values only
(timings as strings, no floats; ints of at most 18 digits; no empty strings;
strings clipped to DETAIL_LIMIT characters; a lone surrogate becomes U+FFFD).

No line makes `parse_line` raise: a worker that raised on one would send its
whole message to the DLQ and leave the run short of its report forever.
"""
import json
import re
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from urllib.parse import unquote

LEVELS = {
    "trace": "TRACE", "finer": "TRACE", "finest": "TRACE",
    "debug": "DEBUG", "fine": "DEBUG",
    "info": "INFO", "information": "INFO",
    "notice": "NOTICE",
    "warn": "WARN", "warning": "WARN",
    "error": "ERROR", "err": "ERROR", "severe": "ERROR",
    "fatal": "FATAL", "critical": "FATAL", "crit": "FATAL", "alert": "FATAL", "emerg": "FATAL",
    "emergency": "FATAL", "panic": "FATAL",
}
SYSLOG_SEVERITIES = ("FATAL", "FATAL", "FATAL", "ERROR", "WARN", "NOTICE", "INFO", "DEBUG")
DETAIL_LIMIT = 1000  # characters: a record must stay under DynamoDB's 400 KB with its raw line and message


@dataclass(frozen=True)
class ParsedLine:
    """What one line says. The attributes up to `client` are common to every format; `details` holds what only
    its format has (host, program, pid, thread, logger, elb, target, user_agent, edge_location, bucket, key...)."""
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
    details: dict | None = field(default=None, hash=False)  # a dict cannot be hashed; the rest still identify

    def fields(self) -> dict:
        values = {name: getattr(self, name) for name in _FIELD_NAMES}
        values = {key: value for key, value in values.items() if value is not None}
        if self.details:
            values["details"] = dict(self.details)
        return values


_FIELD_NAMES = ("format", "timestamp", "level", "status_code", "component", "message", "method", "path",
                "bytes_sent", "client")


def normalise_level(raw) -> str | None:
    if raw is None or raw == "":
        return None
    text = str(raw).strip().lower()
    if ":" in text:  # Apache 2.4 writes "module:level"
        text = text.rsplit(":", 1)[-1]
    return LEVELS.get(text, "UNKNOWN")


def status_class(status: int | None) -> str:
    return f"{status // 100}xx" if status and 100 <= status <= 599 else "none"


W3C_DIRECTIVES = frozenset({"Version", "Fields", "Software", "Start-Date", "End-Date", "Date", "Remark"})


def is_header(line: str) -> bool:
    """True for a W3C extended log directive (`#Version: 1.0`, `#Fields: date time ...`): CloudFront and IIS
    logs open with them; they describe the file and are no item of it, so the splitter skips them."""
    if not line.startswith("#"):
        return False
    colon = line.find(":", 1, 12)
    return colon > 0 and line[1:colon] in W3C_DIRECTIVES


def _utc(moment: datetime) -> str:
    if moment.tzinfo is not None:  # a naive time is UTC already; astimezone is most of this function's cost
        moment = moment.astimezone(timezone.utc).replace(tzinfo=None)
    return moment.isoformat() + "Z"


def _status(value) -> int | None:
    try:
        status = int(str(value).strip())
    except (TypeError, ValueError):
        return None
    return status if 100 <= status <= 599 else None


def _status_level(status: int | None) -> str:
    return "ERROR" if status and status >= 500 else "WARN" if status and status >= 400 else "INFO"


# --- the spec's own format ---------------------------------------------------------

SPEC_LINE = re.compile(
    r"^(?P<date>\d{4}-\d{2}-\d{2})[ T](?P<time>\d{2}:\d{2}:\d{2})(?P<fraction>[.,]\d{1,6})?(?P<zone>Z|[+-]\d{2}:?\d{2})?"
    r"\s+(?P<level>[A-Za-z]+)\s+\[(?P<component>[^\]]*)\]\s?(?P<message>.*)$")
STATUS_IN_MESSAGE = re.compile(
    r"(?:\bstatus(?:_code|Code)?\s*[=:]\s*|\bresponse sent:\s*|\bHTTP/\d(?:\.\d)?\"?\s+)(?P<status>[1-5]\d\d)\b",
    re.IGNORECASE)
# log4j's `%d %p [%t] %c - %m` has the spec's shape; its message opens with the logger.
LOGGER_OPENING = re.compile(
    r"(?P<logger>[A-Za-z_$][\w$.\-]*(?::\d+)?) +- |(?P<dotted>[A-Za-z_$][\w$\-]*(?:\.[\w$\-]+)+): ")


def _spec_line(line: str, _received_at) -> ParsedLine | None:
    match = SPEC_LINE.match(line)
    if not match or match["level"].lower() not in LEVELS:
        return None
    fraction = (match["fraction"] or "").replace(",", ".")
    zone = match["zone"] or ""
    if zone and zone != "Z" and ":" not in zone:
        zone = f"{zone[:3]}:{zone[3:]}"
    moment = datetime.fromisoformat(f"{match['date']}T{match['time']}{fraction}{'+00:00' if zone == 'Z' else zone}")
    if fraction and match["level"].isupper():
        opening = LOGGER_OPENING.match(match["message"])
        if opening:
            logger = opening["logger"] or opening["dotted"]
            return _log4j_record(moment, match["level"], match["component"], logger,
                                 match["message"][opening.end():].lstrip(" "))
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


def _access_line(line: str, _received_at) -> ParsedLine | None:
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
    return ParsedLine("access", _utc(moment), _status_level(status), status, None, match["request"], method, path,
                      _size(match["bytes"]), match["client"])


def _size(text: str) -> int | None:
    """Bytes sent; none for a size no server writes (over 18 digits), which a DynamoDB number (38 digits at
    most) or int() (4300 digits at most) would refuse and fail the line's whole message with."""
    if text == "-":
        return 0
    return int(text) if len(text) <= 18 else None


def _error_line(line: str, _received_at) -> ParsedLine | None:
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


# --- shared by the new formats -----------------------------------------------------------

MONTHS = {name: number for number, name in enumerate(
    ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), start=1)}
ISO_TIME = (r"(?P<date>\d{4}-\d\d-\d\d)[T ](?P<time>\d\d:\d\d:\d\d)(?:[.,](?P<fraction>\d{1,9}))?"
            r"(?P<zone>Z|[+-]\d\d:?\d\d)?")


def _iso(match: re.Match) -> datetime:
    """The time of an ISO_TIME or GENERIC_TIME match; ValueError for one no calendar has."""
    text = f"{match['date'].replace('/', '-')}T{match['time']}"
    if match["fraction"]:
        text += "." + match["fraction"][:6].ljust(6, "0")
    zone = match["zone"]
    if zone and zone != "Z":
        text += zone if ":" in zone else f"{zone[:3]}:{zone[3:]}"
    else:
        text += "+00:00"
    return datetime.fromisoformat(text)


def _clf_time(text: str) -> datetime:
    """`06/Feb/2019:00:00:38 +0000` (the shape is checked by the caller's regex); ValueError if impossible."""
    month = MONTHS.get(text[3:6])
    if month is None:
        raise ValueError(text)
    sign = -1 if text[21] == "-" else 1
    offset = timedelta(hours=int(text[22:24]), minutes=int(text[24:26]))
    return datetime(int(text[7:11]), month, int(text[:2]), int(text[12:14]), int(text[15:17]), int(text[18:20]),
                    tzinfo=timezone(sign * offset))


def _text(value: str | None) -> str | None:
    """A value as `details` stores it: none for nil (`-`, empty), clipped, without lone surrogates."""
    if not value or value == "-":
        return None
    if len(value) <= DETAIL_LIMIT and value.isascii():
        return value
    return _storable(value[:DETAIL_LIMIT])


def _int(value: str | None) -> int | None:
    """Digits as an int DynamoDB and int() take (18 digits at most); none otherwise."""
    return int(value) if value and len(value) <= 18 and value.isdigit() and value.isascii() else None


def _details(**values) -> dict | None:
    kept = {key: value for key, value in values.items() if value is not None}
    return kept or None


# --- syslog ---------------------------------------------------------------------------------

RFC3339_TIME = (r"(?P<date>\d{4}-\d\d-\d\d)T(?P<time>\d\d:\d\d:\d\d)(?:\.(?P<fraction>\d{1,9}))?"
                r"(?P<zone>Z|[+-]\d\d:\d\d)")
SYSLOG_5424 = re.compile(
    r"<(?P<pri>\d{1,3})>(?P<version>[1-9]\d{0,2}) (?:-|" + RFC3339_TIME + r") (?P<host>\S+) (?P<app>\S+)"
    r" (?P<procid>\S+) (?P<msgid>\S+) (?P<sd>-|(?:\[(?:[^\]\"\\]|\\.|\"(?:[^\"\\]|\\.)*\")*\])+)(?: (?P<msg>.*))?$",
    re.DOTALL)
SYSLOG_3164 = re.compile(
    r"(?:<(?P<pri>\d{1,3})>)?(?:(?P<month>[A-Z][a-z]{2}) {1,2}(?P<day>\d{1,2}) (?P<hms>\d\d:\d\d:\d\d)"
    r"(?:\.(?P<subsecond>\d{1,6}))?|" + RFC3339_TIME + r") (?P<host>\S+)"
    r"(?: (?P<program>[^\s\[\]:]+)(?:\[(?P<pid>[^\]\s]*)\])?:(?= |$))? ?(?P<message>.*)", re.DOTALL)
SYSLOG_FIRST = frozenset("<" + "".join({name[0] for name in MONTHS}) + "0123456789")


def _priority(text: str | None) -> tuple[int | None, str | None]:
    """(facility, level) of a `<PRI>`; ValueError when it is none syslog has."""
    if text is None:
        return None, None
    pri = int(text)
    if pri > 191:
        raise ValueError(f"PRI {pri}")
    return pri // 8, SYSLOG_SEVERITIES[pri % 8]


def _syslog_5424(line: str, _received_at) -> ParsedLine | None:
    if not line.startswith("<"):
        return None
    match = SYSLOG_5424.match(line)
    if not match:
        return None
    facility, level = _priority(match["pri"])
    moment = _iso(match) if match["date"] else None
    message = match["msg"]
    if message and message[0] == "\ufeff":  # RFC 5424 marks a UTF-8 message with a BOM
        message = message[1:]
    program = _text(match["app"])
    return ParsedLine("syslog5424", _utc(moment) if moment else None, level, None, program, message or None,
                      details=_details(host=_text(match["host"]), program=program, pid=_pid(match["procid"]),
                                       msgid=_text(match["msgid"]), structured_data=_text(match["sd"]),
                                       facility=facility))


def _pid(text: str | None) -> int | str | None:
    """A process id as a number when it is one (RFC 5424 allows any text)."""
    number = _int(text)
    return number if number is not None else _text(text)


def _syslog_3164(line: str, received_at) -> ParsedLine | None:
    match = SYSLOG_3164.match(line)
    if not match:
        return None
    facility, level = _priority(match["pri"])
    if match["month"]:
        month = MONTHS.get(match["month"])
        if month is None:
            return None
        hour, minute, second = (int(part) for part in match["hms"].split(":"))
        micro = int(match["subsecond"].ljust(6, "0")) if match["subsecond"] else 0
        moment = _infer_year(month, int(match["day"]), hour, minute, second, micro, received_at)
        if moment is None:
            return None
    else:
        moment = _iso(match)
    host, program, message = match["host"], match["program"], match["message"]
    if match["pid"] is None and program is None and host.endswith(":") and len(host) > 1:  # no host written
        host, program = None, host[:-1]
    if level is None:
        level = _leading_level(message, 2)
    program = _text(program)
    return ParsedLine("syslog", _utc(moment), level, None, program, message or None,
                      details=_details(host=_text(host), program=program, pid=_pid(match["pid"]),
                                       facility=facility))


YEAR_SLACK = timedelta(days=31)
_clock = [-1, datetime.min]  # (second, now then): a year guess needs no finer clock, and now() costs per line


def _now() -> datetime:
    second = int(time.time())
    if second != _clock[0]:
        _clock[:] = [second, datetime.now(timezone.utc).replace(tzinfo=None)]
    return _clock[1]


def _infer_year(month: int, day: int, hour: int, minute: int, second: int, micro: int,
                received_at: datetime | None) -> datetime | None:
    """The latest year that puts this time no more than YEAR_SLACK after `received_at` (in UTC); none when
    no year in the nine before it has such a day (Feb 30), or the time itself is impossible (hour 25)."""
    reference = _reference(received_at)
    try:
        limit = reference + YEAR_SLACK
    except OverflowError:
        limit = datetime.max
    for year in range(reference.year + 1, reference.year - 9, -1):
        try:
            moment = datetime(year, month, day, hour, minute, second, micro)
        except ValueError:  # no such day that year (Feb 29), or no such year (0, 10000): try the one before
            continue
        if moment <= limit:
            return moment
    return None


def _reference(received_at: datetime | None) -> datetime:
    if received_at is None:
        return _now()
    if received_at.tzinfo is None:
        return received_at
    try:
        return received_at.astimezone(timezone.utc).replace(tzinfo=None)
    except OverflowError:  # year 1 or 9999 moved past the calendar's edge: near enough for a year guess
        return received_at.replace(tzinfo=None)


# --- log4j, logback, Spring Boot, Python logging -----------------------------------------------------

LOG4J_TIME = re.compile(ISO_TIME)
PYTHON_NAMED = re.compile(r" - (?P<logger>\S+) - (?P<level>[A-Z]+) - (?P<message>.*)", re.DOTALL)
PYTHON_PLAIN = re.compile(r" - (?P<level>[A-Z]+) - (?P<message>.*)", re.DOTALL)
SPRING_BOOT = re.compile(
    r" +(?P<level>[A-Z]+) +(?P<pid>\d+) +--- +(?:\[(?P<app>[^\]]*)\] +)?\[ *(?P<thread>[^\]]*?) *\]"
    r" +(?P<logger>\S+) +: (?P<message>.*)", re.DOTALL)
THREAD_FIRST = re.compile(
    r" +\[(?P<thread>[^\]]*)\] +(?P<level>[A-Z]+) +(?:(?P<logger>[A-Za-z_$][\w$.\-]*(?::\d+)?) +- )?(?P<message>.*)",
    re.DOTALL)
LEVEL_FIRST = re.compile(
    r" +(?:\[(?P<bracketed>[A-Za-z]+)\]|(?P<level>[A-Z]+):?(?= |$))(?: +\[(?P<thread>[^\]]*)\])?"
    r"(?: +(?P<logger>[A-Za-z_$][\w$.\-]*(?::\d+)?) ?[-:](?= ))? *(?P<message>.*)", re.DOTALL)
LOGGER_FIRST = re.compile(r" +(?P<logger>[A-Za-z_$][\w$.\-]*) +(?P<level>[A-Z]+) +(?P<message>.*)", re.DOTALL)
LOG4J_LAYOUTS = (PYTHON_NAMED, PYTHON_PLAIN, SPRING_BOOT, THREAD_FIRST, LEVEL_FIRST, LOGGER_FIRST)


def _log4j_line(line: str, _received_at) -> ParsedLine | None:
    stamp = LOG4J_TIME.match(line)
    if not stamp:
        return None
    after = stamp.end()
    for layout in LOG4J_LAYOUTS:
        match = layout.match(line, after)
        if not match:
            continue
        groups = match.groupdict()
        level = groups.get("level") or groups.get("bracketed")
        if level and level.lower() in LEVELS:
            return _log4j_record(_iso(stamp), level, groups.get("thread"), groups.get("logger"), match["message"],
                                 pid=groups.get("pid"), app=groups.get("app"))
    return None


def _log4j_record(moment: datetime, level: str, thread: str | None, logger: str | None, message: str,
                  pid: str | None = None, app: str | None = None) -> ParsedLine:
    logger = _text(logger)
    return ParsedLine("log4j", _utc(moment), normalise_level(level), None, logger, message or None,
                      details=_details(thread=_text(thread and thread.strip()), logger=logger, pid=_int(pid),
                                       app=_text(app)))


# --- Hadoop -------------------------------------------------------------------------------------------

HADOOP_LINE = re.compile(
    r"(?P<date>\d{6}) (?P<time>\d{6}) (?P<pid>\d+) (?P<level>[A-Z]+) (?P<logger>[^\s:]+): (?P<message>.*)", re.DOTALL)


def _hadoop_line(line: str, _received_at) -> ParsedLine | None:
    match = HADOOP_LINE.match(line)
    if not match or match["level"].lower() not in LEVELS:
        return None
    date, time = match["date"], match["time"]
    year = int(date[:2])
    moment = datetime(year + (1900 if year >= 69 else 2000), int(date[2:4]), int(date[4:]),
                      int(time[:2]), int(time[2:4]), int(time[4:]))
    logger = _text(match["logger"])
    return ParsedLine("hadoop", _utc(moment), normalise_level(match["level"]), None, logger,
                      match["message"] or None, details=_details(pid=_int(match["pid"]), logger=logger))


# --- AWS: Application Load Balancer, CloudFront, S3 server access ------------------------------------

ALB_TYPES = ("http ", "https ", "h2 ", "grpcs ", "ws ", "wss ")
ALB_LINE = re.compile(
    r"(?P<type>\S+) (?P<time>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,9})?Z) (?P<elb>\S+) (?P<client>\S+)"
    r" (?P<target>\S+) (?P<request_time>\S+) (?P<target_time>\S+) (?P<response_time>\S+)"
    r" (?P<elb_status>\d{3}|-) (?P<target_status>\d{3}|-) (?P<received>\d+|-) (?P<sent>\d+|-)"
    r' "(?P<request>[^"]*)" "(?P<agent>(?:[^"\\]|\\.)*)" (?P<cipher>\S+) (?P<protocol>\S+) (?P<target_group>\S+)'
    r'(?: "(?P<trace>[^"]*)")?(?: "(?P<domain>[^"]*)")?(?: "(?P<cert>[^"]*)")?(?: (?P<rule>\S+))?'
    r'(?: (?P<created>\S+))?(?: "(?P<actions>[^"]*)")?(?: "(?P<redirect>[^"]*)")?(?: "(?P<error>[^"]*)")?')


def _alb_line(line: str, _received_at) -> ParsedLine | None:
    if not line.startswith(ALB_TYPES):
        return None
    match = ALB_LINE.match(line)
    if not match:
        return None
    moment = datetime.fromisoformat(match["time"][:-1][:26] + "+00:00")  # past microseconds: dropped
    status = _status(match["elb_status"])
    method, path = _request_target(match["request"])
    return ParsedLine(
        "alb", _utc(moment), _status_level(status), status, None, match["request"] or None, method, path,
        _size(match["sent"]), _address(match["client"]),
        details=_details(type=match["type"], elb=_text(match["elb"]), target=_text(match["target"]),
                         target_status=_status(match["target_status"]), received_bytes=_int(match["received"]),
                         request_processing_time=_text(match["request_time"]),
                         target_processing_time=_text(match["target_time"]),
                         response_processing_time=_text(match["response_time"]),
                         user_agent=_text(match["agent"]), ssl_cipher=_text(match["cipher"]),
                         ssl_protocol=_text(match["protocol"]), target_group=_text(match["target_group"]),
                         trace_id=_text(match["trace"]), domain=_text(match["domain"]),
                         actions=_text(match["actions"]), error_reason=_text(match["error"])))


def _request_target(request: str) -> tuple[str | None, str | None]:
    """(method, path) of `GET http://host:80/p?q HTTP/1.1`: the path without scheme and host, clipped."""
    parts = request.split(" ")
    if len(parts) < 2 or parts[0] == "-":
        return None, None
    target = parts[1]
    scheme = target.find("://")
    if scheme > 0:
        slash = target.find("/", scheme + 3)
        target = target[slash:] if slash > 0 else "/"
    return _text(parts[0]), _text(target)


def _address(client_port: str) -> str | None:
    """The address of `192.0.2.1:2817` (or of `2001:db8::1:2817`, as ALB writes IPv6)."""
    address, _, port = client_port.rpartition(":")
    return _text(address if address and port.isdigit() else client_port)


CLOUDFRONT_LINE = re.compile(r"\d{4}-\d\d-\d\d\t\d\d:\d\d:\d\d\t")


def _cloudfront_line(line: str, _received_at) -> ParsedLine | None:
    if not CLOUDFRONT_LINE.match(line):
        return None
    fields = line.split("\t", 24)
    if len(fields) < 13:
        return None
    (date, time, edge, sent, client, method, host, stem, status_text, referer, agent, query,
     _cookie) = fields[:13]
    rest = fields[13:] + [None] * 11
    if not (sent.isdigit() or sent == "-") or not method.isalpha() or not (status_text.isdigit() or status_text == "-"):
        return None
    moment = datetime.fromisoformat(f"{date}T{time}+00:00")
    status = _status(status_text)
    path = stem + (f"?{query}" if query and query != "-" else "")
    return ParsedLine(
        "cloudfront", _utc(moment), _status_level(status), status, None, f"{method} {path}", _text(method),
        _text(path), _size(sent) if sent.isascii() else None, _text(client),
        details=_details(edge_location=_text(edge), host=_text(host), referer=_text(referer),
                         user_agent=_text(unquote(agent, errors="replace")) if agent else None,
                         result_type=_text(rest[0]), request_id=_text(rest[1]), host_header=_text(rest[2]),
                         protocol=_text(rest[3]), received_bytes=_int(rest[4]), time_taken=_text(rest[5]),
                         ssl_protocol=_text(rest[7]), protocol_version=_text(rest[10])))


S3_ACCESS_LINE = re.compile(
    r"(?P<owner>\S+) (?P<bucket>\S+) \[(?P<time>\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4})\]"
    r" (?P<remote>\S+) (?P<requester>\S+) (?P<request_id>\S+) (?P<operation>\S+) (?P<key>\S+)"
    r' (?:"(?P<request>[^"]*)"|-) (?P<status>\d{3}|-) (?P<error>\S+) (?P<sent>\d+|-) (?P<size>\d+|-)'
    r' (?P<total>\d+|-) (?P<turnaround>\d+|-) (?:"(?P<referer>[^"]*)"|-) (?:"(?P<agent>(?:[^"\\]|\\.)*)"|-)'
    r"(?: (?P<version>\S+))?")


def _s3_access_line(line: str, _received_at) -> ParsedLine | None:
    match = S3_ACCESS_LINE.match(line)
    if not match:
        return None
    moment = _clf_time(match["time"])
    status = _status(match["status"])
    request = match["request"]
    method, path = _request_target(request) if request else (None, None)
    return ParsedLine(
        "s3_access", _utc(moment), _status_level(status), status, None, request or match["operation"], method, path,
        _size(match["sent"]), _text(match["remote"]),
        details=_details(bucket=_text(match["bucket"]), key=_text(match["key"]), operation=_text(match["operation"]),
                         request_id=_text(match["request_id"]), requester=_text(match["requester"]),
                         error_code=_text(match["error"]), object_size=_int(match["size"]),
                         total_time=_text(match["total"]), turn_around_time=_text(match["turnaround"]),
                         referer=_text(match["referer"]), user_agent=_text(match["agent"]),
                         version_id=_text(match["version"])))


# --- generic fallback ----------------------------------------------------------------------------

UPPER_LEVEL_WORDS = frozenset({"TRACE", "DEBUG", "INFO", "NOTICE", "WARN", "WARNING", "ERROR", "FATAL", "CRITICAL"})
BRACKETED_LEVEL_WORDS = frozenset(word.lower() for word in UPPER_LEVEL_WORDS) | {"err", "crit", "alert", "emerg"}
LOGFMT_LEVEL_KEYS = ("level=", "lvl=", "severity=")
GENERIC_TIME = re.compile(r"(?P<date>\d{4}[-/]\d\d[-/]\d\d)[T ](?P<time>\d\d:\d\d:\d\d)(?:[.,](?P<fraction>\d{1,9}))?"
                          r"(?P<zone>Z|[+-]\d\d:?\d\d)?")
PYTHON_DEFAULT = re.compile(r"(?P<level>[A-Z]+):(?P<logger>[^:\s]+):(?P<message>.*)", re.DOTALL)
GENERIC_HEAD = 80  # characters
GENERIC_TOKENS = 5


def _level_of_token(token: str) -> str | None:
    if token[0] == "[":
        inner = token[1:-1] if token.endswith("]") else token[1:-2] if token.endswith("]:") else None
        return LEVELS[inner.lower()] if inner and inner.lower() in BRACKETED_LEVEL_WORDS else None
    if token[0] in "lsLS" and "=" in token:
        key, _, value = token.partition("=")
        if (key.lower() + "=") in LOGFMT_LEVEL_KEYS:
            return LEVELS.get(value.strip("\"'").lower())
        return None
    word = token.split(":", 1)[0] if ":" in token else token
    return LEVELS[word.lower()] if word in UPPER_LEVEL_WORDS else None


def _leading_level(text: str, tokens: int = GENERIC_TOKENS) -> str | None:
    """The level a level word among the first `tokens` tokens (within GENERIC_HEAD characters) gives."""
    words = text[:GENERIC_HEAD].split()
    if words and len(text) > GENERIC_HEAD and not text[GENERIC_HEAD - 1].isspace() \
            and not text[GENERIC_HEAD].isspace():
        words.pop()  # a word cut at the edge: "INFORMATION" is not "INFO"
    for token in words[:tokens]:
        level = _level_of_token(token)
        if level:
            return level
    return None


def _generic_line(line: str, _received_at) -> ParsedLine | None:
    level = _leading_level(line)
    if level is None:
        return None
    timestamp = None
    stamp = GENERIC_TIME.match(line)
    if stamp:
        try:
            timestamp = _utc(_iso(stamp))
        except (ValueError, OverflowError):
            timestamp = None
    python = PYTHON_DEFAULT.match(line)
    if python and python["level"] in UPPER_LEVEL_WORDS:
        return ParsedLine("generic", timestamp, level, None, _text(python["logger"]), python["message"] or None)
    return ParsedLine("generic", timestamp, level, None, None, line)


# --- dispatch ---------------------------------------------------------------------------------------

DIGITS = frozenset("0123456789")
ANY = None
# (parser, the first characters of the lines it can recognise, or ANY): a line only meets the parsers its first
# character allows, in this order, so what one parser recognises is what the same list tried in full would give.
PARSERS = (
    (_spec_line, DIGITS),
    (_json_line, frozenset("{")),
    (_access_line, ANY),
    (_error_line, frozenset("[")),
    (_syslog_5424, frozenset("<")),
    (_log4j_line, DIGITS),
    (_syslog_3164, SYSLOG_FIRST),
    (_hadoop_line, DIGITS),
    (_alb_line, frozenset("hgw")),
    (_cloudfront_line, DIGITS),
    (_s3_access_line, ANY),
    (_generic_line, ANY),
)
_BY_FIRST: dict[str, tuple] = {}


def _parsers_for(first: str) -> tuple:
    chosen = _BY_FIRST.get(first)
    if chosen is None:
        chosen = tuple(parser for parser, firsts in PARSERS if firsts is ANY or first in firsts)
        if len(_BY_FIRST) < 256:  # a cache of the characters lines open with, not of every character there is
            _BY_FIRST[first] = chosen
    return chosen


def parse_line(line: str, received_at: datetime | None = None) -> ParsedLine:
    """What `line` is; `received_at` (default now) dates formats that write no year (RFC 3164 syslog)."""
    for parser in _parsers_for(line[:1]):
        try:
            parsed = parser(line, received_at)
        except (ValueError, OverflowError, RecursionError):
            # The shape of a format with a value it cannot hold (2026-13-45, a year-1 time shifted out of
            # range): not that format, and still a line to keep.
            parsed = None
        if parsed is not None:
            return parsed
    return ParsedLine("unparsed", message=line)
