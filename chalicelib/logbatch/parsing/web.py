"""Apache and Nginx: access logs (common and combined) and Apache's error log (2.2 and 2.4)."""
import re
from datetime import datetime

from chalicelib.logbatch.parsing.common import ParsedLine, _size, _status, _status_level, _utc, normalise_level

ACCESS_LINE = re.compile(
    r'^(?P<client>\S+) \S+ \S+ \[(?P<time>[^\]]+)\] "(?P<request>[^"]*)" (?P<status>\d{3}) (?P<bytes>\d+|-)'
    r'(?: "(?P<referer>[^"]*)" "(?P<agent>[^"]*)")?')
ERROR_LINE = re.compile(
    r"^\[(?P<time>\w{3} \w{3} +\d{1,2} \d{2}:\d{2}:\d{2}(?:\.\d+)? \d{4})\] \[(?P<level>[^\]]+)\]"
    r"(?: \[pid [^\]]*\])?(?: \[client (?P<client>[^\]]+)\])? ?(?P<message>.*)$")


def _access_line(line: str, _received_at) -> ParsedLine | None:
    match = ACCESS_LINE.match(line)
    if not match:
        return None
    try:
        moment = datetime.strptime(match["time"], "%d/%b/%Y:%H:%M:%S %z")
    except ValueError:
        return None
    parts = match["request"].split()
    method, path = (parts[0], parts[1]) if len(parts) >= 2 else (None, None)
    status = _status(match["status"])
    return ParsedLine("access", _utc(moment), _status_level(status), status, None, match["request"], method, path,
                      _size(match["bytes"]), match["client"])



def _error_line(line: str, _received_at) -> ParsedLine | None:
    match = ERROR_LINE.match(line)
    if not match:
        return None
    text = re.sub(r" +", " ", match["time"])
    for pattern in ("%a %b %d %H:%M:%S.%f %Y", "%a %b %d %H:%M:%S %Y"):
        try:
            moment = datetime.strptime(text, pattern)
            break
        except ValueError:
            continue
    else:
        return None
    level_text = match["level"]
    component = level_text.split(":", 1)[0] if ":" in level_text else None
    return ParsedLine("apache_error", _utc(moment), normalise_level(level_text), None, component,
                      match["message"], client=match["client"])
