"""Personal API tokens: shown once, stored as SHA-256, revocable."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from fairtrain.accounts.errors import UnknownToken
from fairtrain.accounts.models import ApiToken, User
from fairtrain.db.base import utcnow
from fairtrain.errors import InvalidInput

__all__ = ["TOKEN_PREFIX", "authenticate_token", "create_api_token", "list_api_tokens", "revoke_api_token"]

TOKEN_PREFIX = "ftp_"  # noqa: S105 - recognisable in logs and by secret scanners
# last_used_at is informative; writing it at most this often keeps token use off the write path.
_LAST_USED_RESOLUTION = timedelta(minutes=1)


def _digest(secret: str) -> str:
    # The secret carries 256 random bits, so a fast hash is enough: nothing to brute-force.
    return hashlib.sha256(secret.encode()).hexdigest()


def create_api_token(session: Session, *, user: User, name: str) -> tuple[ApiToken, str]:
    """A new token for ``user``; returns the row and the secret, which is not stored anywhere."""
    name = name.strip()
    if not name or len(name) > 100:
        raise InvalidInput("token name must be 1–100 characters")
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(user=user, name=name, token_hash=_digest(secret), hint=secret[: len(TOKEN_PREFIX) + 4])
    session.add(token)
    session.flush()
    return token, secret


def authenticate_token(session: Session, secret: str, *, now: datetime | None = None) -> User | None:
    """The owner of a live token, or None for an unknown, malformed or revoked one."""
    if not secret.startswith(TOKEN_PREFIX) or len(secret) > 200:
        return None
    token = session.scalar(select(ApiToken).where(ApiToken.token_hash == _digest(secret)))
    if token is None or token.revoked_at is not None:
        return None
    now = now or utcnow()
    if token.last_used_at is None or now - token.last_used_at >= _LAST_USED_RESOLUTION:
        token.last_used_at = now
        session.flush()
    return token.user


def list_api_tokens(session: Session, *, user: User) -> Sequence[ApiToken]:
    return session.scalars(
        select(ApiToken).where(ApiToken.user_id == user.id).order_by(ApiToken.created_at.desc())
    ).all()


def revoke_api_token(session: Session, *, user: User, token_id: str, now: datetime | None = None) -> ApiToken:
    token = session.get(ApiToken, token_id)
    if token is None or token.user_id != user.id:
        raise UnknownToken(f"no token {token_id}")
    if token.revoked_at is None:
        token.revoked_at = now or utcnow()
        session.flush()
    return token
