"""Saving an uploaded file to a private temporary path for the catalogue's import path."""

from __future__ import annotations

import secrets
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from fastapi import UploadFile

from fairtrain.errors import InvalidInput

__all__ = ["saved_upload"]


@contextmanager
def saved_upload(upload: UploadFile, *, tmp_dir: Path) -> Iterator[tuple[Path, str]]:
    """The upload saved in ``tmp_dir`` with its extension (which tells markdown from text); removed after."""
    filename = Path(upload.filename or "").name
    if not filename:
        raise InvalidInput("the upload has no file name")
    tmp_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    suffix = Path(filename).suffix[:16]
    path = tmp_dir / f"upload-{secrets.token_hex(8)}{suffix}"
    try:
        with path.open("xb") as out:
            shutil.copyfileobj(upload.file, out, 1024 * 1024)
        yield path, filename
    finally:
        path.unlink(missing_ok=True)
