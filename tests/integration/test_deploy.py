"""`make deploy` deploys the packaged template with bucket names suffixed by the caller's account and region."""
from pathlib import Path

import boto3
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
