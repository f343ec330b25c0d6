"""Column mapping: which source column feeds which canonical column.

Precedence, highest first: the mapping passed to ``ingest``, the workspace's
``[mapping.<table>]``, the preset, then auto-detection from common column names.
"""

from __future__ import annotations

import difflib
import re

from ..exceptions import SchemaError
from ..schema import INTEGER, NUMBER, Table

#: Common source names for canonical columns, compared after normalising (lower case,
#: letters and digits only). The canonical name itself always matches.
SYNONYMS: dict[str, tuple[str, ...]] = {
    "customer_id": ("customerid", "customer", "custid", "clientid", "client", "userid", "memberid",
                    "customernumber", "customerno", "accountid", "shopperid"),
    "invoice_id": ("invoiceno", "invoice", "invoicenumber", "orderid", "order", "orderno", "ordernumber",
                   "receiptid", "receipt", "basketid", "transactionid", "txnid", "ticketid"),
    "ts": ("invoicedate", "date", "datetime", "timestamp", "orderdate", "purchasedate", "transactiondate",
           "time", "createdat", "eventtime", "occurredat", "purchasedat", "orderedat", "transactiontimestamp",
           "transactiontime", "transactiondatetime", "saledate"),
    "product_id": ("stockcode", "productid", "sku", "product", "itemid", "item", "productcode",
                   "articleid", "article", "ean", "upc", "itemcode"),
    "quantity": ("qty", "units", "numberofcds", "quantitysold", "itemcount"),
    "unit_price": ("unitprice", "price", "itemprice", "priceperunit", "sellingprice"),
    "amount": ("revenue", "sales", "total", "linetotal", "value", "dollarvalue", "netamount",
               "spend", "linevalue", "totalprice", "salesamount", "salesvalue", "netsales"),
    "discount": ("discountamount", "promodiscount", "markdown"),
    "store_id": ("store", "storeid", "shopid", "shop", "branchid", "branch", "locationid", "outletid"),
    "channel": ("saleschannel", "orderchannel"),
    "original_invoice_id": ("originalinvoice", "originalinvoiceno", "originalorderid", "returnof"),
    "email": ("emailaddress", "mail"),
    "phone": ("phonenumber", "mobile", "telephone"),
    "postcode": ("zip", "zipcode", "postalcode", "postcode"),
    "area_id": ("area", "neighbourhoodid", "neighborhoodid", "zoneid", "districtid", "regionid"),
    "latitude": ("lat",),
    "longitude": ("lon", "lng", "long"),
    "birth_year": ("yearofbirth", "birthyear"),
    "signup_at": ("signupdate", "registeredat", "registrationdate", "createdat", "joinedat", "firstseen"),
    "consent_email": ("emailoptin", "emailconsent", "optinemail"),
    "consent_sms": ("smsoptin", "smsconsent"),
    "consent_post": ("postoptin", "mailoptin", "postconsent"),
    "name": ("description", "productname", "storename", "areaname", "title"),
    "price_tier": ("tier", "pricetier", "pricelevel"),
    "list_price": ("listprice", "regularprice", "rrp", "price"),
    "unit_cost": ("cost", "unitcost", "costprice"),
    "format": ("storeformat", "storetype"),
    "size_sqm": ("sqm", "salesarea", "size"),
    "opened_at": ("opendate", "openedon", "opened"),
    "geometry": ("geojson", "polygon", "geom"),
    "median_income": ("income", "medianhouseholdincome"),
    "event_type": ("event", "type", "eventname"),
    "event_id": ("id",),
    "campaign_id": ("campaign", "campaignname"),
    "treatment_group": ("group", "arm", "treatment", "assignment", "testgroup"),
    "assigned_at": ("sentat", "contactedat", "sendtime"),
}

#: Attributes a transactions file often carries for other tables, auto-detected the same way.
SIDE_COLUMNS: dict[str, tuple[str, ...]] = {
    "customers": ("country", "email", "postcode", "area_id"),
    "products": ("name", "category", "price_tier", "brand"),
}


def normalise(name: str) -> str:
    """``"Customer ID"`` -> ``"customerid"``: how names are compared."""
    return re.sub(r"[^0-9a-z]", "", str(name).lower())


def _auto_detect(canonical: str, columns: list[str], taken: set[str]) -> str | None:
    by_norm = {normalise(c): c for c in columns if c not in taken}
    for candidate in (normalise(canonical), *SYNONYMS.get(canonical, ())):
        if candidate in by_norm:
            return by_norm[candidate]
    return None


def resolve_mapping(table: Table, columns: list[str], source: str, *layers: dict[str, str]) -> dict[str, str]:
    """Work out canonical -> source column for ``table``.

    Parameters
    ----------
    table : Table
        The target table.
    columns : list of str
        The source's columns.
    source : str
        The source name, for messages.
    *layers : dict
        Explicit mappings, highest precedence first.

    Raises
    ------
    SchemaError
        If a mapping names an unknown canonical column or a source column that is not
        there, or a required column cannot be found; the message lists the source's
        columns and suggests the closest names.
    """
    known = {c.name for c in table.source_columns}
    mapping: dict[str, str] = {}
    for layer in layers:
        for canonical, src in (layer or {}).items():
            if canonical not in known:
                raise SchemaError(
                    f"{source}: mapping names {canonical!r}, which is not a column of {table.name}; "
                    f"columns: {', '.join(sorted(known))}{_suggest(canonical, known)}"
                )
            mapping.setdefault(canonical, src)
    for canonical, src in mapping.items():
        _check_source(table, canonical, src, columns, source)
    taken = {part for src in mapping.values() for part in source_columns(src, columns)}
    for col in table.source_columns:
        if col.name not in mapping:
            found = _auto_detect(col.name, columns, taken)
            if found:
                mapping[col.name] = found
                taken.add(found)
    _check_required(table, mapping, columns, source)
    return mapping


def source_terms(src: str, columns) -> list[tuple[int, str]]:
    """The signed source columns a mapping value reads: ``"a"`` -> ``[(1, "a")]``; ``"a+b"`` (summed),
    ``"-a-b"`` (negated: discounts a file writes as negative numbers). A column named ``a+b`` wins."""
    if src in columns:
        return [(1, src)]
    return [(-1 if sign == "-" else 1, name.strip()) for sign, name in re.findall(r"([+-]?)\s*([^+-]+)", src)]


def source_columns(src: str, columns) -> list[str]:
    """The source columns a mapping value reads (see :func:`source_terms`)."""
    return [name for _, name in source_terms(src, columns)]


def used_columns(mapping: dict[str, str], side: dict[str, dict[str, str]], columns: list[str]) -> set[str]:
    """Every source column a mapping and the side attributes read."""
    used = {part for src in mapping.values() for part in source_columns(src, columns)}
    return used | {src for attrs in side.values() for src in attrs.values()}


def _check_source(table: Table, canonical: str, src: str, columns: list[str], source: str) -> None:
    parts = source_columns(src, columns)
    for part in parts:
        if part not in columns:
            raise SchemaError(
                f"{source}: mapping {table.name}.{canonical} = {src!r}, but the source has no column {part!r}; "
                f"its columns are: {', '.join(columns)}{_suggest(part, columns)}"
            )
    arithmetic = len(parts) > 1 or source_terms(src, columns)[0][0] < 0
    if arithmetic and table.column(canonical).dtype not in (NUMBER, INTEGER):
        raise SchemaError(f"{source}: mapping {table.name}.{canonical} = {src!r} sums or negates columns, but "
                          f"{canonical} is {table.column(canonical).dtype}: only numeric columns can be")
    if len(set(parts)) < len(parts):
        raise SchemaError(f"{source}: mapping {table.name}.{canonical} = {src!r} names a column twice")


def resolve_side(table: Table, columns: list[str], mapping: dict[str, str], preset_side: dict) -> dict[str, dict[str, str]]:
    """Find the customer and product attributes a transactions source carries."""
    if table.name != "transactions":
        return {}
    taken = used_columns(mapping, {}, columns)
    side: dict[str, dict[str, str]] = {}
    for target, attrs in SIDE_COLUMNS.items():
        chosen = {k: v for k, v in (preset_side.get(target) or {}).items() if v in columns}
        for attr in attrs:
            if attr not in chosen:
                found = _auto_detect(attr, columns, taken | set(chosen.values()))
                if found:
                    chosen[attr] = found
        taken |= set(chosen.values())
        if chosen:
            side[target] = chosen
    return side


def _check_required(table: Table, mapping: dict[str, str], columns: list[str], source: str) -> None:
    missing = [c for c in table.required if c not in mapping]
    if table.name == "transactions" and "amount" not in mapping and "unit_price" not in mapping:
        missing.append("amount (or unit_price)")
    if not missing:
        return
    hint = ""
    if len(columns) == 1:
        hint = (f"; the file was read as one column ({columns[0][:60]!r}): is the delimiter wrong? "
                "Give --delimiter, e.g. ';' or 'whitespace'")
    taken = used_columns(mapping, {}, columns)
    likely = [f"--map {name.split()[0]}={found}" for name in missing
              if (found := _likely_source(name.split()[0], [c for c in columns if c not in taken]))]
    suggestion = f" (likely: {' '.join(likely)})" if likely else ""
    raise SchemaError(
        f"{source}: required column(s) {', '.join(missing)} of {table.name} not found; the source's columns are: "
        f"{', '.join(columns)}. Map them with --map CANONICAL=SOURCE (or [mapping.{table.name}] in "
        f"micromarket.toml){suggestion}{hint}"
    )


def _likely_source(canonical: str, columns: list[str]) -> str | None:
    """The source column whose name is closest to the canonical name or one of its synonyms."""
    names = [normalise(canonical), *SYNONYMS.get(canonical, ())]
    scored = [(max(difflib.SequenceMatcher(None, normalise(c), n).ratio() for n in names), c) for c in columns]
    best = max(scored, default=(0.0, None))
    return best[1] if best[0] >= 0.6 else None


def _suggest(name: str, candidates) -> str:
    close = difflib.get_close_matches(name, list(candidates), n=3, cutoff=0.6)
    return f" (did you mean {', '.join(repr(c) for c in close)}?)" if close else ""
