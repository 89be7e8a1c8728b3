"""A creator sets their AI policy in chromium, watches the preview, saves, and sees robots.txt change."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from fairtrain.accounts.demo import DEMO_LOGINS
from tests.browser.helpers import log_in

pytestmark = pytest.mark.browser

MIRA = next(login for login in DEMO_LOGINS if login.handle == "mira")


def test_creator_refuses_ai_training_previews_and_saves(page: Page) -> None:
    log_in(page, MIRA)
    page.locator("header nav").get_by_role("link", name="AI policy").click()
    expect(page).to_have_url(re.compile(r"/policy$"))
    preview = page.get_by_test_id("policy-preview")
    summary = page.get_by_test_id("policy-summary")
    expect(page.get_by_test_id("preview-headers")).to_contain_text("X-Robots-Tag: noai\n")

    # A licence shows its terms; the summary follows what is typed.
    train = page.get_by_test_id("row-ai-train")
    price = train.get_by_label("Price")
    expect(price).to_be_hidden()
    train.get_by_label("Only with a licence").check()
    expect(price).to_be_visible()
    train.get_by_label("How they pay").select_option("crawl")
    price.fill("0.02")
    expect(summary).to_contain_text("AI companies need a licence at 0.02 USD per crawl to train on it.")
    price.fill("-3")
    expect(page.get_by_test_id("preview-error")).to_have_text("AI training: a price cannot be negative")

    # Refusing training and search: every signal in the preview changes before anything is saved.
    train.get_by_label("Refuse").check()
    expect(page.get_by_test_id("preview-headers")).to_contain_text("X-Robots-Tag: noai, noimageai")
    expect(page.get_by_test_id("preview-tags")).to_contain_text(
        '<meta name="robots" content="noai, noimageai">'
    )
    expect(summary).to_contain_text("AI companies may not train on it.")
    page.get_by_test_id("row-search").get_by_label("Refuse").check()
    expect(page.get_by_test_id("preview-robots")).to_contain_text("Disallow: /@mira/")
    expect(preview).to_contain_text('<prohibits type="usage">search ai-train</prohibits>')
    assert "/@mira/" not in page.request.get("/robots.txt").text()  # a preview is never saved

    page.get_by_role("button", name="Save policy").click()
    expect(page.get_by_test_id("policy-saved")).to_contain_text("Saved. 2 changes recorded")
    expect(page.get_by_test_id("row-ai-train").get_by_label("Refuse")).to_be_checked()
    history = page.get_by_test_id("policy-history")
    expect(history).to_contain_text("AI training")
    expect(history.locator("tr", has_text="AI training")).to_contain_text("inherited")

    page.goto("/robots.txt")
    expect(page.locator("body")).to_contain_text("Disallow: /@mira/")
    response = page.goto("/@mira")
    assert response is not None and response.headers["x-robots-tag"] == "noai, noimageai"
