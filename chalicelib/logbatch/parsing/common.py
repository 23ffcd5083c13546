"""What every format module shares: the parsed line, canonical levels, storable values and times.

Formats differ; what comes out of them must not: a record's time, level and
status are compared across formats (the report's counts, the problem-line
index), and its `details` are stored in DynamoDB as they are. So every format
module builds its `ParsedLine` from these helpers, and a rule about times or
storable values changes in one place.
"""
import re
import time
from datetime import datetime, timedelta, timezone
from typing import NamedTuple

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


class ParsedLine(NamedTuple):
    """What one line says. The attributes up to `client` are common to every format; `details` holds what only
    its format has (host, program, pid, thread, logger, elb, target, user_agent, edge_location, bucket, key...).

    A named tuple, not a frozen dataclass: it is built once per uploaded line, and a frozen dataclass's
    `__init__` (one `object.__setattr__` per field) cost about three times as much CPU as the tuple does.
    Immutable all the same, and equal when its values are."""
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
    details: dict | None = None

    def __hash__(self) -> int:  # a dict cannot be hashed; the other values still identify the line
        return hash(self[:10])

    def fields(self) -> dict:
        values = {name: value for name, value in zip(_FIELD_NAMES, self) if value is not None}
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



def _storable(text: str) -> str:
    """A JSON string as text that can be stored: a lone surrogate (`"\\ud800"`, which JSON allows) cannot be
    encoded as UTF-8, so it becomes U+FFFD, as invalid UTF-8 in the file does."""
    return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def _size(text: str) -> int | None:
    """Bytes sent; none for a size no server writes (over 18 digits), which a DynamoDB number (38 digits at
    most) or int() (4300 digits at most) would refuse and fail the line's whole message with."""
    if text == "-":
        return 0
    return int(text) if len(text) <= 18 else None


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


YEAR_SLACK = timedelta(days=31)
_clock: list = [-1, datetime.min]  # (second, now then): a year guess needs no finer clock, and now() costs per line


def _now() -> datetime:
    second = int(time.time())
    if second != _clock[0]:
        _clock[:] = [second, datetime.now(timezone.utc).replace(tzinfo=None)]
    return _clock[1]


def _infer_year(month: int, day: int, hour: int, minute: int, second: int, micro: int,
                received_at: datetime | None) -> datetime | None:
    """The latest year that puts this time no more than YEAR_SLACK after `received_at` (in UTC); none when
    no year in the nine before it has such a day (Feb 30), or the time itself is impossible (hour 25)."""
    reference, limit = _limit(received_at)
    for year in range(reference.year + 1, reference.year - 9, -1):
        try:
            moment = datetime(year, month, day, hour, minute, second, micro)
        except ValueError:  # no such day that year (Feb 29), or no such year (0, 10000): try the one before
            continue
        if moment <= limit:
            return moment
    return None


# (received_at, (reference, limit)) of the last call: a message's lines share one received_at. One tuple,
# replaced whole, so a thread never reads one run's reference with another's limit.
_last_limit: list = [(None, None)]


def _limit(received_at: datetime | None) -> tuple[datetime, datetime]:
    """(reference, reference + YEAR_SLACK), computed once for a run of lines with the same `received_at`."""
    seen, computed = _last_limit[0]
    if received_at is not None and seen is received_at:
        return computed
    reference = _reference(received_at)
    try:
        limit = reference + YEAR_SLACK
    except OverflowError:
        limit = datetime.max
    if received_at is not None:
        _last_limit[0] = (received_at, (reference, limit))
    return reference, limit


def _reference(received_at: datetime | None) -> datetime:
    if received_at is None:
        return _now()
    if received_at.tzinfo is None:
        return received_at
    try:
        return received_at.astimezone(timezone.utc).replace(tzinfo=None)
    except OverflowError:  # year 1 or 9999 moved past the calendar's edge: near enough for a year guess
        return received_at.replace(tzinfo=None)
