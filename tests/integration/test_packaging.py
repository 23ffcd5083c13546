"""`chalice package` gives a valid CloudFormation handoff with our resources and partial batch responses on."""
import json
import os
import subprocess
import sys

import pytest
from pathlib import Path

from infra.cloudformation import package
from infra.stage import PROJECT_DIR


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    from infra.stage import Stage
    stage = Stage.load("dev")
    sam = package(stage, stage.load_app(), tmp_path_factory.mktemp("package"))
    return sam, json.loads(sam.read_text())


def test_template_creates_every_resource_with_its_dead_letter_queue(template):
    _, resources = template[0], template[1]["Resources"]
    assert resources["ProductQueue"]["Properties"]["QueueName"] == "product-queue"
    assert resources["ProductQueueDlq"]["Properties"]["QueueName"] == "product-queue-dlq"
    assert resources["ProductQueue"]["Properties"]["RedrivePolicy"]["maxReceiveCount"] == 5
    # six times the worker's 30 s timeout
    assert resources["ProductQueue"]["Properties"]["VisibilityTimeout"] == 180
    assert resources["ProductTable"]["Properties"]["TableName"] == "ProductTable"
    assert resources["ReportsBucket"]["Properties"]["BucketName"] == "async-catalog-reports-dev"


def test_every_sqs_event_source_reports_batch_item_failures(template):
    events = [event for resource in template[1]["Resources"].values()
              if resource["Type"] == "AWS::Serverless::Function"
              for event in resource["Properties"].get("Events", {}).values() if event["Type"] == "SQS"]
    assert events
    for event in events:
        assert event["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    batch_sizes = {e["Properties"]["Queue"]["Fn::GetAtt"][0]: e["Properties"]["BatchSize"] for e in events}
    assert batch_sizes == {"ProductQueue": 10, "LogQueue": 100, "LogSplitQueue": 1, "InvoiceIngestQueue": 1,
                           "OrdersQueue": 10}
    # Over 10 messages a batch, Lambda requires a batching window.
    windows = {e["Properties"]["Queue"]["Fn::GetAtt"][0]: e["Properties"].get("MaximumBatchingWindowInSeconds")
               for e in events}
    assert windows["LogQueue"] == 1


def test_the_invoice_ingester_is_subscribed_to_its_bucket_and_the_sweep_runs_every_minute(template):
    resources = template[1]["Resources"]
    [configuration] = resources["InvoicesBucket"]["Properties"]["NotificationConfiguration"]["LambdaConfigurations"]
    assert configuration["Function"] == {"Fn::GetAtt": ["IngestInvoiceUpload", "Arn"]}
    [schedule] = resources["SweepOrders"]["Properties"]["Events"].values()
    assert schedule["Properties"]["Schedule"] == "rate(1 minute)"
    assert resources["OrderNotificationsTopic"]["Properties"]["TopicName"] == "order-notifications"
    assert set(resources["InvoicesTable"]["Properties"]["KeySchema"][0].values()) == {"number", "HASH"}


def test_the_log_splitter_is_subscribed_to_uploads_on_its_bucket(template):
    resources = template[1]["Resources"]
    bucket = resources["InputLogsBucket"]
    [configuration] = bucket["Properties"]["NotificationConfiguration"]["LambdaConfigurations"]
    assert configuration == {"Event": "s3:ObjectCreated:*", "Function": {"Fn::GetAtt": ["SplitLogUpload", "Arn"]}}
    permission = resources["SplitLogUploadS3InvokePermission"]["Properties"]
    assert permission["Principal"] == "s3.amazonaws.com"
    assert bucket["DependsOn"] == ["SplitLogUploadS3InvokePermission"]
    assert "Metadata" not in template[1]


def test_functions_get_their_generated_scoped_policies(template):
    roles = [r for r in template[1]["Resources"].values() if r["Type"] == "AWS::IAM::Role"]
    assert roles
    for role in roles:
        document = json.dumps(role["Properties"]["Policies"])
        assert '"Resource": "*"' not in document


def test_template_passes_cfn_lint(template):
    result = subprocess.run([str(Path(sys.executable).with_name("cfn-lint")), str(template[0])], capture_output=True, text=True,
                            cwd=PROJECT_DIR, env={**os.environ, "AWS_DEFAULT_REGION": "us-east-1"})
    assert result.returncode == 0, result.stdout + result.stderr
