"""What the contract tests share: the document's operations, and validating an answer against it."""
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker

from chalicelib.openapi import UNDOCUMENTED


def operations_of(document: dict) -> dict[str, dict]:
    """"METHOD /path" -> the document's operation."""
    return {f"{method.upper()} {path}": operation
            for path, methods in document["paths"].items() for method, operation in methods.items()}


def routes_of(app) -> set[str]:
    """"METHOD /path" of every route of a Chalice app."""
    return {f"{method} {path}" for path, methods in app.routes.items() for method in methods}


def undocumented(app, document: dict) -> list[str]:
    """The app's routes that the document lacks, or lists only because the route table has them."""
    operations = operations_of(document)
    return sorted(route for route in routes_of(app)
                  if route not in operations or operations[route].get(UNDOCUMENTED))


def resolve(document: dict, node: dict) -> dict:
    while "$ref" in node:
        *_, kind, name = node["$ref"].split("/")
        node = document["components"][kind][name]
    return node


def schema_problems(document: dict, schema: dict, value: Any) -> list[str]:
    """Where `value` breaks `schema` (refs into the document's components resolved), as readable lines."""
    rooted = {**schema, "components": document["components"]}  # "#/components/..." now resolves in `rooted`
    validator = Draft202012Validator(rooted, format_checker=FormatChecker())
    return [f"{'/'.join(map(str, error.absolute_path)) or '(root)'}: {error.message}"
            for error in validator.iter_errors(value)]


def answer_problems(document: dict, method: str, route: str, status: int, headers: dict[str, str],
                    body: bytes | str) -> list[str]:
    """Why an answer breaks the contract: an undocumented status, a missing header, a body off its schema."""
    import json
    operation = operations_of(document)[f"{method} {route}"]
    documented = operation["responses"].get(str(status))
    if documented is None:
        return [f"{method} {route}: {status} is not documented ({', '.join(operation['responses'])})"]
    response = resolve(document, documented)
    lowered = {name.lower(): value for name, value in headers.items()}
    problems = [f"{method} {route} {status}: no {name} header" for name, header in response.get("headers", {}).items()
                if resolve(document, header).get("required") and name.lower() not in lowered]
    media = response.get("content", {})
    content_type = (lowered.get("content-type") or "").split(";")[0].strip()
    if content_type not in media:
        return problems + [f"{method} {route} {status}: Content-Type {content_type!r} is not {list(media)}"]
    parsed = json.loads(body)
    problems += [f"{method} {route} {status}: {line}"
                 for line in schema_problems(document, media[content_type]["schema"], parsed)]
    return problems
