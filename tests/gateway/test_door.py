"""The door over HTTP: what humans, licensed clients, verified, disguised and paying crawlers get, and how
every answer is metered — the STANDARDS §1–§5 wire formats checked header by header."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from fairtrain.catalog.store import MediaStore
from fairtrain.config import Settings
from fairtrain.gateway.analytics import daily
from fairtrain.gateway.botauth import KeyDirectory, jwk_thumbprint, sign_request
from fairtrain.gateway.door import Door
from fairtrain.gateway.models import SubscriptionPayment, TrafficDaily
from fairtrain.gateway.rdns import DNSFailure, FCrDNS
from fairtrain.gateway.subscriptions import create_tier, record_subscription_payment, subscribe
from fairtrain.licensing.billing import bill_due
from fairtrain.licensing.billing_models import CrawlCharge, UsageEvent
from fairtrain.licensing.clients import revoke_client
from fairtrain.licensing.models import ApiClient, CrawlerAccount
from fairtrain.licensing.olp import signing_keyring
from fairtrain.licensing.tokens import sign_license_token
from tests.gateway.site import (
    BROWSER,
    Site,
    licence_token,
    price_crawls,
)
from tests.helpers import log_in


def _count(db: Session, model: type[object]) -> int:
    db.expire_all()
    return int(db.scalar(select(func.count()).select_from(model)) or 0)


# --- humans and the paywall ----------------------------------------------------------------------------


def test_anonymous_visitor_sees_previews_and_public_work_but_nothing_paywalled(
    browser: TestClient, site: Site
) -> None:
    preview = browser.get(f"/media/{site.paywalled.id}/preview")
    assert preview.status_code == 200 and preview.headers["content-type"] == "image/jpeg"
    assert preview.headers["cache-control"].startswith("private")
    # Every answer speaks the policy (STANDARDS §1, §4, §5).
    assert 'rel="license"' in preview.headers["link"] and "/@mira/license.xml" in preview.headers["link"]
    assert preview.headers["tdm-reservation"] == "1" and "ai-train=no" in preview.headers["content-signal"]
    assert preview.headers["x-robots-tag"] == "noai"
    full = browser.get(f"/media/{site.public.id}/full")
    assert full.status_code == 200 and full.headers["etag"].strip('"') != site.public.sha256  # a derivative
    assert len(full.content) == int(full.headers["content-length"])

    for path in (f"/media/{site.paywalled.id}/full", f"/media/{site.public.id}/original"):
        refused = browser.get(path, headers={"Range": "bytes=0-99", "If-None-Match": "*"})
        assert refused.status_code in (403, 404) and "etag" not in refused.headers
        assert refused.headers["cache-control"] == "no-store" and b"\xff\xd8" not in refused.content
        head = browser.head(path)
        assert head.status_code == refused.status_code and head.content == b""
    assert browser.get(f"/media/{site.paywalled.id}/full").json()["code"] == "subscribers_only"
    # A private work is not there at all, by any URL.
    for variant in ("preview", "full", "original"):
        assert browser.get(f"/media/{site.private.id}/{variant}").status_code == 404
    assert browser.get(f"/@mira/works/{site.private.id}").status_code == 404
    page = browser.get(f"/@mira/works/{site.paywalled.id}")
    assert (
        page.status_code == 200
        and "/preview" in page.text
        and f"/media/{site.paywalled.id}/full" not in page.text
    )
    assert 'name="tdm-reservation" content="1"' in page.text


def test_etag_range_and_head_for_allowed_clients(browser: TestClient, site: Site) -> None:
    first = browser.get(f"/media/{site.public.id}/full")
    etag = first.headers["etag"]
    again = browser.get(f"/media/{site.public.id}/full", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == etag
    part = browser.get(f"/media/{site.public.id}/full", headers={"Range": "bytes=10-19"})
    assert part.status_code == 206 and part.content == first.content[10:20]
    assert part.headers["content-range"] == f"bytes 10-19/{len(first.content)}"
    head = browser.head(f"/media/{site.public.id}/full")
    assert head.status_code == 200 and head.content == b"" and head.headers["etag"] == etag


def test_owner_gets_the_original_and_the_paywalled_work(
    browser: TestClient, site: Site, settings: Settings
) -> None:
    assert log_in(browser, "mira@example.com").status_code == 303
    original = browser.get(f"/media/{site.private.id}/original")
    assert original.status_code == 200 and original.headers["etag"] == f'"{site.private.sha256}"'
    assert original.content == MediaStore(settings.media_dir).path_for(site.private.sha256).read_bytes()
    assert browser.get(f"/media/{site.paywalled.id}/full").status_code == 200


def test_path_tricks_find_nothing(browser: TestClient, site: Site) -> None:
    for path in (
        "/media/..%2F..%2Fetc%2Fpasswd/full",
        f"/media/{site.public.id}%2F..%2F{site.private.id}/full",
        f"/media/{site.public.id}/..%2Foriginal",
        f"/media/{site.public.id.upper()}/full",
        "/media/ast_" + "a" * 200 + "/full",
        f"/media/{site.public.id}/thumb",
    ):
        reply = browser.get(path)
        assert reply.status_code == 404, path


# --- crawlers ------------------------------------------------------------------------------------------


def test_disguised_gptbot_is_refused_and_never_billed(
    fake_gptbot: TestClient, site: Site, door: Door
) -> None:
    reply = fake_gptbot.get(f"/media/{site.public.id}/full")
    assert reply.status_code == 403 and reply.headers["crawler-error"] == "CrawlerForbidden"
    assert "/@mira/license.xml" in reply.json()["license"]
    paying = fake_gptbot.get(f"/media/{site.public.id}/full", headers={"crawler-max-price": "USD 1.00"})
    assert paying.status_code == 400 and paying.headers["crawler-error"] == "StrongAuthRequired"
    door.meter.flush()


def test_verified_crawler_needs_a_licence(gptbot: TestClient, site: Site) -> None:
    reply = gptbot.get(f"/media/{site.public.id}/full")
    assert reply.status_code == 402
    assert reply.headers["www-authenticate"].startswith('License error="license_required"')
    assert (
        reply.headers["link"].startswith("<http://testserver/@mira/license.xml>")
        and 'rel="license"' in (reply.headers["link"])
    )


def test_pay_per_crawl_quote_then_charge(gptbot: TestClient, site: Site, db: Session, door: Door) -> None:
    price_crawls(db, site.mira, 10_000)
    door.works.clear()
    path = f"/media/{site.public.id}/full"
    quote = gptbot.get(path)
    assert quote.status_code == 402 and quote.headers["crawler-price"] == "USD 0.01"
    assert "crawler-charged" not in quote.headers
    # Nobody pays for this crawler yet: it cannot be charged.
    unpaid = gptbot.get(path, headers={"crawler-exact-price": "USD 0.01"})
    assert unpaid.status_code == 403 and unpaid.headers["crawler-error"] == "PaymentFailed"
    db.add(CrawlerAccount(org_id=site.org.id, agent="gptbot"))
    db.commit()
    door.accounts.clear()
    paid = gptbot.get(path, headers={"crawler-exact-price": "USD 0.01"})
    assert paid.status_code == 200 and paid.headers["crawler-charged"] == "USD 0.01"
    capped = gptbot.get(path, headers={"crawler-max-price": "USD 0.05"})
    assert capped.status_code == 200 and capped.headers["crawler-charged"] == "USD 0.01"
    # Wrong offers are quoted again, never charged.
    low = gptbot.get(path, headers={"crawler-max-price": "USD 0.005"})
    assert low.status_code == 402 and low.headers["crawler-error"] == "InvalidCrawlerMaxPrice"
    assert low.headers["crawler-price"] == "USD 0.01"
    wrong = gptbot.get(path, headers={"crawler-exact-price": "USD 0.02"})
    assert wrong.status_code == 402 and wrong.headers["crawler-error"] == "InvalidCrawlerExactPrice"
    other = gptbot.get(path, headers={"crawler-exact-price": "EUR 0.01"})
    assert other.status_code == 402
    both = gptbot.get(path, headers={"crawler-exact-price": "USD 0.01", "crawler-max-price": "USD 0.01"})
    assert both.status_code == 400 and both.headers["crawler-error"] == "ConflictingPriceHeaders"
    garbage = gptbot.get(path, headers={"crawler-max-price": "lots"})
    assert garbage.status_code == 400 and garbage.headers["crawler-error"] == "InvalidCrawlerPriceValue"
    charges = db.scalars(select(CrawlCharge).order_by(CrawlCharge.id)).all()
    assert [(c.org_id, c.asset_id, c.price_micros, c.currency, c.crawler) for c in charges] == [
        (site.org.id, site.public.id, 10_000, "USD", "GPTBot")
    ] * 2
    assert all(c.bytes == len(paid.content) for c in charges)
    # robots.txt and licence documents stay free for everyone.
    for free in ("/robots.txt", "/@mira/license.xml", "/.well-known/tdmrep.json", "/license.xml"):
        assert gptbot.get(free).status_code == 200, free
    door.meter.flush()
    db.expire_all()
    rows = db.scalars(select(TrafficDaily).where(TrafficDaily.crawler == "GPTBot")).all()
    assert sum(r.charged for r in rows) == 2 and sum(r.revenue_micros for r in rows) == 20_000
    assert sum(r.quoted for r in rows) == 4 and sum(r.refused for r in rows) == 3


def test_web_bot_auth_signed_crawler_is_verified_and_can_pay(
    app: FastAPI, site: Site, db: Session, door: Door
) -> None:
    key = Ed25519PrivateKey.generate()
    door.directory = KeyDirectory(pinned={jwk_thumbprint(key.public_key()): key.public_key()})
    price_crawls(db, site.mira, 25_000)
    db.add(CrawlerAccount(org_id=site.org.id, agent="https://crawler.example"))
    db.commit()
    url = f"http://testserver/media/{site.public.id}/full"
    with TestClient(app, headers={"User-Agent": "ExampleCrawler/1.0"}) as crawler:
        signed = sign_request("GET", url, {}, private_key=key, agent="https://crawler.example")
        paid = crawler.get(url, headers={**signed, "crawler-max-price": "USD 0.03"})
        assert paid.status_code == 200, paid.text
        assert paid.headers["crawler-charged"] == "USD 0.025"
        # The same signature on another host's URL, or tampered, proves nothing.
        forged = dict(signed, Signature=signed["Signature"][:-6] + "AAAAA:")
        refused = crawler.get(url, headers={**forged, "crawler-max-price": "USD 0.03"})
        assert refused.status_code == 400 and refused.headers["crawler-error"] == "InvalidSignature"
    assert _count(db, CrawlCharge) == 1


def test_licensed_client_gets_the_work_and_every_fetch_is_metered(
    client: TestClient, site: Site, db: Session, door: Door
) -> None:
    token = licence_token(client, site)
    auth = {"Authorization": f"License {token}", "User-Agent": "AcmeCrawler/2.0 (python-httpx)"}
    full = client.get(f"/media/{site.paywalled.id}/full", headers=auth)
    assert full.status_code == 200 and full.content[:2] == b"\xff\xd8"
    assert client.get(f"/media/{site.public.id}/preview", headers=auth).status_code == 200
    # Metered before the answer: the rows are there the moment the response is.
    events = db.scalars(select(UsageEvent).order_by(UsageEvent.id)).all()
    assert [(e.deal_id, e.asset_id, e.client_id, e.kind) for e in events] == [
        (site.deal.id, site.paywalled.id, site.client_id, "crawl"),
        (site.deal.id, site.public.id, site.client_id, "crawl"),
    ]
    assert events[0].bytes == len(full.content) and all(e.request_id for e in events)
    # Conditional requests are still metered (no 304 for a metered fetch).
    again = client.get(
        f"/media/{site.paywalled.id}/full", headers={**auth, "If-None-Match": full.headers["etag"]}
    )
    assert again.status_code == 200
    # Outside the deal, or private: the licence does not cover it.
    assert client.get(f"/media/{site.outside_deal.id}/full", headers=auth).status_code == 403
    assert client.get(f"/media/{site.private.id}/full", headers=auth).status_code == 403
    assert client.get(f"/media/{site.public.id}/original", headers=auth).status_code == 404
    assert _count(db, UsageEvent) == 3


@pytest.mark.parametrize(
    "token",
    ["garbage", "a.b.c", "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.", "x" * 5000],
)
def test_forged_tokens_are_refused_per_cap(client: TestClient, site: Site, token: str, db: Session) -> None:
    reply = client.get(f"/media/{site.public.id}/full", headers={"Authorization": f"License {token}"})
    assert reply.status_code == 401
    assert reply.headers["www-authenticate"].startswith('License error="invalid_token"')
    assert 'rel="license"' in reply.headers["link"]
    assert _count(db, UsageEvent) == 0


def test_tampered_revoked_and_duplicated_credentials(
    client: TestClient, site: Site, db: Session, door: Door
) -> None:
    token = licence_token(client, site)
    head, body, signature = token.split(".")
    tampered = f"{head}.{body}.{signature[::-1]}"
    path = f"/media/{site.public.id}/full"
    assert client.get(path, headers={"Authorization": f"License {tampered}"}).status_code == 401
    twice = client.get(path, headers=[("Authorization", f"License {token}"), ("Authorization", "License x")])
    assert twice.status_code == 400
    api_client = db.get(ApiClient, site.client_id)
    assert api_client is not None
    revoke_client(db, client=api_client)
    db.commit()
    door.tokens.clear()
    revoked = client.get(path, headers={"Authorization": f"License {token}"})
    assert revoked.status_code == 401 and "no longer valid" in revoked.json()["detail"]
    assert _count(db, UsageEvent) == 0


def test_licence_server_outage_is_503_for_crawlers_and_humans_are_unaffected(
    client: TestClient, browser: TestClient, site: Site, door: Door, tmp_path: Path
) -> None:
    token = licence_token(client, site)
    dead = create_engine(f"sqlite:///{tmp_path / 'missing' / 'nowhere' / 'x.db'}")
    door.licence_sessions = sessionmaker(dead)
    reply = client.get(f"/media/{site.public.id}/full", headers={"Authorization": f"License {token}"})
    assert reply.status_code == 503 and reply.headers["retry-after"]
    assert browser.get(f"/media/{site.public.id}/full").status_code == 200


class _DeadDNS:
    def reverse(self, address: str) -> list[str]:
        raise DNSFailure("no answer")

    def forward(self, host: str) -> list[str]:
        raise DNSFailure("no answer")


def test_dns_outage_is_503_for_a_claimed_googlebot_and_never_for_humans(
    app: FastAPI, browser: TestClient, site: Site, db: Session, door: Door
) -> None:
    door.resolver = FCrDNS(_DeadDNS())
    price_crawls(db, site.mira)  # search is allowed; Google's AI crawler (GoogleOther) needs a licence
    door.works.clear()
    ua = "Mozilla/5.0 (compatible; GoogleOther)"
    with TestClient(app, headers={"User-Agent": ua}, client=("66.249.66.1", 1234)) as google:
        reply = google.get(f"/media/{site.public.id}/full")
        assert reply.status_code == 503 and reply.headers["retry-after"] == "60"
    assert browser.get(f"/media/{site.public.id}/full").status_code == 200


def test_scraping_library_and_fast_fetching_are_suspected(
    app: FastAPI, site: Site, settings: Settings, door: Door
) -> None:
    with TestClient(app, headers={"User-Agent": "python-requests/2.32"}, client=("192.0.2.1", 1)) as scraper:
        reply = scraper.get(f"/media/{site.public.id}/full")
        assert reply.status_code == 403 and "/@mira/license.xml" in reply.headers["link"]
    limit = settings.gateway_scraper_fetches_per_minute
    with TestClient(app, headers={"User-Agent": BROWSER}, client=("192.0.2.2", 1)) as fast:
        codes = [fast.get(f"/media/{site.public.id}/full").status_code for _ in range(limit + 2)]
        assert codes[:limit] == [200] * limit and codes[-1] == 403
        assert fast.get(f"/media/{site.public.id}/preview").status_code == 403  # suspected for a while
    door.meter.flush()


def test_oversized_headers_are_refused_cleanly(client: TestClient, site: Site) -> None:
    reply = client.get(f"/media/{site.public.id}/full", headers={"Authorization": "License " + "a" * 100_000})
    assert reply.status_code == 401
    # Signature fields of some other scheme are not Web Bot Auth: ignored, the request is judged unsigned.
    other = client.get(
        f"/media/{site.public.id}/full", headers={"Signature-Input": "x" * 10_000, "Signature": "y"}
    )
    assert other.status_code == 200
    broken = 'sig1=("@authority");created=soon;keyid="k";tag="web-bot-auth"' + " " * 9000
    weird = client.get(
        f"/media/{site.public.id}/full", headers={"Signature-Input": broken, "Signature": "sig1=:AA==:"}
    )
    assert weird.status_code == 400 and weird.headers["crawler-error"] == "InvalidSignature"


# --- the whole loop: fans, invoices ----------------------------------------------------------------------


def test_a_fan_subscribes_and_sees_what_an_anonymous_visitor_cannot(
    app: FastAPI, browser: TestClient, site: Site, db: Session, door: Door, settings: Settings
) -> None:
    tier = create_tier(db, creator=site.mira, name="Friends", price_micros=5_000_000, currency="USD")
    subscription = subscribe(db, fan=site.fan, tier=tier)
    db.commit()
    full = f"/media/{site.paywalled.id}/full"
    with TestClient(app, headers={"User-Agent": BROWSER}, client=("198.51.100.30", 1)) as fan:
        assert log_in(fan, "fan@example.com").status_code == 303
        assert fan.get(full).status_code == 403  # subscribed, not yet paid
        payment = db.scalars(
            select(SubscriptionPayment).where(SubscriptionPayment.subscription_id == subscription.id)
        ).one()
        record_subscription_payment(
            db,
            reference_or_id=payment.reference,
            amount=500,
            currency="USD",
            external_id="bank-1",
            fee_bp=settings.platform_fee_bp,
        )
        db.commit()
        door.fans.clear()
        seen = fan.get(full)
        assert seen.status_code == 200 and seen.content[:2] == b"\xff\xd8"
        assert fan.get(full, headers={"Range": "bytes=0-9"}).status_code == 206
        page = fan.get(f"/@mira/works/{site.paywalled.id}")
        assert f'src="{full}"' in page.text
    # Not by any URL for the anonymous visitor: full, original, ranges, conditional, HEAD.
    for path in (full, f"/media/{site.paywalled.id}/original"):
        for headers in ({}, {"Range": "bytes=0-9"}, {"If-None-Match": seen.headers["etag"]}):
            assert browser.get(path, headers=headers).status_code in (403, 404)
            assert browser.head(path, headers=headers).status_code in (403, 404)
    assert f'src="{full}"' not in browser.get(f"/@mira/works/{site.paywalled.id}").text


def test_charges_go_on_next_months_invoice_and_show_in_analytics(
    gptbot: TestClient, site: Site, db: Session, door: Door
) -> None:
    price_crawls(db, site.mira, 10_000)
    db.add(CrawlerAccount(org_id=site.org.id, agent="gptbot"))
    db.commit()
    door.works.clear()
    for _ in range(3):
        reply = gptbot.get(f"/media/{site.public.id}/full", headers={"crawler-max-price": "USD 0.01"})
        assert reply.status_code == 200
    door.meter.flush()
    today = datetime.now(UTC).date()
    next_month = (today.replace(day=1) + timedelta(days=32)).replace(day=2)
    invoices = bill_due(db, today=next_month)
    db.commit()
    crawl = [i for i in invoices if i.source_type == "crawl"]
    assert len(crawl) == 1 and crawl[0].licensee_org_id == site.org.id
    assert crawl[0].currency == "USD" and crawl[0].total == 3  # 3 × 0.01 USD = 3 cents
    db.expire_all()
    assert all(c.invoice_id == crawl[0].id for c in db.scalars(select(CrawlCharge)))
    # The analytics saw the same three charges.
    rows = daily(db, creator_id=site.mira.id, since=today, until=today, by="crawler")
    gpt = [r for r in rows if r.group == "GPTBot"]
    assert sum(r.charged for r in gpt) == 3 and sum(r.revenue.get("USD", 0) for r in gpt) == 30_000


def test_expired_and_wrong_audience_tokens_are_401(
    client: TestClient, site: Site, settings: Settings, door: Door, db: Session
) -> None:
    token = licence_token(client, site)
    path = f"/media/{site.public.id}/full"
    real_clock = door.clock
    door.clock = lambda: real_clock() + timedelta(hours=2)
    expired = client.get(path, headers={"Authorization": f"License {token}"})
    assert expired.status_code == 401 and "expired" in expired.headers["www-authenticate"]
    door.clock = real_clock
    now = datetime.now(UTC)
    elsewhere, _ = sign_license_token(
        signing_keyring(settings).signing_key(),
        issuer="https://other.example/rsl",
        audience="https://other.example",
        client_id=site.client_id,
        org_id=site.org.id,
        deal_id=site.deal.id,
        scope="/@mira/*",
        usages=("ai-train",),
        generation=1,
        now=now,
        expires_at=now + timedelta(minutes=10),
    )
    wrong = client.get(path, headers={"Authorization": f"License {elsewhere}"})
    assert wrong.status_code == 401 and wrong.headers["www-authenticate"].startswith(
        'License error="invalid_token"'
    )
    assert _count(db, UsageEvent) == 0


class _ForeignDNS:
    """DNS that answers: the address's PTR name is not Google's."""

    def reverse(self, address: str) -> list[str]:
        return ["scraper.example.net"]

    def forward(self, host: str) -> list[str]:
        return ["66.249.66.1"]


def test_spoofed_googlebot_is_a_disguised_bot_held_to_the_strictest_use(
    app: FastAPI, site: Site, door: Door
) -> None:
    door.resolver = FCrDNS(_ForeignDNS())
    ua = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
    with TestClient(app, headers={"User-Agent": ua}, client=("66.249.66.1", 1)) as fake:
        # Search is allowed on @mira's work, but this is not Googlebot: it gets what an AI scraper gets.
        reply = fake.get(f"/media/{site.public.id}/full")
        assert reply.status_code == 403 and reply.headers["crawler-error"] == "CrawlerForbidden"
        assert "scraper.example.net" in reply.json()["detail"]
