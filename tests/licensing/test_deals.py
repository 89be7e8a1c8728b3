from __future__ import annotations

import hashlib
import threading
from datetime import timedelta

import pytest
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker
from tests.licensing.helpers import NOW, World, make_asset, terms

from fairtrain.accounts import service as accounts
from fairtrain.catalog import service as catalog
from fairtrain.errors import InvalidInput
from fairtrain.licensing.deals import (
    Side,
    accept,
    activate_due,
    cancel_renewal,
    counter,
    covering_deal,
    deal_terms,
    deal_warnings,
    decline,
    expire_due,
    get_deal,
    is_active,
    list_deals,
    request_deal,
    terminate,
    withdraw,
)
from fairtrain.licensing.errors import ExclusiveConflict, InvalidTransition, NotAParty, OfferClosed
from fairtrain.licensing.models import Offer
from fairtrain.licensing.offers import create_offer, revise_offer, withdraw_offer
from fairtrain.licensing.selection import Selection, selection_assets, snapshot_digest
from fairtrain.licensing.terms import Fee
from fairtrain.rights.policy import Rule, Scope, set_rule


def _offer(db: Session, world: World, **changes: object) -> Offer:
    selection = changes.pop("selection", Selection(all=True))
    seller = changes.pop("seller", world.mira)
    return create_offer(
        db,
        seller=seller,
        title="Photos",
        terms=terms(**changes),
        selection=selection,
        now=NOW,  # type: ignore[arg-type]
    )


def test_request_and_accept_as_offered(db: Session, world: World) -> None:
    offer = _offer(db, world)
    deal = request_deal(db, offer_version=offer.current, org=world.org, by=world.buyer, message="hi", now=NOW)
    assert deal.status == "proposed" and deal.terms_from == "licensee" and deal.id.startswith("deal_")
    accept(db, deal=deal, side=Side.SELLER, by=world.mira_user, now=NOW)
    db.commit()
    assert deal.status == "active"  # the term started at acceptance
    assert (deal.starts_at, deal.ends_at, deal.accepted_at, deal.activated_at) == (NOW, None, NOW, NOW)
    assert [(e.action, e.from_status, e.to_status, e.side) for e in deal.events] == [
        ("proposed", None, "proposed", "licensee"),
        ("accepted", "proposed", "accepted", "seller"),
        ("activated", "accepted", "active", "system"),
    ]
    assert deal.events[0].actor_id == world.buyer.id and deal.events[0].reason == "hi"
    assert deal.events[1].actor_id == world.mira_user.id
    assert all(e.terms == deal.terms for e in deal.events)
    assert deal.asset_count == 5 and deal.agreement_sha256 is not None
    assert get_deal(db, deal.id) is deal
    assert list_deals(db, org=world.org) == [deal]
    assert list_deals(db, seller=world.mira, status=["proposed"]) == []


def test_counter_offer_flow(db: Session, world: World) -> None:
    offer = _offer(db, world)
    cheaper = terms(fee=Fee("flat", currency="USD", amount_minor=300_000))
    deal = request_deal(db, offer_version=offer.current, org=world.org, terms=cheaper, now=NOW)
    assert deal.events[0].action == "proposed-changes"
    assert deal_terms(deal).fee.amount_minor == 300_000
    # The licensee cannot accept its own proposal.
    with pytest.raises(InvalidTransition, match="licensee put these terms forward"):
        accept(db, deal=deal, side=Side.LICENSEE, now=NOW)
    middle = terms(fee=Fee("flat", currency="USD", amount_minor=400_000))
    counter(db, deal=deal, side=Side.SELLER, terms=middle, reason="meet halfway", by=world.mira_user, now=NOW)
    assert deal.status == "countered" and deal.terms_from == "seller"
    with pytest.raises(InvalidTransition):
        accept(db, deal=deal, side=Side.SELLER, now=NOW)
    with pytest.raises(InvalidInput, match="already on the table"):
        counter(db, deal=deal, side=Side.LICENSEE, terms=middle, now=NOW)
    # The licensee counters back, the seller counters again, the licensee accepts.
    counter(db, deal=deal, side=Side.LICENSEE, terms=cheaper, now=NOW)
    assert deal.status == "proposed"
    counter(db, deal=deal, side=Side.SELLER, terms=middle, now=NOW)
    accept(db, deal=deal, side=Side.LICENSEE, by=world.buyer, reason="deal", now=NOW)
    assert deal.status == "active" and deal_terms(deal).fee.amount_minor == 400_000
    assert [e.action for e in deal.events] == [
        "proposed-changes", "countered", "countered", "countered", "accepted", "activated"
    ]  # fmt: skip
    assert [e.terms["fee"]["amount_minor"] for e in deal.events] == [
        300_000, 400_000, 300_000, 400_000, 400_000, 400_000
    ]  # fmt: skip
    assert deal.events[1].reason == "meet halfway"


def test_counter_terms_are_checked_against_the_policy(db: Session, world: World) -> None:
    set_rule(db, scope=Scope("creator", world.mira.id), usage="search", rule=Rule("deny"), changed_by=None)
    offer = _offer(db, world)
    with pytest.raises(Exception, match="denies search"):
        request_deal(
            db, offer_version=offer.current, org=world.org, terms=terms(usages=["ai-train", "search"])
        )
    deal = request_deal(db, offer_version=offer.current, org=world.org)
    with pytest.raises(Exception, match="denies search"):
        counter(db, deal=deal, side=Side.SELLER, terms=terms(usages=["search"]))
    # A policy that turns to deny after the proposal stops the acceptance.
    set_rule(db, scope=Scope("creator", world.mira.id), usage="ai-train", rule=Rule("deny"), changed_by=None)
    with pytest.raises(Exception, match="denies ai-train"):
        accept(db, deal=deal, side=Side.SELLER)


def test_declined_withdrawn_and_invalid_transitions(db: Session, world: World) -> None:
    offer = _offer(db, world)
    declined = request_deal(db, offer_version=offer.current, org=world.org, now=NOW)
    decline(db, deal=declined, reason="not now", by=world.mira_user, now=NOW)
    assert declined.status == "declined" and declined.end_reason == "not now"
    withdrawn = request_deal(db, offer_version=offer.current, org=world.org, now=NOW)
    counter(db, deal=withdrawn, side=Side.SELLER, terms=terms(exclusive=True), now=NOW)
    withdraw(db, deal=withdrawn, reason="too dear", by=world.buyer, now=NOW)
    assert withdrawn.status == "withdrawn"
    for deal in (declined, withdrawn):
        for step in (
            lambda d: accept(db, deal=d, side=Side.SELLER),
            lambda d: accept(db, deal=d, side=Side.LICENSEE),
            lambda d: counter(db, deal=d, side=Side.SELLER, terms=terms(duration_days=5)),
            lambda d: decline(db, deal=d),
            lambda d: withdraw(db, deal=d),
            lambda d: terminate(db, deal=d, side=Side.SELLER, reason="x"),
        ):
            with pytest.raises(InvalidTransition):
                step(deal)
    active = request_deal(db, offer_version=offer.current, org=world.org, now=NOW)
    accept(db, deal=active, side=Side.SELLER, now=NOW)
    with pytest.raises(InvalidTransition):
        decline(db, deal=active)
    with pytest.raises(InvalidTransition):
        counter(db, deal=active, side=Side.LICENSEE, terms=terms(duration_days=5))
    with pytest.raises(InvalidInput, match="say why"):
        terminate(db, deal=active, side=Side.LICENSEE, reason=" ")
    terminate(db, deal=active, side=Side.LICENSEE, reason="model retired", by=world.buyer, now=NOW)
    assert active.status == "terminated" and active.end_reason == "model retired"
    with pytest.raises(InvalidTransition):
        terminate(db, deal=active, side=Side.SELLER, reason="again")
    with pytest.raises(InvalidInput):
        accept(db, deal=declined, side=Side.SYSTEM)


def test_parties_are_checked(db: Session, world: World) -> None:
    offer = _offer(db, world)
    with pytest.raises(NotAParty):
        request_deal(db, offer_version=offer.current, org=world.org, by=world.stranger)
    deal = request_deal(db, offer_version=offer.current, org=world.org, by=world.buyer)
    with pytest.raises(NotAParty):
        accept(db, deal=deal, side=Side.SELLER, by=world.buyer)
    with pytest.raises(NotAParty):
        decline(db, deal=deal, by=world.operator)
    guild_offer = _offer(db, world, seller=world.guild)
    guild_deal = request_deal(db, offer_version=guild_offer.current, org=world.org, by=world.buyer)
    with pytest.raises(NotAParty):
        accept(db, deal=guild_deal, side=Side.SELLER, by=world.mira_user)
    accept(db, deal=guild_deal, side=Side.SELLER, by=world.operator)
    with pytest.raises(NotAParty):
        terminate(db, deal=guild_deal, side=Side.LICENSEE, reason="x", by=world.mira_user)


def test_requests_need_the_current_version_of_an_open_offer(db: Session, world: World) -> None:
    offer = _offer(db, world)
    first = offer.current
    revise_offer(db, offer=offer, terms=terms(duration_days=30))
    with pytest.raises(InvalidInput, match="request a deal on version 2"):
        request_deal(db, offer_version=first, org=world.org)
    withdraw_offer(db, offer=offer)
    with pytest.raises(OfferClosed):
        request_deal(db, offer_version=offer.current, org=world.org)


def test_acceptance_snapshots_the_selection(db: Session, world: World) -> None:
    offer = _offer(db, world, selection=Selection(kinds=("image",)))
    catalog.set_rightsholders(
        db, asset=world.photos[1], holders=[("Mira Jensen", 6000, world.mira.id), ("Sam Lee", 4000, None)]
    )
    deal = request_deal(db, offer_version=offer.current, org=world.org, now=NOW)
    accept(db, deal=deal, side=Side.SELLER, now=NOW)
    frozen = [(row.asset_id, row.sha256) for row in deal.assets]
    assert frozen == [(p.id, p.sha256) for p in world.photos]
    assert deal.selection_sha256 == snapshot_digest(frozen)
    expected = "".join(f"{a} {s}\n" for a, s in sorted(frozen))
    assert deal.selection_sha256 == hashlib.sha256(expected.encode()).hexdigest()
    row = deal.assets[1]
    assert (row.title, row.creator_handle, row.creator_name) == ("photo-1", "mira", "Mira Jensen")
    assert row.rightsholders == [
        {"name": "Mira Jensen", "share_bp": 6000, "creator_id": world.mira.id},
        {"name": "Sam Lee", "share_bp": 4000, "creator_id": None},
    ]
    assert deal.assets[0].rightsholders == [
        {"name": "Mira Jensen", "share_bp": 10_000, "creator_id": world.mira.id}
    ]
    # The live selection moves on; the deal does not.
    new = make_asset(db, world.mira, "photo-later")
    catalog.delete_asset(db, asset=world.photos[0])
    live = {a.id for a in selection_assets(db, offer.current)}
    assert new.id in live and world.photos[0].id not in live
    db.commit()
    db.expire_all()
    assert [(row.asset_id, row.sha256) for row in get_deal(db, deal.id).assets] == frozen


def test_empty_selection_cannot_be_accepted(db: Session, world: World) -> None:
    offer = _offer(db, world, selection=Selection(kinds=("audio",)))
    deal = request_deal(db, offer_version=offer.current, org=world.org)
    with pytest.raises(InvalidInput, match="holds no works"):
        accept(db, deal=deal, side=Side.SELLER)
    assert deal.status == "proposed" and deal.assets == []


def test_overlapping_exclusive_deals_are_refused(db: Session, world: World) -> None:
    year = timedelta(days=365)
    exclusive = _offer(db, world, exclusive=True, start=NOW, end=NOW + year)
    first = request_deal(db, offer_version=exclusive.current, org=world.org, now=NOW)
    accept(db, deal=first, side=Side.SELLER, now=NOW)
    db.commit()
    # Another licensee, same works, overlapping term, same usage: refused, nothing half-written.
    second = request_deal(db, offer_version=exclusive.current, org=world.other_org, now=NOW)
    with pytest.raises(ExclusiveConflict, match=first.id):
        accept(db, deal=second, side=Side.SELLER, now=NOW)
    assert second.status == "proposed" and second.assets == [] and second.agreement is None
    # A non-exclusive deal on one of those works overlaps the exclusive one too (the collective sells it).
    pool = _offer(db, world, seller=world.guild, selection=Selection(assets=(world.photos[0].id,)))
    third = request_deal(db, offer_version=pool.current, org=world.other_org, now=NOW)
    with pytest.raises(ExclusiveConflict):
        accept(db, deal=third, side=Side.SELLER, now=NOW)
    # Not overlapping: other usage, later term, other works.
    fine = [
        _offer(db, world, usages=["ai-input"]),
        _offer(db, world, start=NOW + year, end=NOW + 2 * year),
        _offer(db, world, seller=world.ola, exclusive=True),
    ]
    first_territory = _offer(
        db, world, seller=world.ola, usages=["ai-input"], exclusive=True, territories=["EU"]
    )
    for offer in [*fine, first_territory]:
        deal = request_deal(db, offer_version=offer.current, org=world.other_org, now=NOW)
        accept(db, deal=deal, side=Side.SELLER, now=NOW)
    # EU exclusivity blocks a German deal, not a British one.
    de = _offer(db, world, seller=world.ola, usages=["ai-input"], territories=["DE"])
    gb = _offer(db, world, seller=world.ola, usages=["ai-input"], territories=["GB"])
    with pytest.raises(ExclusiveConflict):
        accept(
            db,
            deal=request_deal(db, offer_version=de.current, org=world.org, now=NOW),
            side=Side.SELLER,
            now=NOW,
        )
    accept(
        db, deal=request_deal(db, offer_version=gb.current, org=world.org, now=NOW), side=Side.SELLER, now=NOW
    )
    # Once the exclusive deal is terminated, the second one goes through.
    terminate(db, deal=first, side=Side.SELLER, reason="breach", now=NOW)
    accept(db, deal=second, side=Side.SELLER, now=NOW)
    assert second.status == "active"


def test_auto_renewing_exclusive_deal_blocks_until_notice(db: Session, world: World) -> None:
    offer = _offer(db, world, exclusive=True, duration_days=30, auto_renew=True)
    first = request_deal(db, offer_version=offer.current, org=world.org, now=NOW)
    accept(db, deal=first, side=Side.SELLER, now=NOW)
    later = _offer(db, world, start=NOW + timedelta(days=60), end=NOW + timedelta(days=90))
    second = request_deal(db, offer_version=later.current, org=world.other_org, now=NOW)
    with pytest.raises(ExclusiveConflict):
        accept(db, deal=second, side=Side.SELLER, now=NOW)
    cancel_renewal(db, deal=first, side=Side.LICENSEE, reason="one month is enough", now=NOW)
    assert first.auto_renew is False and first.events[-1].action == "renewal-cancelled"
    with pytest.raises(InvalidTransition):
        cancel_renewal(db, deal=first, side=Side.LICENSEE)
    accept(db, deal=second, side=Side.SELLER, now=NOW)
    assert second.status == "accepted"  # starts in 60 days


def test_activation_expiry_and_renewal(db: Session, world: World) -> None:
    start = NOW + timedelta(days=10)
    fixed = _offer(db, world, start=start, end=start + timedelta(days=30))
    renewing = _offer(db, world, usages=["ai-input"], duration_days=30, auto_renew=True)
    a = request_deal(db, offer_version=fixed.current, org=world.org, now=NOW)
    accept(db, deal=a, side=Side.SELLER, now=NOW)
    b = request_deal(db, offer_version=renewing.current, org=world.org, now=NOW)
    accept(db, deal=b, side=Side.SELLER, now=NOW)
    assert (a.status, b.status) == ("accepted", "active")
    assert activate_due(db, now=start - timedelta(seconds=1)) == []
    assert activate_due(db, now=start) == [a] and a.status == "active"
    assert expire_due(db, now=NOW + timedelta(days=29)) == []
    # 75 days on: a has expired; b has renewed twice (30-day terms from NOW).
    later = NOW + timedelta(days=75)
    assert set(expire_due(db, now=later)) == {a, b}
    assert a.status == "expired" and a.ended_at == start + timedelta(days=30)
    assert b.status == "active" and b.renewals == 2 and b.ends_at == NOW + timedelta(days=90)
    assert [e.action for e in b.events][-2:] == ["renewed", "renewed"]
    assert a.events[-1].action == "expired" and a.events[-1].side == "system"
    assert not is_active(a, later) and is_active(b, later)
    with pytest.raises(InvalidTransition):
        terminate(db, deal=a, side=Side.SELLER, reason="late")


def test_covering_deal(db: Session, world: World) -> None:
    offer = _offer(db, world, selection=Selection(kinds=("image",)), usages=["ai-train", "ai-input"],
                   territories=["EU"], user_types=["commercial"], end=NOW + timedelta(days=30))  # fmt: skip
    deal = request_deal(db, offer_version=offer.current, org=world.org, now=NOW)
    accept(db, deal=deal, side=Side.SELLER, now=NOW)
    photo, text = world.photos[0], world.texts[0]

    def covers(resource: object, usage: str = "ai-train", org_id: str | None = None, **kw: object) -> bool:
        found = covering_deal(
            db,
            org_id=org_id or world.org.id,
            resource_url_or_asset=resource,
            usage=usage,
            now=NOW,
            **kw,  # type: ignore[arg-type]
        )
        assert found is None or found is deal
        return found is not None

    assert covers(photo) and covers(photo.id)
    assert covers(f"/@mira/{photo.id}") and covers(f"https://example.com/@mira/assets/{photo.id}.jpg")
    assert covers("/@mira/*") and covers("https://example.com/@mira/")
    assert covers(photo, "ai-input") and not covers(photo, "ai-index") and not covers(photo, "ai-all")
    assert not covers(text)  # not in the selection
    assert not covers(f"/@ola/{photo.id}") and not covers("/@ola/*") and not covers("/@nobody/*")
    assert not covers("/somewhere/else")
    assert not covers(photo, org_id=world.other_org.id)
    assert covers(photo, user_type="commercial") and not covers(photo, user_type="education")
    assert (
        covers(photo, territory="FR") and covers(photo, territory="EU") and not covers(photo, territory="US")
    )
    assert covering_deal(
        db, org_id=world.org.id, resource_url_or_asset=photo, usage="ai-train", now=NOW + timedelta(days=31)
    ) is None  # fmt: skip
    with pytest.raises(InvalidInput):
        covers(photo, "ai-dance")
    terminate(db, deal=deal, side=Side.LICENSEE, reason="done", now=NOW)
    assert not covers(photo)


def test_covering_deal_needs_an_active_deal(db: Session, world: World) -> None:
    offer = _offer(db, world, start=NOW + timedelta(days=1))
    deal = request_deal(db, offer_version=offer.current, org=world.org, now=NOW)
    assert (
        covering_deal(db, org_id=world.org.id, resource_url_or_asset=world.photos[0], usage="ai-train")
        is None
    )
    accept(db, deal=deal, side=Side.SELLER, now=NOW)
    later = NOW + timedelta(days=2)
    assert covering_deal(
        db, org_id=world.org.id, resource_url_or_asset=world.photos[0], usage="ai-train", now=later
    ) is None  # accepted, not yet activated  # fmt: skip
    activate_due(db, now=later)
    assert covering_deal(
        db, org_id=world.org.id, resource_url_or_asset=world.photos[0], usage="ai-train", now=later
    ) is deal  # fmt: skip


def test_warnings_for_works_the_seller_no_longer_holds(db: Session, world: World) -> None:
    offer = _offer(db, world, seller=world.guild)
    deal = request_deal(db, offer_version=offer.current, org=world.org, now=NOW)
    accept(db, deal=deal, side=Side.SELLER, now=NOW)
    assert deal_warnings(db, deal) == []
    catalog.delete_asset(db, asset=world.photos[0])
    accounts.remove_member(db, collective=world.guild, creator=world.ola)
    set_rule(
        db, scope=Scope("asset", world.texts[0].id), usage="ai-train", rule=Rule("deny"), changed_by=None
    )
    world.photos[1].sha256 = "f" * 64
    db.flush()
    found = {(w.asset_id, w.code) for w in deal_warnings(db, deal)}
    assert found == {
        (world.photos[0].id, "asset-deleted"),
        (world.photos[1].id, "asset-changed"),
        (world.ola_assets[0].id, "left-collective"),
        (world.ola_assets[1].id, "left-collective"),
        (world.texts[0].id, "policy-denies"),
    }
    # Flags only: the deal is untouched and still covers the works.
    assert deal.status == "active"
    assert (
        covering_deal(db, org_id=world.org.id, resource_url_or_asset="/@ola/*", usage="ai-train", now=NOW)
        is deal
    )
    pending = request_deal(db, offer_version=offer.current, org=world.org)
    assert deal_warnings(db, pending) == []


def test_concurrent_exclusive_acceptances_let_one_through(
    db: Session, db_factory: sessionmaker[Session], world: World
) -> None:
    offer = _offer(db, world, exclusive=True)
    ids = [
        request_deal(db, offer_version=offer.current, org=org, now=NOW).id
        for org in (world.org, world.other_org)
    ]
    db.commit()
    barrier = threading.Barrier(len(ids))
    results: list[str] = []

    def run(deal_id: str) -> None:
        with db_factory() as session:
            deal = get_deal(session, deal_id)
            barrier.wait()
            try:
                accept(session, deal=deal, side=Side.SELLER, now=NOW)
                session.commit()
                results.append("accepted")
            except (ExclusiveConflict, OperationalError) as exc:
                session.rollback()
                results.append(type(exc).__name__)

    threads = [threading.Thread(target=run, args=(deal_id,)) for deal_id in ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(results) == ["ExclusiveConflict", "accepted"]
    db.expire_all()
    assert sorted(get_deal(db, deal_id).status for deal_id in ids) == ["active", "proposed"]
