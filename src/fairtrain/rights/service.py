"""Building the signals of a whole site from the database."""

from __future__ import annotations

import json
from collections.abc import Iterable
from html import escape
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from fairtrain.accounts.models import CreatorProfile
from fairtrain.rights.doors import apache_htaccess, caddy_snippet, nginx_snippet, terms_clause
from fairtrain.rights.policy import effective_policy
from fairtrain.rights.signals import (
    CrawlerLike,
    CreatorSignals,
    SiteSignals,
    ai_txt,
    html_tags,
    license_xml,
    response_headers,
    robots_txt,
    tdm_policy_document,
    tdmrep_json,
)

__all__ = ["creator_signals", "export_signals", "site_signals"]

SITE_NAME = "fairtrain"


def site_signals(session: Session, *, base_url: str, site_name: str = SITE_NAME) -> SiteSignals:
    """The site's policy and every creator's, ready to render."""
    creators = session.scalars(select(CreatorProfile).order_by(CreatorProfile.handle)).all()
    return SiteSignals(
        base_url=base_url,
        site_name=site_name,
        policy=effective_policy(session),
        creators=[
            CreatorSignals(c.handle, c.display_name, effective_policy(session, creator=c)) for c in creators
        ],
    )


def creator_signals(
    session: Session, *, base_url: str, creator: CreatorProfile, site_name: str = SITE_NAME
) -> tuple[SiteSignals, CreatorSignals]:
    """Just what one creator's pages need for their headers and tags (no other creator is looked at)."""
    own = CreatorSignals(creator.handle, creator.display_name, effective_policy(session, creator=creator))
    site = SiteSignals(
        base_url=base_url, site_name=site_name, policy=effective_policy(session), creators=[own]
    )
    return site, own


def export_signals(site: SiteSignals, crawlers: Iterable[CrawlerLike], *, out_dir: Path) -> list[Path]:
    """Every signal as files, for a site fairtrain does not serve; returns what was written."""
    crawlers = list(crawlers)
    files: dict[str, str] = {
        "robots.txt": robots_txt(site, crawlers),
        "ai.txt": ai_txt(site),
        "license.xml": license_xml(site),
        ".well-known/tdmrep.json": tdmrep_json(site),
        ".well-known/tdm/site.json": json.dumps(tdm_policy_document(site), indent=2) + "\n",
        "server/nginx.conf": nginx_snippet(site, crawlers),
        "server/Caddyfile": caddy_snippet(site, crawlers),
        "server/.htaccess": apache_htaccess(site, crawlers),
        "terms-ai.txt": terms_clause(site, owner=site.site_name),
        "headers.txt": "".join(f"{k}: {v}\n" for k, v in response_headers(site).items()),
        "head.html": "".join(_tag(t) for t in html_tags(site)),
    }
    for creator in site.creators:
        files[f".well-known/tdm/@{creator.handle}.json"] = (
            json.dumps(tdm_policy_document(site, creator), indent=2) + "\n"
        )
        files[f"@{creator.handle}/license.xml"] = license_xml(site, only=creator.handle)
    written = []
    for name, body in sorted(files.items()):
        path = out_dir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(body, encoding="utf-8")
        tmp.replace(path)
        written.append(path)
    return written


def _tag(attributes: dict[str, str]) -> str:
    tag = attributes["tag"]
    rest = " ".join(f'{k}="{escape(v)}"' for k, v in attributes.items() if k != "tag")
    return f"<{tag} {rest}>\n"
