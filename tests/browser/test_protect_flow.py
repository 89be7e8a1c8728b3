"""A creator protects a photo; a stranger checks a re-saved copy of it on the public page (chromium)."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from PIL import Image
from playwright.sync_api import Page, expect

from fairtrain.accounts.demo import DEMO_LOGINS
from tests.browser.helpers import log_in
from tests.catalog.media import photo

pytestmark = pytest.mark.browser

MIRA = next(login for login in DEMO_LOGINS if login.handle == "mira")


def test_protect_then_check_a_copy(page: Page, tmp_path: Path) -> None:
    log_in(page, MIRA)

    page.goto("/catalog")
    page.get_by_test_id("upload-input").set_input_files(str(photo(tmp_path / "lantern-quay.jpg", seed=41)))
    page.get_by_role("button", name="Import", exact=True).click()
    expect(page.get_by_test_id("upload-results")).to_contain_text("lantern-quay.jpg: new")
    page.get_by_test_id("upload-results").get_by_role("link").click()
    expect(page.get_by_test_id("asset-title")).to_have_text("lantern-quay")
    page.get_by_test_id("protect").click()
    expect(page.get_by_test_id("protection")).to_contain_text("watermark, xmp, c2pa")
    with page.expect_download() as download_info:
        page.get_by_test_id("protected-download").click()
    protected = Path(download_info.value.path())
    with Image.open(protected) as image:
        copy = io.BytesIO()
        image.resize((image.width // 2, image.height // 2)).save(copy, "PNG")  # metadata gone
    found = tmp_path / "found-online.png"
    found.write_bytes(copy.getvalue())

    page.get_by_test_id("logout").click()
    page.goto("/check")
    page.get_by_test_id("check-file").set_input_files(str(found))
    page.get_by_test_id("check-submit").click()
    expect(page.get_by_test_id("check-verdict")).to_contain_text("lantern-quay")
    expect(page.get_by_test_id("check-verdict")).to_contain_text("@mira")
    expect(page.get_by_test_id("check-watermark")).to_contain_text(re.compile(r"found: ast_"))
    expect(page.get_by_test_id("check-c2pa")).to_contain_text("absent")
