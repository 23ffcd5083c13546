"""API Gateway's own refusals under `chalice local` and Chalice's test client, as the template defines them on AWS.

Chalice runs the app's custom authorizer locally (chalicelib/identity.py's
check, the very one API Gateway invokes on AWS), but it answers the outcomes
its own way: a missing Authorization header is `{"message":"Unauthorized"}`,
and an authorizer that fails with "Unauthorized" (how a Lambda authorizer
asks API Gateway for a 401) escapes as an exception, a 500. On AWS both are
the UNAUTHORIZED gateway response, which infra/identity.py gives the
project's JSON error shape. This patch makes the local gateway answer with
those same bodies, so a client sees one behaviour wherever it runs.
"""
from typing import Any

from chalicelib.identity import Unauthenticated
from infra.identity import gateway_body

_PATCHED = "_async_catalog_gateway"


def emulate_gateway_responses() -> None:
    """Patch chalice.local's authorizer step (idempotent)."""
    from chalice import local

    authorizer = local.LocalGatewayAuthorizer
    if getattr(authorizer, _PATCHED, False):
        return
    original = authorizer.authorize

    def authorize(self: Any, raw_path: str, lambda_event: dict, lambda_context: Any):
        try:
            return original(self, raw_path, lambda_event, lambda_context)
        except (local.NotAuthorizedError, Unauthenticated):
            raise local.NotAuthorizedError(_headers(lambda_context, "UnauthorizedException"),
                                           gateway_body("UNAUTHORIZED")) from None
        except local.ForbiddenError:
            raise local.ForbiddenError(_headers(lambda_context, "AccessDeniedException"),
                                       gateway_body("ACCESS_DENIED")) from None
        except local.LocalGatewayException:
            raise
        except Exception:  # the authorizer itself failed (e.g. the pool's keys could not be fetched)
            raise local.InvalidAuthorizerError(_headers(lambda_context, "AuthorizerFailureException"),
                                               gateway_body("AUTHORIZER_FAILURE")) from None

    authorizer.authorize = authorize
    setattr(authorizer, _PATCHED, True)


def _headers(lambda_context: Any, error_type: str) -> dict[str, str]:
    request_id = getattr(lambda_context, "aws_request_id", "")
    # The template maps the gateway's request id into X-Correlation-Id; so does this.
    return {"x-amzn-RequestId": request_id, "x-amzn-ErrorType": error_type, "X-Correlation-Id": request_id,
            "Content-Type": "application/json"}
