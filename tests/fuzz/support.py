"""What the fuzz tests share: hostile values, a recorder of the app's AWS writes, and the tally of inputs tried.

The Hypothesis profile (tests/conftest.py: "ci" 40 examples, "fuzz" 2000)
sets every budget; each test asks for a share of it with `budget()` (more for
cheap examples, less for ones that push a file through moto).
"""
import base64
import json
from collections import Counter
from decimal import Decimal
from functools import lru_cache
from typing import Any

from hypothesis import Phase, settings
from hypothesis import strategies as st

# entry point -> inputs tried / 5xx answers seen; printed at the end of the run (tests/fuzz/conftest.py).
TRIED: Counter = Counter()
SERVER_ERRORS: Counter = Counter()

# What changes state in this app's AWS accounts: none of it may happen for a rejected request.
WRITES = frozenset({
    "SendMessage", "SendMessageBatch", "PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem",
    "TransactWriteItems", "PutObject", "DeleteObject", "Publish", "DeleteMessage", "DeleteMessageBatch",
})


def examples(fraction: float = 1.0) -> int:
    """A share of the profile's budget, for tests whose examples cost more than most."""
    return max(5, int(settings.default.max_examples * fraction))


def budget(fraction: float = 1.0) -> settings:
    """The profile's settings with `examples(fraction)`, and no explain phase: it re-runs a failing example
    hundreds of times, minutes when an example pushes a file through moto."""
    return settings(max_examples=examples(fraction),
                    phases=[phase for phase in settings.default.phases if phase != Phase.explain])


@lru_cache(maxsize=None)
def aws(service: str):
    """A boto3 client of the test's own (not chalicelib.aws's, so its calls are not the app's), one per test:
    creating one costs more than most of the calls a fuzz example makes. tests/fuzz/conftest.py clears them."""
    import boto3
    return boto3.client(service)


def record_calls(services=("s3", "sqs", "dynamodb", "sns")) -> list[tuple[str, str, dict]]:
    """(service, operation, params) of every call the app makes through chalicelib.aws clients from now on."""
    from chalicelib import aws as app_aws
    calls: list[tuple[str, str, dict]] = []

    def record(params, model, **_):
        calls.append((model.service_model.endpoint_prefix, model.name, dict(params)))
    for service in services:
        app_aws.client(service).meta.events.register("provide-client-params.*.*", record)
    return calls


def writes(calls: list[tuple[str, str, dict]]) -> list[tuple[str, str, dict]]:
    return [call for call in calls if call[1] in WRITES]


# --- JSON with the numbers and nesting a client can really send ---------------------

class Raw(str):
    """JSON text placed as is (numbers Python cannot write, nesting, broken fragments)."""


def dump(value: Any) -> str:
    """JSON text of `value`; Raw pieces verbatim, lone surrogates as \\ud800 escapes (what a JS client sends)."""
    if isinstance(value, Raw):
        return str(value)
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(str(k))}:{dump(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(dump(v) for v in value) + "]"
    if isinstance(value, Decimal):
        return str(value)
    return json.dumps(value)


# Characters that are not line ends and are easy to mistake for one, controls, and ones SQS refuses.
ODD_CHARS = "\x00\x01\x08\x0b\x0c\x1b\x1c\x1d\x1e\x1f\x7f\x85\u2028\u2029\ufeff\ufffe\uffff\r\t\"\\'%;,{}[]"

visible_text = st.text(st.characters(exclude_categories=("Cs",)), max_size=30)
odd_text = st.text(st.one_of(st.characters(exclude_categories=("Cs",)), st.sampled_from(ODD_CHARS)),
                   max_size=30)
# In a JSON string a client can also send lone surrogates, as escapes.
json_text = st.text(st.one_of(st.characters(), st.sampled_from(ODD_CHARS)), max_size=30)
long_text = st.builds(lambda char, n: char * n, st.sampled_from(["a", "é", "€", "😀", "\x00", "[", " "]),
                      st.sampled_from([129, 201, 256, 1001, 2049, 5000]))

special_numbers = st.one_of(st.sampled_from([
    "0", "-0", "1e999999", "-1e999999", "1E-400", "1e-7", "0.001", "19.999", "1e2", "1E+2", "100.00",
    "99999999999.99", "9999999999.99", "123456789012345678901234567890", "-1", "NaN", "Infinity", "-Infinity",
    "1.", ".5", "01", "0x10", "2.0",
]), st.sampled_from([39, 400, 4400]).map(lambda digits: "1" + "0" * digits)).map(Raw)

json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.integers(min_value=-(10 ** 60), max_value=10 ** 60),
    st.floats(allow_nan=False, allow_infinity=False), special_numbers, json_text, long_text,
)
json_values = st.recursive(
    json_scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(json_text, inner, max_size=4),
    max_leaves=10)


def nested(depth: int, opening: str = "[", closed: bool = True) -> Raw:
    closing = {"[": "]", "{\"a\":": "}"}[opening]
    return Raw(opening * depth + ("0" if opening != "[" else "") + (closing * depth if closed else ""))


deep_values = st.builds(nested, st.sampled_from([50, 1000, 5000]), st.sampled_from(["[", "{\"a\":"]),
                        st.booleans())
hostile_values = st.one_of(json_values, deep_values, special_numbers, long_text, odd_text)


def json_bytes(value: Any) -> bytes:
    return dump(value).encode("utf-8", errors="surrogatepass")


# --- forged pagination cursors ---------------------------------------------------------

def cursor_of(value: Any) -> str:
    text = value if isinstance(value, (str, bytes)) else json.dumps(value)
    raw = text.encode("utf-8", errors="surrogatepass") if isinstance(text, str) else text
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


key_values = st.one_of(
    st.fixed_dictionaries({"S": st.one_of(visible_text, long_text, st.just(""), st.integers())}),
    st.fixed_dictionaries({"N": st.one_of(st.sampled_from(["1", "-1", "1e400", "abc", "", "0x1"]),
                                          st.integers())}),
    st.fixed_dictionaries({"B": st.just("AAAA")}), st.fixed_dictionaries({"SS": st.lists(visible_text, max_size=2)}),
    st.fixed_dictionaries({"S": visible_text, "N": st.just("1")}), json_values,
)
KEY_NAMES = ["id", "number", "issuer_series", "customer", "issue_date", "orderId", "customerId", "createdAt"]
forged_cursors = st.one_of(
    st.dictionaries(st.sampled_from(KEY_NAMES), key_values, max_size=4).map(cursor_of),
    st.fixed_dictionaries({"orderId": key_values, "customerId": key_values, "createdAt": key_values}).map(cursor_of),
    st.fixed_dictionaries({"number": key_values, "issuer_series": key_values, "customer": key_values,
                           "issue_date": key_values}).map(cursor_of),
    json_values.map(cursor_of), st.binary(max_size=40).map(cursor_of),
    st.sampled_from(["", "=", "====", "a", "ab=c", "!!!!", "bnVsbA", "W10", "e30", "%00", "\u00e9"]),
    st.text(max_size=30), long_text,
)
