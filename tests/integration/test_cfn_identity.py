"""Every route but the catalog's reads is guarded by the token authorizer on AWS; the pool is in the template."""
import json

import pytest

from infra.identity import AUTHORIZER, GATEWAY_RESPONSES, protected_operations
from infra.resources import USER_POOL
from infra.stage import Stage
from tests.integration.test_packaging import packaged

PUBLIC = {"GET /products", "GET /products/{product_id}", "GET /openapi.json"}


def template_of(stage_name: str) -> dict:
    return json.loads(packaged(stage_name).read_text())


@pytest.mark.parametrize("stage_name", ["dev", "prod"])
def test_every_non_public_route_needs_the_authorizer_and_no_api_key(stage_name):
    template = template_of(stage_name)
    guarded = protected_operations(template)
    assert {"POST /products", "POST /orders", "GET /invoices", "GET /log-batches/lines"} <= set(guarded)
    assert {op for op, is_guarded in guarded.items() if not is_guarded} <= PUBLIC
    assert all(is_guarded for op, is_guarded in guarded.items() if op not in PUBLIC)
    definition = template["Resources"]["RestAPI"]["Properties"]["DefinitionBody"]
    assert set(definition["securityDefinitions"]) == {AUTHORIZER}
    authorizer = definition["securityDefinitions"][AUTHORIZER]
    assert (authorizer["name"], authorizer["x-amazon-apigateway-authorizer"]["type"]) == ("Authorization", "token")
    assert not any(r["Type"].startswith("AWS::ApiGateway::ApiKey") or r["Type"] == "AWS::ApiGateway::UsagePlan"
                   for r in template["Resources"].values())


@pytest.mark.parametrize("stage_name", ["dev", "prod"])
def test_the_template_has_the_pool_its_client_groups_and_gives_them_to_the_authorizer(stage_name):
    resources = template_of(stage_name)["Resources"]
    pool = resources["UserPool"]
    assert pool["Properties"]["UserPoolName"] == Stage.load(stage_name).environment[USER_POOL.env]
    assert pool["DeletionPolicy"] == "Retain"
    client = resources["UserPoolClient"]["Properties"]
    assert client["GenerateSecret"] is False and "ALLOW_USER_PASSWORD_AUTH" in client["ExplicitAuthFlows"]
    groups = {r["Properties"]["GroupName"] for r in resources.values() if r["Type"] == "AWS::Cognito::UserPoolGroup"}
    assert groups == {"operators", "customers"}
    verify = next(r for r in resources.values() if r.get("Properties", {}).get("Handler") == f"app.{AUTHORIZER}")
    assert verify["Properties"]["Environment"]["Variables"][USER_POOL.id_env] == {"Ref": "UserPool"}
    assert verify["Properties"]["Environment"]["Variables"][USER_POOL.client_env] == {"Ref": "UserPoolClient"}
    assert "VpcConfig" not in verify["Properties"]  # it must reach the pool's public keys


@pytest.mark.parametrize("stage_name", ["dev", "prod"])
def test_the_gateways_own_refusals_have_the_projects_error_shape(stage_name):
    resources = template_of(stage_name)["Resources"]
    answers = {r["Properties"]["ResponseType"]: r["Properties"] for r in resources.values()
               if r["Type"] == "AWS::ApiGateway::GatewayResponse"}
    assert set(answers) == set(GATEWAY_RESPONSES)
    unauthorized = answers["UNAUTHORIZED"]
    assert unauthorized["StatusCode"] == "401"
    assert json.loads(unauthorized["ResponseTemplates"]["application/json"])["Code"] == "Unauthorized"


@pytest.mark.parametrize("stage_name", ["dev", "prod"])
def test_the_api_stage_is_throttled_by_the_stage_settings(stage_name):
    properties = template_of(stage_name)["Resources"]["RestAPI"]["Properties"]
    settings = Stage.load(stage_name).settings
    assert properties["MethodSettings"] == [{
        "ResourcePath": "/*", "HttpMethod": "*", "ThrottlingRateLimit": settings.api_throttle_rate_limit,
        "ThrottlingBurstLimit": settings.api_throttle_burst_limit}]


def test_unknown_stage_settings_are_refused(tmp_path):
    stage = Stage.load("dev")
    broken = Stage("dev", {**stage.config, "stages": {"dev": {**stage.config["stages"]["dev"],
                                                              "infra": {"api_throttle_rate_limt": 5}}}})
    with pytest.raises(SystemExit, match="api_throttle_rate_limt"):
        broken.settings
