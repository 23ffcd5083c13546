"""Check recorded AWS calls against an IAM policy document.

A small evaluator, enough for the Allow-only, action-and-resource policies
infra/iam.py writes: an action is allowed when some statement names it (glob)
and one of that statement's resources matches the call's ARN (glob).
"""
from fnmatch import fnmatchcase
from urllib.parse import urlparse

REGION, ACCOUNT = "us-east-1", "123456789012"
# Operations whose IAM action has another name.
S3_ACTIONS = {"HeadObject": "s3:GetObject", "ListObjectsV2": "s3:ListBucket", "ListObjects": "s3:ListBucket",
              "HeadBucket": "s3:ListBucket"}


def call_targets(service: str, operation: str, params: dict) -> list[tuple[str, str]]:
    """(IAM action, resource ARN) pairs one API call needs."""
    if service == "s3":
        action = S3_ACTIONS.get(operation, f"s3:{operation}")
        bucket, key = params["Bucket"], params.get("Key")
        return [(action, f"arn:aws:s3:::{bucket}/{key}" if key is not None else f"arn:aws:s3:::{bucket}")]
    if service == "sqs":
        name = params.get("QueueName") or urlparse(params["QueueUrl"]).path.rstrip("/").rsplit("/", 1)[-1]
        return [(f"sqs:{operation}", f"arn:aws:sqs:{REGION}:{ACCOUNT}:{name}")]
    if service == "dynamodb":
        tables = list(params.get("RequestItems", {})) or [params["TableName"]]
        if "TransactItems" in params:
            tables = [next(iter(i.values()))["TableName"] for i in params["TransactItems"]]
        suffix = f"/index/{params['IndexName']}" if params.get("IndexName") else ""
        return [(f"dynamodb:{operation}", f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{t}{suffix}") for t in tables]
    if service == "sns":
        return [(f"sns:{operation}", params["TopicArn"])]
    raise ValueError(f"no IAM mapping for {service}:{operation}")


def allowed(policy: dict, action: str, arn: str) -> bool:
    for statement in policy["Statement"]:
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        if statement["Effect"] == "Allow" and any(fnmatchcase(action, a) for a in actions) \
                and any(fnmatchcase(arn, r) for r in resources):
            return True
    return False


class CallRecorder:
    """Records every API call made through chalicelib.aws clients."""

    def __init__(self):
        self.calls: list[tuple[str, str, dict]] = []

    def attach(self, services=("sqs", "dynamodb", "s3", "sns")):
        from chalicelib import aws
        for service in services:
            aws.client(service).meta.events.register("provide-client-params.*.*", self._record)
        return self

    def _record(self, params, model, **_):
        self.calls.append((model.service_model.endpoint_prefix if model.service_model.endpoint_prefix != "email"
                           else "ses", model.name, dict(params)))

    def denied(self, policy: dict) -> list[str]:
        return [f"{action} on {arn}"
                for service, operation, params in self.calls
                for action, arn in call_targets(service, operation, params)
                if not allowed(policy, action, arn)]
