"""The policy's signals, served live: robots.txt, ai.txt, tdmrep.json and its policies, license.xml.

These are always free and never blocked: they are how a crawler learns the terms. Building them looks at
every creator's policy, so the results are cached per application and rebuilt only when the policy's
version in the database moves (``rights.service.SignalCache``): a hit costs one small query. license.xml
also lists the public offers (``licensing.rsl``) under each creator they cover, so the offers' version
joins that query.
"""

from __future__ import annotations

import json
import threading
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from sqlalchemy import ScalarSelect, func, select
from sqlalchemy.orm import Session
from starlette.responses import Response

from fairtrain.accounts import service as accounts
from fairtrain.accounts.models import CollectiveMembership, CreatorProfile
from fairtrain.config import Settings
from fairtrain.errors import NotFound
from fairtrain.licensing.models import Offer
from fairtrain.licensing.rsl import offer_license_elements
from fairtrain.rights.crawlers import CrawlerRegistry
from fairtrain.rights.service import SignalCache
from fairtrain.rights.signals import (
    RSL_MEDIA_TYPE,
    SiteSignals,
    ai_txt,
    license_xml,
    robots_txt,
    tdm_policy_document,
    tdmrep_json,
)
from fairtrain.web.deps import DbDep, SettingsDep

__all__ = ["router", "signal_cache"]

router = APIRouter(include_in_schema=False)

_CACHE = {"Cache-Control": "public, max-age=300"}
_CACHE_LOCK = threading.Lock()


def signal_cache(request: Request) -> SignalCache:
    """This application's cache (each app, e.g. each test's, has its own database and so its own)."""
    state = request.app.state
    cache = getattr(state, "signal_cache", None)
    if cache is None:
        with _CACHE_LOCK:
            cache = getattr(state, "signal_cache", None)
            if cache is None:
                cache = state.signal_cache = SignalCache()
    assert isinstance(cache, SignalCache)
    return cache


CacheDep = Annotated[SignalCache, Depends(signal_cache)]


def _text(body: str, media_type: str) -> Response:
    return Response(body, media_type=media_type, headers=_CACHE)


def _cached(
    cache: SignalCache, db: Session, settings: Settings, name: str, render: Callable[[SiteSignals], str]
) -> str:
    return cache.body(db, base_url=settings.base_url, name=name, render=render)


@router.get("/robots.txt")
def robots(db: DbDep, settings: SettingsDep, cache: CacheDep) -> Response:
    registry = CrawlerRegistry.current(settings.data_dir)  # the same object while its files are unchanged
    body = cache.body(
        db,
        base_url=settings.base_url,
        name="robots.txt",
        render=lambda site: robots_txt(site, registry.crawlers),
        extra=registry,
    )
    return _text(body, "text/plain")


@router.get("/ai.txt")
def spawning_ai_txt(db: DbDep, settings: SettingsDep, cache: CacheDep) -> Response:
    return _text(_cached(cache, db, settings, "ai.txt", ai_txt), "text/plain")


@router.get("/.well-known/tdmrep.json")
def tdmrep(db: DbDep, settings: SettingsDep, cache: CacheDep) -> Response:
    return _text(_cached(cache, db, settings, "tdmrep.json", tdmrep_json), "application/json")


@router.get("/.well-known/tdm/{name}.json")
def tdm_policy(db: DbDep, settings: SettingsDep, cache: CacheDep, name: str) -> Response:
    site = cache.site(db, base_url=settings.base_url)
    if name == "site":
        document = tdm_policy_document(site)
    else:
        creator = next((c for c in site.creators if f"@{c.handle}" == name), None)
        if creator is None:
            raise NotFound(f"no TDM policy {name!r}")
        document = tdm_policy_document(site, creator)
    return _text(json.dumps(document, indent=2) + "\n", "application/ld+json")


def _offers_version() -> tuple[ScalarSelect[Any], ...]:
    """``licensing.rsl.offers_version`` as subqueries, so it joins the cache's one version query."""
    return (
        select(func.count(Offer.id)).scalar_subquery(),
        select(func.max(Offer.updated_at)).scalar_subquery(),
    )


def _creators_with_offers(db: Session) -> list[CreatorProfile]:
    """Creators some public open offer may cover: their own, or one of a collective they are in."""
    open_offers = (Offer.public.is_(True), Offer.status == "open")
    own = select(Offer.creator_id).where(Offer.creator_id.is_not(None), *open_offers)
    pooled = (
        select(CollectiveMembership.creator_id)
        .join(Offer, Offer.collective_id == CollectiveMembership.collective_id)
        .where(CollectiveMembership.left_at.is_(None), *open_offers)
    )
    ids = own.union(pooled).subquery()
    return list(
        db.scalars(
            select(CreatorProfile).where(CreatorProfile.id.in_(select(ids))).order_by(CreatorProfile.handle)
        )
    )


def _offer_licenses(
    db: Session, settings: Settings, creators: Iterable[CreatorProfile]
) -> dict[str, list[ET.Element]]:
    out: dict[str, list[ET.Element]] = {}
    for creator in creators:
        elements = offer_license_elements(db, creator=creator, base_url=settings.base_url)
        if elements:
            out[creator.handle] = elements
    return out


@router.get("/license.xml")
def site_license(db: DbDep, settings: SettingsDep, cache: CacheDep) -> Response:
    def render(site: SiteSignals) -> str:
        return license_xml(site, extra_licenses=_offer_licenses(db, settings, _creators_with_offers(db)))

    body = cache.body(
        db, base_url=settings.base_url, name="license.xml", render=render, extra_version=_offers_version()
    )
    return _text(body, RSL_MEDIA_TYPE)


@router.get("/@{handle}/license.xml")
def creator_license(db: DbDep, settings: SettingsDep, cache: CacheDep, handle: str) -> Response:
    creator = accounts.get_creator(db, handle)

    def render(site: SiteSignals) -> str:
        offered = _offer_licenses(db, settings, [creator])
        return license_xml(site, only=creator.handle, extra_licenses=offered)

    body = cache.body(
        db,
        base_url=settings.base_url,
        name=f"license.xml/@{creator.handle}",
        render=render,
        extra_version=_offers_version(),
    )
    return _text(body, RSL_MEDIA_TYPE)
