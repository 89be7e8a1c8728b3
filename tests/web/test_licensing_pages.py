"""Licensing pages (offers, deals, agreements, the licensee's page) and offers in license.xml, on SQLite and
PostgreSQL."""

from __future__ import annotations

import hashlib
import re
import xml.etree.ElementTree as ET
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fairtrain.accounts import service as accounts
from fairtrain.accounts.demo import DEMO_LOGINS, seed_demo
from fairtrain.accounts.models import Role
from fairtrain.licensing.models import ApiClient, Deal, Offer
from fairtrain.rights.policy import Rule, Scope, set_rule
from fairtrain.rights.signals import RSL_NAMESPACE
from tests.helpers import STRONG_PASSWORD, csrf, log_in
from tests.licensing.helpers import make_asset

PASSWORDS = {login.email.split("@")[0]: (login.email, login.password) for login in DEMO_LOGINS}
RSL = f"{{{RSL_NAMESPACE}}}"

# The offer form as a browser posts it: flat USD 5,000 for AI training, a year, all works.
OFFER_FORM: dict[str, Any] = {
    "seller": "@mira",
    "title": "Harbour photos for training",
    "description": "Ten years of harbour life.",
    "public": "on",
    "sel_mode": "all",
    "usages": ["ai-train"],
    "territories": "",
    "fee_model": "flat",
    "fee_amount": "5000.00",
    "fee_currency": "usd",
    "fee_interval": "",
    "royalty_percent": "",
    "payment_due_days": "30",
    "start": "",
    "end": "",
    "duration_days": "365",
    "attribution": "",
    "no_verbatim": "on",
    "no_style_imitation": "on",
    "at_expiry": "delete",
    "deletion_days": "30",
    "audit": "on",
    "audit_notice_days": "30",
    "governing_law": "England and Wales",
}


@pytest.fixture
def demo(db: Session) -> list[str]:
    seed_demo(db, min_password_length=10)
    mira = accounts.get_creator(db, "mira")
    ids = [make_asset(db, mira, f"harbour-{i}").id for i in range(3)]
    db.commit()
    return ids


def _as(client: TestClient, who: str) -> None:
    client.cookies.clear()
    email, password = PASSWORDS[who]
    assert log_in(client, email, password).status_code == 303


def _post(client: TestClient, path: str, data: dict[str, Any], *, page: str = "/account") -> Any:
    return client.post(path, data={**data, "csrf_token": csrf(client, page)}, follow_redirects=False)


def _create_offer(client: TestClient, **changes: Any) -> str:
    response = _post(client, "/offers/new", {**OFFER_FORM, **changes}, page="/offers/new")
    assert response.status_code == 303, response.text
    match = re.match(r"^/offers/(ofr_\w+)\?notice=created$", response.headers["location"])
    assert match, response.headers["location"]
    return match.group(1)


def _request(client: TestClient, offer_id: str, **data: Any) -> str:
    response = _post(client, f"/offers/{offer_id}/request", data, page=f"/offers/{offer_id}")
    assert response.status_code == 303, response.text
    match = re.match(r"^/deals/(deal_\w+)\?notice=requested$", response.headers["location"])
    assert match, response.headers["location"]
    return match.group(1)


def _offer_count(db: Session) -> int:
    return int(db.scalar(select(func.count(Offer.id))) or 0)


def test_a_creator_offers_a_licensee_requests_and_the_creator_accepts(
    client: TestClient, db: Session, demo: list[str]
) -> None:
    _as(client, "mira")
    form = client.get("/offers/new")
    assert form.status_code == 200 and 'name="fee_model"' in form.text
    offer_id = _create_offer(client)
    page = client.get(f"/offers/{offer_id}?notice=created").text
    assert "Harbour photos for training" in page and "USD 5000.00 once" in page
    assert "AI training (ai-train)" in page and "for 365 days" in page and "Withdraw" in page
    assert "Request this licence" not in page  # mira is no licensee
    assert offer_id in client.get("/offers/mine").text

    client.cookies.clear()
    catalogue = client.get("/offers").text  # public
    assert "1 offer" in catalogue and "3 works (3 image) by 1 creator" in catalogue
    anonymous = client.get(f"/offers/{offer_id}").text
    assert (
        "Log in</a> as a licensee" in anonymous
        and "&lt;permits type=&#34;usage&#34;&gt;ai-train" in anonymous
    )

    _as(client, "licensing")
    offer_page = client.get(f"/offers/{offer_id}").text
    assert 'data-testid="request-form"' in offer_page and "Example AI Lab" in offer_page
    deal_id = _request(client, offer_id, mode="as-offered", message="for our model")
    deal_page = client.get(f"/deals/{deal_id}?notice=requested").text
    assert 'data-testid="deal-status">proposed<' in deal_page and "for our model" in deal_page
    assert 'data-testid="deal-accept"' not in deal_page  # its own terms: the seller accepts
    assert 'data-testid="deal-withdraw"' in deal_page

    _as(client, "mira")
    assert deal_id in client.get("/deals").text
    seller_view = client.get(f"/deals/{deal_id}").text
    assert 'data-testid="deal-accept"' in seller_view and 'data-testid="deal-decline"' in seller_view
    accepted = _post(
        client, f"/deals/{deal_id}/accept", {"side": "seller", "reason": ""}, page=f"/deals/{deal_id}"
    )
    assert accepted.status_code == 303 and accepted.headers["location"] == f"/deals/{deal_id}?notice=accept"

    _as(client, "licensing")
    active = client.get(f"/deals/{deal_id}").text
    assert 'data-testid="deal-status">active<' in active and "3 works, frozen at acceptance" in active
    deal = db.scalar(select(Deal).where(Deal.id == deal_id))
    assert deal is not None and deal.agreement_sha256 and deal.agreement_sha256 in active
    html = client.get(f"/deals/{deal_id}/agreement")
    assert html.headers["content-type"].startswith("text/html")
    assert hashlib.sha256(html.content).hexdigest() == deal.agreement_sha256
    pdf = client.get(f"/deals/{deal_id}/agreement.pdf")
    assert pdf.content.startswith(b"%PDF") and pdf.headers["content-type"] == "application/pdf"
    assert 'data-testid="agreement-verified">✓' in client.get(f"/deals/{deal_id}/agreement/verify").text
    assert deal_id in client.get("/licensing").text


def test_proposing_changed_terms_and_countering(client: TestClient, db: Session, demo: list[str]) -> None:
    _as(client, "mira")
    offer_id = _create_offer(client)
    _as(client, "licensing")
    changes = {
        "mode": "changed",
        "usages": ["ai-train"],
        "fee_amount": "3000",
        "end": "",
        "message": "smaller",
    }
    deal_id = _request(client, offer_id, **changes)
    deal = db.scalar(select(Deal).where(Deal.id == deal_id))
    assert deal is not None and deal.terms["fee"]["amount_minor"] == 300_000
    assert deal.events[0].action == "proposed-changes"

    _as(client, "mira")
    counter = {
        "side": "seller",
        "usages": ["ai-train"],
        "fee_amount": "4000",
        "end": "2031-12-31",
        "reason": "meet",
    }
    answered = _post(client, f"/deals/{deal_id}/counter", counter, page=f"/deals/{deal_id}")
    assert answered.status_code == 303
    db.expire_all()
    deal = db.scalar(select(Deal).where(Deal.id == deal_id))
    assert deal is not None and deal.status == "countered"
    assert deal.terms["fee"]["amount_minor"] == 400_000 and deal.terms["end"] == "2032-01-01T00:00:00Z"
    assert deal.terms["duration_days"] is None
    # The same terms again are no counter-offer: the page says why and nothing changes.
    same = _post(client, f"/deals/{deal_id}/counter", counter, page=f"/deals/{deal_id}")
    assert (
        same.status_code == 422 and "accept them instead" in same.text and "Nothing was changed" in same.text
    )

    _as(client, "licensing")
    view = client.get(f"/deals/{deal_id}").text
    assert "USD 4000.00 once" in view and "until 2032-01-01" in view and "meet" in view
    accepted = _post(client, f"/deals/{deal_id}/accept", {"side": "licensee"}, page=f"/deals/{deal_id}")
    assert accepted.status_code == 303
    terminated = _post(
        client, f"/deals/{deal_id}/terminate", {"side": "licensee", "reason": ""}, page="/deals"
    )
    assert terminated.status_code == 422 and "say why" in terminated.text
    terminated = _post(
        client, f"/deals/{deal_id}/terminate", {"side": "licensee", "reason": "model retired"}, page="/deals"
    )
    assert terminated.status_code == 303
    assert 'data-testid="deal-status">terminated<' in client.get(f"/deals/{deal_id}").text


def test_bad_offer_forms_show_the_reason_and_store_nothing(
    client: TestClient, db: Session, demo: list[str]
) -> None:
    _as(client, "mira")
    for changes, message in [
        ({"fee_amount": "12.345"}, "fractions of a minor unit"),
        ({"fee_currency": "XYZ"}, "XYZ"),
        ({"usages": []}, "at least one usage"),
        ({"end": "2030-01-01"}, "either an end or a duration"),
        ({"fee_model": "royalty", "royalty_percent": ""}, "royalty needs a rate"),
        ({"title": ""}, "offer title must be"),
        ({"sel_mode": "filter"}, "selection is empty"),
        ({"sel_mode": "filter", "assets": "ast_doesnotexist00"}, "not a live work"),
        ({"start": "soon"}, "not a date"),
    ]:
        response = _post(client, "/offers/new", {**OFFER_FORM, **changes}, page="/offers/new")
        assert response.status_code == 422, (changes, response.status_code)
        assert message in response.text and "Nothing was saved" in response.text, changes
        assert 'name="title"' in response.text  # the form again, as posted
    mira = accounts.get_creator(db, "mira")
    set_rule(db, scope=Scope("creator", mira.id), usage="ai-train", rule=Rule("deny"), changed_by=None)
    db.commit()
    denied = _post(client, "/offers/new", OFFER_FORM, page="/offers/new")
    assert denied.status_code == 422 and "denies ai-train" in denied.text
    assert 'value="Harbour photos for training"' in denied.text
    assert _offer_count(db) == 0

    missing_csrf = client.post("/offers/new", data=OFFER_FORM, follow_redirects=False)
    assert missing_csrf.status_code == 403 and _offer_count(db) == 0


def test_other_fee_models_and_selections_through_the_form(
    client: TestClient, db: Session, demo: list[str]
) -> None:
    _as(client, "mira")
    royalty = _create_offer(
        client,
        fee_model="royalty",
        royalty_percent="12.5",
        fee_amount="1000",
        fee_interval="yearly",
        usages=["ai-train", "ai-input"],
        user_types=["commercial"],
        territories="EU, gb",
        exclusive="on",
        sel_mode="filter",
        kinds=["image"],
        since="2000-01-01",
    )
    offer = db.get(Offer, royalty)
    assert offer is not None
    terms, selection = offer.current.terms, offer.current.selection
    assert terms["fee"] == {
        "model": "royalty",
        "currency": "USD",
        "amount_minor": None,
        "interval": "yearly",
        "royalty_bp": 1250,
        "minimum_minor": 100_000,
        "price_micros": None,
    }
    assert (
        terms["territories"] == ["EU", "GB"] and terms["exclusive"] and terms["user_types"] == ["commercial"]
    )
    assert selection["kinds"] == ["image"] and selection["since"] == "2000-01-01" and not selection["all"]
    crawl = _create_offer(
        client, fee_model="per-crawl", fee_amount="0.015", usages=["ai-input"], payment_due_days=""
    )
    per_crawl = db.get(Offer, crawl)
    assert per_crawl is not None and per_crawl.current.terms["fee"]["price_micros"] == 15_000
    assert per_crawl.current.terms["payment_due_days"] == 30  # left empty: the default
    free = _create_offer(client, fee_model="attribution", fee_amount="", attribution="Photo: Mira Okafor")
    shown = client.get(f"/offers/{free}").text
    assert "no fee; attribution required" in shown and "Photo: Mira Okafor" in shown

    # The revise form is filled from the current version and saves a new one.
    form = client.get(f"/offers/{royalty}/revise").text
    assert 'value="12.5"' in form and 'value="EU, GB"' in form and 'value="1000.00"' in form
    revised = _post(
        client,
        f"/offers/{royalty}/revise",
        {**OFFER_FORM, "fee_amount": "6000", "note": "higher"},
        page=f"/offers/{royalty}/revise",
    )
    assert revised.status_code == 303 and revised.headers["location"].endswith("notice=revised")
    db.expire_all()
    offer = db.get(Offer, royalty)
    assert offer is not None and offer.current_version == 2 and offer.current.note == "higher"
    assert "USD 6000.00 once" in client.get(f"/offers/{royalty}").text
    assert "12.5 % of reported model revenue" in client.get(f"/offers/{royalty}?version=1").text
    unchanged = _post(
        client, f"/offers/{royalty}/revise", OFFER_FORM | {"fee_amount": "6000"}, page="/offers/new"
    )
    assert unchanged.headers["location"].endswith("notice=saved")

    withdrawn = _post(client, f"/offers/{royalty}/withdraw", {}, page=f"/offers/{royalty}")
    assert withdrawn.status_code == 303
    assert 'data-testid="offer-status">withdrawn<' in client.get(f"/offers/{royalty}").text
    assert royalty not in client.get("/offers").text


def test_who_may_see_and_do_what(client: TestClient, db: Session, demo: list[str]) -> None:
    _as(client, "mira")
    offer_id = _create_offer(client)
    _as(client, "licensing")
    deal_id = _request(client, offer_id, mode="as-offered")

    client.cookies.clear()
    for path in ("/deals", f"/deals/{deal_id}", "/licensing", "/offers/mine", "/offers/new"):
        response = client.get(path, follow_redirects=False)
        assert response.status_code == 303 and response.headers["location"].startswith("/login"), path

    _as(client, "fan")
    for path in ("/deals", "/licensing", "/offers/mine", "/offers/new"):
        assert client.get(path).status_code == 403, path
    assert client.get(f"/deals/{deal_id}").status_code == 404
    assert _post(client, f"/offers/{offer_id}/request", {"mode": "as-offered"}).status_code == 403

    _as(client, "jonas")  # a creator, but no party to this deal
    assert "No deals yet" in client.get("/deals").text
    for path in (f"/deals/{deal_id}", f"/deals/{deal_id}/agreement", f"/deals/{deal_id}/agreement.pdf"):
        assert client.get(path).status_code == 404, path
    assert _post(client, f"/deals/{deal_id}/accept", {"side": "seller"}).status_code == 404
    assert client.get(f"/offers/{offer_id}/revise").status_code == 403
    assert _post(client, f"/offers/{offer_id}/withdraw", {}).status_code == 403
    assert client.get("/offers/new?seller=@mira").status_code == 403
    assert client.get("/offers/new?seller=northern-light").status_code == 403

    _as(client, "operator")  # sees every deal, is no party to this one
    assert deal_id in client.get("/deals").text
    seen = client.get(f"/deals/{deal_id}").text
    assert 'data-testid="deal-status">proposed<' in seen and 'data-testid="deal-accept"' not in seen
    refused = _post(client, f"/deals/{deal_id}/accept", {"side": "seller"})
    assert refused.status_code == 403 and "Nothing was changed" in refused.text
    assert client.get("/offers/new?seller=northern-light").status_code == 200  # the collective's operator

    _as(client, "mira")
    no_csrf = client.post(f"/deals/{deal_id}/accept", data={"side": "seller"}, follow_redirects=False)
    assert no_csrf.status_code == 403
    assert db.scalar(select(Deal.status).where(Deal.id == deal_id)) == "proposed"


def test_the_licensee_page_registers_an_organisation_and_shows_client_secrets_once(
    client: TestClient, db: Session, demo: list[str]
) -> None:
    accounts.create_user(
        db, email="dana@lab.example", password=STRONG_PASSWORD, roles=[Role.LICENSEE], min_password_length=10
    )
    db.commit()
    assert log_in(client, "dana@lab.example").status_code == 303
    page = client.get("/licensing").text
    assert 'data-testid="register-form"' in page and ">Licensing</a>" in page
    form = {
        "name": "Lab Two",
        "contact_name": "Dana",
        "contact_email": "dana@lab.example",
        "billing_email": "x",
    }
    bad = _post(client, "/licensing/register", form, page="/licensing")
    assert bad.status_code == 422 and "Nothing was saved" in bad.text and 'value="Lab Two"' in bad.text
    registered = _post(
        client, "/licensing/register", {**form, "billing_email": "bills@lab.example"}, page="/licensing"
    )
    assert registered.status_code == 303
    org = accounts.get_licensee_org(db, "Lab Two")

    created = _post(client, f"/licensing/{org.id}/clients", {"name": "training crawler"}, page="/licensing")
    assert created.status_code == 200
    secret = re.search(r'data-testid="client-secret">(ftcs_[\w-]+)<', created.text)
    assert secret is not None
    client_row = db.scalar(select(ApiClient).where(ApiClient.org_id == org.id))
    assert (
        client_row is not None
        and client_row.secret_hash == hashlib.sha256(secret.group(1).encode()).hexdigest()
    )
    again = client.get("/licensing").text
    assert secret.group(1) not in again and client_row.id in again and "training crawler" in again

    rotated = _post(client, f"/licensing/{org.id}/clients/{client_row.id}/rotate", {}, page="/licensing")
    new_secret = re.search(r'data-testid="client-secret">(ftcs_[\w-]+)<', rotated.text)
    assert new_secret is not None and new_secret.group(1) != secret.group(1)
    revoked = _post(client, f"/licensing/{org.id}/clients/{client_row.id}/revoke", {}, page="/licensing")
    assert revoked.status_code == 303
    assert "revoked" in client.get("/licensing").text

    added = _post(
        client, f"/licensing/{org.id}/members", {"email": "fan@demo.example.com"}, page="/licensing"
    )
    assert added.status_code == 303 and "fan@demo.example.com" in client.get("/licensing").text
    unknown = _post(client, f"/licensing/{org.id}/members", {"email": "nobody@x.example"}, page="/licensing")
    assert unknown.status_code == 404

    _as(client, "licensing")  # another organisation's members and clients are not theirs to touch
    assert _post(client, f"/licensing/{org.id}/clients", {"name": "x"}, page="/licensing").status_code == 404
    assert 'data-testid="register-form"' not in client.get("/licensing").text


def test_navigation_by_role(client: TestClient, demo: list[str]) -> None:
    def nav(html: str) -> str:
        start = html.index("<nav>")
        return html[start : html.index("</nav>", start)]

    assert ">Offers</a>" in nav(client.get("/").text) and ">Deals</a>" not in nav(client.get("/").text)
    _as(client, "mira")
    links = nav(client.get("/").text)
    assert ">Offers</a>" in links and ">Deals</a>" in links and ">Licensing</a>" not in links
    _as(client, "licensing")
    links = nav(client.get("/").text)
    assert ">Deals</a>" in links and ">Licensing</a>" in links
    _as(client, "fan")
    links = nav(client.get("/").text)
    assert ">Offers</a>" in links and ">Deals</a>" not in links


# --- license.xml ---------------------------------------------------------------------------------------


def _licenses(xml: str, url: str) -> list[ET.Element]:
    root = ET.fromstring(xml)
    for content in root.findall(f"{RSL}content"):
        if content.get("url") == url:
            return content.findall(f"{RSL}license")
    return []


def _custom_urls(elements: list[ET.Element]) -> list[str]:
    return [e.findtext(f"{RSL}payment/{RSL}custom") or "" for e in elements]


def test_public_offers_are_in_license_xml_and_leave_it_when_withdrawn(
    client: TestClient, db: Session, demo: list[str]
) -> None:
    before = client.get("/@mira/license.xml").text
    policy_only = _licenses(before, "/@mira/*")
    assert policy_only and set(_custom_urls(policy_only)) == {""}  # the policy's licences only
    assert _licenses(client.get("/license.xml").text, "/@mira/*") == []  # same policy as the site's

    _as(client, "mira")
    offer_id = _create_offer(client)
    url = f"http://testserver/offers/{offer_id}"
    own = _licenses(client.get("/@mira/license.xml").text, "/@mira/*")
    assert url in _custom_urls(own) and len(own) == len(policy_only) + 1
    offered = next(e for e in own if e.findtext(f"{RSL}payment/{RSL}custom") == url)
    assert offered.findtext(f"{RSL}permits") == "ai-train"
    assert offered.find(f"{RSL}payment").get("type") == "purchase"  # type: ignore[union-attr]
    amount = offered.find(f"{RSL}payment/{RSL}amount")
    assert amount is not None and (amount.get("currency"), amount.text) == ("USD", "5000.00")
    site = client.get("/license.xml").text
    assert url in _custom_urls(_licenses(site, "/@mira/*"))  # mira's section now exists on the site's too
    assert _licenses(site, "/@jonas/*") == []
    # The rate card the RSL URL points at is the offer's page.
    assert client.get(f"/offers/{offer_id}").status_code == 200

    _post(client, f"/offers/{offer_id}/withdraw", {}, page=f"/offers/{offer_id}")
    assert url not in _custom_urls(_licenses(client.get("/@mira/license.xml").text, "/@mira/*"))
    assert _licenses(client.get("/license.xml").text, "/@mira/*") == []


def test_collective_offers_are_shared_licences_of_each_member_with_works(
    client: TestClient, db: Session, demo: list[str]
) -> None:
    _as(client, "operator")
    offer_id = _create_offer(client, seller="northern-light", title="Pool", distribution="items")
    url = f"http://testserver/offers/{offer_id}"
    mira = _licenses(client.get("/@mira/license.xml").text, "/@mira/*")
    assert [e.findtext(f"{RSL}payment/{RSL}standard") for e in mira][-1] == url
    # Jonas has no works yet, so the pool does not cover him.
    jonas = _licenses(client.get("/@jonas/license.xml").text, "/@jonas/*")
    assert url not in [e.findtext(f"{RSL}payment/{RSL}standard") for e in jonas]


def test_the_license_xml_cache_sees_offer_changes(client: TestClient, db: Session, demo: list[str]) -> None:
    first = client.get("/license.xml").text
    assert client.get("/license.xml").text == first  # served from the cache
    _as(client, "mira")
    offer_id = _create_offer(client)
    changed = client.get("/license.xml").text
    assert changed != first and offer_id in changed
    mine = client.get("/@mira/license.xml").text
    # A revision that changes the price shows at once, in both files.
    _post(client, f"/offers/{offer_id}/revise", {**OFFER_FORM, "fee_amount": "7000"}, page="/offers/new")
    assert "7000.00" in client.get("/license.xml").text
    assert (
        "7000.00" in client.get("/@mira/license.xml").text and client.get("/@mira/license.xml").text != mine
    )
