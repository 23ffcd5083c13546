"""The packaged templates as CloudFormation expands them: the SAM transform (aws-sam-translator, the library
CloudFormation's AWS::Serverless-2016-10-31 transform runs) over every stage's template, and what the
expansion must keep: log groups before functions, partial batch responses and concurrency caps on the event
source mappings, access logs and throttling on the API stage."""
import functools
import json

import pytest
from samtranslator.translator.transform import transform

from infra.cloudformation import functions
from infra.stage import Stage
from tests.integration.test_packaging import VARIANTS, packaged, variant

STAGES = ("dev", "prod", *VARIANTS)
# What `aws cloudformation package` (make deploy) puts in CodeUri before CloudFormation sees the template.
CODE = "s3://async-catalog-artifacts-123456789012-us-east-1/deployment.zip"


class NoManagedPolicies:
    """SAM's loader of AWS managed policies by name: Chalice gives every function a role of its own instead."""

    def load(self):
        raise AssertionError("the template names a managed policy for SAM to look up")


@functools.lru_cache(maxsize=None)
def expanded(stage_name: str) -> tuple[dict, dict]:
    """(packaged template, its SAM expansion)."""
    template = json.loads(packaged(stage_name).read_text())
    uploaded = json.loads(json.dumps(template))
    for resource in uploaded["Resources"].values():
        if resource["Type"] == "AWS::Serverless::Function":
            resource["Properties"]["CodeUri"] = CODE
    return template, transform(uploaded, {"NameSuffix": "-123456789012-us-east-1", "AlarmEmail": ""},
                               NoManagedPolicies())


def stage_of(name: str) -> Stage:
    return variant(name) if name in VARIANTS else Stage.load(name)


def of_type(template, kind):
    return {lid: r for lid, r in template["Resources"].items() if r["Type"] == kind}


@pytest.mark.parametrize("name", STAGES)
def test_the_sam_transform_expands_every_stages_template(name):
    packaged_template, cfn = expanded(name)
    assert "Transform" not in cfn
    assert not [r["Type"] for r in cfn["Resources"].values() if r["Type"].startswith("AWS::Serverless::")]
    assert set(of_type(cfn, "AWS::Lambda::Function")) == set(functions(packaged_template))


@pytest.mark.parametrize("name", STAGES)
def test_each_expanded_function_waits_for_its_log_group_and_keeps_its_name_and_role(name):
    packaged_template, cfn = expanded(name)
    for logical_id, function in of_type(cfn, "AWS::Lambda::Function").items():
        properties = function["Properties"]
        group = cfn["Resources"][f"{logical_id}LogGroup"]["Properties"]
        assert group["LogGroupName"] == f"/aws/lambda/{properties['FunctionName']}"
        assert f"{logical_id}LogGroup" in function["DependsOn"]
        assert group["RetentionInDays"] == stage_of(name).settings.log_retention_days
        assert properties["Role"] == packaged_template["Resources"][logical_id]["Properties"]["Role"]


@pytest.mark.parametrize("name", STAGES)
def test_the_expanded_sqs_mappings_keep_partial_batch_responses_and_the_stages_caps(name):
    packaged_template, cfn = expanded(name)
    settings = stage_of(name).settings
    names = functions(packaged_template)
    mappings = [m["Properties"] for m in of_type(cfn, "AWS::Lambda::EventSourceMapping").values()]
    assert mappings
    for mapping in mappings:
        function = names[mapping["FunctionName"]["Ref"]]
        assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
        assert mapping["ScalingConfig"] == {"MaximumConcurrency": settings.sqs_concurrency(function)}
        assert mapping["EventSourceArn"]["Fn::GetAtt"][1] == "Arn"


@pytest.mark.parametrize("name", STAGES)
def test_the_expanded_api_stage_writes_access_logs_and_is_throttled(name):
    packaged_template, cfn = expanded(name)
    [api_stage] = of_type(cfn, "AWS::ApiGateway::Stage").values()
    properties = api_stage["Properties"]
    assert properties["StageName"] == "api"
    assert properties["AccessLogSetting"] == packaged_template["Resources"]["RestAPI"]["Properties"]["AccessLogSetting"]
    assert properties["MethodSettings"][0]["ThrottlingRateLimit"] == stage_of(name).settings.api_throttle_rate_limit
    # The stage is created after the API, which waits for the account's CloudWatch role.
    assert "ApiGatewayAccount" in cfn["Resources"]["RestAPI"]["DependsOn"]
