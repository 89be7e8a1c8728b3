"""Layer 2: double-entry ledger, invoices and payments, distribution runs, payouts, statements."""
