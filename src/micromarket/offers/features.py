"""Which customer features a model can use, when optional inputs may be missing or empty.

Several features come from optional columns: the share of lines bought in a store needs the
transactions' ``channel``, age needs the customers' ``birth_year``, the discount share needs
``discount``. Data without them give a feature that is empty for every customer, which
gradient boosting cannot even bin ("window shape cannot be larger than input array shape"),
or one with the same value for everyone (no discount ever recorded), which carries nothing a
model could split on and only hides that an input is missing. Both are left out, and the
caller gets one note that names them, where each comes from and how to supply it.

A feature that is missing for some customers only is kept: gradient boosting sends missing
values down their own branch, and "never bought the target" is information.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..exceptions import SchemaError

#: Where each feature comes from, named in the note that says why it was left out.
SOURCES = {
    "frequency": "transactions",
    "recency": "transactions",
    "T": "transactions",
    "monetary_value": "transactions.amount",
    "discount_share": "transactions.discount",
    "store_share": "transactions.channel ('store' lines)",
    "lines_per_invoice": "transactions.invoice_id",
    "age": "customers.birth_year",
    "target_lines": "purchases of the target",
    "target_days_since": "purchases of the target",
    "target_spend_share": "purchases of the target",
}


def usable_features(frame: pd.DataFrame, columns: list[str] | tuple[str, ...], who: str = "customer"
                    ) -> tuple[list[str], str | None]:
    """The ``columns`` of ``frame`` a model can learn from, and a note on those left out.

    Parameters
    ----------
    frame : DataFrame
        One row per customer (the training rows: what the model learns from decides).
    columns : sequence of str
        Candidate feature columns, in model order.
    who : str
        What a row is, for the note (``customer``, ``campaign member``).

    Returns
    -------
    kept : list of str
        Columns with at least two distinct values, or some values and some missing.
    note : str or None
        One sentence naming each column left out and why; ``None`` when all are kept.

    Raises
    ------
    SchemaError
        When no column is left (every feature empty or constant).
    """
    kept, dropped = [], []
    for column in columns:
        values = frame[column].to_numpy(dtype=float)
        present = values[~np.isnan(values)]
        source = SOURCES.get(column, column)
        if not present.size:
            dropped.append(f"{column} (empty for every {who}; it needs {source})")
        elif present.size == values.size and present.min() == present.max():
            dropped.append(f"{column} ({present[0]:g} for every {who}; it comes from {source})")
        else:
            kept.append(column)
    if not kept:
        raise SchemaError(f"no feature varies across the {len(frame):,} {who}s, so there is nothing to learn from: "
                          + "; ".join(dropped))
    note = f"left out of the model: {'; '.join(dropped)}" if dropped else None
    return kept, note


__all__ = ["usable_features", "SOURCES"]
