"""Schemathesis against `python -m local_runtime`: the served contract, checked by a tool that only knows it.

Schemathesis reads GET /openapi.json from the running system and sends what the document allows (and, in its
negative mode, what it forbids), then checks every answer: no 5xx, a status the operation documents, the
documented content type and headers (X-Correlation-Id, Location), a body that fits the documented schema.

It runs once per caller: the demo operator and a customer (ana), each with the ID token the system's own pool
issues (`LocalSystem.token`, tests/e2e/conftest.py). A customer's runs put their own `sub` in `customerId`, so
that they reach the customer's real paths rather than stopping at 403 on every order.

Budget: the Hypothesis profile's (tests/conftest.py). `make test` runs the examples and a few generated cases
per operation and caller ("ci"); `make fuzz` ("fuzz") adds Schemathesis's coverage phase (boundary values,
missing and unexpected parameters, other methods) and many more cases.
"""
import base64
import json
import os

import pytest
import schemathesis
from hypothesis import settings
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import (content_type_conformance, response_headers_conformance,
                                               response_schema_conformance, status_code_conformance)

from tests.fuzz.support import budget

pytestmark = pytest.mark.e2e

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_headers_conformance,
          response_schema_conformance]
LONG = os.environ.get("HYPOTHESIS_PROFILE") == "fuzz"
# Cases per operation and caller: a twentieth of the profile's budget (2 a caller under "ci" plus the examples;
# 100 under "fuzz", where the coverage phase adds every boundary case on top).
SHARE = 0.05


def _config() -> SchemathesisConfig:
    return SchemathesisConfig.from_dict({
        "phases": {"examples": {"enabled": True}, "fuzzing": {"enabled": True},
                   "coverage": {"enabled": LONG}, "stateful": {"enabled": False}},
        "generation": {"mode": "all"},
    })


@pytest.fixture(scope="module")
def api_schema(local_system):
    return schemathesis.openapi.from_url(f"{local_system.api}/openapi.json", config=_config())


schema = schemathesis.pytest.from_fixture("api_schema")


def claims(token: str) -> dict:
    """A JWT's payload, unverified: only to learn the caller's own `sub`."""
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def as_caller(case, sub: str) -> None:
    """A customer orders and lists for itself: its own sub where the case names a customer."""
    if isinstance(case.body, dict) and "customerId" in case.body:
        case.body["customerId"] = sub
    if case.query and "customerId" in case.query:
        case.query["customerId"] = sub


def check(case, caller: str, caller_tokens) -> None:
    token = caller_tokens(caller)
    if "customers" in claims(token).get("cognito:groups", []):
        as_caller(case, claims(token)["sub"])
    case.call_and_validate(headers={"Authorization": f"Bearer {token}"}, checks=CHECKS, timeout=30)


@schema.parametrize()
@settings(budget(SHARE))
def test_an_operator_gets_what_the_contract_says(case, caller_tokens):
    check(case, "operator", caller_tokens)


@schema.parametrize()
@settings(budget(SHARE))
def test_a_customer_gets_what_the_contract_says(case, caller_tokens):
    check(case, "ana", caller_tokens)
