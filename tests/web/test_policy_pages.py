"""The AI policy page: choices per usage, a preview of every signal, versioned saving, ownership."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from html import unescape

import pytest
from fastapi.testclient import TestClient
from protego import Protego
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fairtrain.accounts import service as accounts
from fairtrain.accounts.demo import DEMO_LOGINS, seed_demo
from fairtrain.catalog import service as catalog
from fairtrain.rights.models import PolicyChange, PolicyRule
from fairtrain.rights.policy import SITE, Rule, Scope, effective_policy, rules_at, set_rule
from fairtrain.rights.signals import RSL_NAMESPACE
from tests.helpers import csrf, log_in

USAGES = ("search", "ai-input", "ai-index", "ai-train")


@pytest.fixture
def demo(db: Session) -> None:
    seed_demo(db, min_password_length=10)
    db.commit()


def _login_as(client: TestClient, handle_or_role: str) -> None:
    login = next(e for e in DEMO_LOGINS if handle_or_role in {e.handle, e.role})
    assert log_in(client, login.email, login.password).status_code == 303


def _form(scope: str = "", **actions: str) -> dict[str, str]:
    """Every row 'inherit' unless given: ``ai_train="deny"`` or extra fields ``ai_train_price="0.02"``."""
    data = {f"{u}-action": "inherit" for u in USAGES}
    data["scope"] = scope
    for key, value in actions.items():
        usage, _, field = key.partition("__")
        name = f"{usage.replace('_', '-')}-{field or 'action'}"
        data[name] = value
    return data


def _post(client: TestClient, path: str, data: dict[str, str], page: str = "/policy"):  # type: ignore[no-untyped-def]
    return client.post(path, data={**data, "csrf_token": csrf(client, page)}, follow_redirects=False)


def _changes(db: Session) -> int:
    db.expire_all()
    return db.scalar(select(func.count(PolicyChange.id))) or 0


def test_page_shows_a_row_per_usage_with_what_is_inherited_and_a_preview(
    client: TestClient, demo: None
) -> None:
    _login_as(client, "mira")
    page = client.get("/policy")
    assert page.status_code == 200
    assert 'href="/policy"' in page.text  # in the navigation
    for usage in USAGES:
        assert f'data-testid="row-{usage}"' in page.text
        assert f'name="{usage}-action" value="inherit" checked' in page.text
    assert "Search engines (Google, Bing…) may index and show my work" in page.text
    assert "AI companies may train models on my work" in page.text
    assert "Inherited from fairtrain&#39;s default: Only with a licence." in page.text
    assert "per crawl: each time a crawler fetches a work" in page.text  # payment types in plain words
    # The preview of what is saved now: the site's default for every AI use is "licence".
    assert "X-Robots-Tag: noai\n" in page.text
    assert "Search engines may index your work;" in page.text
    assert "plus:DataMining: http://ns.useplus.org/ldf/vocab/DMI-PROHIBITED-SEELINKEDRIGHTSEXPR" in page.text
    assert "No changes yet at this scope." in page.text


def test_anonymous_is_sent_to_log_in_and_a_fan_has_no_policy(client: TestClient, demo: None) -> None:
    response = client.get("/policy", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"].startswith("/login")
    _login_as(client, "fan")
    assert client.get("/policy").status_code == 404
    assert client.get("/policy?scope=site").status_code == 403


def test_saving_changes_every_served_signal_at_once(client: TestClient, db: Session, demo: None) -> None:
    _login_as(client, "mira")
    # Warm every cache first: the save must show on the very next request.
    before = {path: client.get(path).text for path in ("/robots.txt", "/ai.txt", "/.well-known/tdmrep.json")}
    assert not Protego.parse(before["/robots.txt"]).can_fetch("http://testserver/@mira/x.jpg", "GPTBot")
    assert client.get("/@mira").headers["tdm-reservation"] == "1"

    saved = _post(client, "/policy", _form(ai_train="allow", search="deny"))
    assert saved.status_code == 303 and saved.headers["location"] == "/policy?notice=saved-2"

    robots = Protego.parse(client.get("/robots.txt").text)
    assert robots.can_fetch("http://testserver/@mira/x.jpg", "GPTBot")
    assert not robots.can_fetch("http://testserver/@mira/x.jpg", "Googlebot")
    assert robots.can_fetch("http://testserver/@jonas/x.jpg", "Googlebot")
    assert "Allow: /@mira/" in client.get("/ai.txt").text
    assert {"location": "/@mira/*", "tdm-reservation": 0} in client.get("/.well-known/tdmrep.json").json()
    licence = ET.fromstring(client.get("/@mira/license.xml").text)
    said = {(e.tag.split("}")[1], e.text) for e in licence.iter() if e.get("type") == "usage"}
    assert ("permits", "ai-train") in said and ("prohibits", "search") in said
    page = client.get("/@mira")
    assert page.headers["content-signal"] == "search=no, ai-input=no, ai-train=yes"
    assert page.headers["tdm-reservation"] == "0" and "x-robots-tag" not in page.headers

    assert _post(client, "/policy", _form(ai_train="deny", search="deny")).status_code == 303
    page = client.get("/@mira")
    assert page.headers["x-robots-tag"] == "noai, noimageai"
    assert '<meta name="robots" content="noai, noimageai">' in page.text
    assert {"location": "/@mira/*", "tdm-reservation": 1} in client.get("/.well-known/tdmrep.json").json()
    assert "Allow: /@mira/" not in client.get("/ai.txt").text
    licence = ET.fromstring(client.get("/license.xml").text)
    mira = next(c for c in licence if c.get("url") == "/@mira/*")
    assert mira.find(f".//{{{RSL_NAMESPACE}}}prohibits").text == "search ai-train"  # type: ignore[union-attr]

    creator = accounts.get_creator(db, "mira")
    assert rules_at(db, Scope("creator", creator.id)) == {"search": Rule("deny"), "ai-train": Rule("deny")}
    who = {c.changed_by for c in db.scalars(select(PolicyChange))}
    assert who == {creator.user_id}


def test_a_licence_with_a_price_is_saved_exactly_and_shown_in_words(
    client: TestClient, db: Session, demo: None
) -> None:
    _login_as(client, "mira")
    form = _form(
        ai_train="licence",
        ai_train__payment="crawl",
        ai_train__price="0.015",
        ai_train__currency="usd",
        ai_train__user_types="commercial",
        ai_train__territories="us, eu",
    )
    assert _post(client, "/policy", form).status_code == 303
    creator = accounts.get_creator(db, "mira")
    assert rules_at(db, Scope("creator", creator.id))["ai-train"] == Rule(
        "licence",
        payment="crawl",
        amount_micros=15_000,
        currency="USD",
        user_types=("commercial",),
        territories=("US", "EU"),
    )
    page = client.get("/policy").text
    assert 'name="ai-train-price" value="0.015"' in page and 'value="US, EU"' in page
    assert (
        "AI companies need a licence at 0.015 USD per crawl, companies (commercial use) only, in US, EU "
        "to train on it." in page
    )
    amount = ET.fromstring(client.get("/@mira/license.xml").text).find(f".//{{{RSL_NAMESPACE}}}amount")
    assert amount is not None and (amount.get("currency"), amount.text) == ("USD", "0.015")


def test_preview_renders_every_signal_and_saves_nothing(client: TestClient, db: Session, demo: None) -> None:
    _login_as(client, "mira")
    response = _post(client, "/policy/preview", _form(ai_train="allow", ai_input="deny"))
    assert response.status_code == 200
    text = response.text
    assert "<html" not in text  # a fragment for htmx
    assert "AI companies may train on it." in text and "AI assistants may not read it" in text
    assert "Content-Signal: search=yes, ai-input=no, ai-train=yes" in text  # the headers
    assert "tdm-reservation: 0" in text
    assert "Allow: /@mira/" in text  # robots.txt and ai.txt
    assert "&#34;location&#34;: &#34;/@mira/*&#34;" in text  # tdmrep.json
    assert "&#34;@type&#34;: &#34;Offer&#34;" in text  # the ODRL policy
    assert "&lt;prohibits type=&#34;usage&#34;&gt;ai-input&lt;/prohibits&gt;" in text  # license.xml
    assert "DMI-PROHIBITED-SEECONSTRAINT" in text and "ai-input: prohibited" in text  # IPTC
    assert "&#34;ai_training&#34;: {\n    &#34;use&#34;: &#34;allowed&#34;" in text  # C2PA / CAWG
    assert _changes(db) == 0
    assert db.scalar(select(func.count(PolicyRule.id))) == 0
    assert "Allow: /@mira/" not in client.get("/robots.txt").text
    # A choice that cannot be saved shows in the preview itself.
    bad = _post(client, "/policy/preview", _form(ai_train="licence", ai_train__price="-1"))
    assert bad.status_code == 200 and "AI training: a price cannot be negative" in bad.text


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"ai_train__price": "-0.5", "ai_train__currency": "USD"}, "AI training: a price cannot be negative"),
        ({"ai_train__price": "1", "ai_train__currency": "dollars"}, "is not an ISO 4217 currency code"),
        ({"ai_train__price": "0.0000001", "ai_train__currency": "USD"}, "has more than six decimals"),
        ({"ai_train__price": "1", "ai_train__currency": ""}, "a price needs a currency"),
        ({"ai_train__price": "lots", "ai_train__currency": "USD"}, "is not an amount"),
        ({"ai_train__payment": "barter"}, "unknown payment type 'barter'"),
        ({"ai_train__territories": "Europe"}, "'EUROPE' is not an ISO 3166-1 alpha-2 code or EU"),
        ({"ai_train__user_types": "robots"}, "unknown user type 'robots'"),
    ],
)
def test_invalid_choices_are_refused_and_nothing_is_saved(
    client: TestClient, db: Session, demo: None, fields: dict[str, str], message: str
) -> None:
    _login_as(client, "mira")
    # A valid change in another row is not saved either: the form is saved whole or not at all.
    response = _post(client, "/policy", _form(search="deny", ai_train="licence", **fields))
    assert response.status_code == 400
    assert message in unescape(response.text) and "Nothing was saved." in response.text
    assert 'name="search-action" value="deny" checked' in response.text  # what was typed is kept
    assert _changes(db) == 0


def test_an_unknown_choice_is_refused(client: TestClient, db: Session, demo: None) -> None:
    _login_as(client, "mira")
    response = _post(client, "/policy", _form(ai_train="maybe"))
    assert response.status_code == 400 and "unknown action 'maybe'" in unescape(response.text)
    assert _changes(db) == 0


def test_history_lists_who_changed_what_and_inherit_removes_the_rule(
    client: TestClient, db: Session, demo: None
) -> None:
    _login_as(client, "mira")
    assert _post(client, "/policy", _form(ai_train="deny")).status_code == 303
    page = client.get("/policy?notice=saved-1").text
    assert "Saved. 1 change recorded" in page
    assert 'data-testid="policy-history"' in page
    assert "<td>you</td><td>AI training</td><td>inherited</td><td>Refuse</td>" in page

    assert _post(client, "/policy", _form()).status_code == 303  # every row back to "inherited"
    creator = accounts.get_creator(db, "mira")
    assert rules_at(db, Scope("creator", creator.id)) == {}
    assert "<td>you</td><td>AI training</td><td>Refuse</td><td>inherited</td>" in client.get("/policy").text
    assert _post(client, "/policy", _form()).headers["location"] == "/policy?notice=unchanged"
    assert _changes(db) == 2


def test_csrf_is_required(client: TestClient, db: Session, demo: None) -> None:
    _login_as(client, "mira")
    for path in ("/policy", "/policy/preview"):
        response = client.post(path, data=_form(ai_train="deny"), follow_redirects=False)
        assert response.status_code == 403, path
        stale = client.post(path, data={**_form(ai_train="deny"), "csrf_token": "stale"})
        assert stale.status_code == 403, path
    assert _changes(db) == 0


def test_collections_are_scopes_of_their_own_and_only_their_owner_sees_them(
    client: TestClient, db: Session, demo: None
) -> None:
    mira = accounts.get_creator(db, "mira")
    harbours = catalog.create_collection(db, creator=mira, slug="harbours", name="Harbours")
    db.commit()
    _login_as(client, "mira")
    page = client.get("/policy").text
    assert f'href="/policy?scope=collection%3A{harbours.id}"' in page  # the scope selector
    scope = f"collection:{harbours.id}"
    page = client.get("/policy", params={"scope": scope})
    assert page.status_code == 200 and "Collection: Harbours" in page.text
    assert "Inherited from fairtrain&#39;s default" in page.text

    assert _post(client, "/policy", _form(scope, ai_train="allow")).status_code == 303
    db.expire_all()
    assert effective_policy(db, collection=harbours).action("ai-train") == "allow"
    assert effective_policy(db, creator=mira).action("ai-train") == "licence"  # the rest of her work
    preview = _post(client, "/policy/preview", _form(scope, ai_train="allow")).text
    assert 'data-testid="preview-files-note"' in preview and "AI companies may train on it." in preview

    # Her own setting is what the collection inherits from.
    assert _post(client, "/policy", _form(ai_input="deny")).status_code == 303
    page = client.get("/policy", params={"scope": scope}).text
    assert "Inherited from your creator settings: Refuse." in page

    client.cookies.clear()
    _login_as(client, "jonas")
    assert client.get("/policy", params={"scope": scope}).status_code == 404  # not 403: ids stay secret
    assert _post(client, "/policy", _form(scope, ai_train="deny")).status_code == 404
    assert _post(client, "/policy/preview", _form(scope, ai_train="deny")).status_code == 404
    assert client.get("/policy", params={"scope": "collection:cln_nonexistent"}).status_code == 404
    assert client.get("/policy", params={"scope": "creator:mira"}).status_code == 403
    assert client.get("/policy", params={"scope": "site"}).status_code == 403
    assert client.get("/policy", params={"scope": "bogus"}).status_code == 404
    assert effective_policy(db, collection=harbours).action("ai-train") == "allow"


def test_operator_sets_the_site_default_and_creators_inherit_it(
    client: TestClient, db: Session, demo: None
) -> None:
    _login_as(client, "operator")
    assert 'href="/policy"' in client.get("/").text
    page = client.get("/policy")  # an operator without a creator profile lands on the site's scope
    assert page.status_code == 200 and "The site&#39;s default" in page.text
    assert "may index and show the work" in page.text
    preview = _post(client, "/policy/preview", _form("site", ai_train="deny")).text
    assert "creators: each without settings of their own follows these choices." in preview
    assert "User-agent: GPTBot" in preview  # the whole robots.txt
    assert _post(client, "/policy", _form("site", ai_train="deny")).headers["location"] == (
        "/policy?scope=site&notice=saved-1"
    )
    assert rules_at(db, SITE) == {"ai-train": Rule("deny")}
    assert client.get("/@jonas").headers["x-robots-tag"] == "noai, noimageai"
    assert client.get("/.well-known/tdmrep.json").json()[-1] == {"location": "/*", "tdm-reservation": 1}
    # An operator may also look after a creator's policy.
    assert client.get("/policy", params={"scope": "creator:mira"}).status_code == 200
    client.cookies.clear()
    _login_as(client, "mira")
    assert "Inherited from the site default: Refuse." in client.get("/policy").text


def test_a_shorthand_rule_is_spelled_out_when_one_of_its_usages_changes(
    client: TestClient, db: Session, demo: None
) -> None:
    mira = accounts.get_creator(db, "mira")
    scope = Scope("creator", mira.id)
    set_rule(db, scope=scope, usage="ai-all", rule=Rule("deny"), changed_by=None)  # as `policy set` does
    db.commit()
    _login_as(client, "mira")
    page = client.get("/policy").text
    for usage in ("ai-input", "ai-index", "ai-train"):
        assert f'name="{usage}-action" value="deny" checked' in page
    assert "<td>command line</td><td>All AI uses</td>" in page
    form = _form(ai_input="deny", ai_index="deny", ai_train="allow")
    assert _post(client, "/policy", form).status_code == 303
    db.expire_all()
    assert rules_at(db, scope) == {
        "ai-input": Rule("deny"),
        "ai-index": Rule("deny"),
        "ai-train": Rule("allow"),
    }
    assert effective_policy(db, creator=mira).action("ai-train") == "allow"


def test_preview_matches_what_is_served_after_saving(client: TestClient, demo: None) -> None:
    _login_as(client, "mira")
    form = _form(
        ai_train="licence", ai_train__payment="training", ai_train__price="250", ai_train__currency="EUR"
    )
    preview = _post(client, "/policy/preview", form).text
    assert _post(client, "/policy", form).status_code == 303
    served = client.get("/@mira/license.xml").text
    escaped = served.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&#34;")
    assert escaped in preview
    odrl = json.dumps(client.get("/.well-known/tdm/@mira.json").json(), indent=2)
    assert odrl.replace('"', "&#34;") in preview
