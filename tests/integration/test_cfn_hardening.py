"""The packaged template's hardening (infra/hardening.py): logs that expire, access logs, encrypted topics,
bounded SQS consumers, retained queues, per stage."""
import copy
import json

import pytest

from infra import hardening
from infra.cloudformation import functions
from infra.resources import RESOURCES, TOPICS_KEY, Queue, Topic
from infra.stage import DEFAULT_SQS_MAXIMUM_CONCURRENCY, Stage
from tests.integration.test_packaging import packaged, resolve_sub

STAGES = ("dev", "prod")
NAMES = {"AWS::Partition": "aws", "AWS::Region": "us-east-1", "AWS::AccountId": "123456789012", "NameSuffix": ""}


@pytest.fixture(scope="module", params=STAGES)
def stage_template(request):
    return Stage.load(request.param), json.loads(packaged(request.param).read_text())


def of_type(template, kind):
    return {lid: r for lid, r in template["Resources"].items() if r["Type"] == kind}


def with_infra(stage: Stage, **settings) -> Stage:
    """The stage with its `infra` object changed."""
    config = copy.deepcopy(stage.config)
    config["stages"][stage.name].setdefault("infra", {}).update(settings)
    return Stage(stage.name, config, stage.project_dir)


def sqs_events(template):
    for logical_id, function in functions(template).items():
        for event in template["Resources"][logical_id]["Properties"].get("Events", {}).values():
            if event["Type"] == "SQS":
                yield function, event["Properties"]


def test_every_function_has_a_log_group_with_the_stages_retention_created_before_it(stage_template):
    stage, template = stage_template
    resources = template["Resources"]
    groups = of_type(template, "AWS::Logs::LogGroup")
    found = functions(template)
    assert len(found) >= 10  # every Chalice function, the authorizer too once app.py has one
    for logical_id in found:
        name = resources[logical_id]["Properties"]["FunctionName"]
        group = f"{logical_id}LogGroup"
        assert groups[group]["Properties"] == {"LogGroupName": f"/aws/lambda/{name}",
                                               "RetentionInDays": stage.settings.log_retention_days}
        assert group in resources[logical_id]["DependsOn"]
    assert set(groups) == {f"{lid}LogGroup" for lid in found} | {hardening.API_ACCESS_LOG_GROUP}


def test_the_log_retention_differs_per_stage():
    assert Stage.load("dev").settings.log_retention_days == 7
    assert Stage.load("prod").settings.log_retention_days == 90


def test_a_function_added_to_the_app_gets_its_log_group_too():
    stage, template = Stage.load("dev"), json.loads(packaged("dev").read_text())
    template["Resources"]["AnotherOne"] = {"Type": "AWS::Serverless::Function", "Properties": {
        "Handler": "app.another_one", "FunctionName": "async-catalog-dev-another_one"}}
    groups = hardening.declare_log_groups(template, stage, functions(template))
    assert groups["AnotherOne"] == "AnotherOneLogGroup"
    assert template["Resources"]["AnotherOneLogGroup"]["Properties"]["LogGroupName"] == \
        "/aws/lambda/async-catalog-dev-another_one"
    assert template["Resources"]["AnotherOne"]["DependsOn"] == ["AnotherOneLogGroup"]


def test_chalices_log_retention_setting_is_refused_for_its_wrong_reference():
    stage = Stage.load("dev")
    config = copy.deepcopy(stage.config)
    config["stages"]["dev"]["lambda_functions"]["process_orders"]["log_retention_in_days"] = 14
    with pytest.raises(SystemExit, match="aws/chalice#2079"):
        hardening.refuse_chalice_log_retention(Stage("dev", config), ["api_handler", "process_orders"])


def test_a_retention_cloudwatch_does_not_offer_is_refused():
    with pytest.raises(SystemExit, match="log_retention_days"):
        _ = with_infra(Stage.load("dev"), log_retention_days=10).settings


def test_api_access_logs_are_one_json_object_per_request_with_the_callers_sub(stage_template):
    stage, template = stage_template
    resources = template["Resources"]
    setting = resources["RestAPI"]["Properties"]["AccessLogSetting"]
    assert setting["DestinationArn"] == {"Fn::GetAtt": [hardening.API_ACCESS_LOG_GROUP, "Arn"]}
    assert resources[hardening.API_ACCESS_LOG_GROUP]["Properties"] == {
        "LogGroupName": f"/aws/apigateway/async-catalog-{stage.name}/access",
        "RetentionInDays": stage.settings.log_retention_days}
    line = json.loads(setting["Format"])  # a JSON line once API Gateway fills in the variables
    assert "\n" not in setting["Format"]
    assert line == {"requestId": "$context.requestId", "sub": "$context.authorizer.principalId",
                    "sourceIp": "$context.identity.sourceIp", "method": "$context.httpMethod",
                    "route": "$context.resourcePath", "status": "$context.status",
                    "latencyMs": "$context.responseLatency", "integrationLatencyMs": "$context.integrationLatency",
                    "gatewayError": "$context.error.responseType"}
    # API Gateway writes with the account's CloudWatch role: set by the stack, kept when the stack goes.
    account = resources[hardening.API_GATEWAY_ACCOUNT]
    assert account["Properties"]["CloudWatchRoleArn"] == {"Fn::GetAtt": [hardening.API_GATEWAY_LOGS_ROLE, "Arn"]}
    role = resources[hardening.API_GATEWAY_LOGS_ROLE]
    for retained in (account, role):
        assert (retained["DeletionPolicy"], retained["UpdateReplacePolicy"]) == ("Retain", "Retain")
    [statement] = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert statement["Principal"] == {"Service": "apigateway.amazonaws.com"}
    assert hardening.API_GATEWAY_ACCOUNT in resources["RestAPI"]["DependsOn"]
    # No execution logging: it would write request bodies (personal data) to the logs.
    assert all("LoggingLevel" not in s and "DataTraceEnabled" not in s
               for s in resources["RestAPI"]["Properties"].get("MethodSettings", []))


def test_a_stage_can_leave_the_accounts_api_gateway_role_to_someone_else():
    stage = with_infra(Stage.load("dev"), api_gateway_account_logs_role=False)
    template = {"Resources": {"RestAPI": {"Type": "AWS::Serverless::Api", "Properties": {}}}}
    hardening.log_api_access(template, stage)
    assert set(template["Resources"]) == {"RestAPI", hardening.API_ACCESS_LOG_GROUP}
    assert "DependsOn" not in template["Resources"]["RestAPI"]


def test_both_topics_are_encrypted_with_a_rotated_customer_managed_key(stage_template):
    stage, template = stage_template
    resources = template["Resources"]
    for topic in ("OrderNotificationsTopic", "AlarmTopic"):
        assert resources[topic]["Properties"]["KmsMasterKeyId"] == {"Ref": TOPICS_KEY}
    key = resources[TOPICS_KEY]
    assert key["Type"] == "AWS::KMS::Key" and key["Properties"]["EnableKeyRotation"] is True
    assert resources[f"{TOPICS_KEY}Alias"]["Properties"] == {
        "AliasName": f"alias/async-catalog-{stage.name}-topics", "TargetKeyId": {"Ref": TOPICS_KEY}}
    statements = {s["Sid"]: s for s in resolve_sub(key["Properties"]["KeyPolicy"], NAMES)["Statement"]}
    assert statements["AccountAdministersAndIamDelegates"]["Principal"] == {
        "AWS": "arn:aws:iam::123456789012:root"}
    # CloudWatch may use it for the alarm topic only: aws/sns, whose policy cannot name CloudWatch, could not.
    cloudwatch = statements["CloudWatchAlarmsPublishToTheAlarmTopic"]
    assert cloudwatch["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    alarm_topic = resources["AlarmTopic"]["Properties"]["TopicName"]
    assert cloudwatch["Condition"]["StringEquals"]["kms:EncryptionContext:aws:sns:topicArn"] == \
        f"arn:aws:sns:us-east-1:123456789012:{alarm_topic}"
    assert set(statements) == {"AccountAdministersAndIamDelegates", "CloudWatchAlarmsPublishToTheAlarmTopic"}


def test_only_the_publishers_may_use_the_topic_key_and_for_their_topic_alone(stage_template):
    stage, template = stage_template
    resources = template["Resources"]
    topic_arns = {f"arn:aws:sns:us-east-1:123456789012:{stage.resource_name(lid)}": lid
                  for lid, r in RESOURCES.items() if isinstance(r, Topic) and r.key}
    publishers = set()
    for logical_id, function in functions(template).items():
        role = resources[logical_id]["Properties"]["Role"]["Fn::GetAtt"][0]
        statements = resolve_sub(resources[role]["Properties"]["Policies"][0]["PolicyDocument"],
                                 {**NAMES, TOPICS_KEY: "key-id"})["Statement"]
        published = {r for s in statements if "sns:Publish" in s["Action"] for r in s["Resource"]}
        keys = [s for s in statements if any(a.startswith("kms:") for a in s["Action"])]
        assert len(keys) == len(published & set(topic_arns)), function
        for statement in keys:
            assert statement["Action"] == ["kms:Decrypt", "kms:GenerateDataKey"]
            assert statement["Resource"] == ["arn:aws:kms:us-east-1:123456789012:key/key-id"]
            [context] = statement["Condition"]["StringLike"]["kms:EncryptionContext:aws:sns:topicArn"]
            assert context in published
            publishers.add(function)
    assert publishers == {"process_orders"}


def test_every_sqs_event_source_runs_at_most_the_stages_cap(stage_template):
    stage, template = stage_template
    caps = {}
    for function, properties in sqs_events(template):
        caps[function] = properties["ScalingConfig"]["MaximumConcurrency"]
        assert caps[function] == stage.settings.sqs_concurrency(function) >= 2
    assert caps  # every consumer capped, whichever functions consume
    if stage.name == "prod":  # every production consumer is sized for its tables and database, none by default
        assert set(stage.settings.sqs_maximum_concurrency) == set(caps)


def test_the_caps_are_read_per_stage_with_a_default_for_an_unnamed_consumer():
    dev, prod = Stage.load("dev").settings, Stage.load("prod").settings
    assert dev.sqs_concurrency("process_log_lines") == 5
    assert dev.sqs_concurrency("process_orders") == DEFAULT_SQS_MAXIMUM_CONCURRENCY == 2
    assert prod.sqs_maximum_concurrency["process_log_lines"] > dev.sqs_concurrency("process_log_lines")


@pytest.mark.parametrize("cap", [1, 1001, "5", True])
def test_a_cap_lambda_refuses_is_refused(cap):
    with pytest.raises(SystemExit, match="sqs_maximum_concurrency.process_orders"):
        _ = with_infra(Stage.load("dev"), sqs_maximum_concurrency={"process_orders": cap}).settings


def test_a_cap_for_a_function_that_consumes_no_queue_is_refused():
    stage = with_infra(Stage.load("dev"), sqs_maximum_concurrency={"sweep_orders": 3})
    template = json.loads(packaged("dev").read_text())
    with pytest.raises(SystemExit, match="sweep_orders"):
        hardening.cap_sqs_concurrency(template, stage, functions(template))


def test_queues_and_their_dead_letter_queues_are_retained(stage_template):
    _, template = stage_template
    queues = of_type(template, "AWS::SQS::Queue")
    assert len(queues) == 2 * sum(isinstance(r, Queue) for r in RESOURCES.values())
    for logical_id, queue in queues.items():
        assert (queue["DeletionPolicy"], queue["UpdateReplacePolicy"]) == ("Retain", "Retain"), logical_id


def test_prod_logs_access_to_the_upload_buckets_and_dev_does_not():
    dev, prod = (json.loads(packaged(name).read_text())["Resources"] for name in STAGES)
    stage = Stage.load("prod")
    uploads = hardening.upload_buckets()
    assert uploads == ["InputLogsBucket", "InvoicesBucket"]
    for bucket in uploads:
        assert prod[bucket]["Properties"]["LoggingConfiguration"] == {
            "DestinationBucketName": {"Ref": hardening.ACCESS_LOGS_BUCKET},
            "LogFilePrefix": f"{stage.resource_name(bucket)}/"}
        assert "LoggingConfiguration" not in dev[bucket]["Properties"]
    assert hardening.ACCESS_LOGS_BUCKET not in dev
    logs = prod[hardening.ACCESS_LOGS_BUCKET]
    assert (logs["DeletionPolicy"], logs["UpdateReplacePolicy"]) == ("Retain", "Retain")
    properties = logs["Properties"]
    # S3 delivers server access logs to SSE-S3 buckets only.
    [rule] = properties["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"] == {"SSEAlgorithm": "AES256"}
    assert all(properties["PublicAccessBlockConfiguration"].values())
    [expiry] = properties["LifecycleConfiguration"]["Rules"]
    assert expiry["ExpirationInDays"] == stage.settings.s3_access_logs_expire_after_days
    allow, deny = prod[f"{hardening.ACCESS_LOGS_BUCKET}Policy"]["Properties"]["PolicyDocument"]["Statement"]
    assert allow["Principal"] == {"Service": "logging.s3.amazonaws.com"} and allow["Action"] == "s3:PutObject"
    assert resolve_sub(allow["Condition"]["ArnLike"]["aws:SourceArn"], NAMES) == [
        f"arn:aws:s3:::{stage.resource_name(b)}" for b in uploads]
    assert deny["Effect"] == "Deny" and deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    # Its name takes the bucket suffix too, within S3's 63 characters.
    name = resolve_sub(properties["BucketName"], {"NameSuffix": ""})
    assert name == "async-catalog-prod-access-logs"
    assert len(name) + json.loads(packaged("prod").read_text())["Parameters"]["NameSuffix"]["MaxLength"] <= 63
