"""``/audiences``: a segment's reachable members for another system (a CRM, an ad platform's sync)."""

from __future__ import annotations

import csv
import io

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from ...access import audited
from ...campaigns.export import reachable
from ..security import guarded

router = APIRouter(prefix="/audiences", tags=["audiences"])


@router.get("/{segment}", summary="The members of a segment a channel may reach now, with their address "
                                  "(consent, suppressions and the global control group applied)",
            **guarded("marketer"))
def export(request: Request, segment: str, channel: str = Query("email", max_length=40),
           format: str = Query("json", pattern="^(json|csv)$")):
    who = request.state.principal
    with request.app.state.gate.use() as ws:
        rows, excluded = reachable(ws, segment, channel)
        # Personal data leaves the workspace: who took it is recorded.
        audited(ws, who.actor, "audience.export", segment, {"channel": channel, "rows": len(rows)})
    if format == "csv":
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=list(rows[0]) if rows else ["customer_id"])
        writer.writeheader()
        # A cell starting with = + - @ is a formula to a spreadsheet: quoted as text (OWASP's advice).
        writer.writerows({k: _cell(v) for k, v in row.items()} for row in rows)
        return Response(out.getvalue(), media_type="text/csv",
                        headers={"Content-Disposition": f'attachment; filename="{_file_name(segment)}.csv"'})
    return {"segment": segment, "channel": channel, "count": len(rows), "excluded": excluded, "customers": rows}


def _cell(value):
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _file_name(segment: str) -> str:
    """An ASCII file name for the download (a header cannot carry other characters)."""
    return "".join(c if c.isascii() and (c.isalnum() or c in "-_") else "-" for c in segment) or "audience"
