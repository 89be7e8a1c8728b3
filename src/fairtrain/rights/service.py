"""Building the signals of a whole site from the database."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from fairtrain.accounts.models import CreatorProfile
from fairtrain.rights.policy import effective_policy
from fairtrain.rights.signals import CreatorSignals, SiteSignals

__all__ = ["creator_signals", "site_signals"]

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
