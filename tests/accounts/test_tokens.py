from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from fairtrain.accounts import service
from fairtrain.accounts.errors import UnknownToken
from fairtrain.accounts.models import ApiToken
from fairtrain.accounts.tokens import authenticate_token, create_api_token, list_api_tokens, revoke_api_token


def test_token_is_shown_once_and_stored_hashed(db: Session) -> None:
    user = service.create_user(db, email="a@example.com", password=None, min_password_length=10)
    token, secret = create_api_token(db, user=user, name="laptop")
    assert secret.startswith("ftp_") and len(secret) > 40
    assert token.token_hash != secret and secret not in token.token_hash
    assert secret.startswith(token.hint)
    assert authenticate_token(db, secret) is user
    assert token.last_used_at is not None


def test_revoked_forged_and_foreign_tokens(db: Session) -> None:
    alice = service.create_user(db, email="a@example.com", password=None, min_password_length=10)
    bob = service.create_user(db, email="b@example.com", password=None, min_password_length=10)
    token, secret = create_api_token(db, user=alice, name="ci")
    with pytest.raises(UnknownToken):
        revoke_api_token(db, user=bob, token_id=token.id)
    revoke_api_token(db, user=alice, token_id=token.id)
    assert authenticate_token(db, secret) is None
    assert authenticate_token(db, secret[:-1] + ("A" if secret[-1] != "A" else "B")) is None
    assert authenticate_token(db, "Bearer nonsense") is None
    assert authenticate_token(db, "ftp_" + "x" * 500) is None
    assert [t.id for t in list_api_tokens(db, user=alice)] == [token.id]
    assert isinstance(list_api_tokens(db, user=alice)[0], ApiToken)


def test_token_name_is_required(db: Session) -> None:
    user = service.create_user(db, email="a@example.com", password=None, min_password_length=10)
    with pytest.raises(Exception, match="token name"):
        create_api_token(db, user=user, name="  ")
