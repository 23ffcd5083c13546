"""The identity side of the template: the user pool, its app client and groups, and API Gateway's own refusals.

The pool is defined once (infra/resources.py's USER_POOL): this module puts it
in the packaged template, and infra/provision.py creates the same pool in the
emulator. The authorizer Lambda (`verify_token` in app.py, chalicelib/identity.py)
gets the pool's and the client's ids from the template's Refs.

API Gateway answers a refused token itself, before any function runs: a Lambda
authorizer that fails with "Unauthorized" is a 401 whose body is the
UNAUTHORIZED gateway response. GATEWAY_RESPONSES gives those answers the
project's JSON error shape ({"Code", "Message"}); local_runtime/gateway.py
gives `chalice local` and the tests' client the very same bodies, so a client
sees one shape wherever it runs.
"""
import json

from infra.resources import USER_POOL
from infra.stage import Stage

AUTHORIZER = "verify_token"  # app.py's @app.authorizer

# API Gateway response type -> (status, Code, Message): what the gateway itself answers.
GATEWAY_RESPONSES: dict[str, tuple[int, str, str]] = {
    "UNAUTHORIZED": (401, "Unauthorized",
                     "A valid ID token of the user pool is required in the Authorization header."),
    "ACCESS_DENIED": (403, "Forbidden", "This caller may not use this route."),
    # The authorizer could not decide (e.g. the pool's keys could not be fetched): not the caller's fault.
    "AUTHORIZER_FAILURE": (500, "AuthorizerFailure", "The token could not be checked; try again."),
    "AUTHORIZER_CONFIGURATION_ERROR": (500, "AuthorizerFailure", "The token could not be checked; try again."),
    "MISSING_AUTHENTICATION_TOKEN": (404, "NotFound", "No such route."),  # API Gateway's answer to an unknown path
}


def gateway_body(response_type: str) -> bytes:
    _, code, message = GATEWAY_RESPONSES[response_type]
    return json.dumps({"Code": code, "Message": message}).encode()


def pool_resources(stage: Stage) -> tuple[dict, dict]:
    """The pool, its client and groups (resources, outputs): part of the resource template, so that they deploy
    as a stack of their own (built from infra/resources.py alone, as the queues and tables are)."""
    resources: dict = {}
    pool_name = stage.environment[USER_POOL.env]
    # Accounts are data: deleting the stack or replacing the pool must not delete every user.
    resources["UserPool"] = {
        "Type": "AWS::Cognito::UserPool", "DeletionPolicy": "Retain", "UpdateReplacePolicy": "Retain",
        "Properties": {
            "UserPoolName": pool_name,
            # Operators create accounts (aws cognito-idp admin-create-user): nobody signs themselves up.
            "AdminCreateUserConfig": {"AllowAdminCreateUserOnly": True},
            "UsernameConfiguration": {"CaseSensitive": False},
            "Policies": {"PasswordPolicy": {"MinimumLength": 12, "RequireLowercase": True, "RequireUppercase": True,
                                            "RequireNumbers": True, "RequireSymbols": False,
                                            "TemporaryPasswordValidityDays": 7}},
            "DeletionProtection": "ACTIVE",
        },
    }
    resources["UserPoolClient"] = {"Type": "AWS::Cognito::UserPoolClient", "Properties": {
        "UserPoolId": {"Ref": "UserPool"}, "ClientName": f"{pool_name}-api", "GenerateSecret": False,
        "ExplicitAuthFlows": list(USER_POOL.auth_flows),
        "PreventUserExistenceErrors": "ENABLED",
        "IdTokenValidity": USER_POOL.id_token_minutes, "AccessTokenValidity": USER_POOL.id_token_minutes,
        "TokenValidityUnits": {"IdToken": "minutes", "AccessToken": "minutes"},
    }}
    for group in USER_POOL.groups:
        resources[f"UserPoolGroup{group.title()}"] = {"Type": "AWS::Cognito::UserPoolGroup", "Properties": {
            "UserPoolId": {"Ref": "UserPool"}, "GroupName": group}}
    outputs = {
        "UserPoolId": {"Description": "aws cognito-idp admin-create-user --user-pool-id <this> ...",
                       "Value": {"Ref": "UserPool"}},
        "UserPoolClientId": {"Description": "the ClientId of aws cognito-idp initiate-auth",
                             "Value": {"Ref": "UserPoolClient"}},
    }
    return resources, outputs


def add_identity(template: dict, stage: Stage) -> None:
    """The authorizer's settings (the pool's and client's ids); the gateway's refusals in the project's shape."""
    resources = template["Resources"]
    authorizer = authorizer_function(template)
    resources[authorizer]["Properties"]["Environment"]["Variables"].update({
        USER_POOL.id_env: {"Ref": "UserPool"}, USER_POOL.client_env: {"Ref": "UserPoolClient"}})
    for response_type, (status, _, _) in GATEWAY_RESPONSES.items():
        resources[f"GatewayResponse{''.join(w.title() for w in response_type.split('_'))}"] = {
            "Type": "AWS::ApiGateway::GatewayResponse", "Properties": {
                "RestApiId": {"Ref": "RestAPI"}, "ResponseType": response_type, "StatusCode": str(status),
                "ResponseParameters": {"gatewayresponse.header.X-Correlation-Id": "context.requestId"},
                "ResponseTemplates": {"application/json": gateway_body(response_type).decode()}}}


def authorizer_function(template: dict) -> str:
    """The logical id of the authorizer's function in Chalice's template."""
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] == "AWS::Serverless::Function" and \
                resource["Properties"].get("Handler") == f"app.{AUTHORIZER}":
            return logical_id
    raise SystemExit(f"app.py defines no authorizer {AUTHORIZER!r}: every protected route would be open")


def protected_operations(template: dict) -> dict[str, bool]:
    """"METHOD /path" -> whether the authorizer guards it, from the template's OpenAPI."""
    paths = template["Resources"]["RestAPI"]["Properties"]["DefinitionBody"]["paths"]
    return {f"{method.upper()} {path}": {AUTHORIZER: []} in operation.get("security", [])
            for path, operations in paths.items() for method, operation in operations.items()
            if method != "options"}
