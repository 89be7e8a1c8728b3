"""API clients of licensee organisations: a public client id and a secret shown once, stored as SHA-256,
rotatable and revocable. The RSL licence server authenticates with ``authenticate_client`` (OLP Basic auth).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from fairtrain.accounts.models import LicenseeMember, LicenseeOrg, User
from fairtrain.db.base import utcnow
from fairtrain.errors import InvalidInput
from fairtrain.licensing.errors import InvalidClient, NotAParty, UnknownClient
from fairtrain.licensing.models import ApiClient

__all__ = [
    "CLIENT_ID_PREFIX",
    "SECRET_PREFIX",
    "authenticate_client",
    "create_client",
    "get_client",
    "list_clients",
    "revoke_client",
    "rotate_client_secret",
]

CLIENT_ID_PREFIX = "ftc_"
SECRET_PREFIX = "ftcs_"  # noqa: S105 - recognisable in logs and by secret scanners; unlike ftp_ personal tokens
_LAST_USED_RESOLUTION = timedelta(minutes=1)
# Never compared against anything: lets an unknown client id cost the same hash-and-compare as a known one.
_DUMMY_HASH = hashlib.sha256(b"no such client").hexdigest()


def _digest(secret: str) -> str:
    # 256 random bits: a fast hash is enough, there is nothing to brute-force.
    return hashlib.sha256(secret.encode()).hexdigest()


def _new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def _check_member(session: Session, org: LicenseeOrg, by: User | None) -> None:
    if by is not None and session.get(LicenseeMember, (org.id, by.id)) is None:
        raise NotAParty(f"{by.email} does not belong to {org.name}")


def create_client(
    session: Session, *, org: LicenseeOrg, name: str, by: User | None = None
) -> tuple[ApiClient, str]:
    """A new client for ``org``; returns the row and the secret, which is stored nowhere and shown once.

    ``by`` (when given) must be a member of the organisation; None is the operator's command line.
    """
    _check_member(session, org, by)
    name = name.strip()
    if not name or len(name) > 100:
        raise InvalidInput("client name must be 1–100 characters")
    secret = _new_secret()
    client = ApiClient(
        org=org,
        name=name,
        secret_hash=_digest(secret),
        secret_hint=secret[: len(SECRET_PREFIX) + 4],
        created_by=by.id if by else None,
    )
    session.add(client)
    session.flush()
    return client, secret


def get_client(session: Session, client_id: str, *, org: LicenseeOrg | None = None) -> ApiClient:
    client = session.get(ApiClient, client_id.strip())
    if client is None or (org is not None and client.org_id != org.id):
        raise UnknownClient(f"no API client {client_id}")
    return client


def list_clients(session: Session, *, org: LicenseeOrg, include_revoked: bool = False) -> Sequence[ApiClient]:
    query = select(ApiClient).where(ApiClient.org_id == org.id)
    if not include_revoked:
        query = query.where(ApiClient.revoked_at.is_(None))
    return session.scalars(query.order_by(ApiClient.created_at, ApiClient.id)).all()


def rotate_client_secret(
    session: Session, *, client: ApiClient, by: User | None = None, now: datetime | None = None
) -> str:
    """A new secret for ``client``; the old one stops working at once. Returns the new secret."""
    _check_member(session, client.org, by)
    if client.revoked_at is not None:
        raise InvalidInput(f"client {client.id} is revoked; create a new one")
    secret = _new_secret()
    client.secret_hash = _digest(secret)
    client.secret_hint = secret[: len(SECRET_PREFIX) + 4]
    client.generation += 1
    client.rotated_at = now or utcnow()
    session.flush()
    return secret


def revoke_client(
    session: Session, *, client: ApiClient, by: User | None = None, now: datetime | None = None
) -> ApiClient:
    """Revoke for good (idempotent): the client can no longer authenticate."""
    _check_member(session, client.org, by)
    if client.revoked_at is None:
        client.revoked_at = now or utcnow()
        session.flush()
    return client


def authenticate_client(
    session: Session, client_id: str, secret: str, *, now: datetime | None = None
) -> ApiClient:
    """The live client with this id and secret, or ``InvalidClient`` (unknown id, wrong secret, revoked)."""
    client = (
        session.get(ApiClient, client_id)
        if client_id.startswith(CLIENT_ID_PREFIX) and len(client_id) <= 32
        else None
    )
    presented = _digest(secret) if len(secret) <= 200 else ""
    expected = client.secret_hash if client is not None else _DUMMY_HASH
    matches = hmac.compare_digest(presented.encode(), expected.encode())
    if client is None or not matches or not secret.startswith(SECRET_PREFIX):
        raise InvalidClient()
    if client.revoked_at is not None:
        raise InvalidClient()
    now = now or utcnow()
    if client.last_used_at is None or now - client.last_used_at >= _LAST_USED_RESOLUTION:
        client.last_used_at = now
        session.flush()
    return client
