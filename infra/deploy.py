"""`make deploy`: the packaged template (`make package`) deployed as one CloudFormation stack per stage.

Not `chalice deploy`: Chalice creates no queues, tables or buckets, cannot set
ReportBatchItemFailures, on-failure destinations, alarms or API keys, and its
environment comes from .chalice/config.json alone, which cannot know the
account. The template has all of that, and takes the bucket-name suffix as a
parameter, filled here from `sts get-caller-identity`: `-<account>-<region>`,
unique (S3 bucket names are global) and predictable.

1. Package the stage (infra/cloudformation.py).
2. Upload the code with `aws cloudformation package` to an artifact bucket
   `<app>-artifacts-<account>-<region>`, created (private, encrypted) if missing.
3. `aws cloudformation deploy` the stack `<app>-<stage>` with NameSuffix and
   AlarmEmail (from the ALARM_EMAIL variable; empty: no subscription).

A postgres stage's stack also holds its VPC, RDS instance and RDS Proxy
(infra/product_db.py): its first deploy takes tens of minutes, and each deploy
that adds a schema step runs the migration before the functions that need it.
"""
import os
import subprocess
import sys
from pathlib import Path

import boto3

from infra.stage import PROJECT_DIR, Stage


def name_suffix(sts_client=None, region: str | None = None) -> str:
    sts_client = sts_client or boto3.client("sts")
    region = region or sts_client.meta.region_name
    return f"-{sts_client.get_caller_identity()['Account']}-{region}"


def stack_name(stage: Stage) -> str:
    return f"{stage.app_name}-{stage.name}"


def ensure_artifact_bucket(s3_client, name: str, region: str) -> str:
    try:
        s3_client.head_bucket(Bucket=name)
        return name
    except s3_client.exceptions.ClientError:
        pass
    if region == "us-east-1":
        s3_client.create_bucket(Bucket=name)
    else:
        s3_client.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": region})
    s3_client.put_public_access_block(Bucket=name, PublicAccessBlockConfiguration={
        "BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True, "RestrictPublicBuckets": True})
    s3_client.put_bucket_encryption(Bucket=name, ServerSideEncryptionConfiguration={
        "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]})
    return name


def commands(stage: Stage, sam: Path, artifact_bucket: str, suffix: str, alarm_email: str = "") -> list[list[str]]:
    aws = str(Path(sys.executable).with_name("aws"))
    packaged = sam.with_name("packaged.json")
    return [
        [aws, "cloudformation", "package", "--template-file", str(sam), "--s3-bucket", artifact_bucket,
         "--output-template-file", str(packaged), "--use-json"],
        [aws, "cloudformation", "deploy", "--template-file", str(packaged), "--stack-name", stack_name(stage),
         "--capabilities", "CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND", "--no-fail-on-empty-changeset",
         "--parameter-overrides", f"NameSuffix={suffix}", f"AlarmEmail={alarm_email}"],
    ]


def deploy(stage: Stage, app, out_dir: Path = PROJECT_DIR / "build" / "package") -> None:
    from infra.cloudformation import package
    session = boto3.session.Session()
    region = session.region_name or "us-east-1"
    suffix = name_suffix(session.client("sts", region_name=region), region)
    sam = package(stage, app, out_dir)
    bucket = ensure_artifact_bucket(session.client("s3", region_name=region),
                                    f"{stage.app_name}-artifacts{suffix}", region)
    for command in commands(stage, sam, bucket, suffix, os.environ.get("ALARM_EMAIL", "")):
        subprocess.run(command, cwd=PROJECT_DIR, check=True)
    print(f"deployed stack {stack_name(stage)}; bucket names end in {suffix}")
