"""Saved segments: define, refresh, list, compare and delete them.

Membership lives in ``segment_members`` and is rewritten, with the segment's size and
CLV, in one transaction per change. Rule segments are recomputed by :func:`refresh_rules`
(``micromarket profile`` calls it, so they follow the data).
"""

from __future__ import annotations

import datetime as dt
import difflib
import re
from typing import TYPE_CHECKING, Iterable

import ibis.expr.types as ir
import pandas as pd

from ..exceptions import SchemaError
from .rules import referenced_segments, rule_members

if TYPE_CHECKING:
    from ..workspace import Workspace

_NAME = re.compile(r"^[\w][\w .:/+-]{0,99}$")


def check_name(name: str) -> str:
    """A segment name: 1-100 letters, digits, spaces and ``_ . : / + -``, starting with a letter or digit."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise SchemaError(f"segment name {name!r}: use 1-100 letters, digits, spaces or _ . : / + -, "
                          "starting with a letter or digit")
    return name


def segment_id(ws: "Workspace", name: str) -> int:
    """The id of the segment called ``name`` (an error with close names if there is none)."""
    row = ws.con.execute("SELECT segment_id FROM segments WHERE name = ?", [name]).fetchone()
    if row is None:
        names = [r[0] for r in ws.con.execute("SELECT name FROM segments").fetchall()]
        close = difflib.get_close_matches(name, names, n=3)
        raise SchemaError(f"no segment called {name!r}" + (f"; did you mean {', '.join(map(repr, close))}?" if close else
                                                           "; see micromarket segment list"))
    return int(row[0])


def members(ws: "Workspace", name: str) -> ir.Table:
    """The members (``customer_id``) of the segment called ``name``."""
    sid = segment_id(ws, name)
    table = ws.table("segment_members")
    return table.filter(table.segment_id == sid).select("customer_id")


def save_rule(ws: "Workspace", name: str, rule: str, *, replace: bool = False) -> dict:
    """Save a rule segment and compute its members.

    Parameters
    ----------
    ws : Workspace
    name : str
        Segment name (see :func:`check_name`).
    rule : str
        A rule in the language of :mod:`micromarket.segments.rules`.
    replace : bool
        Replace an existing segment of that name (else it is an error).

    Returns
    -------
    dict
        The segment's row of :func:`list_segments`.
    """
    check_name(name)
    existing = ws.con.execute("SELECT segment_id, kind FROM segments WHERE name = ?", [name]).fetchone()
    if existing and not replace:
        raise SchemaError(f"segment {name!r} exists; choose another name or replace it (--replace)")
    if existing and existing[1] != "rule":
        raise SchemaError(f"segment {name!r} is a {existing[1]} segment; only rule segments can be replaced by a rule")
    expr = rule_members(ws, rule, resolving=(name,))  # parses and checks before anything is written
    with ws.transaction():
        sid = existing[0] if existing else next_id(ws)
        if not existing:
            ws.con.execute("INSERT INTO segments (segment_id, name, kind, granularity, definition) "
                           "VALUES (?, ?, 'rule', 'segment', ?)", [sid, name, rule])
        else:
            ws.con.execute("UPDATE segments SET definition = ? WHERE segment_id = ?", [rule, sid])
        write_members(ws, sid, expr)
    return describe(ws, name)


def refresh_rules(ws: "Workspace") -> int:
    """Recompute every rule segment's members from the current data (in creation order, so
    segments that others use through ``in_segment`` come first); returns how many."""
    rows = ws.con.execute("SELECT segment_id, name, definition FROM segments WHERE kind = 'rule' "
                          "ORDER BY segment_id").fetchall()
    for sid, name, rule in rows:
        expr = rule_members(ws, rule, resolving=(name,))
        with ws.transaction():
            write_members(ws, sid, expr)
    return len(rows)


def write_members(ws: "Workspace", sid: int, customers: ir.Table) -> None:
    """Replace the members of segment ``sid`` by ``customers`` and update its size and CLV
    (inside the caller's transaction)."""
    sql = ws.ibis.compile(customers.select("customer_id").distinct())
    ws.con.execute("DELETE FROM segment_members WHERE segment_id = ?", [sid])
    ws.con.execute(f"INSERT INTO segment_members SELECT {int(sid)} AS segment_id, customer_id FROM ({sql})")
    size, clv = ws.con.execute(
        "SELECT count(*), coalesce(sum(p.clv), 0) FROM segment_members m"
        " LEFT JOIN customer_profile p USING (customer_id) WHERE m.segment_id = ?", [sid]).fetchone()
    ws.con.execute("UPDATE segments SET size = ?, clv = ?, updated_at = ? WHERE segment_id = ?",
                   [size, clv, dt.datetime.now(), sid])


def next_id(ws: "Workspace") -> int:
    """A segment id never used before."""
    return int(ws.con.execute("SELECT coalesce(max(segment_id), 0) + 1 FROM segments").fetchone()[0])


def drop_segmentation(ws: "Workspace", name: str) -> None:
    """Delete a segmentation's segments, members and model (inside the caller's transaction)."""
    ws.con.execute("DELETE FROM segment_members WHERE segment_id IN (SELECT segment_id FROM segments WHERE segmentation = ?)",
                   [name])
    ws.con.execute("DELETE FROM segments WHERE segmentation = ?", [name])
    ws.con.execute("DELETE FROM segmentations WHERE segmentation = ?", [name])


def list_segments(ws: "Workspace", kind: str | None = None, segmentation: str | None = None) -> pd.DataFrame:
    """Segments with size, share of customers, CLV, share of CLV and mean CLV."""
    where, params = [], []
    if kind:
        where.append("kind = ?")
        params.append(kind)
    if segmentation:
        where.append("segmentation = ?")
        params.append(segmentation)
    totals = ws.con.execute("SELECT count(*), coalesce(sum(clv), 0) FROM customer_profile").fetchone()
    frame = ws.con.execute(
        "SELECT segment_id, name, kind, segmentation, granularity, size, clv, persona_name, definition, updated_at "
        f"FROM segments {'WHERE ' + ' AND '.join(where) if where else ''} ORDER BY segment_id", params).df()
    customers, value = max(totals[0], 1), totals[1] or 1.0
    frame["persona_name"] = frame["persona_name"].fillna("")
    frame["customer_share"] = frame["size"].fillna(0) / customers
    frame["clv_share"] = frame["clv"].fillna(0) / value
    frame["mean_clv"] = frame["clv"] / frame["size"].where(frame["size"] > 0)
    return frame


def describe(ws: "Workspace", name: str) -> dict:
    """One segment's row of :func:`list_segments`, as a dict."""
    sid = segment_id(ws, name)
    frame = list_segments(ws)
    return frame[frame["segment_id"] == sid].iloc[0].to_dict()


def overlap(ws: "Workspace", names: Iterable[str]) -> pd.DataFrame:
    """Pairwise overlap of segments: members in both, Jaccard index, and the share of the row
    segment's members who are also in the column segment.

    Returns
    -------
    DataFrame
        One row per ordered pair: ``a, b, size_a, size_b, both, jaccard, share_of_a_in_b``.
    """
    ids = {name: segment_id(ws, name) for name in names}
    table = ws.table("segment_members")
    chosen = table.filter(table.segment_id.isin(list(ids.values())))
    joined = chosen.join(chosen.view(), "customer_id")
    pairs = joined.group_by(a=joined.segment_id, b=joined.segment_id_right).aggregate(both=joined.count())
    both = {(int(r.a), int(r.b)): int(r.both) for r in pairs.execute().itertuples()}
    rows = []
    for a, ia in ids.items():
        size_a = both.get((ia, ia), 0)
        for b, ib in ids.items():
            if a == b:
                continue
            n, size_b = both.get((ia, ib), 0), both.get((ib, ib), 0)
            union = size_a + size_b - n
            rows.append({"a": a, "b": b, "size_a": size_a, "size_b": size_b, "both": n,
                         "jaccard": n / union if union else 0.0, "share_of_a_in_b": n / size_a if size_a else 0.0})
    return pd.DataFrame(rows, columns=["a", "b", "size_a", "size_b", "both", "jaccard", "share_of_a_in_b"])


def delete(ws: "Workspace", name: str) -> None:
    """Delete a segment and its members; refused while a rule segment uses it through ``in_segment``."""
    sid = segment_id(ws, name)
    rules = ws.con.execute("SELECT name, definition FROM segments WHERE kind = 'rule' AND segment_id <> ?", [sid]).fetchall()
    users = [user for user, rule in rules if name in referenced_segments(rule)]
    if users:
        raise SchemaError(f"segment {name!r} is used by {', '.join(map(repr, users))} (in_segment); delete those first")
    with ws.transaction():
        ws.con.execute("DELETE FROM segment_members WHERE segment_id = ?", [sid])
        ws.con.execute("DELETE FROM segments WHERE segment_id = ?", [sid])


__all__ = ["save_rule", "refresh_rules", "list_segments", "describe", "overlap", "members", "delete",
           "segment_id", "check_name", "write_members", "next_id", "drop_segmentation"]
