"""Presets: mapping and options for known public datasets, so one flag loads them right.

A preset is plain data: the target table, the column mapping (canonical -> source),
attributes the file carries for other tables (``side``), reader options and rule
overrides. ``docs/how-to/ingest.md`` describes each.
"""

from __future__ import annotations

from ..exceptions import ConfigError

PRESETS: dict[str, dict] = {
    "online-retail": {
        "description": "UCI Online Retail (UK gift retailer, 2010-12-01 .. 2011-12-09): invoice lines; "
        "invoices starting with C are cancellations; CustomerID written as a float; non-product codes "
        "such as POST, DOT and BANK CHARGES.",
        "table": "transactions",
        "mapping": {
            "invoice_id": "InvoiceNo",
            "product_id": "StockCode",
            "quantity": "Quantity",
            "ts": "InvoiceDate",
            "unit_price": "UnitPrice",
            "customer_id": "CustomerID",
        },
        "side": {"customers": {"country": "Country"}, "products": {"name": "Description"}},
        "options": {"delimiter": ",", "header": True, "cancellation_prefix": "C", "channel": "web",
                    # Postage, manual entries, discounts, carriage, charity, pads, fees, bad-debt adjustments, samples.
                    "non_product_codes": ["POST", "DOT", "M", "D", "C2", "CRUK", "PADS", "BANK CHARGES",
                                          "AMAZONFEE", "B", "S"]},
        "rules": {"exact_duplicate": "exclude"},
    },
    "cdnow": {
        "description": "CDNOW master file (Fader & Hardie): whitespace-separated customer id, date "
        "(YYYYMMDD), number of CDs, dollar value; one row per purchase. Exact duplicate rows are real "
        "same-day orders and are kept.",
        "table": "transactions",
        "mapping": {
            "customer_id": "customer_id",
            "ts": "date",
            "quantity": "number_of_cds",
            "amount": "dollar_value",
        },
        "side": {},
        # The original file has no header; the copy in lifetimes added one. Both load.
        "options": {"format": "whitespace", "columns": ["customer_id", "date", "number_of_cds", "dollar_value"],
                    "header": None, "date_format": "%Y%m%d", "channel": "mail"},
        "rules": {"exact_duplicate": "keep", "zero_price": "keep"},
    },
}


def get_preset(name: str | None) -> dict:
    """Return the preset called ``name`` (an empty preset for ``None``).

    Raises
    ------
    ConfigError
        If no preset has that name.
    """
    if name is None:
        return {"mapping": {}, "side": {}, "options": {}, "rules": {}}
    try:
        return PRESETS[name]
    except KeyError:
        raise ConfigError(f"unknown preset {name!r}; presets: {', '.join(PRESETS)}") from None
