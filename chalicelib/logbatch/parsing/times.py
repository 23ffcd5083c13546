"""A time in a common layout near a line's start, for lines no format module recognises.

A file in an unknown format still says when each line happened, and a
report or a search by time is worth little without it. `find_time` looks for
one of a few layouts that log libraries write (below) starting within the
first TIME_HEAD characters, and accepts it only when it is a real moment: an
impossible date (Feb 30, hour 25) is no time, and so is a layout glued to a
word, a dot or a dash (`build-20171223-22:15:29:606`, `v2026-11-20 ...`, an
id), since there it is part of a name, not when the line was written.

| layout | example | year |
| --- | --- | --- |
| ISO 8601 and variants | `2026-11-20T10:00:01.5+01:00`, `2026-11-20 10:00:01,123`, `2026/11/20 10:00:01` | written |
| `yy/MM/dd HH:mm:ss` | `17/06/09 20:10:40` (Spark, log4j's `%d{yy/MM/dd HH:mm:ss}`) | 69-99 19xx, else 20xx |
| `yyyyMMdd-HH:mm:ss:SSS` | `20171223-22:15:29:606` | written |
| syslog's `Mon dd HH:MM:SS` | `Nov  2 06:25:01` | inferred as for RFC 3164 syslog |
| `dd/Mon/yyyy:HH:MM:SS zone` | `20/Nov/2026:10:00:08 +0000` (Apache's `%t`) | written |
| epoch seconds or milliseconds | `1700000000`, `1700000000.25`, `1700000000250`, as the line's first token (bracketed or not) | 2000 to 2099 only |

An epoch is only taken as a line's first token: further in, ten digits are an
order number or a phone number as often as a time.
"""
import re
from datetime import datetime, timedelta, timezone

from chalicelib.logbatch.parsing.common import MONTHS, _infer_year

TIME_HEAD = 64  # characters: where a time may start
_SPAN = 40  # the longest layout (ISO with nanoseconds and a zone), so one that starts at the edge is whole
_MONTH = "(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)"
TIME_LAYOUTS = re.compile(
    r"(?<![\w.:/+-])(?:"
    r"(?P<Y>\d{4})(?P<sep>[-/])(?P<M>\d\d)(?P=sep)(?P<D>\d\d)[T ](?P<h>\d\d):(?P<m>\d\d):(?P<s>\d\d)"
    r"(?:[.,](?P<f>\d{1,9}))?(?P<z>Z|[+-]\d\d:?\d\d)?"
    r"|(?P<yy>\d\d)/(?P<yM>\d\d)/(?P<yD>\d\d) (?P<yh>\d\d):(?P<ym>\d\d):(?P<ys>\d\d)"
    r"|(?P<cY>\d{4})(?P<cM>\d\d)(?P<cD>\d\d)-(?P<ch>\d\d):(?P<cm>\d\d):(?P<cs>\d\d)(?::(?P<cf>\d{3}))?"
    r"|(?P<mon>" + _MONTH + r") {1,2}(?P<sD>\d{1,2}) (?P<sh>\d\d):(?P<sm>\d\d):(?P<ss>\d\d)(?:\.(?P<sf>\d{1,6}))?"
    r"|(?P<aD>\d\d)/(?P<amon>" + _MONTH + r")/(?P<aY>\d{4}):(?P<ah>\d\d):(?P<am>\d\d):(?P<as>\d\d) (?P<az>[+-]\d{4})"
    r")(?![\w:])")
EPOCH_TOKEN = re.compile(r"\[?(?P<seconds>\d{10})(?:\.(?P<fraction>\d{1,6}))?\]?(?=\s|$)|\[?(?P<millis>\d{13})\]?(?=\s|$)")
# A plausible epoch: after 2000-01-01 and before 2100-01-01. Earlier or later, ten or thirteen digits are a
# counter or an id, not a time any log of today has.
EPOCH_MIN, EPOCH_MAX = 946_684_800, 4_102_444_800
_EPOCH = datetime(1970, 1, 1)


def epoch_time(seconds: int, micro: int = 0) -> datetime | None:
    """The naive UTC time of an epoch in seconds, or none outside the plausible range."""
    if not EPOCH_MIN <= seconds < EPOCH_MAX:
        return None
    return _EPOCH + timedelta(seconds=seconds, microseconds=micro)


def two_digit_year(year: int) -> int:
    """As Python's %y (and Hadoop's files) read it: 69-99 are the 1900s, 00-68 the 2000s."""
    return year + (1900 if year >= 69 else 2000)


def _fraction(digits: str | None) -> int:
    return int(digits[:6].ljust(6, "0")) if digits else 0


def _zone(text: str | None) -> timezone | None:
    if not text or text == "Z":
        return None
    sign = -1 if text[0] == "-" else 1
    digits = text[1:].replace(":", "")
    return timezone(sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:4])))


def _moment(match: re.Match, received_at) -> datetime | None:
    """The naive UTC time a TIME_LAYOUTS match says; ValueError for one no calendar has."""
    moment: datetime | None
    if match["Y"]:
        moment = datetime(int(match["Y"]), int(match["M"]), int(match["D"]), int(match["h"]), int(match["m"]),
                          int(match["s"]), _fraction(match["f"]), tzinfo=_zone(match["z"]))
    elif match["yy"]:
        moment = datetime(two_digit_year(int(match["yy"])), int(match["yM"]), int(match["yD"]), int(match["yh"]),
                          int(match["ym"]), int(match["ys"]))
    elif match["cY"]:
        moment = datetime(int(match["cY"]), int(match["cM"]), int(match["cD"]), int(match["ch"]), int(match["cm"]),
                          int(match["cs"]), _fraction(match["cf"]))
    elif match["mon"]:
        moment = _infer_year(MONTHS[match["mon"]], int(match["sD"]), int(match["sh"]), int(match["sm"]),
                             int(match["ss"]), _fraction(match["sf"]), received_at)
    else:
        moment = datetime(int(match["aY"]), MONTHS[match["amon"]], int(match["aD"]), int(match["ah"]),
                          int(match["am"]), int(match["as"]), tzinfo=_zone(match["az"]))
    if moment is not None and moment.tzinfo is not None:
        moment = moment.astimezone(timezone.utc).replace(tzinfo=None)
    return moment


def find_time(text: str, received_at: datetime | None = None) -> datetime | None:
    """The naive UTC time of the first real moment in a known layout starting within TIME_HEAD characters."""
    epoch = EPOCH_TOKEN.match(text)
    if epoch:
        if epoch["millis"]:
            millis = int(epoch["millis"])
            moment = epoch_time(millis // 1000, millis % 1000 * 1000)
        else:
            moment = epoch_time(int(epoch["seconds"]), _fraction(epoch["fraction"]))
        if moment is not None:
            return moment
    for match in TIME_LAYOUTS.finditer(text, 0, TIME_HEAD + _SPAN):
        if match.start() > TIME_HEAD:
            break
        try:
            moment = _moment(match, received_at)
        except (ValueError, OverflowError):  # Feb 30, hour 25, or a zone that moves year 1 out of the calendar
            continue
        if moment is not None:
            return moment
    return None
