"""``fairtrain.client`` against the real server: uvicorn in a thread on a free port, the site of
``tests/gateway/site.py`` (@mira, works public/subscribers/private, Acme AI with a deal and an API client),
driven over real HTTP from the test process — discovery, licence tokens and their renewal, licensed crawling,
pay per crawl (a crawler verified by its prefix list, and one signing with Web Bot Auth), 503 retries and
usage reports."""

from __future__ import annotations

import base64
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from fastapi import FastAPI
from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from fairtrain.accounts import service as accounts
from fairtrain.accounts.tokens import create_api_token
from fairtrain.app import create_app
from fairtrain.client import (
    LicenceRequired,
    LicensedClient,
    Money,
    Price,
    PriceTooHigh,
    Refused,
    ReportRejected,
    TokenRefused,
    Unavailable,
    key_directory,
    license_request,
    parse_rsl,
    robots_licenses,
)
from fairtrain.config import Settings
from fairtrain.gateway.botauth import KeyDirectory, jwk_thumbprint
from fairtrain.gateway.door import Door
from fairtrain.licensing.billing_models import CrawlCharge, UsageEvent
from fairtrain.licensing.deals import Side, accept, request_deal, terminate
from fairtrain.licensing.models import CrawlerAccount
from fairtrain.licensing.offers import create_offer
from fairtrain.licensing.olp import signing_keyring
from fairtrain.licensing.selection import Selection
from fairtrain.licensing.terms import Fee, Terms
from tests.conftest import TEST_SECRET_KEY
from tests.gateway.site import GPTBOT_UA, Site, build_site, install_prefixes, price_crawls

STARTUP_TIMEOUT = 15.0  # seconds for uvicorn to start listening


@dataclass
class Live:
    url: str
    app: FastAPI
    settings: Settings
    site: Site

    @property
    def door(self) -> Door:
        door: Door = self.app.state.door
        return door

    def client(self, **kwargs: Any) -> LicensedClient:
        """A client with Acme AI's API client credentials."""
        kwargs.setdefault("client_id", self.site.client_id)
        kwargs.setdefault("client_secret", self.site.secret)
        return LicensedClient(self.url, **kwargs)

    def media(self, asset_id: str, variant: str = "full") -> str:
        return f"{self.url}/media/{asset_id}/{variant}"


@pytest.fixture
def live(db: Session, database_url: str, tmp_path: Path) -> Iterator[Live]:
    """The site under uvicorn on 127.0.0.1 (its base URL is the real one: tokens are issued for it)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    settings = Settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        secret_key=TEST_SECRET_KEY,
        base_url=url,
        gateway_cache_seconds=0,  # the door sees each change the test makes at once
    )
    site = build_site(db, settings, tmp_path)
    app = create_app(settings)
    server = uvicorn.Server(
        uvicorn.Config(app, lifespan="on", ws="none", log_config=None, log_level="warning", access_log=False)
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    started = threading.Event()

    def watch() -> None:
        while thread.is_alive() and not server.started:
            started.wait(0.02)
        started.set()

    threading.Thread(target=watch, daemon=True).start()
    try:
        assert started.wait(STARTUP_TIMEOUT) and server.started, "uvicorn did not start"
        yield Live(url, app, settings, site)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
        app.state.engine.dispose()
    assert not thread.is_alive()


def _count(db: Session, model: type[object]) -> int:
    db.expire_all()
    return int(db.scalar(select(func.count()).select_from(model)) or 0)


# --- discovery --------------------------------------------------------------------------------------------


def test_discover_finds_the_terms_and_the_licence_server(live: Live) -> None:
    site = live.site
    with LicensedClient(live.url) as client:
        info = client.discover(f"/@mira/works/{site.paywalled.id}")
        assert info.robots_licenses == (f"{live.url}/license.xml",)
        assert info.link_license == info.license_url == f"{live.url}/@mira/license.xml"
        assert info.server == f"{live.url}/rsl" and info.needs_token
        assert info.token_endpoint == f"{live.url}/rsl/token"  # from the RFC 8414 metadata
        assert info.resource == f"{live.url}/@mira/*"
        # The offer is there with its price and the page to buy it on; so is what @mira permits for free.
        [offer] = [lic for lic in info.licenses if any(p.type == "purchase" for p in lic.payments)]
        [payment] = offer.payments
        assert payment.amount == Price("USD", Decimal("5000.00")) and payment.custom is not None
        assert payment.custom.startswith(f"{live.url}/offers/ofr_")
        assert offer.usages == ("ai-train",) and offer.permits_usage("ai-train") and not offer.free
        assert any(lic.usages == ("search",) and lic.free for lic in info.licenses)
        # A work's file names its licence in its Link header too, though /media/ is not under /@mira/.
        media = client.discover(live.media(site.public.id))
        assert media.license_url == f"{live.url}/@mira/license.xml" and media.status == 200
        assert media.resource == f"{live.url}/@mira/*" and media.server == f"{live.url}/rsl"
        # Only robots.txt: the site's document, whose /* content governs the rest of the site.
        about = client.discover("/about-nothing")
        assert about.link_license is None and about.license_url == f"{live.url}/license.xml"
        assert about.resource == f"{live.url}/*"


def test_reading_rsl_and_robots_txt() -> None:
    contents = parse_rsl(
        b'<rsl xmlns="https://rslstandard.org/rsl"><content url="/alice/*" server="https://ex.example/rsl">'
        b'<license><permits type="usage">search ai-all</permits><prohibits type="usage">ai-train</prohibits>'
        b'<payment type="crawl"><amount currency="usd">0.015</amount></payment></license>'
        b"<license><permits>train-ai, ai-use</permits></license></content></rsl>"
    )
    [content] = contents
    first, legacy = content.licenses
    assert first.payments[0].amount == Price("USD", Decimal("0.015"))
    assert first.permits_usage("ai-input") and not first.permits_usage("ai-train")
    assert legacy.usages == ("ai-train", "ai-input")
    assert content.matches("https://ex.example/alice/x.jpg", "https://ex.example/license.xml")
    assert not content.matches("https://ex.example/bob/x.jpg", "https://ex.example/license.xml")
    with pytest.raises(ValueError, match="not <rsl>"):
        parse_rsl("<html/>")
    with pytest.raises(ValueError, match="well-formed"):
        parse_rsl('<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><rsl>&e;')
    robots = (
        "User-agent: *\nDisallow: /x\nlicense: /license.xml # the site's\nLicense: https://o.example/l.xml\n"
    )
    assert robots_licenses(robots, "https://ex.example/") == (
        "https://ex.example/license.xml",
        "https://o.example/l.xml",
    )
    assert Price.parse("usd 0.010").covers(Price.parse("USD 0.01"))
    assert not Price.parse("USD 0.05").covers(Price.parse("EUR 0.01"))
    with pytest.raises(ValueError, match="not a price"):
        Price.parse("0.01 dollars")


# --- licence tokens and licensed crawling ---------------------------------------------------------------


def test_licensed_crawl_of_a_subscribers_only_work(live: Live, db: Session) -> None:
    site = live.site
    with live.client() as client:
        info = client.discover(f"{live.url}/@mira/works/{site.paywalled.id}")
        assert info.resource == f"{live.url}/@mira/*"
        token = client.token(info.resource)
        assert token.expires_at is not None and token.expires_at > datetime.now(UTC)
        assert client.token(info.resource) is token  # cached
        assert token.access_token not in repr(token)
        work = client.fetch(live.media(site.paywalled.id))
        assert work.status == 200 and work.licensed and work.content[:2] == b"\xff\xd8"
        assert work.media_type == "image/jpeg" and work.charged is None
        assert work.license_url == f"{live.url}/@mira/license.xml"
        # Metered before the answer.
        events = db.scalars(select(UsageEvent)).all()
        assert [(e.deal_id, e.asset_id, e.client_id) for e in events] == [
            (site.deal.id, site.paywalled.id, site.client_id)
        ]
        # A work outside the deal: refused, with the way to buy it.
        with pytest.raises(Refused) as refused:
            client.fetch(live.media(site.outside_deal.id))
        assert refused.value.status == 403 and refused.value.code == "CrawlerForbidden"
        assert refused.value.license_url == f"{live.url}/@mira/license.xml"
        with pytest.raises(Refused) as missing:
            client.fetch(live.media(site.private.id, "original"))
        assert missing.value.status == 404
    # Without a token the same work is the subscribers' only.
    with LicensedClient(live.url) as anonymous, pytest.raises(Refused) as paywalled:
        anonymous.fetch(live.media(site.paywalled.id))
    assert paywalled.value.code == "subscribers_only"
    assert _count(db, UsageEvent) == 1


def test_token_refusals_say_where_to_buy(live: Live) -> None:
    with live.client() as client:
        with pytest.raises(TokenRefused) as no_deal:
            client.token("/@mira/*", usages=("ai-input",))
        assert no_deal.value.code == "unauthorized_client" and no_deal.value.status == 403
        assert no_deal.value.license_url == f"{live.url}/@mira/license.xml"
        assert f"{live.url}/@mira/license.xml" in no_deal.value.message
        assert isinstance(no_deal.value, LicenceRequired)
    with live.client(client_secret="wrong") as wrong, pytest.raises(TokenRefused) as bad:
        wrong.token(f"{live.url}/@mira/*", license_request(["ai-train"]))
    assert bad.value.code == "invalid_client" and bad.value.status == 401
    with LicensedClient(live.url) as nobody, pytest.raises(ValueError, match="client_id"):
        nobody.token("/@mira/*")


def test_token_is_renewed_once_on_invalid_token(live: Live, db: Session) -> None:
    site = live.site
    with live.client() as client:
        first = client.token("/@mira/*")
        assert client.fetch(live.media(site.public.id)).status == 200
        # The licence server drops its signing key at once (as after a leak): the token stops verifying.
        signing_keyring(live.settings).rotate(publish_for=timedelta(0))
        again = client.fetch(live.media(site.public.id))
        assert again.status == 200 and again.licensed
        [renewed] = client.tokens()
        assert renewed.access_token != first.access_token
        # The deal ends: the token is refused and so is a new one; the client asks once, then says so.
        terminate(db, deal=site.deal, side=Side.SELLER, reason="test", by=site.mira_user)
        db.commit()
        with pytest.raises(TokenRefused) as ended:
            client.fetch(live.media(site.public.id))
        assert ended.value.code == "unauthorized_client"
    assert _count(db, UsageEvent) == 2


# --- pay per crawl -------------------------------------------------------------------------------------


def test_pay_per_crawl_within_max_price_for_a_crawler_verified_by_its_addresses(
    live: Live, db: Session
) -> None:
    site = live.site
    install_prefixes(live.app, live.settings, "openai-gptbot", ["127.0.0.0/8"])  # GPTBot, over loopback
    price_crawls(db, site.mira, 10_000)  # USD 0.01 a crawl for AI training
    url = live.media(site.public.id)
    with LicensedClient(live.url, user_agent=GPTBOT_UA, max_price="USD 0.05") as gptbot:
        # Verified, but no licensee organisation pays for GPTBot yet.
        with pytest.raises(Refused) as unpaid:
            gptbot.fetch(url)
        assert unpaid.value.code == "PaymentFailed" and _count(db, CrawlCharge) == 0
        db.add(CrawlerAccount(org_id=site.org.id, agent="gptbot"))
        db.commit()
        paid = gptbot.fetch(url)
        assert paid.status == 200 and paid.charged == Price("USD", Decimal("0.01")) and not paid.licensed
        assert paid.content[:2] == b"\xff\xd8"
    with LicensedClient(live.url, user_agent=GPTBOT_UA, max_price="USD 0.01", pay_upfront=True) as upfront:
        assert upfront.fetch(url).charged == Price("USD", Decimal("0.01"))
    for cap in ("USD 0.005", "EUR 1.00", None):
        with LicensedClient(live.url, user_agent=GPTBOT_UA, max_price=cap) as cheap:
            with pytest.raises(PriceTooHigh) as dear:
                cheap.fetch(url)
            assert dear.value.price == Price("USD", Decimal("0.01")) and dear.value.status == 402
            assert dear.value.license_url == f"{live.url}/@mira/license.xml"
    with LicensedClient(live.url, user_agent=GPTBOT_UA, max_price="USD 0.005", pay_upfront=True) as capped:
        with pytest.raises(PriceTooHigh) as quoted:
            capped.fetch(url)
        assert quoted.value.code == "InvalidCrawlerMaxPrice"
    charges = db.scalars(select(CrawlCharge)).all()
    assert [(c.org_id, c.asset_id, c.price_micros, c.currency) for c in charges] == [
        (site.org.id, site.public.id, 10_000, "USD")
    ] * 2


def test_web_bot_auth_signed_crawler_pays(live: Live, db: Session) -> None:
    site = live.site
    key = Ed25519PrivateKey.generate()
    # What crawler.example serves as its key directory; the door is given it pinned (no network here).
    [jwk] = key_directory(key.public_key())["keys"]
    assert jwk["kid"] == jwk_thumbprint(key.public_key()) and (jwk["kty"], jwk["crv"]) == ("OKP", "Ed25519")
    raw = base64.urlsafe_b64decode(jwk["x"] + "=")
    live.door.directory = KeyDirectory(pinned={jwk["kid"]: Ed25519PublicKey.from_public_bytes(raw)})
    price_crawls(db, site.mira, 25_000)
    db.add(CrawlerAccount(org_id=site.org.id, agent="https://crawler.example"))
    db.commit()
    signed = LicensedClient(
        live.url,
        user_agent="ExampleCrawler/1.0",
        private_key=key,
        agent="https://crawler.example",
        max_price="USD 0.03",
    )
    with signed:
        # Every request is signed afresh (a new nonce each time): two crawls, two charges.
        for _ in range(2):
            paid = signed.fetch(live.media(site.public.id))
            assert paid.status == 200 and paid.charged == Price("USD", Decimal("0.025"))
    # Unsigned, the same crawler is not known to be one: never billed.
    with LicensedClient(live.url, user_agent="ExampleCrawler/1.0") as unsigned:
        assert unsigned.fetch(live.media(site.public.id)).charged is None
    # A key nobody vouches for proves nothing.
    stranger = LicensedClient(
        live.url, user_agent="ExampleCrawler/1.0", private_key=Ed25519PrivateKey.generate()
    )
    with stranger, pytest.raises(Refused) as forged:
        stranger.fetch(live.media(site.public.id))
    assert forged.value.code == "InvalidSignature"
    assert _count(db, CrawlCharge) == 2


# --- outages ------------------------------------------------------------------------------------------


def test_503_is_retried_after_retry_after(live: Live, db: Session, tmp_path: Path) -> None:
    site = live.site
    door = live.door
    working = door.licence_sessions
    dead = create_engine(f"sqlite:///{tmp_path / 'missing' / 'nowhere' / 'x.db'}")
    waits: list[float] = []

    def sleep(seconds: float) -> None:  # the licence database comes back while the client waits
        waits.append(seconds)
        door.licence_sessions = working

    try:
        with live.client(sleep=sleep) as client:
            client.token("/@mira/*")
            door.licence_sessions = sessionmaker(dead)
            assert client.fetch(live.media(site.public.id)).status == 200
            assert waits == [30.0]  # what Retry-After said
        with live.client(sleep=sleep, max_retry_wait=10) as impatient:
            impatient.token("/@mira/*")
            door.licence_sessions = sessionmaker(dead)
            with pytest.raises(Unavailable) as down:
                impatient.fetch(live.media(site.public.id))
            assert down.value.retry_after == 30.0 and down.value.status == 503
            assert waits == [30.0]  # not waited: longer than the client waits
    finally:
        door.licence_sessions = working
        dead.dispose()


# --- usage reports and invoices ------------------------------------------------------------------------


def test_usage_report_round_trip(live: Live, db: Session) -> None:
    site = live.site
    march = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
    offer = create_offer(
        db,
        seller=site.mira,
        title="Per use",
        terms=Terms(usages=("ai-input",), fee=Fee("per-use", currency="USD", price_micros=50_000)),
        selection=Selection(assets=(site.public.id, site.paywalled.id)),
        now=march,
    )
    deal = request_deal(db, offer_version=offer.current, org=site.org, now=march)
    accept(db, deal=deal, side=Side.SELLER, now=march)
    buyer = accounts.create_user(db, email="ops@acme.example", password=None, min_password_length=10)
    accounts.add_licensee_member(db, org=site.org, user=buyer)
    _, api_token = create_api_token(db, user=buyer, name="usage")
    db.commit()
    counts = {site.public.id: 100, site.paywalled.id: 33}
    with LicensedClient(live.url, api_token=api_token) as client:
        report = client.report_usage(
            deal.id, period_start=date(2026, 3, 10), period_end=date(2026, 3, 31), counts=counts
        )
        assert report.quantity == 133 and report.deal_id == deal.id and not report.replayed
        invoice = report.invoice
        assert invoice is not None and invoice.status == "issued"
        assert invoice.total == Money(Decimal("6.65"), 665, "USD")  # 133 uses at USD 0.05
        # Sent again (a timeout, say): the same report, not a second bill.
        again = client.report_usage(
            deal.id, period_start=date(2026, 3, 10), period_end=date(2026, 3, 31), counts=counts
        )
        assert again.replayed and again.id == report.id
        with pytest.raises(ReportRejected) as twice:
            client.report_usage(
                deal.id,
                period_start=date(2026, 3, 10),
                period_end=date(2026, 3, 31),
                counts={site.public.id: 1},
            )
        assert twice.value.code == "already_billed" and twice.value.status == 409
        assert [i.id for i in client.invoices()] == [invoice.id]
        assert client.invoices(status="paid") == []
    with LicensedClient(live.url) as anonymous, pytest.raises(ValueError, match="api_token"):
        anonymous.invoices()
