from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from tests.licensing.helpers import NOW, World

from fairtrain.errors import InvalidInput
from fairtrain.licensing.clients import (
    authenticate_client,
    create_client,
    get_client,
    list_clients,
    revoke_client,
    rotate_client_secret,
)
from fairtrain.licensing.errors import InvalidClient, NotAParty, UnknownClient
from fairtrain.licensing.models import ApiClient


def test_secret_is_shown_once_and_only_its_hash_is_stored(db: Session, world: World) -> None:
    client, secret = create_client(db, org=world.org, name="crawler", by=world.buyer)
    db.commit()
    assert client.id.startswith("ftc_") and secret.startswith("ftcs_")
    assert len(secret) > 40  # 256 random bits
    stored = db.scalar(select(ApiClient).where(ApiClient.id == client.id))
    assert stored is not None
    assert stored.secret_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in {str(v) for v in vars(stored).values()}
    assert stored.secret_hint == secret[:9]
    assert authenticate_client(db, client.id, secret, now=NOW).id == client.id
    assert stored.last_used_at == NOW


def test_wrong_or_unknown_credentials_are_one_error(db: Session, world: World) -> None:
    client, secret = create_client(db, org=world.org, name="crawler")
    for client_id, presented in [
        (client.id, secret + "x"),
        (client.id, ""),
        (client.id, "ftp_" + secret[5:]),
        ("ftc_0000000000000000", secret),
        ("nonsense", secret),
        (client.id, "x" * 10_000),
    ]:
        with pytest.raises(InvalidClient) as caught:
            authenticate_client(db, client_id, presented)
        assert caught.value.code == "invalid_client" and caught.value.status_code == 401


def test_rotation_replaces_the_secret(db: Session, world: World) -> None:
    client, old = create_client(db, org=world.org, name="crawler")
    new = rotate_client_secret(db, client=client, by=world.buyer, now=NOW)
    assert new != old and client.generation == 2 and client.rotated_at == NOW
    with pytest.raises(InvalidClient):
        authenticate_client(db, client.id, old)
    assert authenticate_client(db, client.id, new) is client


def test_revocation_is_final(db: Session, world: World) -> None:
    client, secret = create_client(db, org=world.org, name="crawler")
    revoke_client(db, client=client, now=NOW)
    revoke_client(db, client=client, now=NOW + timedelta(days=1))  # idempotent
    assert client.revoked_at == NOW
    with pytest.raises(InvalidClient):
        authenticate_client(db, client.id, secret)
    with pytest.raises(InvalidInput, match="revoked"):
        rotate_client_secret(db, client=client)
    assert list_clients(db, org=world.org) == []
    assert list_clients(db, org=world.org, include_revoked=True) == [client]


def test_only_members_manage_clients(db: Session, world: World) -> None:
    with pytest.raises(NotAParty):
        create_client(db, org=world.org, name="x", by=world.stranger)
    client, _ = create_client(db, org=world.org, name="crawler")
    with pytest.raises(NotAParty):
        rotate_client_secret(db, client=client, by=world.stranger)
    with pytest.raises(NotAParty):
        revoke_client(db, client=client, by=world.stranger)
    with pytest.raises(UnknownClient):
        get_client(db, client.id, org=world.other_org)
    with pytest.raises(InvalidInput, match="1–100"):
        create_client(db, org=world.org, name=" ")
