"""Named errors of the ledger package."""

from __future__ import annotations

from fairtrain.errors import Conflict, InvalidInput, NotFound

__all__ = [
    "AlreadyPosted",
    "AlreadyReversed",
    "IdempotencyKeyReused",
    "InvoiceNotPayable",
    "InvoiceStateError",
    "MissingIdempotencyKey",
    "PayoutStateError",
    "PoolAlreadyDistributed",
    "PoolNotSettled",
    "RequestInProgress",
    "UnbalancedTransaction",
    "UnknownInvoice",
    "UnknownPayout",
    "UnknownTransaction",
]


class UnbalancedTransaction(InvalidInput):
    code = "unbalanced_transaction"


class AlreadyPosted(Conflict):
    code = "already_posted"


class AlreadyReversed(Conflict):
    code = "already_reversed"


class MissingIdempotencyKey(InvalidInput):
    code = "idempotency_key_required"


class IdempotencyKeyReused(Conflict):
    """The same key came with a different request."""

    code = "idempotency_key_reused"


class RequestInProgress(Conflict):
    """Another request with the same key is being processed right now; retry it."""

    code = "request_in_progress"


class UnknownTransaction(NotFound):
    code = "unknown_transaction"


class UnknownInvoice(NotFound):
    code = "unknown_invoice"


class InvoiceStateError(Conflict):
    """The invoice is not in a state that allows the operation (e.g. editing an issued invoice)."""

    code = "invoice_state"


class InvoiceNotPayable(Conflict):
    """The invoice is a draft, void, or already paid."""

    code = "invoice_not_payable"


class PoolNotSettled(Conflict):
    """A pool cannot be distributed while invoices feeding it are unpaid."""

    code = "pool_not_settled"


class PoolAlreadyDistributed(Conflict):
    code = "pool_already_distributed"


class UnknownPayout(NotFound):
    code = "unknown_payout"


class PayoutStateError(Conflict):
    code = "payout_state"
