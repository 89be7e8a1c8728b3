from __future__ import annotations

import json
import xml.etree.ElementTree as ET

from fastapi.testclient import TestClient
from protego import Protego
from sqlalchemy.orm import Session

from fairtrain.accounts import service as accounts
from fairtrain.accounts.demo import seed_demo
from fairtrain.rights.policy import SITE, Rule, Scope, parse_price, set_rule
from fairtrain.rights.signals import RSL_NAMESPACE


def test_signals_are_served_live_and_follow_the_policy(client: TestClient, db: Session) -> None:
    seed_demo(db, min_password_length=10)
    db.commit()
    robots = client.get("/robots.txt")
    assert robots.status_code == 200 and robots.headers["content-type"].startswith("text/plain")
    parsed = Protego.parse(robots.text)
    assert not parsed.can_fetch("http://testserver/@mira/x.jpg", "GPTBot")
    assert parsed.can_fetch("http://testserver/@mira/x.jpg", "Googlebot")
    assert parsed.can_fetch("http://testserver/license.xml", "GPTBot")

    mira = accounts.get_creator(db, "mira")
    set_rule(db, scope=Scope("creator", mira.id), usage="ai-train", rule=Rule("allow"), changed_by=None)
    amount, currency = parse_price("0.015", "USD")
    set_rule(
        db,
        scope=SITE,
        usage="ai-input",
        rule=Rule("licence", payment="crawl", amount_micros=amount, currency=currency),
        changed_by=None,
    )
    db.commit()
    parsed = Protego.parse(client.get("/robots.txt").text)
    assert parsed.can_fetch("http://testserver/@mira/x.jpg", "GPTBot")
    assert not parsed.can_fetch("http://testserver/@jonas/x.jpg", "GPTBot")

    tdm = client.get("/.well-known/tdmrep.json").json()
    assert {"location": "/@mira/*", "tdm-reservation": 0} in tdm
    assert client.get("/.well-known/tdm/site.json").json()["@type"] == "Offer"
    assert client.get("/.well-known/tdm/@nobody.json").status_code == 404

    licence = client.get("/license.xml")
    assert licence.headers["content-type"].startswith("application/rsl+xml")
    root = ET.fromstring(licence.text)
    amounts = root.findall(f".//{{{RSL_NAMESPACE}}}amount")
    assert [(a.get("currency"), a.text) for a in amounts] == [("USD", "0.015"), ("USD", "0.015")]
    mine = ET.fromstring(client.get("/@mira/license.xml").text)
    assert [c.get("url") for c in mine] == ["/@mira/*"]
    assert "Disallow: /" in client.get("/ai.txt").text
    assert json.loads(client.get("/.well-known/tdmrep.json").text)[-1]["location"] == "/*"


def test_creator_pages_carry_the_terms(client: TestClient, db: Session) -> None:
    seed_demo(db, min_password_length=10)
    db.commit()
    page = client.get("/@mira")
    assert (
        page.headers["link"]
        == '<http://testserver/@mira/license.xml>; rel="license"; type="application/rsl+xml"'
    )
    assert page.headers["tdm-reservation"] == "1"
    assert page.headers["x-robots-tag"] == "noai"
    assert page.headers["content-signal"] == "search=yes, ai-input=no, ai-train=no"
    assert '<meta name="tdm-reservation" content="1">' in page.text
    assert (
        '<link rel="license" type="application/rsl+xml" href="http://testserver/@mira/license.xml">'
        in page.text
    )
    assert "only under a licence" in page.text
    mira = accounts.get_creator(db, "mira")
    set_rule(db, scope=Scope("creator", mira.id), usage="ai-all", rule=Rule("deny"), changed_by=None)
    db.commit()
    page = client.get("/@mira")
    assert page.headers["x-robots-tag"] == "noai, noimageai" and "does not allow AI training" in page.text
