"""boto3 clients, one per service per container.

Creating a client costs tens of milliseconds, so it is done once and reused
across invocations. The endpoint is found by botocore itself: the standard
AWS_ENDPOINT_URL variable points every client at the local emulator, and when
it is unset the real AWS endpoints are used.

Tracing (a stage's `xray: true` in .chalice/config.json) is Lambda's active
tracing and API Gateway's, with no X-Ray SDK here: importing `aws_xray_sdk`
and patching botocore costs a cold start about as much as importing boto3
(its recorder builds two X-Ray clients at import): 178-210 ms of CPU on top
of `import app`'s 407-472 ms (min-median of 7 fresh interpreters on the 2-core
dev machine; Powertools' Tracer, which wraps it, 198-248 ms), the SDK is in
maintenance mode, and traces stay joined without it: botocore sends Lambda's
trace id (`_X_AMZN_TRACE_ID`) with every call, so a message a traced function
queues carries it (AWSTraceHeader) to the function that consumes it. What the
SDK would add, a subsegment per AWS call, is not worth adding nearly half to
every cold start's imports.
"""
from functools import lru_cache

import boto3
from botocore.config import Config

# Handlers call one client from several threads (the invoice ingester's 16 conditional puts at once, the log
# worker's chunk counting on 8): a pool smaller than that drops connections and opens new ones, each a TLS
# handshake on AWS (botocore's default is 10). Locally the runner's concurrent invocations share the clients.
MAX_POOL_CONNECTIONS = 64
_CONFIG = Config(retries={"mode": "standard", "max_attempts": 5}, max_pool_connections=MAX_POOL_CONNECTIONS)


@lru_cache(maxsize=None)
def client(service: str):
    return boto3.session.Session().client(service, config=_CONFIG)


def reset() -> None:
    """Forget cached clients (tests switch endpoints and credentials)."""
    client.cache_clear()
