"""What rule names and functions resolve against in a workspace: the customer base table
(profile, customer record, area and area type side by side) and the ``bought`` and
``in_segment`` functions."""

from __future__ import annotations

import datetime as dt
import difflib
import re
from typing import TYPE_CHECKING, Callable

import ibis
import ibis.expr.types as ir

from ..dates import day_start
from ..ingest.attributes import attribute_kinds
from ..data import customer_purchases
from .rules import RuleContext, RuleError, compile_rule

if TYPE_CHECKING:
    from ..workspace import Workspace

_CUSTOMER, _AREA = "customer__", "area__"
_SKIP = {"profile_run_id", "load_id", "geometry"}
_DURATION = re.compile(r"^\s*(\d+)\s*([dwmy])\s*$", re.I)


def customer_base(ws: "Workspace") -> ir.Table:
    """Every known customer (with a profile or a customer record) with the profile's columns,
    the customer record's (prefixed ``customer__``), the area's (``area__``) and the area type."""
    profile = ws.table("customer_profile").drop("profile_run_id")
    customers = ws.table("customers")
    ids = profile.select("customer_id").union(customers.select("customer_id"))
    record = customers.select("customer_id", **{_CUSTOMER + c: customers[c] for c in customers.columns
                                                if c not in _SKIP | {"customer_id"}})
    areas = ws.table("areas")
    area = areas.select(**{_AREA + c: areas[c] for c in areas.columns if c not in _SKIP})
    types = ws.table("area_types").select(_area_key=lambda t: t.area_id, **{_AREA + "type": lambda t: t.area_type})
    base = ids.left_join(profile, "customer_id").drop("customer_id_right")
    base = base.left_join(record, "customer_id").drop("customer_id_right")
    base = base.left_join(area, base[_CUSTOMER + "area_id"] == area[_AREA + "area_id"])
    return base.left_join(types, base[_AREA + "area_id"] == types._area_key).drop("_area_key")


def rule_context(ws: "Workspace", resolving: tuple[str, ...] = ()) -> RuleContext:
    """The :class:`RuleContext` of a workspace (see :mod:`micromarket.segments.rules`)."""
    base = customer_base(ws)
    end = data_end(ws)
    columns: dict[str, Callable[[ir.Table], ir.Value]] = {}
    for name in base.columns:
        if name.startswith(_AREA):
            columns["area." + name[len(_AREA):]] = _column(name)
        elif name.startswith(_CUSTOMER):
            columns["customer." + name[len(_CUSTOMER):]] = _column(name)
            columns.setdefault(name[len(_CUSTOMER):], _column(name))
        else:
            columns[name] = _column(name)
    if _CUSTOMER + "age" not in base.columns:  # an age a customers file gave is that age
        columns["age"] = lambda t: ibis.literal(end.year) - t[_CUSTOMER + "birth_year"]
    bands = {_CUSTOMER + name: info["levels"]["order"]
             for name, info in attribute_kinds(ws, "customers").items() if info["kind"] == "band"}
    return RuleContext(base=base, columns=columns, bought=_bought(ws, end), in_segment=_in_segment(ws, resolving),
                       bands=bands)


def _column(name: str) -> Callable[[ir.Table], ir.Value]:
    return lambda t: t[name]


def data_end(ws: "Workspace") -> dt.date:
    """The day of the last transaction (today on an empty log): "within" and ``age`` count from it."""
    last = ws.table("transactions").ts.max().execute()
    return dt.date.today() if last is None or str(last) == "NaT" else last.date()


def _duration(text: str) -> ibis.expr.types.IntervalScalar:
    match = _DURATION.match(str(text))
    if not match:
        raise RuleError(str(text), None, f"within={text!r}: write a number and a unit, e.g. \"90d\", \"8w\", \"6m\", \"1y\"")
    n, unit = int(match.group(1)), match.group(2).lower()
    return ibis.interval(**{{"d": "days", "w": "weeks", "m": "months", "y": "years"}[unit]: n})


def _bought(ws: "Workspace", end: dt.date) -> Callable[..., ir.Table]:
    def bought(category=None, product=None, channel=None, store=None, within=None, min_count=1, min_spend=None):
        lines = customer_purchases(ws.table("transactions"))
        if category is not None:
            _known(ws.table("products"), "category", category)
            products = ws.table("products")
            lines = lines.filter(lines.product_id.isin(products.filter(products.category == category).product_id))
        if product is not None:
            lines = lines.filter(lines.product_id == str(product))
        if channel is not None:
            _known(ws.table("transactions"), "channel", channel)
            lines = lines.filter(lines.channel == channel)
        if store is not None:
            lines = lines.filter(lines.store_id == str(store))
        if within is not None:
            lines = lines.filter(lines.ts >= day_start(end) + ibis.interval(days=1) - _duration(within))
        if int(min_count) <= 1 and min_spend is None:
            return lines.select("customer_id").distinct()  # any matching line will do: no counting
        per = lines.group_by("customer_id").aggregate(n=lines.invoice_id.nunique(), spend=lines.amount.sum())
        per = per.filter(per.n >= int(min_count))
        if min_spend is not None:
            per = per.filter(per.spend >= float(min_spend))
        return per.select("customer_id")

    return bought


def _known(table: ir.Table, column: str, value) -> None:
    """Refuse a value the data never has (a misspelt category is an error, not an empty segment)."""
    values = [v for v in table.select(column).distinct().execute()[column].dropna().tolist()]
    if not values:
        raise RuleError(str(value), None, f"no {column} {value!r}: the data have no {column} at all"
                        + (" (load a products file with categories)" if column == "category" else ""))
    if value not in values:
        raise RuleError(str(value), None, f"no {column} {value!r} in the data; {suggest_value(value, values)}")


def suggest_value(value, values: list) -> str:
    """``did you mean ...?`` for a value not in ``values``: the same text in another case first,
    then close spellings (case ignored); else the values themselves, all of them when few."""
    text = str(value).casefold()
    by_fold = {}
    for v in values:
        by_fold.setdefault(str(v).casefold(), str(v))
    if text in by_fold:
        return f"did you mean {by_fold[text]!r}?"
    close = [by_fold[c] for c in difflib.get_close_matches(text, list(by_fold), n=3, cutoff=0.5)]
    close += [by_fold[c] for c in by_fold if text in c and by_fold[c] not in close][:3]
    if close:
        return f"did you mean {', '.join(map(repr, close))}?"
    shown = sorted(map(str, values))
    more = f" ... ({len(shown) - 40:,} more)" if len(shown) > 40 else ""
    return f"values: {', '.join(map(repr, shown[:40]))}{more}"


def _in_segment(ws: "Workspace", resolving: tuple[str, ...]) -> Callable[[str], ir.Table]:
    def in_segment(name):
        if name in resolving:
            raise RuleError(name, None, f"segment {name!r} refers to itself through in_segment()")
        segments = ws.table("segments")
        found = segments.filter(segments.name == name).select("segment_id").execute()
        if found.empty:
            names = segments.select("name").execute()["name"].tolist()
            close = difflib.get_close_matches(name, names, n=3)
            hint = f"did you mean {', '.join(map(repr, close))}?" if close else "see micromarket segment list"
            raise RuleError(name, None, f"no segment called {name!r}; {hint}")
        members = ws.table("segment_members")
        return members.filter(members.segment_id == int(found["segment_id"].iloc[0])).select("customer_id")

    return in_segment


def rule_count(ws: "Workspace", rule: str) -> int:
    """How many customers ``rule`` selects (the editor's live count; nothing is saved)."""
    return int(ws.storage.rows(rule_members(ws, rule).distinct().aggregate(n=lambda t: t.count()))[0]["n"])


def rule_members(ws: "Workspace", rule: str, resolving: tuple[str, ...] = ()) -> "ir.Table":
    """The customers (``customer_id``) for whom ``rule`` holds, as an Ibis table.

    ``resolving`` carries the names of segments being evaluated, to refuse cycles of
    ``in_segment`` references.
    """
    context = rule_context(ws, resolving)
    return context.base.filter(compile_rule(rule, context)).select("customer_id")
