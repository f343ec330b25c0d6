"""Shared views of the data that several stages read: purchase lines, response windows."""

from .keys import among
from .purchases import UNKNOWN_CATEGORY, customer_purchases
from .responses import bought_within

__all__ = ["among", "customer_purchases", "bought_within", "UNKNOWN_CATEGORY"]
