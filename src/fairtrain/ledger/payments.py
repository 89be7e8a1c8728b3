"""Payments of invoices: a provider interface, the manual (bank transfer) provider, and ``record_payment``.

A payment of ``amount`` of which the provider kept ``fee`` posts:

    Dr cash:<provider>        amount − fee
    Dr fees:processor         fee
    Cr receivable:<org_id>    the part that settles the invoice (at most what is still due)
    Cr credit:<org_id>        any over-payment, owed back to the licensee (refund or apply later)

A partial payment leaves the invoice issued with less due; the payment that settles the rest marks it paid.
A paid, draft or void invoice takes no payment. The invoice row is locked (``SELECT … FOR UPDATE``) while a
payment is recorded, so concurrent payments on PostgreSQL are applied one after the other and never pay an
invoice twice; SQLite lets one writer in at a time.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Protocol, runtime_checkable

from sqlalchemy import select
from sqlalchemy.orm import Session

from fairtrain.db.base import utcnow
from fairtrain.errors import InvalidInput
from fairtrain.ledger.errors import AlreadyPosted, InvoiceNotPayable
from fairtrain.ledger.idempotency import fingerprint, idempotent
from fairtrain.ledger.invoices import lock_invoice, receivable_code
from fairtrain.ledger.journal import CASH_BANK, PROCESSOR_FEES, get_account, post
from fairtrain.ledger.models import Account, Invoice, InvoiceStatus, Payment
from fairtrain.money import MAX_MINOR_UNITS, check_currency, format_amount

__all__ = [
    "ManualProvider",
    "PaymentEvent",
    "PaymentInstructions",
    "PaymentProvider",
    "apply_payment_event",
    "credit_code",
    "receipt_legs",
    "record_payment",
]


@dataclass(frozen=True)
class PaymentInstructions:
    """How a licensee pays an invoice: text to show, and the details a form or e-mail needs."""

    provider: str
    invoice_id: str
    reference: str
    amount: int
    currency: str
    text: str
    details: dict[str, str] = field(default_factory=dict)
    url: str | None = None  # a hosted checkout page, for providers that have one


@dataclass(frozen=True)
class PaymentEvent:
    """A provider's notice that money arrived for an invoice, parsed and verified."""

    provider: str
    external_id: str
    invoice_id: str
    amount: int
    currency: str
    fee: int = 0
    received_at: datetime | None = None


@runtime_checkable
class PaymentProvider(Protocol):
    """What fairtrain needs from a way of getting paid (a bank account, a card processor...)."""

    @property
    def name(self) -> str:
        """Short stable name, e.g. ``manual``; payments are unique per (name, external id)."""
        ...

    @property
    def cash_account(self) -> str:
        """The ledger account money lands in, e.g. ``cash:bank``."""
        ...

    def instructions(self, invoice: Invoice) -> PaymentInstructions:
        """How to pay this invoice."""
        ...

    def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> PaymentEvent:
        """Verify a webhook's signature and turn it into a payment event; ``InvalidInput`` if it is not."""
        ...


def receipt_legs(
    session: Session, provider: PaymentProvider, *, amount: int, fee: int, currency: str
) -> list[tuple[Account, int]]:
    """The debit side of money received through ``provider``: ``amount − fee`` into its cash account and
    what it kept into ``fees:processor`` (the caller adds the credits it settles)."""
    legs: list[tuple[Account, int]] = []
    if amount - fee:
        legs.append((get_account(session, provider.cash_account, currency), amount - fee))
    if fee:
        legs.append((get_account(session, PROCESSOR_FEES, currency), fee))
    return legs


@dataclass(frozen=True)
class ManualProvider:
    """Bank transfer quoting the invoice's reference; an operator records the payment when it arrives."""

    account_holder: str = ""
    iban: str = ""
    bic: str = ""
    bank_name: str = ""
    name: str = "manual"
    cash_account: str = CASH_BANK

    def transfer(
        self, *, amount: int, currency: str, reference: str, due_on: date | None = None
    ) -> tuple[str, dict[str, str]]:
        """How to pay ``amount`` by bank transfer, as a sentence and as the details a form needs: what an
        invoice's instructions say, and a fan's monthly subscription payment's."""
        details = {
            key: value
            for key, value in (
                ("account holder", self.account_holder),
                ("IBAN", self.iban),
                ("BIC", self.bic),
                ("bank", self.bank_name),
                ("reference", reference),
            )
            if value
        }
        payee = f" to {self.account_holder}" if self.account_holder else ""
        account = f" (IBAN {self.iban}{', BIC ' + self.bic if self.bic else ''})" if self.iban else ""
        by = f" by {due_on.isoformat()}" if due_on else ""
        amount_text = format_amount(amount, currency)
        text = f"Transfer {amount_text}{payee}{account}{by}, quoting the reference {reference}."
        return text, details

    def instructions(self, invoice: Invoice) -> PaymentInstructions:
        due = invoice.balance_due
        text, details = self.transfer(
            amount=due, currency=invoice.currency, reference=invoice.reference, due_on=invoice.due_on
        )
        return PaymentInstructions(
            provider=self.name,
            invoice_id=invoice.id,
            reference=invoice.reference,
            amount=due,
            currency=invoice.currency,
            text=text,
            details=details,
        )

    def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> PaymentEvent:
        raise InvalidInput(
            "bank transfers have no webhook; an operator records them with the invoice reference"
        )


def credit_code(licensee_org_id: str) -> str:
    return f"credit:{licensee_org_id}"


def record_payment(
    session: Session,
    invoice: Invoice | str,
    *,
    amount: int,
    provider: PaymentProvider,
    external_id: str,
    idempotency_key: str,
    fee: int = 0,
    received_at: datetime | None = None,
) -> Payment:
    """Record money received for an invoice (in its currency, minor units) and post it; once per key."""
    invoice_id = invoice if isinstance(invoice, str) else invoice.id
    _check_amounts(amount, fee)
    external_id = external_id.strip()
    if not external_id or len(external_id) > 200:
        raise InvalidInput("a payment needs the provider's id for it (1 to 200 characters)")

    def run() -> dict[str, Any]:
        locked = lock_invoice(session, invoice_id)
        if locked.status == InvoiceStatus.PAID:
            raise InvoiceNotPayable(f"invoice {locked.reference} is already paid")
        if locked.status != InvoiceStatus.ISSUED:
            raise InvoiceNotPayable(
                f"invoice {locked.reference} is {locked.status}; only issued invoices are paid"
            )
        duplicate = session.scalar(
            select(Payment.id).where(Payment.provider == provider.name, Payment.external_id == external_id)
        )
        if duplicate is not None:
            raise AlreadyPosted(f"{provider.name} payment {external_id} is already recorded as {duplicate}")
        applied = min(amount, locked.balance_due)
        excess = amount - applied
        org_id, currency = locked.licensee_org_id, locked.currency
        legs = receipt_legs(session, provider, amount=amount, fee=fee, currency=currency)
        if applied:
            legs.append(
                (get_account(session, receivable_code(org_id), currency, licensee_org_id=org_id), -applied)
            )
        if excess:
            legs.append(
                (get_account(session, credit_code(org_id), currency, licensee_org_id=org_id), -excess)
            )
        transaction = post(
            session,
            kind="payment",
            legs=legs,
            memo=f"{provider.name} payment {external_id} for invoice {locked.reference}",
            idempotency_key=f"payment:{provider.name}:{external_id}",
            ref_type="invoice",
            ref_id=locked.id,
        )
        payment = Payment(
            invoice_id=locked.id,
            provider=provider.name,
            external_id=external_id,
            currency=currency,
            amount=amount,
            fee=fee,
            applied=applied,
            excess=excess,
            received_at=received_at or utcnow(),
            transaction_id=transaction.id,
        )
        session.add(payment)
        locked.amount_paid += applied
        if locked.amount_paid >= locked.total:
            locked.status = InvoiceStatus.PAID
            locked.paid_at = payment.received_at
        session.flush()
        return {"payment_id": payment.id}

    result = idempotent(
        session,
        key=idempotency_key,
        scope="ledger.payment",
        fingerprint=fingerprint(
            invoice=invoice_id, amount=amount, fee=fee, provider=provider.name, external_id=external_id
        ),
        fn=run,
    )
    payment = session.get(Payment, result["payment_id"])
    assert payment is not None
    return payment


def apply_payment_event(session: Session, provider: PaymentProvider, event: PaymentEvent) -> Payment:
    """Record a webhook's payment; a redelivered event returns the payment it made the first time."""
    if event.provider != provider.name:
        raise InvalidInput(f"a {event.provider} event cannot be applied by the {provider.name} provider")
    invoice = session.get(Invoice, event.invoice_id)
    if invoice is None:
        raise InvalidInput(f"the {provider.name} event {event.external_id} names no known invoice")
    if check_currency(event.currency) != invoice.currency:
        raise InvalidInput(
            f"the payment is in {event.currency} but invoice {invoice.reference} is in {invoice.currency}"
        )
    return record_payment(
        session,
        invoice.id,
        amount=event.amount,
        fee=event.fee,
        provider=provider,
        external_id=event.external_id,
        received_at=event.received_at,
        idempotency_key=f"{provider.name}:{event.external_id}",
    )


def _check_amounts(amount: int, fee: int) -> None:
    for value, what in ((amount, "amount"), (fee, "fee")):
        if isinstance(value, bool) or not isinstance(value, int):
            raise InvalidInput(f"the payment {what} must be integer minor units, got {value!r}")
    if amount <= 0 or amount > MAX_MINOR_UNITS:
        raise InvalidInput(f"a payment amount must be positive and not absurd, got {amount}")
    if fee < 0 or fee > amount:
        raise InvalidInput(f"a processor fee is between 0 and the amount paid, got {fee}")
