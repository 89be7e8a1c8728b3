from __future__ import annotations

import pytest

from fairtrain.accounts.errors import WeakPassword
from fairtrain.accounts.passwords import check_strength, hash_password, needs_rehash, verify_password


@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("short1!", "at least 10"),
        ("password123", "too common"),
        ("iloveyou12", "too common"),
        ("aaaaaaaaaaaa", "too few different"),
        ("mira.okafor", "similar to the email"),
        ("x" * 1025 + "abcd", "at most 1024"),
    ],
)
def test_weak_passwords_are_refused_with_the_reason(password: str, message: str) -> None:
    with pytest.raises(WeakPassword, match=message):
        check_strength(password, min_length=10, email="mira.okafor@example.com")


def test_a_good_password_passes() -> None:
    check_strength("tidal-lantern-orchard-41", min_length=10, email="mira@example.com")


def test_hash_is_argon2id_and_verifies() -> None:
    hashed = hash_password("tidal-lantern-orchard-41")
    assert hashed.startswith("$argon2id$")
    assert verify_password(hashed, "tidal-lantern-orchard-41")
    assert not verify_password(hashed, "tidal-lantern-orchard-42")
    assert not needs_rehash(hashed)


@pytest.mark.parametrize("stored", [None, "", "not-a-hash", "$argon2id$v=19$garbage"])
def test_missing_or_damaged_hashes_never_match(stored: str | None) -> None:
    assert not verify_password(stored, "fairtrain-timing-equaliser")
    assert not verify_password(stored, "")
