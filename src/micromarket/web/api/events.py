"""``/events``: purchases, page views, carts and custom events from other systems, appended durably."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Request

from ...ingest.event_journal import MAX_BATCH, checked_events
from ..security import guarded

router = APIRouter(prefix="/events", tags=["events"])

_EXAMPLE = [{"event_id": "shop-81723", "customer_id": "C000042", "ts": "2026-12-03T14:05:00+00:00",
             "event_type": "cart", "channel": "web", "properties": {"product_id": "P0193", "value": 12.5}}]


@router.post("", status_code=202, summary="Post events (one or a list, at most 1,000)", **guarded("events"))
def post(request: Request, events: Any = Body(..., examples=[_EXAMPLE],
                                              description=f"An event or a list of at most {MAX_BATCH:,}: customer_id, "
                                                          "ts (ISO 8601), event_type required; event_id, channel, "
                                                          "campaign_id, properties optional.")) -> dict:
    """Answered once the events are on disk (the journal); they reach the ``events`` table within a
    second or so. An event posted again (same ``event_id``, or the same values without one) is kept once."""
    items = events if isinstance(events, list) else [events]
    rows = checked_events(items, request.app.state.config["workspace"]["timezone"])
    request.app.state.journal.append(rows)
    return {"accepted": len(rows), "event_ids": [r["event_id"] for r in rows]}
