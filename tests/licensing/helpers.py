"""A small world for licensing tests: two creators in a collective, its operator, two licensee orgs."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Sized
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from fairtrain.accounts import service as accounts
from fairtrain.accounts.models import Collective, CreatorProfile, LicenseeOrg, User
from fairtrain.catalog import service as catalog
from fairtrain.catalog.analyse import Analysis
from fairtrain.catalog.models import Asset
from fairtrain.db.engine import transaction
from fairtrain.licensing.terms import Fee, Terms

NOW = datetime(2027, 1, 1, 12, 0, tzinfo=UTC)


def make_asset(
    db: Session,
    creator: CreatorProfile,
    name: str,
    *,
    kind: str = "image",
    created_at: datetime | None = None,
    tags: list[str] | None = None,
    collections: list[str] | None = None,
) -> Asset:
    analysis = Analysis(
        sha256=hashlib.sha256(f"{creator.handle}/{name}".encode()).hexdigest(),
        size=1,
        kind=kind,
        mime="image/jpeg" if kind == "image" else "text/plain",
        title=name,
        description=None,
        created_at=created_at,
        created_source="exif" if created_at else None,
        width=1,
        height=1,
        duration_ms=None,
        word_count=None,
    )
    asset, _ = catalog.record_import(db, creator=creator, analysis=analysis, storage="copy", filename=name)
    if tags or collections:
        catalog.update_asset(db, asset=asset, tags=tags, collections=collections)
    return asset


def terms(**changes: object) -> Terms:
    """Non-exclusive ai-train for USD 5,000 once, unless told otherwise."""
    values: dict[str, object] = {
        "usages": ("ai-train",),
        "fee": Fee("flat", currency="USD", amount_minor=500_000),
    }
    values.update(changes)
    return Terms(**values)  # type: ignore[arg-type]


@dataclass
class World:
    mira_user: User
    mira: CreatorProfile
    ola: CreatorProfile
    operator: User
    guild: Collective
    org: LicenseeOrg
    buyer: User
    other_org: LicenseeOrg
    stranger: User
    photos: list[Asset]
    texts: list[Asset]
    ola_assets: list[Asset]


def build_world(db: Session) -> World:
    mira_user = accounts.create_user(db, email="mira@example.com", password=None, min_password_length=10)
    mira = accounts.create_creator(
        db, handle="mira", display_name="Mira", legal_name="Mira Jensen", user=mira_user
    )
    ola = accounts.create_creator(db, handle="ola", display_name="Ola")
    operator = accounts.create_user(db, email="op@example.com", password=None, min_password_length=10)
    guild = accounts.create_collective(db, slug="guild", name="The Guild", operator=operator)
    accounts.add_member(db, collective=guild, creator=mira)
    accounts.add_member(db, collective=guild, creator=ola)
    org = accounts.create_licensee_org(
        db,
        name="Acme AI",
        contact_name="Ada",
        contact_email="ada@acme.example",
        billing_email="bill@acme.example",
    )
    buyer = accounts.create_user(db, email="ada@acme.example", password=None, min_password_length=10)
    accounts.add_licensee_member(db, org=org, user=buyer)
    other_org = accounts.create_licensee_org(
        db,
        name="Other AI",
        contact_name="Bo",
        contact_email="bo@other.example",
        billing_email="bo@other.example",
    )
    stranger = accounts.create_user(db, email="eve@example.com", password=None, min_password_length=10)
    catalog.create_collection(db, creator=mira, slug="series", name="Series")
    photos = [
        make_asset(
            db,
            mira,
            f"photo-{i}",
            created_at=datetime(2020 + i, 6, 1, tzinfo=UTC),
            tags=["sea"] if i < 2 else None,
        )
        for i in range(3)
    ]
    catalog.update_asset(db, asset=photos[2], collections=["series"])
    texts = [make_asset(db, mira, f"text-{i}", kind="text") for i in range(2)]
    ola_assets = [make_asset(db, ola, f"ola-{i}") for i in range(2)]
    db.commit()
    return World(
        mira_user, mira, ola, operator, guild, org, buyer, other_org, stranger, photos, texts, ola_assets
    )


def build_world_with_logins(db: Session) -> World:
    """The world, with the collective's operator an operator of the site and passwords (``STRONG_PASSWORD``)
    for the people who log in to pages: @mira, the operator, the buyer and the stranger."""
    from tests.helpers import STRONG_PASSWORD

    from fairtrain.accounts.models import Role

    world = build_world(db)
    accounts.grant_role(db, user=world.operator, role=Role.OPERATOR)
    for user in (world.mira_user, world.operator, world.buyer, world.stranger):
        accounts.set_password(db, user=user, password=STRONG_PASSWORD, min_password_length=10)
    db.commit()
    return world


def race(
    db_factory: sessionmaker[Session], run: Callable[[Session], Sized], *, workers: int = 4
) -> list[str]:
    """Run ``run`` from ``workers`` threads at once, each in its own transaction; what each one saw:
    ``issued N`` (how many things it returned), or ``retry`` when SQLite's writer lock turned it away."""
    barrier = threading.Barrier(workers)
    outcomes: list[str] = []
    lock = threading.Lock()

    def one() -> None:
        barrier.wait()
        try:
            with transaction(db_factory) as session:
                outcome = f"issued {len(run(session))}"
        except OperationalError as error:
            outcome = "retry" if "locked" in str(error) else f"failed: {error}"
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=one) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes
