"""The issue's "done when", end to end, with the server in a process of its own (uvicorn, as
`fairtrain serve` runs it) and the crawler in this one: a crawler without a licence is quoted; the same
crawler with ``fairtrain.client`` pays per crawl, then buys a licence token, and gets the bytes; the server
stops; its usage is in the crawler analytics and on the next invoices."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fairtrain.client import LicensedClient, Price
from fairtrain.config import Settings
from fairtrain.gateway.analytics import totals
from fairtrain.gateway.prefixes import PREFIX_DIR
from fairtrain.licensing.billing import bill_due
from fairtrain.licensing.billing_models import CrawlCharge, UsageEvent
from fairtrain.licensing.models import CrawlerAccount
from tests.conftest import TEST_SECRET_KEY
from tests.gateway.site import GPTBOT_UA, Site, build_site, price_crawls

STARTUP_TIMEOUT = 30.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def site(db: Session, settings: Settings, tmp_path: Path) -> Site:
    site = build_site(db, settings, tmp_path)
    price_crawls(db, site.mira, 10_000)  # AI training on @mira's work: USD 0.01 a crawl, or a licence
    db.add(CrawlerAccount(org_id=site.org.id, agent="gptbot"))  # Acme AI pays for GPTBot
    db.commit()
    # GPTBot's published addresses, as `fairtrain crawlers prefixes install` leaves them: over loopback.
    folder = settings.data_dir / PREFIX_DIR
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "openai-gptbot.json").write_text(json.dumps({"prefixes": [{"ipv4Prefix": "127.0.0.0/8"}]}))
    return site


@pytest.fixture
def server(
    settings: Settings, database_url: str, site: Site
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "FAIRTRAIN_DATA_DIR": str(settings.data_dir),
        "FAIRTRAIN_DATABASE_URL": database_url,
        "FAIRTRAIN_BASE_URL": url,
        "FAIRTRAIN_SECRET_KEY": TEST_SECRET_KEY,
        "FAIRTRAIN_GATEWAY_REVERSE_DNS": "false",
    }
    command = [sys.executable, "-m", "uvicorn", "--factory", "fairtrain.app:create_app_from_env"]
    process = subprocess.Popen(
        [*command, "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"], env=env
    )
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while True:
            assert process.poll() is None, "the server exited during startup"
            try:
                if httpx.get(f"{url}/healthz", timeout=1.0).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.1)
        yield url, process
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)


def test_quoted_then_paid_then_licensed_from_a_second_process(
    server: tuple[str, subprocess.Popen[bytes]], site: Site, db: Session
) -> None:
    url, process = server
    work = f"{url}/media/{site.public.id}/full"
    paywalled = f"{url}/media/{site.paywalled.id}/full"

    # Without a licence and without offering to pay: quoted, per RSL CAP and pay per crawl.
    quote = httpx.get(work, headers={"User-Agent": GPTBOT_UA})
    assert quote.status_code == 402 and quote.headers["crawler-price"] == "USD 0.01"
    assert quote.headers["www-authenticate"].startswith("License ")
    assert f"<{url}/@mira/license.xml>" in quote.headers["link"]
    assert httpx.get(paywalled, headers={"User-Agent": GPTBOT_UA}).status_code in (402, 403)

    # The same crawler pays per crawl, within its ceiling.
    with LicensedClient(url, user_agent=GPTBOT_UA, max_price="USD 0.05") as crawler:
        paid = crawler.fetch(work)
    assert paid.status == 200 and paid.charged == Price.parse("USD 0.01") and paid.content[:2] == b"\xff\xd8"

    # And buys a licence token for @mira's work, which opens even the subscribers-only one.
    with LicensedClient(
        url, user_agent=GPTBOT_UA, client_id=site.client_id, client_secret=site.secret, max_price=None
    ) as licensed:
        info = licensed.discover(f"{url}/@mira/works/{site.paywalled.id}")
        assert info.resource == f"{url}/@mira/*"
        licensed.token(info.resource)
        got = licensed.fetch(paywalled)
    assert got.status == 200 and got.licensed and got.charged is None

    # A graceful stop writes the last analytics counts (charges and uses were written before each answer).
    process.send_signal(signal.SIGTERM)
    assert process.wait(30) in (0, -signal.SIGTERM)  # uvicorn re-raises the signal once it has shut down
    db.expire_all()
    assert db.scalar(select(func.count()).select_from(CrawlCharge)) == 1
    assert db.scalar(select(func.count()).select_from(UsageEvent)) == 1
    today = datetime.now(UTC).date()
    seen = totals(db, creator_id=site.mira.id, since=today, until=today)
    assert (seen.charged, seen.licensed, seen.revenue) == (1, 1, {"USD": 10_000})
    assert seen.quoted >= 2

    # The next month's billing run puts the crawl on Acme AI's invoice.
    next_month = (today.replace(day=1) + timedelta(days=32)).replace(day=2)
    invoices = bill_due(db, today=next_month)
    db.commit()
    crawl = [i for i in invoices if i.source_type == "crawl"]
    assert [(i.licensee_org_id, i.currency, i.total) for i in crawl] == [(site.org.id, "USD", 1)]
