"""Would API Gateway's request validation keep this API's answers? A measurement, not a feature (docs/api.md).

API Gateway (REST) can validate a JSON body against a model before the Lambda
runs: the model is JSON Schema draft 4, a refused body is a 400 whose body is
the BAD_REQUEST_BODY gateway response, and that response's template takes
only simple variable substitution (no VTL, no escaping). This runs the same
bodies through both sides and counts where they differ:

- the app: chalicelib.http.parse_json_object, then the route's pydantic model (what the Lambda answers);
- the gateway: the document's request schema turned into draft 4, checked by jsonschema's Draft4Validator
  (a stand-in: API Gateway's own validator is not available off AWS), after a strict JSON parse;
- and the "JSON object only" model (`{"type": "object"}`), the most a gateway response could refuse while
  still answering exactly what the app answers ({"field": "body"}).

The bodies are the HTTP fuzz tests' (tests/fuzz/test_http_fuzz.py: valid ones, ones with hostile fields,
broken JSON), plus the boundary cases that pydantic's trimming makes different.

    python -m tests.contract.gateway_validation [--examples 3000]
"""
import argparse
import copy
import json
import statistics
import time
from collections import Counter
from typing import Any

from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st
from jsonschema import Draft4Validator

from chalicelib.catalog.model import NewProduct
from chalicelib.errors import ClientError
from chalicelib.http import parse_json_object
from chalicelib.orders.model import NewOrder
from chalicelib.validation import validate

ROUTES = {"POST /products": NewProduct, "POST /orders": NewOrder}
# Bodies the app accepts because it trims before it measures: what a length-checking gateway refuses.
BOUNDARY = {
    "POST /products": [{"name": " " + "n" * 200 + " ", "price": "1.00"},
                       {"name": "Caneta", "price": "1.00", "sku": "\t" + "s" * 64 + "\n"}],
    "POST /orders": [{"customerId": " " + "c" * 128 + " ", "items": [{"productId": "p", "quantity": 1}]},
                     {"customerId": "c", "items": [{"productId": "p" * 128 + " ", "quantity": 1}]}],
}


def draft4(document: dict, model: str) -> dict:
    """The document's schema of `model` as an API Gateway model: draft 4, its refs under #/definitions."""
    text = json.dumps(document["components"]["schemas"]).replace("#/components/schemas/", "#/definitions/")
    definitions = json.loads(text)
    schema = copy.deepcopy(definitions[model])
    schema.update({"$schema": "http://json-schema.org/draft-04/schema#", "definitions": definitions})
    Draft4Validator.check_schema(schema)
    return schema


def app_outcome(model, body: bytes) -> tuple[bool, list[str]]:
    """(accepted, the fields its refusal names)."""
    try:
        validate(model, parse_json_object(body))
        return True, []
    except ClientError as error:
        return False, [problem["field"] for problem in error.errors]


def gateway_outcome(validator: Draft4Validator, body: bytes) -> bool:
    """Accepted by a draft-4 validator after a strict JSON parse (no NaN, no lone surrogates)."""
    def refuse_constant(name: str) -> Any:
        raise ValueError(name)
    try:
        value = json.loads(body.decode("utf-8"), parse_constant=refuse_constant)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return False
    try:
        return validator.is_valid(value)
    except RecursionError:
        return False


def corpus(route: str, examples: int) -> list[bytes]:
    from tests.fuzz.test_http_fuzz import bodies, order_bodies, product_bodies
    from tests.fuzz.support import json_bytes
    own = product_bodies if route == "POST /products" else order_bodies
    drawn: list[bytes] = []

    @seed(21)  # the same bodies every run: docs/api.md quotes the counts
    @settings(max_examples=examples, database=None, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.one_of(own.map(json_bytes), own.map(json_bytes), bodies))
    def collect(body):
        drawn.append(body)
    collect()
    return drawn + [json.dumps(body).encode() for body in BOUNDARY[route]]


def measure(document: dict, examples: int) -> dict[str, dict[str, Any]]:
    results = {}
    for route, model in ROUTES.items():
        full = Draft4Validator(draft4(document, model.__name__))
        objects_only = Draft4Validator({"type": "object"})
        counts: Counter = Counter()
        outcomes, cpu_ns = [], []
        bodies = corpus(route, examples)
        for body in bodies:
            started = time.process_time_ns()
            outcomes.append(app_outcome(model, body))
            cpu_ns.append(time.process_time_ns() - started)
        for body, (app_accepts, fields) in zip(bodies, outcomes):
            gateway_accepts = gateway_outcome(full, body)
            counts["bodies"] += 1
            counts["app accepts"] += app_accepts
            if app_accepts and not gateway_accepts:
                counts["gateway refuses, app accepts"] += 1
            if not app_accepts and not gateway_accepts:
                counts["both refuse"] += 1
                # The app would have named these fields; the gateway's answer can name none of them.
                counts["refusals that lose named fields"] += any(field != "body" for field in fields)
            if not app_accepts and gateway_accepts:
                counts["app refuses, gateway lets through"] += 1
            if not gateway_outcome(objects_only, body):
                counts["not a JSON object"] += 1
        counts["app CPU us per body, median"] = round(statistics.median(cpu_ns) / 1000)
        results[route] = dict(counts)
    return results


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.contract.gateway_validation")
    parser.add_argument("--examples", type=int, default=3000)
    args = parser.parse_args(argv)
    import tests.conftest  # noqa: F401  (the dev stage's settings, as the tests have them)
    from chalicelib.openapi import document
    from infra.stage import Stage
    app = Stage.load("dev").load_app()
    print(json.dumps(measure(document(app), args.examples), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
