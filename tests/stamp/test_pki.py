"""The installation's CA: what it stores, how, and the certificates c2pa needs from it."""

from __future__ import annotations

import stat
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from multiprocessing import get_context
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from fairtrain.errors import InvalidInput
from fairtrain.stamp import pki
from fairtrain.stamp.pki import Keyring, KeyringLocked, SigningCredentials

SECRET = "test-secret-key-" + "k" * 40
MIRA = {"creator_id": "crt_0123456789abcdef", "display_name": "Mira Okafor", "handle": "mira"}


def _certs(pem: bytes) -> list[x509.Certificate]:
    return x509.load_pem_x509_certificates(pem)


def _ring(path: Path, secret: str = SECRET) -> Keyring:
    return Keyring(path, secret_key=secret)


def _root_in(keys_dir: str) -> bytes:
    """Run in a separate process: first use of a shared keys dir."""
    return Keyring(Path(keys_dir), secret_key=SECRET).root_certificate_pem()


def test_root_is_made_on_first_use_and_kept(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    ring = _ring(keys)
    assert not keys.exists()
    pem = ring.root_certificate_pem()
    (root,) = _certs(pem)
    assert _ring(keys).root_certificate_pem() == pem

    constraints = root.extensions.get_extension_for_class(x509.BasicConstraints)
    assert constraints.critical and constraints.value.ca and constraints.value.path_length == 0
    usage = root.extensions.get_extension_for_class(x509.KeyUsage)
    assert usage.critical and usage.value.key_cert_sign and usage.value.crl_sign
    assert not usage.value.digital_signature
    root.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
    public_key = root.public_key()
    assert isinstance(public_key, ec.EllipticCurvePublicKey)
    assert public_key.curve.name == "secp256r1"
    lifetime = root.not_valid_after_utc - root.not_valid_before_utc
    assert timedelta(days=9 * 365) < lifetime < timedelta(days=11 * 365)
    root.verify_directly_issued_by(root)


def test_files_are_private_and_keys_encrypted(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    _ring(keys).credentials_for(**MIRA)

    for directory in (keys, keys / "creators"):
        assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    files = [p for p in keys.rglob("*") if p.is_file()]
    assert {p.name for p in files} >= {
        "root.pem",
        "root.key",
        f"{MIRA['creator_id']}.pem",
        f"{MIRA['creator_id']}.key",
    }
    for path in files:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert not [p for p in files if ".tmp" in p.name]

    for key_file in (keys / "root.key", keys / "creators" / f"{MIRA['creator_id']}.key"):
        pem = key_file.read_bytes()
        assert pem.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
        with pytest.raises(TypeError):
            serialization.load_pem_private_key(pem, password=None)
        with pytest.raises(ValueError, match="password"):
            serialization.load_pem_private_key(pem, password=SECRET.encode())


def test_existing_keys_dir_is_made_private(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    keys.mkdir(mode=0o755)
    keys.chmod(0o755)
    _ring(keys).root_certificate_pem()
    assert stat.S_IMODE(keys.stat().st_mode) == 0o700


def test_wrong_secret_key_locks_the_keyring(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    _ring(keys).credentials_for(**MIRA)
    stranger = _ring(keys, secret="another-secret-key-" + "z" * 40)

    with pytest.raises(KeyringLocked, match="secret key") as existing:
        stranger.credentials_for(**MIRA)  # the creator's own key
    with pytest.raises(KeyringLocked):
        stranger.credentials_for(
            creator_id="crt_fedcba9876543210", display_name="Sam", handle="sam"
        )  # root key
    assert existing.value.status_code == 500
    assert existing.value.code == "keyring_locked"
    # Certificates are public: reading them needs no secret.
    assert stranger.root_certificate_pem() == _ring(keys).root_certificate_pem()


def test_leaf_has_what_c2pa_requires_and_chains_to_the_root(tmp_path: Path) -> None:
    ring = _ring(tmp_path / "keys")
    credentials = ring.credentials_for(**MIRA)
    leaf, root = _certs(credentials.chain_pem)
    assert root.public_bytes(serialization.Encoding.PEM) == ring.root_certificate_pem()

    leaf.verify_directly_issued_by(root)
    constraints = leaf.extensions.get_extension_for_class(x509.BasicConstraints)
    assert constraints.critical and not constraints.value.ca
    usage = leaf.extensions.get_extension_for_class(x509.KeyUsage)
    assert usage.critical and usage.value.digital_signature and not usage.value.key_cert_sign
    eku = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.EMAIL_PROTECTION]
    aki = leaf.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    assert (
        aki.key_identifier == root.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    )

    assert credentials.subject == "Mira Okafor (@mira) via fairtrain"
    assert leaf.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == credentials.subject
    assert leaf.subject.get_attributes_for_oid(NameOID.USER_ID)[0].value == MIRA["creator_id"]
    assert credentials.algorithm == "es256"
    assert credentials.not_after == leaf.not_valid_after_utc
    assert timedelta(days=365) < credentials.not_after - datetime.now(UTC) <= timedelta(days=731)

    key = serialization.load_pem_private_key(credentials.private_key_pem, password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    assert key.public_key() == leaf.public_key()
    assert b"PRIVATE KEY" not in repr(credentials).encode()


def test_credentials_are_stable_until_something_changes(tmp_path: Path) -> None:
    ring = _ring(tmp_path / "keys")
    first = ring.credentials_for(**MIRA)
    assert _ring(tmp_path / "keys").credentials_for(**MIRA) == first

    renamed = ring.credentials_for(**{**MIRA, "display_name": "Mira O."})
    assert renamed.subject == "Mira O. (@mira) via fairtrain"
    assert renamed.chain_pem != first.chain_pem


def test_long_names_fit_a_common_name(tmp_path: Path) -> None:
    credentials = _ring(tmp_path / "keys").credentials_for(
        creator_id=MIRA["creator_id"], display_name="A" * 80, handle="someone"
    )
    assert len(credentials.subject) <= 64
    only_handle = _ring(tmp_path / "keys").credentials_for(
        creator_id="crt_fedcba9876543210", display_name="  ", handle="@sam"
    )
    assert only_handle.subject == "@sam via fairtrain"


def test_expiring_leaf_is_renewed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ring = _ring(tmp_path / "keys")
    # A leaf that lives less than the renewal margin is "expiring soon" from the moment it is made.
    monkeypatch.setattr(pki, "LEAF_VALIDITY", pki.RENEW_BEFORE - timedelta(days=1))
    short = ring.credentials_for(**MIRA)
    again = ring.credentials_for(**MIRA)
    assert _certs(again.chain_pem)[0].serial_number != _certs(short.chain_pem)[0].serial_number

    monkeypatch.undo()
    renewed = ring.credentials_for(**MIRA)
    assert renewed.not_after - datetime.now(UTC) > timedelta(days=365)
    assert ring.credentials_for(**MIRA) == renewed


def test_rotate_creator_gives_a_new_key(tmp_path: Path) -> None:
    ring = _ring(tmp_path / "keys")
    before = ring.credentials_for(**MIRA)
    sam = ring.credentials_for(creator_id="crt_fedcba9876543210", display_name="Sam", handle="sam")

    ring.rotate_creator(MIRA["creator_id"])
    after = ring.credentials_for(**MIRA)
    assert after.private_key_pem != before.private_key_pem
    assert _certs(after.chain_pem)[0].public_key() != _certs(before.chain_pem)[0].public_key()
    assert after.subject == before.subject
    assert ring.credentials_for(creator_id="crt_fedcba9876543210", display_name="Sam", handle="sam") == sam

    ring.rotate_creator("crt_0000000000000000")  # no certificate yet: nothing to rotate
    assert not (tmp_path / "keys" / "creators" / "crt_0000000000000000.pem").exists()


def test_rotate_root_archives_the_old_root_and_reissues_leaves(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    ring = _ring(keys)
    old_root = ring.root_certificate_pem()
    old_leaf = ring.credentials_for(**MIRA)
    assert ring.trust_anchors_pem() == old_root

    ring.rotate_root()
    new_root = ring.root_certificate_pem()
    assert new_root != old_root
    anchors = ring.trust_anchors_pem()
    assert {c.public_bytes(serialization.Encoding.PEM) for c in _certs(anchors)} == {old_root, new_root}
    assert [p.suffix for p in (keys / "archive").iterdir()] == [".pem"]  # the old root's key is gone

    new_leaf = ring.credentials_for(**MIRA)
    leaf, root = _certs(new_leaf.chain_pem)
    assert root.public_bytes(serialization.Encoding.PEM) == new_root
    leaf.verify_directly_issued_by(root)
    assert new_leaf.private_key_pem != old_leaf.private_key_pem

    ring.rotate_root()
    assert len(_certs(ring.trust_anchors_pem())) == 3


@pytest.mark.parametrize(
    "creator_id",
    ["", "crt_", "../crt_0123456789abcdef", "crt_0123456789abcdef/../../root", "crt_0123/456789abcdef",
     "CRT_0123456789ABCDEF", "usr_0123456789abcdef", "crt_0123456789abcdef.key", "crt_0123456789abcdef\x00"],
)  # fmt: skip
def test_creator_ids_are_checked(tmp_path: Path, creator_id: str) -> None:
    ring = _ring(tmp_path / "keys")
    with pytest.raises(InvalidInput, match="creator id"):
        ring.credentials_for(creator_id=creator_id, display_name="X", handle="x")
    with pytest.raises(InvalidInput, match="creator id"):
        ring.rotate_creator(creator_id)
    assert list(tmp_path.iterdir()) == []


def test_a_name_is_required(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput):
        _ring(tmp_path / "keys").credentials_for(creator_id=MIRA["creator_id"], display_name=" ", handle="")
    with pytest.raises(ValueError, match="secret"):
        Keyring(tmp_path / "keys", secret_key="")


def test_concurrent_first_use_makes_one_root(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    with ProcessPoolExecutor(max_workers=4, mp_context=get_context("spawn")) as pool:
        roots = set(pool.map(_root_in, [str(keys)] * 8))
    assert len(roots) == 1

    fresh = tmp_path / "fresh"
    with ThreadPoolExecutor(max_workers=8) as pool:
        creds = list(pool.map(lambda _: _ring(fresh).credentials_for(**MIRA), range(8)))
    assert len({c.chain_pem for c in creds}) == 1
    assert all(isinstance(c, SigningCredentials) for c in creds)
