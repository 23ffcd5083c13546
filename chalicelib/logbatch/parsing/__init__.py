"""Recognise a log line's format and pull out its time, level, status and message.

Users upload whatever their systems write, not only the spec's format: a
report that files most of a syslog, a Spring Boot log or an ALB access log
under `unparsed` tells them nothing. This module turns each line into a
`ParsedLine` whose time, level and status are comparable across formats
(times ISO 8601 UTC with a `Z`, levels canonical, statuses ints), and keeps
what is particular to a format in `details`. Pure functions.

Formats (the `format` of a `ParsedLine`), tried in this order, one module
each (docs/log-formats.md has the full table, with examples and levels):

| format | looks like | module |
| --- | --- | --- |
| (a user format) | whatever a stage's LOG_FORMATS describes (tried before every built-in) | `user`, `grok` |
| `app` | the spec's `YYYY-MM-DD HH:MM:SS LEVEL [Component] message` (the first built-in) | `spec` |
| `json` | JSON Lines: an object with any of the usual time/level/status/message keys | `json_lines` |
| `access` | Apache/Nginx access logs, common and combined | `web` |
| `apache_error` | `[Wed Oct 11 14:32:52 2000] [core:error] ... message` | `web` |
| `syslog5424` | `<165>1 2003-10-11T22:14:15.003Z host app procid msgid [structured-data] message` | `syslog` |
| `log4j` | log4j, logback, Spring Boot and Python `logging` layouts that start with a date and time (below) | `log4j` |
| `syslog` | RFC 3164 `[<PRI>]Oct 11 22:14:15 host program[pid]: message`, or with rsyslog's RFC 3339 time | `syslog` |
| `hadoop` | `081109 203615 148 INFO dfs.DataNode$PacketResponder: message` (`yyMMdd HHmmss pid LEVEL class: message`) | `hadoop` |
| `alb` | Application Load Balancer access logs | `aws` |
| `cloudfront` | CloudFront standard (legacy) access logs, tab-separated | `aws` |
| `s3_access` | S3 server access logs | `aws` |
| `android` | logcat: `03-17 16:13:38.811  1702  2395 D WindowManager: message` (and `-v time`, `-v year`) | `android` |
| `windows_cbs` | `2016-09-28 04:30:30, Info                  CBS    message` | `windows` |
| `bgl` | BlueGene/L RAS: `- 1117838570 2005.06.03 node 2005-06-03-15.42.50.675872 node RAS KERNEL INFO message` | `ras` |
| `thunderbird` | `- 1131566461 2005.11.09 dn228 Nov 9 12:01:01 dn228/dn228 crond[2915]: message` | `ras` |
| `hpc` | `134681 node-246 unix.hw state_change.unavailable 1077804742 1 message` | `hpc` |
| `pipe` | `20171223-22:15:29:606|Step_LSC|30002312|message` | `pipe` |
| `proxifier` | `[10.30 16:49:06] chrome.exe - host:443 open through proxy ...` | `proxifier` |
| `spark` | `17/06/09 20:10:40 INFO executor.CoarseGrainedExecutorBackend: message` | `spark` |
| `openstack` | `[file ]2017-05-16 00:00:00.008 25746 INFO nova.osapi_compute.wsgi.server [req-...] message` | `openstack` |
| `generic` | anything else with a level word near its start (below), and a time if one is near its start | `generic` |
| `unparsed` | nothing recognisable: kept with the raw line, not an error | |

`log4j` layouts: `%d %p [%t] %c - %m` (a line in the spec's shape whose time
has a fraction and whose message starts with `logger - ` or `dotted.logger: `;
without a fraction it stays `app`, as the spec's own lines never have one),
`%d [%t] %p %c - %m` (logback's default), Spring Boot's
`%d  LEVEL pid --- [app] [thread] logger : message`, Python's
`%(asctime)s - %(name)s - %(levelname)s - %(message)s` (the name optional),
`%(asctime)s [%(levelname)s] %(name)s: %(message)s`,
`%(asctime)s %(name)s %(levelname)s %(message)s`, log4j's `%d %p %c:%L - %m`
and a bare `time LEVEL message`. Written levels are upper case, as these libraries write
them (a bracketed level may be any case). Python's no-time default
`LEVEL:logger:message` is `generic`.

Times. A time without a zone is taken as UTC. RFC 3164 syslog has no year
(nor have logcat and Proxifier): it is the latest year that puts the line's
time no more than 31 days after the reference time (`received_at`, default
now; an aware one is taken in UTC): a December line read in January is from
the previous year, a line up to a month ahead of the reference (clock skew,
zones) keeps the nearer year, and a `Feb 29` is from the latest leap year
that fits. Hadoop's and Spark's two-digit years follow Python's `%y`: 69-99
are 19xx, 00-68 are 20xx. An epoch field counts only from 2000 to 2099. An
impossible time (Feb 30, month 13, hour 25) means "not that format": the line
goes on to the next parser and ends up `generic` or `unparsed` at worst.

Levels. `normalise_level` maps what a format writes (any case) to one of
TRACE, DEBUG, INFO, NOTICE, WARN, ERROR, FATAL; anything else is UNKNOWN:

| written | level |
| --- | --- |
| trace, finer, finest | TRACE |
| debug, fine | DEBUG |
| info, information | INFO |
| notice | NOTICE |
| warn, warning | WARN |
| error, err, severe | ERROR |
| fatal, critical, crit, alert, emerg, emergency, panic | FATAL |

Syslog's severity is the `<PRI>` value modulo 8:

| PRI % 8 | syslog name | level |
| --- | --- | --- |
| 0, 1, 2 | emerg, alert, crit | FATAL |
| 3 | err | ERROR |
| 4 | warning | WARN |
| 5 | notice | NOTICE |
| 6 | info | INFO |
| 7 | debug | DEBUG |

A PRI over 191 (facility 23, severity 7) is not syslog. A syslog line without
PRI takes its level from a level word opening its message (`myapp[7]: ERROR
...`, the generic rule below), or has none. Access-style logs (`access`, `alb`,
`cloudfront`, `s3_access`) take theirs from the status: 5xx ERROR, 4xx WARN,
anything else INFO.

Generic fallback: a line no format recognises is `generic` when one of its
first five whitespace-separated tokens, within its first 80 characters, is a
level word: upper case as a whole token, or before a colon (`ERROR`,
`ERROR:`, `WARNING:root:...`), from TRACE, DEBUG, INFO, NOTICE, WARN, WARNING, ERROR, FATAL, CRITICAL; in
square brackets in any case, also syslog's and nginx's short names (`[error]`,
`[Warn]`, `[crit]`, `[emerg]`, `[ERROR]:`); or a logfmt `level=`/`lvl=`/
`severity=` value in any case that `normalise_level` knows. A lower-case word on its own (`the error was`,
`error: no such file`) is prose, not a level. A time in a common layout
starting within the first 64 characters (ISO 8601 and variants, `yy/MM/dd
HH:mm:ss`, `yyyyMMdd-HH:mm:ss:SSS`, syslog's `Mon dd HH:MM:SS`, Apache's
`dd/Mon/yyyy:HH:MM:SS zone`, or an epoch as the first token; see `times`) is
its timestamp. A time alone, without a level word, does not make a line
generic.

W3C-style headers (`#Version:`, `#Fields:`, `#Date:`, ... at the top of a
CloudFront or IIS log) are not items: `is_header` tells them, and the splitter
skips them rather than count them as lines.

Fields are DynamoDB-storable: `details` holds short str and int values only
(timings as strings, no floats; ints of at most 18 digits; no empty strings;
strings clipped to DETAIL_LIMIT characters; a lone surrogate becomes U+FFFD).

No line makes `parse_line` raise: a worker that raised on one would send its
whole message to the DLQ and leave the run short of its report forever.
"""
from datetime import datetime

from chalicelib.logbatch.parsing.android import _android_line
from chalicelib.logbatch.parsing.aws import _alb_line, _cloudfront_line, _s3_access_line
from chalicelib.logbatch.parsing.common import (DETAIL_LIMIT, LEVELS, SYSLOG_SEVERITIES, W3C_DIRECTIVES, ParsedLine,
                                                is_header, normalise_level, status_class)
from chalicelib.logbatch.parsing.generic import _generic_line
from chalicelib.logbatch.parsing.hadoop import _hadoop_line
from chalicelib.logbatch.parsing.hpc import _hpc_line
from chalicelib.logbatch.parsing.json_lines import _json_line
from chalicelib.logbatch.parsing.log4j import _log4j_line
from chalicelib.logbatch.parsing.openstack import _openstack_line
from chalicelib.logbatch.parsing.pipe import _pipe_line
from chalicelib.logbatch.parsing.proxifier import _proxifier_line
from chalicelib.logbatch.parsing.ras import RAS_FIRST, _ras_line
from chalicelib.logbatch.parsing.spark import _spark_line
from chalicelib.logbatch.parsing.spec import _spec_line
from chalicelib.logbatch.parsing.syslog import SYSLOG_FIRST, _syslog_3164, _syslog_5424
from chalicelib.logbatch.parsing.user import NO_FORMATS, BadLogFormat, LogFormats, UserFormat, load_formats
from chalicelib.logbatch.parsing.web import _access_line, _error_line
from chalicelib.logbatch.parsing.windows import _cbs_line

__all__ = ["DETAIL_LIMIT", "LEVELS", "SYSLOG_SEVERITIES", "W3C_DIRECTIVES", "ParsedLine", "is_header",
           "normalise_level", "status_class", "parse_line", "PARSERS", "NO_FORMATS", "BadLogFormat", "LogFormats",
           "UserFormat", "load_formats"]

DIGITS = frozenset("0123456789")
ANY = None
# (parser, the first characters of the lines it can recognise, or ANY): a line only meets the parsers its first
# character allows, in this order, so what one parser recognises is what the same list tried in full would give.
# The formats issue 23 added come after the older ones, so no line an older one took changes format.
PARSERS = (
    (_spec_line, DIGITS),
    (_json_line, frozenset("{")),
    (_access_line, ANY),
    (_error_line, frozenset("[")),
    (_syslog_5424, frozenset("<")),
    (_log4j_line, DIGITS),
    (_syslog_3164, SYSLOG_FIRST),
    (_hadoop_line, DIGITS),
    (_alb_line, frozenset("hgw")),
    (_cloudfront_line, DIGITS),
    (_s3_access_line, ANY),
    (_android_line, DIGITS),
    (_cbs_line, DIGITS),
    (_ras_line, RAS_FIRST),
    (_hpc_line, DIGITS),
    (_pipe_line, DIGITS),
    (_proxifier_line, frozenset("[")),
    (_spark_line, DIGITS),
    (_openstack_line, ANY),
    (_generic_line, ANY),
)
_BY_FIRST: dict[str, tuple] = {}


def _parsers_for(first: str) -> tuple:
    chosen = _BY_FIRST.get(first)
    if chosen is None:
        chosen = tuple(parser for parser, firsts in PARSERS if firsts is ANY or first in firsts)
        if len(_BY_FIRST) < 256:  # a cache of the characters lines open with, not of every character there is
            _BY_FIRST[first] = chosen
    return chosen


def parse_line(line: str, received_at: datetime | None = None, formats: tuple[UserFormat, ...] = ()) -> ParsedLine:
    """What `line` is; `received_at` (default now) dates formats that write no year (RFC 3164 syslog);
    `formats` (a stage's user formats for the line's key: `LogFormats.for_key`) are tried first."""
    for user_format in formats:
        try:
            parsed = user_format.parse(line, received_at)
        except Exception:  # noqa: BLE001 - a user's pattern is theirs: whatever fails on a line is "not this format"
            parsed = None
        if parsed is not None:
            return parsed
    for parser in _parsers_for(line[:1]):
        try:
            parsed = parser(line, received_at)
        except (ValueError, OverflowError, RecursionError):
            # The shape of a format with a value it cannot hold (2026-13-45, a year-1 time shifted out of
            # range): not that format, and still a line to keep.
            parsed = None
        if parsed is not None:
            return parsed
    return ParsedLine("unparsed", message=line)
