"""Named errors of the accounts package."""

from __future__ import annotations

from fairtrain.errors import Conflict, FairtrainError, InvalidInput, NotFound

__all__ = [
    "EmailTaken",
    "HandleTaken",
    "InvalidCredentials",
    "InvalidEmail",
    "InvalidHandle",
    "LoginThrottled",
    "NotAMember",
    "SlugTaken",
    "UnknownCollective",
    "UnknownCreator",
    "UnknownOrg",
    "UnknownToken",
    "UnknownUser",
    "WeakPassword",
]


class InvalidEmail(InvalidInput):
    code = "invalid_email"


class EmailTaken(Conflict):
    code = "email_taken"


class InvalidHandle(InvalidInput):
    code = "invalid_handle"


class HandleTaken(Conflict):
    code = "handle_taken"


class SlugTaken(Conflict):
    code = "slug_taken"


class WeakPassword(InvalidInput):
    code = "weak_password"


class InvalidCredentials(FairtrainError):
    status_code = 401
    code = "invalid_credentials"

    def __init__(self, message: str = "wrong email or password") -> None:
        super().__init__(message)


class LoginThrottled(FairtrainError):
    status_code = 429
    code = "too_many_attempts"

    def __init__(self, retry_after: int) -> None:
        minutes = max(1, (retry_after + 59) // 60)
        super().__init__(
            f"too many failed log-ins; try again in {minutes} minute{'s' if minutes > 1 else ''}"
        )
        self.retry_after = retry_after


class UnknownUser(NotFound):
    code = "unknown_user"


class UnknownCreator(NotFound):
    code = "unknown_creator"


class UnknownCollective(NotFound):
    code = "unknown_collective"


class UnknownOrg(NotFound):
    code = "unknown_org"


class UnknownToken(NotFound):
    code = "unknown_token"


class NotAMember(Conflict):
    code = "not_a_member"
