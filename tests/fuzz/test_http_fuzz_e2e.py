"""A smaller share of the HTTP fuzz over real HTTP: `python -m local_runtime` (chalice local, the emulator, the runner).

The same properties as in process, on the wire: never a 5xx, always
`Content-Type: application/json` and a body that parses; a rejected POST
leaves the product and order tables and queues as they were. The runner
works the queues meanwhile, so each accepted request is waited for until its
worker is done, and every check starts from quiet queues.
"""
import http.client
import json
from functools import lru_cache
from urllib.parse import quote, urlsplit

import pytest
from hypothesis import assume, given, note
from hypothesis import strategies as st

from tests.e2e.conftest import wait_until
from tests.fuzz.support import SERVER_ERRORS, TRIED, budget
from tests.fuzz.test_http_fuzz import (GET_ROUTES, QUERY_NAMES, bodies, content_types, idempotency_keys, values)

pytestmark = pytest.mark.e2e

WATCHED_QUEUES = ("product-queue", "orders-queue")
WATCHED_TABLES = ("ProductTable", "OrdersTable")


def header_value(text: str) -> bytes:
    """What a client can put on the wire: no CR/LF, no leading space (http.client and proxies refuse those), UTF-8."""
    return text.replace("\r", "").replace("\n", "").lstrip(" \t").encode("utf-8")


@lru_cache(maxsize=None)
def operator_token(system) -> str:
    return system.token("operator")


def send(system, method: str, path: str, body: bytes | None, headers: dict[str, bytes]):
    """One request with exactly these bytes (requests would re-quote the path), as the demo operator unless
    the headers bring their own Authorization."""
    connection = http.client.HTTPConnection(urlsplit(system.api).netloc, timeout=30)
    try:
        connection.putrequest(method, path, skip_accept_encoding=True)
        for name, value in {"Authorization": f"Bearer {operator_token(system)}".encode(), **headers}.items():
            connection.putheader(name, value)
        if body is not None:
            connection.putheader("Content-Length", str(len(body)))
        connection.endheaders(body)
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


@lru_cache(maxsize=None)
def emulator(system, service: str):
    """One client per service of the system's emulator (creating one costs more than a call)."""
    return system.client(service)


@lru_cache(maxsize=None)
def queue_url(system, queue: str) -> str:
    return emulator(system, "sqs").get_queue_url(QueueName=queue)["QueueUrl"]


def state(system) -> dict[str, int]:
    sqs, dynamodb = emulator(system, "sqs"), emulator(system, "dynamodb")
    counts = {}
    for queue in WATCHED_QUEUES:
        attributes = sqs.get_queue_attributes(
            QueueUrl=queue_url(system, queue),
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
        counts[queue] = sum(int(v) for v in attributes.values())
    for table in WATCHED_TABLES:
        counts[table] = dynamodb.scan(TableName=table, Select="COUNT")["Count"]
    return counts


def quiet_state(system) -> dict[str, int]:
    """The counts once no product or order message is queued or being handled."""
    def quiet():
        counts = state(system)
        return None if any(counts[queue] for queue in WATCHED_QUEUES) else counts
    return wait_until(quiet, timeout=60, interval=0.1, what="the product and order queues to be empty")


def ascii_path(path: str) -> str:
    """http.client sends ASCII without spaces or controls: escape the rest, keep every % escape as written."""
    return quote(path, safe="/?&=%+;:@,$!*'()[]~{}")


@budget(0.75)
@given(data=st.data(), route=st.sampled_from(["POST /products", "POST /orders"] * 3 + [f"GET {r}" for r in GET_ROUTES]))
def test_over_real_http_never_a_5xx_always_json_and_a_rejected_post_writes_nothing(local_system, data, route):
    method, path = route.split(" ")
    headers: dict[str, bytes] = {}
    body = None
    if method == "POST":
        body = data.draw(bodies, "body")
        content_type, key = data.draw(content_types, "content type"), data.draw(idempotency_keys, "idempotency key")
        if content_type is not None:
            headers["Content-Type"] = header_value(content_type)
        if key is not None:
            headers["Idempotency-Key"] = header_value(key)
    else:
        path = path.replace("{}", quote(data.draw(values, "segment"), safe="%") or "x")
        query = data.draw(st.lists(st.tuples(st.sampled_from(QUERY_NAMES), values), max_size=3), "query")
        if query:
            path += "?" + "&".join(f"{quote(n, safe='%')}={quote(v, safe='%')}" for n, v in query)
    # Now and then the Authorization header is fuzzed too: anything but the operator's token is a 401 (on
    # every route but the public product reads), never a 5xx.
    authorization = data.draw(st.one_of(st.none(), st.none(), st.none(), values.map(header_value),
                                        st.sampled_from([b"Bearer", b"Bearer x.y.z", b"e30.e30.e30"])),
                              "authorization")
    if authorization is not None:
        headers["Authorization"] = authorization
    path = ascii_path(path)
    # Longer URLs never reach the app: API Gateway refuses them itself (chalice local from 64 KiB, with an HTML
    # 414). The in-process fuzz sends the long values.
    assume(len(path) <= 8192)
    note(f"{method} {path[:500]} {headers}")
    before = quiet_state(local_system) if method == "POST" else None
    status, response_headers, response_body = send(local_system, method, path, body, headers)
    note(f"{status} {response_headers} {response_body[:500]!r}")
    entry_point = f"{route.replace('{}', '{id}')} (real HTTP)"
    TRIED[entry_point] += 1
    SERVER_ERRORS[entry_point] += status >= 500
    assert status < 500, response_body[:2000]
    assert response_headers.get("content-type", "").split(";")[0].strip() == "application/json", response_headers
    answer = json.loads(response_body)
    public = method == "GET" and path.startswith("/products")
    if authorization is not None and not public:
        assert status == 401 and answer["Code"] == "Unauthorized", (status, answer)
        return
    if method == "GET":
        assert status in (200, 400, 404, 415), status
        return
    assert status in (202, 400, 413, 415), status
    if status != 202:
        assert state(local_system) == before
        return
    resource = f"{path}/{answer['id'] if path == '/products' else answer['orderId']}"

    def done():
        got = send(local_system, "GET", resource, None, {})
        return got[0] == 200 and json.loads(got[2]).get("status", "COMPLETED") in ("COMPLETED", "FAILED")
    wait_until(done, timeout=30, interval=0.1, what=f"the worker to finish {resource}")
    quiet_state(local_system)
