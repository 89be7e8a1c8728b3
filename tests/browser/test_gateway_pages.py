"""The gateway as a visitor and an owner see it in chromium: the creator's page shows previews, a subscriber
work shows its preview and the paywall, its full-size URL shows why not, and the owner sees it in full.

Runs on the demo cast with the demo works (``fairtrain demo``), on a server of its own.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from fairtrain.accounts.demo import DEMO_LOGINS, seed_demo
from fairtrain.config import Settings
from fairtrain.db.engine import make_engine, make_sessionmaker, transaction
from fairtrain.gateway.demo import seed_demo_works
from tests.browser.conftest import SECRET_KEY
from tests.browser.helpers import log_in, running_server

pytestmark = pytest.mark.browser

MIRA = next(login for login in DEMO_LOGINS if login.handle == "mira")
DESKTOP_CHROME = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
)


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("gateway-browser")
    database = tmp / "fairtrain.db"
    shutil.copyfile(sqlite_template, database)
    database_url = f"sqlite:///{database}"

    def settings_for(base_url: str) -> Settings:
        return Settings(
            data_dir=tmp / "data", database_url=database_url, secret_key=SECRET_KEY, base_url=base_url
        )

    engine = make_engine(database_url)
    try:
        with transaction(make_sessionmaker(engine)) as session:
            seed_demo(session, min_password_length=10)
            seed_demo_works(session, settings_for("http://127.0.0.1"))
    finally:
        engine.dispose()
    with running_server(settings_for) as base_url:
        yield base_url


@pytest.fixture
def page(browser: Browser, live_server: str) -> Iterator[Page]:
    """A page that says it is an ordinary Chrome: the door suspects headless browsers of scraping."""
    context = browser.new_context(base_url=live_server, user_agent=DESKTOP_CHROME)
    context.set_default_timeout(30_000)  # the first preview makes the protected copy
    page = context.new_page()
    yield page
    context.close()


def _subscriber_photo(page: Page) -> str:
    page.goto("/@mira")
    card = page.locator('[data-testid="work-card"][data-access="subscribers"]').first
    href = card.get_attribute("href")
    assert href and re.fullmatch(r"/@mira/works/ast_\w+", href), href
    return href.rsplit("/", 1)[1]


def _loaded_width(page: Page, selector: str) -> int:
    image = page.locator(selector).first
    expect(image).to_be_visible()
    page.wait_for_function(
        "s => { const i = document.querySelector(s); return i && i.complete && i.naturalWidth > 0 }",
        arg=selector,
    )
    width: int = image.evaluate("i => i.naturalWidth")
    return width


def test_visitor_sees_previews_and_the_paywall_the_owner_sees_the_work(live_server: str, page: Page) -> None:
    page.goto("/@mira")
    expect(page.get_by_test_id("work-card")).to_have_count(4)
    assert 0 < _loaded_width(page, '[data-testid="work-card"] img') <= 800
    asset_id = _subscriber_photo(page)
    headless = page.context.browser
    assert headless is not None
    bot = headless.new_page(base_url=live_server)  # chromium's own user agent says "HeadlessChrome"
    reply = bot.goto(f"/media/{asset_id}/preview")
    assert reply is not None and reply.status == 403  # a suspected scraper: no preview either
    bot.close()

    page.goto(f"/@mira/works/{asset_id}")
    expect(page.get_by_test_id("subscribers-badge")).to_be_visible()
    assert _loaded_width(page, '[data-testid="work-preview"]') <= 800
    expect(page.get_by_test_id("work-full")).to_have_count(0)
    expect(page.get_by_test_id("paywall")).to_contain_text("subscribers")

    response = page.goto(f"/media/{asset_id}/full")
    assert response is not None and response.status == 403
    expect(page.get_by_test_id("refused")).to_have_attribute("data-code", "subscribers_only")
    expect(page.get_by_test_id("see-tiers")).to_be_visible()
    response = page.goto(f"/media/{asset_id}/original")
    assert response is not None and response.status == 404

    log_in(page, MIRA)
    page.goto(f"/@mira/works/{asset_id}")
    assert _loaded_width(page, '[data-testid="work-full"]') == 1280
    response = page.goto(f"/media/{asset_id}/original")
    assert response is not None and response.status == 200
