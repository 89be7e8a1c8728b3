"""The gateway benchmark's site, built in a fresh data directory the way ``fairtrain init`` would start one.

@mira has one photo, for subscribers only, whose protected derivative is about 100 KB; a fan pays for a
subscription to her; Acme AI has an accepted deal that covers the photo and an API client. Everything goes
through fairtrain's services (catalogue import, subscriptions, offers and deals), nothing is written to the
database by hand. The derivative is made here too, so no measured request pays for it.
"""

from __future__ import annotations

import io
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from fairtrain.accounts import service as accounts
from fairtrain.catalog import service as catalog
from fairtrain.config import Settings
from fairtrain.db.engine import make_engine, make_sessionmaker, transaction
from fairtrain.db.migrate import upgrade
from fairtrain.gateway import subscriptions
from fairtrain.licensing.clients import create_client
from fairtrain.licensing.deals import Side, accept, request_deal
from fairtrain.licensing.offers import create_offer
from fairtrain.licensing.olp import signing_keyring
from fairtrain.licensing.selection import Selection
from fairtrain.licensing.terms import Fee, Terms
from fairtrain.stamp.service import ProtectionContext, protect_asset

__all__ = ["FAN_EMAIL", "LICENSE", "PASSWORD", "BenchSite", "build_site", "settings_for"]

PASSWORD = "bench-password-" + "x" * 12  # a throwaway account in a temporary database
FAN_EMAIL = "fan@example.com"
LICENSE = '<license xmlns="https://rslstandard.org/rsl"><permits type="usage">ai-train</permits></license>'
PHOTO_SIZE = (720, 540)  # with the noise below, the protected derivative (JPEG 92, 4:4:4) is about 100 KB
NOISE = 3.6  # standard deviation of the luminance grain, in 8-bit levels


@dataclass(frozen=True)
class BenchSite:
    asset_id: str
    derivative: Path  # the protected file the gateway serves for the work's full size
    derivative_bytes: int
    clients: dict[str, tuple[str, str]]  # name -> (client id, secret), all of Acme AI, all under the deal


def settings_for(root: Path, base_url: str, secret_key: str) -> Settings:
    """The settings every process of one run shares (the servers read the same values from FAIRTRAIN_*)."""
    return Settings(
        data_dir=root / "data",
        database_url=f"sqlite:///{root / 'data' / 'fairtrain.db'}",
        base_url=base_url,
        secret_key=secret_key,
    )


def photo_jpeg(size: tuple[int, int] = PHOTO_SIZE, *, seed: int = 7) -> bytes:
    """A photo-like JPEG: a smooth colour field with soft blobs, a few hard shapes and luminance grain."""
    rng = np.random.default_rng(seed)
    width, height = size
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    base = rng.uniform(40, 200, 3).astype(np.float32)
    slope = rng.uniform(-0.12, 0.12, (3, 2)).astype(np.float32)
    image = np.stack([base[c] + slope[c, 0] * x + slope[c, 1] * y for c in range(3)], axis=-1)
    for _ in range(14):
        cx, cy = rng.uniform(0, width), rng.uniform(0, height)
        radius = rng.uniform(30, 160)
        blob = np.exp(-(((x - cx) ** 2 + (y - cy) ** 2) / (2 * radius**2)))
        image += blob[..., None] * rng.uniform(-70, 70, 3).astype(np.float32)
    for _ in range(6):
        x0, y0 = int(rng.integers(0, width - 40)), int(rng.integers(0, height - 40))
        w, h = int(rng.integers(20, width // 4)), int(rng.integers(20, height // 4))
        image[y0 : y0 + h, x0 : x0 + w] = rng.uniform(0, 255, 3)
    image += rng.normal(0, NOISE, (height, width, 1)).astype(np.float32)
    pixels = np.clip(image, 0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels, "RGB").save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def build_site(settings: Settings, scratch: Path, *, client_names: Sequence[str]) -> BenchSite:
    """Migrate a fresh database and fill it (see the module docstring); returns what the load needs. Acme AI
    gets one API client per name, so that the licensed uses of each measurement can be counted apart."""
    engine = make_engine(settings.resolved_database_url)
    try:
        upgrade(engine)
        with transaction(make_sessionmaker(engine)) as db:
            creator_user = accounts.create_user(
                db, email="mira@example.com", password=PASSWORD, min_password_length=10
            )
            mira = accounts.create_creator(db, handle="mira", display_name="Mira", user=creator_user)
            fan = accounts.create_user(db, email=FAN_EMAIL, password=PASSWORD, min_password_length=10)
            org = accounts.create_licensee_org(
                db,
                name="Acme AI",
                contact_name="Ada",
                contact_email="ada@acme.example",
                billing_email="billing@acme.example",
            )
            source = scratch / "harbour.jpg"
            source.write_bytes(photo_jpeg())
            asset, _ = catalog.import_upload(
                db,
                creator=mira,
                path=source,
                filename=source.name,
                store_root=settings.media_dir,
                max_pixels=settings.max_image_pixels,
            )
            asset.access = "subscribers"
            db.flush()

            tier = subscriptions.create_tier(
                db, creator=mira, name="Everything", price_micros=5_000_000, currency="USD"
            )
            subscription = subscriptions.subscribe(db, fan=fan, tier=tier)
            (due,) = subscriptions.subscription_payments(db, subscription)
            subscriptions.record_subscription_payment(
                db,
                reference_or_id=due.reference,
                amount=due.amount,
                currency=due.currency,
                external_id=f"bench-{secrets.token_hex(4)}",
                fee_bp=settings.platform_fee_bp,
            )

            offer = create_offer(
                db,
                seller=mira,
                title="Harbour photos",
                terms=Terms(usages=("ai-train",), fee=Fee("flat", currency="USD", amount_minor=500_000)),
                selection=Selection(assets=(asset.id,)),
            )
            deal = request_deal(db, offer_version=offer.current, org=org)
            accept(db, deal=deal, side=Side.SELLER)
            clients = {}
            for name in client_names:
                client, secret = create_client(db, org=org, name=name)
                clients[name] = (client.id, secret)

            # The derivative is made now, as `fairtrain protect` would, so no measured request makes it.
            context = ProtectionContext.from_settings(settings)
            protected = protect_asset(db, asset=asset, context=context).protected
            if protected is None:
                raise RuntimeError("the generated photo got no protected derivative")
            derivative = context.store.path_for(protected.sha256)
            site = BenchSite(asset.id, derivative, protected.size, clients)
    finally:
        engine.dispose()
    # The licence-token signing key, made before the servers start so their workers all load the same one.
    signing_keyring(settings).signing_key()
    return site
