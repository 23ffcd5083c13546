"""Android logcat, as `adb logcat` writes it by default (`threadtime`) and with `-v time` or `-v year`.

Phones and their apps log through logcat, and a bug report or a CI run of an
app hands over such a file. Its level is one letter and its default layout
has no year, so neither the generic level words nor an ISO time find them.

| letter | V | D | I | W | E | F | A |
| --- | --- | --- | --- | --- | --- | --- | --- |
| level | TRACE | DEBUG | INFO | WARN | ERROR | FATAL | FATAL |

A time without a year gets one as RFC 3164 syslog does (the latest year that
puts it at most 31 days after the run's start). The tag is the component;
pid, tid and tag go in `details`.
"""
import re
from datetime import datetime

from chalicelib.logbatch.parsing.common import ParsedLine, _details, _infer_year, _int, _text, _utc

ANDROID_LEVELS = {"V": "TRACE", "D": "DEBUG", "I": "INFO", "W": "WARN", "E": "ERROR", "F": "FATAL", "A": "FATAL"}
_STAMP = (r"(?:(?P<year>\d{4})-)?(?P<month>\d\d)-(?P<day>\d\d) (?P<hour>\d\d):(?P<minute>\d\d):(?P<second>\d\d)"
          r"\.(?P<millis>\d{3})")
# threadtime: `MM-dd HH:mm:ss.SSS  pid  tid L tag: message`, the tag padded with spaces before its colon
THREADTIME = re.compile(_STAMP + r" +(?P<pid>\d+) +(?P<tid>\d+) (?P<level>[VDIWEFA]) (?P<tag>[^:]*?) *: ?"
                        r"(?P<message>.*)", re.DOTALL)
# time: `MM-dd HH:mm:ss.SSS L/tag( pid): message`
TIME = re.compile(_STAMP + r" (?P<level>[VDIWEFA])/(?P<tag>[^(]*?) *\( *(?P<pid>\d+)\): ?(?P<message>.*)", re.DOTALL)


def _android_line(line: str, received_at) -> ParsedLine | None:
    match = THREADTIME.match(line) or TIME.match(line)
    if not match:
        return None
    month, day = int(match["month"]), int(match["day"])
    clock = (int(match["hour"]), int(match["minute"]), int(match["second"]), int(match["millis"]) * 1000)
    if match["year"]:
        moment = datetime(int(match["year"]), month, day, *clock)
    else:
        inferred = _infer_year(month, day, *clock, received_at)
        if inferred is None:
            return None
        moment = inferred
    tag = _text(match["tag"].strip())
    groups = match.groupdict()
    return ParsedLine("android", _utc(moment), ANDROID_LEVELS[match["level"]], None, tag, match["message"] or None,
                      details=_details(pid=_int(match["pid"]), tid=_int(groups.get("tid")), tag=tag))
