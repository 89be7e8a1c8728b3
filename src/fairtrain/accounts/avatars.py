"""Creator avatars: checked, re-encoded to a small square WebP, stored under the data dir."""

from __future__ import annotations

import hashlib
import io
import warnings
from pathlib import Path

from PIL import Image, ImageOps, UnidentifiedImageError
from sqlalchemy import event
from sqlalchemy.orm import Session

from fairtrain.accounts.models import CreatorProfile
from fairtrain.errors import InvalidInput

__all__ = ["AVATAR_MAX_BYTES", "AVATAR_SIZE", "avatar_path", "store_avatar"]

AVATAR_SIZE = 256
AVATAR_MAX_BYTES = 5 * 1024 * 1024
_MAX_PIXELS = 40_000_000  # refuse decompression bombs before decoding
_FORMATS = ("JPEG", "PNG", "WEBP", "GIF")


def _avatar_dir(data_dir: Path) -> Path:
    return data_dir / "avatars"


def avatar_path(data_dir: Path, creator: CreatorProfile) -> Path | None:
    if not creator.avatar:
        return None
    path = _avatar_dir(data_dir) / creator.avatar
    return path if path.is_file() else None


def _decode(data: bytes) -> Image.Image:
    if not data:
        raise InvalidInput("the avatar file is empty")
    if len(data) > AVATAR_MAX_BYTES:
        raise InvalidInput(f"the avatar file is larger than {AVATAR_MAX_BYTES // (1024 * 1024)} MiB")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=_FORMATS)
            if image.width * image.height > _MAX_PIXELS:
                raise InvalidInput("the avatar image has too many pixels")
            image.load()
    except (UnidentifiedImageError, Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise InvalidInput("the avatar is not a JPEG, PNG, WebP or GIF image") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise InvalidInput(f"the avatar image is damaged: {exc}") from None
    return image


def store_avatar(session: Session, *, data_dir: Path, creator: CreatorProfile, data: bytes) -> Path:
    """Validate ``data``, write the square thumbnail, point the creator at it, remove the previous one."""
    image = _decode(data)
    image = ImageOps.exif_transpose(image).convert("RGB")
    image = ImageOps.fit(image, (AVATAR_SIZE, AVATAR_SIZE), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    image.save(out, "WEBP", quality=85)
    encoded = out.getvalue()
    name = f"{creator.id}-{hashlib.sha256(encoded).hexdigest()[:12]}.webp"
    folder = _avatar_dir(data_dir)
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    target = folder / name
    tmp = folder / f".{name}.tmp"
    tmp.write_bytes(encoded)
    tmp.replace(target)  # readers see the old file or the whole new one
    previous = creator.avatar
    creator.avatar = name
    session.flush()
    if previous != name:
        # The files follow the transaction: the old one goes once the change is committed, the new one
        # if it is rolled back, so the row never points at a missing file.
        stale, fresh = (folder / previous if previous else None), target

        def _committed(_session: Session) -> None:
            event.remove(session, "after_rollback", _rolled_back)
            if stale is not None:
                stale.unlink(missing_ok=True)

        def _rolled_back(_session: Session) -> None:
            event.remove(session, "after_commit", _committed)
            fresh.unlink(missing_ok=True)

        # Both fire for the outermost transaction only, not for savepoints.
        event.listen(session, "after_commit", _committed, once=True)
        event.listen(session, "after_rollback", _rolled_back, once=True)
    return target
