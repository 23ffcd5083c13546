"""Check recorded AWS calls against an IAM policy document.

A small evaluator, enough for the Allow-only, action-and-resource policies
infra/iam.py writes: an action is allowed when some statement names it (glob)
and one of that statement's resources matches the call's ARN (glob).
"""
import contextlib
import functools
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
        # SQS authorises a batch call with its single-message action.
        action = operation.removesuffix("Batch") if operation.endswith("MessageBatch") or \
            operation == "ChangeMessageVisibilityBatch" else operation
        return [(f"sqs:{action}", f"arn:aws:sqs:{REGION}:{ACCOUNT}:{name}")]
    if service == "dynamodb":
        if "TransactItems" in params:  # IAM checks each item's own action (there is no TransactWriteItems action)
            actions = {"Put": "PutItem", "Update": "UpdateItem", "Delete": "DeleteItem",
                       "ConditionCheck": "ConditionCheckItem", "Get": "GetItem"}
            return [(f"dynamodb:{actions[kind]}", f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{body['TableName']}")
                    for item in params["TransactItems"] for kind, body in item.items()]
        if "Statements" in params:  # PartiQL: IAM checks each statement's own action on its table
            from benchmarks.awsstub import partiql_insert  # the one statement the app sends: INSERT
            tables = [partiql_insert(s["Statement"], s.get("Parameters", []))[0] for s in params["Statements"]]
            return [("dynamodb:PartiQLInsert", f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{t}") for t in tables]
        tables = list(params.get("RequestItems", {})) or [params["TableName"]]
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


# Every (function, IAM action, ARN) any recorder saw in this process: the replay tests run the flows, and
# tests/integration/test_orders_iam.py then checks every granted action was needed by one of them.
EXERCISED: set[tuple[str, str, str]] = set()
REPLAYS: dict[str, object] = {}  # name -> replay test function, in definition order
REPLAYED: set[str] = set()  # the replays that passed in this process


def replay(test):
    """Mark a test as a replay of real flows: the action coverage check runs it when it has not run yet."""
    @functools.wraps(test)
    def run(*args, **kwargs):
        result = test(*args, **kwargs)
        REPLAYED.add(test.__name__)
        return result
    REPLAYS[test.__name__] = run
    return run


class CallRecorder:
    """Records every API call made through chalicelib.aws clients, with the function that made it."""

    def __init__(self):
        self.calls: list[tuple[str, str, dict]] = []
        self.by_function: dict[str, list[tuple[str, str, dict]]] = {}
        # Not thread-local: a handler's own worker threads (the splitter's
        # parallel sends) act for it too; handlers are delivered one at a time.
        self._current = type("Current", (), {"name": None})()

    def attribute(self, app) -> "CallRecorder":
        """Tag calls with the event handler they come from; anything else is the REST API's function."""
        self._restore = (app, dict(app.handler_map))
        for name, handler in list(app.handler_map.items()):
            def tagged(event, context, _handler=handler, _name=name):
                self._current.name = _name
                try:
                    return _handler(event, context)
                finally:
                    self._current.name = None
            app.handler_map[name] = tagged
        return self

    def restore(self) -> None:
        """Undo `attribute`: the app's handlers as they were."""
        app, handlers = self._restore
        app.handler_map.update(handlers)

    @contextlib.contextmanager
    def paused(self):
        """Calls a test makes to set the scene, which no function of the app would make there."""
        self._paused = True
        try:
            yield
        finally:
            self._paused = False

    def denied_by_function(self, policy_for) -> list[str]:
        return [f"{function}: {line}" for function, calls in self.by_function.items()
                for line in _denied(calls, policy_for(function))]

    def attach(self, services=("sqs", "dynamodb", "s3", "sns")):
        from chalicelib import aws
        for service in services:
            aws.client(service).meta.events.register("provide-client-params.*.*", self._record)
        return self

    def _record(self, params, model, **_):
        if getattr(self, "_paused", False):
            return
        call = (model.service_model.endpoint_prefix, model.name, dict(params))
        self.calls.append(call)
        function = getattr(self._current, "name", None) or "api_handler"
        self.by_function.setdefault(function, []).append(call)
        EXERCISED.update((function, action, arn) for action, arn in call_targets(*call))

    def denied(self, policy: dict) -> list[str]:
        return _denied(self.calls, policy)


def _denied(calls, policy: dict) -> list[str]:
    return [f"{action} on {arn}"
            for service, operation, params in calls
            for action, arn in call_targets(service, operation, params)
            if not allowed(policy, action, arn)]
