"""Every route x every kind of caller: who is refused (401), who is forbidden (403), who is served.

The tokens are real: issued by the moto user pool (tests/auth.py), or made the
ways a bad caller would (another key, expired, another client or pool, an
access token). The requests go through Chalice's local gateway, which runs
the app's authorizer as API Gateway does.
"""
import json
import uuid


from tests.auth import CALLERS

REFUSED = ("none", "malformed", "forged", "unknown_key", "expired", "other_client", "other_issuer", "access_token")
PUBLIC = {("GET", "/products"), ("GET", "/products/{product_id}"), ("GET", "/openapi.json")}
CUSTOMER_ROUTES = {("POST", "/orders"), ("GET", "/orders"), ("GET", "/orders/{order_id}")}
ORDER = {"items": [{"productId": "pen", "quantity": 1, "unitPrice": "3.10"}]}
ERASURE = ("DELETE", "/customers/{customer_id}/personal-data")

# (method, route) -> the request made of it: path and body (None: no body).
REQUESTS = {
    ("POST", "/products"): ("/products", {"name": "Caneta", "price": "1.50"}),
    ("GET", "/products"): ("/products", None),
    ("GET", "/products/{product_id}"): (f"/products/{uuid.uuid4()}", None),
    ("GET", "/log-batches"): ("/log-batches?key=a.log", None),
    ("GET", "/log-batches/lines"): ("/log-batches/lines?key=a.log", None),
    ("GET", "/invoice-uploads"): ("/invoice-uploads?key=a.csv", None),
    ("GET", "/invoices"): ("/invoices", None),
    ("GET", "/invoices/{number}"): ("/invoices/NF-1", None),
    ("POST", "/orders"): ("/orders", ORDER),
    ("GET", "/orders"): ("/orders", None),
    ("GET", "/orders/{order_id}"): ("/orders/{ana_order}", None),
    ("GET", "/openapi.json"): ("/openapi.json", None),
    ERASURE: (f"/customers/{uuid.uuid4()}/personal-data", None),
}


def routes_of(app) -> set[tuple[str, str]]:
    return {(method, path) for path, methods in app.routes.items() for method in methods if method != "OPTIONS"}


def test_the_table_covers_every_route_of_the_app(app):
    assert routes_of(app) <= set(REQUESTS), "a new route needs its row here: who may call it?"


def expected(route: tuple[str, str], caller: str) -> set[int]:
    if route in PUBLIC:
        return {200, 404}  # whatever the Authorization header holds, bad or none
    if caller in REFUSED:
        return {401}
    if caller == "no_group":
        return {403}
    if caller in ("customer", "other_customer"):
        if route not in CUSTOMER_ROUTES:
            return {403}
        if route == ("GET", "/orders/{order_id}"):
            return {200} if caller == "customer" else {404}  # another's order does not exist for them
        return {202} if route == ("POST", "/orders") else {200}
    if route == ERASURE:
        return {200}  # the operator: erased, even when there was nothing (never a 404 that says who exists)
    return {200, 202, 404}  # the operator: served (404 where the key or number names nothing)


def call(client, tokens, route, caller, ana_order):
    path, body = REQUESTS[route]
    headers = {"Content-Type": "application/json"} if body is not None else {}
    if route == ("POST", "/orders") and caller == "operator":
        body = {**body, "customerId": tokens.subs["ana"]}
    return client.anonymous_http.request(route[0], path.format(ana_order=ana_order),
                                         headers={**headers, **tokens.header(caller)},
                                         body=json.dumps(body).encode() if body is not None else b"")


def test_who_may_call_each_route(client, tokens, app):
    # One account and one set of tokens for the whole table: provisioning them per route cost more than the
    # 156 requests. A mismatch is reported by route and caller.
    ana_order = json.loads(client.http.post("/orders", headers={"Authorization": tokens["customer"]},
                                            body=json.dumps(ORDER).encode()).body)["orderId"]
    wrong = {}
    for route in sorted(routes_of(app)):
        for caller in CALLERS:
            response = call(client, tokens, route, caller, ana_order)
            if response.status_code not in expected(route, caller):
                wrong[f"{route[0]} {route[1]} as {caller}"] = (response.status_code, response.body[:200])
            if response.status_code in (401, 403):  # the project's error shape, from the gateway or the app
                assert set(json.loads(response.body)) >= {"Code", "Message"}, response.body
    assert wrong == {}


def test_a_refused_token_gets_the_gateways_401_in_the_projects_shape(client, tokens):
    for caller in REFUSED:
        response = client.anonymous_http.get("/invoices", headers=tokens.header(caller))
        assert response.status_code == 401, caller
        assert json.loads(response.body)["Code"] == "Unauthorized"


def test_a_token_is_accepted_raw_or_as_bearer(client, tokens):
    raw = client.anonymous_http.get("/invoices", headers={"Authorization": tokens["operator"]})
    bearer = client.anonymous_http.get("/invoices", headers={"Authorization": f"bearer {tokens['operator']}"})
    assert raw.status_code == bearer.status_code == 200


def test_a_customer_orders_for_itself_and_lists_only_its_own(client, tokens):
    ana, bruno = tokens.header("customer"), tokens.header("other_customer")
    mine = json.loads(client.http.post("/orders", headers=ana, body=json.dumps(ORDER).encode()).body)
    named = client.http.post("/orders", headers=ana,
                             body=json.dumps({**ORDER, "customerId": tokens.subs["ana"]}).encode())
    assert named.status_code == 202
    for_someone_else = client.http.post("/orders", headers=ana,
                                        body=json.dumps({**ORDER, "customerId": tokens.subs["bruno"]}).encode())
    assert for_someone_else.status_code == 403
    assert json.loads(for_someone_else.body)["errors"][0]["field"] == "customerId"
    listed = json.loads(client.http.get("/orders", headers=ana).body)["items"]
    assert {o["orderId"] for o in listed} == {mine["orderId"], json.loads(named.body)["orderId"]}
    assert all(o["customerId"] == tokens.subs["ana"] for o in listed)
    assert client.http.get(f"/orders?customerId={tokens.subs['ana']}", headers=bruno).status_code == 403
    assert json.loads(client.http.get("/orders", headers=bruno).body)["items"] == []


def test_an_operator_lists_every_customers_orders_with_or_without_a_customer(client, tokens):
    for who in ("customer", "other_customer"):
        client.http.post("/orders", headers=tokens.header(who), body=json.dumps(ORDER).encode())
    everyone = json.loads(client.http.get("/orders").body)["items"]
    assert {o["customerId"] for o in everyone} == {tokens.subs["ana"], tokens.subs["bruno"]}
    only_ana = json.loads(client.http.get(f"/orders?customerId={tokens.subs['ana']}").body)["items"]
    assert [o["customerId"] for o in only_ana] == [tokens.subs["ana"]]


def test_the_same_idempotency_key_from_two_customers_makes_two_orders_each_seen_only_by_its_owner(client, tokens):
    key = {"Idempotency-Key": "order-1"}
    answers = {who: client.http.post("/orders", headers={**key, **tokens.header(who)},
                                     body=json.dumps(ORDER).encode()) for who in ("customer", "other_customer")}
    assert [a.status_code for a in answers.values()] == [202, 202]
    ids = {who: json.loads(a.body)["orderId"] for who, a in answers.items()}
    assert ids["customer"] != ids["other_customer"]
    for owner, other in (("customer", "other_customer"), ("other_customer", "customer")):
        assert client.http.get(f"/orders/{ids[owner]}", headers=tokens.header(owner)).status_code == 200
        assert client.http.get(f"/orders/{ids[owner]}", headers=tokens.header(other)).status_code == 404
    again = client.http.post("/orders", headers={**key, **tokens.header("customer")}, body=json.dumps(ORDER).encode())
    assert json.loads(again.body)["orderId"] == ids["customer"]  # a retry is still the same order


def test_an_idempotency_key_reused_with_another_body_is_a_422_naming_the_header(client):
    key = {"Idempotency-Key": "product-1", "Content-Type": "application/json"}
    first = client.http.post("/products", headers=key, body=json.dumps({"name": "A", "price": "1.00"}).encode())
    retry = client.http.post("/products", headers=key, body=json.dumps({"name": "A", "price": "1.00"}).encode())
    other = client.http.post("/products", headers=key, body=json.dumps({"name": "B", "price": "1.00"}).encode())
    assert (first.status_code, retry.status_code, other.status_code) == (202, 202, 422)
    assert json.loads(first.body)["id"] == json.loads(retry.body)["id"]
    assert json.loads(other.body)["errors"][0]["field"] == "Idempotency-Key"
