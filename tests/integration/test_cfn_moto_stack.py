"""The template's resources deploy on CloudFormation (moto's) and equal what `make run` provisions.

moto's CloudFormation has no SAM transform (`AWS::Serverless-2016-10-31`), so
the stack deployed here is `resource_template`: the part of the packaged
template built from infra/resources.py alone (queues with redrive, tables with
indexes, buckets, topics, alarms), which `make package` merges into Chalice's
output unchanged. The functions, the API and what refers to them are checked
on the packaged template itself (test_packaging, test_cfn_template) and by
cfn-lint, which does run the SAM transform.
"""
import json
import warnings

import boto3
import pytest

from infra.cloudformation import resource_template
from infra.resources import RESOURCES, Bucket, Queue, Table, Topic
from infra.stage import dlq_name

REGION, ACCOUNT = "us-west-2", "123456789012"  # the emulator's stack; `make run`'s set is in us-east-1
SUFFIX = f"-{ACCOUNT}-{REGION}"
# What moto's CloudFormation skips (with a warning), and how each is still checked.
MOTO_UNSUPPORTED = {
    "AWS::CloudWatch::Alarm": "put through CloudWatch's API from the template's own properties below",
    "AWS::S3::BucketPolicy": "its statement is checked on the template (test_cfn_template)",
    # moto implements cognito-idp's API but not its CloudFormation resources.
    "AWS::Cognito::UserPool": "created through cognito-idp's API from the template's own properties below",
    "AWS::Cognito::UserPoolClient": "likewise",
    "AWS::Cognito::UserPoolGroup": "likewise",
}


@pytest.fixture
def stack(app, stage, aws_resources):
    template = resource_template(stage, app)
    cfn = boto3.client("cloudformation", region_name=REGION)
    with warnings.catch_warnings(record=True) as caught:  # moto parses the template again when described
        warnings.simplefilter("always")
        cfn.create_stack(StackName="async-catalog-dev", TemplateBody=json.dumps(template),
                         Parameters=[{"ParameterKey": "NameSuffix", "ParameterValue": SUFFIX},
                                     {"ParameterKey": "AlarmEmail", "ParameterValue": ""}])
        [described] = cfn.describe_stacks(StackName="async-catalog-dev")["Stacks"]
        assert described["StackStatus"] == "CREATE_COMPLETE", described.get("StackStatusReason")
        physical = {r["LogicalResourceId"]: r["PhysicalResourceId"]  # moto lists what it skipped without ids
                    for r in cfn.describe_stack_resources(StackName="async-catalog-dev")["StackResources"]
                    if "LogicalResourceId" in r}
    skipped = {str(w.message).split("parse ", 1)[1].split(" ", 1)[0] for w in caught
               if "not supported by moto's CloudFormation" in str(w.message)}
    return template, physical, skipped


def queue_shape(sqs, name: str) -> dict:
    url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    redrive = json.loads(attributes.get("RedrivePolicy", "null"))
    return {"VisibilityTimeout": attributes["VisibilityTimeout"],
            "MessageRetentionPeriod": attributes["MessageRetentionPeriod"],
            "MaximumMessageSize": attributes["MaximumMessageSize"],
            "redrive": redrive and (redrive["deadLetterTargetArn"].rsplit(":", 1)[1], int(redrive["maxReceiveCount"]))}


def table_shape(dynamodb, name: str) -> dict:
    table = dynamodb.describe_table(TableName=name)["Table"]
    return {"KeySchema": table["KeySchema"], "BillingMode": table["BillingModeSummary"]["BillingMode"],
            "AttributeDefinitions": sorted(table["AttributeDefinitions"], key=lambda a: a["AttributeName"]),
            "indexes": sorted((i["IndexName"], json.dumps(i["KeySchema"]), i["Projection"]["ProjectionType"])
                              for i in table.get("GlobalSecondaryIndexes", []))}


def test_the_resource_stack_deploys_and_matches_what_make_run_provisions(stack, stage):
    template, physical, skipped = stack
    assert skipped == set(MOTO_UNSUPPORTED)
    local = {s: boto3.client(s, region_name="us-east-1") for s in ("sqs", "dynamodb", "sns")}
    aws = {s: boto3.client(s, region_name=REGION) for s in ("sqs", "dynamodb", "sns", "s3")}
    for logical_id, resource in RESOURCES.items():
        name = stage.resource_name(logical_id)
        if isinstance(resource, Queue):
            for queue in (name, dlq_name(name)):
                assert queue_shape(aws["sqs"], queue) == queue_shape(local["sqs"], queue), queue
            assert queue_shape(aws["sqs"], name)["redrive"] == (dlq_name(name), resource.max_receive_count)
        elif isinstance(resource, Table):
            assert physical[logical_id] == name
            assert table_shape(aws["dynamodb"], name) == table_shape(local["dynamodb"], name), name
            ttl = local["dynamodb"].describe_time_to_live(TableName=name)["TimeToLiveDescription"]
            declared = template["Resources"][logical_id]["Properties"].get("TimeToLiveSpecification")
            assert (declared or {}).get("AttributeName") == ttl.get("AttributeName")
        elif isinstance(resource, Bucket):
            # The same bucket under its account-unique name; encrypted by default.
            assert physical[logical_id] == name + SUFFIX
            rules = aws["s3"].get_bucket_encryption(Bucket=name + SUFFIX)["ServerSideEncryptionConfiguration"]["Rules"]
            assert rules[0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
        elif isinstance(resource, Topic):
            assert physical[logical_id].rsplit(":", 1)[1] == name
    queues = {url.rsplit("/", 1)[1] for url in aws["sqs"].list_queues()["QueueUrls"]}
    assert queues == {url.rsplit("/", 1)[1] for url in local["sqs"].list_queues()["QueueUrls"]}
    assert sorted(aws["dynamodb"].list_tables()["TableNames"]) == sorted(local["dynamodb"].list_tables()["TableNames"])
    topics = {t["TopicArn"].rsplit(":", 1)[1] for t in aws["sns"].list_topics()["Topics"]}
    local_topics = {t["TopicArn"].rsplit(":", 1)[1] for t in local["sns"].list_topics()["Topics"]}
    assert topics == local_topics | {"async-catalog-dev-alarms"}  # alarms notify only in AWS


def test_every_alarm_watches_a_queue_of_the_stack_and_notifies_the_alarm_topic(stack):
    template, physical, _ = stack
    cloudwatch = boto3.client("cloudwatch", region_name=REGION)
    alarms = {lid: r["Properties"] for lid, r in template["Resources"].items() if r["Type"] == "AWS::CloudWatch::Alarm"}
    for properties in alarms.values():  # as CloudFormation would, with the stack's topic for the Ref
        actions = [physical[a["Ref"]] for a in properties["AlarmActions"]]
        cloudwatch.put_metric_alarm(**{**properties, "AlarmActions": actions, "OKActions": actions})
    stack_queues = {physical[lid].rsplit("/", 1)[1] for lid, r in template["Resources"].items()
                    if r["Type"] == "AWS::SQS::Queue"}
    described = cloudwatch.describe_alarms()["MetricAlarms"]
    assert len(described) == len(alarms)
    for alarm in described:
        assert alarm["AlarmActions"] == [physical["AlarmTopic"]]
        dimensions = {d["Name"]: d["Value"] for d in alarm["Dimensions"]}
        if alarm["Namespace"] == "AWS/SQS":
            assert dimensions["QueueName"] in stack_queues, alarm["AlarmName"]
        else:
            assert (alarm["Namespace"], alarm["MetricName"], dimensions) == (
                "AWS/ApiGateway", "5XXError", {"ApiName": "async-catalog", "Stage": "api"})
    watched = {d["Value"] for a in described for d in a["Dimensions"] if d["Name"] == "QueueName"}
    assert watched == stack_queues  # every queue and every DLQ


def test_the_user_pool_of_the_template_is_the_pool_make_run_provisions(stack, stage, aws_resources):
    """As CloudFormation would create it, from the template's properties; then compared with the local pool."""
    from infra.resources import USER_POOL
    template, _, _ = stack
    resources = template["Resources"]
    cognito = boto3.client("cognito-idp", region_name=REGION)
    pool = resources["UserPool"]["Properties"]
    pool_id = cognito.create_user_pool(PoolName=pool["UserPoolName"], **{
        k: v for k, v in pool.items() if k in ("AdminCreateUserConfig", "UsernameConfiguration", "Policies",
                                                 "DeletionProtection")})["UserPool"]["Id"]
    client = {k: v for k, v in resources["UserPoolClient"]["Properties"].items() if k != "UserPoolId"}
    created = cognito.create_user_pool_client(UserPoolId=pool_id, **client)["UserPoolClient"]
    for group in (r["Properties"] for r in resources.values() if r["Type"] == "AWS::Cognito::UserPoolGroup"):
        cognito.create_group(UserPoolId=pool_id, GroupName=group["GroupName"])

    local = boto3.client("cognito-idp", region_name="us-east-1")
    local_id = aws_resources[USER_POOL.id_env]
    local_client = local.describe_user_pool_client(UserPoolId=local_id,
                                                   ClientId=aws_resources[USER_POOL.client_env])["UserPoolClient"]
    assert local.describe_user_pool(UserPoolId=local_id)["UserPool"]["Name"] == pool["UserPoolName"]
    assert sorted(created["ExplicitAuthFlows"]) == sorted(local_client["ExplicitAuthFlows"])
    assert created.get("ClientSecret") is None and local_client.get("ClientSecret") is None
    groups = {g["GroupName"] for g in cognito.list_groups(UserPoolId=pool_id)["Groups"]}
    assert groups == {g["GroupName"] for g in local.list_groups(UserPoolId=local_id)["Groups"]} == set(USER_POOL.groups)
