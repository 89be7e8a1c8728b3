from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from fairtrain.accounts.models import LicenseeOrg
from fairtrain.db.engine import transaction
from fairtrain.errors import InvalidInput
from fairtrain.ledger.errors import AlreadyPosted, InvoiceNotPayable
from fairtrain.ledger.invoices import InvoiceLineDraft, create_invoice, issue_invoice
from fairtrain.ledger.journal import balance, get_account, owed
from fairtrain.ledger.models import Invoice, InvoiceStatus, Payment
from fairtrain.ledger.payments import (
    ManualProvider,
    PaymentEvent,
    PaymentInstructions,
    PaymentProvider,
    apply_payment_event,
    record_payment,
)

BANK = ManualProvider(account_holder="Fairtrain Coop", iban="DE89370400440532013000", bic="COBADEFFXXX")


def _issued(db: Session, org: LicenseeOrg, total_micros: int = 1_000_000_000) -> Invoice:
    invoice = create_invoice(
        db,
        licensee_org_id=org.id,
        currency="USD",
        source_type="deal",
        source_id="del_1",
        period_start=date(2026, 1, 1),
        period_end=date(2026, 1, 31),
        lines=[InvoiceLineDraft("Licence", 1, total_micros)],
    )
    issue_invoice(db, invoice, idempotency_key=f"issue-{invoice.id}", due_on=date(2026, 2, 15))
    db.commit()
    return invoice


def test_manual_provider_instructions_quote_the_reference(db: Session, org: LicenseeOrg) -> None:
    invoice = _issued(db, org)
    assert isinstance(BANK, PaymentProvider)
    instructions = BANK.instructions(invoice)
    assert isinstance(instructions, PaymentInstructions)
    assert instructions.amount == 100_000 and instructions.reference == invoice.reference
    assert instructions.text == (
        "Transfer 1000.00 USD to Fairtrain Coop (IBAN DE89370400440532013000, BIC COBADEFFXXX) "
        f"by 2026-02-15, quoting the reference {invoice.reference}."
    )
    with pytest.raises(InvalidInput, match="no webhook"):
        BANK.parse_webhook({}, b"{}")


def test_full_payment_posts_cash_fee_and_settles(db: Session, org: LicenseeOrg) -> None:
    invoice = _issued(db, org)
    payment = record_payment(
        db, invoice, amount=100_000, fee=2_900, provider=BANK, external_id="BANK-1", idempotency_key="p1"
    )
    db.commit()
    assert payment.id.startswith("pay_") and payment.applied == 100_000 and payment.excess == 0
    db.refresh(invoice)
    assert invoice.status == InvoiceStatus.PAID and invoice.paid_at is not None and invoice.balance_due == 0
    assert balance(db, get_account(db, "cash:bank", "USD")) == 97_100
    assert balance(db, get_account(db, "fees:processor", "USD")) == 2_900
    assert balance(db, get_account(db, f"receivable:{org.id}", "USD")) == 0


def test_partial_payments_then_settlement(db: Session, org: LicenseeOrg) -> None:
    invoice = _issued(db, org)
    record_payment(db, invoice, amount=40_000, provider=BANK, external_id="B-1", idempotency_key="p1")
    db.commit()
    db.refresh(invoice)
    assert invoice.status == InvoiceStatus.ISSUED and invoice.balance_due == 60_000
    assert BANK.instructions(invoice).amount == 60_000
    record_payment(db, invoice, amount=60_000, provider=BANK, external_id="B-2", idempotency_key="p2")
    db.commit()
    db.refresh(invoice)
    assert invoice.status == InvoiceStatus.PAID and invoice.amount_paid == 100_000


def test_over_payment_is_credited_to_the_licensee(db: Session, org: LicenseeOrg) -> None:
    invoice = _issued(db, org)
    payment = record_payment(
        db, invoice, amount=100_500, provider=BANK, external_id="B-1", idempotency_key="p"
    )
    db.commit()
    assert (payment.applied, payment.excess) == (100_000, 500)
    assert owed(db, get_account(db, f"credit:{org.id}", "USD")) == 500
    assert balance(db, get_account(db, f"receivable:{org.id}", "USD")) == 0


def test_a_paid_invoice_is_not_paid_twice(db: Session, org: LicenseeOrg) -> None:
    invoice = _issued(db, org)
    first = record_payment(
        db, invoice, amount=100_000, provider=BANK, external_id="B-1", idempotency_key="p1"
    )
    db.commit()
    # The same request again (a retry) returns the first payment and posts nothing.
    again = record_payment(
        db, invoice, amount=100_000, provider=BANK, external_id="B-1", idempotency_key="p1"
    )
    assert again.id == first.id
    with pytest.raises(InvoiceNotPayable, match="already paid"):
        record_payment(db, invoice, amount=100_000, provider=BANK, external_id="B-2", idempotency_key="p2")
    db.rollback()
    assert db.scalar(select(func.count()).select_from(Payment)) == 1
    assert balance(db, get_account(db, "cash:bank", "USD")) == 100_000


def test_the_same_bank_transfer_is_recorded_once(db: Session, org: LicenseeOrg) -> None:
    invoice = _issued(db, org)
    record_payment(db, invoice, amount=10_000, provider=BANK, external_id="B-1", idempotency_key="p1")
    db.commit()
    with pytest.raises(AlreadyPosted, match="already recorded"):
        record_payment(db, invoice, amount=10_000, provider=BANK, external_id="B-1", idempotency_key="p2")
    db.rollback()


@pytest.mark.parametrize(
    ("amount", "fee", "message"),
    [(0, 0, "positive"), (-5, 0, "positive"), (100, 101, "between 0 and the amount"), (10.5, 0, "integer")],
)
def test_bad_payment_amounts_are_refused(db: Session, org: LicenseeOrg, amount, fee, message) -> None:
    invoice = _issued(db, org)
    with pytest.raises(InvalidInput, match=message):
        record_payment(
            db, invoice, amount=amount, fee=fee, provider=BANK, external_id="B", idempotency_key="p"
        )


def test_drafts_and_void_invoices_take_no_payment(db: Session, org: LicenseeOrg) -> None:
    draft = create_invoice(
        db,
        licensee_org_id=org.id,
        currency="USD",
        source_type="deal",
        source_id="del_2",
        period_start=date(2026, 1, 1),
        period_end=date(2026, 1, 31),
        lines=[InvoiceLineDraft("x", 1, 1_000_000)],
    )
    db.commit()
    with pytest.raises(InvoiceNotPayable, match="is draft"):
        record_payment(db, draft, amount=100, provider=BANK, external_id="B", idempotency_key="p")
    db.rollback()


# --- a provider with webhooks, to show the protocol --------------------------------------------------


@dataclass(frozen=True)
class SignedWebhookProvider:
    """A card processor in miniature: HMAC-signed JSON webhooks."""

    secret: bytes = b"whsec_test"
    name: str = "cards"
    cash_account: str = "cash:cards"

    def instructions(self, invoice: Invoice) -> PaymentInstructions:
        return PaymentInstructions(
            self.name,
            invoice.id,
            invoice.reference,
            invoice.balance_due,
            invoice.currency,
            "Pay by card",
            url="x",
        )

    def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> PaymentEvent:
        expected = hmac.new(self.secret, body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(headers.get("signature", ""), expected):
            raise InvalidInput("webhook signature does not verify")
        data = json.loads(body)
        return PaymentEvent(
            self.name, data["id"], data["invoice"], data["amount"], data["currency"], data["fee"]
        )


def _webhook(provider: SignedWebhookProvider, **data) -> tuple[dict[str, str], bytes]:
    body = json.dumps(data).encode()
    return {"signature": hmac.new(provider.secret, body, hashlib.sha256).hexdigest()}, body


def test_webhook_events_pay_once_even_when_redelivered(db: Session, org: LicenseeOrg) -> None:
    cards = SignedWebhookProvider()
    invoice = _issued(db, org)
    headers, body = _webhook(cards, id="ch_1", invoice=invoice.id, amount=100_000, currency="USD", fee=3_200)
    event = cards.parse_webhook(headers, body)
    first = apply_payment_event(db, cards, event)
    db.commit()
    second = apply_payment_event(db, cards, cards.parse_webhook(headers, body))
    db.commit()
    assert first.id == second.id
    assert balance(db, get_account(db, "cash:cards", "USD")) == 96_800
    with pytest.raises(InvalidInput, match="signature"):
        cards.parse_webhook({"signature": "forged"}, body)


def test_webhook_in_another_currency_is_refused(db: Session, org: LicenseeOrg) -> None:
    cards = SignedWebhookProvider()
    invoice = _issued(db, org)
    event = PaymentEvent("cards", "ch_2", invoice.id, 100_000, "EUR")
    with pytest.raises(InvalidInput, match="in EUR but invoice"):
        apply_payment_event(db, cards, event)
    with pytest.raises(InvalidInput, match="cannot be applied"):
        apply_payment_event(db, BANK, event)


# --- concurrency ---------------------------------------------------------------------------------------


def test_concurrent_payments_pay_an_invoice_exactly_once(
    db: Session, db_factory: sessionmaker[Session], org: LicenseeOrg
) -> None:
    """Workers, each on its own connection, race to pay the same invoice in full: one wins."""
    invoice = _issued(db, org)
    workers = 6
    barrier = threading.Barrier(workers)
    outcomes: list[str] = []
    lock = threading.Lock()

    def pay(n: int) -> None:
        barrier.wait()
        try:
            with transaction(db_factory) as session:
                record_payment(
                    session,
                    invoice.id,
                    amount=100_000,
                    provider=BANK,
                    external_id=f"B-{n}",
                    idempotency_key=f"race-{n}",
                )
            outcome = "paid"
        except InvoiceNotPayable:
            outcome = "refused"
        except OperationalError as error:  # SQLite: "database is locked" for a writer that lost the race
            outcome = "refused" if "locked" in str(error) else f"failed: {error}"
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=pay, args=(n,)) for n in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["paid"] + ["refused"] * (workers - 1)
    db.expire_all()
    assert db.scalar(select(func.count()).select_from(Payment)) == 1
    assert balance(db, get_account(db, "cash:bank", "USD")) == 100_000
    assert db.get(Invoice, invoice.id).status == InvoiceStatus.PAID
