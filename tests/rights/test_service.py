"""rights.service: a scope's choices in plain words, saving them whole, previews, and the signal cache."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fairtrain.accounts import service as accounts
from fairtrain.accounts.models import CreatorProfile
from fairtrain.catalog import service as catalog
from fairtrain.errors import InvalidInput
from fairtrain.rights.crawlers import builtin_crawlers
from fairtrain.rights.models import PolicyChange, PolicyRule
from fairtrain.rights.policy import (
    PAYMENT_TYPES,
    SITE,
    USER_TYPES,
    Rule,
    Scope,
    changes_at,
    concrete_rules_at,
    effective_policy,
    rules_at,
    set_rule,
)
from fairtrain.rights.service import (
    PAYMENT_WORDS,
    USER_TYPE_WORDS,
    PolicySubject,
    SignalCache,
    build_rule,
    creator_signals,
    describe_policy,
    describe_rule,
    describe_stored,
    inherited_policy,
    preview_signals,
    save_scope_rules,
    signals_version,
    site_signals,
)
from fairtrain.rights.signals import (
    html_tags,
    iptc_data_mining,
    license_xml,
    response_headers,
    tdm_policy_document,
    training_mining_entries,
)

BASE = "https://art.example.org"
CRAWLERS = builtin_crawlers()


@pytest.fixture
def mira(db: Session) -> CreatorProfile:
    creator = accounts.create_creator(db, handle="mira", display_name="Mira")
    accounts.create_creator(db, handle="jonas", display_name="Jonas")
    db.commit()
    return creator


def _rows(db: Session) -> tuple[int, int]:
    return (
        db.scalar(select(func.count(PolicyRule.id))) or 0,
        db.scalar(select(func.count(PolicyChange.id))) or 0,
    )


def test_every_payment_and_user_type_has_plain_words() -> None:
    assert set(PAYMENT_WORDS) == set(PAYMENT_TYPES)
    assert set(USER_TYPE_WORDS) == set(USER_TYPES)


def test_build_rule_reads_what_a_person_typed() -> None:
    assert build_rule(action="inherit") is None
    assert build_rule(action="deny", price="5", currency="USD") == Rule("deny")  # only a licence has terms
    # The form pre-fills the currency: without a price it means nothing.
    assert build_rule(action="licence", payment="crawl", currency="USD") == Rule("licence", payment="crawl")
    assert build_rule(
        action="licence",
        payment="use",
        price=" 0.002 ",
        currency="eur",
        user_types=["education"],
        territories="de, EU",
    ) == Rule(
        "licence",
        payment="use",
        amount_micros=2_000,
        currency="EUR",
        user_types=("education",),
        territories=("DE", "EU"),
    )


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"price": "-1", "currency": "USD"}, "a price cannot be negative"),
        ({"price": "1", "currency": ""}, "a price needs a currency"),
        ({"price": "1", "currency": "US$"}, "is not an ISO 4217 currency code"),
        ({"price": "0.1234567", "currency": "USD"}, "more than six decimals"),
        ({"payment": "barter"}, "unknown payment type"),
        ({"territories": "Atlantis"}, "is not an ISO 3166-1 alpha-2 code or EU"),
    ],
)
def test_build_rule_refuses_bad_terms(fields: dict[str, str], message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        build_rule(action="licence", **fields)  # type: ignore[arg-type]


def test_rules_and_policies_in_plain_words(db: Session, mira: CreatorProfile) -> None:
    crawl = Rule("licence", payment="crawl", amount_micros=20_000, currency="USD")
    assert describe_rule(crawl) == "Only with a licence at 0.02 USD per crawl"
    assert describe_rule(Rule("deny")) == "Refuse" and describe_rule(Rule("allow")) == "Allow"
    assert describe_stored(crawl.as_dict()) == "Only with a licence at 0.02 USD per crawl"
    assert describe_stored(None) == "inherited"
    assert describe_rule(Rule("licence", payment="use")) == "Only with a licence paid per use"
    assert describe_rule(Rule("licence")) == "Only with a licence"

    scope = Scope("creator", mira.id)
    set_rule(db, scope=scope, usage="ai-train", rule=crawl, changed_by=None)
    set_rule(db, scope=scope, usage="ai-input", rule=Rule("deny"), changed_by=None)
    set_rule(db, scope=scope, usage="ai-index", rule=Rule("allow"), changed_by=None)
    assert describe_policy(effective_policy(db, creator=mira)) == (
        "Search engines may index your work; AI assistants may not read it; AI systems may store it in a "
        "search index; AI companies need a licence at 0.02 USD per crawl to train on it."
    )


def test_saving_records_each_change_and_spells_out_shorthands(db: Session, mira: CreatorProfile) -> None:
    scope = Scope("creator", mira.id)
    set_rule(db, scope=scope, usage="ai-all", rule=Rule("licence", payment="training"), changed_by=None)
    set_rule(db, scope=scope, usage="ai-train", rule=Rule("deny"), changed_by=None)
    said = concrete_rules_at(db, scope)
    assert said == {
        "search": None,
        "ai-input": Rule("licence", payment="training"),
        "ai-index": Rule("licence", payment="training"),
        "ai-train": Rule("deny"),  # the strictest of what the scope says
    }
    assert save_scope_rules(db, scope=scope, wanted=said, changed_by=None) == []  # nothing changed

    changes = save_scope_rules(db, scope=scope, wanted={"ai-input": Rule("allow")}, changed_by=None)
    assert [(c.usage, c.new) for c in changes] == [
        ("ai-all", None),
        ("ai-input", Rule("allow").as_dict()),
        ("ai-index", Rule("licence", payment="training").as_dict()),
    ]
    assert rules_at(db, scope) == {
        "ai-input": Rule("allow"),
        "ai-index": Rule("licence", payment="training"),
        "ai-train": Rule("deny"),
    }
    assert [c.usage for c in changes_at(db, scope, limit=3)] == ["ai-index", "ai-input", "ai-all"]
    with pytest.raises(InvalidInput, match="unknown usage 'ai-all'"):
        save_scope_rules(db, scope=scope, wanted={"ai-all": None}, changed_by=None)


def test_a_change_outside_a_shorthand_leaves_it_alone(db: Session, mira: CreatorProfile) -> None:
    scope = Scope("creator", mira.id)
    set_rule(db, scope=scope, usage="ai-all", rule=Rule("deny"), changed_by=None)
    changes = save_scope_rules(db, scope=scope, wanted={"search": Rule("deny")}, changed_by=None)
    assert [c.usage for c in changes] == ["search"]
    assert rules_at(db, scope) == {"ai-all": Rule("deny"), "search": Rule("deny")}


def test_inherited_policy_ignores_the_scope_itself(db: Session, mira: CreatorProfile) -> None:
    set_rule(db, scope=SITE, usage="ai-train", rule=Rule("deny"), changed_by=None)
    set_rule(db, scope=Scope("creator", mira.id), usage="ai-train", rule=Rule("allow"), changed_by=None)
    subject = PolicySubject(Scope("creator", mira.id), creator=mira)
    decision = inherited_policy(db, subject)["ai-train"]
    assert decision.action == "deny" and decision.scope == SITE
    assert inherited_policy(db, PolicySubject(SITE))["ai-train"].default


def test_preview_is_what_saving_would_serve_and_writes_nothing(db: Session, mira: CreatorProfile) -> None:
    set_rule(db, scope=Scope("creator", mira.id), usage="search", rule=Rule("deny"), changed_by=None)
    db.commit()
    subject = PolicySubject(Scope("creator", mira.id), creator=mira)
    wanted: dict[str, Rule | None] = {
        "search": None,  # back to what is inherited
        "ai-train": Rule("licence", payment="training", amount_micros=250_000_000, currency="EUR"),
        "ai-input": Rule("allow"),
    }
    before = _rows(db)
    preview = preview_signals(db, subject=subject, wanted=wanted, base_url=BASE, crawlers=CRAWLERS)
    assert _rows(db) == before
    assert preview.summary.startswith("Search engines may index your work; AI assistants may read it")
    assert "AI companies need a licence at 250.00 EUR as a training fee to train on it." in preview.summary
    assert "Allow: /@mira/" in preview.robots_txt  # ai-input crawlers now may fetch her work
    assert "Allow: /@jonas/" not in preview.robots_txt  # only her lines are shown
    assert "Content-Signal: search=yes, ai-input=no, ai-train=no" in preview.robots_txt  # the site's
    assert preview.robots_txt.rstrip().endswith(f"License: {BASE}/license.xml")

    save_scope_rules(db, scope=subject.scope, wanted=wanted, changed_by=None)
    site, own = creator_signals(db, base_url=BASE, creator=mira)
    policy = effective_policy(db, creator=mira)
    assert preview.policy == policy
    assert preview.license_xml == license_xml(site_signals(db, base_url=BASE), only="mira")
    assert preview.headers == response_headers(site, own)
    assert preview.html_tags == [
        '<link rel="license" type="application/rsl+xml" href="https://art.example.org/@mira/license.xml">',
        '<meta name="tdm-reservation" content="1">',
        '<meta name="tdm-policy" content="https://art.example.org/.well-known/tdm/@mira.json">',
        '<meta name="robots" content="noai">',
    ]
    assert len(preview.html_tags) == len(html_tags(site, own))
    assert json.loads(preview.tdm_policy) == tdm_policy_document(site, own)
    assert json.loads(preview.tdmrep_json)[0]["location"] == "/@mira/*"
    assert (preview.iptc_data_mining, preview.iptc_other_constraints) == iptc_data_mining(policy)
    assert json.loads(preview.training_mining) == training_mining_entries(
        policy, license_url=f"{BASE}/@mira/license.xml"
    )


def test_site_wide_preview_reaches_every_creator(db: Session, mira: CreatorProfile) -> None:
    preview = preview_signals(
        db, subject=PolicySubject(SITE), wanted={"ai-train": Rule("allow")}, base_url=BASE, crawlers=CRAWLERS
    )
    assert preview.policy.action("ai-train") == "allow"
    assert '"tdm-reservation": 0' in preview.tdmrep_json and "Disallow" not in preview.ai_txt
    assert preview.headers["tdm-reservation"] == "0"
    assert _rows(db) == (0, 0)


def test_a_collection_preview_changes_only_its_works_signals(db: Session, mira: CreatorProfile) -> None:
    harbours = catalog.create_collection(db, creator=mira, slug="harbours", name="Harbours")
    subject = PolicySubject(Scope("collection", harbours.id), creator=mira, collection=harbours)
    preview = preview_signals(
        db, subject=subject, wanted={"ai-train": Rule("deny")}, base_url=BASE, crawlers=CRAWLERS
    )
    assert preview.files_follow_creator
    assert preview.headers["X-Robots-Tag"] == "noai, noimageai"
    assert "<prohibits" not in preview.license_xml  # her licence is her own setting's
    assert preview.summary.startswith("Search engines may index these works")


def test_the_version_moves_with_every_input_to_the_signals(db: Session, mira: CreatorProfile) -> None:
    seen = [signals_version(db)]

    def moved() -> None:
        db.commit()
        seen.append(signals_version(db))
        assert seen[-1] != seen[-2]

    set_rule(db, scope=Scope("creator", mira.id), usage="ai-train", rule=Rule("allow"), changed_by=None)
    moved()
    set_rule(db, scope=Scope("creator", mira.id), usage="ai-train", rule=None, changed_by=None)
    moved()
    accounts.create_creator(db, handle="ines", display_name="Ines")
    moved()
    operator = accounts.create_user(db, email="op@example.com", password=None, min_password_length=10)
    guild = accounts.create_collective(db, slug="guild", name="Guild", operator=operator)
    db.commit()
    seen.append(signals_version(db))
    accounts.add_member(db, collective=guild, creator=mira)
    moved()
    accounts.remove_member(db, collective=guild, creator=mira)
    moved()
    assert signals_version(db) == seen[-1]  # and it stands still when nothing changed


def test_the_cache_rebuilds_on_a_new_version_or_when_too_old(db: Session, mira: CreatorProfile) -> None:
    now = [0.0]
    cache = SignalCache(max_age=60, clock=lambda: now[0])
    builds: list[int] = []

    def render(site: object) -> str:
        builds.append(1)
        return f"build {len(builds)}"

    def body() -> str:
        return cache.body(db, base_url=BASE, name="x", render=render)  # type: ignore[arg-type]

    assert body() == "build 1"
    assert body() == "build 1"
    first_site = cache.site(db, base_url=BASE)
    assert cache.site(db, base_url=BASE) is first_site
    assert cache.site(db, base_url="https://other.example") is not first_site  # per base URL

    set_rule(db, scope=SITE, usage="search", rule=Rule("deny"), changed_by=None)
    db.commit()
    assert body() == "build 2"
    assert cache.site(db, base_url=BASE).policy.action("search") == "deny"
    now[0] = 61.0
    assert body() == "build 3"  # e.g. a renamed creator, which leaves no trace in the version
    assert cache.body(db, base_url=BASE, name="x", render=render, extra="other list") == "build 4"
    cache.clear()
    assert body() == "build 5"
