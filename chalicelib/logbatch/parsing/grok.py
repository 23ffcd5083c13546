"""Grok patterns: the named regex building blocks users write their own formats with.

A user whose format no built-in parser knows should not have to write (and
debug) one long regex for a timestamp: Logstash's grok made
`%{TIMESTAMP_ISO8601:time} %{LOGLEVEL:level} %{GREEDYDATA:message}` the way
people describe a log line, and this module reads the same syntax:

- `%{NAME}` matches the library's NAME;
- `%{NAME:field}` also captures it as `field`;
- `%{NAME:field:int}` captures it as a whole number (stored as an int).

Anything else in a grok pattern is regex syntax (RE2's, see
docs/log-formats.md: no backreferences, no lookaround). A format may add
patterns of its own (`"patterns": {"ORDER": "ORD-\\d+"}`), which may use the
library and each other. The library is LIBRARY below; docs/log-formats.md
lists it, and a test checks the two agree. Each entry is RE2 syntax without
captures, expanded inside `(?:...)` so alternations stay where they are.
"""
import re

LIBRARY = {
    # text and numbers
    "WORD": r"[\pL\pN_]+",
    "NOTSPACE": r"\S+",
    "SPACE": r"\s*",
    "DATA": r".*?",
    "GREEDYDATA": r".*",
    "QUOTEDSTRING": r'"(?:[^"\\]|\\.)*"|' + r"'(?:[^'\\]|\\.)*'",
    "QS": r"%{QUOTEDSTRING}",
    "INT": r"[+-]?\d+",
    "POSINT": r"[1-9]\d*",
    "NONNEGINT": r"\d+",
    "NUMBER": r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)",
    "BASE10NUM": r"%{NUMBER}",
    "BASE16NUM": r"[+-]?(?:0[xX])?[0-9A-Fa-f]+",
    "UUID": r"[A-Fa-f0-9]{8}-(?:[A-Fa-f0-9]{4}-){3}[A-Fa-f0-9]{12}",
    # names
    "USERNAME": r"[a-zA-Z0-9._-]+",
    "USER": r"%{USERNAME}",
    "EMAILADDRESS": r"[a-zA-Z0-9._%+-]+@%{HOSTNAME}",
    "JAVACLASS": r"(?:[a-zA-Z$_][a-zA-Z$_0-9]*\.)*[a-zA-Z$_][a-zA-Z$_0-9]*",
    "PROG": r"[\x21-\x5a\x5c\x5e-\x7e]+",
    "SYSLOGPROG": r"%{PROG}(?:\[%{POSINT}\])?",
    "LOGLEVEL": (r"[Aa]lert|ALERT|[Tt]race|TRACE|[Dd]ebug|DEBUG|[Nn]otice|NOTICE|[Ii]nfo(?:rmation)?|INFO(?:RMATION)?"
                 r"|[Ww]arn(?:ing)?|WARN(?:ING)?|[Ee]rr(?:or)?|ERR(?:OR)?|[Cc]rit(?:ical)?|CRIT(?:ICAL)?|[Ff]atal|FATAL"
                 r"|[Ss]evere|SEVERE|[Ee]merg(?:ency)?|EMERG(?:ENCY)?|[Pp]anic|PANIC"),
    # network
    "IPV4": r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?:\.(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}",
    "IPV6": r"(?:[0-9A-Fa-f]{0,4}:){2,7}(?:%{IPV4}|[0-9A-Fa-f]{0,4})(?:%[0-9A-Za-z]+)?",
    "IP": r"%{IPV4}|%{IPV6}",
    "HOSTNAME": r"[0-9A-Za-z][0-9A-Za-z-]{0,62}(?:\.[0-9A-Za-z][0-9A-Za-z-]{0,62})*\.?",
    "IPORHOST": r"%{IP}|%{HOSTNAME}",
    "HOSTPORT": r"%{IPORHOST}:%{POSINT}",
    "MAC": r"(?:[0-9A-Fa-f]{2}[:-]){5}[0-9A-Fa-f]{2}|(?:[0-9A-Fa-f]{4}\.){2}[0-9A-Fa-f]{4}",
    # paths and URIs
    "UNIXPATH": r"(?:/[^/\s]*)+",
    "WINPATH": r"(?:[A-Za-z]:|\\)(?:\\[^\\?*\s]*)+",
    "PATH": r"%{UNIXPATH}|%{WINPATH}",
    "URIPROTO": r"[A-Za-z][A-Za-z0-9+.-]*",
    "URIHOST": r"%{IPORHOST}(?::%{POSINT})?",
    "URIPATH": r"(?:/[A-Za-z0-9$.+!*'(){},~:;=@#%&_-]*)+",
    "URIPARAM": r"\?[A-Za-z0-9$.+!*'|(){},~@#%&/=:;_?\[\]<>-]*",
    "URIPATHPARAM": r"%{URIPATH}(?:%{URIPARAM})?",
    "URI": r"%{URIPROTO}://(?:%{USER}(?::[^@]*)?@)?(?:%{URIHOST})?(?:%{URIPATHPARAM})?",
    # dates and times
    "MONTH": (r"[Jj]an(?:uary)?|[Ff]eb(?:ruary)?|[Mm]ar(?:ch)?|[Aa]pr(?:il)?|[Mm]ay|[Jj]un[e]?|[Jj]ul[y]?"
              r"|[Aa]ug(?:ust)?|[Ss]ep(?:tember)?|[Oo]ct(?:ober)?|[Nn]ov(?:ember)?|[Dd]ec(?:ember)?"),
    "MONTHNUM": r"0?[1-9]|1[0-2]",
    "MONTHNUM2": r"0[1-9]|1[0-2]",
    "MONTHDAY": r"0[1-9]|[12]\d|3[01]|[1-9]",
    "DAY": r"Mon(?:day)?|Tue(?:sday)?|Wed(?:nesday)?|Thu(?:rsday)?|Fri(?:day)?|Sat(?:urday)?|Sun(?:day)?",
    "YEAR": r"\d\d(?:\d\d)?",
    "HOUR": r"2[0-3]|[01]?\d",
    "MINUTE": r"[0-5]\d",
    "SECOND": r"(?:[0-5]?\d|60)(?:[.,]\d+)?",
    "TIME": r"%{HOUR}:%{MINUTE}(?::%{SECOND})?",
    "DATE_US": r"%{MONTHNUM}[/-]%{MONTHDAY}[/-]%{YEAR}",
    "DATE_EU": r"%{MONTHDAY}[./-]%{MONTHNUM}[./-]%{YEAR}",
    "DATE": r"%{DATE_US}|%{DATE_EU}",
    "DATESTAMP": r"%{DATE}[- ]%{TIME}",
    "ISO8601_TIMEZONE": r"Z|[+-]%{HOUR}(?::?%{MINUTE})?",
    "TIMESTAMP_ISO8601": (r"%{YEAR}-%{MONTHNUM}-%{MONTHDAY}[T ]%{HOUR}:?%{MINUTE}(?::?%{SECOND})?"
                          r"(?:%{ISO8601_TIMEZONE})?"),
    "SYSLOGTIMESTAMP": r"%{MONTH} +%{MONTHDAY} %{TIME}",
    "HTTPDATE": r"%{MONTHDAY}/%{MONTH}/%{YEAR}:%{TIME} %{INT}",
    "EPOCH": r"\d{13}|\d{10}(?:\.\d{1,6})?",
}
REFERENCE = re.compile(r"%\{(?P<name>[A-Za-z0-9_]+)(?::(?P<field>[A-Za-z_][A-Za-z0-9_]*))?(?::(?P<type>int))?\}")
MAX_DEPTH = 20  # references within references: deeper is a pattern that refers to itself
FIELD_TYPES = ("int",)


class GrokError(ValueError):
    """A grok pattern that cannot be expanded; the message says which reference and why."""


def expand(pattern: str, extra: dict[str, str] | None = None) -> tuple[str, dict[str, str]]:
    """The regex a grok pattern stands for, and the captured fields that have a type ({field: "int"})."""
    patterns = {**LIBRARY, **(extra or {})}
    types: dict[str, str] = {}

    def replace(text: str, depth: int, within: str | None) -> str:
        if depth > MAX_DEPTH:
            raise GrokError(f"%{{{within}}} refers to itself (more than {MAX_DEPTH} references deep)")
        leftover = REFERENCE.sub("", text)
        if "%{" in leftover:
            bad = leftover[leftover.index("%{"):][:40]
            raise GrokError(f"malformed reference {bad!r}: write %{{NAME}}, %{{NAME:field}} or %{{NAME:field:int}}")

        def one(match: re.Match) -> str:
            name, field, kind = match["name"], match["field"], match["type"]
            if name not in patterns:
                raise GrokError(f"unknown pattern %{{{name}}}" + (f" (in %{{{within}}})" if within else "")
                                + "; the library is listed in docs/log-formats.md")
            body = replace(patterns[name], depth + 1, name)
            if field is None:
                return f"(?:{body})"
            if kind:
                types[field] = kind
            return f"(?P<{field}>{body})"
        return REFERENCE.sub(one, text)

    return replace(pattern, 0, None), types
