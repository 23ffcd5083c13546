"""Spark's default log4j layout: `yy/MM/dd HH:mm:ss LEVEL logger: message`.

Spark (and other Hadoop-ecosystem jobs configured alike) writes a two-digit
year with slashes, which the log4j layouts (four-digit ISO dates) do not
take. Two-digit years read as Python's `%y`: 69-99 are 19xx, 00-68 20xx.
"""
import re
from datetime import datetime

from chalicelib.logbatch.parsing.common import LEVELS, ParsedLine, _details, _text, _utc, normalise_level
from chalicelib.logbatch.parsing.times import two_digit_year

SPARK_LINE = re.compile(
    r"(?P<year>\d\d)/(?P<month>\d\d)/(?P<day>\d\d) (?P<hour>\d\d):(?P<minute>\d\d):(?P<second>\d\d)"
    r" (?P<level>[A-Z]+) (?P<logger>[^\s:]+): ?(?P<message>.*)", re.DOTALL)


def _spark_line(line: str, _received_at) -> ParsedLine | None:
    match = SPARK_LINE.match(line)
    if not match or match["level"].lower() not in LEVELS:
        return None
    moment = datetime(two_digit_year(int(match["year"])), int(match["month"]), int(match["day"]),
                      int(match["hour"]), int(match["minute"]), int(match["second"]))
    logger = _text(match["logger"])
    return ParsedLine("spark", _utc(moment), normalise_level(match["level"]), None, logger,
                      match["message"] or None, details=_details(logger=logger))
