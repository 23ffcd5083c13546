"""Real tokens for the tests: the emulator's user pool, its demo users, and the bad tokens a caller could send.

Good tokens are always issued by the pool (moto's cognito-idp, in process or
behind `python -m local_runtime`); bad ones are made the ways an attacker or a
confused client would: signed with another key, signed with the right key but
expired, issued for another client or by another pool, an access token.
"""
import base64
import gzip
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt

from local_runtime.identity import create_user, log_in

# The callers of the route x caller table (tests/integration/test_access.py).
CALLERS = ("none", "malformed", "forged", "unknown_key", "expired", "other_client", "other_issuer",
           "access_token", "no_group", "customer", "other_customer", "operator")


@dataclass
class Tokens:
    """ID tokens by caller, and each user's sub."""
    by_caller: dict[str, str | None] = field(default_factory=dict)
    subs: dict[str, str] = field(default_factory=dict)

    def __getitem__(self, caller: str) -> str | None:
        return self.by_caller[caller]

    def header(self, caller: str) -> dict[str, str]:
        token = self.by_caller[caller]
        return {} if token is None else {"Authorization": f"Bearer {token}"}


def moto_signing_key() -> Any:
    """The private key moto signs every pool's tokens with (the emulator's; never a real pool's)."""
    import moto.cognitoidp
    path = Path(moto.cognitoidp.__file__).parent / "resources" / "jwks-private.json.gz"
    return jwt.PyJWK.from_dict(json.loads(gzip.decompress(path.read_bytes()))).key


def re_signed(token: str, key: Any, kid: str, **changes: Any) -> str:
    """The token's claims, changed, signed again with `key` under `kid`."""
    claims = {**jwt.decode(token, options={"verify_signature": False}), **changes}
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": kid})


def another_key() -> Any:
    from cryptography.hazmat.primitives.asymmetric import rsa
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def issue_tokens(cognito: Any, pool_id: str, client_id: str, users: dict[str, str]) -> Tokens:
    """Every caller of CALLERS, from the pool where `users` (username -> sub: operator, ana, bruno) exist."""
    tokens = Tokens(subs=dict(users))
    ana = log_in(cognito, client_id, "ana")
    tokens.by_caller.update({
        "none": None,
        "malformed": "not-a-jwt",
        "operator": log_in(cognito, client_id, "operator")["IdToken"],
        "customer": ana["IdToken"],
        "other_customer": log_in(cognito, client_id, "bruno")["IdToken"],
        "access_token": ana["AccessToken"],
    })
    header = jwt.get_unverified_header(ana["IdToken"])
    tokens.by_caller["forged"] = re_signed(ana["IdToken"], another_key(), header["kid"], **{"cognito:groups": ["operators"]})
    tokens.by_caller["unknown_key"] = re_signed(ana["IdToken"], another_key(), "not-a-key-of-the-pool")
    now = int(time.time())
    tokens.by_caller["expired"] = re_signed(log_in(cognito, client_id, "operator")["IdToken"], moto_signing_key(),
                                            header["kid"], iat=now - 7200, exp=now - 3600)
    tokens.subs["nobody"] = create_user(cognito, pool_id, "nobody", None)
    tokens.by_caller["no_group"] = log_in(cognito, client_id, "nobody")["IdToken"]
    other_client = cognito.create_user_pool_client(
        UserPoolId=pool_id, ClientName="another-app", ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH",
                                                                          "ALLOW_REFRESH_TOKEN_AUTH"])
    tokens.by_caller["other_client"] = log_in(cognito, other_client["UserPoolClient"]["ClientId"],
                                              "operator")["IdToken"]
    other_pool = cognito.create_user_pool(PoolName="another-pool")["UserPool"]["Id"]
    other_pool_client = cognito.create_user_pool_client(
        UserPoolId=other_pool, ClientName="app", ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH",
                                                                     "ALLOW_REFRESH_TOKEN_AUTH"])["UserPoolClient"]
    cognito.create_group(UserPoolId=other_pool, GroupName="operators")
    create_user(cognito, other_pool, "operator", "operators")
    tokens.by_caller["other_issuer"] = log_in(cognito, other_pool_client["ClientId"], "operator")["IdToken"]
    return tokens


def claims_of(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


class AuthenticatedHTTP:
    """Chalice's test HTTP client that sends `token` unless a request brings its own Authorization."""

    def __init__(self, http: Any, token: str | None):
        self._http, self.token = http, token

    def request(self, method: str, path: str, headers: dict[str, str] | None = None, body: bytes = b""):
        headers = dict(headers or {})
        if self.token and not any(name.lower() == "authorization" for name in headers):
            headers["Authorization"] = f"Bearer {self.token}"
        return self._http.request(method, path, headers=headers, body=body)

    def get(self, path: str, **kwargs):
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs):
        return self.request("POST", path, **kwargs)

    def put(self, path: str, **kwargs):
        return self.request("PUT", path, **kwargs)

    def delete(self, path: str, **kwargs):
        return self.request("DELETE", path, **kwargs)

    def patch(self, path: str, **kwargs):
        return self.request("PATCH", path, **kwargs)

    def head(self, path: str, **kwargs):
        return self.request("HEAD", path, **kwargs)

    def options(self, path: str, **kwargs):
        return self.request("OPTIONS", path, **kwargs)
