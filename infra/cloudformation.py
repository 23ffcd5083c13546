"""CloudFormation for `chalice package`: the resources Chalice does not create, and what it cannot set.

Chalice creates no queues, tables, buckets or topics, and (1.34) cannot turn on
ReportBatchItemFailures, on-failure destinations or alarms. `package`
runs `chalice package --merge-template` with `resource_template` (everything
built from infra/resources.py alone: it also deploys as a stack of its own,
which is how tests prove it on moto, whose CloudFormation has no SAM
transform), then edits the generated SAM template where the functions and the
API are needed: SQS event sources (ReportBatchItemFailures, queues by GetAtt),
S3 notifications, function names, suffixed bucket names and policies,
on-failure destinations, worker alarms, the dashboard, the user pool and
the gateway's refusals (infra/identity.py), X-Ray on the API when the stage traces (Chalice's `xray` sets the
functions' tracing itself, not the API's), and on a postgres stage the
database, its network and the functions placed in it (infra/product_db.py).

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
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from infra import identity, product_db
from infra.resources import RESOURCES, Bucket, Queue, Table, Topic
from infra.stage import PROJECT_DIR, Stage, dlq_name
from infra.chalice_package import METADATA_KEY
from infra.provision import table_params
from infra import hardening


RETAIN = {"DeletionPolicy": "Retain", "UpdateReplacePolicy": "Retain"}
ALARM_TOPIC = "AlarmTopic"
ALARM_PERIOD = 300
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


def alarm(name: str, description: str, namespace: str, metric: str, dimensions: dict, statistic: str,
          threshold: float, comparison: str = "GreaterThanThreshold") -> dict:
    return {"Type": "AWS::CloudWatch::Alarm", "Properties": {
        "AlarmName": name, "AlarmDescription": description,
        "Namespace": namespace, "MetricName": metric,
        "Dimensions": [{"Name": k, "Value": v} for k, v in dimensions.items()],
        "Statistic": statistic, "Period": ALARM_PERIOD, "EvaluationPeriods": 1, "Threshold": threshold,
        "ComparisonOperator": comparison, "TreatMissingData": "notBreaching",
        "AlarmActions": [{"Ref": ALARM_TOPIC}], "OKActions": [{"Ref": ALARM_TOPIC}],
    }}


def api_name(stage: Stage) -> str:
    return stage.app_name  # Chalice's swagger title, which API Gateway takes as the API's name


def api_stage_name(stage: Stage) -> str:
    return stage.config["stages"][stage.name].get("api_gateway_stage", "api")


def resource_template(stage: Stage, app) -> dict:
    """Everything infra/resources.py defines, with its alarms: valid as a stack on its own."""
    settings = stage.settings
    resources: dict = {}
    outputs: dict = {}
    prefix = f"{stage.app_name}-{stage.name}"
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
            resources[f"{logical_id}DlqAlarm"] = alarm(
                f"{prefix}-{logical_id}-dlq-not-empty", f"Messages in {dlq_name(name)}: each failed "
                f"{resource.max_receive_count} times; read them, fix the cause, redrive",
                "AWS/SQS", "ApproximateNumberOfMessagesVisible", {"QueueName": dlq_name(name)}, "Maximum", 0)
            resources[f"{logical_id}AgeAlarm"] = alarm(
                f"{prefix}-{logical_id}-oldest-message", f"A message has waited over "
                f"{settings.oldest_message_alarm_seconds} s in {name}: its consumer is failing or too slow",
                "AWS/SQS", "ApproximateAgeOfOldestMessage", {"QueueName": name}, "Maximum",
                settings.oldest_message_alarm_seconds)
            outputs[f"{logical_id}Url"] = {"Value": {"Ref": logical_id}}
            outputs[f"{logical_id}DlqUrl"] = {"Value": {"Ref": f"{logical_id}Dlq"}}
        elif isinstance(resource, Table):
            params = table_params(name, resource)
            if resource.ttl_attribute:
                params["TimeToLiveSpecification"] = {"Enabled": True, "AttributeName": resource.ttl_attribute}
            params["PointInTimeRecoverySpecification"] = {"PointInTimeRecoveryEnabled": True}
            params["SSESpecification"] = {"SSEEnabled": True}
            resources[logical_id] = {"Type": "AWS::DynamoDB::Table", **RETAIN, "Properties": params}
            outputs[f"{logical_id}Name"] = {"Value": {"Ref": logical_id}}
        elif isinstance(resource, Bucket):
            resources[logical_id] = {"Type": "AWS::S3::Bucket", **RETAIN, "Properties": hardening.log_bucket_access(
                bucket_properties(name, resource, settings), stage, logical_id)}
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
    # 5XXError is 0 or 1 per request, so its average is the share of requests that failed.
    resources["Api5xxAlarm"] = alarm(
        f"{prefix}-api-5xx-rate", f"Over {settings.api_5xx_rate_alarm:.0%} of API requests answered 5xx",
        "AWS/ApiGateway", "5XXError", {"ApiName": api_name(stage), "Stage": api_stage_name(stage)}, "Average",
        settings.api_5xx_rate_alarm)
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


def name_functions(template: dict, stage: Stage, app) -> None:
    """Stage names for functions, suffixed bucket names in their environment, policies for the stack's ARNs."""
    from infra import iam
    grants = iam.function_grants(stage, app)
    bucket_envs = {RESOURCES[lid].env: template_name(stage, lid) for lid, r in RESOURCES.items()
                   if isinstance(r, Bucket)}
    # A topic's ARN from its Ref: the function then never asks STS who it is (a VPC has no route to STS).
    topic_arns = {r.env: (r.env.removesuffix("_NAME") + "_ARN", lid) for lid, r in RESOURCES.items()
                  if isinstance(r, Topic)}
    for logical_id, function in functions(template).items():
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
        role = template["Resources"][properties["Role"]["Fn::GetAtt"][0]]["Properties"]
        [policy] = role["Policies"]
        policy["PolicyDocument"] = iam.policy_document(stage, function, grants.get(function, {}), cfn=True)


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


def add_worker_alarms(template: dict, stage: Stage) -> None:
    for logical_id, function in functions(template).items():
        if function == "api_handler":  # its failures are the API's 5xx, alarmed on their rate
            continue
        if function == identity.AUTHORIZER:  # it "fails" with Unauthorized for every refused token: a 401
            continue
        template["Resources"][f"{logical_id}ErrorsAlarm"] = alarm(
            f"{stage.lambda_function_name(function)}-errors",
            f"{function} raised: a batch it could not process at all, or an upload it could not read",
            "AWS/Lambda", "Errors", {"FunctionName": {"Ref": logical_id}}, "Sum", 0)


def add_log_volume_alarm(template: dict, stage: Stage) -> None:
    """Log lines processed per hour over the stage's threshold: the upload caps bound one upload, not many."""
    from chalicelib.metrics import DIMENSION, NAMESPACE  # the EMF the worker writes (LogLinesProcessed)
    threshold = stage.settings.log_lines_per_hour_alarm
    volume = alarm(f"{stage.app_name}-{stage.name}-log-lines-per-hour",
                   f"Over {threshold:,} log lines processed in an hour (at $0.67-0.80 per million): "
                   "the uploads behind it are in GET /log-batches (a loop writing to the input bucket?)",
                   NAMESPACE, "LogLinesProcessed", {DIMENSION: stage.environment.get("STAGE", stage.name)}, "Sum",
                   threshold)
    volume["Properties"]["Period"] = 3600
    template["Resources"]["LogLinesPerHourAlarm"] = volume


def add_dashboard(template: dict, stage: Stage) -> None:
    """One page for the flows: queues, dead letters, workers, the API."""
    queues = [stage.resource_name(lid) for lid, r in RESOURCES.items() if isinstance(r, Queue)]
    workers = [stage.lambda_function_name(f) for f in functions(template).values() if f != "api_handler"]
    api = {"ApiName": api_name(stage), "Stage": api_stage_name(stage)}

    def widget(title, metrics, stat="Maximum", x=0, y=0):
        return {"type": "metric", "x": x, "y": y, "width": 12, "height": 6, "properties": {
            "title": title, "region": "${AWS::Region}", "stat": stat, "period": 60, "view": "timeSeries",
            "metrics": metrics}}

    def per(namespace, metric, dimension, values, **options):
        return [[namespace, metric, dimension, value, options] if options else [namespace, metric, dimension, value]
                for value in values]

    body = {"widgets": [
        widget("Messages waiting (work queues)", per("AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName",
                                                     queues), x=0, y=0),
        widget("Dead-letter queues (should be 0)", per("AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName",
                                                       [dlq_name(q) for q in queues]), x=12, y=0),
        widget("Oldest message age (s)", per("AWS/SQS", "ApproximateAgeOfOldestMessage", "QueueName", queues),
               x=0, y=6),
        widget("Worker errors", per("AWS/Lambda", "Errors", "FunctionName", workers), stat="Sum", x=12, y=6),
        widget("Worker duration p99 (ms)", per("AWS/Lambda", "Duration", "FunctionName", workers), stat="p99",
               x=0, y=12),
        widget("API latency (ms)", [["AWS/ApiGateway", "Latency", *sum(api.items(), ()), {"stat": "p50"}],
                                    ["AWS/ApiGateway", "Latency", *sum(api.items(), ()), {"stat": "p99"}]],
               x=12, y=12),
        widget("API requests and errors", [["AWS/ApiGateway", m, *sum(api.items(), ())]
                                           for m in ("Count", "4XXError", "5XXError")], stat="Sum", x=0, y=18),
    ]}
    template["Resources"]["FlowsDashboard"] = {"Type": "AWS::CloudWatch::Dashboard", "Properties": {
        "DashboardName": f"{stage.app_name}-{stage.name}",
        "DashboardBody": {"Fn::Sub": json.dumps(body)},
    }}


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


def finish(template: dict, stage: Stage, app) -> dict:
    """Every edit `chalice package`'s output needs; the template is changed in place and returned."""
    enable_batch_item_failures(template, stage, app)
    s3_functions = attach_s3_notifications(template, stage)
    name_functions(template, stage, app)
    add_upload_failure_destinations(template, s3_functions)
    add_worker_alarms(template, stage)
    add_log_volume_alarm(template, stage)
    add_dashboard(template, stage)
    throttle_api(template, stage)
    identity.add_identity(template, stage)
    trace(template, stage)
    product_db.place_functions(template, stage, app, functions(template))
    hardening.harden(template, stage, functions(template))  # log groups, access logs, SQS concurrency caps
    return template


def package(stage: Stage, app, out_dir: Path) -> Path:
    out_dir = Path(out_dir).resolve()
    with tempfile.TemporaryDirectory() as tmp:
        merge = Path(tmp) / "resources.json"
        merge.write_text(json.dumps(resource_template(stage, app), indent=2))
        # The stage's store, not the shell's: app.py defines the migration function only on a postgres stage.
        env = {**os.environ, "AWS_DEFAULT_REGION": os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
               "PRODUCT_STORE": stage.product_store}
        subprocess.run([sys.executable, "-m", "infra.chalice_package", "--project-dir", str(stage.project_dir),
                        "package", "--stage", stage.name, "--merge-template", str(merge), str(out_dir)],
                       cwd=PROJECT_DIR, env=env, check=True)
    sam = out_dir / "sam.json"
    template = finish(json.loads(sam.read_text()), stage, app)
    sam.write_text(json.dumps(template, indent=2))
    # The API's contract beside the template (issue 21): the document GET /openapi.json serves on this stage.
    from chalicelib.openapi import published
    (out_dir / "openapi.json").write_text(json.dumps(published(app, api_stage_name(stage)), indent=2))
    return sam
