"""The policy's signals, served live: robots.txt, ai.txt, tdmrep.json and its policies, license.xml.

These are always free and never blocked: they are how a crawler learns the terms.
"""

from __future__ import annotations

import json

from fastapi import APIRouter, Request
from starlette.responses import Response

from fairtrain.accounts import service as accounts
from fairtrain.errors import NotFound
from fairtrain.rights.crawlers import CrawlerRegistry
from fairtrain.rights.service import site_signals
from fairtrain.rights.signals import (
    RSL_MEDIA_TYPE,
    ai_txt,
    license_xml,
    robots_txt,
    tdm_policy_document,
    tdmrep_json,
)
from fairtrain.web.deps import DbDep, SettingsDep

__all__ = ["router"]

router = APIRouter(include_in_schema=False)

_CACHE = {"Cache-Control": "public, max-age=300"}


def _text(body: str, media_type: str) -> Response:
    return Response(body, media_type=media_type, headers=_CACHE)


@router.get("/robots.txt")
def robots(db: DbDep, settings: SettingsDep) -> Response:
    crawlers = CrawlerRegistry.current(settings.data_dir).crawlers
    return _text(robots_txt(site_signals(db, base_url=settings.base_url), crawlers), "text/plain")


@router.get("/ai.txt")
def spawning_ai_txt(db: DbDep, settings: SettingsDep) -> Response:
    return _text(ai_txt(site_signals(db, base_url=settings.base_url)), "text/plain")


@router.get("/.well-known/tdmrep.json")
def tdmrep(db: DbDep, settings: SettingsDep) -> Response:
    return _text(tdmrep_json(site_signals(db, base_url=settings.base_url)), "application/json")


@router.get("/.well-known/tdm/{name}.json")
def tdm_policy(db: DbDep, settings: SettingsDep, name: str) -> Response:
    site = site_signals(db, base_url=settings.base_url)
    if name == "site":
        document = tdm_policy_document(site)
    else:
        creator = next((c for c in site.creators if f"@{c.handle}" == name), None)
        if creator is None:
            raise NotFound(f"no TDM policy {name!r}")
        document = tdm_policy_document(site, creator)
    return _text(json.dumps(document, indent=2) + "\n", "application/ld+json")


@router.get("/license.xml")
def site_license(db: DbDep, settings: SettingsDep) -> Response:
    return _text(license_xml(site_signals(db, base_url=settings.base_url)), RSL_MEDIA_TYPE)


@router.get("/@{handle}/license.xml")
def creator_license(request: Request, db: DbDep, settings: SettingsDep, handle: str) -> Response:
    creator = accounts.get_creator(db, handle)
    site = site_signals(db, base_url=settings.base_url)
    return _text(license_xml(site, only=creator.handle), RSL_MEDIA_TYPE)
