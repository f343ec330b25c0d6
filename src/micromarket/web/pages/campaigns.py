"""Campaign pages: the list, the builder (audience, template, holdout from the planner), and one
campaign (preview for any customer, dry run, launch with confirmation, progress, results)."""

from __future__ import annotations

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from ...access import allows, audited
from ...campaigns.campaign import counts, get_campaign, list_campaigns
from ...exceptions import MicromarketError
from ...storage.base import json_ready
from ..render import go_to, page
from ..security import guarded

router = APIRouter(tags=["pages"])

DEFAULT_TEMPLATE = """{% block subject %}Something for you, {{ customer.first_name or "friend" }}{% endblock %}
{% block text %}Hello {{ customer.first_name or "there" }},

{% if offer.name %}Our offer for you: {{ offer.name }}{% if offer.discount_depth %} ({{ (offer.discount_depth * 100) | round | int }} % off){% endif %}.{% endif %}

Unsubscribe: {{ unsubscribe_url }}{% endblock %}
{% block html %}<p>Hello {{ customer.first_name or "there" }},</p>
{% if offer.name %}<p>Our offer for you: <b>{{ offer.name }}</b>.</p>{% endif %}
<p><a href="{{ unsubscribe_url }}">Unsubscribe</a></p>{% endblock %}
"""


@router.get("/campaigns", response_class=HTMLResponse, summary="The campaigns page", **guarded("viewer"))
def campaigns(request: Request):
    with request.app.state.gate.use() as ws:
        rows = json_ready(list_campaigns(ws))
    return page(request, "campaigns.html", current="/campaigns", campaigns=rows)


@router.get("/campaigns/new", response_class=HTMLResponse, summary="The campaign builder", **guarded("marketer"))
def builder(request: Request):
    with request.app.state.gate.use() as ws:
        names = [r["name"] for r in ws.storage.rows(ws.table("segments").select("name").order_by("name"))]
    return page(request, "campaign_new.html", current="/campaigns", segments=names, template=DEFAULT_TEMPLATE,
                error=None, form={})


@router.post("/campaigns/new", response_class=HTMLResponse, summary="Create a draft from the builder",
             **guarded("marketer"))
def create(request: Request, name: str = Form(..., max_length=64), segment: str = Form(..., max_length=100),
           channel: str = Form("email", max_length=40), holdout: str = Form("auto", max_length=10),
           template: str = Form(..., max_length=200_000)):
    from ...campaigns.drafts import create_draft

    who = request.state.principal
    try:
        share = holdout if holdout == "auto" else float(holdout)
        with request.app.state.gate.use() as ws, ws.storage.atomic():  # the change and its audit row, one unit
            create_draft(ws, name, variants=[{"name": "A", "template": template}], audience_kind="segment",
                         audience_value=segment, channel=channel, holdout=share)
            audited(ws, who.actor, "campaign.create", name, {"segment": segment, "channel": channel})
    except (MicromarketError, ValueError) as exc:
        with request.app.state.gate.use() as ws:
            names = [r["name"] for r in ws.storage.rows(ws.table("segments").select("name").order_by("name"))]
        return page(request, "campaign_new.html", status_code=422, current="/campaigns", segments=names,
                    template=template, error=str(exc),
                    form={"name": name, "segment": segment, "channel": channel, "holdout": holdout})
    return RedirectResponse(f"/campaigns/{name}", status_code=303)


@router.post("/campaigns/holdout-fragment", response_class=HTMLResponse, summary="The planner's holdout for an "
             "audience before the campaign is made (a fragment for the builder)", **guarded("marketer"))
def holdout(request: Request, segment: str = Form(..., max_length=100), holdout: str = Form("auto", max_length=10)):
    from ...campaigns.audience import audience
    from ...measure.holdout_plan import plan_holdout

    try:
        share = None if holdout == "auto" else float(holdout)
        with request.app.state.gate.use() as ws:
            cfg = ws.config["campaigns"]
            plan = plan_holdout(ws, audience(ws, "segment", segment), days=int(cfg["attribution_days"]),
                                holdout_share=share, target_lift=float(cfg["target_lift"]),
                                fallback_share=float(cfg["holdout"]))
    except (MicromarketError, ValueError) as exc:
        return page(request, "error_fragment.html", error=str(exc))
    return page(request, "campaign_holdout.html", plan=plan)


@router.post("/campaigns/template-preview", response_class=HTMLResponse, summary="A template being written, "
             "rendered for one customer as they would get it (a fragment for the builder)", **guarded("marketer"))
def template_preview(request: Request, template: str = Form("", max_length=200_000),
                     customer_id: str = Form("", max_length=200)):
    from ...campaigns.messages import MessageTemplate, preview

    if not template.strip() or not customer_id.strip():
        return page(request, "error_fragment.html", error="write a template and name a customer to preview it")
    try:
        with request.app.state.gate.use() as ws:
            parts = preview(ws, MessageTemplate(template, "the template", currency=ws.config["workspace"]["currency"]),
                            customer_id.strip(), campaign="(draft)")
    except MicromarketError as exc:
        return page(request, "error_fragment.html", error=str(exc))
    message = {"subject": parts.subject, "text": parts.text, "html": parts.html, "variant": "A", "group": "draft"}
    return page(request, "campaign_preview.html", message=message)


@router.get("/campaigns/{name}", response_class=HTMLResponse, summary="One campaign", **guarded("viewer"))
def campaign(request: Request, name: str):
    from ...measure.measuring import measure_campaign, measured

    with request.app.state.gate.use() as ws:
        found = get_campaign(ws, name)
        state = counts(ws, found)
        results = json_ready(measure_campaign(ws, name).to_dict()) if measured(ws, name) else None
    job = _job(request, name)
    who = request.state.principal
    return page(request, "campaign.html", current="/campaigns", campaign=json_ready(found.row()), counts=state,
                results=results, job=job.public() if job else None, can_act=allows(who.role, "marketer"))


@router.get("/campaigns/{name}/progress", response_class=HTMLResponse, summary="A sending campaign's progress (a "
            "fragment the campaign page polls)", **guarded("viewer"))
def progress(request: Request, name: str):
    job = _job(request, name)
    return page(request, "campaign_progress.html", job=job.public() if job else None, name=name)


@router.get("/campaigns/{name}/preview-fragment", response_class=HTMLResponse, summary="The message one customer "
            "would get (a fragment)", **guarded("marketer"))
def preview(request: Request, name: str, customer_id: str = Query(..., min_length=1, max_length=200)):
    from ...campaigns.send import preview_message

    try:
        with request.app.state.gate.use() as ws:
            message = json_ready(preview_message(ws, get_campaign(ws, name), customer_id))
    except MicromarketError as exc:
        return page(request, "error_fragment.html", error=str(exc))
    return page(request, "campaign_preview.html", message=message)


@router.post("/campaigns/{name}/dry-run-fragment", response_class=HTMLResponse, summary="The dry run (a fragment)",
             **guarded("marketer"))
def dry_run(request: Request, name: str):
    from ...campaigns.dry_run import dry_run as run

    with request.app.state.gate.use() as ws:
        frame = run(ws, get_campaign(ws, name))
    decisions = sorted(((k, int(v)) for k, v in frame["decision"].value_counts().items()), key=lambda kv: -kv[1])
    return page(request, "campaign_dry_run.html", decisions=decisions, customers=len(frame))


@router.post("/campaigns/{name}/launch-page", response_class=HTMLResponse, summary="Launch from the campaign page "
             "(after its confirmation)", **guarded("marketer"))
def launch(request: Request, name: str, confirm: str = Form("")):
    if confirm != name:
        return page(request, "error_fragment.html", status_code=422,
                    error=f"type the campaign's name ({name}) to confirm the launch")
    try:
        request.app.state.jobs.launch_campaign(name, request.state.principal.actor)
    except MicromarketError as exc:
        return page(request, "error_fragment.html", status_code=422, error=str(exc))
    return go_to(request, f"/campaigns/{name}")


@router.post("/campaigns/{name}/measure-page", response_class=HTMLResponse, summary="Measure from the campaign page",
             **guarded("marketer"))
def measure(request: Request, name: str):
    from ...runner import run_measure

    who = request.state.principal
    try:
        with request.app.state.gate.use() as ws, ws.storage.atomic():  # the change and its audit row, one unit
            run_measure(ws, name)
            audited(ws, who.actor, "campaign.measure", name, {})
    except MicromarketError as exc:
        return page(request, "error_fragment.html", status_code=422, error=str(exc))
    return go_to(request, f"/campaigns/{name}")


def _job(request: Request, name: str):
    jobs = [j for j in request.app.state.jobs.all() if j.kind == "campaign" and j.target == name]
    return jobs[0] if jobs else None
