"""Production hardening of the packaged template: logs that expire, access logs, encrypted topics, bounded consumers.

What a scanner (checkov) and an operator asked of the stack (issue 19), each
piece driven by the stage's `infra` settings (infra/stage.py) and explained in
docs/operations.md:

- Function log groups. Lambda creates `/aws/lambda/<function>` on its first
  write, kept forever. Chalice's `log_retention_in_days` would declare them,
  but its SAM output refers to the function wrongly (aws/chalice#2079), so it
  is refused here and the template declares one log group per function it
  holds (found by type, so a function added to app.py, the authorizer
  included, gets one too) with `log_retention_days`; each function depends on
  its group, which therefore exists before the function can write.
- API access logs: one JSON line per request (request id, the caller's `sub`
  from the authorizer's principalId, source IP, route, status, latency) in a
  log group of the stack, kept as long. API Gateway writes them with the
  account's CloudWatch role (one per account and region), which the stack sets
  unless `api_gateway_account_logs_role` is off; the role and the setting are
  retained on stack deletion, so deleting one stage's stack never stops
  another's logs. Execution logging stays off: it would log request bodies.
- Topics encrypted with a customer-managed KMS key (`TopicsKey`): the order
  notifications (infra/iam.py grants their publishers the key for that topic
  only) and the alarms, which CloudWatch can publish to only under a key
  whose policy names it; AWS's own aws/sns key's policy cannot.
- `ScalingConfig.MaximumConcurrency` on every SQS event source: how many
  invocations Lambda runs at once per consumer (`sqs_maximum_concurrency`),
  so a burst waits in its queue rather than overrunning the tables or the
  database and going to the DLQ.
- S3 server access logs of the upload buckets (`s3_access_logs`, on in prod)
  into a log bucket of the stack that expires them.
- Queues and their DLQs are retained with the stack, like tables and buckets
  (infra/cloudformation.py sets that on them).

In packaging (infra/package.py) the key, the topics' encryption and the log
bucket belong to the template built from infra/resources.py, and `harden` is
the last step, on Chalice's functions and API.
"""
import json

from infra.resources import RESOURCES, TOPICS_KEY, Bucket, Topic
from infra.stage import Stage

API_ACCESS_LOG_GROUP = "ApiAccessLogGroup"
API_GATEWAY_ACCOUNT = "ApiGatewayAccount"
API_GATEWAY_LOGS_ROLE = "ApiGatewayCloudWatchRole"
ACCESS_LOGS_BUCKET = "AccessLogsBucket"
RETAIN = {"DeletionPolicy": "Retain", "UpdateReplacePolicy": "Retain"}
# One JSON object per request. Every value quoted: API Gateway writes "-" for a value it lacks, which
# unquoted would break the line. principalId is what the authorizer returns: the Cognito `sub` (empty on
# public routes); resourcePath is the route (/orders/{order_id}), never the ids in the path or the query.
ACCESS_LOG_FORMAT = {
    "requestId": "$context.requestId",
    "sub": "$context.authorizer.principalId",
    "sourceIp": "$context.identity.sourceIp",
    "method": "$context.httpMethod",
    "route": "$context.resourcePath",
    "status": "$context.status",
    "latencyMs": "$context.responseLatency",
    "integrationLatencyMs": "$context.integrationLatency",
    # Why API Gateway itself answered (UNAUTHORIZED, ACCESS_DENIED, THROTTLED, ...), when it did.
    "gatewayError": "$context.error.responseType",
}


def upload_buckets() -> list[str]:
    """The buckets people upload to (their objects expire as inputs): the ones whose access is logged."""
    return [lid for lid, r in RESOURCES.items() if isinstance(r, Bucket) and r.expires == "inputs"]


def alarm_topic_name(stage: Stage) -> str:
    return f"{stage.app_name}-{stage.name}-alarms"


def topics_key(stage: Stage) -> dict:
    """The customer-managed key of the encrypted topics, with an alias naming its stage.

    The account administers it and delegates its use to IAM (the publishers' generated policies); CloudWatch
    may use it for the alarm topic only (SNS's encryption context names the topic), which the AWS-managed
    aws/sns key could never allow."""
    alarm_topic = {"Fn::Sub": f"arn:${{AWS::Partition}}:sns:${{AWS::Region}}:${{AWS::AccountId}}:"
                              f"{alarm_topic_name(stage)}"}  # built, not a Ref: the topic refers to this key
    policy = {"Version": "2012-10-17", "Statement": [
        {"Sid": "AccountAdministersAndIamDelegates", "Effect": "Allow",
         "Principal": {"AWS": {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:root"}},
         "Action": "kms:*", "Resource": "*"},
        {"Sid": "CloudWatchAlarmsPublishToTheAlarmTopic", "Effect": "Allow",
         "Principal": {"Service": "cloudwatch.amazonaws.com"},
         "Action": ["kms:Decrypt", "kms:GenerateDataKey*"], "Resource": "*",
         "Condition": {"StringEquals": {"kms:EncryptionContext:aws:sns:topicArn": alarm_topic,
                                        "aws:SourceAccount": {"Ref": "AWS::AccountId"}}}},
    ]}
    return {
        TOPICS_KEY: {"Type": "AWS::KMS::Key", "Properties": {
            "Description": f"{stage.app_name}-{stage.name}: the SNS topics' messages at rest",
            "EnableKeyRotation": True, "KeyPolicy": policy}},
        f"{TOPICS_KEY}Alias": {"Type": "AWS::KMS::Alias", "Properties": {
            "AliasName": f"alias/{stage.app_name}-{stage.name}-topics", "TargetKeyId": {"Ref": TOPICS_KEY}}},
    }


def encrypt_topic(properties: dict, topic: Topic | None = None) -> dict:
    """A topic's properties with its key: the topic's own, or (the alarm topic) the topics' key."""
    key = topic.key if topic else TOPICS_KEY
    if key:
        properties["KmsMasterKeyId"] = {"Ref": key}
    return properties


def access_logs_bucket_name(stage: Stage) -> str:
    return f"{stage.app_name}-{stage.name}-access-logs"


def access_logs(stage: Stage) -> dict:
    """The log bucket and its policy, when the stage logs S3 access; {} otherwise."""
    settings = stage.settings
    if not settings.s3_access_logs:
        return {}
    sources = [{"Fn::Sub": f"arn:${{AWS::Partition}}:s3:::{stage.resource_name(lid)}${{NameSuffix}}"}
               for lid in upload_buckets() if stage.uses(lid)]
    return {
        ACCESS_LOGS_BUCKET: {"Type": "AWS::S3::Bucket", **RETAIN, "Properties": {
            "BucketName": {"Fn::Sub": f"{access_logs_bucket_name(stage)}${{NameSuffix}}"},
            # Server access logs are delivered only to SSE-S3 buckets, and owned by the bucket's owner.
            "BucketEncryption": {"ServerSideEncryptionConfiguration": [
                {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]},
            "OwnershipControls": {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]},
            "PublicAccessBlockConfiguration": {
                "BlockPublicAcls": True, "BlockPublicPolicy": True, "IgnorePublicAcls": True,
                "RestrictPublicBuckets": True},
            "LifecycleConfiguration": {"Rules": [{
                "Id": "ExpireAccessLogs", "Status": "Enabled",
                "ExpirationInDays": settings.s3_access_logs_expire_after_days}]},
        }},
        f"{ACCESS_LOGS_BUCKET}Policy": {"Type": "AWS::S3::BucketPolicy", "Properties": {
            "Bucket": {"Ref": ACCESS_LOGS_BUCKET},
            "PolicyDocument": {"Version": "2012-10-17", "Statement": [
                {"Sid": "S3ServerAccessLogsOfTheUploadBuckets", "Effect": "Allow",
                 "Principal": {"Service": "logging.s3.amazonaws.com"}, "Action": "s3:PutObject",
                 "Resource": {"Fn::Sub": f"${{{ACCESS_LOGS_BUCKET}.Arn}}/*"},
                 "Condition": {"ArnLike": {"aws:SourceArn": sources},
                               "StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}},
                {"Sid": "DenyWithoutTls", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
                 "Resource": [{"Fn::GetAtt": [ACCESS_LOGS_BUCKET, "Arn"]},
                              {"Fn::Sub": f"${{{ACCESS_LOGS_BUCKET}.Arn}}/*"}],
                 "Condition": {"Bool": {"aws:SecureTransport": "false"}}},
            ]},
        }},
    }


def log_bucket_access(properties: dict, stage: Stage, logical_id: str) -> dict:
    """An upload bucket's properties, logging to the log bucket under its own name, when the stage logs."""
    if stage.settings.s3_access_logs and logical_id in upload_buckets():
        properties["LoggingConfiguration"] = {"DestinationBucketName": {"Ref": ACCESS_LOGS_BUCKET},
                                              "LogFilePrefix": f"{stage.resource_name(logical_id)}/"}
    return properties


def refuse_chalice_log_retention(stage: Stage, names: list[str]) -> None:
    for function in names:
        if stage.function_setting(function, "log_retention_in_days") is not None:
            raise SystemExit(f"stage {stage.name}: log_retention_in_days ({function}) in .chalice/config.json: "
                             "Chalice's packaged log group refers to the function wrongly (aws/chalice#2079); "
                             "the template declares every function's log group with infra.log_retention_days")


def declare_log_groups(template: dict, stage: Stage, found: dict[str, str]) -> dict[str, str]:
    """A log group with the stage's retention for every function of the template; returns logical id -> group.

    `found` maps the template's function logical ids to Chalice's names (cloudformation.functions)."""
    declared = template["Resources"]
    refuse_chalice_log_retention(stage, list(found.values()))
    groups = {}
    for logical_id, function in found.items():
        group = f"{logical_id}LogGroup"
        declared[group] = {"Type": "AWS::Logs::LogGroup", "Properties": {
            "LogGroupName": f"/aws/lambda/{stage.lambda_function_name(function)}",
            "RetentionInDays": stage.settings.log_retention_days}}
        # Created before the function exists, so its first invocation never creates it without retention.
        depends = declared[logical_id].get("DependsOn", [])
        declared[logical_id]["DependsOn"] = [*([depends] if isinstance(depends, str) else depends), group]
        groups[logical_id] = group
    return groups


def api_access_log_group_name(stage: Stage) -> str:
    return f"/aws/apigateway/{stage.app_name}-{stage.name}/access"


def log_api_access(template: dict, stage: Stage) -> None:
    """JSON access logs of the API stage into a log group of the stack, kept log_retention_days."""
    declared = template["Resources"]
    declared[API_ACCESS_LOG_GROUP] = {"Type": "AWS::Logs::LogGroup", "Properties": {
        "LogGroupName": api_access_log_group_name(stage), "RetentionInDays": stage.settings.log_retention_days}}
    api = declared["RestAPI"]
    api["Properties"]["AccessLogSetting"] = {"DestinationArn": {"Fn::GetAtt": [API_ACCESS_LOG_GROUP, "Arn"]},
                                             "Format": json.dumps(ACCESS_LOG_FORMAT, separators=(",", ":"))}
    if not stage.settings.api_gateway_account_logs_role:
        return
    declared[API_GATEWAY_LOGS_ROLE] = {"Type": "AWS::IAM::Role", **RETAIN, "Properties": {
        "Description": "API Gateway's CloudWatch Logs role for this account and region (access logs)",
        "AssumeRolePolicyDocument": {"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"Service": "apigateway.amazonaws.com"}, "Action": "sts:AssumeRole"}]},
        "ManagedPolicyArns": [{"Fn::Sub": "arn:${AWS::Partition}:iam::aws:policy/service-role/"
                                          "AmazonAPIGatewayPushToCloudWatchLogs"}]}}
    declared[API_GATEWAY_ACCOUNT] = {"Type": "AWS::ApiGateway::Account", **RETAIN, "Properties": {
        "CloudWatchRoleArn": {"Fn::GetAtt": [API_GATEWAY_LOGS_ROLE, "Arn"]}}}
    # The stage's access logging is refused until the account has the role.
    depends = api.get("DependsOn", [])
    api["DependsOn"] = [*([depends] if isinstance(depends, str) else depends), API_GATEWAY_ACCOUNT]


def cap_sqs_concurrency(template: dict, stage: Stage, found: dict[str, str]) -> dict[str, int]:
    """MaximumConcurrency on every SQS event source from the stage's settings; returns function -> cap."""
    settings = stage.settings
    capped = {}
    for logical_id, function in found.items():
        for event in template["Resources"][logical_id]["Properties"].get("Events", {}).values():
            if event.get("Type") == "SQS":
                event["Properties"]["ScalingConfig"] = {"MaximumConcurrency": settings.sqs_concurrency(function)}
                capped[function] = settings.sqs_concurrency(function)
    unknown = sorted(set(settings.sqs_maximum_concurrency) - set(capped))
    if unknown:
        raise SystemExit(f"stage {stage.name}: infra.sqs_maximum_concurrency names {unknown}, which consume no "
                         f"SQS queue (the consumers: {sorted(capped)})")
    return capped


def harden(template: dict, stage: Stage, found: dict[str, str]) -> dict:
    """The edits on Chalice's functions and API (the resources' own are made in resource_template).

    `found` maps the template's function logical ids to Chalice's names (cloudformation.functions)."""
    groups = declare_log_groups(template, stage, found)
    log_api_access(template, stage)
    caps = cap_sqs_concurrency(template, stage, found)
    return {"log_groups": groups, "sqs_maximum_concurrency": caps}
