"""Proxifier's connection log: `[MM.DD HH:MM:SS] program - target message`.

Desktop proxy clients log every connection a program opens, which is how
users find out what an application talks to. The time has no year: it gets
one as RFC 3164 syslog does. Proxifier writes no level, but marks a failed
connection `target error : reason`: such a line is ERROR, the others none.
"""
import re

from chalicelib.logbatch.parsing.common import ParsedLine, _details, _infer_year, _text, _utc

PROXIFIER_LINE = re.compile(
    r"\[(?P<month>\d\d)\.(?P<day>\d\d) (?P<hour>\d\d):(?P<minute>\d\d):(?P<second>\d\d)\] (?P<program>\S[^\n]*?) - "
    r"(?P<message>(?P<target>\S+)(?P<error> error :)?.*)", re.DOTALL)


def _proxifier_line(line: str, received_at) -> ParsedLine | None:
    match = PROXIFIER_LINE.match(line)
    if not match:
        return None
    moment = _infer_year(int(match["month"]), int(match["day"]), int(match["hour"]), int(match["minute"]),
                         int(match["second"]), 0, received_at)
    if moment is None:
        return None
    program = _text(match["program"])
    return ParsedLine("proxifier", _utc(moment), "ERROR" if match["error"] else None, None, program,
                      match["message"], details=_details(program=program, target=_text(match["target"])))
