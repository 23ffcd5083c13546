"""Fixtures of the contract tests: a running system of their own and its callers' tokens.

Package-scoped, not the e2e tests' session-wide one: `make test` stops it when tests/contract is done, instead of
keeping another emulator, API and runner alive (and polling) on the shared cores until the session ends.
"""
from typing import Callable

import pytest

from tests.e2e.conftest import package_system

local_system = package_system()


@pytest.fixture(scope="package")
def caller_tokens(local_system) -> Callable[[str], str]:
    """demo user -> the ID token the running system's pool issues it (`LocalSystem.token`, logged in once)."""
    issued: dict[str, str] = {}

    def token_of(user: str) -> str:
        if user not in issued:
            issued[user] = local_system.token(user)
        return issued[user]
    return token_of
