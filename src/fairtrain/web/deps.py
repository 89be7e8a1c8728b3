"""Typed request dependencies: settings, database session, the viewer, role checks."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from fairtrain.accounts.models import Role, User
from fairtrain.accounts.tokens import authenticate_token
from fairtrain.config import Settings
from fairtrain.errors import FairtrainError, Forbidden
from fairtrain.web.security import SAFE_METHODS, check_csrf, session_user_claims
from fairtrain.web.templating import remember_viewer

__all__ = [
    "ApiAuthFailed",
    "ApiUserDep",
    "DbDep",
    "LoginRequired",
    "OptionalApiUserDep",
    "SettingsDep",
    "UserDep",
    "ViewerDep",
    "require_role",
]


class LoginRequired(FairtrainError):
    status_code = 401
    code = "login_required"

    def __init__(self) -> None:
        super().__init__("log in to see this page")


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_db(request: Request) -> Iterator[Session]:
    """One transaction per request: committed when the route returns, rolled back when it raises."""
    with request.app.state.sessionmaker() as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


SettingsDep = Annotated[Settings, Depends(get_settings)]
# scope="function": commit before the response is sent, so a failed commit is an error the client sees.
DbDep = Annotated[Session, Depends(get_db, scope="function")]


def _session_user(request: Request, db: Session) -> User | None:
    claims = session_user_claims(request)
    if claims is None:
        return None
    user = db.get(User, claims[0])
    if user is None or user.session_version != claims[1]:
        request.session.clear()  # the account is gone or its password changed since
        return None
    return user


def get_viewer(request: Request, db: DbDep) -> User | None:
    user = _session_user(request, db)
    remember_viewer(request, user)
    return user


ViewerDep = Annotated[User | None, Depends(get_viewer)]


def get_user(viewer: ViewerDep) -> User:
    if viewer is None:
        raise LoginRequired()
    return viewer


UserDep = Annotated[User, Depends(get_user)]


def require_role(role: Role) -> Callable[[User], User]:
    def dependency(user: UserDep) -> User:
        if not user.has_role(role):
            raise Forbidden(f"this needs the {role.value} role")
        return user

    return dependency


_bearer = HTTPBearer(auto_error=False, description="A personal API token (`ftp_...`) from the account page.")


async def get_optional_api_user(
    request: Request,
    db: DbDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> User | None:
    """API caller from a bearer token, else from the browser session (unsafe methods then need CSRF)."""
    if credentials is not None:
        user = authenticate_token(db, credentials.credentials)
        if user is None:
            raise ApiAuthFailed()
        remember_viewer(request, user)
        return user
    user = _session_user(request, db)
    if user is not None and request.method not in SAFE_METHODS:
        await check_csrf(request)
    remember_viewer(request, user)
    return user


class ApiAuthFailed(FairtrainError):
    status_code = 401
    code = "invalid_token"

    def __init__(self) -> None:
        super().__init__("the API token is unknown, malformed or revoked")


OptionalApiUserDep = Annotated[User | None, Depends(get_optional_api_user)]


def get_api_user(user: OptionalApiUserDep) -> User:
    if user is None:
        raise LoginRequired()
    return user


ApiUserDep = Annotated[User, Depends(get_api_user)]
