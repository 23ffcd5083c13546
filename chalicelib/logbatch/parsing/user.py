"""Formats users define: grok or named-group regex patterns, per stage and per S3 key prefix.

Real systems write formats no built-in list will ever cover; without a way
to describe theirs, a user's only outcome is `unparsed`. A stage's
`LOG_FORMATS` setting (JSON, read by `settings.log_formats()`) lists formats
tried before the built-in ones:

    {"formats": [{"name": "checkout",
                  "grok": "%{TIMESTAMP_ISO8601:time} %{LOGLEVEL:level} \\[%{DATA:component}\\] %{GREEDYDATA:message}",
                  "time_format": "%Y-%m-%d %H:%M:%S,%f"}],
     "by_prefix": {"pos/": ["legacy-pos"], "raw/": []}}

A format has a `name` (lower case, what `format` and the report's
`by_format` say), one of `grok` (see grok.py) or `regex` (named groups,
`(?P<time>...)`), and optionally `time_format` (`auto`, the default: the
layouts times.py knows; `epoch`; `epoch_ms`; or a `strptime` format, whose
year, when it has none, is inferred as syslog's), `levels` (what the log
writes -> a canonical level, for words `normalise_level` does not know) and
`patterns` (grok patterns of its own). Named groups fill the record: `time`,
`level`, `message`, `component` (or `logger`, `program`, `service`),
`status`, `method`, `path`, `client`, `bytes`; any other goes in `details`.
A pattern matches from the line's first character.

Every key of an upload tries the stage's formats in order, unless its
longest matching `by_prefix` entry names other ones (or none: `[]`). A line
none of them matches goes on to the built-in parsers; so does a line whose
time does not read with the format's `time_format` (as for built-ins, an
impossible time means "not that format").

Patterns run on RE2 (the `google-re2` package), which matches in time linear
in the line's length whatever the pattern: a pattern that would backtrack for
hours in Python's `re` (`(a+)+$`) cannot hang a worker. docs/log-formats.md
has the measurement behind that choice. RE2 has no backreferences or
lookaround, and its `\\w`, `\\d`, `\\s` and `\\b` are ASCII (`\\pL` is any letter).

`load_formats` refuses a bad setting with a BadLogFormat that names the
format and says what is wrong; the worker calls it when it starts, and
`python -m infra package`/`deploy` and `make run` call it before anything
else (infra/stage.py), so a bad pattern never reaches a running system.
"""
import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Callable

from chalicelib.logbatch.parsing.common import (ParsedLine, _details, _infer_year, _int, _size, _status, _text, _utc,
                                                normalise_level)
from chalicelib.logbatch.parsing.grok import GrokError, expand
from chalicelib.logbatch.parsing.times import epoch_time, find_time

# The built-in formats' names: a user format may not take one, or the report could not tell them apart.
BUILT_IN_NAMES = frozenset({
    "app", "json", "access", "apache_error", "syslog5424", "log4j", "syslog", "hadoop", "alb", "cloudfront",
    "s3_access", "android", "windows_cbs", "bgl", "thunderbird", "hpc", "pipe", "proxifier", "spark", "openstack",
    "generic", "unparsed"})
NAME = re.compile(r"[a-z][a-z0-9_-]{0,39}")
FORMAT_KEYS = frozenset({"name", "grok", "regex", "time_format", "levels", "patterns"})
CANONICAL_LEVELS = ("TRACE", "DEBUG", "INFO", "NOTICE", "WARN", "ERROR", "FATAL")
# A named group's role in the record; the first group with a role fills it, the rest go in details.
ROLES = {"time": "time", "timestamp": "time", "level": "level", "severity": "level", "message": "message",
         "msg": "message", "component": "component", "logger": "component", "program": "component",
         "service": "component", "status": "status", "status_code": "status", "method": "method", "path": "path",
         "client": "client", "bytes": "bytes", "bytes_sent": "bytes"}
MAX_FORMATS = 50
MAX_PATTERN_CHARACTERS = 4000  # as written; a grok pattern's expansion may be longer
RE2_MAX_MEMORY = 8 << 20  # bytes RE2 may use to compile one pattern (its default): a pattern larger is refused
SAMPLE_TIME = datetime(2024, 2, 29, 13, 4, 5, 123456, tzinfo=timezone.utc)  # a leap day, every field distinct


class BadLogFormat(ValueError):
    """A LOG_FORMATS setting that cannot be used; the message names the format and what is wrong."""


def _re2():
    """RE2, imported only when a stage defines formats: a stage without any pays nothing at cold start."""
    try:
        import re2
    except ImportError as error:  # requirements.txt pins it; a hand-made environment may lack it
        raise BadLogFormat("LOG_FORMATS needs the google-re2 package (requirements.txt); it is not installed") \
            from error
    return re2


def compile_pattern(regex: str):
    """RE2's compiled `regex`, or BadLogFormat saying why RE2 refuses it."""
    re2 = _re2()
    options = re2.Options()
    options.log_errors = False  # the error comes back in the exception; RE2 would also print it to stderr
    options.max_mem = RE2_MAX_MEMORY
    try:
        return re2.compile(regex, options=options)
    except re2.error as error:
        reason = error.args[0].decode() if error.args and isinstance(error.args[0], bytes) else str(error)
        raise BadLogFormat(f"RE2 refuses it: {reason}") from None


class Matcher:
    """A compiled RE2 pattern matched at a line's start: the named groups' texts, or None.

    The google-re2 package's `match()` converts every offset between characters and bytes in Python, which
    took five times the CPU the engine itself does; this asks the engine (its `_re2.RE2.Match`, of the
    version requirements.txt pins) for byte spans and slices the UTF-8 text once. Where that interface is
    missing it falls back to the package's own `match()`: slower, same answers (a test compares the two)."""

    def __init__(self, compiled):
        self.compiled = compiled
        self.groups = tuple(sorted(compiled.groupindex.items(), key=lambda item: item[1]))  # (name, number)
        regexp = getattr(compiled, "_regexp", None)
        anchor = getattr(getattr(getattr(_re2(), "_re2", None), "RE2", None), "Anchor", None)
        self._engine = regexp.Match if regexp is not None and hasattr(regexp, "Match") and anchor else None
        self._anchor = anchor.ANCHOR_START if anchor else None

    def __call__(self, line: str) -> dict | None:
        if self._engine is None:
            match = self.compiled.match(line)
            return match.groupdict() if match else None
        data = line.encode("utf-8")  # a lone surrogate cannot be: UnicodeEncodeError, "not this format"
        spans = self._engine(self._anchor, data, 0, len(data))
        if spans[0][0] < 0:
            return None
        return {name: data[spans[number][0]:spans[number][1]].decode("utf-8", "replace")
                if spans[number][0] >= 0 else None for name, number in self.groups}


@dataclass(frozen=True)
class UserFormat:
    name: str
    match: Matcher
    roles: tuple[tuple[str, str], ...]  # (role, group)
    extras: tuple[str, ...]  # groups that go in details
    types: dict = field(hash=False)  # group -> "int"
    levels: dict = field(hash=False)  # as written -> canonical
    read_time: Callable = field(hash=False)  # (text, received_at) -> naive UTC datetime | None

    def parse(self, line: str, received_at) -> ParsedLine | None:
        groups = self.match(line)
        if groups is None:
            return None
        values = {role: groups[group] for role, group in self.roles if groups[group]}
        timestamp = None
        if "time" in values:
            moment = self.read_time(values["time"], received_at)
            if moment is None:  # as for a built-in format: a time it cannot read means "not this format"
                return None
            timestamp = _utc(moment)
        level = values.get("level")
        if level is not None:
            level = self.levels.get(level) or self.levels.get(level.lower()) or normalise_level(level)
        component = _text(values.get("component"))
        details = {}
        for group in self.extras:
            value = groups[group]
            if value:
                details[group] = _int(value.lstrip("+")) if self.types.get(group) == "int" else _text(value)
        return ParsedLine(self.name, timestamp, level, _status(values["status"]) if "status" in values else None,
                          component, values.get("message"), _text(values.get("method")), _text(values.get("path")),
                          _size(values["bytes"]) if values.get("bytes", "").isdigit() else None,
                          _text(values.get("client")), details=_details(**details))


@dataclass(frozen=True)
class LogFormats:
    """A stage's formats: those every key tries, and the key prefixes that try others instead."""
    default: tuple[UserFormat, ...] = ()
    by_prefix: tuple[tuple[str, tuple[UserFormat, ...]], ...] = ()  # longest prefix first

    def for_key(self, key: str | None) -> tuple[UserFormat, ...]:
        if key:
            for prefix, formats in self.by_prefix:
                if key.startswith(prefix):
                    return formats
        return self.default


NO_FORMATS = LogFormats()


def load_formats(text: str | None) -> LogFormats:
    """The formats a LOG_FORMATS setting defines (none when unset); BadLogFormat for a setting that is wrong."""
    if text is None or not text.strip():
        return NO_FORMATS
    try:
        setting = json.loads(text)
    except ValueError as error:
        raise BadLogFormat(f"LOG_FORMATS is not JSON: {error}") from None
    if isinstance(setting, list):
        setting = {"formats": setting}
    if not isinstance(setting, dict) or set(setting) - {"formats", "by_prefix"}:
        raise BadLogFormat('LOG_FORMATS must be a list of formats or {"formats": [...], "by_prefix": {...}}')
    definitions, by_prefix = setting.get("formats", []), setting.get("by_prefix", {})
    if not isinstance(definitions, list) or len(definitions) > MAX_FORMATS:
        raise BadLogFormat(f"LOG_FORMATS: formats must be a list of at most {MAX_FORMATS}")
    formats: dict[str, UserFormat] = {}
    for index, definition in enumerate(definitions):
        user_format = _format(definition, index)
        if user_format.name in formats:
            raise BadLogFormat(f"log format {user_format.name!r}: defined twice")
        formats[user_format.name] = user_format
    if not isinstance(by_prefix, dict):
        raise BadLogFormat("LOG_FORMATS: by_prefix must map key prefixes to lists of format names")
    prefixes = []
    for prefix, names in by_prefix.items():
        if not prefix or not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise BadLogFormat(f"LOG_FORMATS: by_prefix {prefix!r} must be a non-empty prefix with a list of names")
        unknown = [n for n in names if n not in formats]
        if unknown:
            raise BadLogFormat(f"LOG_FORMATS: by_prefix {prefix!r} names undefined formats {unknown}")
        prefixes.append((prefix, tuple(formats[n] for n in names)))
    prefixes.sort(key=lambda entry: -len(entry[0]))
    return LogFormats(tuple(formats.values()), tuple(prefixes))


def _format(definition, index: int) -> UserFormat:
    if not isinstance(definition, dict):
        raise BadLogFormat(f"log format #{index + 1}: must be an object with a name and a grok or regex pattern")
    name = definition.get("name")
    where = f"log format {name!r}" if isinstance(name, str) else f"log format #{index + 1}"
    if not isinstance(name, str) or not NAME.fullmatch(name):
        raise BadLogFormat(f"{where}: name must be 1-40 characters of a-z, 0-9, _ and -, starting with a letter")
    if name in BUILT_IN_NAMES:
        raise BadLogFormat(f"{where}: {name!r} is a built-in format's name; choose another")
    unknown = set(definition) - FORMAT_KEYS
    if unknown:
        raise BadLogFormat(f"{where}: unknown keys {sorted(unknown)} (known: {', '.join(sorted(FORMAT_KEYS))})")
    if ("grok" in definition) == ("regex" in definition):
        raise BadLogFormat(f"{where}: give one of grok or regex")
    pattern = definition.get("grok", definition.get("regex"))
    if not isinstance(pattern, str) or not pattern or len(pattern) > MAX_PATTERN_CHARACTERS:
        raise BadLogFormat(f"{where}: the pattern must be a string of 1 to {MAX_PATTERN_CHARACTERS} characters")
    types: dict[str, str] = {}
    regex = pattern
    if "grok" in definition:
        extra = definition.get("patterns", {})
        if not isinstance(extra, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in extra.items()):
            raise BadLogFormat(f"{where}: patterns must map names to grok patterns")
        try:
            regex, types = expand(pattern, extra)
        except GrokError as error:
            raise BadLogFormat(f"{where}: grok pattern {pattern!r}: {error}") from None
    elif "patterns" in definition:
        raise BadLogFormat(f"{where}: patterns are for grok patterns; a regex has none")
    try:
        compiled = compile_pattern(regex)
    except BadLogFormat as error:
        raise BadLogFormat(f"{where}: pattern {pattern!r}: {error}") from None
    groups = [group for group, _ in sorted(compiled.groupindex.items(), key=lambda item: item[1])]
    if not groups:
        raise BadLogFormat(f"{where}: pattern {pattern!r} captures nothing; name what it finds, e.g. "
                           "%{TIMESTAMP_ISO8601:time} or (?P<time>...)")
    roles, extras = {}, []
    for group in groups:
        role = ROLES.get(group)
        if role and role not in roles:
            roles[role] = group
        else:
            extras.append(group)
    return UserFormat(name, Matcher(compiled), tuple(roles.items()), tuple(extras), types, _levels(definition, where),
                      _time_reader(definition.get("time_format", "auto"), where))


def _levels(definition: dict, where: str) -> dict:
    levels = definition.get("levels", {})
    if not isinstance(levels, dict) or not all(isinstance(k, str) and v in CANONICAL_LEVELS for k, v in levels.items()):
        raise BadLogFormat(f"{where}: levels must map what the log writes to one of {', '.join(CANONICAL_LEVELS)}")
    return dict(levels)


def _time_reader(time_format, where: str) -> Callable:
    if time_format == "auto":
        return find_time
    if time_format == "epoch":
        return _epoch_seconds
    if time_format == "epoch_ms":
        return _epoch_millis
    if not isinstance(time_format, str) or not time_format:
        raise BadLogFormat(f"{where}: time_format must be auto, epoch, epoch_ms or a strptime format")
    has_year = any(d in time_format for d in ("%Y", "%y", "%G"))
    if not ("%d" in time_format and any(d in time_format for d in ("%m", "%b", "%B"))):
        raise BadLogFormat(f"{where}: time_format {time_format!r} needs a month (%m, %b or %B) and a day (%d)")
    # Without a year, strptime would take 1900, which has no Feb 29: read as if the year were 2000 (a leap one).
    written = time_format if has_year else f"%Y {time_format}"
    try:  # a format strptime cannot read back what strftime wrote with it is one strptime does not know
        datetime.strptime(SAMPLE_TIME.strftime(written), written)
    except ValueError as error:
        raise BadLogFormat(f"{where}: time_format {time_format!r} is not a strptime format: {error}") from None

    def read(text: str, received_at) -> datetime | None:
        try:
            moment = datetime.strptime(text if has_year else f"2000 {text}", written)
        except ValueError:
            return None
        if moment.tzinfo is not None:
            moment = moment.astimezone(timezone.utc).replace(tzinfo=None)
        if has_year:
            return moment
        return _infer_year(moment.month, moment.day, moment.hour, moment.minute, moment.second, moment.microsecond,
                           received_at)
    return read


def _epoch_seconds(text: str, _received_at) -> datetime | None:
    whole, _, fraction = text.strip().partition(".")
    if not whole.isdigit() or len(whole) > 12 or (fraction and not fraction.isdigit()):
        return None
    return epoch_time(int(whole), int(fraction[:6].ljust(6, "0")) if fraction else 0)


def _epoch_millis(text: str, _received_at) -> datetime | None:
    text = text.strip()
    if not text.isdigit() or len(text) > 15:
        return None
    millis = int(text)
    return epoch_time(millis // 1000, millis % 1000 * 1000)
