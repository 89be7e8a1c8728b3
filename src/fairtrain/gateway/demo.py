"""Demo works for a new installation: a few generated photographs and essays, published through the gateway.

Nothing is downloaded: the pictures are drawn here (sky, sea, sun, grain) from fixed seeds, the essays are
assembled from fixed sentences, so every installation gets the same demo. Idempotent: works already there
(same content) are left alone.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
from PIL import Image
from sqlalchemy import select
from sqlalchemy.orm import Session

from fairtrain.accounts.models import CreatorProfile
from fairtrain.catalog import service as catalog
from fairtrain.catalog.models import Asset
from fairtrain.config import Settings
from fairtrain.gateway.models import SubscriptionTier
from fairtrain.gateway.subscriptions import create_tier

__all__ = ["seed_demo_works"]

_PHOTOS = (
    ("Harbour at first light", "public", 1),
    ("Fishing boats, low tide", "public", 2),
    ("Storm over the breakwater", "subscribers", 3),
    ("Net menders", "subscribers", 4),
)
_ESSAYS = (
    ("Weather on the ridge", "public", 5),
    ("What the glacier kept", "subscribers", 6),
)
_SENTENCES = (
    "The ridge holds the weather the way a bowl holds water.",
    "By noon the cloud had come down to meet us, and the path was a rumour.",
    "My grandmother measured winters by the height of the woodpile.",
    "Nothing up here is in a hurry, least of all the ice.",
    "We walked until the light gave out, then walked a little more.",
    "Every cairn is a sentence someone left for the next walker.",
)


def _photo(seed: int, size: tuple[int, int] = (1280, 853)) -> Image.Image:
    rng = np.random.default_rng(seed)
    width, height = size
    y = np.linspace(0.0, 1.0, height)[:, None]
    x = np.linspace(0.0, 1.0, width)[None, :]
    horizon = 0.45 + 0.1 * rng.random()
    sky_top, sky_low = rng.uniform(40, 120, 3), rng.uniform(170, 250, 3)
    sea_top, sea_low = rng.uniform(30, 90, 3), rng.uniform(10, 50, 3)
    t_sky = np.clip(y / horizon, 0, 1)[..., None]
    t_sea = np.clip((y - horizon) / (1 - horizon), 0, 1)[..., None]
    sky = sky_top * (1 - t_sky) + sky_low * t_sky
    sea = sea_top * (1 - t_sea) + sea_low * t_sea
    image = np.where((y < horizon)[..., None], sky, sea) * np.ones((1, width, 1))
    sun_x, sun_y, radius = rng.uniform(0.2, 0.8), horizon * rng.uniform(0.3, 0.8), rng.uniform(0.03, 0.07)
    glow = np.exp(-(((x - sun_x) * width / height) ** 2 + (y - sun_y) ** 2) / (2 * radius**2))
    image += glow[..., None] * np.array([255, 220, 160]) * 0.8
    waves = np.sin(x * rng.uniform(60, 120) + y * rng.uniform(200, 400)) * (y > horizon) * 12
    image += waves[..., None]
    image += rng.normal(0, 6, image.shape)  # film grain: gives the watermark texture to live in
    return Image.fromarray(np.clip(image, 0, 255).astype(np.uint8), "RGB")


def _essay(seed: int, title: str) -> str:
    rng = np.random.default_rng(seed)
    paragraphs = [" ".join(_SENTENCES[i] for i in rng.permutation(len(_SENTENCES))) for _ in range(6)]
    return f"# {title}\n\n" + "\n\n".join(paragraphs) + "\n"


def _publish(
    session: Session, settings: Settings, creator: CreatorProfile, path: Path, title: str, access: str
) -> bool:
    """Import ``path`` as ``title`` (once) and publish it; True when it is new."""
    before = session.scalar(select(Asset.id).where(Asset.creator_id == creator.id, Asset.title == title))
    asset, _ = catalog.import_upload(
        session,
        creator=creator,
        path=path,
        filename=path.name,
        store_root=settings.media_dir,
        max_pixels=settings.max_image_pixels,
    )
    if asset.title_source != "user":
        catalog.update_asset(session, asset=asset, title=title)
    catalog.set_access(session, asset=asset, access=access)
    return before is None


def seed_demo_works(session: Session, settings: Settings) -> int:
    """Give the demo creators @mira (photographs) and @jonas (essays) published works and a tier each;
    the number of works added."""
    creators = {
        c.handle: c
        for c in session.scalars(select(CreatorProfile).where(CreatorProfile.handle.in_(("mira", "jonas"))))
    }
    added = 0
    with tempfile.TemporaryDirectory(prefix="fairtrain-demo-") as tmp:
        folder = Path(tmp)
        mira, jonas = creators.get("mira"), creators.get("jonas")
        if mira is not None:
            for title, access, seed in _PHOTOS:
                path = folder / f"demo-photo-{seed}.jpg"
                _photo(seed).save(path, "JPEG", quality=90)
                added += _publish(session, settings, mira, path, title, access)
        if jonas is not None:
            for title, access, seed in _ESSAYS:
                path = folder / f"demo-essay-{seed}.md"
                path.write_text(_essay(seed, title), encoding="utf-8")
                added += _publish(session, settings, jonas, path, title, access)
    for creator, name, price in ((mira, "Harbour friends", 5_000_000), (jonas, "Readers", 3_000_000)):
        if creator is None:
            continue
        exists = session.scalar(
            select(SubscriptionTier.id).where(
                SubscriptionTier.creator_id == creator.id, SubscriptionTier.name == name
            )
        )
        if exists is None:
            create_tier(
                session,
                creator=creator,
                name=name,
                price_micros=price,
                currency="USD",
                description="Every work, full size, as soon as it is published.",
            )
    session.flush()
    return added
