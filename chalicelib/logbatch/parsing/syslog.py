"""Syslog: RFC 5424, and RFC 3164 with or without PRI (or with rsyslog's RFC 3339 time)."""
import re

from chalicelib.logbatch.parsing.common import (MONTHS, SYSLOG_SEVERITIES, ParsedLine, _details, _infer_year, _int,
                                                _iso, _text, _utc)
from chalicelib.logbatch.parsing.generic import _leading_level

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
        program, host = host[:-1], None
    if level is None:
        level = _leading_level(message, 2)
    program = _text(program)
    return ParsedLine("syslog", _utc(moment), level, None, program, message or None,
                      details=_details(host=_text(host), program=program, pid=_pid(match["pid"]),
                                       facility=facility))
