"""The fallback: a line no format recognises still has a level if a level word opens it.

Most lines of an unknown format say how bad they are near their start; this
module finds that word (and, through `times.find_time`, a time in a common
layout) so such a file is not all `unparsed`. It must not read prose as a
level, which is why its rules are narrow (see the package docstring).
"""
import re

from chalicelib.logbatch.parsing.common import LEVELS, ParsedLine, _text, _utc
from chalicelib.logbatch.parsing.times import find_time

UPPER_LEVEL_WORDS = frozenset({"TRACE", "DEBUG", "INFO", "NOTICE", "WARN", "WARNING", "ERROR", "FATAL", "CRITICAL"})
BRACKETED_LEVEL_WORDS = frozenset(word.lower() for word in UPPER_LEVEL_WORDS) | {"err", "crit", "alert", "emerg"}
LOGFMT_LEVEL_KEYS = ("level=", "lvl=", "severity=")
PYTHON_DEFAULT = re.compile(r"(?P<level>[A-Z]+):(?P<logger>[^:\s]+):(?P<message>.*)", re.DOTALL)
GENERIC_HEAD = 80  # characters
GENERIC_TOKENS = 5


def _level_of_token(token: str) -> str | None:
    if token[0] == "[":
        inner = token[1:-1] if token.endswith("]") else token[1:-2] if token.endswith("]:") else None
        return LEVELS[inner.lower()] if inner and inner.lower() in BRACKETED_LEVEL_WORDS else None
    if token[0] in "lsLS" and "=" in token:
        key, _, value = token.partition("=")
        if (key.lower() + "=") in LOGFMT_LEVEL_KEYS:
            return LEVELS.get(value.strip("\"'").lower())
        return None
    word = token.split(":", 1)[0] if ":" in token else token
    return LEVELS[word.lower()] if word in UPPER_LEVEL_WORDS else None


def _leading_level(text: str, tokens: int = GENERIC_TOKENS) -> str | None:
    """The level a level word among the first `tokens` tokens (within GENERIC_HEAD characters) gives."""
    words = text[:GENERIC_HEAD].split()
    if words and len(text) > GENERIC_HEAD and not text[GENERIC_HEAD - 1].isspace() \
            and not text[GENERIC_HEAD].isspace():
        words.pop()  # a word cut at the edge: "INFORMATION" is not "INFO"
    for token in words[:tokens]:
        level = _level_of_token(token)
        if level:
            return level
    return None


def _generic_line(line: str, received_at) -> ParsedLine | None:
    level = _leading_level(line)
    if level is None:  # a time alone does not make a line generic: "2025-10-28 09:15:28 [NoLevel] x" stays unparsed
        return None
    moment = find_time(line, received_at)
    timestamp = _utc(moment) if moment is not None else None
    python = PYTHON_DEFAULT.match(line)
    if python and python["level"] in UPPER_LEVEL_WORDS:
        return ParsedLine("generic", timestamp, level, None, _text(python["logger"]), python["message"] or None)
    return ParsedLine("generic", timestamp, level, None, None, line)
