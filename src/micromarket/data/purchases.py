"""Purchase lines: the view of the transaction log that profiles, segments, local markets and offers read."""

from __future__ import annotations

import ibis.expr.types as ir


#: Category of lines whose product is missing from the catalogue or has no category.
UNKNOWN_CATEGORY = "(unknown)"


def customer_purchases(transactions: ir.Table) -> ir.Table:
    """Purchase lines of known customers: returns, cancellations and anonymous sales left out."""
    return transactions.filter(transactions.customer_id.notnull(), ~transactions.is_return.fill_null(False))


__all__ = ["customer_purchases", "UNKNOWN_CATEGORY"]
