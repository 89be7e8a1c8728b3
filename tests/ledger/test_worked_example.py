"""The worked example of docs/ledger.md, posted for real: the page's numbers are the ledger's."""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction

from sqlalchemy.orm import Session

from fairtrain.accounts.models import CreatorProfile, LicenseeOrg
from fairtrain.ledger.distribution import Payee, mix_weights, run_distribution
from fairtrain.ledger.invoices import InvoiceLineDraft, create_invoice, issue_invoice
from fairtrain.ledger.journal import trial_balance
from fairtrain.ledger.payments import ManualProvider, record_payment
from fairtrain.ledger.payouts import create_payout_batch, mark_payout_sent
from fairtrain.money import format_amount
from tests.ledger.money_flow import JAN


def test_the_documented_example(
    db: Session, org: LicenseeOrg, make_creator: Callable[..., CreatorProfile]
) -> None:
    ana, ben, cy = (make_creator(handle) for handle in ("ana", "ben", "cy"))
    invoice = create_invoice(
        db,
        licensee_org_id=org.id,
        currency="USD",
        source_type="deal",
        source_id="del_7",
        period_start=JAN[0],
        period_end=JAN[1],
        lines=[InvoiceLineDraft("Flat fee", 1, 1_000_000_000), InvoiceLineDraft("Crawls", 12_345, 15_000)],
    )
    assert [line.amount for line in invoice.lines] == [100_000, 18_518]
    issue_invoice(db, invoice, idempotency_key="issue")
    record_payment(
        db,
        invoice,
        amount=118_518,
        fee=250,
        provider=ManualProvider(),
        external_id="TRX-88",
        idempotency_key="pay",
    )
    weights = mix_weights(
        {ana.id: 40, ben.id: 10, cy.id: 50}, {ana.id: 600, ben.id: 300, cy.id: 100}, Fraction(7, 10)
    )
    assert weights == {ana.id: Fraction(23, 50), ben.id: Fraction(4, 25), cy.id: Fraction(19, 50)}
    jo = Payee.outside("Jo Park")
    assert jo.account_code == "payable:holder:2747c991123e6da65f06b944"
    run = run_distribution(
        db,
        source_type="deal",
        source_id="del_7",
        period_start=JAN[0],
        period_end=JAN[1],
        currency="USD",
        fee_bp=1_500,
        weights=weights,
        splits={ana.id: {Payee.creator(ana.id): 3, jo: 1}},
        idempotency_key="run",
    )
    shares = {s.creator_id: (s.gross, s.fee, s.net) for s in run.shares}
    assert shares == {
        ana.id: (54_518, 8_177, 46_341),
        ben.id: (18_963, 2_844, 16_119),
        cy.id: (45_037, 6_755, 38_282),
    }
    assert {p.account.code: p.amount for p in run.payees} == {
        f"payable:{ana.id}": 34_756,
        jo.account_code: 11_585,
        f"payable:{ben.id}": 16_119,
        f"payable:{cy.id}": 38_282,
    }
    batch = create_payout_batch(db, currency="USD", minimum=20_000, idempotency_key="batch")
    assert sorted(p.amount for p in batch.payouts) == [34_756, 38_282] and batch.total == 73_038
    for payout in batch.payouts:
        mark_payout_sent(db, payout, idempotency_key=f"sent-{payout.id}")
    db.commit()
    balances = {row.code: format_amount(row.balance, "USD") for row in trial_balance(db).rows if row.balance}
    assert balances == {
        "cash:bank": "452.30 USD",
        "fees:processor": "2.50 USD",
        "platform:revenue": "-177.76 USD",
        f"payable:{ben.id}": "-161.19 USD",
        jo.account_code: "-115.85 USD",
    }
