"""Property: a line generated in a known layout, with any time that layout can hold, any level it can write
and any message, parses to that layout's format with exactly that time (ISO 8601 UTC) and that level."""
from datetime import datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st

from chalicelib.logbatch.parsing import parse_line

RECEIVED = datetime(2026, 11, 20, 12, 0, tzinfo=timezone.utc)
LEVEL_WORDS = {"TRACE": "TRACE", "DEBUG": "DEBUG", "INFO": "INFO", "WARN": "WARN", "ERROR": "ERROR", "FATAL": "FATAL"}
ANDROID = {"TRACE": "V", "DEBUG": "D", "INFO": "I", "WARN": "W", "ERROR": "E", "FATAL": "F"}
WINDOWS = {"INFO": "Info", "WARN": "Warning", "ERROR": "Error"}
RAS = {"INFO": "INFO", "WARN": "WARNING", "ERROR": "SEVERE", "FATAL": "FAILURE"}
MESSAGE = st.text(st.sampled_from("abcxyzABC0123456789 .,;=/-_()"), max_size=40).map(lambda text: "m" + text)


def iso(moment: datetime) -> str:
    return moment.isoformat() + "Z"


def in_range(low: datetime, high: datetime):
    return st.datetimes(min_value=low, max_value=high)


def recent():
    """Times a layout without a year can hold: the 330 days before the run started, so the year is certain."""
    end = RECEIVED.replace(tzinfo=None)
    return in_range(end - timedelta(days=330), end)


def millis(moment: datetime) -> datetime:
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def seconds(moment: datetime) -> datetime:
    return moment.replace(microsecond=0)


# format -> (time strategy, levels the layout writes (canonical -> written), render(moment, written, message))
LAYOUTS = {
    "app": (in_range(datetime(1970, 1, 1), datetime(9999, 1, 1)).map(seconds), LEVEL_WORDS,
            lambda t, level, m: f"{t:%Y-%m-%d %H:%M:%S} {level} [Checkout] {m}"),
    "log4j": (in_range(datetime(1970, 1, 1), datetime(9999, 1, 1)).map(millis), LEVEL_WORDS,
              lambda t, level, m: f"{t:%Y-%m-%d %H:%M:%S},{t.microsecond // 1000:03d} {level} [main] c.e.Pay - {m}"),
    "android": (recent().map(millis), ANDROID,
                lambda t, level, m: f"{t:%m-%d %H:%M:%S}.{t.microsecond // 1000:03d}  1204  1388 {level} Tag: {m}"),
    "windows_cbs": (in_range(datetime(1990, 1, 1), datetime(2099, 1, 1)).map(seconds), WINDOWS,
                    lambda t, level, m: f"{t:%Y-%m-%d %H:%M:%S}, {level:<22}CBS    {m}"),
    "bgl": (in_range(datetime(2000, 1, 1), datetime(2099, 12, 31)).map(seconds), RAS,
            lambda t, level, m: f"- {int(t.replace(tzinfo=timezone.utc).timestamp())} {t:%Y.%m.%d} R02-M1-N0-C:J12-U11"
                                f" {t:%Y-%m-%d-%H.%M.%S}.000000 R02-M1-N0-C:J12-U11 RAS KERNEL {level} {m}"),
    "spark": (in_range(datetime(2000, 1, 1), datetime(2068, 12, 31)).map(seconds), LEVEL_WORDS,
              lambda t, level, m: f"{t:%y/%m/%d %H:%M:%S} {level} executor.Executor: {m}"),
    "openstack": (in_range(datetime(1970, 1, 1), datetime(9999, 1, 1)).map(millis), LEVEL_WORDS,
                  lambda t, level, m: f"nova-api.log.1 {t:%Y-%m-%d %H:%M:%S}.{t.microsecond // 1000:03d} 25746 "
                                      f"{level} nova.api [req-1 - - -] {m}"),
    "pipe": (in_range(datetime(1970, 1, 1), datetime(9999, 1, 1)).map(millis), LEVEL_WORDS,
             lambda t, level, m: f"{t:%Y%m%d-%H:%M:%S}:{t.microsecond // 1000:03d}|Step_LSC|30002312|{level}|{m}"),
    "generic": (in_range(datetime(1970, 1, 1), datetime(9999, 1, 1)), LEVEL_WORDS,
                lambda t, level, m: f"[{level.lower()}] {t:%Y-%m-%dT%H:%M:%S}.{t.microsecond:06d}Z {m}"),
}


@st.composite
def layout_lines(draw):
    name = draw(st.sampled_from(sorted(LAYOUTS)))
    times, levels, render = LAYOUTS[name]
    moment, level, message = draw(times), draw(st.sampled_from(sorted(levels))), draw(MESSAGE)
    return name, render(moment, levels[level], message), iso(moment), level


@given(layout_lines())
def test_a_generated_line_in_a_known_layout_keeps_its_time_and_level(case):
    name, line, timestamp, level = case
    parsed = parse_line(line, RECEIVED)
    assert (parsed.format, parsed.timestamp, parsed.level) == (name, timestamp, level), line


@given(recent(), MESSAGE)
def test_a_generated_proxifier_line_keeps_its_time(moment, message):
    moment = seconds(moment)
    parsed = parse_line(f"[{moment:%m.%d %H:%M:%S}] chrome.exe - example.com:443 {message}", RECEIVED)
    assert (parsed.format, parsed.timestamp, parsed.level) == ("proxifier", iso(moment), None)
