"""Packaging's first step: the template built from infra/resources.py, and Chalice's functions joined to it.

Chalice creates no queues, tables, buckets or topics, and (1.34) cannot turn on
ReportBatchItemFailures or on-failure destinations. `resource_template` is
everything infra/resources.py defines: the queues, tables, buckets and topics
with the alarms that watch them (infra/alarms.py), the topics' key and the
access logs (infra/hardening.py), the user pool (infra/identity.py) and, on a
postgres stage, the database and its network (infra/product_db.py). It also
deploys as a stack of its own, which is how tests prove it on moto, whose
CloudFormation has no SAM transform. `chalice package --merge-template` merges
it into Chalice's template (infra/package.py), and `join_functions` then edits
Chalice's functions and API where they meet the resources: SQS event sources
(ReportBatchItemFailures, queues by GetAtt), S3 notifications, function names
and environments, on-failure destinations, the API's throttle, and X-Ray on
the API when the stage traces (Chalice's `xray` sets the functions' tracing
itself, not the API's). The steps after it (grants, network, alarms,
protections) are listed in infra/package.py.

Bucket names are global, so in the template they end in the `NameSuffix`
parameter (`make deploy` passes `-<account>-<region>`). Functions see them
through the same environment variables, as `Fn::Sub` of the stage's name and
the suffix; not `Ref` of the bucket, which would close a cycle (the bucket
depends on the Lambda permission its notification needs, which depends on
the function). Chalice's `--merge-template` deep-merges dictionaries, so it
could override Environment too, but only per function logical id, which are
Chalice's to choose; editing after packaging reads them from the template.
"""
import json

from infra import alarms, hardening, identity, product_db
from infra.alarms import ALARM_TOPIC
from infra.chalice_package import METADATA_KEY
from infra.provision import table_params
from infra.resources import RESOURCES, Bucket, Queue, Table, Topic
from infra.stage import Stage, dlq_name

RETAIN = {"DeletionPolicy": "Retain", "UpdateReplacePolicy": "Retain"}
# Lambda's asynchronous invocation of the S3-triggered readers: bounded, then the on-failure destination.
UPLOAD_RETRY_ATTEMPTS = 2
UPLOAD_EVENT_MAX_AGE_SECONDS = 3600
UPLOAD_FAILURE_DESTINATION = "UploadFailuresQueue"


def template_name(stage: Stage, logical_id: str):
    """The resource's name as the template has it: buckets end in the NameSuffix parameter."""
    name = stage.resource_name(logical_id)
    return {"Fn::Sub": f"{name}${{NameSuffix}}"} if isinstance(RESOURCES[logical_id], Bucket) else name


def parameters() -> dict:
    return {
        "NameSuffix": {
            "Type": "String", "Default": "", "MaxLength": 29, "AllowedPattern": "^(-[a-z0-9]+)*$",
            "Description": "Ends every bucket name, which S3 makes global: `make deploy` passes -<account>-<region>",
        },
        "AlarmEmail": {
            "Type": "String", "Default": "",
            "Description": "Subscribed to the alarm topic when not empty (confirm the e-mail AWS sends)",
        },
    }


def resource_template(stage: Stage, app) -> dict:
    """Everything infra/resources.py defines, with its alarms: valid as a stack on its own."""
    settings = stage.settings
    resources: dict = {}
    outputs: dict = {}
    for logical_id, resource in RESOURCES.items():
        if not stage.uses(logical_id):
            continue
        name = template_name(stage, logical_id)
        if isinstance(resource, Queue):
            queue_properties = {"SqsManagedSseEnabled": True, "MaximumMessageSize": resource.max_message_bytes}
            # Retained like tables and buckets: deleting or replacing the stack never drops waiting messages.
            resources[f"{logical_id}Dlq"] = {
                "Type": "AWS::SQS::Queue", **RETAIN,
                "Properties": {"QueueName": dlq_name(name), **queue_properties,
                               "MessageRetentionPeriod": resource.dlq_retention_seconds},
            }
            resources[logical_id] = {
                "Type": "AWS::SQS::Queue", **RETAIN,
                "Properties": {
                    "QueueName": name, **queue_properties,
                    "MessageRetentionPeriod": resource.retention_seconds,
                    "VisibilityTimeout": stage.visibility_timeout(app, logical_id),
                    "RedrivePolicy": {"deadLetterTargetArn": {"Fn::GetAtt": [f"{logical_id}Dlq", "Arn"]},
                                      "maxReceiveCount": resource.max_receive_count},
                },
            }
            resources.update(alarms.queue_alarms(stage, logical_id, resource))
            outputs[f"{logical_id}Url"] = {"Value": {"Ref": logical_id}}
            outputs[f"{logical_id}DlqUrl"] = {"Value": {"Ref": f"{logical_id}Dlq"}}
        elif isinstance(resource, Table):
            params = table_params(name, resource)
            if resource.ttl_attribute:
                params["TimeToLiveSpecification"] = {"Enabled": True, "AttributeName": resource.ttl_attribute}
            params["PointInTimeRecoverySpecification"] = {"PointInTimeRecoveryEnabled": True}
            params["SSESpecification"] = {"SSEEnabled": True}
            # What the table serves from its first second (the stage's `warm_throughput`), where set.
            if settings.table_warm_throughput(logical_id):
                params["WarmThroughput"] = settings.table_warm_throughput(logical_id)
            resources[logical_id] = {"Type": "AWS::DynamoDB::Table", **RETAIN, "Properties": params}
            outputs[f"{logical_id}Name"] = {"Value": {"Ref": logical_id}}
        elif isinstance(resource, Bucket):
            properties = bucket_properties(name, resource, settings)
            hardening.log_bucket_access(properties, stage, logical_id)
            resources[logical_id] = {"Type": "AWS::S3::Bucket", **RETAIN, "Properties": properties}
            resources[f"{logical_id}Policy"] = {"Type": "AWS::S3::BucketPolicy", "Properties": {
                "Bucket": {"Ref": logical_id},
                "PolicyDocument": {"Version": "2012-10-17", "Statement": [{
                    "Sid": "DenyWithoutTls", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
                    "Resource": [{"Fn::GetAtt": [logical_id, "Arn"]},
                                 {"Fn::Sub": f"${{{logical_id}.Arn}}/*"}],
                    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                }]},
            }}
            outputs[f"{logical_id}Name"] = {"Value": {"Ref": logical_id}}
        elif isinstance(resource, Topic):
            resources[logical_id] = {"Type": "AWS::SNS::Topic",
                                     "Properties": hardening.encrypt_topic({"TopicName": name}, resource)}
            outputs[f"{logical_id}Arn"] = {"Value": {"Ref": logical_id}}
    # Encrypted with the topics' key, whose policy lets CloudWatch publish to this topic alone.
    resources[ALARM_TOPIC] = {"Type": "AWS::SNS::Topic", "Properties": hardening.encrypt_topic(
        {"TopicName": hardening.alarm_topic_name(stage)})}
    resources.update(hardening.topics_key(stage))
    resources.update(hardening.access_logs(stage))  # the upload buckets' S3 access logs, where the stage keeps them
    resources[f"{ALARM_TOPIC}Email"] = {"Type": "AWS::SNS::Subscription", "Condition": "HasAlarmEmail",
                                        "Properties": {"TopicArn": {"Ref": ALARM_TOPIC}, "Protocol": "email",
                                                       "Endpoint": {"Ref": "AlarmEmail"}}}
    resources.update(alarms.api_errors_alarm(stage))
    outputs["AlarmTopicArn"] = {"Value": {"Ref": ALARM_TOPIC}}
    pool, pool_outputs = identity.pool_resources(stage)  # the user pool (infra/identity.py)
    resources.update(pool)
    outputs.update(pool_outputs)
    database, database_outputs = product_db.resources(stage, app)
    resources.update(database)
    outputs.update(database_outputs)
    return {"Parameters": parameters(),
            "Conditions": {"HasAlarmEmail": {"Fn::Not": [{"Fn::Equals": [{"Ref": "AlarmEmail"}, ""]}]}},
            "Resources": resources, "Outputs": outputs}


def bucket_properties(name, bucket: Bucket, settings) -> dict:
    properties: dict = {
        "BucketName": name,
        "BucketEncryption": {"ServerSideEncryptionConfiguration": [
            {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]},
        "PublicAccessBlockConfiguration": {
            "BlockPublicAcls": True, "BlockPublicPolicy": True,
            "IgnorePublicAcls": True, "RestrictPublicBuckets": True,
        },
    }
    if bucket.versioned:
        properties["VersioningConfiguration"] = {"Status": "Enabled"}
    days = {"reports": settings.reports_expire_after_days, "inputs": settings.inputs_expire_after_days}.get(
        bucket.expires or "", 0)
    rules = [{"Id": "AbortIncompleteUploads", "Status": "Enabled",
              "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 7}}]
    if days and bucket.expires:  # days come only with an expiry setting
        rule = {"Id": f"Expire{bucket.expires.title()}", "Status": "Enabled", "ExpirationInDays": days}
        if bucket.versioned:  # an overwritten upload is kept as long as a current one, then goes too
            rule["NoncurrentVersionExpiration"] = {"NoncurrentDays": days}
        rules.append(rule)
    properties["LifecycleConfiguration"] = {"Rules": rules}
    return properties


def join_functions(template: dict, stage: Stage, app) -> dict[str, str]:
    """Packaging's first step on Chalice's template: its functions and API joined to the resources' template.

    Returns the template's functions (logical id -> Chalice's name), which the steps after it work on."""
    found = functions(template)
    enable_batch_item_failures(template, stage, app)
    s3_functions = attach_s3_notifications(template, stage)
    name_functions(template, stage, found)
    add_upload_failure_destinations(template, s3_functions)
    throttle_api(template, stage)
    trace(template, stage)
    return found


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


def attach_s3_notifications(template: dict, stage: Stage) -> list[str]:
    """Put each recorded S3 subscription on its bucket resource, with the permission S3 needs to invoke.

    Returns the logical ids of the functions S3 invokes."""
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
                "SourceArn": {"Fn::Sub": f"arn:${{AWS::Partition}}:s3:::{name}${{NameSuffix}}"},
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
    return [subscription["Function"] for subscription in subscriptions]


def functions(template: dict) -> dict[str, str]:
    """Logical id -> Chalice function name, for every function of the template."""
    found = {}
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] == "AWS::Serverless::Function":
            handler = resource["Properties"]["Handler"].split(".", 1)[1]
            found[logical_id] = "api_handler" if handler == "app" else handler
    return found


def name_functions(template: dict, stage: Stage, found: dict[str, str]) -> None:
    """Stage names for functions, and the stack's names in their environment: suffixed buckets, topics' ARNs."""
    bucket_envs = {RESOURCES[lid].env: template_name(stage, lid) for lid, r in RESOURCES.items()
                   if isinstance(r, Bucket)}
    # A topic's ARN from its Ref: the function then never asks STS who it is (a VPC has no route to STS).
    topic_arns = {r.env: (r.env.removesuffix("_NAME") + "_ARN", lid) for lid, r in RESOURCES.items()
                  if isinstance(r, Topic)}
    for logical_id, function in found.items():
        properties = template["Resources"][logical_id]["Properties"]
        # The name the generated policies' log group and the alarms expect, rather than a generated one.
        properties["FunctionName"] = stage.lambda_function_name(function)
        variables = properties.setdefault("Environment", {}).setdefault("Variables", {})
        for env, name in bucket_envs.items():
            if env in variables:
                variables[env] = name
        for env, (arn_env, topic) in topic_arns.items():
            if env in variables:
                variables[arn_env] = {"Ref": topic}


def add_upload_failure_destinations(template: dict, s3_functions: list[str]) -> None:
    """Bounded retries for the S3-invoked readers, then the event goes to the upload-failures queue."""
    for function in sorted(set(s3_functions)):
        template["Resources"][f"{function}EventInvokeConfig"] = {
            "Type": "AWS::Lambda::EventInvokeConfig",
            "Properties": {
                "FunctionName": {"Ref": function}, "Qualifier": "$LATEST",
                "MaximumRetryAttempts": UPLOAD_RETRY_ATTEMPTS,
                "MaximumEventAgeInSeconds": UPLOAD_EVENT_MAX_AGE_SECONDS,
                "DestinationConfig": {"OnFailure": {
                    "Destination": {"Fn::GetAtt": [UPLOAD_FAILURE_DESTINATION, "Arn"]}}},
            },
        }



def throttle_api(template: dict, stage: Stage) -> None:
    """Throttle the API stage as a whole (the stage's rate and burst).

    Callers are known by their ID tokens (infra/identity.py), not by API keys: the static write key is gone,
    and so are usage plans, which throttle per key and would throttle nobody in particular here."""
    settings = stage.settings
    api = template["Resources"]["RestAPI"]["Properties"]
    api["MethodSettings"] = [{"ResourcePath": "/*", "HttpMethod": "*",
                              "ThrottlingRateLimit": settings.api_throttle_rate_limit,
                              "ThrottlingBurstLimit": settings.api_throttle_burst_limit}]


def trace(template: dict, stage: Stage) -> bool:
    """X-Ray on the API stage when the stage traces; returns whether it does.

    Chalice's `xray` makes its functions' `Tracing: Active` itself, but in a SAM template not the API's
    (only `chalice deploy` turns that on). The generated policies grant the tracing actions to exactly the
    functions with `xray` on: a function traced without them would fail to send its segments."""
    for logical_id, function in functions(template).items():
        tracing = template["Resources"][logical_id]["Properties"].get("Tracing")
        if (tracing == "Active") != stage.xray(function):
            raise SystemExit(f"{function}: Chalice packaged Tracing {tracing!r}, but its xray setting is "
                             f"{stage.xray(function)}: infra/stage.py reads the setting differently")
    traced = stage.xray("api_handler")  # Chalice's RestAPI takes the xray of the API's function
    if traced:
        template["Resources"]["RestAPI"]["Properties"]["TracingEnabled"] = True
    return traced
