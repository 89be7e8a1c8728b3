"""Fixtures for the browser tests: a real uvicorn server in a thread, driven by Debian's chromium.

Browser tests run on SQLite only: they check what a person sees and clicks, which does not depend on the
database, and the SQLite/PostgreSQL differences are covered by the in-process tests under ``tests/web``.
One server and one browser serve the whole module (starting them is most of the cost); every test gets a
fresh browser context, so cookies never leak between tests. Tests that write use accounts of their own.
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from playwright.sync_api import Browser, Page, Playwright, sync_playwright

from fairtrain.accounts.demo import seed_demo
from fairtrain.app import create_app
from fairtrain.config import Settings
from fairtrain.db.engine import make_engine, make_sessionmaker, transaction

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
STARTUP_TIMEOUT = 15.0  # seconds to wait for /healthz
ACTION_TIMEOUT_MS = 10_000  # fail a stuck click or assertion in seconds, not Playwright's 30 s default


def _seed_demo(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        with transaction(make_sessionmaker(engine)) as session:
            seed_demo(session, min_password_length=10)
    finally:
        engine.dispose()


def _wait_until_healthy(base_url: str, thread: threading.Thread) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    with httpx.Client(base_url=base_url, timeout=1.0) as client:
        while time.monotonic() < deadline:
            if not thread.is_alive():
                raise RuntimeError("the uvicorn thread stopped during startup; see the captured log")
            try:
                if client.get("/healthz").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)
    raise RuntimeError(f"{base_url}/healthz did not answer 200 within {STARTUP_TIMEOUT} s")


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path) -> Iterator[str]:
    """Base URL of a uvicorn server running ``create_app`` on a fresh, demo-seeded SQLite copy."""
    tmp = tmp_path_factory.mktemp("browser")
    database = tmp / "fairtrain.db"
    shutil.copyfile(sqlite_template, database)
    database_url = f"sqlite:///{database}"
    _seed_demo(database_url)

    # Bind the socket here so the port is known before the server starts and nobody can take it meanwhile.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    base_url = f"http://127.0.0.1:{port}"

    settings = Settings(
        data_dir=tmp / "data",
        database_url=database_url,
        secret_key=SECRET_KEY,
        base_url=base_url,
    )
    app = create_app(settings)
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        lifespan="on",
        ws="none",  # no websocket routes; also keeps websockets' deprecation warnings out of the run
        log_config=None,  # leave logging configuration to pytest
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=5,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="uvicorn", daemon=True)
    thread.start()
    try:
        _wait_until_healthy(base_url, thread)
        yield base_url
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()  # uvicorn closes it on shutdown; closing again is harmless and covers a failed start
        app.state.engine.dispose()  # the lifespan does this too, unless startup never completed
    assert not thread.is_alive(), "uvicorn did not stop within 10 s"


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
