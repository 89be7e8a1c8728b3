"""Password hashing (argon2id) and the strength rules applied at sign-up and password change."""

from __future__ import annotations

import gzip
from functools import cache
from importlib import resources

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from fairtrain.accounts.errors import WeakPassword

__all__ = ["check_strength", "hash_password", "needs_rehash", "verify_password"]

MAX_PASSWORD_LENGTH = 1024  # argon2 takes any length; this bounds the work one request can cause

_hasher = PasswordHasher()
# Verified against when the account does not exist, so the reply takes as long as for a real account.
_DUMMY_HASH = _hasher.hash("fairtrain-timing-equaliser")


@cache
def _common_passwords() -> frozenset[str]:
    data = resources.files("fairtrain.accounts").joinpath("data/common-passwords.txt.gz").read_bytes()
    return frozenset(line.strip() for line in gzip.decompress(data).decode().splitlines() if line.strip())


def check_strength(password: str, *, min_length: int, email: str | None = None) -> None:
    """Raise ``WeakPassword`` naming the first rule the password breaks."""
    if len(password) < min_length:
        raise WeakPassword(f"password must be at least {min_length} characters long")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise WeakPassword(f"password must be at most {MAX_PASSWORD_LENGTH} characters long")
    lowered = password.lower()
    if lowered in _common_passwords():
        raise WeakPassword("password is too common; choose one that is not on lists of leaked passwords")
    if len(set(password)) < 4:
        raise WeakPassword("password repeats too few different characters")
    if email:
        local = email.split("@", 1)[0].lower()
        if lowered in {email.lower(), local} or (
            len(local) >= 4 and local in lowered and len(lowered) - len(local) < 4
        ):
            raise WeakPassword("password is too similar to the email address")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """True when the password matches; a missing or damaged hash never matches."""
    if len(password) > MAX_PASSWORD_LENGTH:
        return False
    try:
        ok = _hasher.verify(password_hash or _DUMMY_HASH, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False
    return ok and bool(password_hash)


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)
