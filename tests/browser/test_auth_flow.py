"""Sign-up, log-in, log-out and CSRF refusals as a person (or a forged form) does them in chromium.

These run on SQLite only, against a real uvicorn server; see ``conftest.py``.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from fairtrain.accounts.demo import DEMO_LOGINS
from tests.helpers import STRONG_PASSWORD

pytestmark = pytest.mark.browser

FAN = next(login for login in DEMO_LOGINS if login.role == "fan")

# POSTs a form body without csrf_token from the page, as a forged form would; resolves to the status code.
_POST_WITHOUT_TOKEN = """([path, fields]) => fetch(path, {
    method: "POST",
    body: new URLSearchParams(fields),
    redirect: "manual",
}).then(response => response.status)"""


def _log_in(page: Page, email: str, password: str) -> None:
    form = page.locator("main form[action='/login']")  # the nav has a "Log in" link too
    form.get_by_label("Email").fill(email)
    form.get_by_label("Password").fill(password)
    form.get_by_role("button", name="Log in").click()


def _expect_logged_out(page: Page) -> None:
    nav = page.locator("header nav")
    expect(nav.get_by_role("link", name="Log in")).to_be_visible()
    expect(page.get_by_test_id("logout")).to_have_count(0)


def test_fan_signs_up_logs_out_logs_in_and_visits_a_creator(page: Page) -> None:
    email = "ada.fan@example.com"
    page.goto("/signup")
    form = page.locator("main form[action='/signup']")  # the nav has a "Sign up" button-link too
    expect(form.get_by_label("a fan, here to follow creators")).to_be_checked()
    form.get_by_label("Email").fill(email)
    form.get_by_label("Password").fill(STRONG_PASSWORD)
    form.get_by_role("button", name="Sign up").click()

    expect(page).to_have_url(re.compile(r"/account$"))
    expect(page.get_by_test_id("account-email")).to_have_text(email)

    page.get_by_test_id("logout").click()
    expect(page).to_have_url(re.compile(r"/$"))
    _expect_logged_out(page)

    page.locator("header nav").get_by_role("link", name="Log in").click()
    expect(page).to_have_url(re.compile(r"/login"))
    _log_in(page, email, STRONG_PASSWORD)
    expect(page).to_have_url(re.compile(r"/account$"))
    expect(page.get_by_test_id("account-email")).to_have_text(email)

    page.goto("/@mira")
    expect(page.get_by_test_id("creator-name")).to_have_text("Mira Okafor")
    expect(page.get_by_test_id("logout")).to_be_visible()  # still logged in on a public page

    page.get_by_test_id("logout").click()
    _expect_logged_out(page)
    page.goto("/account")
    expect(page).to_have_url(re.compile(r"/login\?next=%2Faccount$"))


def test_wrong_password_shows_the_error_and_starts_no_session(page: Page) -> None:
    page.goto("/login")
    with page.expect_response(lambda r: r.url.endswith("/login") and r.request.method == "POST") as reply:
        _log_in(page, FAN.email, FAN.password + "-wrong")
    assert reply.value.status == 401

    expect(page.get_by_test_id("error")).to_be_visible()
    expect(page.get_by_test_id("error")).not_to_be_empty()
    expect(page.get_by_label("Email")).to_have_value(FAN.email)  # kept, so the person only retypes
    expect(page.get_by_label("Password")).to_have_value("")
    _expect_logged_out(page)

    page.goto("/account")
    expect(page).to_have_url(re.compile(r"/login\?next=%2Faccount$"))


def test_form_posts_without_the_csrf_token_are_refused(page: Page) -> None:
    page.goto("/login")  # the session now holds a CSRF token; the forged posts below leave it out
    forged: dict[str, dict[str, str | float | bool]] = {  # the value type page.request.post takes
        "/login": {"email": FAN.email, "password": FAN.password, "next": "/account"},
        "/signup": {"email": "forged@example.com", "password": STRONG_PASSWORD, "kind": "fan"},
    }
    for path, fields in forged.items():
        assert page.evaluate(_POST_WITHOUT_TOKEN, [path, fields]) == 403, path
        assert page.request.post(path, form=fields, max_redirects=0).status == 403, path

    # Logged in, a forged log-out must not end the session.
    _log_in(page, FAN.email, FAN.password)
    expect(page).to_have_url(re.compile(r"/account$"))
    assert page.evaluate(_POST_WITHOUT_TOKEN, ["/logout", {}]) == 403
    assert page.request.post("/logout", form={"csrf_token": "forged"}, max_redirects=0).status == 403
    page.reload()
    expect(page.get_by_test_id("account-email")).to_have_text(FAN.email)

    # The forged sign-up created nobody, so logging in with its email fails as an unknown account.
    page.get_by_test_id("logout").click()
    _expect_logged_out(page)
    page.goto("/login")
    _log_in(page, "forged@example.com", STRONG_PASSWORD)
    expect(page.get_by_test_id("error")).to_be_visible()


def test_a_tampered_csrf_field_gets_the_403_page(page: Page) -> None:
    page.goto("/login")
    page.locator("form[action='/login'] input[name=csrf_token]").evaluate("field => field.value = 'tampered'")
    with page.expect_response(lambda r: r.url.endswith("/login") and r.request.method == "POST") as reply:
        _log_in(page, FAN.email, FAN.password)
    assert reply.value.status == 403

    expect(page.get_by_test_id("error-title")).to_have_text("Not allowed")
    expect(page.get_by_test_id("error")).to_contain_text("security token")
    _expect_logged_out(page)
    page.goto("/account")
    expect(page).to_have_url(re.compile(r"/login\?next=%2Faccount$"))
