"""``/segments``: list, count a rule as it is written, save, members, delete."""

from __future__ import annotations

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from ...access import audited
from ...segments.context import rule_count
from ...storage.base import json_ready
from ..security import guarded

router = APIRouter(prefix="/segments", tags=["segments"])


class RuleIn(BaseModel):
    rule: str = Field(..., min_length=1, max_length=4000, description="A rule, e.g. clv > 100 and p_alive < 0.5")


class SegmentIn(RuleIn):
    name: str = Field(..., min_length=1, max_length=100)
    replace: bool = False


@router.get("", summary="Every segment with its size and value", **guarded("viewer"))
def list_(request: Request) -> dict:
    from ...segments.store import list_segments

    with request.app.state.gate.use() as ws:
        frame = list_segments(ws)
    return {"segments": json_ready(frame.to_dict(orient="records"))}  # NaN (no CLV) as null


@router.post("/count", summary="How many customers a rule selects (nothing is saved)", **guarded("viewer"))
def count(request: Request, body: RuleIn) -> dict:
    with request.app.state.gate.use() as ws:
        n, total = rule_count(ws, body.rule), ws.storage.count("customers")
    return {"rule": body.rule, "count": n, "customers": int(total)}


@router.post("", status_code=201, summary="Save a rule segment and its members", **guarded("marketer"))
def create(request: Request, body: SegmentIn) -> dict:
    from ...runner import run_rule_segment

    who = request.state.principal
    with request.app.state.gate.use() as ws, ws.storage.atomic():  # the change and its audit row, one unit
        row = run_rule_segment(ws, body.name, body.rule, replace=body.replace)
        audited(ws, who.actor, "segment.save", body.name, {"rule": body.rule, "replace": body.replace})
    return json_ready(row)


@router.get("/{name}/members", summary="A segment's members, a page at a time", **guarded("viewer"))
def members(request: Request, name: str, limit: int = Query(100, ge=1, le=10_000),
            offset: int = Query(0, ge=0)) -> dict:
    from ...segments.store import members as segment_members

    with request.app.state.gate.use() as ws:
        table = segment_members(ws, name)
        rows = ws.storage.rows(table.order_by("customer_id").limit(limit, offset=offset))
        total = ws.storage.rows(table.aggregate(n=lambda t: t.count()))[0]["n"]
    return {"segment": name, "total": int(total), "offset": offset, "customer_ids": [r["customer_id"] for r in rows]}


@router.delete("/{name}", summary="Delete a segment", **guarded("marketer"))
def delete(request: Request, name: str) -> dict:
    from ...runner import run_delete_segment
    from ...segments.store import segment_id

    who = request.state.principal
    with request.app.state.gate.use() as ws, ws.storage.atomic():  # the change and its audit row, one unit
        segment_id(ws, name)  # an unknown name is answered 404
        run_delete_segment(ws, name)
        audited(ws, who.actor, "segment.delete", name)
    return {"deleted": name}

