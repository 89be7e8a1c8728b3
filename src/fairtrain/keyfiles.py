"""Files that hold secrets: private directories, atomic 0600 writes, and passwords derived from the
installation's secret key. Shared by the C2PA certificate authority and the licence-token signing keys."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

__all__ = ["derive_password", "private_dir", "write_atomically"]


def derive_password(secret_key: str, *, info: bytes) -> bytes:
    """A 32-byte key for encrypting private keys at rest, one per purpose (``info``), from the secret key."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(secret_key.encode())


def private_dir(path: Path) -> Path:
    """Create ``path`` (and parents) as 0700, and take group/other access away from an existing one."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    if path.stat().st_mode & 0o077:
        path.chmod(0o700)
    return path


def write_atomically(path: Path, data: bytes) -> None:
    """Write a 0600 temporary file beside ``path``, flush it to disk, then rename it into place."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)  # make the rename itself durable
    finally:
        os.close(directory)
