"""X-Ray as an opt-in stage setting (Chalice's `xray`): active tracing, API tracing and their grants, only when on.

The decision these tests hold in place: tracing is Lambda's and API Gateway's
own (no X-Ray SDK in the package: importing it and patching botocore costs
about as much as importing boto3: the figures are in chalicelib/aws.py), and
requests stay linked across SQS because botocore sends Lambda's trace id
with every call.
"""
import copy
import json
import subprocess
import sys

import boto3
import pytest
from moto import mock_aws

from infra import iam
from infra.cloudformation import functions, trace
from infra.stage import PROJECT_DIR, Stage
from tests.integration.test_packaging import packaged, variant


def with_xray(where: str | None, on: bool = True) -> Stage:
    """dev with xray set stage-wide (where=None) or for one function."""
    stage = Stage.load("dev")
    config = copy.deepcopy(stage.config)
    target = config["stages"]["dev"] if where is None else config["stages"]["dev"]["lambda_functions"][where]
    target["xray"] = on
    return Stage("dev", config)


def xray_statements(document: dict) -> list[dict]:
    return [s for s in document["Statement"] if any(a.startswith("xray:") for a in s["Action"])]


def test_the_policies_grant_tracing_exactly_to_the_functions_with_xray_on(app):
    off = iam.generate(Stage.load("dev"), app)
    assert all(xray_statements(json.loads(content)) == [] for content in off.values())
    on = iam.generate(with_xray(None), app)
    assert set(on) == set(off)
    for content in on.values():
        assert xray_statements(json.loads(content)) == [{
            "Sid": "XRayTracing", "Effect": "Allow",
            "Action": ["xray:PutTelemetryRecords", "xray:PutTraceSegments"], "Resource": ["*"]}]
    one = iam.generate(with_xray("process_orders"), app)
    traced = {name for name, content in one.items() if xray_statements(json.loads(content))}
    assert traced == {"policy-dev-process_orders.json"}
    # Off per function wins over on for the stage, as in Chalice.
    stage = with_xray(None)
    stage.config["stages"]["dev"]["lambda_functions"]["sweep_orders"]["xray"] = False
    assert xray_statements(iam.policy_document(stage, "sweep_orders", {})) == []


def test_every_stage_ships_with_xray_off():
    for name in Stage.load().config["stages"]:
        stage = Stage.load(name)
        assert stage.config["stages"][name].get("xray") is False  # written out, so it is found and turned on
        assert not any(stage.xray(f) for f in stage.config["stages"][name]["lambda_functions"])


def test_a_traced_stage_packages_active_tracing_api_tracing_and_the_grants():
    template = json.loads(packaged("traced").read_text())
    assert template["Resources"]["RestAPI"]["Properties"]["TracingEnabled"] is True
    for logical_id, function in functions(template).items():
        properties = template["Resources"][logical_id]["Properties"]
        assert properties["Tracing"] == "Active", function
        role = template["Resources"][properties["Role"]["Fn::GetAtt"][0]]["Properties"]
        assert xray_statements(role["Policies"][0]["PolicyDocument"]) != [], function
    on_disk = json.loads((variant("traced").chalice_dir / "policy-traced-api_handler.json").read_text())
    assert xray_statements(on_disk) != []


def test_an_untraced_stage_packages_none_of_it():
    for name in ("dev", "prod"):
        template = json.loads(packaged(name).read_text())
        assert "TracingEnabled" not in template["Resources"]["RestAPI"]["Properties"]
        for logical_id, function in functions(template).items():
            properties = template["Resources"][logical_id]["Properties"]
            assert properties["Tracing"] == "PassThrough", function
            assert "xray:" not in json.dumps(template["Resources"][properties["Role"]["Fn::GetAtt"][0]])


def test_packaging_refuses_a_tracing_mode_the_grants_do_not_match():
    template = json.loads(packaged("traced").read_text())
    with pytest.raises(SystemExit, match="xray setting is False"):
        trace(template, Stage.load("dev"))  # traced functions, policies of a stage without xray


def test_botocore_sends_lambdas_trace_id_so_sqs_links_the_consumers_trace(monkeypatch):
    """Without the SDK: the queue records the trace id (AWSTraceHeader), so the worker joins the same trace."""
    from chalicelib import aws
    trace_id = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "async-catalog-dev")
    monkeypatch.setenv("_X_AMZN_TRACE_ID", trace_id)
    sent = []
    with mock_aws():
        aws.reset()
        try:
            sqs = aws.client("sqs")
            url = sqs.create_queue(QueueName="traced")["QueueUrl"]
            sqs.meta.events.register("before-send.sqs.SendMessage",
                                     lambda request, **_: sent.append(request.headers.get("X-Amzn-Trace-Id")))
            sqs.send_message(QueueUrl=url, MessageBody="{}")
        finally:
            aws.reset()
    assert [header.decode() if isinstance(header, bytes) else header for header in sent] == [trace_id]


def test_the_app_does_not_import_the_xray_sdk():
    """Its import would cost every cold start about as much as boto3's (measured: see the module docstring)."""
    env = {**Stage.load("dev").environment, "PATH": "/usr/bin:/bin", "AWS_DEFAULT_REGION": "us-east-1"}
    result = subprocess.run([sys.executable, "-c", "import sys, app; print(sorted(m for m in sys.modules "
                             "if m.startswith(('aws_xray_sdk', 'wrapt'))))"],
                            cwd=PROJECT_DIR, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
