"""boto3 clients, one per service per container.

Creating a client costs tens of milliseconds, so it is done once and reused
across invocations. The endpoint is found by botocore itself: the standard
AWS_ENDPOINT_URL variable points every client at the local emulator, and when
it is unset the real AWS endpoints are used.
"""
from functools import lru_cache

import boto3
from botocore.config import Config

_CONFIG = Config(retries={"mode": "standard", "max_attempts": 5})


@lru_cache(maxsize=None)
def client(service: str):
    return boto3.session.Session().client(service, config=_CONFIG)


def reset() -> None:
    """Forget cached clients (tests switch endpoints and credentials)."""
    client.cache_clear()
