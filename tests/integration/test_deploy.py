"""After `chalice deploy`, every SQS event source mapping gets ReportBatchItemFailures."""
import io
import json
import zipfile

import boto3
from moto import mock_aws

from infra.deploy import enable_batch_item_failures


def _zip():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", "def handler(event, context):\n    return None\n")
    return buffer.getvalue()


@mock_aws
def test_enable_batch_item_failures_updates_each_recorded_sqs_mapping(stage, tmp_path):
    iam = boto3.client("iam")
    role = iam.create_role(RoleName="r", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    lam, sqs = boto3.client("lambda"), boto3.client("sqs")
    function = lam.create_function(FunctionName="async-catalog-dev-process_product_queue", Runtime="python3.11",
                                   Role=role, Handler="app.handler", Code={"ZipFile": _zip()})["FunctionArn"]
    url = sqs.create_queue(QueueName="product-queue")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    mapping = lam.create_event_source_mapping(EventSourceArn=arn, FunctionName=function, BatchSize=10)["UUID"]
    (tmp_path / "deployed").mkdir()
    (tmp_path / "deployed" / "dev.json").write_text(json.dumps({"resources": [
        {"name": "api_handler", "resource_type": "lambda_function"},
        {"name": "process_product_queue-sqs-event-source", "resource_type": "sqs_event", "event_uuid": mapping},
    ]}))

    assert enable_batch_item_failures(stage, lam, tmp_path) == [mapping]
    assert lam.get_event_source_mapping(UUID=mapping)["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
