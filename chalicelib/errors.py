"""Errors a client caused. The HTTP layer turns each into a 4xx JSON answer."""


class ClientError(Exception):
    status_code = 400
    code = "BadRequest"

    def __init__(self, message: str, errors: list[dict] | None = None):
        super().__init__(message)
        self.message = message
        self.errors = errors or []


class InvalidRequest(ClientError):
    code = "ValidationError"


class NotFound(ClientError):
    status_code = 404
    code = "NotFound"


class PayloadTooLarge(ClientError):
    status_code = 413
    code = "PayloadTooLarge"


class Conflict(ClientError):
    status_code = 409
    code = "Conflict"


class Unavailable(Exception):
    """A store the request needs is down or too slow: a 503 the client may retry, not the client's fault.

    Not a ClientError (the client did nothing wrong), but answered the same JSON way.
    """
    status_code = 503
    code = "ServiceUnavailable"

    def __init__(self, message: str, errors: list[dict] | None = None):
        super().__init__(message)
        self.message = message
        self.errors = errors or []
