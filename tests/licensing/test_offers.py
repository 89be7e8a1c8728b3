from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy.orm import Session
from tests.licensing.helpers import NOW, World, make_asset, terms

from fairtrain.accounts import service as accounts
from fairtrain.catalog import service as catalog
from fairtrain.errors import InvalidInput
from fairtrain.licensing.errors import NotAParty, OfferClosed, UsageDenied
from fairtrain.licensing.offers import (
    create_offer,
    get_offer_version,
    list_offers,
    offer_terms,
    portfolio,
    revise_offer,
    update_offer,
    withdraw_offer,
)
from fairtrain.licensing.selection import Selection, evaluate_selection, selection_assets
from fairtrain.rights.policy import Rule, Scope, set_rule


def test_creator_offers_and_versions(db: Session, world: World) -> None:
    offer = create_offer(
        db, seller=world.mira, title="Photos for training", terms=terms(), selection=Selection(all=True),
        by=world.mira_user, now=NOW,
    )  # fmt: skip
    assert offer.id.startswith("ofr_") and offer.current_version == 1 and offer.seller_kind == "creator"
    first = offer.current
    # Same terms again: no new version.
    assert revise_offer(db, offer=offer, terms=terms(), now=NOW) is first
    second = revise_offer(db, offer=offer, terms=terms(exclusive=True), note="exclusive now", now=NOW)
    assert second.version == 2 and offer.current_version == 2
    assert offer_terms(first).exclusive is False and offer_terms(second).exclusive is True
    assert get_offer_version(db, offer.id, 1) is first
    assert get_offer_version(db, offer.id) is second
    third = revise_offer(db, offer=offer, selection=Selection(kinds=("text",)), now=NOW)
    assert third.version == 3 and offer_terms(third).exclusive is True
    update_offer(db, offer=offer, title="Renamed", public=False)
    assert offer.current_version == 3 and offer.title == "Renamed"
    assert list_offers(db) == []
    assert list_offers(db, seller=world.mira, public_only=False) == [offer]
    withdraw_offer(db, offer=offer, now=NOW)
    with pytest.raises(OfferClosed):
        revise_offer(db, offer=offer, terms=terms())
    assert list_offers(db, seller=world.mira, public_only=False) == []


def test_only_the_seller_or_the_collective_operator_may_offer(db: Session, world: World) -> None:
    with pytest.raises(NotAParty):
        create_offer(
            db, seller=world.mira, title="x", terms=terms(), selection=Selection(all=True), by=world.buyer
        )
    with pytest.raises(NotAParty):
        create_offer(
            db,
            seller=world.guild,
            title="x",
            terms=terms(),
            selection=Selection(all=True),
            by=world.mira_user,
        )
    offer = create_offer(
        db,
        seller=world.guild,
        title="Guild pool",
        terms=terms(),
        selection=Selection(all=True),
        by=world.operator,
    )
    assert offer.seller_kind == "collective" and offer.seller_name == "The Guild"
    with pytest.raises(NotAParty):
        withdraw_offer(db, offer=offer, by=world.mira_user)


def test_offer_refused_when_the_policy_denies_a_usage(db: Session, world: World) -> None:
    set_rule(db, scope=Scope("creator", world.mira.id), usage="ai-train", rule=Rule("deny"), changed_by=None)
    with pytest.raises(UsageDenied, match="denies ai-train"):
        create_offer(db, seller=world.mira, title="x", terms=terms(), selection=Selection(all=True))
    # Licensing ai-input is still fine.
    offer = create_offer(
        db, seller=world.mira, title="x", terms=terms(usages=["ai-input"]), selection=Selection(all=True)
    )
    with pytest.raises(UsageDenied):
        revise_offer(db, offer=offer, terms=terms(usages=["ai-input", "ai-train"]))
    # A collective is judged by its own scope over the site's.
    set_rule(
        db, scope=Scope("collective", world.guild.id), usage="ai-all", rule=Rule("deny"), changed_by=None
    )
    with pytest.raises(UsageDenied, match="The Guild"):
        create_offer(
            db, seller=world.guild, title="x", terms=terms(usages=["ai-input"]), selection=Selection(all=True)
        )
    create_offer(
        db, seller=world.guild, title="x", terms=terms(usages=["search"]), selection=Selection(all=True)
    )
    set_rule(db, scope=Scope("site"), usage="search", rule=Rule("deny"), changed_by=None)
    with pytest.raises(UsageDenied):
        create_offer(
            db, seller=world.guild, title="x", terms=terms(usages=["search"]), selection=Selection(all=True)
        )


@pytest.mark.parametrize(
    ("selection", "message"),
    [
        ({}, "the selection is empty"),
        ({"all": True, "kinds": ["image"]}, "takes no other criteria"),
        ({"kinds": ["hologram"]}, "unknown kind"),
        ({"since": "2024-02-30"}, "not a date"),
        ({"since": "2024-01-02", "until": "2024-01-01"}, "ends .* before it starts"),
        ({"date_field": "birthday", "since": "2024-01-01"}, "unknown date field"),
        ({"everything": True}, "unknown selection field"),
    ],
)
def test_bad_selections(selection: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        Selection.from_dict(selection)


def test_selection_must_name_the_sellers_own_works(db: Session, world: World) -> None:
    with pytest.raises(InvalidInput, match="not a live work of this seller"):
        create_offer(
            db,
            seller=world.mira,
            title="x",
            terms=terms(),
            selection=Selection(assets=(world.ola_assets[0].id,)),
        )
    with pytest.raises(InvalidInput, match="not a collection of this seller"):
        create_offer(
            db, seller=world.ola, title="x", terms=terms(), selection=Selection(collections=("cln_x",))
        )
    ended = terms(end=NOW - timedelta(days=1))
    with pytest.raises(InvalidInput, match="already ended"):
        create_offer(db, seller=world.mira, title="x", terms=ended, selection=Selection(all=True), now=NOW)
    # The collective may name its members' works.
    create_offer(
        db,
        seller=world.guild,
        title="x",
        terms=terms(),
        selection=Selection(assets=(world.ola_assets[0].id,)),
    )


def test_selection_is_evaluated_live(db: Session, world: World) -> None:
    ids = lambda assets: {a.id for a in assets}  # noqa: E731
    photos, texts = world.photos, world.texts
    sel = lambda **kw: evaluate_selection(db, seller=world.mira, selection=Selection(**kw))  # noqa: E731
    assert ids(sel(all=True)) == ids(photos + texts)
    assert ids(sel(kinds=("text",))) == ids(texts)
    assert ids(sel(tags=("sea",))) == ids(photos[:2])
    collection = photos[2].collections[0]
    assert ids(sel(collections=(collection.id,))) == {photos[2].id}
    assert ids(sel(since=date(2021, 1, 1), until=date(2021, 12, 31))) == {photos[1].id}
    assert ids(sel(kinds=("image",), since=date(2021, 1, 1))) == ids(photos[1:])
    # Criteria AND together; explicit assets are added.
    assert ids(sel(kinds=("text",), tags=("sea",), assets=(photos[2].id,))) == {photos[2].id}
    today = datetime.now(UTC).date()
    assert ids(sel(date_field="imported", since=today - timedelta(days=1))) == ids(photos + texts)
    # The collective's catalogue is its current members' works.
    guild = lambda: ids(evaluate_selection(db, seller=world.guild, selection=Selection(all=True)))  # noqa: E731
    assert guild() == ids(photos + texts + world.ola_assets)
    accounts.remove_member(db, collective=world.guild, creator=world.ola)
    assert guild() == ids(photos + texts)
    # New and deleted works show at once.
    new = make_asset(db, world.mira, "photo-new")
    catalog.delete_asset(db, asset=photos[0])
    assert ids(sel(all=True)) == ids([*photos[1:], *texts, new])


def test_selection_leaves_out_works_whose_policy_denies_the_usage(db: Session, world: World) -> None:
    offer = create_offer(db, seller=world.mira, title="x", terms=terms(), selection=Selection(all=True))
    assert len(selection_assets(db, offer.current)) == 5
    set_rule(
        db, scope=Scope("asset", world.photos[0].id), usage="ai-train", rule=Rule("deny"), changed_by=None
    )
    collection = world.photos[2].collections[0]
    set_rule(db, scope=Scope("collection", collection.id), usage="ai-all", rule=Rule("deny"), changed_by=None)
    left = {a.id for a in selection_assets(db, offer.current)}
    assert left == {world.photos[1].id, *(t.id for t in world.texts)}
    # An ai-input-only offer is not affected by the asset's ai-train rule.
    other = create_offer(
        db, seller=world.mira, title="y", terms=terms(usages=["ai-input"]), selection=Selection(all=True)
    )
    assert world.photos[0].id in {a.id for a in selection_assets(db, other.current)}


def test_portfolio(db: Session, world: World) -> None:
    summary = portfolio(db, world.guild)
    assert (summary.creators, summary.works, summary.by_kind) == (2, 7, {"image": 5, "text": 2})
    assert portfolio(db, world.ola).works == 2
