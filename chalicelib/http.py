"""Turning HTTP requests into plain values and client errors into JSON answers; every request's correlation id."""
import json
from decimal import Decimal
from functools import wraps
from typing import Any, Callable

from chalice import Response

from chalicelib import correlation
from chalicelib.errors import ClientError, InvalidRequest, PayloadTooLarge, Unavailable

MAX_BODY_BYTES = 64 * 1024


def _reject_constant(name: str):
    raise ValueError(f"{name} is not a valid JSON number")


def parse_json_object(raw_body: bytes | str | None, max_bytes: int = MAX_BODY_BYTES) -> dict[str, Any]:
    """Parse a request body into a dict, keeping every JSON number exact (Decimal)."""
    raw_body = raw_body or b""
    if len(raw_body) > max_bytes:
        raise PayloadTooLarge(f"The request body is larger than {max_bytes} bytes.")
    if not raw_body.strip():
        raise InvalidRequest("The request body is empty; a JSON object is expected.",
                             [{"field": "body", "problem": "is empty"}])
    try:
        value = json.loads(raw_body, parse_float=Decimal, parse_constant=_reject_constant)
    except (ValueError, UnicodeDecodeError, RecursionError) as error:  # deep nesting raises RecursionError
        raise InvalidRequest("The request body is not valid JSON.",
                             [{"field": "body", "problem": f"is not valid JSON: {error}"}]) from None
    if not isinstance(value, dict):
        raise InvalidRequest("The request body must be a JSON object.",
                             [{"field": "body", "problem": f"is a JSON {type(value).__name__}, not an object"}])
    return value


def location_of(request: Any, resource_id: str) -> str:
    """The Location of a resource created under the request's path (API Gateway's stage prefix included)."""
    return f"{request.context.get('path', '').rstrip('/')}/{resource_id}"


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        # Money and counts leave as exact strings/ints, never as binary floats.
        exponent = value.as_tuple().exponent  # 'n', 'N' or 'F' for NaN and the infinities, which leave as strings
        return int(value) if value == value.to_integral_value() and isinstance(exponent, int) and exponent >= 0 \
            else str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def json_response(body: Any, status_code: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        body=json.dumps(body, default=_json_default, ensure_ascii=False),
        status_code=status_code,
        headers={"Content-Type": "application/json", **(headers or {})},
    )


def error_response(error: ClientError | Unavailable) -> Response:
    body: dict[str, Any] = {"Code": error.code, "Message": error.message}
    if error.errors:
        body["errors"] = error.errors
    return json_response(body, status_code=error.status_code)


def json_errors(view: Callable[..., Any]) -> Callable[..., Any]:
    """Answer a ClientError raised anywhere below a route with its 4xx JSON form (Unavailable: 503)."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        try:
            return view(*args, **kwargs)
        except (ClientError, Unavailable) as error:
            return error_response(error)

    return wrapper


def correlate_request(request: Any, get_response: Callable[[Any], Response]) -> Response:
    """Chalice middleware for every route: the request is handled under its correlation id, which
    comes back in the X-Correlation-Id header of every answer (4xx and 5xx ones too)."""
    correlation_id = correlation.for_request(getattr(request, "headers", None), getattr(request, "context", None),
                                             getattr(request, "lambda_context", None))
    with correlation.bind(correlation_id):
        response = get_response(request)
    response.headers[correlation.HEADER] = correlation_id
    # Chalice's own answers (405, 415, 500) are JSON bodies without a Content-Type; say so here rather than
    # rely on API Gateway's default (found by the contract tests: tests/contract).
    if not any(name.lower() == "content-type" for name in response.headers):
        response.headers["Content-Type"] = "application/json"
    return response
