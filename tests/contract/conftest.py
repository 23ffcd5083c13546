"""Fixtures of the contract tests: the running system (shared with the e2e tests) and its callers' tokens."""
from typing import Callable

import pytest

from tests.e2e.conftest import local_system  # noqa: F401  (one `python -m local_runtime` per session)


@pytest.fixture(scope="session")
def caller_tokens(local_system) -> Callable[[str], str]:  # noqa: F811  (the fixture imported above)
    """demo user -> the ID token the running system's pool issues it (`LocalSystem.token`, logged in once)."""
    issued: dict[str, str] = {}

    def token_of(user: str) -> str:
        if user not in issued:
            issued[user] = local_system.token(user)
        return issued[user]
    return token_of
