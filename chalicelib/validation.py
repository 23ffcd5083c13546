"""Validate plain data against a pydantic model, reporting each bad field by name."""
import uuid
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from chalicelib.errors import InvalidRequest

Model = TypeVar("Model", bound=BaseModel)


def field_errors(error: ValidationError) -> list[dict[str, str]]:
    problems = []
    for item in error.errors(include_url=False):
        field = ".".join(str(part) for part in item["loc"]) or "body"
        message = item["msg"]
        if item["type"] == "extra_forbidden":
            message = "is not a known field"
        elif item["type"] == "missing":
            message = "is required"
        elif item["type"] == "string_pattern_mismatch":
            message = "contains characters that are not allowed (control characters)"
        elif message.startswith("Value error, "):
            message = message[len("Value error, "):]
        problems.append({"field": field, "problem": message})
    return problems


def validate(model: type[Model], data: dict[str, Any]) -> Model:
    try:
        return model.model_validate(data)
    except ValidationError as error:
        raise InvalidRequest("The request body is invalid.", field_errors(error)) from None


def parse_uuid(raw: str, message: str, field: str = "id") -> str:
    """A path parameter that must be a UUID, in its canonical form; a 400 naming `field` otherwise."""
    try:
        return str(uuid.UUID(raw))
    except (ValueError, TypeError):
        raise InvalidRequest(message, [{"field": field, "problem": "must be a UUID"}]) from None
