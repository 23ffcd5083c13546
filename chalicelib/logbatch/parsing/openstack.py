"""OpenStack services (nova, neutron, cinder, ... through oslo.log): `time pid LEVEL logger [context] message`.

oslo.log's default layout puts the pid between the time and the level,
which the log4j layouts do not expect; files gathered from many hosts are
often concatenated with each line prefixed by its source file
(`nova-api.log.1.2017-05-16_13:53:08 2017-05-16 00:00:00.008 25746 INFO ...`),
so an optional first token before the time is the file, in `details.file`.
The bracketed request context gives `details.request_id` (its `req-...`
token); an HTTP status in the message (`status: 200`) is the status.
"""
import re

from chalicelib.logbatch.parsing.common import ISO_TIME, LEVELS, ParsedLine, _details, _int, _iso, _status, _text, \
    _utc, normalise_level
from chalicelib.logbatch.parsing.spec import STATUS_IN_MESSAGE

OPENSTACK_REST = re.compile(
    ISO_TIME + r" (?P<pid>\d+) (?P<level>[A-Z]+) (?P<logger>[^\s\[\]]+)(?: \[(?P<context>[^\]]*)\])? ?(?P<message>.*)",
    re.DOTALL)
FILE_PREFIX_LIMIT = 256  # characters: a source file's name, not a whole line without spaces


def _openstack_line(line: str, _received_at) -> ParsedLine | None:
    match, source = OPENSTACK_REST.match(line) if line[:1].isdigit() else None, None
    if match is None:
        space = line.find(" ", 0, FILE_PREFIX_LIMIT)
        if space <= 0 or not line[space + 1:space + 5].isdigit():  # cheap: most lines stop here
            return None
        match, source = OPENSTACK_REST.match(line, space + 1), line[:space]
    if not match or match["level"].lower() not in LEVELS:
        return None
    context = match["context"]
    request = next((token for token in context.split() if token.startswith("req-")), None) if context else None
    status = STATUS_IN_MESSAGE.search(match["message"]) if "status" in match["message"] else None  # wsgi lines
    logger = _text(match["logger"])
    return ParsedLine("openstack", _utc(_iso(match)), normalise_level(match["level"]),
                      _status(status["status"]) if status else None, logger, match["message"] or None,
                      details=_details(file=_text(source), pid=_int(match["pid"]), logger=logger,
                                       request_id=_text(request), context=_text(context)))
