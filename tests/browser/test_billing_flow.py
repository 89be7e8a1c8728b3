"""An operator marks a licensee's invoice paid on /books; the creator then reads the money on /statements.

The deal and its invoice are set up through the services in the live server's own database (this module
runs its own server, seeded with the demo cast plus a paid-for deal), so the browser does only what a
person would: log in, click, read.
"""

from __future__ import annotations

import hashlib
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy.orm import Session

from fairtrain.accounts import service as accounts
from fairtrain.accounts.demo import DEMO_LOGINS, seed_demo
from fairtrain.catalog import service as catalog
from fairtrain.catalog.analyse import Analysis
from fairtrain.config import Settings
from fairtrain.db.engine import make_engine, make_sessionmaker, transaction
from fairtrain.ledger.journal import check_integrity, trial_balance
from fairtrain.licensing.billing import bill_deal
from fairtrain.licensing.deals import Side, accept, request_deal
from fairtrain.licensing.offers import create_offer
from fairtrain.licensing.selection import Selection
from fairtrain.licensing.terms import Fee, Terms
from tests.browser.conftest import SECRET_KEY
from tests.browser.helpers import log_in, running_server

pytestmark = pytest.mark.browser

OPERATOR = next(login for login in DEMO_LOGINS if login.role == "operator")
MIRA = next(login for login in DEMO_LOGINS if login.handle == "mira")
LICENSEE = next(login for login in DEMO_LOGINS if login.role == "licensee")


def _work(session: Session, handle: str, name: str) -> None:
    creator = accounts.get_creator(session, handle)
    analysis = Analysis(
        sha256=hashlib.sha256(f"{handle}/{name}".encode()).hexdigest(),
        size=1,
        kind="image",
        mime="image/jpeg",
        title=name,
        description=None,
        created_at=None,
        created_source=None,
        width=1,
        height=1,
        duration_ms=None,
        word_count=None,
    )
    catalog.record_import(session, creator=creator, analysis=analysis, storage="copy", filename=name)


def seed_billing(database_url: str) -> str:
    """The demo cast, two works by Mira and one by Jonas, and the Northern Light Collective's deal with
    Example AI Lab for USD 1,000.00 once, accepted and invoiced. Returns the invoice reference."""
    engine = make_engine(database_url)
    try:
        with transaction(make_sessionmaker(engine)) as session:
            seed_demo(session, min_password_length=10)
            for handle, name in (("mira", "harbour-at-dawn"), ("mira", "net-mender"), ("jonas", "ridge")):
                _work(session, handle, name)
            now = datetime.now(UTC)
            collective = accounts.get_collective(session, "northern-light")
            offer = create_offer(
                session,
                seller=collective,
                title="Northern Light pool",
                terms=Terms(usages=("ai-train",), fee=Fee("flat", currency="USD", amount_minor=100_000)),
                selection=Selection(all=True),
                now=now,
            )
            licensee = accounts.get_user_by_email(session, LICENSEE.email)
            org = accounts.get_licensee_org(session, "Example AI Lab")
            deal = request_deal(session, offer_version=offer.current, org=org, by=licensee, now=now)
            accept(session, deal=deal, side=Side.SELLER, now=now)
            [invoice] = bill_deal(session, deal)
            return invoice.reference
    finally:
        engine.dispose()


@dataclass(frozen=True)
class BillingDatabase:
    url: str
    directory: Path
    invoice_reference: str


@pytest.fixture(scope="module")
def billing_db(tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path) -> BillingDatabase:
    directory = tmp_path_factory.mktemp("browser-billing")
    shutil.copyfile(sqlite_template, directory / "fairtrain.db")
    url = f"sqlite:///{directory / 'fairtrain.db'}"
    return BillingDatabase(url, directory, seed_billing(url))


@pytest.fixture(scope="module")
def live_server(billing_db: BillingDatabase) -> Iterator[str]:
    """This module's own server, as ``conftest.live_server`` runs it, on the ``billing_db`` database."""

    def settings_for(base_url: str) -> Settings:
        return Settings(
            data_dir=billing_db.directory / "data",
            database_url=billing_db.url,
            secret_key=SECRET_KEY,
            base_url=base_url,
        )

    with running_server(settings_for) as base_url:
        yield base_url


def test_operator_marks_paid_and_the_creator_sees_the_money(page: Page, billing_db: BillingDatabase) -> None:
    invoice_reference = billing_db.invoice_reference
    # The licensee sees what it owes and how to pay.
    log_in(page, LICENSEE)
    page.locator("header nav").get_by_role("link", name="Invoices").click()
    row = page.get_by_test_id("invoice-row").filter(has_text=invoice_reference)
    expect(row.get_by_test_id("invoice-status")).to_have_text("issued")
    row.get_by_role("link", name=invoice_reference).click()
    expect(page.get_by_test_id("invoice-total")).to_have_text("1000.00 USD")
    expect(page.get_by_test_id("payment-instructions")).to_contain_text(
        f"quoting the reference {invoice_reference}"
    )
    page.get_by_test_id("logout").click()

    # The operator records the bank transfer on the books.
    log_in(page, OPERATOR)
    page.locator("header nav").get_by_role("link", name="Books").click()
    expect(page).to_have_url(re.compile(r"/books$"))
    unpaid = page.get_by_test_id(f"unpaid-{invoice_reference}")
    expect(unpaid).to_contain_text("Example AI Lab")
    expect(unpaid).to_contain_text("1000.00 USD")
    unpaid.get_by_label("Bank reference").fill("TRX-2026-001")
    unpaid.get_by_role("button", name="Mark paid").click()
    expect(page.get_by_test_id("books-notice")).to_contain_text(
        f"Payment recorded on {invoice_reference}; the invoice is paid and its money distributed"
    )
    expect(page.get_by_test_id("no-unpaid")).to_be_visible()
    expect(page.get_by_test_id("trial-balance-USD").get_by_test_id("trial-balance-total")).to_have_text(
        "balanced"
    )
    page.get_by_test_id("logout").click()

    # Mira made two of the three works: 666.67 of the 1,000.00, less the 15 % platform fee.
    log_in(page, MIRA)
    page.locator("header nav").get_by_role("link", name="Statements").click()
    expect(page).to_have_url(re.compile(r"/statements$"))
    expect(page.get_by_test_id("summary-gross-share")).to_have_text("666.67 USD")
    expect(page.get_by_test_id("summary-platform-fees")).to_have_text("-100.00 USD")
    expect(page.get_by_test_id("summary-closing-balance")).to_have_text("566.67 USD")
    source = page.get_by_test_id("statement-source")
    expect(source).to_contain_text("Northern Light pool")
    expect(source.get_by_test_id("source-credited")).to_have_text("566.67 USD")
    with page.expect_download() as download:
        page.get_by_test_id("statement-csv").click()
    assert download.value.suggested_filename.startswith("statement-mira-")
    text = Path(download.value.path()).read_text(encoding="utf-8")
    assert "summary,Closing balance,,566.67,USD" in text

    engine = make_engine(billing_db.url)
    try:
        with make_sessionmaker(engine)() as session:
            assert check_integrity(session) == []
            assert trial_balance(session).totals == {"USD": 0}
    finally:
        engine.dispose()
