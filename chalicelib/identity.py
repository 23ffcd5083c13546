"""Who is calling: the user pool's ID token checked, and the caller's groups turned into what it may do.

One check protects both places the app runs. `verify_token` in app.py is a
Chalice custom authorizer: on AWS, API Gateway invokes it (a Lambda of its own,
outside any VPC, so it can reach the pool's JWKS) before any protected route;
under `chalice local`, and Chalice's test client, the same function runs
before the route, because custom authorizers are the only kind Chalice runs
locally (its Cognito authorizer admits every request unchecked there).

A token is accepted only when it is an ID token (`token_use` = id) of this
pool (`iss`) for this app client (`aud`), signed by one of the pool's keys
(RS256 only: a token cannot choose `none` or an HMAC with the public key),
and not expired. Anything else is "Unauthorized", which API Gateway answers
401 with the project's JSON error shape (infra/identity.py's gateway
responses; local_runtime/gateway.py gives `chalice local` the same ones).

The authorizer passes the caller to the route in its context: `sub`, the
username and `cognito:groups` joined by commas (API Gateway's context values
are strings). Routes then ask for a role: operators may do everything;
customers may place and read their own orders, their customer id being the
token's `sub`; a caller in no group may use only the public routes.
"""
from __future__ import annotations

import json
import threading
import time
import urllib.request
from dataclasses import dataclass
from functools import wraps
from typing import Any, Callable

from chalicelib.errors import ClientError

OPERATORS = "operators"
CUSTOMERS = "customers"
GROUPS = (OPERATORS, CUSTOMERS)
# API Gateway answers 401 when a Lambda authorizer fails with exactly this message.
UNAUTHORIZED = "Unauthorized"
MAX_TOKEN_BYTES = 8 * 1024  # Cognito's ID tokens are 1-2 KB; a bigger header is not one
# A token whose key id is unknown refetches the JWKS (the pool rotated its keys), at most this often.
JWKS_REFETCH_SECONDS = 60
JWKS_TIMEOUT_SECONDS = 3


class Unauthenticated(Exception):
    """The token is missing, malformed, forged, expired or not this pool's ID token for this client.

    Its message is always "Unauthorized" (what API Gateway needs to answer 401); the reason is kept apart for
    logs and tests, never shown to the caller.
    """

    def __init__(self, reason: str):
        super().__init__(UNAUTHORIZED)
        self.reason = reason


class Forbidden(ClientError):
    status_code = 403
    code = "Forbidden"


@dataclass(frozen=True)
class Caller:
    sub: str
    username: str
    groups: frozenset[str]

    @property
    def is_operator(self) -> bool:
        return OPERATORS in self.groups

    @property
    def is_customer(self) -> bool:
        return CUSTOMERS in self.groups and not self.is_operator

    def context(self) -> dict[str, str]:
        """What the authorizer hands the route (API Gateway allows string values only)."""
        return {"sub": self.sub, "username": self.username, "groups": ",".join(sorted(self.groups))}

    @classmethod
    def from_context(cls, context: dict[str, Any] | None) -> "Caller | None":
        authorizer = (context or {}).get("authorizer") or {}
        sub = authorizer.get("sub") or authorizer.get("principalId")
        if not sub:
            return None
        groups = frozenset(g for g in str(authorizer.get("groups") or "").split(",") if g)
        return cls(sub=str(sub), username=str(authorizer.get("username") or ""), groups=groups)


def fetch_keys(url: str) -> dict[str, Any]:
    """The pool's JWKS document. Looked up when keys are fetched, so that in-process tests can route it through
    the HTTP library moto patches."""
    with urllib.request.urlopen(url, timeout=JWKS_TIMEOUT_SECONDS) as answer:  # noqa: S310 (https or the emulator)
        return json.loads(answer.read())


class TokenVerifier:
    """Checks a pool's ID tokens against its published keys, fetched once per container and cached."""

    def __init__(self, issuer: str, audience: str, jwks_url: str,
                 fetch: Callable[[str], dict[str, Any]] | None = None, clock: Callable[[], float] = time.time):
        self.issuer, self.audience, self.jwks_url = issuer, audience, jwks_url
        self.fetch, self.clock = fetch, clock
        self._keys: dict[str, Any] = {}
        self._fetched_at = float("-inf")
        self._lock = threading.Lock()

    def caller(self, authorization: str | None) -> Caller:
        claims = self.claims(authorization)
        groups = claims.get("cognito:groups") or []
        if isinstance(groups, str):
            groups = groups.split(",")
        return Caller(sub=claims["sub"], username=str(claims.get("cognito:username") or ""),
                      groups=frozenset(str(g) for g in groups if str(g) in GROUPS))

    def claims(self, authorization: str | None) -> dict[str, Any]:
        import jwt  # here, not at import: only the authorizer pays for PyJWT and cryptography

        token = bare_token(authorization)
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as error:
            raise Unauthenticated(f"malformed token: {error}") from None
        if header.get("alg") != "RS256":
            raise Unauthenticated(f"algorithm {header.get('alg')!r} is not RS256")
        key = self._key(str(header.get("kid") or ""))
        try:
            claims = jwt.decode(token, key, algorithms=["RS256"], audience=self.audience, issuer=self.issuer,
                                options={"require": ["exp", "iat", "iss", "aud", "sub", "token_use"]})
        except jwt.ExpiredSignatureError:
            raise Unauthenticated("expired token") from None
        except jwt.PyJWTError as error:
            raise Unauthenticated(f"invalid token: {type(error).__name__}: {error}") from None
        if claims.get("token_use") != "id":
            raise Unauthenticated(f"a {claims.get('token_use')!r} token where an ID token is expected")
        if not isinstance(claims.get("sub"), str) or not claims["sub"]:
            raise Unauthenticated("token without a subject")
        return claims

    def _key(self, kid: str) -> Any:
        key = self._keys.get(kid)
        if key is None:
            with self._lock:
                key = self._keys.get(kid)
                if key is None and self.clock() - self._fetched_at >= JWKS_REFETCH_SECONDS:
                    self._refresh()
                    key = self._keys.get(kid)
        if key is None:
            raise Unauthenticated(f"unknown signing key {kid!r}")
        return key

    def _refresh(self) -> None:
        import jwt

        # A failed fetch is not the caller's fault, but it cannot be let through either: it raises, and
        # API Gateway answers 500 (AUTHORIZER_FAILURE) rather than admitting or blaming the caller.
        keys = jwt.PyJWKSet.from_dict((self.fetch or fetch_keys)(self.jwks_url)).keys
        self._keys = {k.key_id: k.key for k in keys if k.key_id}
        self._fetched_at = self.clock()


def bare_token(authorization: str | None) -> str:
    """The token of an Authorization header: raw, or after `Bearer `."""
    scheme, _, rest = (authorization or "").strip().partition(" ")
    value = rest.strip() if scheme.lower() == "bearer" else scheme if not rest else ""
    if not value:
        raise Unauthenticated("no token")
    if len(value) > MAX_TOKEN_BYTES or value.count(".") != 2:
        raise Unauthenticated("not a JWT")
    return value


def caller_of(request: Any) -> Caller:
    """The caller an authorizer admitted; a protected route without one is a misconfiguration, not a guest."""
    caller = Caller.from_context(getattr(request, "context", None))
    if caller is None:
        raise Unauthenticated("no authorizer context")
    return caller


def require(caller: Caller, *groups: str) -> Caller:
    """The caller, if in one of `groups` (operators always are); else 403."""
    if caller.is_operator or any(group in caller.groups for group in groups):
        return caller
    raise Forbidden("This caller may not use this route.",
                    [{"field": "Authorization", "problem": f"needs one of the groups: {', '.join((OPERATORS, *groups))}"}])


def allowing(current_request: Callable[[], Any], *groups: str) -> Callable:
    """A route decorator: the view runs only for callers in `groups` (or operators) and gets the caller as
    its `caller` keyword. `current_request` is the app's (Chalice keeps it on the app object)."""

    def decorate(view: Callable[..., Any]) -> Callable[..., Any]:
        @wraps(view)
        def wrapper(*args, **kwargs):
            caller = require(caller_of(current_request()), *groups)
            return view(*args, caller=caller, **kwargs)
        return wrapper
    return decorate


def __getattr__(name: str) -> Any:
    """`token_verifier`, the verifier's getter, is chalicelib/bootstrap.py's (built once per container, so the
    pool's keys are fetched once): found there for the callers that import it from here."""
    if name == "token_verifier":
        from chalicelib import bootstrap
        return bootstrap.token_verifier
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
