"""Demo users for `make run`: one operator and two customers in the emulator's user pool, and how to log in.

The pool itself is the stage's (infra/provision.py creates it from
infra/resources.py's USER_POOL, as the template does on AWS); these users
exist only locally, so the printed examples can send real ID tokens. The
tests log in as the same users.
"""
from typing import Any

# username -> group. Not secrets: they exist only in the local emulator.
DEMO_USERS = {"operator": "operators", "ana": "customers", "bruno": "customers"}
DEMO_PASSWORD = "Local-demo-pass-1"


def create_user(cognito: Any, pool_id: str, username: str, group: str | None,
                password: str = DEMO_PASSWORD) -> str:
    """Create (or find) a confirmed user with a permanent password in `group`; its `sub`."""
    try:
        cognito.admin_create_user(UserPoolId=pool_id, Username=username, MessageAction="SUPPRESS",
                                  TemporaryPassword=password)
    except cognito.exceptions.UsernameExistsException:
        pass
    cognito.admin_set_user_password(UserPoolId=pool_id, Username=username, Password=password, Permanent=True)
    if group:
        cognito.admin_add_user_to_group(UserPoolId=pool_id, Username=username, GroupName=group)
    attributes = cognito.admin_get_user(UserPoolId=pool_id, Username=username)["UserAttributes"]
    return next(a["Value"] for a in attributes if a["Name"] == "sub")


def create_demo_users(cognito: Any, pool_id: str) -> dict[str, str]:
    """username -> sub, for every demo user."""
    return {username: create_user(cognito, pool_id, username, group) for username, group in DEMO_USERS.items()}


def log_in(cognito: Any, client_id: str, username: str, password: str = DEMO_PASSWORD) -> dict[str, str]:
    """The user's tokens (IdToken, AccessToken, RefreshToken) by USER_PASSWORD_AUTH, as a script would."""
    answer = cognito.initiate_auth(ClientId=client_id, AuthFlow="USER_PASSWORD_AUTH",
                                   AuthParameters={"USERNAME": username, "PASSWORD": password})
    return answer["AuthenticationResult"]


def token_command(emulator: str, client_id: str, username: str = "operator") -> str:
    """The shell line that puts a user's ID token in $TOKEN (what the banner prints)."""
    return (f"TOKEN=$(aws --endpoint-url {emulator} --region us-east-1 cognito-idp initiate-auth "
            f"--client-id {client_id} --auth-flow USER_PASSWORD_AUTH "
            f"--auth-parameters USERNAME={username},PASSWORD={DEMO_PASSWORD} "
            f"--query AuthenticationResult.IdToken --output text)")
