"""A certificate authority of one's own: each installation signs its creators' C2PA manifests.

C2PA readers (c2pa-rs, and so c2pa-python) refuse a self-signed end-entity certificate, and nobody should
have to buy a certificate to say "this photo is mine and not for AI training". So every installation makes
its own root CA on first use and issues each creator a leaf certificate from it. A manifest then reads as
"valid" anywhere and as "trusted" wherever the installation's root is configured as a trust anchor (its
own verify page, or a verifier given :meth:`Keyring.trust_anchors_pem`).

What c2pa-rs 0.91 (c2pa-python 0.38) demands of the leaf, found by trying: CA:false, keyUsage
digitalSignature, and an extendedKeyUsage it recognises. emailProtection is accepted; documentSigning
(1.3.6.1.5.5.7.3.36) fails with "certificate missing required EKU", and codeSigning, serverAuth,
anyExtendedKeyUsage or no EKU at all fail with "the certificate is invalid". Validity was not restricted
(a 25-year leaf signed fine), and the signer refuses a certificate that is not valid at signing time.
Because signing is offline (no time-stamp authority), readers check the leaf against the *current* time:
once a leaf expires, the manifests it signed read ``signingCredential.expired``. Leaves last two years and
are renewed 60 days before they expire; :mod:`fairtrain.stamp.provenance` reports an expired signer as
"valid", not "invalid", since the content itself is intact.

Keys are stored under ``keys_dir`` (0700): certificates as PEM, private keys as PKCS#8 PEM encrypted with a
key derived from the installation's secret key, every file written whole (temporary file, then rename)
with mode 0600. An exclusive ``flock`` on ``keys_dir/.lock`` serialises every operation, across threads and
processes, so two workers starting at once cannot make two different roots.
"""

from __future__ import annotations

import fcntl
import os
import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from fairtrain.errors import FairtrainError, InvalidInput
from fairtrain.keyfiles import derive_password, private_dir, write_atomically

__all__ = ["Keyring", "KeyringLocked", "SigningCredentials"]

ROOT_VALIDITY = timedelta(days=3652)
LEAF_VALIDITY = timedelta(days=730)
# A leaf this close to its end (or to its root's end) is replaced before it signs anything else.
RENEW_BEFORE = timedelta(days=60)
# Certificates start a little in the past so a verifier whose clock lags ours still accepts them.
_BACKDATE = timedelta(minutes=10)
_CN_MAX = 64  # RFC 5280 upper bound for a commonName

_CREATOR_ID = re.compile(r"crt_[0-9a-z]{8,40}")
_KDF_INFO = b"fairtrain keyring: private keys at rest v1"

_ROOT_CERT = "root.pem"
_ROOT_KEY = "root.key"
_ARCHIVE = "archive"
_CREATORS = "creators"
_LOCK = ".lock"


class KeyringLocked(FairtrainError):
    """The stored private keys cannot be decrypted with this installation's secret key."""

    status_code = 500
    code = "keyring_locked"


@dataclass(frozen=True)
class SigningCredentials:
    """What a C2PA signer needs for one creator. ``private_key_pem`` is never written anywhere unencrypted."""

    chain_pem: bytes = field(repr=False)  # leaf certificate, then the root that issued it
    private_key_pem: bytes = field(repr=False)  # unencrypted PKCS#8 PEM, in memory only; kept out of logs
    algorithm: str  # "es256"
    subject: str  # e.g. "Mira Okafor (@mira) via fairtrain"
    not_after: datetime


class Keyring:
    """The installation's root CA and one leaf certificate per creator, on disk under ``keys_dir``."""

    def __init__(self, keys_dir: Path, *, secret_key: str, organisation: str = "fairtrain") -> None:
        if not secret_key:
            raise ValueError("the keyring needs the installation's secret key")
        if not organisation.strip():
            raise ValueError("organisation must not be blank")
        self.keys_dir = Path(keys_dir)
        self.organisation = organisation.strip()
        self._password = derive_password(secret_key, info=_KDF_INFO)

    # --- public API ---------------------------------------------------------------------------------

    def root_certificate_pem(self) -> bytes:
        """The current root certificate, made on first use."""
        with self._locked():
            return _pem(self._root_certificate())

    def trust_anchors_pem(self) -> bytes:
        """The current root and every archived one, concatenated: what a verifier should trust."""
        with self._locked():
            anchors = [_pem(self._root_certificate())]
            archive = self.keys_dir / _ARCHIVE
            if archive.is_dir():
                anchors += [path.read_bytes() for path in sorted(archive.glob("*.pem"))]
            return b"".join(anchors)

    def credentials_for(self, *, creator_id: str, display_name: str, handle: str) -> SigningCredentials:
        """The creator's signing key and certificate chain, issuing or renewing the leaf when needed.

        A new leaf is issued when there is none, when it has expired or expires within ``RENEW_BEFORE``,
        when an older root issued it, or when the creator's name or handle changed.
        """
        path = self._leaf_path(creator_id)
        subject = _leaf_subject(display_name, handle, self.organisation)
        with self._locked():
            root = self._root_certificate()
            if _root_needs_rotation(root):
                self._rotate_root_locked()
                root = self._root_certificate()
            leaf = _read_certificate(path.with_suffix(".pem"))
            if leaf is None or self._leaf_is_stale(leaf, root, subject):
                self._issue_leaf(creator_id, subject, root)
                leaf = _read_certificate(path.with_suffix(".pem"))
                assert leaf is not None
            key = self._load_key(path.with_suffix(".key"))
            return SigningCredentials(
                chain_pem=_pem(leaf) + _pem(root),
                private_key_pem=key.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption(),
                ),
                algorithm="es256",
                subject=subject,
                not_after=leaf.not_valid_after_utc,
            )

    def rotate_root(self) -> None:
        """Make a new root. The old certificate is archived (still a trust anchor for what it signed) and
        its private key destroyed; every leaf is re-issued from the new root on its next use."""
        with self._locked():
            self._rotate_root_locked()

    def rotate_creator(self, creator_id: str) -> None:
        """Give the creator a new key and certificate now, under the same name. A creator who has no
        certificate yet gets one on first use anyway, so there is nothing to do for them."""
        path = self._leaf_path(creator_id)
        with self._locked():
            leaf = _read_certificate(path.with_suffix(".pem"))
            if leaf is None:
                return
            subject = leaf.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
            self._issue_leaf(creator_id, str(subject), self._root_certificate())

    # --- storage ------------------------------------------------------------------------------------

    @contextmanager
    def _locked(self) -> Iterator[None]:
        private_dir(self.keys_dir)
        # flock locks belong to the open file description, so this excludes other threads of this
        # process (each opens its own) as well as other processes.
        fd = os.open(self.keys_dir / _LOCK, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing releases the lock

    def _leaf_path(self, creator_id: str) -> Path:
        """``creators/<id>`` without suffix; the id is checked so it cannot name a path outside."""
        if not isinstance(creator_id, str) or not _CREATOR_ID.fullmatch(creator_id):
            raise InvalidInput(f"not a creator id: {creator_id!r}")
        return self.keys_dir / _CREATORS / creator_id

    def _root_certificate(self) -> x509.Certificate:
        """The current root; made here when there is none. Call with the lock held."""
        root = _read_certificate(self.keys_dir / _ROOT_CERT)
        if root is None:
            root = self._make_root()
        return root

    def _make_root(self) -> x509.Certificate:
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name(
            [
                # A random suffix tells one installation's root from another's with the same name.
                x509.NameAttribute(
                    NameOID.COMMON_NAME, f"{self.organisation[:40]} root CA {secrets.token_hex(4)}"
                ),
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, self.organisation[:_CN_MAX]),
            ]
        )
        now = datetime.now(UTC)
        certificate = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - _BACKDATE)
            .not_valid_after(now + ROOT_VALIDITY)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(_key_usage(key_cert_sign=True, crl_sign=True), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256())
        )
        # Key first: a root certificate on disk always has its key beside it.
        self._write_key(self.keys_dir / _ROOT_KEY, key)
        write_atomically(self.keys_dir / _ROOT_CERT, _pem(certificate))
        return certificate

    def _rotate_root_locked(self) -> None:
        old = _read_certificate(self.keys_dir / _ROOT_CERT)
        if old is not None:
            archive = private_dir(self.keys_dir / _ARCHIVE)
            stamp = old.not_valid_before_utc.strftime("%Y%m%dT%H%M%SZ")
            write_atomically(archive / f"root-{stamp}-{old.serial_number:x}.pem", _pem(old))
            (self.keys_dir / _ROOT_KEY).unlink(missing_ok=True)
            (self.keys_dir / _ROOT_CERT).unlink()
        self._make_root()

    def _leaf_is_stale(self, leaf: x509.Certificate, root: x509.Certificate, subject: str) -> bool:
        if leaf.not_valid_after_utc - datetime.now(UTC) < RENEW_BEFORE:
            return True
        if _authority_key_id(leaf) != _subject_key_id(root):
            return True
        names = leaf.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        return not names or names[0].value != subject

    def _issue_leaf(self, creator_id: str, subject: str, root: x509.Certificate) -> None:
        root_key = self._load_key(self.keys_dir / _ROOT_KEY)
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.now(UTC)
        name = x509.Name(
            [
                x509.NameAttribute(NameOID.COMMON_NAME, subject),
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, self.organisation[:_CN_MAX]),
                # Lets a verifier map a certificate back to the creator, whatever their name becomes.
                x509.NameAttribute(NameOID.USER_ID, creator_id),
            ]
        )
        certificate = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(root.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - _BACKDATE)
            # A leaf must not outlive its issuer.
            .not_valid_after(min(now + LEAF_VALIDITY, root.not_valid_after_utc))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_key_usage(digital_signature=True), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(
                    root.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
                ),
                critical=False,
            )
            .sign(root_key, hashes.SHA256())
        )
        path = self._leaf_path(creator_id)
        private_dir(path.parent)
        # Key, then certificate: the lock keeps readers from seeing the pair half-replaced.
        self._write_key(path.with_suffix(".key"), key)
        write_atomically(path.with_suffix(".pem"), _pem(certificate))

    def _write_key(self, path: Path, key: ec.EllipticCurvePrivateKey) -> None:
        write_atomically(
            path,
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.BestAvailableEncryption(self._password),
            ),
        )

    def _load_key(self, path: Path) -> ec.EllipticCurvePrivateKey:
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise KeyringLocked(
                f"the keyring at {self.keys_dir} is missing {path.name}; restore it from a backup, "
                "or rotate the root to start a new one"
            ) from None
        try:
            key = serialization.load_pem_private_key(data, password=self._password)
        except (ValueError, TypeError):
            # cryptography says "Incorrect password" (ValueError) or, for a key stored unencrypted by
            # something else, TypeError; both mean this secret key cannot be used with this keyring.
            raise KeyringLocked(
                f"the signing keys in {self.keys_dir} cannot be decrypted with this installation's secret "
                "key; it must be the secret key they were made with"
            ) from None
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise KeyringLocked(f"{path} does not hold an EC private key")
        return key


# --- helpers ----------------------------------------------------------------------------------------


def _leaf_subject(display_name: str, handle: str, organisation: str) -> str:
    name = " ".join(display_name.split())
    handle = handle.strip().lstrip("@")
    if not name and not handle:
        raise InvalidInput("a certificate needs the creator's name or handle")
    who = f"{name} (@{handle})" if name and handle else name or f"@{handle}"
    suffix = f" via {organisation}"
    if len(who) + len(suffix) > _CN_MAX:
        suffix = ""
    return (who + suffix)[:_CN_MAX]


def _root_needs_rotation(root: x509.Certificate) -> bool:
    return root.not_valid_after_utc - datetime.now(UTC) < RENEW_BEFORE


def _key_usage(
    *, digital_signature: bool = False, key_cert_sign: bool = False, crl_sign: bool = False
) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=digital_signature,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=key_cert_sign,
        crl_sign=crl_sign,
        encipher_only=False,
        decipher_only=False,
    )


def _subject_key_id(certificate: x509.Certificate) -> bytes:
    return certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest


def _authority_key_id(certificate: x509.Certificate) -> bytes | None:
    try:
        return certificate.extensions.get_extension_for_class(
            x509.AuthorityKeyIdentifier
        ).value.key_identifier
    except x509.ExtensionNotFound:
        return None


def _pem(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.PEM)


def _read_certificate(path: Path) -> x509.Certificate | None:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    try:
        return x509.load_pem_x509_certificate(data)
    except ValueError:
        raise KeyringLocked(f"{path} is damaged: it does not hold a PEM certificate") from None
