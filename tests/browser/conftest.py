"""Fixtures for the browser tests: a real uvicorn server in a thread, driven by Debian's chromium.

Browser tests run on SQLite only: they check what a person sees and clicks, which does not depend on the
database, and the SQLite/PostgreSQL differences are covered by the in-process tests under ``tests/web``.
One server and one browser serve the whole module (starting them is most of the cost); every test gets a
fresh browser context, so cookies never leak between tests. Tests that write use accounts of their own.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, Playwright, sync_playwright

from fairtrain.accounts.demo import seed_demo
from fairtrain.config import Settings
from fairtrain.db.engine import make_engine, make_sessionmaker, transaction
from tests.browser.helpers import running_server

CHROMIUM = Path("/usr/bin/chromium")
# Without the networking switches chromium keeps calling Google services, which floods a closed network.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SECRET_KEY = "browser-test-secret-key-" + "x" * 40
ACTION_TIMEOUT_MS = 10_000  # fail a stuck click or assertion in seconds, not Playwright's 30 s default


def _seed_demo(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        with transaction(make_sessionmaker(engine)) as session:
            seed_demo(session, min_password_length=10)
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path) -> Iterator[str]:
    """Base URL of a uvicorn server running ``create_app`` on a fresh, demo-seeded SQLite copy."""
    tmp = tmp_path_factory.mktemp("browser")
    database = tmp / "fairtrain.db"
    shutil.copyfile(sqlite_template, database)
    database_url = f"sqlite:///{database}"
    _seed_demo(database_url)

    def settings_for(base_url: str) -> Settings:
        return Settings(
            data_dir=tmp / "data", database_url=database_url, secret_key=SECRET_KEY, base_url=base_url
        )

    with running_server(settings_for) as base_url:
        yield base_url


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    if not CHROMIUM.exists():
        message = f"{CHROMIUM} is missing: install Debian's chromium (`make chromium`)"
        if os.environ.get("CI"):
            pytest.fail(f"browser tests cannot run on CI: {message}", pytrace=False)
        pytest.skip(message)
    with sync_playwright() as playwright:
        yield playwright


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
    yield browser
    browser.close()


@pytest.fixture
def page(browser: Browser, live_server: str) -> Iterator[Page]:
    """A page in a fresh browser context (no cookies), with relative URLs resolved against the server."""
    context = browser.new_context(base_url=live_server)
    context.set_default_timeout(ACTION_TIMEOUT_MS)
    context.set_default_navigation_timeout(ACTION_TIMEOUT_MS)
    page = context.new_page()
    yield page
    context.close()
