"""Token checking on its own: a key pair made here signs good and bad tokens; the JWKS is served from memory."""
import time

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from chalicelib.identity import (Caller, Forbidden, TokenVerifier, Unauthenticated, bare_token, require)

ISSUER = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_pool"
CLIENT = "client-1"
KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
OTHER_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def jwks(*pairs):
    keys = []
    for kid, key in pairs:
        jwk = jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
        keys.append({**jwk, "kid": kid, "alg": "RS256", "use": "sig"})
    return {"keys": keys}


class Fetches:
    def __init__(self, document):
        self.document, self.urls = document, []

    def __call__(self, url):
        self.urls.append(url)
        return self.document


def claims(**changes):
    now = int(time.time())
    return {"iss": ISSUER, "aud": CLIENT, "sub": "sub-1", "token_use": "id", "iat": now, "exp": now + 600,
            "cognito:username": "ana", "cognito:groups": ["customers"], **changes}


def token(key=KEY, kid="k1", algorithm="RS256", **changes):
    return jwt.encode(claims(**changes), key, algorithm=algorithm, headers={"kid": kid})


@pytest.fixture
def verifier():
    return TokenVerifier(ISSUER, CLIENT, f"{ISSUER}/.well-known/jwks.json", fetch=Fetches(jwks(("k1", KEY))))


def test_a_good_id_token_gives_its_caller(verifier):
    caller = verifier.caller(f"Bearer {token()}")
    assert caller == Caller(sub="sub-1", username="ana", groups=frozenset({"customers"}))
    assert caller.is_customer and not caller.is_operator
    assert verifier.caller(token()).sub == "sub-1"  # raw, without Bearer


@pytest.mark.parametrize("make, reason", [
    (lambda: token(key=OTHER_KEY), "invalid token"),  # right kid, wrong signature
    (lambda: token(key=OTHER_KEY, kid="k2"), "unknown signing key"),
    (lambda: token(exp=int(time.time()) - 1, iat=int(time.time()) - 3600), "expired"),
    (lambda: token(aud="another-client"), "invalid token"),
    (lambda: token(iss="https://cognito-idp.us-east-1.amazonaws.com/other"), "invalid token"),
    (lambda: token(token_use="access"), "ID token is expected"),
    (lambda: jwt.encode(claims(), "secret", algorithm="HS256", headers={"kid": "k1"}), "not RS256"),
    (lambda: jwt.encode(claims(), None, algorithm="none"), "not RS256"),
    (lambda: "a.b.c", "malformed"),
    (lambda: "no-dots", "not a JWT"),
    (lambda: "", "no token"),
    (lambda: "Bearer ", "no token"),
    (lambda: "x" * 9000 + ".a.b", "not a JWT"),
])
def test_bad_tokens_are_unauthenticated_with_a_reason(verifier, make, reason):
    with pytest.raises(Unauthenticated) as refused:
        verifier.caller(make())
    assert str(refused.value) == "Unauthorized" and reason in refused.value.reason


def test_a_token_missing_a_required_claim_is_refused(verifier):
    without_sub = {k: v for k, v in claims().items() if k != "sub"}
    with pytest.raises(Unauthenticated):
        verifier.caller(jwt.encode(without_sub, KEY, algorithm="RS256", headers={"kid": "k1"}))


def test_the_keys_are_fetched_once_and_again_only_for_an_unknown_key_at_most_once_a_minute():
    now = [1000.0]
    fetches = Fetches(jwks(("k1", KEY)))
    verifier = TokenVerifier(ISSUER, CLIENT, "https://jwks", fetch=fetches, clock=lambda: now[0])
    for _ in range(3):
        verifier.caller(token())
    assert fetches.urls == ["https://jwks"]
    for _ in range(3):  # an unknown kid: no refetch storm
        with pytest.raises(Unauthenticated):
            verifier.caller(token(key=OTHER_KEY, kid="k2"))
    assert len(fetches.urls) == 1
    now[0] += 61
    fetches.document = jwks(("k1", KEY), ("k2", OTHER_KEY))  # the pool rotated: k2 appears
    assert verifier.caller(token(key=OTHER_KEY, kid="k2")).sub == "sub-1"
    assert len(fetches.urls) == 2


def test_groups_outside_the_known_ones_are_ignored(verifier):
    caller = verifier.caller(token(**{"cognito:groups": ["admins", "operators"]}))
    assert caller.groups == frozenset({"operators"})


def test_roles():
    operator = Caller("o", "op", frozenset({"operators", "customers"}))
    customer = Caller("c", "ana", frozenset({"customers"}))
    nobody = Caller("n", "x", frozenset())
    assert require(operator) is operator and require(operator, "customers") is operator
    assert require(customer, "customers") is customer
    for caller, groups in ((customer, ()), (nobody, ("customers",)), (nobody, ())):
        with pytest.raises(Forbidden):
            require(caller, *groups)
    assert not operator.is_customer  # an operator is never limited to its own orders


def test_the_authorizer_context_round_trips():
    caller = Caller("s", "ana", frozenset({"customers", "operators"}))
    assert Caller.from_context({"authorizer": caller.context()}) == caller
    assert Caller.from_context({}) is None


def test_bare_token():
    assert bare_token("Bearer a.b.c") == bare_token("bearer   a.b.c ") == bare_token("a.b.c") == "a.b.c"
