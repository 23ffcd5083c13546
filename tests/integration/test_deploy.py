"""`make deploy` deploys the packaged template with bucket names suffixed by the caller's account and region."""
import json
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from infra import deploy


@mock_aws
def test_the_suffix_is_the_callers_account_and_region():
    sts = boto3.client("sts", region_name="eu-west-1")
    assert deploy.name_suffix(sts) == "-123456789012-eu-west-1"


def test_the_stack_gets_the_suffix_and_the_alarm_email_as_parameters(stage, tmp_path):
    package, deploy_command = deploy.commands(stage, tmp_path / "sam.json", "artifacts-x", "-123456789012-us-east-1",
                                              "ops@example.com")
    assert package[1:3] == ["cloudformation", "package"] and package[package.index("--s3-bucket") + 1] == "artifacts-x"
    assert Path(deploy_command[deploy_command.index("--template-file") + 1]) == tmp_path / "packaged.json"
    assert deploy_command[deploy_command.index("--stack-name") + 1] == "async-catalog-dev"
    overrides = deploy_command[deploy_command.index("--parameter-overrides") + 1:]
    assert overrides == ["NameSuffix=-123456789012-us-east-1", "AlarmEmail=ops@example.com"]
    # SAM's transform needs CAPABILITY_AUTO_EXPAND, the per-function roles CAPABILITY_IAM.
    assert {"CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"} <= set(deploy_command)


@mock_aws
def test_the_artifact_bucket_is_created_once_private_and_encrypted():
    s3 = boto3.client("s3", region_name="eu-west-1")
    for _ in range(2):  # the second deploy finds it
        assert deploy.ensure_artifact_bucket(s3, "async-catalog-artifacts-1-eu-west-1", "eu-west-1")
    block = s3.get_public_access_block(Bucket="async-catalog-artifacts-1-eu-west-1")["PublicAccessBlockConfiguration"]
    assert all(block.values())
    rules = s3.get_bucket_encryption(Bucket="async-catalog-artifacts-1-eu-west-1")["ServerSideEncryptionConfiguration"]
    assert rules["Rules"][0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == ["async-catalog-artifacts-1-eu-west-1"]


@mock_aws
def test_every_artifact_bucket_call_names_the_deploying_account_as_its_owner():
    s3 = boto3.client("s3", region_name="eu-west-1")
    calls = []
    s3.meta.events.register("provide-client-params.s3.*",
                            lambda params, model, **_: calls.append((model.name, params.get("ExpectedBucketOwner"))))
    for _ in range(2):  # created, then found
        deploy.ensure_artifact_bucket(s3, "async-catalog-artifacts-1-eu-west-1", "eu-west-1", owner="123456789012")
    # CreateBucket alone takes no owner: a name another account holds fails it (BucketAlreadyExists).
    assert calls == [("HeadBucket", "123456789012"), ("CreateBucket", None),
                     ("PutPublicAccessBlock", "123456789012"), ("PutBucketEncryption", "123456789012"),
                     ("HeadBucket", "123456789012")]


def test_an_artifact_bucket_another_account_owns_stops_the_deploy_before_any_upload():
    from botocore.stub import Stubber
    s3 = boto3.client("s3", region_name="eu-west-1")
    with Stubber(s3) as stubbed:  # S3 answers 403 when the expected owner is not the bucket's
        stubbed.add_client_error("head_bucket", service_error_code="403", http_status_code=403,
                                 expected_params={"Bucket": "async-catalog-artifacts-1-eu-west-1",
                                                  "ExpectedBucketOwner": "123456789012"})
        with pytest.raises(SystemExit, match="not account 123456789012's"):
            deploy.ensure_artifact_bucket(s3, "async-catalog-artifacts-1-eu-west-1", "eu-west-1", owner="123456789012")
        stubbed.assert_no_pending_responses()  # and no other call: the Stubber refuses any it was not given


def test_the_template_is_deployed_through_the_artifact_bucket_being_over_the_inline_limit(stage, tmp_path):
    from tests.integration.test_packaging import packaged
    _, deploy_command = deploy.commands(stage, tmp_path / "sam.json", "artifacts-x", "-1-us-east-1")
    assert deploy_command[deploy_command.index("--s3-bucket") + 1] == "artifacts-x"
    compact = json.dumps(json.loads(packaged("prod").read_text()), separators=(",", ":"))
    assert len(compact.encode()) > 51_200  # CloudFormation's TemplateBody limit
