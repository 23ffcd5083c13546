"""log4j, logback, Spring Boot and Python `logging` layouts that open with a date and time."""
import re
from datetime import datetime

from chalicelib.logbatch.parsing.common import ISO_TIME, LEVELS, ParsedLine, _details, _int, _iso, _text, _utc, \
    normalise_level

LOG4J_TIME = re.compile(ISO_TIME)
PYTHON_NAMED = re.compile(r" - (?P<logger>\S+) - (?P<level>[A-Z]+) - (?P<message>.*)", re.DOTALL)
PYTHON_PLAIN = re.compile(r" - (?P<level>[A-Z]+) - (?P<message>.*)", re.DOTALL)
SPRING_BOOT = re.compile(
    r" +(?P<level>[A-Z]+) +(?P<pid>\d+) +--- +(?:\[(?P<app>[^\]]*)\] +)?\[ *(?P<thread>[^\]]*?) *\]"
    r" +(?P<logger>\S+) +: (?P<message>.*)", re.DOTALL)
THREAD_FIRST = re.compile(
    r" +\[(?P<thread>[^\]]*)\] +(?P<level>[A-Z]+) +(?:(?P<logger>[A-Za-z_$][\w$.\-]*(?::\d+)?) +- )?(?P<message>.*)",
    re.DOTALL)
LEVEL_FIRST = re.compile(
    r" +(?:\[(?P<bracketed>[A-Za-z]+)\]|(?P<level>[A-Z]+):?(?= |$))(?: +\[(?P<thread>[^\]]*)\])?"
    r"(?: +(?P<logger>[A-Za-z_$][\w$.\-]*(?::\d+)?) ?[-:](?= ))? *(?P<message>.*)", re.DOTALL)
LOGGER_FIRST = re.compile(r" +(?P<logger>[A-Za-z_$][\w$.\-]*) +(?P<level>[A-Z]+) +(?P<message>.*)", re.DOTALL)
LOG4J_LAYOUTS = (PYTHON_NAMED, PYTHON_PLAIN, SPRING_BOOT, THREAD_FIRST, LEVEL_FIRST, LOGGER_FIRST)


def _log4j_line(line: str, _received_at) -> ParsedLine | None:
    stamp = LOG4J_TIME.match(line)
    if not stamp:
        return None
    after = stamp.end()
    for layout in LOG4J_LAYOUTS:
        match = layout.match(line, after)
        if not match:
            continue
        groups = match.groupdict()
        level = groups.get("level") or groups.get("bracketed")
        if level and level.lower() in LEVELS:
            return _log4j_record(_iso(stamp), level, groups.get("thread"), groups.get("logger"), match["message"],
                                 pid=groups.get("pid"), app=groups.get("app"))
    return None


def _log4j_record(moment: datetime, level: str, thread: str | None, logger: str | None, message: str,
                  pid: str | None = None, app: str | None = None) -> ParsedLine:
    logger = _text(logger)
    return ParsedLine("log4j", _utc(moment), normalise_level(level), None, logger, message or None,
                      details=_details(thread=_text(thread and thread.strip()), logger=logger, pid=_int(pid),
                                       app=_text(app)))
