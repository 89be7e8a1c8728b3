"""Offer -> deal -> agreement -> invoice -> statement in chromium: mira offers her work, the demo licensee
requests it, mira accepts, the licensee reads the agreement and its invoice, the operator records the payment,
and mira's statement shows her share (SQLite; see ``conftest.py``)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from fairtrain.accounts.demo import DEMO_LOGINS
from tests.browser.helpers import log_in
from tests.catalog.media import photo

pytestmark = pytest.mark.browser

MIRA = next(login for login in DEMO_LOGINS if login.handle == "mira")
LICENSEE = next(login for login in DEMO_LOGINS if login.role == "licensee")
OPERATOR = next(login for login in DEMO_LOGINS if login.role == "operator")


def _new_page(browser: Browser, live_server: str) -> Page:
    context = browser.new_context(base_url=live_server)
    context.set_default_timeout(10_000)
    return context.new_page()


def test_offer_request_accept_and_agreement(
    page: Page, browser: Browser, live_server: str, tmp_path: Path
) -> None:
    # Mira has a work to license, and offers her catalogue for AI training.
    log_in(page, MIRA)
    page.goto("/catalog")
    page.get_by_test_id("upload-input").set_input_files(str(photo(tmp_path / "quay.jpg", seed=11)))
    page.get_by_role("button", name="Import", exact=True).click()
    expect(page.get_by_test_id("upload-results")).to_contain_text("quay.jpg: new")

    page.locator("header nav").get_by_role("link", name="Offers").click()
    page.get_by_role("link", name="Your offers").click()
    page.get_by_test_id("new-offer").first.click()
    form = page.get_by_test_id("offer-form")
    form.get_by_label("Title").fill("Quay photographs for training")
    form.get_by_label("AI training (ai-train)").check()
    form.get_by_label("How the licensee pays").select_option("flat")
    form.get_by_label("Amount").fill("2500")
    form.get_by_label("Or a length in days").fill("365")
    form.get_by_test_id("save-offer").click()
    expect(page.get_by_test_id("offer-title")).to_have_text("Quay photographs for training")
    expect(page.get_by_test_id("offer-terms")).to_contain_text("USD 2500.00 once")
    offer_url = page.url.split("?")[0]

    # The licensee finds it in the catalogue and requests it as offered.
    buyer = _new_page(browser, live_server)
    log_in(buyer, LICENSEE)
    buyer.locator("header nav").get_by_role("link", name="Offers").click()
    card = buyer.get_by_test_id("offer-card").filter(has_text="Quay photographs for training")
    expect(card).to_contain_text("USD 2500.00 once")
    card.get_by_role("link", name="Quay photographs for training").click()
    expect(buyer).to_have_url(offer_url)
    buyer.get_by_label("Message to the seller").fill("For our 2027 model.")
    buyer.get_by_test_id("request-licence").click()
    expect(buyer.get_by_test_id("deal-status")).to_have_text("proposed")
    deal_url = buyer.url.split("?")[0]
    assert re.search(r"/deals/deal_\w+$", deal_url)

    # Mira accepts it from her deals.
    page.locator("header nav").get_by_role("link", name="Deals").click()
    page.locator(f"a[href='{deal_url.removeprefix(live_server)}']").click()
    expect(page.get_by_test_id("deal-history")).to_contain_text("For our 2027 model.")
    page.get_by_test_id("deal-accept").click()
    expect(page.get_by_test_id("deal-status")).to_have_text("active")

    # The licensee sees it active and reads the agreement, checked against the recorded hash.
    buyer.locator("header nav").get_by_role("link", name="Deals").click()
    expect(buyer.get_by_test_id("deals-active")).to_contain_text("Quay photographs for training")
    buyer.get_by_test_id("deals-active").get_by_role("link").first.click()
    expect(buyer.get_by_test_id("deal-status")).to_have_text("active")
    expect(buyer.get_by_test_id("deal-snapshot")).to_contain_text("1 work, frozen at acceptance")
    expect(buyer.get_by_test_id("agreement-verified")).to_contain_text("✓")
    recorded = buyer.get_by_test_id("agreement-sha256").inner_text()
    pdf = buyer.request.get(deal_url + "/agreement.pdf")
    assert pdf.ok and pdf.body().startswith(b"%PDF")
    buyer.get_by_test_id("agreement-html").click()
    expect(buyer.locator("body")).to_contain_text("Quay photographs for training")
    expect(buyer.locator("body")).to_contain_text("Example AI Lab")
    assert len(recorded) == 64

    # Accepting issued the flat fee's invoice; the licensee sees it ...
    buyer.goto("/invoices")
    row = buyer.get_by_test_id("invoice-row").filter(has_text="Quay photographs for training")
    expect(row.get_by_test_id("invoice-status")).to_have_text("issued")
    reference = row.get_by_role("link").first.inner_text()
    buyer.context.close()

    # ... the operator records the bank transfer on the books ...
    books = _new_page(browser, live_server)
    log_in(books, OPERATOR)
    books.goto("/books")
    unpaid = books.get_by_test_id(f"unpaid-{reference}")
    expect(unpaid).to_contain_text("2500.00 USD")
    unpaid.get_by_label("Bank reference").fill("TRX-QUAY-1")
    unpaid.get_by_role("button", name="Mark paid").click()
    expect(books.get_by_test_id("books-notice")).to_contain_text(f"Payment recorded on {reference}")
    books.context.close()

    # ... and Mira's statement shows her share: all of it, less the 15 % platform fee.
    page.goto("/statements")
    expect(page.get_by_test_id("summary-gross-share")).to_have_text("2500.00 USD")
    expect(page.get_by_test_id("summary-platform-fees")).to_have_text("-375.00 USD")
    expect(page.get_by_test_id("summary-closing-balance")).to_have_text("2125.00 USD")
