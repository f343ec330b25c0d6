"""What customers say through their signed links: one-click unsubscribe and the preference centre
(channels, frequency, interests). Each change is one unit: the ``customer_preferences`` row (with
the consent they stated, which wins over the loaded ``customers`` columns wherever the send rules
read consent: a later load of the customers file cannot undo it), the suppression of an
unsubscribe, and the audit row."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
from typing import TYPE_CHECKING

import pyarrow as pa

from ..access.audit import audit_write
from ..exceptions import NotFoundError, SchemaError
from ..offers.levers import consent_column
from ..storage.base import Output, Write, arrow_schema
from .links import link_key
from .rules import FREQUENCY_DAYS
from .suppression import customer_keys, region_of, suppression_rows, suppressions_output

if TYPE_CHECKING:
    from ..workspace import Workspace

FREQUENCIES = ("any", *FREQUENCY_DAYS)
#: The consent columns the preference centre shows, by the channel a customer recognises.
CHANNEL_CONSENT = {"email": "consent_email", "sms": "consent_sms", "post": "consent_post"}
MAX_INTERESTS = 12


def customer_pseudonym(ws: "Workspace", customer_id: str) -> str:
    """How the audit log names a customer who acted through a link: a keyed hash, not the id."""
    return "customer:" + hmac.new(link_key(ws.root), customer_id.encode(), hashlib.sha256).hexdigest()[:16]


def unsubscribe(ws: "Workspace", customer_id: str, channel: str) -> None:
    """Unsubscribe ``customer_id`` from ``channel``: their id, e-mail address and phone suppressed
    there (the same address on another customer record is not written to either), and their
    consent stated as no."""
    contact = _known(ws, customer_id, [c for c in ("email", "phone", "country") if c in ws.table("customers").columns])
    settings = ws.config.get("channels", {}).get(channel, {})
    column = consent_column(channel, settings)
    region = region_of(contact.get("country"), settings.get("default_region"))
    keys = sorted(customer_keys(customer_id, contact, region))
    writes = [*suppressions_output(suppression_rows([(kind, value, channel, "unsubscribed") for kind, value in keys],
                                                    "unsubscribe link")).writes,
              audit_write(customer_pseudonym(ws, customer_id), "customer.unsubscribe", channel, {})]
    if column in CHANNEL_CONSENT.values():
        writes.insert(0, _preferences_write(ws, customer_id, {column: False}))
    ws.storage.apply(Output(writes))


def preferences(ws: "Workspace", customer_id: str) -> dict:
    """The customer's current choices: consent per channel (as stated, else as loaded), frequency,
    interests, and the categories they may choose from (the catalogue's largest)."""
    customers = ws.table("customers")
    columns = [c for c in CHANNEL_CONSENT.values() if c in customers.columns]
    row = {**_known(ws, customer_id, columns), **{k: v for k, v in _stated(ws, customer_id).items() if v is not None}}
    products = ws.table("products")
    categories = [r["category"] for r in ws.storage.rows(
        products.filter(products.category.notnull()).group_by("category").aggregate(n=lambda t: t.count())
        .order_by([lambda t: t.n.desc(), "category"]).limit(MAX_INTERESTS))]
    return {"consent": {name: bool(row.get(column)) for name, column in CHANNEL_CONSENT.items()},
            "frequency": row.get("frequency") or "any",
            "interests": json.loads(row["interests"]) if row.get("interests") else [],
            "categories": categories}


def save_preferences(ws: "Workspace", customer_id: str, consent: dict[str, bool], frequency: str,
                     interests: list[str]) -> None:
    """Store what the customer chose, as one unit (see the module)."""
    current = preferences(ws, customer_id)
    if frequency not in FREQUENCIES:
        raise SchemaError(f"frequency {frequency!r}: expected one of {', '.join(FREQUENCIES)}")
    unknown = [i for i in interests if i not in current["categories"]]
    if unknown:
        raise SchemaError(f"interests {unknown}: choose among {', '.join(current['categories'])}")
    changes = {column: bool(consent.get(name)) for name, column in CHANNEL_CONSENT.items()}
    ws.storage.apply(Output([
        _preferences_write(ws, customer_id, {**changes, "frequency": frequency,
                                             "interests": json.dumps(sorted(set(interests)))}),
        audit_write(customer_pseudonym(ws, customer_id), "customer.preferences", "preferences",
                    {"consent": changes, "frequency": frequency, "interests": len(set(interests))}),
    ]))


def _stated(ws: "Workspace", customer_id: str) -> dict:
    stored = ws.table("customer_preferences")
    rows = ws.storage.rows(stored.filter(stored.customer_id == customer_id))
    return rows[0] if rows else {}


def _preferences_write(ws: "Workspace", customer_id: str, values: dict) -> Write:
    """The customer's ``customer_preferences`` row with ``values`` changed (the rest as stored)."""
    row = {"customer_id": customer_id, "consent_email": None, "consent_sms": None, "consent_post": None,
           "frequency": "any", "interests": None, **_stated(ws, customer_id), **values,
           "updated_at": dt.datetime.now().replace(microsecond=0)}
    return Write("customer_preferences", pa.Table.from_pylist([row], schema=arrow_schema("customer_preferences")),
                 mode="upsert", key=("customer_id",))


def _known(ws: "Workspace", customer_id: str, columns: list[str] | None = None) -> dict:
    customers = ws.table("customers")
    rows = ws.storage.rows(customers.filter(customers.customer_id == customer_id).select("customer_id", *(columns or [])))
    if not rows:
        raise NotFoundError("this link's customer is no longer in the workspace")
    return rows[0]


__all__ = ["CHANNEL_CONSENT", "FREQUENCIES", "customer_pseudonym", "preferences", "save_preferences", "unsubscribe"]
