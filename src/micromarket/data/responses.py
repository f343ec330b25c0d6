"""Response windows: whether a contacted customer bought within N days of being contacted."""

from __future__ import annotations

from typing import Sequence

import ibis
import ibis.expr.types as ir

from .purchases import customer_purchases


def bought_within(contacts: ir.Table, transactions: ir.Table, days: int,
                  keys: Sequence[str] = ("customer_id", "assigned_at")) -> ir.Table:
    """Each contact (``customer_id``, ``assigned_at`` and any other ``keys``) with ``bought``: whether
    the customer made a purchase from ``assigned_at`` up to ``days`` days after it, and ``spend``:
    what those purchases came to (0 without any).

    Contacts with the same ``keys`` are one row; the window is open at its end (a purchase exactly
    ``days`` days later counts for the next window, not this one). Offers learn from it which
    channel customers respond to, and uplift models what a past campaign's members did.
    """
    lines = customer_purchases(transactions).select(buyer="customer_id", bought_at="ts", amount="amount")
    window = [contacts.customer_id == lines.buyer, lines.bought_at >= contacts.assigned_at,
              lines.bought_at < contacts.assigned_at + ibis.interval(days=int(days))]
    joined = contacts.left_join(lines, window)
    return joined.group_by(list(keys)).aggregate(bought=joined.bought_at.count() > 0,
                                                 spend=joined.amount.sum().fill_null(0.0))


__all__ = ["bought_within"]
