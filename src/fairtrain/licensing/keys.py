"""The licence server's signing keys: one ES256 (P-256) key signs every licence token, rotatable, and every
public key that may still have live tokens is published in a JWKS so resource servers verify offline.

Storage, under ``keys_dir`` (``<data_dir>/keys/olp``, mode 0700), like :mod:`fairtrain.stamp.pki`:

- ``keys.json``: the manifest, one entry per published key: ``kid`` (the RFC 7638 thumbprint of the public
  key), the public JWK, when it was made, and for a retired key when it was retired and until when it stays
  published. Exactly one key is current (not retired).
- ``<kid>.key``: the current key's private half, PKCS#8 PEM encrypted with a key derived (HKDF-SHA256) from
  the installation's secret key. A retired key's private half is deleted at rotation: nothing more is
  signed with it.

Every file is written whole (temporary file, fsync, rename) with mode 0600, and an exclusive ``flock`` on
``keys_dir/.lock`` serialises creation and rotation across threads and processes, so two workers starting
at once make one key. Readers take a shared lock; each process reloads when the manifest file changes (one
``stat`` per call), so a rotation made by another worker is picked up at once.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from joserfc.errors import JoseError
from joserfc.jwk import ECKey

from fairtrain.errors import FairtrainError
from fairtrain.keyfiles import derive_password, private_dir, write_atomically

__all__ = [
    "ALGORITHM",
    "SigningKey",
    "SigningKeyring",
    "SigningKeysLocked",
    "VerificationKeys",
]

ALGORITHM = "ES256"
_CURVE = "P-256"
_KDF_INFO = b"fairtrain licence server: signing keys at rest v1"
_MANIFEST = "keys.json"
_LOCK = ".lock"
_KID = re.compile(r"[A-Za-z0-9_-]{16,64}")
_MAX_JWKS_KEYS = 32
_MAX_JWKS_BYTES = 64 * 1024


class SigningKeysLocked(FairtrainError):
    """The stored signing keys are missing, damaged, or cannot be decrypted with this secret key."""

    status_code = 500
    code = "signing_keys_locked"


@dataclass(frozen=True)
class SigningKey:
    """The current private key, in memory only."""

    kid: str
    key: ECKey

    def __repr__(self) -> str:  # keep the private key out of logs and tracebacks
        return f"SigningKey(kid={self.kid!r})"


class VerificationKeys(Mapping[str, ECKey]):
    """Public keys by ``kid``: what :func:`fairtrain.licensing.tokens.verify_license_token` checks against.

    Immutable; build it once (from the local keyring, or from a JWKS fetched from ``/rsl/jwks.json``) and
    reuse it for every request: the keys are parsed here, not on each verification.
    """

    def __init__(self, keys: Mapping[str, ECKey]) -> None:
        self._keys = dict(keys)
        # Tokens whose signature verified under these keys, with their claims: a crawler presents the same
        # token on every request, and a signature check costs ~0.1 ms. Bounded by the verifier; it goes
        # away with this object (a rotation builds a new one).
        self.verified: dict[str, Any] = {}

    def __getitem__(self, kid: str) -> ECKey:
        return self._keys[kid]

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys)

    def __len__(self) -> int:
        return len(self._keys)

    def __repr__(self) -> str:
        return f"VerificationKeys({sorted(self._keys)})"

    @classmethod
    def from_jwks(cls, jwks: Mapping[str, Any] | str | bytes) -> VerificationKeys:
        """Parse a JWKS document (text or parsed). Keys that are not public P-256 signing keys with a
        ``kid`` are skipped (a JWKS may hold other keys); ``ValueError`` when it is not a JWKS at all."""
        if isinstance(jwks, str | bytes):
            if len(jwks) > _MAX_JWKS_BYTES:
                raise ValueError("the JWKS document is too large")
            try:
                jwks = json.loads(jwks)
            except ValueError:
                raise ValueError("the JWKS document is not JSON") from None
        if not isinstance(jwks, Mapping) or not isinstance(jwks.get("keys"), list):
            raise ValueError('a JWKS is an object with a "keys" list')
        keys: dict[str, ECKey] = {}
        for entry in jwks["keys"][:_MAX_JWKS_KEYS]:
            if not isinstance(entry, Mapping) or entry.get("kty") != "EC" or entry.get("crv") != _CURVE:
                continue
            kid = entry.get("kid")
            if not isinstance(kid, str) or not kid or "d" in entry:
                continue  # a key without kid cannot be chosen; a private key does not belong here
            if entry.get("use", "sig") != "sig" or entry.get("alg", ALGORITHM) != ALGORITHM:
                continue
            try:
                keys[kid] = ECKey.import_key(
                    {
                        name: entry[name]
                        for name in ("kty", "crv", "x", "y")
                        if isinstance(entry.get(name), str)
                    }
                )
            except (JoseError, ValueError, TypeError):
                continue
        return cls(keys)


@dataclass(frozen=True)
class _KeyEntry:
    kid: str
    public: dict[str, str]  # kty, crv, x, y
    created_at: datetime
    retired_at: datetime | None = None
    published_until: datetime | None = None  # for a retired key

    def as_json(self) -> dict[str, Any]:
        return {
            "kid": self.kid,
            "public": self.public,
            "created_at": self.created_at.isoformat(),
            "retired_at": self.retired_at.isoformat() if self.retired_at else None,
            "published_until": self.published_until.isoformat() if self.published_until else None,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> _KeyEntry:
        def when(value: object) -> datetime | None:
            return datetime.fromisoformat(value) if isinstance(value, str) else None

        kid = data["kid"]
        if not isinstance(kid, str) or not _KID.fullmatch(kid):
            raise ValueError(f"bad kid {kid!r}")
        created = when(data["created_at"])
        if created is None:
            raise ValueError("created_at missing")
        return cls(
            kid=kid,
            public={k: str(v) for k, v in dict(data["public"]).items()},
            created_at=created,
            retired_at=when(data.get("retired_at")),
            published_until=when(data.get("published_until")),
        )

    def jwk(self) -> dict[str, str]:
        return {**self.public, "kid": self.kid, "use": "sig", "alg": ALGORITHM}


@dataclass(frozen=True)
class _State:
    stamp: tuple[int, int, int]  # the manifest's inode, mtime and size when it was read
    entries: tuple[_KeyEntry, ...]
    signing: SigningKey
    verification: VerificationKeys


class SigningKeyring:
    """The installation's licence-token signing keys, on disk under ``keys_dir``; made on first use."""

    def __init__(self, keys_dir: Path, *, secret_key: str) -> None:
        if not secret_key:
            raise ValueError("the signing keyring needs the installation's secret key")
        self.keys_dir = Path(keys_dir)
        self._password = derive_password(secret_key, info=_KDF_INFO)
        self._state: _State | None = None
        self._mutex = threading.Lock()

    # --- public API ---------------------------------------------------------------------------------

    def signing_key(self) -> SigningKey:
        """The current key, made when there is none."""
        return self._current().signing

    def verification_keys(self) -> VerificationKeys:
        """Every published public key by ``kid`` (the current one and retired ones still published)."""
        return self._current().verification

    def jwks(self, *, now: datetime | None = None) -> dict[str, list[dict[str, str]]]:
        """The JWKS to publish: the current key and every retired key whose tokens may still be live."""
        now = now or datetime.now(UTC)
        entries = self._current().entries
        return {"keys": [e.jwk() for e in entries if e.published_until is None or e.published_until > now]}

    def rotate(self, *, publish_for: timedelta, now: datetime | None = None) -> str:
        """Make a new current key and return its kid. The old key signs nothing more (its private half is
        deleted now) but stays in the JWKS for ``publish_for`` (the longest token lifetime plus clock
        skew), so the tokens it signed keep verifying until they expire. Retired keys whose time is up are
        dropped from the manifest."""
        now = now or datetime.now(UTC)
        with self._mutex, self._locked(exclusive=True):
            entries = self._read_manifest()
            if entries is None:
                entries = ()
            retired: list[_KeyEntry] = []
            for entry in entries:
                if entry.retired_at is None:
                    entry = _KeyEntry(entry.kid, entry.public, entry.created_at, now, now + publish_for)
                if entry.published_until is not None and entry.published_until <= now:
                    continue
                retired.append(entry)
            new = self._make_key(now)
            self._write_manifest((new, *retired))
            for entry in entries:
                if entry.kid != new.kid:
                    (self.keys_dir / f"{entry.kid}.key").unlink(missing_ok=True)
            self._state = None
        return new.kid

    # --- loading ------------------------------------------------------------------------------------

    def _current(self) -> _State:
        stamp = self._stamp()
        state = self._state
        if state is not None and stamp == state.stamp:
            return state
        with self._mutex:
            state = self._state
            if state is not None and self._stamp() == state.stamp:
                return state
            state = self._load()
            self._state = state
            return state

    def _stamp(self) -> tuple[int, int, int] | None:
        try:
            st = (self.keys_dir / _MANIFEST).stat()
        except FileNotFoundError:
            return None
        return (st.st_ino, st.st_mtime_ns, st.st_size)

    def _load(self) -> _State:
        with self._locked(exclusive=False):
            entries = self._read_manifest()
            if entries is not None:
                return self._state_from(entries)
        with self._locked(exclusive=True):
            entries = self._read_manifest()  # another process may have made it meanwhile
            if entries is None:
                entries = (self._make_key(datetime.now(UTC)),)
                self._write_manifest(entries)
            return self._state_from(entries)

    def _state_from(self, entries: tuple[_KeyEntry, ...]) -> _State:
        """Call with a lock held: the manifest and the key file it names belong together."""
        stamp = self._stamp()
        assert stamp is not None
        current = [e for e in entries if e.retired_at is None]
        if len(current) != 1:
            raise SigningKeysLocked(
                f"{self.keys_dir / _MANIFEST} names {len(current)} current keys instead of one; "
                "rotate the key to start afresh"
            )
        private = self._load_private(current[0].kid)
        verification = VerificationKeys({e.kid: ECKey.import_key(dict(e.public)) for e in entries})
        return _State(stamp, entries, SigningKey(current[0].kid, private), verification)

    # --- storage ------------------------------------------------------------------------------------

    @contextmanager
    def _locked(self, *, exclusive: bool) -> Iterator[None]:
        private_dir(self.keys_dir)
        fd = os.open(self.keys_dir / _LOCK, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
            yield
        finally:
            os.close(fd)  # closing releases the lock

    def _read_manifest(self) -> tuple[_KeyEntry, ...] | None:
        path = self.keys_dir / _MANIFEST
        try:
            data = json.loads(path.read_bytes())
        except FileNotFoundError:
            return None
        except ValueError:
            raise SigningKeysLocked(f"{path} is damaged: it is not JSON") from None
        try:
            return tuple(_KeyEntry.from_json(item) for item in data["keys"])
        except (KeyError, TypeError, ValueError) as exc:
            raise SigningKeysLocked(f"{path} is damaged: {exc}") from None

    def _write_manifest(self, entries: tuple[_KeyEntry, ...]) -> None:
        body = {"version": 1, "algorithm": ALGORITHM, "keys": [e.as_json() for e in entries]}
        write_atomically(self.keys_dir / _MANIFEST, json.dumps(body, indent=2).encode() + b"\n")

    def _make_key(self, now: datetime) -> _KeyEntry:
        """A new key: its encrypted private half on disk, its manifest entry returned (not yet written:
        the caller writes the manifest after, so a manifest never names a key file that is not there)."""
        private = ec.generate_private_key(ec.SECP256R1())
        public = ECKey.import_key(private.public_key())
        kid = public.thumbprint()
        write_atomically(
            self.keys_dir / f"{kid}.key",
            private.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.BestAvailableEncryption(self._password),
            ),
        )
        fields = public.as_dict(private=False)
        return _KeyEntry(kid, {k: str(fields[k]) for k in ("kty", "crv", "x", "y")}, now)

    def _load_private(self, kid: str) -> ECKey:
        path = self.keys_dir / f"{kid}.key"
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise SigningKeysLocked(
                f"the licence server's signing key {path} is missing; restore it from a backup, or rotate "
                "the key to start a new one"
            ) from None
        try:
            key = serialization.load_pem_private_key(data, password=self._password)
        except (ValueError, TypeError):
            raise SigningKeysLocked(
                f"the signing key in {path} cannot be decrypted with this installation's secret key; it "
                "must be the secret key it was made with (or rotate the key to start a new one)"
            ) from None
        if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
            raise SigningKeysLocked(f"{path} does not hold a P-256 private key")
        return ECKey.import_key(key)
