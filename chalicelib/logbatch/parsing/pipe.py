"""Pipe-separated app logs: `time|component|pid|message`, as mobile and embedded apps often write them.

`20171223-22:15:29:606|Step_LSC|30002312|onStandStepChanged 3579`: a time
(`yyyyMMdd-HH:mm:ss:SSS`, or ISO 8601), then short fields, then the message.
The fields between the time and the message are those without spaces (at
most MAX_FIELDS): a level word among them is the level, a number the pid, the
first other one the component; the last field is always the message, and a
message that has pipes of its own keeps them.
"""
import re
from datetime import datetime

from chalicelib.logbatch.parsing.common import ISO_TIME, LEVELS, ParsedLine, _details, _int, _iso, _text, _utc, \
    normalise_level

PIPE_TIME = re.compile(r"(?:(?P<cY>\d{4})(?P<cM>\d\d)(?P<cD>\d\d)-(?P<ch>\d\d):(?P<cm>\d\d):(?P<cs>\d\d)"
                       r"(?::(?P<cf>\d{3}))?|" + ISO_TIME + r") ?\|")
MAX_FIELDS = 4


def _pipe_line(line: str, _received_at) -> ParsedLine | None:
    stamp = PIPE_TIME.match(line)
    if not stamp:
        return None
    if stamp["cY"]:
        moment = datetime(int(stamp["cY"]), int(stamp["cM"]), int(stamp["cD"]), int(stamp["ch"]), int(stamp["cm"]),
                          int(stamp["cs"]), int(stamp["cf"] or 0) * 1000)
    else:
        moment = _iso(stamp)
    parts = line[stamp.end():].split("|", MAX_FIELDS)
    if len(parts) < 2:  # a time and one more field is a time and a message, not this format's record
        return None
    fields: list[str] = []
    rest = parts
    while len(rest) > 1 and len(fields) < MAX_FIELDS and rest[0].split(None, 1) == [rest[0]]:  # no whitespace
        fields.append(rest[0])
        rest = rest[1:]
    if not fields:
        return None
    level = pid = component = None
    extra = []
    for value in fields:
        if level is None and value.lower() in LEVELS:
            level = normalise_level(value)
        elif pid is None and value.isdigit():
            pid = _int(value)
        elif component is None:
            component = _text(value)
        else:
            extra.append(value)
    message = "|".join(rest)
    return ParsedLine("pipe", _utc(moment), level, None, component, message or None,
                      details=_details(component=component, pid=pid, fields=_text("|".join(extra))))
