"""Create the stage's resources through the AWS API, for `make run` and the tests (the local emulator).

Idempotent: what exists is left as it is, so it can run at every start. Names
are the stage's own (no account suffix) and only what behaves locally is set:
the AWS-only safety settings (retention policies, encryption, alarms) are in
the packaged template (infra/package.py), which `make deploy` uses.
"""
import json

import boto3

from infra.resources import RESOURCES, USER_POOL, Bucket, Queue, Table, Topic
from infra.stage import Stage, dlq_name


def table_params(name: str, table: Table) -> dict:
    keys = [(table.hash_key, "HASH")] + ([(table.range_key, "RANGE")] if table.range_key else [])
    attributes = {key for key, _ in keys}
    indexes = []
    for index_name, (hash_key, range_key) in table.indexes.items():
        index_keys = [(hash_key, "HASH")] + ([(range_key, "RANGE")] if range_key else [])
        attributes.update(key for key, _ in index_keys)
        indexes.append({
            "IndexName": index_name,
            "KeySchema": [{"AttributeName": k, "KeyType": t} for k, t in index_keys],
            "Projection": {"ProjectionType": table.projections.get(index_name, "ALL")},
        })
    params = {
        "TableName": name,
        "BillingMode": "PAY_PER_REQUEST",
        "KeySchema": [{"AttributeName": k, "KeyType": t} for k, t in keys],
        "AttributeDefinitions": [{"AttributeName": a, "AttributeType": "S"} for a in sorted(attributes)],
    }
    if indexes:
        params["GlobalSecondaryIndexes"] = indexes
    return params


def provision(stage: Stage, app, session: boto3.session.Session | None = None) -> dict[str, str]:
    """Create every resource; return logical id -> name (queues: URL)."""
    session = session or boto3.session.Session()
    sqs, dynamodb, s3, sns = (session.client(s) for s in ("sqs", "dynamodb", "s3", "sns"))
    created: dict[str, str] = {}
    for logical_id, resource in RESOURCES.items():
        name = stage.resource_name(logical_id)
        if isinstance(resource, Queue):
            dlq_url = sqs.create_queue(
                QueueName=dlq_name(name),
                Attributes={"MessageRetentionPeriod": str(resource.dlq_retention_seconds),
                            "MaximumMessageSize": str(resource.max_message_bytes)},
            )["QueueUrl"]
            dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
            url = sqs.create_queue(QueueName=name)["QueueUrl"]
            sqs.set_queue_attributes(QueueUrl=url, Attributes={
                "VisibilityTimeout": str(stage.visibility_timeout(app, logical_id)),
                "MessageRetentionPeriod": str(resource.retention_seconds),
                "MaximumMessageSize": str(resource.max_message_bytes),
                "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn,
                                             "maxReceiveCount": str(resource.max_receive_count)}),
            })
            created[logical_id] = url
        elif isinstance(resource, Table):
            try:
                dynamodb.create_table(**table_params(name, resource))
                if resource.ttl_attribute:
                    dynamodb.update_time_to_live(TableName=name, TimeToLiveSpecification={
                        "Enabled": True, "AttributeName": resource.ttl_attribute})
            except dynamodb.exceptions.ResourceInUseException:
                pass
            created[logical_id] = name
        elif isinstance(resource, Bucket):
            try:
                if session.region_name in (None, "us-east-1"):
                    s3.create_bucket(Bucket=name)
                else:
                    s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": session.region_name})
            except (s3.exceptions.BucketAlreadyOwnedByYou, s3.exceptions.BucketAlreadyExists):
                pass
            created[logical_id] = name
        elif isinstance(resource, Topic):
            created[logical_id] = sns.create_topic(Name=name)["TopicArn"]
    return created


def provision_user_pool(stage: Stage, session: boto3.session.Session | None = None) -> dict[str, str]:
    """The stage's user pool, its app client and groups (created, or found by name); the settings naming them.

    What it returns (COGNITO_USER_POOL_ID, COGNITO_APP_CLIENT_ID) is what the template sets on the authorizer
    on AWS: the caller puts it in the app's environment.
    """
    cognito = (session or boto3.session.Session()).client("cognito-idp")
    name = stage.environment[USER_POOL.env]
    pools = [p for page in cognito.get_paginator("list_user_pools").paginate(MaxResults=60)
             for p in page["UserPools"] if p["Name"] == name]
    pool_id = pools[0]["Id"] if pools else cognito.create_user_pool(
        PoolName=name, AdminCreateUserConfig={"AllowAdminCreateUserOnly": True})["UserPool"]["Id"]
    clients = cognito.list_user_pool_clients(UserPoolId=pool_id, MaxResults=60)["UserPoolClients"]
    client_id = clients[0]["ClientId"] if clients else cognito.create_user_pool_client(
        UserPoolId=pool_id, ClientName=f"{name}-api", GenerateSecret=False,
        ExplicitAuthFlows=list(USER_POOL.auth_flows),
        IdTokenValidity=USER_POOL.id_token_minutes, TokenValidityUnits={"IdToken": "minutes"},
    )["UserPoolClient"]["ClientId"]
    existing = {g["GroupName"] for g in cognito.list_groups(UserPoolId=pool_id)["Groups"]}
    for group in USER_POOL.groups:
        if group not in existing:
            cognito.create_group(UserPoolId=pool_id, GroupName=group)
    return {USER_POOL.id_env: pool_id, USER_POOL.client_env: client_id}
