from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from fairtrain.accounts import service as accounts
from fairtrain.catalog import service as catalog
from fairtrain.catalog.analyse import Analysis
from fairtrain.errors import InvalidInput
from fairtrain.rights.models import PolicyChange
from fairtrain.rights.policy import (
    SITE,
    Rule,
    Scope,
    effective_policy,
    format_micros,
    parse_price,
    set_rule,
)


@pytest.fixture
def world(db: Session) -> dict[str, object]:
    operator = accounts.create_user(db, email="op@example.com", password=None, min_password_length=10)
    mira = accounts.create_creator(db, handle="mira", display_name="Mira")
    guild = accounts.create_collective(db, slug="guild", name="Guild", operator=operator)
    other = accounts.create_collective(db, slug="other", name="Other", operator=operator)
    accounts.add_member(db, collective=guild, creator=mira)
    accounts.add_member(db, collective=other, creator=mira)
    analysis = Analysis(
        sha256="a" * 64,
        size=1,
        kind="image",
        mime="image/jpeg",
        title="t",
        description=None,
        created_at=None,
        created_source=None,
        width=1,
        height=1,
        duration_ms=None,
        word_count=None,
    )
    asset, _ = catalog.record_import(db, creator=mira, analysis=analysis, storage="copy", filename="t.jpg")
    series = catalog.create_collection(db, creator=mira, slug="series", name="Series")
    catalog.update_asset(db, asset=asset, collections=["series"])
    db.commit()
    return {
        "operator": operator,
        "mira": mira,
        "guild": guild,
        "other": other,
        "asset": asset,
        "series": series,
    }


def test_default_allows_search_and_licenses_every_ai_use(db: Session, world: dict[str, object]) -> None:
    policy = effective_policy(db, creator=world["mira"])  # type: ignore[arg-type]
    assert {u: policy.action(u) for u in ("search", "ai-input", "ai-index", "ai-train")} == {
        "search": "allow",
        "ai-input": "licence",
        "ai-index": "licence",
        "ai-train": "licence",
    }
    assert policy["ai-train"].default


def test_narrower_scope_wins(db: Session, world: dict[str, object]) -> None:
    mira, asset = world["mira"], world["asset"]
    set_rule(db, scope=SITE, usage="ai-all", rule=Rule("deny"), changed_by=None)
    set_rule(db, scope=Scope("creator", mira.id), usage="ai-input", rule=Rule("allow"), changed_by=None)  # type: ignore[attr-defined]
    set_rule(db, scope=Scope("asset", asset.id), usage="ai-input", rule=Rule("deny"), changed_by=None)  # type: ignore[attr-defined]
    assert effective_policy(db).action("ai-input") == "deny"
    creator_policy = effective_policy(db, creator=mira)  # type: ignore[arg-type]
    assert creator_policy.action("ai-input") == "allow"
    assert creator_policy["ai-input"].scope == Scope("creator", mira.id)  # type: ignore[attr-defined]
    assert creator_policy.action("ai-train") == "deny"  # from the site
    assert effective_policy(db, asset=asset).action("ai-input") == "deny"  # type: ignore[arg-type]


def test_deny_beats_allow_at_one_scope_and_across_collectives(db: Session, world: dict[str, object]) -> None:
    mira, guild, other = world["mira"], world["guild"], world["other"]
    creator = Scope("creator", mira.id)  # type: ignore[attr-defined]
    set_rule(db, scope=creator, usage="all", rule=Rule("allow"), changed_by=None)
    set_rule(db, scope=creator, usage="ai-train", rule=Rule("deny"), changed_by=None)
    policy = effective_policy(db, creator=mira)  # type: ignore[arg-type]
    assert (policy.action("ai-train"), policy.action("ai-index")) == ("deny", "allow")
    # Two collectives at the same level: the strictest wins; the creator's own rules still come first.
    set_rule(db, scope=Scope("collective", guild.id), usage="search", rule=Rule("allow"), changed_by=None)  # type: ignore[attr-defined]
    set_rule(db, scope=Scope("collective", other.id), usage="search", rule=Rule("deny"), changed_by=None)  # type: ignore[attr-defined]
    set_rule(db, scope=creator, usage="all", rule=None, changed_by=None)
    policy = effective_policy(db, creator=mira)  # type: ignore[arg-type]
    assert policy.action("search") == "deny" and policy["search"].scope.kind == "collective"


def test_collection_is_between_asset_and_creator(db: Session, world: dict[str, object]) -> None:
    series, asset, mira = world["series"], world["asset"], world["mira"]
    set_rule(db, scope=Scope("creator", mira.id), usage="ai-train", rule=Rule("deny"), changed_by=None)  # type: ignore[attr-defined]
    price, currency = parse_price("250", "eur")
    licence = Rule("licence", payment="training", amount_micros=price, currency=currency)
    set_rule(db, scope=Scope("collection", series.id), usage="ai-train", rule=licence, changed_by=None)  # type: ignore[attr-defined]
    decision = effective_policy(db, asset=asset)["ai-train"]  # type: ignore[arg-type]
    assert decision.rule == licence and decision.scope.kind == "collection"


def test_changes_are_versioned(db: Session, world: dict[str, object]) -> None:
    operator = world["operator"]
    first = set_rule(db, scope=SITE, usage="ai-train", rule=Rule("deny"), changed_by=operator.id)  # type: ignore[attr-defined]
    assert first is not None and first.old is None and first.new["action"] == "deny"  # type: ignore[index]
    assert set_rule(db, scope=SITE, usage="ai-train", rule=Rule("deny"), changed_by=operator.id) is None  # type: ignore[attr-defined]
    set_rule(db, scope=SITE, usage="ai-train", rule=None, changed_by=operator.id)  # type: ignore[attr-defined]
    history = db.scalars(select(PolicyChange).order_by(PolicyChange.id)).all()
    assert [(h.old and h.old["action"], h.new and h.new["action"]) for h in history] == [
        (None, "deny"),
        ("deny", None),
    ]
    assert all(h.changed_by == operator.id and h.changed_at.tzinfo for h in history)  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ({"action": "maybe"}, "unknown action"),
        ({"action": "deny", "payment": "crawl"}, "only a licence"),
        ({"action": "licence", "payment": "barter"}, "unknown payment type"),
        ({"action": "licence", "amount_micros": 5}, "both an amount and a currency"),
        ({"action": "licence", "amount_micros": 5, "currency": "usd"}, "ISO 4217"),
        ({"action": "allow", "user_types": ("robots",)}, "unknown user type"),
        ({"action": "allow", "territories": ("XXX",)}, "ISO 3166"),
    ],
)
def test_bad_rules_are_refused(rule: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        Rule(**rule)  # type: ignore[arg-type]


def test_prices_are_exact() -> None:
    assert parse_price("0.015", "usd") == (15_000, "USD")
    assert parse_price("250", "EUR") == (250_000_000, "EUR")
    assert (
        format_micros(15_000) == "0.015" and format_micros(2_500_000) == "2.50" and format_micros(0) == "0.00"
    )
    for bad in ("-1", "abc", "NaN", "0.0000001"):
        with pytest.raises(InvalidInput):
            parse_price(bad, "USD")
    for currency in ("XYZ", "US", "XAU"):  # not ISO 4217; a code with no minor unit (gold)
        with pytest.raises(InvalidInput):
            parse_price("1", currency)
    with pytest.raises(InvalidInput):
        Rule("licence", payment="crawl", amount_micros=1, currency="XYZ")


def test_unknown_scope_and_usage(db: Session) -> None:
    with pytest.raises(InvalidInput, match="unknown scope"):
        Scope("planet", "x")
    with pytest.raises(InvalidInput, match="needs one"):
        Scope("creator")
    with pytest.raises(InvalidInput, match="unknown usage"):
        set_rule(db, scope=SITE, usage="ai-dream", rule=Rule("deny"), changed_by=None)
