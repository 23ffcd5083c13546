"""Real answers against the document: every flow run in process (moto), then every route read, and each answer's
status, headers and body checked against what the document promises for that route.

Schemathesis (test_schemathesis.py) explores inputs, but it cannot upload a log or an invoice file, so most of
its answers are 400s and 404s. Here every operation gives at least one success answer with real data in it (a
completed log report, an upload with rejected rows, a priced order), which is what keeps shapes.py true.
"""
import json
from pathlib import Path
from urllib.parse import quote

import boto3

from chalicelib.openapi import document
from tests.contract.support import answer_problems, operations_of, routes_of

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
JSON = {"Content-Type": "application/json"}


class Checked:
    """Calls through the test client, each answer checked against the document; remembers what it covered."""

    def __init__(self, client, contract: dict):
        self.client, self.contract = client, contract
        self.problems: list[str] = []
        self.succeeded: set[str] = set()
        self.statuses: set[tuple[str, int]] = set()

    def __call__(self, method: str, route: str, path: str, body=None, headers=None, http=None):
        http = http or self.client.http
        send = {"GET": http.get, "POST": http.post, "DELETE": http.delete}[method]
        response = send(path, headers={**JSON, **(headers or {})},
                        **({"body": body if isinstance(body, (str, bytes)) else json.dumps(body)}
                           if body is not None else {}))
        self.problems += answer_problems(self.contract, method, route, response.status_code, response.headers,
                                         response.body)
        self.statuses.add((f"{method} {route}", response.status_code))
        if response.status_code < 300:
            self.succeeded.add(f"{method} {route}")
        return response.status_code, json.loads(response.body)


def test_every_route_answers_as_the_document_says(app, client, runner):
    contract = json.loads(json.dumps(document(app)))
    call = Checked(client, contract)

    # Catalog: accepted, stored by the worker, read back one by one and as a page.
    status, accepted = call("POST", "/products", "/products",
                            {"name": "Caneta azul", "price": 19.90, "stock": 10, "sku": "CAN-AZ",
                             "category": "papelaria", "description": "Esferográfica"},
                            headers={"Idempotency-Key": "caneta-azul"})
    assert status == 202, accepted
    runner.drain()
    assert call("GET", "/products/{product_id}", f"/products/{accepted['id']}")[0] == 200
    status, page = call("GET", "/products", "/products?limit=1")
    assert status == 200 and page["items"]

    # Log batches: the README's example file, split, counted and reported.
    boto3.client("s3").put_object(Bucket="input-logs", Key="demo/app.log", Body=(EXAMPLES / "app.log").read_bytes())
    runner.drain()
    status, batch = call("GET", "/log-batches", "/log-batches?key=demo/app.log")
    assert status == 200 and batch["status"] == "completed" and "report" in batch, batch
    status, lines = call("GET", "/log-batches/lines", "/log-batches/lines?key=demo/app.log&level=WARN&limit=2")
    assert status == 200 and lines["items"], lines

    # Invoices: the README's CSV, with its two bad rows.
    boto3.client("s3").put_object(Bucket="notas-fiscais", Key="demo/notas_fiscais.csv",
                                  Body=(EXAMPLES / "notas_fiscais.csv").read_bytes())
    runner.drain()
    status, upload = call("GET", "/invoice-uploads", "/invoice-uploads?key=demo/notas_fiscais.csv")
    assert status == 200 and upload["errors"] and "report" in upload, upload
    status, invoices = call("GET", "/invoices", f"/invoices?customer={quote('Ana Costa')}&from=2025-10-01")
    assert status == 200 and invoices["items"], invoices
    number = invoices["items"][0]["number"]
    assert call("GET", "/invoices/{number}", f"/invoices/{quote(number, safe='')}")[0] == 200

    # Orders: one priced from the catalog, one with a price given; completed by the worker.
    status, order = call("POST", "/orders", "/orders", {
        "customerId": "c-42", "notify": "ana@example.com",
        "items": [{"productId": accepted["id"], "quantity": 2},
                  {"productId": "caderno", "quantity": 1, "unitPrice": "12.50"}]})
    assert status == 202, order
    runner.drain()
    status, shown = call("GET", "/orders/{order_id}", f"/orders/{order['orderId']}")
    assert status == 200 and shown["status"] == "COMPLETED", shown
    status, failed = call("POST", "/orders", "/orders", {"customerId": "c-42",
                                                         "items": [{"productId": "nao-existe", "quantity": 1}]})
    runner.drain()
    assert call("GET", "/orders/{order_id}", f"/orders/{failed['orderId']}")[1]["status"] == "FAILED"
    status, listed = call("GET", "/orders", "/orders?customerId=c-42&limit=1")
    assert status == 200 and listed["items"] and listed["next"], listed

    # Personal data: c-42's order contact erased (one not yet processed: a notified order's went with its
    # notification), and what is retained said.
    status, waiting = call("POST", "/orders", "/orders", {"customerId": "c-42", "notify": "ana@example.com",
                                                          "items": [{"productId": "caderno", "quantity": 1,
                                                                     "unitPrice": "12.50"}]})
    assert status == 202, waiting
    status, erased = call("DELETE", "/customers/{customer_id}/personal-data", "/customers/c-42/personal-data")
    assert status == 200 and [(r["store"], r["count"]) for r in erased["removed"]] == [
        ("OrdersTable", 1), ("OrderContactsTable", 0)], erased
    runner.drain()

    assert call("GET", "/openapi.json", "/openapi.json")[0] == 200

    # Refusals, one of each kind the app gives itself.
    assert call("POST", "/products", "/products", {"name": ""})[0] == 400
    assert call("POST", "/products", "/products", "x" * (64 * 1024 + 1))[0] == 413
    assert call("POST", "/orders", "/orders", {"customerId": "c", "items": []},
                headers={"Content-Type": "text/plain"})[0] == 415
    assert call("GET", "/products/{product_id}", "/products/5b1e7f1e-0000-4000-8000-000000000000")[0] == 404
    assert call("GET", "/orders", "/orders?customerId=c-42&next=forged")[0] == 400
    assert call("GET", "/log-batches", "/log-batches?key=never/uploaded.log")[0] == 404
    assert call("POST", "/products", "/products", {"name": "Outra", "price": "1.00"},
                headers={"Idempotency-Key": "caneta-azul"})[0] in (202, 422)  # 422 once keys remember bodies
    anonymous = getattr(client, "anonymous_http", None)  # the identity's test client (issue 18)
    if anonymous is not None and app.routes["/orders"]["POST"].authorizer is not None:
        assert call("POST", "/orders", "/orders", {}, http=anonymous)[0] == 401

    assert call.problems == [], "\n".join(call.problems)
    assert call.succeeded == routes_of(app), "every operation answered a success at least once"
    assert set(operations_of(contract)) == routes_of(app)
