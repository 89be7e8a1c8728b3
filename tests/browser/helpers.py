"""What the browser tests share: logging a demo user in, and running the app under uvicorn in a thread."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import httpx
import uvicorn
from playwright.sync_api import Page, expect

from fairtrain.accounts.demo import DemoLogin
from fairtrain.app import create_app
from fairtrain.config import Settings

STARTUP_TIMEOUT = 15.0  # seconds to wait for /healthz


def log_in(page: Page, login: DemoLogin) -> None:
    """Log ``login`` in through the form and wait for the account page."""
    page.goto("/login")
    form = page.locator("main form[action='/login']")  # the nav has a "Log in" link too
    form.get_by_label("Email").fill(login.email)
    form.get_by_label("Password").fill(login.password)
    form.get_by_role("button", name="Log in").click()
    expect(page.get_by_test_id("account-email")).to_have_text(login.email)


def _wait_until_healthy(base_url: str, thread: threading.Thread) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    with httpx.Client(base_url=base_url, timeout=1.0) as client:
        while time.monotonic() < deadline:
            if not thread.is_alive():
                raise RuntimeError("the uvicorn thread died during startup")
            try:
                if client.get("/healthz").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)
    raise RuntimeError(f"{base_url}/healthz did not answer 200 within {STARTUP_TIMEOUT} s")


@contextmanager
def running_server(settings_for: Callable[[str], Settings]) -> Iterator[str]:
    """Run ``create_app(settings_for(base_url))`` under uvicorn in a thread; yield its base URL."""
    # Bind the socket here so the port is known before the server starts and nobody can take it meanwhile.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    base_url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    app = create_app(settings_for(base_url))
    config = uvicorn.Config(
        app,
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
