"""One container's clients keep a connection for every call its threads make at once.

botocore's default pool holds 10; a handler that runs more calls at once on one
client has urllib3 discard the extra connections and open new ones, each a TLS
handshake on AWS.
"""
import inspect

from chalicelib import aws
from chalicelib.adapters import dynamo


def _default(function, parameter: str) -> int:
    return inspect.signature(function).parameters[parameter].default


def test_the_pool_outlasts_every_fan_out_of_one_invocation():
    widest = max(_default(dynamo.batch_put, "max_in_flight"), _default(dynamo.conditional_put_all, "max_in_flight"),
                 _default(dynamo.insert_all, "max_in_flight"), 8)
    assert aws.client("dynamodb").meta.config.max_pool_connections >= widest
    # the local runner runs 4 invocations at once in one process, sharing these clients
    assert aws.MAX_POOL_CONNECTIONS >= 4 * widest
