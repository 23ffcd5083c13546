"""The API's contract: an OpenAPI 3.1 document generated from the code, served by GET /openapi.json.

Nothing here is a hand-written document. The paths, methods, operation ids,
content types and security come from Chalice's route table (`app.routes`,
so a route added to app.py is in the document at once); the bodies from the
pydantic models' `model_json_schema()` (the request models the services
validate with, and chalicelib/openapi/shapes.py for the answers); and what
neither can say (query parameters, headers, which errors a route can give,
examples) from the table in chalicelib/openapi/operations.py.

Derived from the route entries rather than declared:
- 415 on every route with content types (Chalice refuses any other Content-Type itself);
- `security` and 401/403 on every route with an authorizer, `security: []` on the public ones;
- path parameters from the view's arguments.

Built once per container (the first GET /openapi.json pays a few ms of
pydantic schema generation); `servers` is the stage's base path as the
request shows it, so a client resolves the paths against the URL it fetched
the document from.
"""
import hashlib
import json
from functools import lru_cache
from typing import Any

from chalice import Response
from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from chalicelib.correlation import HEADER as CORRELATION_HEADER
from chalicelib.openapi import shapes
from chalicelib.openapi.operations import (ERROR_EXAMPLE, ERRORS, OPERATIONS, PARAMETERS, PRODUCT_ID, Operation,
                                          Param)

OPENAPI_VERSION = "3.1.0"
TITLE = "AsyncCatalog API"
SECURITY_SCHEME = "CognitoIdToken"
UNDOCUMENTED = "x-undocumented"
TAGS = {
    "Catalog": "Products: accepted at once (202), stored by a worker behind SQS",
    "Log batches": "Uploaded log files: progress, report and problem lines",
    "Invoices": "Uploaded invoice files (notas fiscais) and the invoices they held",
    "Orders": "Orders: RECEIVED at once (202), completed by a worker, notified once",
    "Personal data": "A customer's personal data erased on request, and what is retained and why",
    "Contract": "This document",
}
DESCRIPTION = """\
Every answer is JSON and carries `X-Correlation-Id` (yours, if you sent an acceptable one). Errors are
`{"Code", "Message", "errors": [{"field", "problem"}]}`; a client mistake is never a 5xx. Money is an exact
decimal string (`"19.90"`). POSTs answer 202 with `Location` at once: the work happens behind a queue, so
GET the Location until it is there. Routes marked with a lock need a Cognito ID token in `Authorization`
(`Bearer <token>` or the bare token); the others are public.
"""


def _ref(kind: str, name: str) -> dict[str, str]:
    return {"$ref": f"#/components/{kind}/{name}"}


def _parameter(where: str, param: Param) -> dict[str, Any]:
    parameter = {"name": param.name, "in": where, "required": param.required or where == "path",
                 "description": param.description, "schema": param.schema}
    if param.example is not None:
        parameter["example"] = param.example
    return parameter


def _models() -> list[tuple[type[BaseModel], JsonSchemaMode]]:
    """Every model the document refers to: request bodies as validated, answers as serialized."""
    bodies = {op.body for op in OPERATIONS.values() if op.body}
    answers = {op.answer for op in OPERATIONS.values()} | {shapes.Error}
    return ([(model, "validation") for model in sorted(bodies, key=lambda m: m.__name__)]
            + [(model, "serialization") for model in sorted(answers, key=lambda m: m.__name__)])


def _without_null_defaults(schema: Any) -> Any:
    """An answer's optional field is absent, not null (shapes.py hides the None branch): pydantic still writes
    `default: null` next to `type: string`, which the schema itself would refuse, so it goes."""
    if isinstance(schema, dict):
        allows_null = schema.get("type") == "null" or any(
            branch.get("type") == "null" for branch in schema.get("anyOf", []) if isinstance(branch, dict))
        return {key: _without_null_defaults(value) for key, value in schema.items()
                if not (key == "default" and value is None and not allows_null)}
    if isinstance(schema, list):
        return [_without_null_defaults(item) for item in schema]
    return schema


def _schemas() -> dict[str, Any]:
    _, top = models_json_schema(_models(), ref_template="#/components/schemas/{model}")
    return _without_null_defaults(top.get("$defs", {}))


def _correlation_header() -> dict[str, Any]:
    return _ref("headers", "CorrelationId")


def _answer(op: Operation) -> dict[str, Any]:
    headers = {CORRELATION_HEADER: _correlation_header()}
    if op.location:
        headers["Location"] = _ref("headers", "Location")
    content: dict[str, Any] = {"schema": _ref("schemas", op.answer.__name__)}
    if op.answer_example is not None:
        content["example"] = op.answer_example
    description = {202: "Accepted; the work goes on behind a queue"}.get(op.status, "OK")
    return {"description": description, "headers": headers, "content": {"application/json": content}}


def _operation(method: str, path: str, entry: Any, op: Operation | None) -> dict[str, Any]:
    undocumented = op is None
    if op is None:  # a route added to app.py before its entry in operations.py: visible, and flagged
        op = Operation(f"{method} {path}", "Undocumented", shapes.OpenApiDocument)
    given = {param.name: param for param in op.path}
    parameters = [_parameter("path", given.get(name) or Param(name, {"type": "string"}, name, required=True))
                  for name in entry.view_args]
    parameters += [_ref("parameters", q) if isinstance(q, str) else _parameter("query", q) for q in op.query]
    parameters += [_ref("parameters", name) for name in (*op.headers, "CorrelationId")]
    secured = entry.authorizer is not None
    description = op.description
    if secured and op.who:
        description = f"{description}\n\nWho: {op.who}.".strip()
    operation: dict[str, Any] = {
        "operationId": entry.view_name, "summary": op.summary, "tags": [op.tag],
        **({"description": description} if description else {}),
        "parameters": parameters,
        "security": [{SECURITY_SCHEME: []}] if secured else [],
    }
    if op.body is not None:
        content: dict[str, Any] = {"schema": _ref("schemas", op.body.__name__)}
        if op.request_example is not None:
            content["example"] = op.request_example
        operation["requestBody"] = {"required": True, "content": {"application/json": content}}
    errors = set(op.errors)
    if entry.content_types:
        errors.add(415)
    if secured:
        errors |= {401, 403}
    operation["responses"] = {str(op.status): _answer(op),
                              **{str(code): _ref("responses", ERRORS[code][0]) for code in sorted(errors)}}
    operation.update(op.extra)
    if undocumented:
        operation[UNDOCUMENTED] = True
    return operation


def _components() -> dict[str, Any]:
    error_content = {"application/json": {"schema": _ref("schemas", "Error"), "example": ERROR_EXAMPLE}}
    return {
        "schemas": _schemas(),
        "parameters": {name: _parameter(where, param) for name, (where, param) in PARAMETERS.items()},
        "headers": {
            "CorrelationId": {"description": "This request's correlation id (see the X-Correlation-Id parameter)",
                              "required": True, "schema": {"type": "string", "minLength": 1}},
            "Location": {"description": "The new resource's path, stage prefix included", "required": True,
                         "schema": {"type": "string"}, "example": f"/products/{PRODUCT_ID}"},
        },
        "responses": {name: {"description": description, "headers": {CORRELATION_HEADER: _correlation_header()},
                             "content": error_content}
                      for name, description in ERRORS.values()},
        "securitySchemes": {SECURITY_SCHEME: {
            "type": "http", "scheme": "bearer", "bearerFormat": "JWT",
            "description": "The ID token of a user of the stage's Cognito user pool, in Authorization as "
                           "`Bearer <token>` (the bare token is accepted too). Customers (group `customers`) may "
                           "place and read their own orders; operators may do everything."}},
    }


def build(app: Any) -> dict[str, Any]:
    """The document for `app`'s routes, without `servers` (see `served`)."""
    paths: dict[str, dict[str, Any]] = {}
    for path, methods in sorted(app.routes.items()):
        for method, entry in sorted(methods.items()):
            paths.setdefault(path, {})[method.lower()] = _operation(method, path, entry,
                                                                    OPERATIONS.get(f"{method} {path}"))
    components = _components()
    body = json.dumps({"paths": paths, "components": components}, sort_keys=True).encode()
    return {
        "openapi": OPENAPI_VERSION,
        "info": {"title": TITLE, "version": f"1.0.0+{hashlib.sha256(body).hexdigest()[:12]}",
                 "description": DESCRIPTION},
        "tags": [{"name": name, "description": text} for name, text in TAGS.items()],
        "paths": paths,
        "components": components,
    }


@lru_cache(maxsize=4)
def _built(app: Any) -> dict[str, Any]:
    return build(app)


def document(app: Any, base_path: str = "") -> dict[str, Any]:
    """The document as served under `base_path` (the stage's prefix, "/api" behind API Gateway)."""
    return {**_built(app), "servers": [{"url": base_path or "/"}]}


def published(app: Any, api_stage: str) -> dict[str, Any]:
    """The document `make package` writes beside the template: the stage's API Gateway URL, its id and region
    left to the deploy (the stack's RestAPIId output)."""
    return {**_built(app), "servers": [{
        "url": f"https://{{restApiId}}.execute-api.{{region}}.amazonaws.com/{api_stage}",
        "variables": {"restApiId": {"default": "restapi-id", "description": "The stack's RestAPIId output"},
                      "region": {"default": "us-east-1", "description": "The region deployed to"}}}]}


@lru_cache(maxsize=8)
def _served_text(app: Any, base_path: str) -> str:
    return json.dumps(document(app, base_path), ensure_ascii=False)


def base_path_of(request: Any) -> str:
    """The part of the request's path before the route ("/api" for API Gateway's stage; "" locally)."""
    context = getattr(request, "context", None) or {}
    path, resource = context.get("path") or "", context.get("resourcePath") or ""
    return path[:-len(resource)].rstrip("/") if resource and path.endswith(resource) else ""


def openapi_response(app: Any) -> Response:
    """GET /openapi.json: the cached document, JSON."""
    return Response(body=_served_text(app, base_path_of(app.current_request)), status_code=200,
                    headers={"Content-Type": "application/json"})
