"""The root of fairtrain's named domain errors.

Each domain package defines its own subclasses; the web layer maps them to a status code and the CLI to a
one-line message and a non-zero exit code. ``status_code`` and ``code`` say how.
"""

from __future__ import annotations

__all__ = ["Conflict", "FairtrainError", "Forbidden", "InvalidInput", "NotFound"]


class FairtrainError(Exception):
    status_code = 400
    code = "error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidInput(FairtrainError):
    status_code = 422
    code = "invalid_input"


class NotFound(FairtrainError):
    status_code = 404
    code = "not_found"


class Conflict(FairtrainError):
    status_code = 409
    code = "conflict"


class Forbidden(FairtrainError):
    status_code = 403
    code = "forbidden"
