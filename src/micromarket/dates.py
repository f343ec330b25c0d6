"""Day boundaries shared by the stages: a day as a timestamp, and the day the data ends."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

import ibis
import pandas as pd

from .exceptions import SchemaError

if TYPE_CHECKING:
    from .workspace import Workspace


def day_start(day: dt.date) -> ibis.Value:
    """Midnight at the start of ``day`` as an Ibis timestamp: ``ts < day_start(d)`` keeps what
    happened before ``d``, and comparing timestamps is cheaper than casting each to a date."""
    return ibis.timestamp(dt.datetime.combine(day, dt.time()))


def day_after_last_transaction(ws: "Workspace") -> dt.date:
    """The day after the last transaction: features taken then describe everything known."""
    last = ws.table("transactions").ts.max().execute()
    if last is None or pd.isna(last):
        raise SchemaError("no transactions: this stage needs purchase history")
    return pd.Timestamp(last).date() + dt.timedelta(days=1)


__all__ = ["day_start", "day_after_last_transaction"]
