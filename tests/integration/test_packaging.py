"""`chalice package` gives a valid CloudFormation handoff with our resources and partial batch responses on."""
import atexit
import contextlib
import functools
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

import pytest
from pathlib import Path

from infra.package import package
from infra.stage import PROJECT_DIR


# cfn-lint findings accepted on the packaged templates, by rule id, with why. None today: the test fails on
# any error or warning not listed here.
CFN_LINT_EXPLAINED: dict[str, str] = {}


@functools.lru_cache(maxsize=None)
def packaged(stage_name: str) -> Path:
    """The stage's `make package` output, built once per test run (the tests/integration/test_cfn_* modules too).

    A stage of .chalice/config.json, or a test-only one of VARIANTS, packaged from a copy of the project."""
    from infra.stage import Stage
    stage = variant(stage_name) if stage_name in VARIANTS else Stage.load(stage_name)
    out = Path(tempfile.mkdtemp(prefix=f"package-{stage_name}-"))
    atexit.register(shutil.rmtree, out, True)
    with stage_environment(stage):
        return package(stage, stage.load_app(), out)


# Test-only stages: (the stage they copy, what they change). `pg` keeps products in PostgreSQL, the way a
# user's postgres stage would; `traced` turns on Chalice's xray. Neither is in .chalice/config.json.
VARIANTS: dict[str, tuple[str, dict]] = {
    "pg": ("dev", {"environment_variables": {"PRODUCT_STORE": "postgres"},
                   "lambda_functions": {"migrate_product_db": {"lambda_timeout": 300, "lambda_memory_size": 256}}}),
    "traced": ("dev", {"xray": True}),
}


@contextlib.contextmanager
def stage_environment(stage):
    """The process's environment and app as they were afterwards: the other tests expect dev's."""
    from infra.stage import Stage
    saved, path = dict(os.environ), list(sys.path)
    os.environ["PRODUCT_STORE"] = stage.product_store  # as `python -m infra` does
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)
        sys.path[:] = path
        Stage.load("dev").load_app()


@functools.lru_cache(maxsize=None)
def variant(name: str):
    """A test-only stage in a copy of the project (sources linked, not copied) with its policy files written."""
    from infra import iam
    from infra.stage import Stage
    base_name, changes = VARIANTS[name]
    project = Path(tempfile.mkdtemp(prefix=f"project-{name}-"))
    atexit.register(shutil.rmtree, project, True)  # links and JSON: the linked sources stay
    for entry in ("app.py", "chalicelib", "requirements.txt"):
        (project / entry).symlink_to(PROJECT_DIR / entry)
    (project / ".chalice").mkdir()
    (project / ".chalice" / "deployments").symlink_to(PROJECT_DIR / ".chalice" / "deployments", True)
    config = json.loads((PROJECT_DIR / ".chalice" / "config.json").read_text())
    stage_config = json.loads(json.dumps(config["stages"][base_name]))
    for key, value in changes.items():
        if isinstance(value, dict):
            for inner, setting in value.items():
                merged = {**stage_config.setdefault(key, {}).get(inner, {}), **setting} \
                    if isinstance(setting, dict) else setting
                stage_config[key][inner] = merged
        else:
            stage_config[key] = value
    for function, settings in stage_config.get("lambda_functions", {}).items():
        settings["iam_policy_file"] = f"policy-{name}-{function}.json"
    config["stages"][name] = stage_config
    (project / ".chalice" / "config.json").write_text(json.dumps(config, indent=2))
    stage = Stage.load(name, project)
    with stage_environment(stage):
        iam.write(stage, stage.load_app())
    return stage


def resolve_sub(value, names: dict):
    """A template fragment with each Fn::Sub string filled from names (anything else left as it is)."""
    if isinstance(value, dict):
        if set(value) == {"Fn::Sub"} and isinstance(value["Fn::Sub"], str):
            return re.sub(r"\$\{([^}]+)\}", lambda m: names[m.group(1)], value["Fn::Sub"])
        return {k: resolve_sub(v, names) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve_sub(v, names) for v in value]
    return value


@pytest.fixture(scope="module")
def template():
    sam = packaged("dev")
    return sam, json.loads(sam.read_text())


def test_template_creates_every_resource_with_its_dead_letter_queue(template):
    _, resources = template[0], template[1]["Resources"]
    assert resources["ProductQueue"]["Properties"]["QueueName"] == "product-queue"
    assert resources["ProductQueueDlq"]["Properties"]["QueueName"] == "product-queue-dlq"
    assert resources["ProductQueue"]["Properties"]["RedrivePolicy"]["maxReceiveCount"] == 5
    # six times the worker's 30 s timeout
    assert resources["ProductQueue"]["Properties"]["VisibilityTimeout"] == 180
    assert resources["ProductTable"]["Properties"]["TableName"] == "ProductTable"
    # S3 names are global: in AWS the stage's bucket names end in the NameSuffix parameter.
    assert resources["ReportsBucket"]["Properties"]["BucketName"] == {
        "Fn::Sub": "async-catalog-reports-dev${NameSuffix}"}
    assert resources["UploadFailuresQueueDlq"]["Properties"]["QueueName"] == "upload-failures-dlq"


def test_every_sqs_event_source_reports_batch_item_failures(template):
    events = [event for resource in template[1]["Resources"].values()
              if resource["Type"] == "AWS::Serverless::Function"
              for event in resource["Properties"].get("Events", {}).values() if event["Type"] == "SQS"]
    assert events
    for event in events:
        assert event["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    batch_sizes = {e["Properties"]["Queue"]["Fn::GetAtt"][0]: e["Properties"]["BatchSize"] for e in events}
    expected = {"ProductQueue": 10, "LogQueue": 100, "LogSplitQueue": 1, "InvoiceIngestQueue": 1, "OrdersQueue": 10,
                "UploadFailuresQueue": 10}
    assert batch_sizes == expected
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


def test_functions_get_the_generated_policies_for_the_stacks_account_and_bucket_names(template):
    from infra import iam
    from infra.cloudformation import functions
    from infra.stage import CHALICE_DIR, Stage
    stage, resources = Stage.load("dev"), template[1]["Resources"]
    for logical_id, function in functions(template[1]).items():
        properties = resources[logical_id]["Properties"]
        assert properties["FunctionName"] == stage.lambda_function_name(function)  # what the log-group grant names
        [policy] = resources[properties["Role"]["Fn::GetAtt"][0]]["Properties"]["Policies"]
        document = policy["PolicyDocument"]
        assert '"Resource": "*"' not in json.dumps(document)
        # The template's policy is the file's, with the stack's partition, region, account and bucket suffix.
        on_disk = json.loads((CHALICE_DIR / iam.policy_filename(stage, function)).read_text())
        # The file cannot know the ids the stack creates (the topics' KMS key): it names any.
        names = {"AWS::Partition": "aws", "AWS::Region": "*", "AWS::AccountId": "*", "NameSuffix": "", "TopicsKey": "*"}
        assert resolve_sub(document, names) == on_disk, function
        suffixed = json.dumps(resolve_sub(document, {**names, "NameSuffix": "-123456789012-us-east-1"}))
        for bucket in re.findall(r"arn:aws:s3:::([^/\"]+)", suffixed):
            assert bucket.endswith("-123456789012-us-east-1")


def test_functions_read_the_suffixed_bucket_names_from_the_same_variables(template):
    from infra.cloudformation import functions
    from infra.resources import RESOURCES, Bucket
    resources = template[1]["Resources"]
    for logical_id in functions(template[1]):
        variables = resources[logical_id]["Properties"]["Environment"]["Variables"]
        assert variables["INPUT_LOGS_BUCKET_NAME"] == {"Fn::Sub": "input-logs${NameSuffix}"}
        assert variables["INVOICES_BUCKET_NAME"] == {"Fn::Sub": "notas-fiscais${NameSuffix}"}
        assert variables["PRODUCT_QUEUE_NAME"] == "product-queue"  # queues and tables are per account: no suffix
        for lid, resource in RESOURCES.items():
            if isinstance(resource, Bucket):
                assert variables[resource.env] == resources[lid]["Properties"]["BucketName"]


def test_every_stages_template_passes_cfn_lint():
    templates = [str(packaged(name)) for name in ("dev", "prod", *VARIANTS)]
    ignored = ["--ignore-checks", *CFN_LINT_EXPLAINED] if CFN_LINT_EXPLAINED else []
    result = subprocess.run([str(Path(sys.executable).with_name("cfn-lint")), *ignored, "--", *templates],
                            capture_output=True, text=True, cwd=PROJECT_DIR,
                            env={**os.environ, "AWS_DEFAULT_REGION": "us-east-1"})
    assert result.returncode == 0, result.stdout + result.stderr  # warnings too give a non-zero code


def test_functions_that_publish_get_the_topics_arn_and_need_not_ask_sts(template):
    # A postgres stage runs process_orders in a VPC with no route to STS: the ARN must come from the stack.
    from infra.cloudformation import functions
    resources = template[1]["Resources"]
    publishers = [lid for lid in functions(template[1])
                  if "ORDER_NOTIFICATIONS_TOPIC_NAME" in resources[lid]["Properties"]["Environment"]["Variables"]]
    assert publishers
    for logical_id in publishers:
        arn = resources[logical_id]["Properties"]["Environment"]["Variables"]["ORDER_NOTIFICATIONS_TOPIC_ARN"]
        assert resources[arn["Ref"]]["Type"] == "AWS::SNS::Topic"
