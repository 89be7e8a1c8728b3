"""Content-addressed media store: each file kept once, under its SHA-256, never modified."""

from __future__ import annotations

import hashlib
import os
import secrets
from pathlib import Path
from typing import BinaryIO

__all__ = ["MediaStore", "hash_file"]

_CHUNK = 1024 * 1024


def hash_file(path: Path) -> tuple[str, int]:
    """SHA-256 hex digest and size of a file, read in chunks."""
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class MediaStore:
    """``root/ab/cd/abcd...``: written through a temporary file and an atomic rename."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path_for(self, sha256: str) -> Path:
        if len(sha256) != 64 or not all(c in "0123456789abcdef" for c in sha256):
            raise ValueError(f"not a SHA-256 hex digest: {sha256!r}")
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def has(self, sha256: str) -> bool:
        return self.path_for(sha256).is_file()

    def _write(self, source: BinaryIO) -> tuple[str, int]:
        tmp_dir = self.root / "tmp"
        tmp_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        tmp = tmp_dir / f"{os.getpid()}-{secrets.token_hex(8)}"
        digest = hashlib.sha256()
        size = 0
        try:
            with tmp.open("xb") as out:
                while chunk := source.read(_CHUNK):
                    digest.update(chunk)
                    size += len(chunk)
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            sha256 = digest.hexdigest()
            target = self.path_for(sha256)
            if target.is_file():
                return sha256, size  # already stored: content-addressed, so identical
            target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            tmp.chmod(0o400)
            tmp.replace(target)
            return sha256, size
        finally:
            tmp.unlink(missing_ok=True)

    def remove_orphaned_tmp(self) -> int:
        """Delete temporary files left by a writer that was killed (its process no longer exists)."""
        tmp_dir = self.root / "tmp"
        removed = 0
        for tmp in tmp_dir.glob("*-*") if tmp_dir.is_dir() else ():
            pid = tmp.name.split("-", 1)[0]
            if pid.isdigit() and not _alive(int(pid)):
                tmp.unlink(missing_ok=True)
                removed += 1
        return removed

    def ingest(self, path: Path) -> tuple[str, int]:
        """Copy ``path`` into the store while hashing it (one read); return (sha256, size)."""
        with path.open("rb") as handle:
            return self._write(handle)

    def put_bytes(self, data: bytes) -> tuple[str, int]:
        import io

        return self._write(io.BytesIO(data))
