from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy.orm import Session

from fairtrain.accounts.models import LicenseeOrg
from fairtrain.errors import InvalidInput, NotFound
from fairtrain.ledger.errors import IdempotencyKeyReused, InvoiceStateError
from fairtrain.ledger.invoices import (
    InvoiceLineDraft,
    add_line,
    create_invoice,
    invoice_by_reference,
    issue_invoice,
    licensee_invoices,
    line_amount,
    pool_code,
    void_invoice,
)
from fairtrain.ledger.journal import balance, get_account, owed
from fairtrain.ledger.models import InvoiceStatus, Transaction

JAN = (date(2026, 1, 1), date(2026, 1, 31))


def _invoice(db: Session, org: LicenseeOrg, *lines: InvoiceLineDraft, currency: str = "USD", source="del_1"):
    return create_invoice(
        db,
        licensee_org_id=org.id,
        currency=currency,
        source_type="deal",
        source_id=source,
        period_start=JAN[0],
        period_end=JAN[1],
        lines=lines or [InvoiceLineDraft("Training licence, January", 1, 1_500_000_000)],
    )


@pytest.mark.parametrize(
    ("quantity", "micros", "currency", "minor"),
    [
        (1, 1_500_000_000, "USD", 150_000),  # 1,500.00 USD flat
        (1_000, 15_000, "USD", 1_500),  # 1,000 crawls at 0.015 = 15.00 exactly
        (333, 15_000, "USD", 500),  # 4.995 -> 5.00: half away from zero, once per line
        (333, 14_999, "USD", 499),  # 4.994667 -> 4.99
        (7, 1_234_500, "BHD", 8_642),  # 8.6415 BHD -> 8.642
        (3, 333_333, "JPY", 1),  # 0.999999 yen -> 1
    ],
)
def test_line_amount_rounds_the_exact_product_once(
    quantity: int, micros: int, currency: str, minor: int
) -> None:
    assert line_amount(quantity, micros, currency) == minor


@pytest.mark.parametrize(
    ("quantity", "micros", "message"),
    [
        (0, 1, "at least 1"),
        (-1, 1, "negative"),
        (1, -5, "negative"),
        (1, 1.5, "integer"),
        (10**13, 1, "absurd"),
    ],
)
def test_line_amount_refuses_bad_lines(quantity, micros, message) -> None:
    with pytest.raises(InvalidInput, match=message):
        line_amount(quantity, micros, "USD")


def test_draft_invoice_totals_its_lines(db: Session, org: LicenseeOrg) -> None:
    invoice = _invoice(
        db,
        org,
        InvoiceLineDraft("Flat fee", 1, 100_000_000),
        InvoiceLineDraft("Crawls   over quota", 333, 15_000),
    )
    db.commit()
    assert invoice.status == InvoiceStatus.DRAFT
    assert invoice.id.startswith("inv_") and invoice.reference.startswith("FT-")
    assert [(line.position, line.description, line.amount) for line in invoice.lines] == [
        (1, "Flat fee", 10_000),
        (2, "Crawls over quota", 500),
    ]
    assert invoice.total == 10_500
    assert db.get(Transaction, invoice.issue_transaction_id or "") is None  # a draft posts nothing


@pytest.mark.parametrize(
    ("changes", "error", "message"),
    [
        ({"currency": "ZZZ"}, InvalidInput, "ISO 4217"),
        ({"licensee_org_id": "org_missing"}, NotFound, "no licensee"),
        ({"period_start": date(2026, 2, 1)}, InvalidInput, "ends .* before it starts"),
        ({"source_type": "deal:x"}, InvalidInput, "source type"),
        ({"source_id": ""}, InvalidInput, "source id"),
    ],
)
def test_create_invoice_refuses_bad_input(db: Session, org: LicenseeOrg, changes, error, message) -> None:
    arguments = {
        "licensee_org_id": org.id,
        "currency": "USD",
        "source_type": "deal",
        "source_id": "del_1",
        "period_start": JAN[0],
        "period_end": JAN[1],
        **changes,
    }
    with pytest.raises(error, match=message):
        create_invoice(db, **arguments)
    db.rollback()


def test_issue_posts_receivable_against_the_pool(db: Session, org: LicenseeOrg) -> None:
    invoice = _invoice(db, org)
    db.commit()
    issued = issue_invoice(db, invoice, idempotency_key="issue-1", due_on=date(2026, 2, 28))
    db.commit()
    assert issued.status == InvoiceStatus.ISSUED and issued.due_on == date(2026, 2, 28)
    assert issued.issued_at is not None
    receivable = get_account(db, f"receivable:{org.id}", "USD")
    pool = get_account(db, pool_code("deal", "del_1", *JAN), "USD")
    assert pool.code == "pool:deal:del_1:2026-01-01/2026-01-31"
    assert balance(db, receivable) == 150_000
    assert owed(db, pool) == 150_000
    assert receivable.licensee_org_id == org.id


def test_issue_is_idempotent_and_once(db: Session, org: LicenseeOrg) -> None:
    invoice = _invoice(db, org)
    issue_invoice(db, invoice, idempotency_key="issue-1")
    db.commit()
    again = issue_invoice(db, invoice.id, idempotency_key="issue-1")  # replay: same result, no posting
    db.commit()
    assert again.status == InvoiceStatus.ISSUED
    assert owed(db, get_account(db, pool_code("deal", "del_1", *JAN), "USD")) == 150_000
    with pytest.raises(InvoiceStateError, match="already issued"):
        issue_invoice(db, invoice, idempotency_key="issue-2")
    db.rollback()
    with pytest.raises(IdempotencyKeyReused):
        issue_invoice(db, invoice, idempotency_key="issue-1", due_on=date(2027, 1, 1))
    db.rollback()


def test_issued_invoice_takes_no_new_lines(db: Session, org: LicenseeOrg) -> None:
    invoice = _invoice(db, org)
    issue_invoice(db, invoice, idempotency_key="k")
    db.commit()
    with pytest.raises(InvoiceStateError, match="only a draft"):
        add_line(db, invoice, InvoiceLineDraft("more", 1, 1))


def test_an_empty_invoice_is_not_issued(db: Session, org: LicenseeOrg) -> None:
    invoice = create_invoice(
        db,
        licensee_org_id=org.id,
        currency="USD",
        source_type="deal",
        source_id="del_1",
        period_start=JAN[0],
        period_end=JAN[1],
    )
    db.commit()
    with pytest.raises(InvalidInput, match="nothing to charge"):
        issue_invoice(db, invoice, idempotency_key="k")
    db.rollback()


def test_void_reverses_the_issue(db: Session, org: LicenseeOrg) -> None:
    invoice = _invoice(db, org)
    issue_invoice(db, invoice, idempotency_key="k1")
    db.commit()
    voided = void_invoice(db, invoice, reason="wrong period", idempotency_key="k2")
    db.commit()
    assert voided.status == InvoiceStatus.VOID and voided.void_reason == "wrong period"
    assert balance(db, get_account(db, f"receivable:{org.id}", "USD")) == 0
    assert owed(db, get_account(db, pool_code("deal", "del_1", *JAN), "USD")) == 0
    with pytest.raises(InvoiceStateError, match="already void"):
        void_invoice(db, invoice, reason="again", idempotency_key="k3")
    db.rollback()
    with pytest.raises(InvalidInput, match="say why"):
        void_invoice(db, invoice, reason=" ", idempotency_key="k4")


def test_invoice_by_reference_and_licensee_view(db: Session, org: LicenseeOrg) -> None:
    draft = _invoice(db, org, source="del_draft")
    issued = _invoice(db, org)
    issue_invoice(db, issued, idempotency_key="k")
    db.commit()
    assert invoice_by_reference(db, issued.reference.lower().replace("-", " - ")).id == issued.id
    with pytest.raises(NotFound):
        invoice_by_reference(db, "FT-NOPE")
    assert [i.id for i in licensee_invoices(db, org.id)] == [issued.id]  # drafts are not shown
    assert licensee_invoices(db, org.id, status="paid") == []
    assert draft.status == InvoiceStatus.DRAFT
