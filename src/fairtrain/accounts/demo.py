"""Demo content: a small, fixed cast so a new installation has something to show."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from fairtrain.accounts import service
from fairtrain.accounts.models import Collective, CreatorProfile, LicenseeOrg, Role, User

__all__ = ["DEMO_LOGINS", "DemoLogin", "seed_demo"]


@dataclass(frozen=True)
class DemoLogin:
    role: str
    email: str
    password: str
    handle: str | None = None


# Fixed so `make run` can print them every time; `fairtrain demo` refuses to run in production mode.
DEMO_LOGINS = (
    DemoLogin("operator", "operator@demo.example.com", "demo-operator-lantern-42"),
    DemoLogin("creator", "mira@demo.example.com", "demo-creator-harbour-17", "mira"),
    DemoLogin("creator", "jonas@demo.example.com", "demo-creator-granite-58", "jonas"),
    DemoLogin("fan", "fan@demo.example.com", "demo-fan-meadow-63"),
    DemoLogin("licensee", "licensing@demo.example.com", "demo-licensee-orbit-29"),
)

_CREATORS = {
    "mira": (
        "Mira Okafor",
        "Mira A. Okafor",
        "Documentary photographer. Coastlines, harbours and the people who work them.",
    ),
    "jonas": (
        "Jonas Berg",
        "Jonas Berg",
        "Novelist and essayist writing about mountains, weather and memory.",
    ),
}
_COLLECTIVE = (
    "northern-light",
    "Northern Light Collective",
    "Photographers and writers licensing their work together.",
)
_ORG = ("Example AI Lab", "Dana Reyes", "licensing@demo.example.com", "billing@demo.example.com")


def _user(session: Session, login: DemoLogin, *, min_password_length: int) -> User:
    existing = session.scalar(select(User).where(User.email == login.email))
    if existing is not None:
        return existing
    roles = [] if login.role in {"creator", "licensee", "operator"} else [Role(login.role)]
    return service.create_user(
        session,
        email=login.email,
        password=login.password,
        roles=roles,
        min_password_length=min_password_length,
    )


def seed_demo(session: Session, *, min_password_length: int) -> bool:
    """Create whatever part of the demo is missing; True when anything was created."""
    created = False
    users: dict[str, User] = {}
    for login in DEMO_LOGINS:
        before = session.scalar(select(User.id).where(User.email == login.email))
        users[login.email] = _user(session, login, min_password_length=min_password_length)
        created |= before is None
    operator = users[DEMO_LOGINS[0].email]
    created |= service.grant_role(session, user=operator, role=Role.OPERATOR)

    creators: list[CreatorProfile] = []
    for login in DEMO_LOGINS:
        if login.handle is None:
            continue
        creator = session.scalar(select(CreatorProfile).where(CreatorProfile.handle == login.handle))
        if creator is None:
            display, legal, bio = _CREATORS[login.handle]
            creator = service.create_creator(
                session,
                handle=login.handle,
                display_name=display,
                legal_name=legal,
                bio=bio,
                user=users[login.email],
            )
            created = True
        creators.append(creator)

    slug, name, description = _COLLECTIVE
    collective = session.scalar(select(Collective).where(Collective.slug == slug))
    if collective is None:
        collective = service.create_collective(
            session, slug=slug, name=name, description=description, operator=operator
        )
        created = True
    members = {m.creator_id for m in service.active_members(collective)}
    for creator in creators:
        if creator.id not in members:
            service.add_member(session, collective=collective, creator=creator)
            created = True

    org_name, contact, contact_email, billing = _ORG
    org = session.scalar(select(LicenseeOrg).where(LicenseeOrg.name == org_name))
    if org is None:
        org = service.create_licensee_org(
            session, name=org_name, contact_name=contact, contact_email=contact_email, billing_email=billing
        )
        created = True
    licensee = users[DEMO_LOGINS[4].email]
    if licensee.id not in {m.user_id for m in org.members}:
        service.add_licensee_member(session, org=org, user=licensee)
        created = True
    session.flush()
    return created
