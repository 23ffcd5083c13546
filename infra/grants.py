"""What each function may do, on which resource: infra/resources.py's GRANTS, checked, plus what its triggers imply.

One answer for everything that asks: infra/iam.py writes it as the policies
(the .chalice files and the template's roles), and infra/product_db.py reads
it to know which AWS services the functions in the database's VPC call (each
needs an endpoint there). It is kept apart from the policies so that the
network can read the grants while the policies name the network's resources,
without either module importing the other.
"""
from infra.resources import GRANTS, RESOURCES, Bucket, Queue, Table, Topic
from infra.stage import Stage

SERVICE = {Queue: "sqs", Table: "dynamodb", Bucket: "s3", Topic: "sns"}
# What Lambda's SQS event source mapping does with the consumer's role (AWSLambdaSQSQueueExecutionRole).
CONSUME = ("DeleteMessage", "GetQueueAttributes", "ReceiveMessage")
# Actions GRANTS may name per resource type: a typo fails loudly rather than granting nothing.
VALID = {
    Queue: {"GetQueueUrl", "SendMessage", *CONSUME},
    Table: {"BatchGetItem", "BatchWriteItem", "ConditionCheckItem", "DeleteItem", "GetItem", "PartiQLInsert", "PutItem",
            "Query", "Scan", "UpdateItem"},
    Bucket: {"GetObject", "ListBucket", "PutObject"},
    Topic: {"Publish"},
}


def function_grants(stage: Stage, app) -> dict[str, dict[str, set[str]]]:
    """Function -> logical id -> IAM actions (without the service prefix), from GRANTS plus what event sources imply."""
    grants: dict[str, dict[str, set[str]]] = {"api_handler": {}}
    for source in app.event_sources:
        grants.setdefault(source.name, {})
    for function in app.pure_lambda_functions:  # @app.lambda_function: invoked, not triggered
        grants.setdefault(function.name, {})
    for authorizer in app.builtin_auth_handlers:  # @app.authorizer: its own Lambda, invoked by API Gateway
        grants.setdefault(authorizer.name, {})
    for function, by_resource in GRANTS.items():
        for logical_id, actions in by_resource.items():
            invalid = set(actions) - VALID[type(RESOURCES[logical_id])]
            if invalid:
                raise ValueError(f"GRANTS[{function!r}][{logical_id!r}] names unknown actions {sorted(invalid)}")
            if not stage.uses(logical_id):  # ProductTable on a postgres stage: not in its template at all
                grants.setdefault(function, {})
                continue
            grants.setdefault(function, {}).setdefault(logical_id, set()).update(actions)
    for logical_id, functions in stage.sqs_consumers(app).items():
        for function in functions:
            grants[function].setdefault(logical_id, set()).update(CONSUME)
    return grants
