"""Generate a least-privilege IAM policy per Lambda function from its grants (infra/grants.py).

Chalice's autogen policy sees only app.py and grants "Resource": "*"; these
files grant each function the actions it needs on the resources it uses,
named per stage. Run `python -m infra policies` after changing resources or
grants; a test fails when the files on disk are stale.

The same documents go into the packaged CloudFormation template (`cfn=True`,
the packaging's grants step, `grant`), with `Fn::Sub` ARNs naming the stack's
partition, region and account, and the buckets' `${NameSuffix}`: there the
bucket names are only known at deploy time.

Beyond infra/resources.py's resources, two stage settings add grants, each only
where it applies: a function that uses the product database on a postgres stage
may read that database's secret and manage its VPC network interfaces (the
template then names the secret, subnets and security group; the file, which
cannot know them, names their kind), and a function traced by X-Ray (Chalice's
`xray`) may send segments.

A function that publishes to a KMS-encrypted topic (a Topic with a `key`) may
also use that key, as SNS does with the publisher's own credentials when it
encrypts the message: kms:GenerateDataKey and kms:Decrypt, only under the
encryption context SNS sets for that topic (its ARN). The template names the
stack's key; the file, which cannot know its id, any key, still for that topic only.
"""
import json
from pathlib import Path

from infra import product_db
from infra.grants import SERVICE, function_grants
from infra.resources import GRANTS, RESOURCES, Bucket, Queue, Table, Topic, product_database_functions
from infra.stage import Stage

# What SNS does with the publisher's credentials on the topic's key when it encrypts a published message.
TOPIC_KEY_ACTIONS = ("kms:Decrypt", "kms:GenerateDataKey")
# Bucket actions on the bucket itself rather than on its objects.
BUCKET_LEVEL = {"ListBucket"}
# What Lambda does with the role of a function in a VPC (the actions of AWSLambdaVPCAccessExecutionRole).
ENI_ACTIONS = ("ec2:AssignPrivateIpAddresses", "ec2:CreateNetworkInterface", "ec2:DeleteNetworkInterface",
               "ec2:UnassignPrivateIpAddresses")
ENI_DESCRIBE = ("ec2:DescribeNetworkInterfaces", "ec2:DescribeSubnets")
XRAY_ACTIONS = ("xray:PutTelemetryRecords", "xray:PutTraceSegments")
# Actions IAM authorises only on "*" (they have no resource-level permissions): the one exception to
# "every grant names its resources", checked by tests/integration/test_iam_policies.py.
STAR_ONLY = frozenset(ENI_DESCRIBE + XRAY_ACTIONS)


def resource_arns(resource, name: str, cfn: bool = False) -> list:
    """The ARNs of a resource; with cfn, Fn::Sub expressions for the stack's account, region and bucket suffix."""
    if cfn:
        where = "${AWS::Partition}", "${AWS::Region}:${AWS::AccountId}"
        name = f"{name}${{NameSuffix}}" if isinstance(resource, Bucket) else name
    else:
        where = "aws", "*:*"
    partition, scope = where
    if isinstance(resource, Queue):
        arns = [f"arn:{partition}:sqs:{scope}:{name}"]
    elif isinstance(resource, Table):
        table = f"arn:{partition}:dynamodb:{scope}:table/{name}"
        arns = [table, f"{table}/index/*"]
    elif isinstance(resource, Bucket):
        arns = [f"arn:{partition}:s3:::{name}", f"arn:{partition}:s3:::{name}/*"]
    elif isinstance(resource, Topic):
        arns = [f"arn:{partition}:sns:{scope}:{name}"]
    else:
        raise TypeError(resource)
    return [{"Fn::Sub": arn} for arn in arns] if cfn else arns


def policy_document(stage: Stage, function: str, access: dict[str, set[str]], cfn: bool = False) -> dict:
    log_group: dict | str  # a CloudFormation Fn::Sub, or the ARN pattern the file can know
    log_resources: list[dict | str]
    if cfn:
        log_group = {"Fn::Sub": "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:"
                                f"/aws/lambda/{stage.lambda_function_name(function)}"}
        log_resources = [log_group, {"Fn::Sub": log_group["Fn::Sub"] + ":*"}]
    else:
        log_group = f"arn:aws:logs:*:*:log-group:/aws/lambda/{stage.lambda_function_name(function)}"
        log_resources = [log_group, f"{log_group}:*"]
    statements = [{
        "Sid": "WriteOwnLogs",
        "Effect": "Allow",
        "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
        "Resource": log_resources,
    }]
    for logical_id in sorted(access):
        resource = RESOURCES[logical_id]
        service = SERVICE[type(resource)]
        arns = resource_arns(resource, stage.resource_name(logical_id), cfn)
        if isinstance(resource, Bucket):  # object actions on objects, bucket actions on the bucket: no more
            groups = [(sorted(access[logical_id] - BUCKET_LEVEL), arns[1:], ""),
                      (sorted(access[logical_id] & BUCKET_LEVEL), arns[:1], "Bucket")]
        elif isinstance(resource, Table) and not (resource.indexes and access[logical_id] & {"Query", "Scan"}):
            groups = [(sorted(access[logical_id]), arns[:1], "")]  # no index to read: the table alone
        else:
            groups = [(sorted(access[logical_id]), arns, "")]
        for actions, resources, suffix in groups:
            if actions:
                statements.append({
                    "Sid": f"{logical_id}{suffix}",
                    "Effect": "Allow",
                    "Action": [f"{service}:{a}" for a in actions],
                    "Resource": resources,
                })
        if isinstance(resource, Topic) and resource.key and "Publish" in access[logical_id]:
            statements.append(topic_key_statement(logical_id, resource.key, arns, cfn))
    if stage.has_product_database and function in product_database_functions():
        statements += product_database_statements(stage, cfn)
    if stage.xray(function):
        # Lambda's active tracing sends the function's segments with its role.
        statements.append({"Sid": "XRayTracing", "Effect": "Allow", "Action": list(XRAY_ACTIONS), "Resource": ["*"]})
    return {"Version": "2012-10-17", "Statement": statements}


def topic_key_statement(topic: str, key: str, topic_arns: list, cfn: bool = False) -> dict:
    """The topic's KMS key, for publishing to that topic alone (the encryption context SNS sets names it)."""
    key_arn = {"Fn::Sub": f"arn:${{AWS::Partition}}:kms:${{AWS::Region}}:${{AWS::AccountId}}:key/${{{key}}}"} \
        if cfn else "arn:aws:kms:*:*:key/*"
    return {"Sid": f"{topic}Key", "Effect": "Allow", "Action": list(TOPIC_KEY_ACTIONS), "Resource": [key_arn],
            "Condition": {"StringLike": {"kms:EncryptionContext:aws:sns:topicArn": topic_arns}}}


def product_database_statements(stage: Stage, cfn: bool = False) -> list[dict]:
    """A function in the product database's VPC: its network interfaces, and the database's secret."""
    group: dict | str  # a CloudFormation Fn::Sub, or the ARN pattern the file can know
    secret: dict | str
    if cfn:
        def ec2(kind: str, name: str = "*"):
            return {"Fn::Sub": f"arn:${{AWS::Partition}}:ec2:${{AWS::Region}}:${{AWS::AccountId}}:{kind}/{name}"}
        subnets = [ec2("subnet", product_db.sub_name(subnet)) for subnet in product_db.subnets(stage.settings)]
        group = ec2("security-group", f"${{{product_db.CLIENT_SG}.GroupId}}")
        secret = product_db.secret_arn()
    else:  # the file cannot know ids the stack creates: their kind, in any region and account
        def ec2(kind: str, name: str = "*"):
            return f"arn:aws:ec2:*:*:{kind}/{name}"
        subnets = list(dict.fromkeys(ec2("subnet", s if isinstance(s, str) else "*")
                                     for s in product_db.subnets(stage.settings)))
        group = ec2("security-group")
        secret = product_db.SECRET_ARN_PATTERN
    interfaces = ec2("network-interface")
    return [
        # Creating an interface names the subnet and security group too; the rest act on the interface alone.
        {"Sid": "VpcNetworkInterfaces", "Effect": "Allow", "Action": ["ec2:CreateNetworkInterface"],
         "Resource": [interfaces, *subnets, group]},
        {"Sid": "VpcNetworkInterfaceUse", "Effect": "Allow",
         "Action": [a for a in ENI_ACTIONS if a != "ec2:CreateNetworkInterface"], "Resource": [interfaces]},
        {"Sid": "VpcDescribe", "Effect": "Allow", "Action": list(ENI_DESCRIBE), "Resource": ["*"]},
        {"Sid": "ProductDbSecret", "Effect": "Allow", "Action": ["secretsmanager:GetSecretValue"],
         "Resource": [secret]},
    ]


def grant(template: dict, stage: Stage, app, functions: dict[str, str]) -> None:
    """Packaging's grants step: each function's role in Chalice's template gets its policy, with the stack's ARNs.

    `functions` maps the template's function logical ids to Chalice's names (cloudformation.functions)."""
    grants = function_grants(stage, app)
    declared = template["Resources"]
    for logical_id, function in functions.items():
        role = declared[declared[logical_id]["Properties"]["Role"]["Fn::GetAtt"][0]]["Properties"]
        [policy] = role["Policies"]
        policy["PolicyDocument"] = policy_document(stage, function, grants.get(function, {}), cfn=True)


def policy_filename(stage: Stage, function: str) -> str:
    return f"policy-{stage.name}-{function}.json"


def generate(stage: Stage, app) -> dict[str, str]:
    """File name (in .chalice/) -> content, for every function of the stage."""
    return {
        policy_filename(stage, function): json.dumps(policy_document(stage, function, access), indent=2) + "\n"
        for function, access in function_grants(stage, app).items()
    }


def write(stage: Stage, app, directory: Path | None = None) -> list[str]:
    directory = directory or stage.chalice_dir
    files = generate(stage, app)
    for filename, content in files.items():
        (directory / filename).write_text(content)
    return sorted(files)


def problems(stage: Stage, app, directory: Path | None = None) -> list[str]:
    """Why the policy files on disk, or config.json's references to them, do not match the definition."""
    directory = directory or stage.chalice_dir
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
    defined = {"api_handler", *(source.name for source in app.event_sources),
               *(function.name for function in app.pure_lambda_functions),
               *(authorizer.name for authorizer in app.builtin_auth_handlers)}
    for function in sorted(set(GRANTS) - defined):
        found.append(f"infra/resources.py grants {function}, which app.py does not define")
    if stage.config.get("autogen_policy", True) is not False:
        found.append("autogen_policy must be false in .chalice/config.json")
    return found
