"""The facts behind leaving request-body validation to the app, not API Gateway (docs/api.md): kept true here.

tests/contract/gateway_validation.py measures them over the fuzz tests' bodies; these are the cases that decide.
"""
import json

import pytest
from jsonschema import Draft4Validator

from chalicelib.catalog.model import NewProduct
from chalicelib.openapi import document
from chalicelib.orders.model import NewOrder
from tests.contract.gateway_validation import BOUNDARY, ROUTES, app_outcome, draft4, gateway_outcome


@pytest.fixture
def gateway(app):
    """route -> a draft-4 validator of its published request schema, as an API Gateway model would be."""
    contract = document(app)
    return {route: Draft4Validator(draft4(contract, model.__name__)) for route, model in ROUTES.items()}


def test_the_published_request_schemas_would_load_as_api_gateway_models(gateway):
    assert set(gateway) == {"POST /products", "POST /orders"}  # draft4() checked each as draft 4


@pytest.mark.parametrize("route", sorted(BOUNDARY))
def test_a_gateway_would_refuse_bodies_the_app_accepts_because_the_app_trims_first(gateway, route):
    for body in BOUNDARY[route]:
        raw = json.dumps(body).encode()
        assert app_outcome(ROUTES[route], raw) == (True, []), body
        assert not gateway_outcome(gateway[route], raw), body


@pytest.mark.parametrize("price", [" 7 ", "1e1", "+5"])
def test_a_gateway_would_refuse_price_spellings_the_app_tolerates(gateway, price):
    raw = json.dumps({"name": "Caneta", "price": price}).encode()
    assert app_outcome(NewProduct, raw)[0]
    assert not gateway_outcome(gateway["POST /products"], raw)


def test_what_the_gateway_would_refuse_the_app_answers_field_by_field(gateway):
    raw = json.dumps({"customerId": 7, "items": [{"productId": "p", "quantity": 0}], "notify": 3}).encode()
    assert not gateway_outcome(gateway["POST /orders"], raw)
    accepted, fields = app_outcome(NewOrder, raw)
    # A gateway response is one fixed text (no VTL, no escaping): none of these could be named in it.
    assert not accepted and {"customerId", "items.0.quantity", "notify"} <= set(fields)
