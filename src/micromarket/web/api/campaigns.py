"""``/campaigns``: create with templates, preview for a customer, dry run, launch, pause, status,
results. Launching sends in the background; its progress is a run (``/runs/{job_id}``)."""

from __future__ import annotations

import datetime as dt
from typing import Literal, Union

from fastapi import APIRouter, HTTPException, Query, Request
from pydantic import BaseModel, Field

from ...access import allows, audited
from ...campaigns.campaign import counts, get_campaign, list_campaigns
from ...exceptions import SchemaError
from ...storage.base import json_ready
from ..security import guarded

router = APIRouter(prefix="/campaigns", tags=["campaigns"])


class VariantIn(BaseModel):
    name: str = Field("A", pattern=r"^[A-Za-z0-9._-]{1,40}$")
    template: str = Field(..., min_length=1, max_length=200_000,
                          description="The message template (docs/how-to/templates.md): blocks subject, text, html.")
    discount_depth: float | None = Field(None, ge=0, lt=1, description="This variant's own coupon (0.2: 20 % off).")


class AudienceIn(BaseModel):
    kind: Literal["segment", "rule", "plan"]
    value: str = Field("", max_length=4000, pattern=r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$",
                       description="The segment's name or the rule (empty for the plan).")


class CampaignIn(BaseModel):
    name: str = Field(..., pattern=r"^[A-Za-z0-9._-]{1,64}$")
    audience: AudienceIn
    channel: str = Field("email", max_length=40)
    variants: list[VariantIn] = Field(..., min_length=1, max_length=20)
    holdout: Union[float, Literal["auto"], None] = Field(
        None, description="Share held out in every stratum (default [campaigns] holdout), or 'auto'.")
    schedule: Literal["now", "at", "best_hour"] = "now"
    send_at: dt.datetime | None = None
    budget: float | None = Field(None, ge=0)
    contact_cost: float | None = Field(None, ge=0)
    attribution_days: int | None = Field(None, ge=1, le=365)
    seed: int = 0
    transactional: bool = False


@router.get("", summary="Every campaign with its status", **guarded("viewer"))
def list_(request: Request) -> dict:
    with request.app.state.gate.use() as ws:
        return {"campaigns": json_ready(list_campaigns(ws))}


@router.post("", status_code=201, summary="Create a draft campaign (nothing is sent until launch)",
             **guarded("marketer"))
def create(request: Request, body: CampaignIn) -> dict:
    from ...campaigns.drafts import create_draft

    who = request.state.principal
    if body.transactional and not allows(who.role, "admin"):
        # A transactional campaign passes over suppressions, the global control group and caps.
        raise HTTPException(403, "a transactional campaign needs the admin role")
    if isinstance(body.holdout, float) and not 0 <= body.holdout < 1:
        raise SchemaError(f"holdout = {body.holdout!r}: expected a share in [0, 1) or 'auto'")
    with request.app.state.gate.use() as ws, ws.storage.atomic():  # the change and its audit row, one unit
        campaign = create_draft(
            ws, body.name, variants=[v.model_dump() for v in body.variants], audience_kind=body.audience.kind,
            audience_value=body.audience.value, channel=body.channel, holdout=body.holdout, schedule=body.schedule,
            send_at=body.send_at, budget=body.budget, contact_cost=body.contact_cost,
            attribution_days=body.attribution_days, seed=body.seed, transactional=body.transactional)
        audited(ws, who.actor, "campaign.create", body.name,
                {"audience": body.audience.model_dump(), "channel": body.channel, "variants": len(body.variants),
                 "holdout": body.holdout, "transactional": body.transactional})
    return json_ready(campaign.row())


@router.get("/{name}", summary="A campaign's settings and its counts by state", **guarded("viewer"))
def status(request: Request, name: str) -> dict:
    with request.app.state.gate.use() as ws:
        campaign = get_campaign(ws, name)
        return json_ready({**campaign.row(), "counts": counts(ws, campaign)})


@router.get("/{name}/preview", summary="The message one customer would get (nothing is sent)",
            **guarded("marketer"))
def preview(request: Request, name: str, customer_id: str = Query(..., min_length=1, max_length=200)) -> dict:
    from ...campaigns.send import preview_message

    with request.app.state.gate.use() as ws:
        return json_ready(preview_message(ws, get_campaign(ws, name), customer_id))


@router.post("/{name}/dry-run", summary="Who would get which message, and why the others would not",
             **guarded("marketer"))
def dry_run(request: Request, name: str) -> dict:
    from ...campaigns.dry_run import dry_run as run

    with request.app.state.gate.use() as ws:
        campaign = get_campaign(ws, name)
        frame = run(ws, campaign)
    return {"campaign": name, "customers": len(frame),
            "decisions": {k: int(v) for k, v in frame["decision"].value_counts().items()},
            "plan": json_ready(campaign.settings.get("plan"))}


@router.post("/{name}/launch", status_code=202, summary="Launch: draw the holdout, write the ledger and send "
                                                        "in the background", **guarded("marketer"))
def launch(request: Request, name: str) -> dict:
    return request.app.state.jobs.launch_campaign(name, request.state.principal.actor).public()


@router.post("/{name}/pause", summary="Pause: the sender stops before its next message", **guarded("marketer"))
def pause(request: Request, name: str) -> dict:
    from ...campaigns.send import request_pause
    from ...runner import run_pause_campaign

    who = request.state.principal
    with request.app.state.gate.use() as ws, ws.storage.atomic():  # the change and its audit row, one unit
        get_campaign(ws, name)
        request_pause(ws.root, name)  # a sending job sees the flag before its next message
        if not request.app.state.jobs.running_target("campaign", name):
            run_pause_campaign(ws, name)
        audited(ws, who.actor, "campaign.pause", name, {})
        return {"campaign": name, "status": "paused"}


@router.post("/{name}/measure", summary="Attribute the members' purchases and measure the campaign now",
             **guarded("marketer"))
def measure(request: Request, name: str) -> dict:
    from ...runner import run_measure

    who = request.state.principal
    with request.app.state.gate.use() as ws, ws.storage.atomic():  # the change and its audit row, one unit
        measurement = run_measure(ws, name)
        audited(ws, who.actor, "campaign.measure", name, {})
        return json_ready(measurement.to_dict())


@router.get("/{name}/results", summary="What the campaign earned that would not have been earned anyway, as last "
                                       "measured: lift with intervals per segment, incremental profit, ROI",
            **guarded("viewer"))
def results(request: Request, name: str) -> dict:
    from ...exceptions import NotFoundError
    from ...measure.measuring import measure_campaign, measured

    with request.app.state.gate.use() as ws:
        if not measured(ws, name):
            raise NotFoundError(f"campaign {name!r} has not been measured: POST /api/v1/campaigns/{name}/measure "
                                "(or `micromarket measure`) first")
        return json_ready(measure_campaign(ws, name).to_dict())
