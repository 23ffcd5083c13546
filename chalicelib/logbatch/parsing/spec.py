"""The spec's own layout, `YYYY-MM-DD HH:MM:SS LEVEL [Component] message`, tried before any other format.

It is what this service was specified for, so it is recognised first and
cheaply; a log4j line of the same shape is handed to log4j's record.
"""
import re
from datetime import datetime

from chalicelib.logbatch.parsing.common import LEVELS, ParsedLine, _status, _utc, normalise_level
from chalicelib.logbatch.parsing.log4j import _log4j_record

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
