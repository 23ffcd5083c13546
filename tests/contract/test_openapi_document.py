"""The contract document itself: generated from the code, valid OpenAPI 3.1, every route of app.py in it, served
exactly as generated, and its examples true to its own schemas."""
import json

import pytest
from chalice import Chalice
from openapi_spec_validator import validate

from chalicelib.openapi import SECURITY_SCHEME, base_path_of, build, document
from chalicelib.openapi.operations import OPERATIONS
from tests.contract.support import operations_of, resolve, routes_of, schema_problems, undocumented

# The routes anyone may call (issue 18); every other route needs the pool's ID token.
PUBLIC = {"GET /products", "GET /products/{product_id}", "GET /openapi.json"}


@pytest.fixture
def served(app):
    """The document as GET /openapi.json serves it (the first test holds that it is)."""
    return json.loads(json.dumps(document(app)))


def test_every_route_of_app_py_is_in_the_served_document(app, client):
    response = client.http.get("/openapi.json")
    assert response.status_code == 200, response.body
    assert response.headers["Content-Type"] == "application/json"
    assert response.headers.get("X-Correlation-Id")
    served = json.loads(response.body)
    assert undocumented(app, served) == []
    assert set(operations_of(served)) == routes_of(app)
    assert served == json.loads(json.dumps(document(app)))  # served exactly as generated


def test_a_route_added_without_its_entry_is_caught():
    demo = Chalice("demo")

    @demo.route("/products", methods=["GET"])
    def list_products():
        return {}

    @demo.route("/widgets/{widget_id}", methods=["DELETE"])
    def delete_widget(widget_id):
        return {}

    generated = build(demo)
    assert undocumented(demo, generated) == ["DELETE /widgets/{widget_id}"]
    # Still in the document (so a client sees it), with its path parameter, just flagged.
    parameters = operations_of(generated)["DELETE /widgets/{widget_id}"]["parameters"]
    assert {"name": "widget_id", "in": "path", "required": True}.items() <= parameters[0].items()


def test_every_entry_of_the_table_names_a_route(app):
    assert set(OPERATIONS) - routes_of(app) == set()


def test_the_served_document_is_valid_openapi_3_1(served):
    assert served["openapi"].startswith("3.1.")
    validate(served)


def test_servers_is_the_stage_prefix_the_request_came_through():
    class Request:
        context = {"path": "/api/openapi.json", "resourcePath": "/openapi.json"}
    assert base_path_of(Request()) == "/api"
    Request.context = {"path": "/openapi.json", "resourcePath": "/openapi.json"}
    assert base_path_of(Request()) == ""


def test_security_follows_the_route_table(app, served):
    operations = operations_of(served)
    for path, methods in app.routes.items():
        for method, entry in methods.items():
            operation = operations[f"{method} {path}"]
            if entry.authorizer is None:
                assert operation["security"] == [], f"{method} {path}"
                assert not {"401", "403"} & set(operation["responses"]), f"{method} {path}"
            else:
                assert operation["security"] == [{SECURITY_SCHEME: []}], f"{method} {path}"
                assert {"401", "403"} <= set(operation["responses"]), f"{method} {path}"
    assert all(operations[route]["security"] == [] for route in PUBLIC)
    scheme = served["components"]["securitySchemes"][SECURITY_SCHEME]
    assert (scheme["type"], scheme["scheme"], scheme["bearerFormat"]) == ("http", "bearer", "JWT")


def test_every_answer_carries_the_correlation_id_and_errors_share_one_schema(served):
    for route, operation in operations_of(served).items():
        for status, documented in operation["responses"].items():
            response = resolve(served, documented)
            assert "X-Correlation-Id" in response["headers"], f"{route} {status}"
            schema = response["content"]["application/json"]["schema"]
            if int(status) >= 400:
                assert schema == {"$ref": "#/components/schemas/Error"}, f"{route} {status}"


def test_posts_answer_202_with_location_and_take_an_idempotency_key(served):
    for route, operation in operations_of(served).items():
        if route.startswith("POST "):
            assert "Location" in operation["responses"]["202"]["headers"], route
            assert {"$ref": "#/components/parameters/IdempotencyKey"} in operation["parameters"], route
            assert operation["requestBody"]["required"] is True, route


def test_paged_lists_take_limit_and_next(served):
    for route in ("GET /products", "GET /invoices", "GET /orders", "GET /log-batches/lines"):
        parameters = operations_of(served)[route]["parameters"]
        assert {"$ref": "#/components/parameters/Limit"} in parameters, route
        assert {"$ref": "#/components/parameters/Next"} in parameters, route


def _examples(document: dict):
    """(where, schema, example) of every example in the document."""
    for route, operation in operations_of(document).items():
        for parameter in operation["parameters"]:
            parameter = resolve(document, parameter)
            if "example" in parameter:
                yield f"{route} {parameter['name']}", parameter["schema"], parameter["example"]
        body = operation.get("requestBody", {}).get("content", {}).get("application/json", {})
        if "example" in body:
            yield f"{route} body", body["schema"], body["example"]
        for status, response in operation["responses"].items():
            content = resolve(document, response)["content"]["application/json"]
            if "example" in content:
                yield f"{route} {status}", content["schema"], content["example"]


def test_every_example_fits_its_own_schema(served):
    examples = list(_examples(served))
    assert len(examples) >= 15  # the README's session: bodies, answers and parameters
    problems = [f"{where}: {line}" for where, schema, example in examples
                for line in schema_problems(served, schema, example)]
    assert problems == []


def test_an_example_that_breaks_its_schema_is_reported(served):
    schema = {"$ref": "#/components/schemas/Product"}
    assert schema_problems(served, schema, {"id": "x"})  # name, price... missing
    assert any("price" in line for line in schema_problems(served, schema, {
        "id": "x", "name": "n", "price": 19.9, "created_at": "t", "stored_at": "t",
        "report": {"bucket": "b", "key": "k"}}))
