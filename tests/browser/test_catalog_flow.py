"""A creator uploads works and browses their catalogue in chromium (SQLite; see ``conftest.py``)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from fairtrain.accounts.demo import DEMO_LOGINS
from tests.browser.helpers import log_in
from tests.catalog.media import essay, photo

pytestmark = pytest.mark.browser

MIRA = next(login for login in DEMO_LOGINS if login.handle == "mira")


def test_creator_uploads_browses_and_edits(page: Page, tmp_path: Path) -> None:
    log_in(page, MIRA)
    page.locator("header nav").get_by_role("link", name="Catalog").click()
    expect(page).to_have_url(re.compile(r"/catalog$"))
    expect(page.get_by_test_id("asset-count")).to_have_text("0 assets")

    files = [
        photo(tmp_path / "harbour-dawn.jpg", seed=3, exif_date="2020:07:01 05:40:00"),
        photo(tmp_path / "net-loft.jpg", seed=4),
        essay(tmp_path / "tide-notes.txt", seed=5),
    ]
    page.get_by_test_id("upload-input").set_input_files([str(f) for f in files])
    page.get_by_role("button", name="Import", exact=True).click()
    expect(page.get_by_test_id("upload-results")).to_contain_text("harbour-dawn.jpg: new")
    expect(page.get_by_test_id("asset-card")).to_have_count(3)
    expect(page.get_by_test_id("asset-count")).to_have_text("3 assets")
    # Thumbnails are real images the browser decoded.
    thumbs = page.locator("img.thumb")
    expect(thumbs).to_have_count(2)
    for i in range(2):
        thumbs.nth(i).scroll_into_view_if_needed()
        page.wait_for_function(
            "img => img.complete && img.naturalWidth > 0", arg=thumbs.nth(i).element_handle()
        )

    page.get_by_role("searchbox", name="Search titles").fill("dawn")
    page.get_by_role("button", name="Filter").click()
    expect(page.get_by_test_id("asset-card")).to_have_count(1)

    page.get_by_role("link", name="harbour-dawn").click()
    expect(page.get_by_test_id("asset-title")).to_have_text("harbour-dawn")
    expect(page.get_by_test_id("fingerprints")).to_contain_text("phash64")
    page.get_by_label("Title").fill("Harbour at dawn")
    page.get_by_label("Tags").fill("sea, morning")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.get_by_test_id("asset-title")).to_have_text("Harbour at dawn")
    expect(page.get_by_role("status")).to_have_text("Saved.")


def test_unsupported_upload_is_refused_with_a_reason(page: Page, tmp_path: Path) -> None:
    log_in(page, MIRA)
    page.goto("/catalog")
    before = page.get_by_test_id("asset-card").count()
    blob = tmp_path / "program.exe"
    blob.write_bytes(b"MZ" + bytes(range(256)) * 8)
    page.get_by_test_id("upload-input").set_input_files(str(blob))
    page.get_by_role("button", name="Import", exact=True).click()
    expect(page.get_by_test_id("upload-results")).to_contain_text("program.exe")
    expect(page.get_by_test_id("asset-card")).to_have_count(before)
