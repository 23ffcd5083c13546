"""Windows servicing logs (CBS.log, and the CSI lines in it): `yyyy-MM-dd HH:mm:ss, Level  Component  message`.

Windows Update and DISM problems are diagnosed from CBS.log, which users
collect and upload. The level is a capitalised word (`Info`, `Warning`,
`Error`) after a comma, which no other layout has, and the component (CBS,
CSI, DPX, ...) comes before a run of padding. Times are written without a
zone and taken as UTC, as for every other format.
"""
import re
from datetime import datetime

from chalicelib.logbatch.parsing.common import LEVELS, ParsedLine, _details, _text, _utc, normalise_level

CBS_LINE = re.compile(
    r"(?P<date>\d{4}-\d\d-\d\d) (?P<hour>\d\d):(?P<minute>\d\d):(?P<second>\d\d), (?P<level>[A-Z][a-z]+) +"
    r"(?P<component>\S+)(?: +(?P<message>.*))?", re.DOTALL)


def _cbs_line(line: str, _received_at) -> ParsedLine | None:
    match = CBS_LINE.match(line)
    if not match or match["level"].lower() not in LEVELS:
        return None
    year, month, day = (int(part) for part in match["date"].split("-"))
    moment = datetime(year, month, day, int(match["hour"]), int(match["minute"]), int(match["second"]))
    component = _text(match["component"])
    return ParsedLine("windows_cbs", _utc(moment), normalise_level(match["level"]), None, component,
                      match["message"] or None, details=_details(component=component))
