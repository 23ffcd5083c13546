"""CloudFormation for `chalice package`: the resources Chalice does not create, and the SQS settings it cannot set.

Chalice creates no queues, tables, buckets or topics, and (1.34) cannot turn on
ReportBatchItemFailures. `package` runs `chalice package --merge-template` with
the resources from infra/resources.py, then edits the SQS event sources of the
generated SAM template: ReportBatchItemFailures on, and the queue referenced by
GetAtt so CloudFormation creates it before the event source mapping.
"""
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from infra.resources import RESOURCES, Bucket, Queue, Table, Topic
from infra.stage import PROJECT_DIR, Stage, dlq_name
from infra.chalice_package import METADATA_KEY
from infra.provision import table_params


def resource_template(stage: Stage, app) -> dict:
    resources: dict = {}
    outputs: dict = {}
    for logical_id, resource in RESOURCES.items():
        name = stage.resource_name(logical_id)
        if isinstance(resource, Queue):
            resources[f"{logical_id}Dlq"] = {
                "Type": "AWS::SQS::Queue",
                "Properties": {"QueueName": dlq_name(name),
                               "MessageRetentionPeriod": resource.dlq_retention_seconds},
            }
            resources[logical_id] = {
                "Type": "AWS::SQS::Queue",
                "Properties": {
                    "QueueName": name,
                    "VisibilityTimeout": stage.visibility_timeout(app, logical_id),
                    "RedrivePolicy": {"deadLetterTargetArn": {"Fn::GetAtt": [f"{logical_id}Dlq", "Arn"]},
                                      "maxReceiveCount": resource.max_receive_count},
                },
            }
            outputs[f"{logical_id}Url"] = {"Value": {"Ref": logical_id}}
            outputs[f"{logical_id}DlqUrl"] = {"Value": {"Ref": f"{logical_id}Dlq"}}
        elif isinstance(resource, Table):
            params = table_params(name, resource)
            if resource.ttl_attribute:
                params["TimeToLiveSpecification"] = {"Enabled": True, "AttributeName": resource.ttl_attribute}
            resources[logical_id] = {"Type": "AWS::DynamoDB::Table", "Properties": params}
            outputs[f"{logical_id}Name"] = {"Value": {"Ref": logical_id}}
        elif isinstance(resource, Bucket):
            resources[logical_id] = {
                "Type": "AWS::S3::Bucket",
                "Properties": {
                    "BucketName": name,
                    "PublicAccessBlockConfiguration": {
                        "BlockPublicAcls": True, "BlockPublicPolicy": True,
                        "IgnorePublicAcls": True, "RestrictPublicBuckets": True,
                    },
                },
            }
            outputs[f"{logical_id}Name"] = {"Value": {"Ref": logical_id}}
        elif isinstance(resource, Topic):
            resources[logical_id] = {"Type": "AWS::SNS::Topic", "Properties": {"TopicName": name}}
            outputs[f"{logical_id}Arn"] = {"Value": {"Ref": logical_id}}
    return {"Resources": resources, "Outputs": outputs}


def enable_batch_item_failures(template: dict, stage: Stage, app) -> int:
    """Turn on ReportBatchItemFailures for every SQS event source; return how many were changed."""
    queue_ids = {stage.resource_name(lid): lid for lid, r in RESOURCES.items() if isinstance(r, Queue)}
    changed = 0
    for resource in template["Resources"].values():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        for event in resource.get("Properties", {}).get("Events", {}).values():
            if event.get("Type") != "SQS":
                continue
            properties = event["Properties"]
            properties["FunctionResponseTypes"] = ["ReportBatchItemFailures"]
            queue_name = json.dumps(properties["Queue"]).rsplit(":", 1)[-1].strip('"}')
            if queue_name in queue_ids:
                properties["Queue"] = {"Fn::GetAtt": [queue_ids[queue_name], "Arn"]}
            changed += 1
    return changed


def attach_s3_notifications(template: dict, stage: Stage) -> int:
    """Put each recorded S3 subscription on its bucket resource, with the permission S3 needs to invoke."""
    subscriptions = template.get("Metadata", {}).pop(METADATA_KEY, [])
    if not template.get("Metadata"):
        template.pop("Metadata", None)
    bucket_ids = {stage.resource_name(lid): lid for lid, r in RESOURCES.items() if isinstance(r, Bucket)}
    for subscription in subscriptions:
        name, function = subscription["Bucket"], subscription["Function"]
        if name not in bucket_ids:
            raise SystemExit(f"{function} listens to bucket {name!r}, which infra/resources.py does not define")
        bucket = template["Resources"][bucket_ids[name]]
        permission = f"{function}S3InvokePermission"
        template["Resources"][permission] = {
            "Type": "AWS::Lambda::Permission",
            "Properties": {
                "Action": "lambda:InvokeFunction", "Principal": "s3.amazonaws.com",
                "FunctionName": {"Fn::GetAtt": [function, "Arn"]},
                "SourceAccount": {"Ref": "AWS::AccountId"},
                # A name, not a Ref: the bucket depends on this permission, not the other way round.
                "SourceArn": {"Fn::Sub": f"arn:${{AWS::Partition}}:s3:::{name}"},
            },
        }
        bucket.setdefault("DependsOn", []).append(permission)
        rules = [{"Name": n, "Value": subscription[k]} for n, k in (("prefix", "Prefix"), ("suffix", "Suffix"))
                 if subscription[k]]
        for event in subscription["Events"]:
            configuration = {"Event": event, "Function": {"Fn::GetAtt": [function, "Arn"]}}
            if rules:
                configuration["Filter"] = {"S3Key": {"Rules": rules}}
            bucket["Properties"].setdefault("NotificationConfiguration", {}).setdefault(
                "LambdaConfigurations", []).append(configuration)
    return len(subscriptions)


def package(stage: Stage, app, out_dir: Path) -> Path:
    out_dir = Path(out_dir).resolve()
    with tempfile.TemporaryDirectory() as tmp:
        merge = Path(tmp) / "resources.json"
        merge.write_text(json.dumps(resource_template(stage, app), indent=2))
        env = {**os.environ, "AWS_DEFAULT_REGION": os.environ.get("AWS_DEFAULT_REGION", "us-east-1")}
        subprocess.run([sys.executable, "-m", "infra.chalice_package", "package", "--stage", stage.name,
                        "--merge-template", str(merge), str(out_dir)], cwd=PROJECT_DIR, env=env, check=True)
    sam = out_dir / "sam.json"
    template = json.loads(sam.read_text())
    enable_batch_item_failures(template, stage, app)
    attach_s3_notifications(template, stage)
    sam.write_text(json.dumps(template, indent=2))
    return sam
