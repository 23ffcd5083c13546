"""Generate a least-privilege IAM policy per Lambda function from infra/resources.py.

Chalice's autogen policy sees only app.py and grants "Resource": "*"; these
files grant each function the actions it needs on the resources it uses,
named per stage. Run `python -m infra policies` after changing resources or
grants; a test fails when the files on disk are stale.
"""
import json
from pathlib import Path

from infra.resources import GRANTS, RESOURCES, Bucket, Queue, Table, Topic
from infra.stage import CHALICE_DIR, Stage

ACTIONS = {
    (Queue, "send"): ["sqs:GetQueueUrl", "sqs:SendMessage"],
    (Queue, "consume"): ["sqs:ChangeMessageVisibility", "sqs:DeleteMessage", "sqs:GetQueueAttributes",
                         "sqs:GetQueueUrl", "sqs:ReceiveMessage"],
    (Table, "read"): ["dynamodb:BatchGetItem", "dynamodb:GetItem", "dynamodb:Query", "dynamodb:Scan"],
    (Table, "write"): ["dynamodb:BatchWriteItem", "dynamodb:DeleteItem", "dynamodb:PutItem",
                       "dynamodb:UpdateItem"],
    # ListBucket lets a missing key answer NoSuchKey instead of AccessDenied.
    (Bucket, "read"): ["s3:GetObject", "s3:ListBucket"],
    (Bucket, "write"): ["s3:PutObject"],
    (Topic, "publish"): ["sns:Publish"],
}


def resource_arns(resource, name: str) -> list[str]:
    if isinstance(resource, Queue):
        return [f"arn:aws:sqs:*:*:{name}"]
    if isinstance(resource, Table):
        return [f"arn:aws:dynamodb:*:*:table/{name}", f"arn:aws:dynamodb:*:*:table/{name}/index/*"]
    if isinstance(resource, Bucket):
        return [f"arn:aws:s3:::{name}", f"arn:aws:s3:::{name}/*"]
    if isinstance(resource, Topic):
        return [f"arn:aws:sns:*:*:{name}"]
    raise TypeError(resource)


def function_grants(stage: Stage, app) -> dict[str, dict[str, set[str]]]:
    """Function -> logical id -> access levels, from GRANTS plus what event sources imply."""
    grants: dict[str, dict[str, set[str]]] = {"api_handler": {}}
    for source in app.event_sources:
        grants.setdefault(source.name, {})
    for function, by_resource in GRANTS.items():
        for logical_id, levels in by_resource.items():
            grants.setdefault(function, {}).setdefault(logical_id, set()).update(levels)
    for logical_id, functions in stage.sqs_consumers(app).items():
        for function in functions:
            grants[function].setdefault(logical_id, set()).add("consume")
    return grants


def policy_document(stage: Stage, function: str, access: dict[str, set[str]]) -> dict:
    log_group = f"arn:aws:logs:*:*:log-group:/aws/lambda/{stage.lambda_function_name(function)}"
    statements = [{
        "Sid": "WriteOwnLogs",
        "Effect": "Allow",
        "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
        "Resource": [log_group, f"{log_group}:*"],
    }]
    for logical_id in sorted(access):
        resource = RESOURCES[logical_id]
        actions = sorted({a for level in access[logical_id] for a in ACTIONS[(type(resource), level)]})
        statements.append({
            "Sid": logical_id,
            "Effect": "Allow",
            "Action": actions,
            "Resource": resource_arns(resource, stage.resource_name(logical_id)),
        })
    return {"Version": "2012-10-17", "Statement": statements}


def policy_filename(stage: Stage, function: str) -> str:
    return f"policy-{stage.name}-{function}.json"


def generate(stage: Stage, app) -> dict[str, str]:
    """File name (in .chalice/) -> content, for every function of the stage."""
    return {
        policy_filename(stage, function): json.dumps(policy_document(stage, function, access), indent=2) + "\n"
        for function, access in function_grants(stage, app).items()
    }


def write(stage: Stage, app, directory: Path = CHALICE_DIR) -> list[str]:
    files = generate(stage, app)
    for filename, content in files.items():
        (directory / filename).write_text(content)
    return sorted(files)


def problems(stage: Stage, app, directory: Path = CHALICE_DIR) -> list[str]:
    """Why the policy files on disk, or config.json's references to them, do not match the definition."""
    found = []
    for filename, content in generate(stage, app).items():
        path = directory / filename
        if not path.exists() or path.read_text() != content:
            found.append(f".chalice/{filename} is stale: run `make policies`")
    for function in function_grants(stage, app):
        configured = stage.function_setting(function, "iam_policy_file")
        if configured != policy_filename(stage, function):
            found.append(f"stage {stage.name}: lambda_functions.{function}.iam_policy_file "
                         f"should be {policy_filename(stage, function)!r}, not {configured!r}")
    if stage.config.get("autogen_policy", True) is not False:
        found.append("autogen_policy must be false in .chalice/config.json")
    return found
