"""Layer 2: the double-entry ledger — accounts and journal, idempotency keys, invoices and payments,
distribution runs, payouts and statements. See docs/ledger.md for the posting scheme.

The licensing layer above drives it: it turns deal terms into invoice lines and distribution weights; this
package never imports licensing.
"""

from fairtrain.ledger.distribution import (
    CreatorShare,
    DistributionPlan,
    Payee,
    asset_splits,
    mix_weights,
    payee_weights,
    plan_distribution,
    run_distribution,
)
from fairtrain.ledger.idempotency import fingerprint, idempotent
from fairtrain.ledger.invoices import (
    InvoiceLineDraft,
    add_line,
    create_invoice,
    get_invoice,
    invoice_by_reference,
    issue_invoice,
    licensee_invoices,
    line_amount,
    pool_code,
    void_invoice,
)
from fairtrain.ledger.journal import (
    TrialBalance,
    balance,
    check_integrity,
    get_account,
    owed,
    post,
    reverse,
    trial_balance,
)
from fairtrain.ledger.payments import (
    ManualProvider,
    PaymentEvent,
    PaymentInstructions,
    PaymentProvider,
    apply_payment_event,
    record_payment,
)
from fairtrain.ledger.payouts import (
    create_payout_batch,
    get_payout,
    mark_payout_failed,
    mark_payout_sent,
    payouts_csv,
)
from fairtrain.ledger.statements import Statement, creator_statement, statement_csv, statement_pdf

__all__ = [
    "CreatorShare",
    "DistributionPlan",
    "InvoiceLineDraft",
    "ManualProvider",
    "Payee",
    "PaymentEvent",
    "PaymentInstructions",
    "PaymentProvider",
    "Statement",
    "TrialBalance",
    "add_line",
    "apply_payment_event",
    "asset_splits",
    "balance",
    "check_integrity",
    "create_invoice",
    "create_payout_batch",
    "creator_statement",
    "fingerprint",
    "get_account",
    "get_invoice",
    "get_payout",
    "idempotent",
    "invoice_by_reference",
    "issue_invoice",
    "licensee_invoices",
    "line_amount",
    "mark_payout_failed",
    "mark_payout_sent",
    "mix_weights",
    "owed",
    "payee_weights",
    "payouts_csv",
    "plan_distribution",
    "pool_code",
    "post",
    "record_payment",
    "reverse",
    "run_distribution",
    "statement_csv",
    "statement_pdf",
    "trial_balance",
    "void_invoice",
]
