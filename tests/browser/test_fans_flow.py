"""A creator makes a tier on /fans, a fan subscribes on the creator's page and is told how to pay, an operator
records the transfer on /fans/payments, and the fan's /subscriptions shows the subscription active.

Runs on the demo cast (``conftest.live_server``), as a person would: log in, click, read.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from fairtrain.accounts.demo import DEMO_LOGINS
from tests.browser.helpers import log_in

pytestmark = pytest.mark.browser

OPERATOR = next(login for login in DEMO_LOGINS if login.role == "operator")
MIRA = next(login for login in DEMO_LOGINS if login.handle == "mira")
FAN = next(login for login in DEMO_LOGINS if login.role == "fan")


def test_creator_tier_fan_subscribes_operator_marks_paid(page: Page) -> None:
    # The creator offers a tier.
    log_in(page, MIRA)
    page.locator("header nav").get_by_role("link", name="Fans", exact=True).click()
    expect(page).to_have_url(re.compile(r"/fans$"))
    form = page.get_by_test_id("tier-form")
    form.get_by_label("Name").fill("Supporter")
    form.get_by_label("Price per month").fill("5.00")
    form.get_by_label("What fans get").fill("Every photo in full size")
    form.get_by_role("button", name="Create tier").click()
    expect(page.get_by_test_id("fans-notice")).to_contain_text("Tier “Supporter” created")
    expect(page.get_by_test_id("tier-row-Supporter")).to_contain_text("5.00 USD")
    page.get_by_test_id("logout").click()

    # A fan subscribes on the creator's page and reads how to pay.
    log_in(page, FAN)
    page.goto("/@mira")
    tier = page.get_by_test_id("tier-Supporter")
    expect(tier.get_by_test_id("tier-price")).to_contain_text("5.00 USD")
    tier.get_by_role("button", name="Subscribe").click()
    expect(page).to_have_url(re.compile(r"/subscriptions\?notice=subscribed"))
    expect(page.get_by_test_id("subscription-state")).to_have_text("pending")
    instructions = page.get_by_test_id("payment-instructions")
    expect(instructions).to_contain_text("Transfer 5.00 USD")
    match = re.search(r"quoting the reference (FT-SUB-\w+)", instructions.inner_text())
    assert match, instructions.inner_text()
    reference = match.group(1)
    page.get_by_test_id("logout").click()

    # The operator records the transfer.
    log_in(page, OPERATOR)
    page.locator("header nav").get_by_role("link", name="Fan payments").click()
    due = page.get_by_test_id(f"due-{reference}")
    expect(due).to_contain_text(FAN.email)
    due.get_by_label("Bank reference").fill("TRX-FAN-1")
    due.get_by_role("button", name="Mark paid").click()
    expect(page.get_by_test_id("fans-payments-notice")).to_contain_text(f"Payment recorded on {reference}")
    expect(page.get_by_test_id("no-due-payments")).to_be_visible()
    page.get_by_test_id("logout").click()

    # The fan's subscription is active.
    log_in(page, FAN)
    page.locator("header nav").get_by_role("link", name="Subscriptions").click()
    expect(page.get_by_test_id("subscription-state")).to_have_text("active")
    expect(page.get_by_test_id("paid-until")).to_contain_text("UTC")
    expect(page.get_by_test_id("payment-instructions")).to_have_count(0)
