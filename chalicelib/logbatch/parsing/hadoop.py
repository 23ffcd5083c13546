"""Hadoop's `yyMMdd HHmmss pid LEVEL class: message` (HDFS and friends)."""
import re
from datetime import datetime

from chalicelib.logbatch.parsing.common import LEVELS, ParsedLine, _details, _int, _text, _utc, normalise_level

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
