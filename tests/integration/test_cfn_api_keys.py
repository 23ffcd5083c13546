"""Writes need an API key where the stage says so (prod), reads never do, and every AWS stage is throttled."""
import json

import pytest

from infra.stage import Stage
from tests.integration.test_packaging import packaged

WRITES = {("/products", "post"), ("/orders", "post")}


def api(stage_name: str) -> tuple[dict, dict]:
    template = json.loads(packaged(stage_name).read_text())
    return template, template["Resources"]["RestAPI"]["Properties"]


def operations(definition: dict):
    for path, methods in definition["paths"].items():
        for method, operation in methods.items():
            if method != "options":  # CORS preflight, when there is one, never carries a key
                yield path, method, operation


@pytest.mark.parametrize("stage_name", ["dev", "prod"])
def test_write_routes_need_a_key_exactly_when_the_stage_setting_is_on(stage_name):
    template, properties = api(stage_name)
    required = Stage.load(stage_name).settings.api_key_required_for_writes
    definition = properties["DefinitionBody"]
    seen = set()
    for path, method, operation in operations(definition):
        needs_key = {"api_key": []} in operation.get("security", [])
        assert needs_key == (required and (path, method) in WRITES), (path, method)
        seen.add((path, method))
    assert WRITES <= seen  # the routes are still there under these paths and methods
    if required:
        assert definition["securityDefinitions"]["api_key"] == {"type": "apiKey", "name": "x-api-key",
                                                                "in": "header"}
        resources = template["Resources"]
        plan = resources["WriteUsagePlan"]["Properties"]
        assert plan["ApiStages"] == [{"ApiId": {"Ref": "RestAPI"}, "Stage": {"Ref": "RestAPI.Stage"}}]
        assert resources["WriteUsagePlanKey"]["Properties"] == {
            "KeyId": {"Ref": "WriteApiKey"}, "KeyType": "API_KEY", "UsagePlanId": {"Ref": "WriteUsagePlan"}}
        assert resources["WriteApiKey"]["Properties"]["Enabled"] is True
        assert template["Outputs"]["WriteApiKeyId"]["Value"] == {"Ref": "WriteApiKey"}
    else:
        assert "WriteApiKey" not in template["Resources"] and "securityDefinitions" not in definition


def test_prod_requires_keys_for_writes_and_dev_stays_open():
    assert Stage.load("prod").settings.api_key_required_for_writes is True
    assert Stage.load("dev").settings.api_key_required_for_writes is False


@pytest.mark.parametrize("stage_name", ["dev", "prod"])
def test_the_api_stage_is_throttled_by_the_stage_settings(stage_name):
    _, properties = api(stage_name)
    settings = Stage.load(stage_name).settings
    assert properties["MethodSettings"] == [{
        "ResourcePath": "/*", "HttpMethod": "*", "ThrottlingRateLimit": settings.api_throttle_rate_limit,
        "ThrottlingBurstLimit": settings.api_throttle_burst_limit}]


def test_unknown_stage_settings_are_refused(tmp_path):
    stage = Stage.load("dev")
    broken = Stage("dev", {**stage.config, "stages": {"dev": {**stage.config["stages"]["dev"],
                                                              "infra": {"api_key_requried_for_writes": True}}}})
    with pytest.raises(SystemExit, match="api_key_requried_for_writes"):
        broken.settings
