"""The packaged template keeps data, reports failures someone sees, and protects writes, in every AWS stage."""
import json

import pytest

from infra.resources import RESOURCES, Bucket, Queue, Table
from infra.stage import Stage, dlq_name
from tests.integration.test_packaging import packaged

STAGES = ("dev", "prod")
S3_READERS = {"SplitLogUpload", "IngestInvoiceUpload"}


@pytest.fixture(scope="module", params=STAGES)
def stage_template(request):
    return Stage.load(request.param), json.loads(packaged(request.param).read_text())


def of_type(template, kind):
    return {lid: r for lid, r in template["Resources"].items() if r["Type"] == kind}


def test_tables_and_buckets_are_retained_and_encrypted(stage_template):
    stage, template = stage_template
    settings = stage.settings
    for logical_id, resource in RESOURCES.items():
        if not isinstance(resource, (Table, Bucket)):
            continue
        declared = template["Resources"][logical_id]
        assert (declared["DeletionPolicy"], declared["UpdateReplacePolicy"]) == ("Retain", "Retain"), logical_id
        properties = declared["Properties"]
        if isinstance(resource, Table):
            assert properties["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
            assert properties["SSESpecification"] == {"SSEEnabled": True}
            continue
        [rule] = properties["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] in ("AES256", "aws:kms")
        assert all(properties["PublicAccessBlockConfiguration"].values())
        assert ("VersioningConfiguration" in properties) == (logical_id in ("InputLogsBucket", "InvoicesBucket"))
        days = {"reports": settings.reports_expire_after_days, "inputs": settings.inputs_expire_after_days}
        expiring = [r for r in properties["LifecycleConfiguration"]["Rules"] if "ExpirationInDays" in r]
        assert [r["ExpirationInDays"] for r in expiring] == [days[resource.expires]], logical_id
        [tls] = template["Resources"][f"{logical_id}Policy"]["Properties"]["PolicyDocument"]["Statement"]
        assert tls["Effect"] == "Deny" and tls["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        assert template["Resources"][f"{logical_id}Policy"]["Properties"]["Bucket"] == {"Ref": logical_id}


def test_expiry_follows_the_stage_settings():
    dev, prod = (json.loads(packaged(name).read_text())["Resources"] for name in STAGES)

    def expiry(resources, bucket):
        return [r["ExpirationInDays"] for r in resources[bucket]["Properties"]["LifecycleConfiguration"]["Rules"]
                if "ExpirationInDays" in r]
    assert expiry(dev, "ReportsBucket") == [Stage.load("dev").settings.reports_expire_after_days]
    assert expiry(prod, "InputLogsBucket") == [Stage.load("prod").settings.inputs_expire_after_days]
    assert expiry(dev, "ReportsBucket") != expiry(prod, "ReportsBucket")


def test_queues_are_encrypted_with_explicit_sizes_and_retention(stage_template):
    _, template = stage_template
    for logical_id, resource in RESOURCES.items():
        if isinstance(resource, Queue):
            for queue_id, retention in ((logical_id, resource.retention_seconds),
                                        (f"{logical_id}Dlq", resource.dlq_retention_seconds)):
                properties = template["Resources"][queue_id]["Properties"]
                assert properties["SqsManagedSseEnabled"] is True
                assert properties["MaximumMessageSize"] == resource.max_message_bytes
                assert properties["MessageRetentionPeriod"] == retention
            # A DLQ keeps a message's first enqueue time: it must keep messages longer than its queue.
            assert resource.dlq_retention_seconds > resource.retention_seconds


def test_the_s3_readers_retry_twice_then_send_the_event_to_the_upload_failures_queue(stage_template):
    stage, template = stage_template
    configs = of_type(template, "AWS::Lambda::EventInvokeConfig")
    assert {c["Properties"]["FunctionName"]["Ref"] for c in configs.values()} == S3_READERS
    for config in configs.values():
        properties = config["Properties"]
        assert (properties["MaximumRetryAttempts"], properties["MaximumEventAgeInSeconds"]) == (2, 3600)
        assert properties["DestinationConfig"]["OnFailure"]["Destination"] == {
            "Fn::GetAtt": ["UploadFailuresQueue", "Arn"]}
        # Lambda sends to the destination with the function's own role.
        role = template["Resources"][properties["FunctionName"]["Ref"]]["Properties"]["Role"]["Fn::GetAtt"][0]
        statements = template["Resources"][role]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
        [grant] = [s for s in statements if s["Sid"] == "UploadFailuresQueue"]
        assert grant["Action"] == ["sqs:SendMessage"]
        assert grant["Resource"] == [{"Fn::Sub": "arn:${AWS::Partition}:sqs:${AWS::Region}:${AWS::AccountId}:"
                                                 + stage.resource_name("UploadFailuresQueue")}]
    assert template["Resources"]["UploadFailuresQueue"]["Properties"]["QueueName"] == {
        "dev": "upload-failures", "prod": "async-catalog-prod-upload-failures"}[stage.name]


def test_alarms_cover_every_dlq_worker_work_queue_and_the_api(stage_template):
    stage, template = stage_template
    alarms = of_type(template, "AWS::CloudWatch::Alarm").values()
    watched = {(a["Properties"]["MetricName"], json.dumps(a["Properties"]["Dimensions"][0]["Value"])) for a in alarms}
    queues = [stage.resource_name(lid) for lid, r in RESOURCES.items() if isinstance(r, Queue)]
    for queue in queues:
        assert ("ApproximateNumberOfMessagesVisible", json.dumps(dlq_name(queue))) in watched
        assert ("ApproximateAgeOfOldestMessage", json.dumps(queue)) in watched
    # Not the token authorizer: it "fails" with Unauthorized for every refused token (a 401, not a fault); its
    # real failures are API Gateway's AUTHORIZER_FAILURE 500s, which the API's 5xx-rate alarm watches.
    workers = {lid for lid, r in template["Resources"].items()
               if r["Type"] == "AWS::Serverless::Function" and lid != "APIHandler"
               and r["Properties"]["Handler"] != "app.verify_token"}
    assert {json.loads(v)["Ref"] for m, v in watched if m == "Errors"} == workers
    assert ("5XXError", json.dumps("async-catalog")) in watched
    for alarm in alarms:
        properties = alarm["Properties"]
        assert properties["AlarmActions"] == [{"Ref": "AlarmTopic"}]
        if properties["MetricName"] == "ApproximateAgeOfOldestMessage":
            assert properties["Threshold"] == stage.settings.oldest_message_alarm_seconds
        if properties["MetricName"] == "ApproximateNumberOfMessagesVisible":
            assert (properties["ComparisonOperator"], properties["Threshold"]) == ("GreaterThanThreshold", 0)
    subscription = template["Resources"]["AlarmTopicEmail"]
    assert subscription["Condition"] == "HasAlarmEmail"  # no subscription when AlarmEmail is empty
    assert template["Conditions"]["HasAlarmEmail"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "AlarmEmail"}, ""]}]}
    assert template["Parameters"]["AlarmEmail"]["Default"] == ""


def test_the_dashboard_shows_queues_dead_letters_workers_and_api_latency(stage_template):
    stage, template = stage_template
    [dashboard] = of_type(template, "AWS::CloudWatch::Dashboard").values()
    body = json.loads(dashboard["Properties"]["DashboardBody"]["Fn::Sub"])
    metrics = {(m[0], m[1], m[3]) for w in body["widgets"] for m in w["properties"]["metrics"]}
    for lid, resource in RESOURCES.items():
        if isinstance(resource, Queue):
            name = stage.resource_name(lid)
            assert ("AWS/SQS", "ApproximateNumberOfMessagesVisible", name) in metrics
            assert ("AWS/SQS", "ApproximateNumberOfMessagesVisible", dlq_name(name)) in metrics
    for lid, resource in template["Resources"].items():
        if resource["Type"] == "AWS::Serverless::Function" and lid != "APIHandler":
            name = resource["Properties"]["FunctionName"]
            assert {("AWS/Lambda", "Duration", name), ("AWS/Lambda", "Errors", name)} <= metrics
    assert ("AWS/ApiGateway", "Latency", "async-catalog") in metrics


def test_bucket_names_take_a_suffix_parameter_that_fits_s3s_limit(stage_template):
    stage, template = stage_template
    parameter = template["Parameters"]["NameSuffix"]
    longest = max(len(stage.resource_name(lid)) for lid, r in RESOURCES.items() if isinstance(r, Bucket))
    assert longest + parameter["MaxLength"] <= 63
    assert len("-123456789012-ap-southeast-2") <= parameter["MaxLength"]
