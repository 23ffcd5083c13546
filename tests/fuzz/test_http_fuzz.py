"""Every route in process (Chalice's test client, moto) with bodies, headers, paths and queries no one should send.

Properties: never a 5xx; always a JSON answer (Content-Type application/json,
a body that parses); a rejected request writes nothing (no call that changes
state goes out through chalicelib.aws, and every queue, table and bucket holds
what it held); an accepted one is processable (its queued message is stored
by the worker and readable through the API). One moto account per test
function; Hypothesis loops inside it.
"""
import json
import uuid
import base64
from urllib.parse import parse_qs, quote, urlsplit

import pytest
from hypothesis import given, note
from hypothesis import strategies as st

from infra.resources import RESOURCES, Bucket, Queue, Table
from tests.conftest import STAGE
from tests.events import sqs_event, sqs_record
from tests.fuzz.support import (SERVER_ERRORS, TRIED, Raw, aws, budget, cursor_of, deep_values, forged_cursors,
                                hostile_values, json_bytes, json_values, key_values, long_text, odd_text,
                                record_calls, visible_text, writes)
from tests.logfiles import APP_LINES


@pytest.fixture
def calls(client):
    return record_calls()


class Holdings:
    """How many messages, items and objects some of the stage's queues, tables and buckets hold."""

    def __init__(self, logical_ids=("ProductQueue", "ProductTable", "OrdersQueue", "OrdersTable")):
        self.sqs, self.dynamodb, self.s3 = aws("sqs"), aws("dynamodb"), aws("s3")
        self.queues, self.tables, self.buckets = [], [], []
        for logical_id in logical_ids:
            resource, name = RESOURCES[logical_id], STAGE.resource_name(logical_id)
            if isinstance(resource, Queue):
                self.queues.append(self.sqs.get_queue_url(QueueName=name)["QueueUrl"])
            elif isinstance(resource, Table):
                self.tables.append(name)
            elif isinstance(resource, Bucket):
                self.buckets.append(name)

    def __call__(self) -> dict[str, int]:
        counts = {}
        for url in self.queues:
            attributes = self.sqs.get_queue_attributes(
                QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])
            counts[url] = sum(int(v) for v in attributes["Attributes"].values())
        for table in self.tables:
            counts[table] = self.dynamodb.scan(TableName=table, Select="COUNT")["Count"]
        for bucket in self.buckets:
            counts[bucket] = self.s3.list_objects_v2(Bucket=bucket).get("KeyCount", 0)
        return counts


@pytest.fixture
def holdings(aws_resources):
    return Holdings()


def check_json_answer(entry_point: str, response) -> dict | list:
    TRIED[entry_point] += 1
    note(f"{response.status_code} {response.headers} {response.body[:500]!r}")
    if response.status_code >= 500:
        SERVER_ERRORS[entry_point] += 1
    assert response.status_code < 500, response.body[:2000]
    # Chalice's own answers (415, 405, 500) carry no Content-Type; API Gateway's proxy integration and
    # chalice local both send those as application/json. The e2e fuzz checks the header on the wire.
    content_type = {k.lower(): v for k, v in response.headers.items()}.get("content-type", "application/json")
    assert content_type.split(";")[0].strip() == "application/json", response.headers
    return json.loads(response.body)


# --- bodies --------------------------------------------------------------------------

prices = st.one_of(st.sampled_from(["19.90", "0", "0.5", "9999999999.99"]).map(Raw),
                   st.sampled_from(["19.90", " 7 ", "1e1"]), st.integers(0, 10 ** 6))
valid_product = st.fixed_dictionaries(
    {"name": st.text(st.characters(exclude_categories=("Cs",)), min_size=1, max_size=20).filter(str.strip),
     "price": prices},
    optional={"description": visible_text, "sku": st.sampled_from(["SKU-1", "x"]),
              "category": st.sampled_from(["papelaria", "ç"]), "stock": st.integers(0, 1000)})


def fields_with(base: dict, names: list[str]):
    """`base` with some of its fields (and maybe an unknown one) replaced by hostile values."""
    return st.builds(
        lambda changes, extra: {**base, **changes, **extra},
        st.dictionaries(st.sampled_from(names), hostile_values, max_size=3),
        st.dictionaries(st.sampled_from(["id", "status", "__proto__", "Name", ""]), hostile_values, max_size=1))


product_bodies = st.one_of(
    valid_product,
    valid_product.flatmap(lambda p: fields_with(p, ["name", "price", "description", "sku", "category", "stock"])),
)

valid_item = st.fixed_dictionaries(
    {"productId": st.sampled_from(["caderno", "p-1", "ç"]), "quantity": st.integers(1, 10 ** 6)},
    optional={"unitPrice": prices})
item_lists = st.one_of(st.lists(st.one_of(valid_item, valid_item.flatmap(
    lambda i: fields_with(i, ["productId", "quantity", "unitPrice"]))), max_size=3),
    st.just([{"productId": "p", "quantity": 1, "unitPrice": "1.00"}] * 101), hostile_values)
order_bodies = st.fixed_dictionaries(
    {"customerId": st.one_of(st.sampled_from(["c-42", " Ana "]), hostile_values), "items": item_lists},
    optional={"notify": st.one_of(st.sampled_from(["ana@example.com", "+5511987654321"]), hostile_values),
              "extra": hostile_values})

bodies = st.one_of(
    st.binary(max_size=300),
    json_values.map(json_bytes),
    product_bodies.map(json_bytes),
    order_bodies.map(json_bytes),
    st.builds(lambda field, deep: json_bytes({field: deep}), st.sampled_from(["name", "items", "customerId"]),
              deep_values),
    st.sampled_from([b"", b" \n", b"[" * 5000, b"{" * 5000, b"\xef\xbb\xbf{}", "{}".encode("utf-16"),
                     b'{"name": "x", "price": 1}' + b" " * (64 * 1024), b'{"a": "' + b"x" * 70000 + b'"}',
                     b"null", b"NaN", b'{"price": NaN}', b'{"name":"a","name":"b","price":1}']),
)

content_types = st.one_of(st.none(), st.sampled_from([
    "application/json", "application/json; charset=utf-8", "APPLICATION/JSON", "application/json;;", "text/plain",
    "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "", "*/*", "application/json, text/plain",
    "application/octet-stream", "image/png", ";", "application/jsonx", "application/json; charset=latin-1",
]), visible_text)
idempotency_keys = st.one_of(st.none(), visible_text, odd_text, long_text,
                             st.sampled_from(["", " ", "k" * 255, "k" * 256, "é" * 255, "\x00", "😀", "a\tb"]))


def request_headers(content_type, idempotency_key, accept) -> dict[str, str]:
    headers = {}
    if content_type is not None:
        headers["Content-Type"] = content_type
    if idempotency_key is not None:
        headers["Idempotency-Key"] = idempotency_key
    if accept is not None:
        headers["Accept"] = accept
    return headers


def processed_by_worker(app, handler: str, queue: str, body: str) -> dict:
    """Deliver one queued message to its worker, as SQS would."""
    return app.handler_map[handler](sqs_event(sqs_record(body, queue)), None)


@budget(2)
@given(route=st.sampled_from(["/products", "/orders"]), body=bodies, content_type=content_types,
       idempotency_key=idempotency_keys, accept=st.one_of(st.none(), visible_text, st.just("application/octet-stream")))
def test_posts_never_fail_on_the_server_and_a_rejected_one_writes_nothing(app, client, calls, holdings, route, body,
                                                                          content_type, idempotency_key, accept):
    before = holdings()
    calls.clear()
    response = client.http.post(route, body=body, headers=request_headers(content_type, idempotency_key, accept))
    answer = check_json_answer(f"POST {route}", response)
    assert response.status_code in (202, 400, 413, 415, 422), response.status_code
    if response.status_code == 422:
        # A key drawn again with another body (examples share one account): the key's first request is kept,
        # and the refused one changed nothing; its only write was the key's conditional put, which failed.
        assert idempotency_key and answer["errors"][0]["field"] == "Idempotency-Key", answer
        assert {(op, p["TableName"]) for _, op, p in writes(calls)} == {("PutItem", "IdempotencyKeysTable")}
        assert holdings() == before
        return
    if response.status_code != 202:
        assert answer["Code"] and answer["Message"]
        assert not writes(calls), writes(calls)
        assert holdings() == before
        return
    # Accepted: exactly its own writes, and a message the worker can store.
    sent = [params for _, op, params in calls if op == "SendMessage"]
    assert len(sent) == 1, calls
    if route == "/products":
        resource_id, handler, queue = answer["id"], "process_product_queue", "product-queue"
        # The key's first request (when a key was sent), then the message.
        assert [(op, p.get("TableName")) for _, op, p in writes(calls)][:-1] in (
            [], [("PutItem", "IdempotencyKeysTable")])
        assert writes(calls)[-1][1] == "SendMessage"
    else:
        resource_id, handler, queue = answer["orderId"], "process_orders", "orders-queue"
        # The key's record (when one was sent) before the order; the contact (when the body gave one) is on it.
        puts = [p for _, op, p in writes(calls) if op == "PutItem"]
        assert [op for _, op, p in writes(calls)] == ["PutItem"] * len(puts) + ["SendMessage"]
        assert puts[-1]["TableName"] == "OrdersTable" and {p["TableName"] for p in puts[:-1]} <= {
            "IdempotencyKeysTable"}
        assert ("notify" in puts[-1]["Item"]) == bool(json.loads(body).get("notify")), puts
    assert response.headers["Location"] == f"{route}/{resource_id}"
    assert processed_by_worker(app, handler, queue, sent[0]["MessageBody"]) == {"batchItemFailures": []}
    response = client.http.get(f"{route}/{resource_id}")
    stored = check_json_answer(f"GET {route}/{{id}} after a 202", response)
    assert response.status_code == 200, stored
    if route == "/orders":
        assert stored["status"] in ("COMPLETED", "FAILED"), stored


# --- paths and queries -----------------------------------------------------------------

@pytest.fixture
def seeded(app, client):
    """A product, an order, an invoice upload and a log upload, so listings have pages and cursors meet data."""
    from chalicelib.catalog.service import catalog
    from chalicelib.invoices.service import invoice_ingester
    from chalicelib.logbatch.service import log_splitter
    for n in range(3):
        catalog().store(json.dumps({"id": str(uuid.uuid4()), "created_at": "2026-11-20T10:00:00Z",
                                    "name": f"p{n}", "price": "1.00"}))
    for n in range(3):
        order = client.http.post("/orders", body=json.dumps({"customerId": "c-42", "items": [
            {"productId": "p", "quantity": 1, "unitPrice": "2.50"}]}).encode(),
            headers={"Content-Type": "application/json"})
        assert order.status_code == 202
    s3 = aws("s3")
    rows = "numero;cliente;valor;data_emissao\n" + "".join(f"NF-{n};Ana Costa;1,00;0{n + 1}/10/2025\n"
                                                           for n in range(3))
    etag = s3.put_object(Bucket="notas-fiscais", Key="seed.csv", Body=rows.encode())["ETag"]
    invoice_ingester().on_upload("notas-fiscais", "seed.csv", etag=etag, event_time="2026-11-20T10:00:00Z")
    etag = s3.put_object(Bucket="input-logs", Key="seed.log", Body="\n".join(APP_LINES).encode())["ETag"]
    log_splitter().on_upload("input-logs", "seed.log", etag=etag)


def path_value(value: str, how: str) -> str:
    """A value for a path segment: percent-encoded, encoded but keeping its own % escapes, or raw."""
    if how == "quoted":
        return quote(value, safe="")
    if how == "escapes kept":
        return quote(value, safe="%")
    return "".join(c for c in value if c not in "/?#")  # as API Gateway hands it over: decoded


def query_part(value: str, how: str) -> str:
    if how == "quoted":
        return quote(value, safe="")
    return "".join(c if c not in "&#" else quote(c) for c in value)


odd_escapes = st.sampled_from(["%00", "%ff", "%fe%ff", "%C3%28", "%E2%82", "%ED%A0%80", "%", "%zz", "%2", "%25",
                               "%0A", "%0D", "%1C", "%E2%80%A8", "%C0%AF", "%F4%90%80%80", "+", "%2B", "%26", "%3D"])
values = st.one_of(
    visible_text, odd_text, long_text, odd_escapes,
    st.lists(st.one_of(odd_escapes, visible_text), min_size=2, max_size=4).map("".join),
    st.integers().map(str), st.sampled_from([str(10 ** 30), "9" * 5000, "-1", "0", "1", "100", "101", "1e2", "²",
                                             " 5", "+5", "5.0", "0x10", "٣", "NaN"]),
    st.uuids().map(str), st.uuids().map(lambda u: str(u).upper()), st.uuids().map(lambda u: f"{{{u}}}"),
    st.uuids().map(lambda u: f"urn:uuid:{u}"), st.uuids().map(lambda u: u.hex),
    st.sampled_from(["2025-10-15", "2025-02-30", "2025-W01-1", "0000-00-00", "99999-01-01", "15/10/2025",
                     "NF-1", "NF-1 ", "nf-1", "ＮＦ-１", "seed.csv", "seed.log", "c-42", "..", ".",
                     "11222333000181", "11.222.333/0001-81", "12ABC34501DE35", "001", "A1"]),
    forged_cursors,
)
QUERY_NAMES = ["limit", "next", "key", "customer", "from", "to", "customerId", "cliente", "", "LIMIT", "next[]",
               "issuer", "series"]
GET_ROUTES = ["/products", "/products/{}", "/log-batches", "/invoice-uploads", "/invoices", "/invoices/{}",
              "/orders", "/orders/{}"]
ENCODINGS = ["quoted", "escapes kept", "raw"]
# The key names a listing's cursor holds, and the parameters that make the listing read its data.
LISTINGS = {
    "/products": ([{"id"}], {}),
    "/invoices": ([{"number", "issuer_series"}, {"number", "issuer_series", "customer", "issue_date"}],
                  {"customer": ["Ana Costa"], "from": ["2025-10-01"], "to": ["2025-10-31"]}),
    "/orders": ([{"orderId", "customerId", "createdAt"}], {"customerId": ["c-42", " c-42 "]}),
}


@st.composite
def get_requests(draw) -> str:
    """A GET of any route: odd path values, odd or missing parameters, cursors forged with the listing's own keys."""
    route = draw(st.sampled_from(GET_ROUTES))
    path = route.replace("{}", path_value(draw(values), draw(st.sampled_from(ENCODINGS))) or "x")
    query = draw(st.lists(st.tuples(st.sampled_from(QUERY_NAMES), values, st.sampled_from(["quoted", "raw"])),
                          max_size=3))
    if route in LISTINGS:
        key_sets, params = LISTINGS[route]
        for name, choices in params.items():
            if draw(st.booleans()):
                query.append((name, draw(st.sampled_from(choices)), "quoted"))
        if draw(st.booleans()):
            names = draw(st.sampled_from(key_sets))
            query.append(("next", draw(st.one_of(
                st.fixed_dictionaries({name: key_values for name in names}),
                st.fixed_dictionaries({name: st.fixed_dictionaries({"S": visible_text}) for name in names}),
            ).map(cursor_of)), "quoted"))
    if query:
        path += "?" + "&".join(f"{query_part(name, how)}={query_part(value, how)}" for name, value, how in query)
    return path


def last_param(path: str, name: str) -> str | None:
    """A query parameter as the route reads it (chalice: the last of repeated ones)."""
    return parse_qs(urlsplit(path).query, keep_blank_values=True).get(name, [None])[-1]


def catalog_cursor_dynamodb_refuses(cursor: str | None) -> bool:
    """A /products cursor of the right shape naming a key ProductTable cannot have: a number, an empty string
    (a 500 until ProductRepository.page asked decode_cursor for strings only)."""
    try:
        key = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        value = key["id"]
        return set(key) == {"id"} and len(value) == 1 and (isinstance(value.get("N"), str) or value.get("S") == "")
    except Exception:
        return False


@budget(5)
@given(path=get_requests(), content_type=st.one_of(st.none(), st.sampled_from(["application/json", "text/plain", ""])))
def test_gets_never_fail_on_the_server_and_never_write(client, seeded, calls, path, content_type):
    route = urlsplit(path).path
    note(path[:1000])
    calls.clear()
    headers = {"Content-Type": content_type} if content_type is not None else {}
    response = client.http.get(path, headers=headers)
    template = route if route in LISTINGS or route in ("/log-batches", "/invoice-uploads") \
        else route.rsplit("/", 1)[0] + "/{id}"
    answer = check_json_answer(f"GET {template}", response)
    assert response.status_code in (200, 400, 404, 415), response.status_code
    if response.status_code != 200:
        assert answer["Code"] and answer["Message"]
    assert not writes(calls), writes(calls)
    if route == "/products" and catalog_cursor_dynamodb_refuses(last_param(path, "next")):
        TRIED["GET /products (a cursor DynamoDB refuses)"] += 1  # moto lets some through: none may reach it
        assert response.status_code in (400, 415) and not [c for c in calls if c[1] == "Scan"], calls


@budget(0.5)
@given(route=st.sampled_from(["/products", "/invoices", "/orders?customerId=c-42"]), data=st.data())
def test_every_cursor_a_listing_returns_works_and_a_mangled_one_is_never_a_5xx(client, seeded, route, data):
    """Page through with limit=1; at each page also send a mangled copy of the cursor."""
    joiner = "&" if "?" in route else "?"
    cursor, pages = None, 0
    while pages < 10:
        response = client.http.get(f"{route}{joiner}limit=1" + (f"&next={quote(cursor)}" if cursor else ""))
        page = check_json_answer(f"GET {route.split('?')[0]} (paging)", response)
        assert response.status_code == 200, page
        cursor, pages = page["next"], pages + 1
        if not cursor:
            break
        cut = data.draw(st.integers(0, len(cursor) - 1))
        mangled = data.draw(st.sampled_from([cursor[:cut], cursor[:cut] + "A" + cursor[cut + 1:], cursor + "x",
                                             cursor[::-1], cursor.upper()]))
        if mangled != cursor:
            answer = check_json_answer(f"GET {route.split('?')[0]} (mangled cursor)",
                                       client.http.get(f"{route}{joiner}next={quote(mangled)}"))
            assert answer is not None
    assert pages >= 3  # the seeded data holds at least three of each


# --- the Authorization header ------------------------------------------------------

authorizations = st.one_of(
    values, values.map(lambda v: f"Bearer {v}"),
    st.lists(st.text(st.characters(codec="ascii", exclude_categories=["Cc"]), max_size=40), min_size=3, max_size=3)
    .map(".".join),  # three dot-separated parts: reaches the JWT parser
    st.binary(max_size=64).map(lambda b: ".".join(base64.urlsafe_b64encode(b).decode() for _ in range(3))),
)


@budget(1)
@given(route=st.sampled_from(["GET /invoices", "GET /orders", "POST /orders", "POST /products", "GET /log-batches"]),
       authorization=authorizations)
def test_any_authorization_but_a_pool_token_is_a_401_in_the_projects_shape(client, route, authorization):
    method, path = route.split(" ")
    response = client.http.request(method, path, headers={"Authorization": authorization},
                                   body=b'{"name": "x", "price": 1}' if method == "POST" else b"")
    answer = check_json_answer(f"{route} (Authorization)", response)
    assert response.status_code == 401 and answer["Code"] == "Unauthorized", (response.status_code, answer)
