"""Idempotency keys: a money-moving request runs once per key; a replay gets the first result back.

``idempotent`` claims the key (a row in ``ledger_idempotency_keys``) before the work runs, in the caller's
database transaction, and stores the work's JSON result next to it. So:

- a replay after the first request committed returns the stored result and does nothing;
- the same key with a different request (another fingerprint) is refused with ``IdempotencyKeyReused`` (409);
- a replay that races the first request waits for it on the unique index (PostgreSQL) or the write lock
  (SQLite) and is then refused with ``RequestInProgress`` (409), to be retried;
- if the work fails, the caller's transaction rolls back and the key is free again.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from fairtrain.ledger.errors import IdempotencyKeyReused, MissingIdempotencyKey, RequestInProgress
from fairtrain.ledger.models import IdempotencyKey

__all__ = ["MAX_KEY_LENGTH", "check_key", "fingerprint", "idempotent"]

MAX_KEY_LENGTH = 255

Result = dict[str, Any]


def check_key(key: str | None) -> str:
    """The key, if it is a usable Idempotency-Key (1–255 printable characters)."""
    if key is None or not key.strip():
        raise MissingIdempotencyKey("an idempotency key is required for every request that moves money")
    if len(key) > MAX_KEY_LENGTH or not key.isprintable():
        raise MissingIdempotencyKey(f"an idempotency key is 1 to {MAX_KEY_LENGTH} printable characters")
    return key


def fingerprint(**fields: object) -> str:
    """A stable digest of a request's meaningful fields (sorted JSON; dates and Fractions as text)."""
    text = json.dumps(fields, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def idempotent(
    session: Session, *, key: str, scope: str, fingerprint: str, fn: Callable[[], Result]
) -> Result:
    """Run ``fn`` once for (scope, key) and return its JSON result; on replay return the stored one."""
    key = check_key(key)
    row = session.scalar(
        select(IdempotencyKey).where(IdempotencyKey.scope == scope, IdempotencyKey.key == key)
    )
    if row is not None:
        return _replay(row, fingerprint)
    row = IdempotencyKey(scope=scope, key=key, fingerprint=fingerprint)
    session.add(row)
    try:
        session.flush()
    except IntegrityError:
        raise RequestInProgress(
            f"a request with idempotency key {key!r} is being processed; retry it to get its result"
        ) from None
    result = fn()
    row.result = result
    session.flush()
    return result


def _replay(row: IdempotencyKey, fingerprint: str) -> Result:
    if row.fingerprint != fingerprint:
        raise IdempotencyKeyReused(
            f"idempotency key {row.key!r} was used for a different {row.scope} request; use a new key"
        )
    if row.result is None:  # only visible inside the transaction that is running it
        raise RequestInProgress(f"the request with idempotency key {row.key!r} is still running")
    result: Result = row.result
    return result
