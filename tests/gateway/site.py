"""A small site for gateway tests: @mira with real photos (public, subscribers-only, private), a licensee with
an active deal and an API client, and helpers to get licence tokens and install prefix lists."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from pathlib import Path

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from fairtrain.accounts import service as accounts
from fairtrain.accounts.models import CreatorProfile, LicenseeOrg, Role, User
from fairtrain.catalog import service as catalog
from fairtrain.catalog.models import Asset
from fairtrain.config import Settings
from fairtrain.gateway.door import Door
from fairtrain.gateway.prefixes import PREFIX_DIR, PrefixLists
from fairtrain.licensing.clients import create_client
from fairtrain.licensing.deals import Side, accept, request_deal
from fairtrain.licensing.models import Deal
from fairtrain.licensing.offers import create_offer
from fairtrain.licensing.selection import Selection
from fairtrain.licensing.terms import Fee, Terms
from fairtrain.rights.policy import Rule, Scope, set_rule
from tests.catalog.media import photo
from tests.helpers import STRONG_PASSWORD

BASE = "http://testserver"
BROWSER = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36"
GPTBOT_UA = (
    "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko); compatible; GPTBot/1.2; +https://openai.com/gptbot"
)
GPTBOT_IP = "20.171.206.7"
LICENSE = '<license xmlns="https://rslstandard.org/rsl"><permits type="usage">ai-train</permits></license>'


@dataclass
class Site:
    mira: CreatorProfile
    mira_user: User
    fan: User
    operator: User
    org: LicenseeOrg
    public: Asset
    paywalled: Asset
    private: Asset
    outside_deal: Asset
    deal: Deal
    client_id: str
    secret: str


def import_photo(db: Session, settings: Settings, creator: CreatorProfile, tmp: Path, seed: int) -> Asset:
    path = photo(tmp / f"photo-{seed}.jpg", seed=seed, size=(640, 480))
    asset, _ = catalog.import_upload(
        db,
        creator=creator,
        path=path,
        filename=path.name,
        store_root=settings.media_dir,
        max_pixels=settings.max_image_pixels,
    )
    return asset


def build_site(db: Session, settings: Settings, tmp: Path) -> Site:
    mira_user = accounts.create_user(
        db, email="mira@example.com", password=STRONG_PASSWORD, min_password_length=10
    )
    mira = accounts.create_creator(db, handle="mira", display_name="Mira", user=mira_user)
    fan = accounts.create_user(db, email="fan@example.com", password=STRONG_PASSWORD, min_password_length=10)
    operator = accounts.create_user(
        db, email="op@example.com", password=STRONG_PASSWORD, min_password_length=10
    )
    accounts.grant_role(db, user=operator, role=Role.OPERATOR)
    org = accounts.create_licensee_org(
        db,
        name="Acme AI",
        contact_name="Ada",
        contact_email="ada@acme.example",
        billing_email="b@acme.example",
    )
    assets = [import_photo(db, settings, mira, tmp, seed) for seed in range(4)]
    public, paywalled, private, outside = assets
    public.access, paywalled.access, private.access, outside.access = (
        "public",
        "subscribers",
        "private",
        "public",
    )
    db.flush()
    offer = create_offer(
        db,
        seller=mira,
        title="Photos",
        terms=Terms(usages=("ai-train",), fee=Fee("flat", currency="USD", amount_minor=500_000)),
        selection=Selection(assets=(public.id, paywalled.id, private.id)),
    )
    deal = request_deal(db, offer_version=offer.current, org=org)
    accept(db, deal=deal, side=Side.SELLER)
    client, secret = create_client(db, org=org, name="crawler")
    db.commit()
    return Site(
        mira, mira_user, fan, operator, org, public, paywalled, private, outside, deal, client.id, secret
    )


def basic(site: Site) -> dict[str, str]:
    raw = f"{site.client_id}:{site.secret}".encode()
    return {"Authorization": "Basic " + base64.b64encode(raw).decode()}


def licence_token(client: TestClient, site: Site) -> str:
    fields = {"grant_type": "client_credentials", "license": LICENSE, "resource": f"{BASE}/@mira/*"}
    reply = client.post("/rsl/token", data=fields, headers=basic(site))
    assert reply.status_code == 200, reply.text
    token: str = reply.json()["access_token"]
    return token


def install_prefixes(app: FastAPI, settings: Settings, name: str, prefixes: list[str]) -> None:
    folder = settings.data_dir / PREFIX_DIR
    folder.mkdir(parents=True, exist_ok=True)
    document = {"creationTime": "2026-11-01T00:00:00Z", "prefixes": [{"ipv4Prefix": p} for p in prefixes]}
    (folder / f"{name}.json").write_text(json.dumps(document))
    door: Door = app.state.door
    door.prefixes = PrefixLists.from_directory(folder)


def price_crawls(db: Session, creator: CreatorProfile, amount_micros: int = 10_000) -> None:
    """@mira's AI training: a licence, paid per crawl."""
    set_rule(
        db,
        scope=Scope("creator", creator.id),
        usage="ai-train",
        rule=Rule("licence", payment="crawl", amount_micros=amount_micros, currency="USD"),
        changed_by=None,
    )
    db.commit()
