"""Supercomputer RAS logs in the BlueGene/L and Thunderbird styles.

Cluster operators keep these (and public log collections made them the
standard test of log tools), and they hold three times: an alert label, a Unix
epoch, a date, then the node's own clock. The epoch is UTC and so it is the
time, when it is plausible (2000 to 2099); otherwise the written time, taken as
UTC, stands. A line opens with its alert category (`-` when it is no alert,
`KERNDTLB`, `APPREAD`, `VAPI`, ...), which goes in `details.alert`.

- BlueGene/L: `- 1117838570 2005.06.03 R02-M1-N0-C:J12-U11 2005-06-03-15.42.50.675872 R02-M1-N0-C:J12-U11 RAS
  KERNEL INFO message`: node, time, location, type, component, level:

  | written | INFO | WARNING | SEVERE | ERROR | FATAL | FAILURE |
  | --- | --- | --- | --- | --- | --- | --- |
  | level | INFO | WARN | ERROR | ERROR | FATAL | FATAL |

- Thunderbird: `- 1131566461 2005.11.09 dn228 Nov 9 12:01:01 dn228/dn228 crond(pam_unix)[2915]: message`, a
  syslog line after the epoch and date; it has no level field (a level word opening the message counts, as
  for syslog).
"""
import re
from datetime import datetime

from chalicelib.logbatch.parsing.common import MONTHS, ParsedLine, _details, _int, _text, _utc
from chalicelib.logbatch.parsing.generic import _leading_level
from chalicelib.logbatch.parsing.times import epoch_time

RAS_LEVELS = {"INFO": "INFO", "WARNING": "WARN", "SEVERE": "ERROR", "ERROR": "ERROR", "FATAL": "FATAL",
              "FAILURE": "FATAL"}
RAS_FIRST = frozenset("-ABCDEFGHIJKLMNOPQRSTUVWXYZ")
RAS_HEAD = re.compile(r"(?P<alert>-|[A-Z][A-Z0-9_]*) (?P<epoch>\d{1,10}) (?P<year>\d{4})\.(?P<month>\d\d)\.(?P<day>\d\d)"
                      r" (?P<node>\S+) ")
BGL_REST = re.compile(
    r"(?P<year>\d{4})-(?P<month>\d\d)-(?P<day>\d\d)-(?P<hour>\d\d)\.(?P<minute>\d\d)\.(?P<second>\d\d)\.(?P<micro>\d{6})"
    r" (?P<location>\S+) (?P<type>\S+) (?P<component>\S+) (?P<level>[A-Z]+)(?: (?P<message>.*))?", re.DOTALL)
THUNDERBIRD_REST = re.compile(
    r"(?P<month>[A-Z][a-z]{2}) {1,2}(?P<day>\d{1,2}) (?P<hour>\d\d):(?P<minute>\d\d):(?P<second>\d\d)"
    r" (?P<location>\S+)(?: (?P<program>[^\s\[\]:]+)(?:\[(?P<pid>\d+)\])?:(?= |$))? ?(?P<message>.*)", re.DOTALL)


def _ras_line(line: str, _received_at) -> ParsedLine | None:
    head = RAS_HEAD.match(line)
    if not head:
        return None
    rest = head.end()
    alert = None if head["alert"] == "-" else head["alert"]
    bgl = BGL_REST.match(line, rest)
    if bgl:
        return _bgl(head, bgl, alert)
    thunderbird = THUNDERBIRD_REST.match(line, rest)
    if thunderbird:
        return _thunderbird(head, thunderbird, alert)
    return None


def _bgl(head: re.Match, match: re.Match, alert: str | None) -> ParsedLine | None:
    level = RAS_LEVELS.get(match["level"])
    if level is None:
        return None
    written = datetime(int(match["year"]), int(match["month"]), int(match["day"]), int(match["hour"]),
                       int(match["minute"]), int(match["second"]), int(match["micro"]))
    moment = epoch_time(int(head["epoch"])) or written
    component = _text(match["component"])
    return ParsedLine("bgl", _utc(moment), level, None, component, match["message"] or None,
                      details=_details(alert=_text(alert), node=_text(head["node"]), location=_text(match["location"]),
                                       type=_text(match["type"]), component=component))


def _thunderbird(head: re.Match, match: re.Match, alert: str | None) -> ParsedLine | None:
    month = MONTHS.get(match["month"])
    if month is None:
        return None
    written = datetime(int(head["year"]), month, int(match["day"]), int(match["hour"]), int(match["minute"]),
                       int(match["second"]))
    moment = epoch_time(int(head["epoch"])) or written
    program, message = _text(match["program"]), match["message"]
    return ParsedLine("thunderbird", _utc(moment), _leading_level(message, 2) if message else None, None, program,
                      message or None,
                      details=_details(alert=_text(alert), node=_text(head["node"]), location=_text(match["location"]),
                                       program=program, pid=_int(match["pid"])))
