"""Segment pages: the list with sizes and value, and a rule editor that counts as you type."""

from __future__ import annotations

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse

from ...access import audited
from ...exceptions import MicromarketError
from ...segments.context import rule_count
from ...storage.base import json_ready
from ..render import go_to, page
from ..security import guarded

router = APIRouter(tags=["pages"])


@router.get("/segments", response_class=HTMLResponse, summary="The segments page and rule editor",
            **guarded("viewer"))
def segments(request: Request):
    from ...segments.store import list_segments

    with request.app.state.gate.use() as ws:
        rows = json_ready(list_segments(ws).to_dict(orient="records"))
        total = ws.storage.count("customers")
    return page(request, "segments.html", current="/segments", segments=rows, total=total)


@router.post("/segments/count", response_class=HTMLResponse, summary="A rule's count (a fragment for the editor)",
             **guarded("viewer"))
def count(request: Request, rule: str = Form("", max_length=4000)):
    if not rule.strip():
        return page(request, "segment_count.html", n=None, error=None)
    try:
        with request.app.state.gate.use() as ws:
            n = rule_count(ws, rule)
            total = ws.storage.count("customers")
    except MicromarketError as exc:
        return page(request, "segment_count.html", n=None, error=str(exc))
    return page(request, "segment_count.html", n=n, total=int(total), error=None)


@router.post("/segments/save", response_class=HTMLResponse, summary="Save a rule segment from the editor",
             **guarded("marketer"))
def save(request: Request, name: str = Form(..., max_length=100), rule: str = Form(..., max_length=4000)):
    from ...runner import run_rule_segment

    who = request.state.principal
    try:
        with request.app.state.gate.use() as ws, ws.storage.atomic():  # the change and its audit row, one unit
            run_rule_segment(ws, name, rule)
            audited(ws, who.actor, "segment.save", name, {"rule": rule})
    except MicromarketError as exc:
        return page(request, "segment_count.html", n=None, error=str(exc), status_code=422)
    return go_to(request, "/segments")
