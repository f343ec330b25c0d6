"""Saved segments: define, refresh, list, compare and delete them.

Membership lives in ``segment_members`` and is rewritten, with the segment's size and
CLV, in one unit per change. This module says what to write (:class:`~micromarket.storage.base.Output`);
the runner stores it. Rule segments are recomputed by :func:`micromarket.runner.run_rule_segments`,
and after every profile (:func:`micromarket.runner.run_profile`), so they follow the data.
"""

from __future__ import annotations

import datetime as dt
import difflib
import re
from typing import TYPE_CHECKING, Iterable, Iterator

import ibis
import ibis.expr.types as ir
import pandas as pd
import pyarrow as pa

from ..exceptions import NotFoundError, SchemaError
from ..storage.base import Output, Write
from .context import rule_members
from .rules import referenced_segments

if TYPE_CHECKING:
    from ..storage.base import Storage
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
    found = _segment(ws, name)
    if found is None:
        names = [r["name"] for r in ws.storage.rows(ws.table("segments").select("name"))]
        close = difflib.get_close_matches(name, names, n=3)
        raise NotFoundError(f"no segment called {name!r}" + (f"; did you mean {', '.join(map(repr, close))}?" if close else
                                                           "; see micromarket segment list"))
    return int(found["segment_id"])


def _segment(ws: "Workspace", name: str) -> dict | None:
    """The ``segments`` row called ``name``, or ``None``."""
    segments = ws.table("segments")
    found = ws.storage.rows(segments.filter(segments.name == name))
    return found[0] if found else None


def members(ws: "Workspace", name: str) -> ir.Table:
    """The members (``customer_id``) of the segment called ``name``."""
    sid = segment_id(ws, name)
    table = ws.table("segment_members")
    return table.filter(table.segment_id == sid).select("customer_id")


def rule_output(ws: "Workspace", name: str, rule: str, *, replace: bool = False) -> Output:
    """A rule segment and its members, to be stored (by :func:`micromarket.runner.run_rule_segment`).

    Parameters
    ----------
    ws : Workspace
    name : str
        Segment name (see :func:`check_name`).
    rule : str
        A rule in the language of :mod:`micromarket.segments.rules`.
    replace : bool
        Replace an existing segment of that name (else it is an error).
    """
    check_name(name)
    existing = _segment(ws, name)
    if existing and not replace:
        raise SchemaError(f"segment {name!r} exists; choose another name or replace it (--replace)")
    if existing and existing["kind"] != "rule":
        raise SchemaError(f"segment {name!r} is a {existing['kind']} segment; only rule segments can be replaced by a rule")
    expr = rule_members(ws, rule, resolving=(name,))  # parses and checks before anything is written
    sid = existing["segment_id"] if existing else next_id(ws)
    row = pa.table({"segment_id": pa.array([sid], pa.int64()), "name": [name], "kind": ["rule"],
                    "granularity": ["segment"], "definition": [rule]})
    return Output([Write("segments", row, mode="upsert", key=("segment_id",)), *member_writes(ws, sid, expr)])


def rule_outputs(ws: "Workspace") -> Iterator[Output]:
    """Every rule segment's members recomputed from the current data, one output each, in creation
    order: segments that others use through ``in_segment`` come first, and each is computed once
    the one before is stored (a generator)."""
    segments = ws.table("segments")
    rules = ws.storage.rows(segments.filter(segments.kind == "rule")
                            .select("segment_id", "name", "definition").order_by("segment_id"))
    for rule in rules:
        expr = rule_members(ws, rule["definition"], resolving=(rule["name"],))
        yield Output(member_writes(ws, rule["segment_id"], expr))


def member_writes(ws: "Workspace", sid: int, customers: ir.Table) -> list[Write]:
    """The members of segment ``sid`` replaced by ``customers``, and its size, CLV and time of refresh."""
    chosen = customers.select("customer_id").distinct()
    profile = ws.table("customer_profile").select("customer_id", "clv")
    valued = chosen.left_join(profile, "customer_id")
    stats = valued.aggregate(size=valued.count(), clv=valued.clv.sum().fill_null(0.0)).mutate(
        segment_id=ibis.literal(int(sid), "int64"), updated_at=ibis.literal(dt.datetime.now(), "timestamp"))
    return [Write("segment_members", chosen.mutate(segment_id=ibis.literal(int(sid), "int64")).select("segment_id", "customer_id"),
                  where={"segment_id": int(sid)}),
            Write("segments", stats, mode="upsert", key=("segment_id",))]


def next_id(ws: "Workspace") -> int:
    """A segment id never used before."""
    return ws.storage.next_id("segments", "segment_id")


def drop_segmentation(ws: "Workspace", name: str) -> list[Write]:
    """The writes that delete a segmentation's segments, members and model."""
    segments = ws.table("segments")
    ids = [r["segment_id"] for r in ws.storage.rows(segments.filter(segments.segmentation == name).select("segment_id"))]
    return [Write("segment_members", where={"segment_id": ids}), Write("segments", where={"segmentation": name}),
            Write("segmentations", where={"segmentation": name})]


def segments_of(storage: "Storage", customer_id: str) -> list[dict]:
    """The segments ``customer_id`` belongs to (id, name, kind, segmentation, granularity, persona)."""
    members, segments = storage.table("segment_members"), storage.table("segments")
    mine = members.filter(members.customer_id == customer_id).select("segment_id")
    joined = segments.semi_join(mine, "segment_id").select("segment_id", "name", "kind", "segmentation", "granularity",
                                                           "persona_name")
    return storage.rows(joined.order_by("segment_id"))


def list_segments(ws: "Workspace", kind: str | None = None, segmentation: str | None = None) -> pd.DataFrame:
    """Segments with size, share of customers, CLV, share of CLV and mean CLV."""
    profile = ws.table("customer_profile")
    totals = ws.storage.rows(profile.aggregate(n=profile.count(), clv=profile.clv.sum()))[0]
    segments = ws.table("segments")
    if kind:
        segments = segments.filter(segments.kind == kind)
    if segmentation:
        segments = segments.filter(segments.segmentation == segmentation)
    frame = segments.select("segment_id", "name", "kind", "segmentation", "granularity", "size", "clv", "persona_name",
                            "definition", "updated_at").order_by("segment_id").to_pandas()
    customers, value = max(totals["n"], 1), totals["clv"] or 1.0
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


def delete_output(ws: "Workspace", name: str) -> Output:
    """A segment and its members deleted; refused while a rule segment uses it through ``in_segment``."""
    sid = segment_id(ws, name)
    segments = ws.table("segments")
    rules = ws.storage.rows(segments.filter(segments.kind == "rule", segments.segment_id != sid).select("name", "definition"))
    users = [r["name"] for r in rules if name in referenced_segments(r["definition"])]
    if users:
        raise SchemaError(f"segment {name!r} is used by {', '.join(map(repr, users))} (in_segment); delete those first")
    return Output([Write("segment_members", where={"segment_id": sid}), Write("segments", where={"segment_id": sid})])


__all__ = ["rule_output", "rule_outputs", "list_segments", "describe", "overlap", "members", "delete_output",
           "segment_id", "check_name", "member_writes", "next_id", "drop_segmentation"]
