"""`make deploy`: the packaged template (`make package`) deployed as one CloudFormation stack per stage.

Not `chalice deploy`: Chalice creates no queues, tables or buckets, cannot set
ReportBatchItemFailures, on-failure destinations, alarms or API keys, and its
environment comes from .chalice/config.json alone, which cannot know the
account. The template has all of that, and takes the bucket-name suffix as a
parameter, filled here from `sts get-caller-identity`: `-<account>-<region>`,
unique (S3 bucket names are global) and predictable.

1. Package the stage (infra/package.py).
2. Upload the code with `aws cloudformation package` to an artifact bucket
   `<app>-artifacts-<account>-<region>`, created (private, encrypted) if missing.
   Its name is predictable, so another account could create it first: every
   call here names the expected owner (ExpectedBucketOwner), and a bucket that
   is not this account's stops the deploy before anything is uploaded to it
   (the CLI's uploads cannot name the owner themselves).
3. `aws cloudformation deploy` the stack `<app>-<stage>` with NameSuffix and
   AlarmEmail (from the ALARM_EMAIL variable; empty: no subscription). The
   template is over the 51,200 bytes CloudFormation takes inline, so deploy
   uploads it to the artifact bucket too.

A postgres stage's stack also holds its VPC, RDS instance and RDS Proxy
(infra/product_db.py): its first deploy takes tens of minutes, and each deploy
that adds a schema step runs the migration before the functions that need it.
"""
import os
import subprocess
import sys
from pathlib import Path

import boto3
from botocore.exceptions import ClientError

from infra.stage import PROJECT_DIR, Stage


def account_id(sts_client=None) -> str:
    return (sts_client or boto3.client("sts")).get_caller_identity()["Account"]


def name_suffix(sts_client=None, region: str | None = None, account: str | None = None) -> str:
    if account and region:
        return f"-{account}-{region}"
    sts_client = sts_client or boto3.client("sts")
    return f"-{account or account_id(sts_client)}-{region or sts_client.meta.region_name}"


def stack_name(stage: Stage) -> str:
    return f"{stage.app_name}-{stage.name}"


def ensure_artifact_bucket(s3_client, name: str, region: str, owner: str | None = None) -> str:
    """The artifact bucket, created private and encrypted when missing; refused when another account owns it.

    `owner` is the deploying account (default: the caller's, from STS)."""
    expected = {"ExpectedBucketOwner": owner or account_id(boto3.client("sts", region_name=region))}
    try:
        s3_client.head_bucket(Bucket=name, **expected)
        return name
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") not in ("404", "NoSuchBucket", "NotFound"):
            raise SystemExit(f"artifact bucket {name} answered {error}: it exists but is not account "
                             f"{expected['ExpectedBucketOwner']}'s (or this identity may not read it); "
                             "nothing was uploaded") from error
    # CreateBucket takes no expected owner: a name another account holds fails with BucketAlreadyExists.
    if region == "us-east-1":
        s3_client.create_bucket(Bucket=name)
    else:
        s3_client.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": region})
    s3_client.put_public_access_block(Bucket=name, **expected, PublicAccessBlockConfiguration={
        "BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True, "RestrictPublicBuckets": True})
    s3_client.put_bucket_encryption(Bucket=name, **expected, ServerSideEncryptionConfiguration={
        "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]})
    return name


def commands(stage: Stage, sam: Path, artifact_bucket: str, suffix: str, alarm_email: str = "") -> list[list[str]]:
    aws = str(Path(sys.executable).with_name("aws"))
    packaged = sam.with_name("packaged.json")
    return [
        [aws, "cloudformation", "package", "--template-file", str(sam), "--s3-bucket", artifact_bucket,
         "--output-template-file", str(packaged), "--use-json"],
        [aws, "cloudformation", "deploy", "--template-file", str(packaged), "--stack-name", stack_name(stage),
         "--s3-bucket", artifact_bucket,  # the template is over the 51,200 bytes CloudFormation takes inline
         "--capabilities", "CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND", "--no-fail-on-empty-changeset",
         "--parameter-overrides", f"NameSuffix={suffix}", f"AlarmEmail={alarm_email}"],
    ]


def deploy(stage: Stage, app, out_dir: Path = PROJECT_DIR / "build" / "package") -> None:
    from infra.package import package
    session = boto3.session.Session()
    region = session.region_name or "us-east-1"
    account = account_id(session.client("sts", region_name=region))
    suffix = name_suffix(region=region, account=account)
    sam = package(stage, app, out_dir)
    bucket = ensure_artifact_bucket(session.client("s3", region_name=region),
                                    f"{stage.app_name}-artifacts{suffix}", region, owner=account)
    for command in commands(stage, sam, bucket, suffix, os.environ.get("ALARM_EMAIL", "")):
        subprocess.run(command, cwd=PROJECT_DIR, check=True)
    print(f"deployed stack {stack_name(stage)}; bucket names end in {suffix}")
