"""Thumbnails for the catalogue grid: made once per content (by SHA-256), then served from disk."""

from __future__ import annotations

import warnings
from pathlib import Path

from PIL import Image, ImageOps

from fairtrain.catalog.models import Asset

__all__ = ["THUMB_SIZE", "thumbnail"]

THUMB_SIZE = 320


def thumbnail(asset: Asset, *, source: Path, cache_dir: Path) -> Path | None:
    """The cached WebP thumbnail of an image asset, made on first request; None for other kinds."""
    if asset.kind != "image":
        return None
    target = cache_dir / asset.sha256[:2] / f"{asset.sha256}-{THUMB_SIZE}.webp"
    if target.is_file():
        return target
    target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # size was checked at import
        with Image.open(source) as image:
            image.draft("RGB", (THUMB_SIZE * 2, THUMB_SIZE * 2))
            small = ImageOps.exif_transpose(image).convert("RGB")
            small.thumbnail((THUMB_SIZE, THUMB_SIZE), Image.Resampling.LANCZOS)
    tmp = target.with_suffix(".tmp")
    small.save(tmp, "WEBP", quality=80)
    tmp.replace(target)
    return target
