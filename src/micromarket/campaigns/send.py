"""The send loop: a launched campaign's queued messages, through the rules, rendered, and
delivered through the ledger (see :mod:`.ledger`), with throttling and automatic pause.

One process sends a campaign at a time (the workspace's lock). The loop reads the ledger's
``queued`` rows in customer order, a batch at a time; for each customer it applies the rules
(:mod:`.rules`), renders the message, writes ``intent`` to the journal, hands the message to the
channel (which marks ``committing`` before the receiver can have it) and writes the outcome.
After each batch the journal is folded into ``campaign_sends`` in one unit. ``campaign pause``
(another process) leaves a flag file the loop checks before every message; too many failures in
a row of recent messages pause it too. A stopped loop (a crash, ``kill -9``) is resumed by
running it again: the journal says where each message stood.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Protocol
from zoneinfo import ZoneInfo

import pyarrow as pa

from ..data.keys import among
from ..exceptions import SchemaError
from ..storage.base import Output, Write
from . import rules
from .audience import control_generation, in_global_control
from .campaign import Campaign, status_output
from .channels import CHANNELS, Channel, Delivery, Message
from .ledger import SETTLED, Journal, Step, outcome

if TYPE_CHECKING:
    from ..workspace import Workspace

PAUSE_FLAG = "pause"


class Renderer(Protocol):
    """Renders a batch of customers' messages: ``{customer_id: (subject, text, html, fields)}``."""

    def __call__(self, customer_ids: list[str], variants: dict[str, str]) -> dict[str, tuple]: ...


@dataclass
class SendReport:
    """What one run of the loop did."""

    campaign: str
    status: str
    counts: dict[str, int] = field(default_factory=dict)
    deferred: int = 0
    paused_because: str | None = None
    #: Why messages still queued wait (the next wave waiting for the last one's responses).
    waiting: str | None = None


def pause_flag(ws: "Workspace", campaign: Campaign) -> Path:
    return campaign.folder(ws.root) / PAUSE_FLAG


def request_pause(ws_root: Path, name: str) -> Path:
    """Ask a running send loop to pause (it stops before its next message); returns the flag's path."""
    flag = Path(ws_root) / "campaigns" / name / PAUSE_FLAG
    flag.parent.mkdir(parents=True, exist_ok=True)
    flag.write_text(dt.datetime.now().isoformat())
    return flag


def journal_of(ws: "Workspace", campaign: Campaign) -> Journal:
    return Journal(campaign.folder(ws.root) / "journal.jsonl", sync=bool(ws.config["campaigns"]["journal_sync"]))


# -- folding the journal ------------------------------------------------------------------
def settle_journal(ws: "Workspace", campaign: Campaign, journal: Journal, resend_in_doubt: bool) -> int:
    """Fold the journal's steps into ``campaign_sends`` (one unit) and empty it; returns the rows settled.

    A step with no settled outcome (``intent``, ``retry``, or ``committing`` of a channel that may
    resend) leaves the row queued, with one more attempt counted."""
    last = journal.last_steps()
    if not last:
        return 0
    rows = [_ledger_change(campaign, step, outcome(step, resend_in_doubt)) for step in last.values()]
    ws.storage.apply(Output([Write("campaign_sends", pa.Table.from_pylist(rows, schema=_CHANGE), mode="upsert",
                                   key=("campaign_id", "customer_id", "channel"))]))
    journal.truncate()
    return sum(r["state"] != "queued" for r in rows)


_CHANGE = pa.schema([("campaign_id", pa.string()), ("customer_id", pa.string()), ("channel", pa.string()),
                     ("state", pa.string()), ("reason", pa.string()), ("provider_id", pa.string()),
                     ("settled_at", pa.timestamp("us"))])


def _ledger_change(campaign: Campaign, step: Step, state: str | None) -> dict:
    settled = state in SETTLED
    when = dt.datetime.fromisoformat(step.at) if step.at else dt.datetime.now()
    return {"campaign_id": campaign.campaign_id, "customer_id": step.customer_id, "channel": campaign.channel,
            "state": state if settled else "queued", "reason": step.reason if settled else None,
            "provider_id": step.provider_id, "settled_at": when if settled else None}


# -- preparing a run -------------------------------------------------------------------------
def channel_for(ws: "Workspace", name: str) -> Channel:
    """The channel ``name`` with its ``[channels.<name>]`` settings (a relative ``path`` is the workspace's)."""
    if name not in CHANNELS:
        raise SchemaError(f"channel {name!r} is not one of {', '.join(sorted(CHANNELS))}")
    settings = dict(ws.config.get("channels", {}).get(name, {}))
    if settings.get("path") and not Path(settings["path"]).is_absolute():
        settings["path"] = str(ws.root / settings["path"])
    return CHANNELS[name](settings)


def prepare_run(ws: "Workspace", campaign: Campaign, render: Renderer) -> _Run:
    """Everything one run of the loop needs, read once."""
    from .links import link_key, unsubscribe_url

    channel = channel_for(ws, campaign.channel)
    cfg = ws.config["campaigns"]
    caps = rules.Caps.from_config(cfg, channel.settings)
    key, base = link_key(ws.root), cfg["link_base_url"]
    return _Run(ws, campaign, channel, journal_of(ws, campaign), render, caps,
                ZoneInfo(ws.config["workspace"]["timezone"]), channel.settings.get("default_region"),
                lambda customer: unsubscribe_url(base, key, customer, campaign.channel),
                _send_hours(ws, campaign), spent=_spent(ws, campaign))


def _send_hours(ws: "Workspace", campaign: Campaign) -> dict[str, int]:
    """Each queued customer's best hour (``best_hour`` schedule: the offer plan's ``send_hour``)."""
    if campaign.schedule != "best_hour":
        return {}
    if not ws.storage.any_table("offer_plan") or "send_hour" not in ws.table("offer_plan").columns:
        raise SchemaError("schedule best_hour needs each customer's best hour: run `micromarket offers plan` first")
    plan = ws.table("offer_plan")
    return {r["customer_id"]: int(r["send_hour"]) for r in ws.storage.rows(
        plan.filter(plan.send_hour.notnull()).select("customer_id", "send_hour"))}


def _spent(ws: "Workspace", campaign: Campaign) -> float:
    """What the campaign's messages sent so far cost (the budget counts them)."""
    sends = ws.table("campaign_sends")
    sent = sends.filter(sends.campaign_id == campaign.campaign_id, sends.state == "sent").count().to_pyarrow().as_py()
    return float(sent) * campaign.contact_cost


# -- rendering ---------------------------------------------------------------------------------
def campaign_renderer(ws: "Workspace", campaign: Campaign) -> Renderer:
    """Renders a batch of the campaign's messages from its variants' templates (loaded and checked
    once, here: a template error stops the campaign before anything is sent)."""
    from .campaign import variant_depths
    from .links import link_key, preferences_url, unsubscribe_url
    from .messages import MessageTemplate, message_context

    currency = ws.config["workspace"]["currency"]
    templates = {v["name"]: MessageTemplate.from_file(v["template"], currency=currency)
                 for v in campaign.variants if v.get("template")}
    depths = variant_depths(campaign)
    key, base = link_key(ws.root), ws.config["campaigns"]["link_base_url"]

    def link(customer: str) -> str:
        return unsubscribe_url(base, key, customer, campaign.channel)

    def choices(customer: str) -> str:
        return preferences_url(base, key, customer)

    def render(customer_ids: list[str], variants: dict[str, str]) -> dict[str, tuple]:
        out = {}
        for context in message_context(ws, customer_ids, campaign=campaign.campaign_id, unsubscribe_url=link,
                                       preferences_url=choices):
            customer = context["customer"]["customer_id"]
            variant = variants.get(customer, "")
            if variant in depths:  # a test of depths: the variant's coupon, not the plan's
                context = {**context, "offer": {**(context.get("offer") or {}), "discount_depth": depths[variant]}}
            template = templates.get(variant)
            parts = template.render(context) if template else (None, None, None)
            out[customer] = (*parts, _fields(context))
        return out

    return render


def _fields(context: dict) -> dict:
    """The personalised values files and webhooks carry: the offer, segment and persona."""
    offer = context.get("offer") or {}
    return {"segment": context.get("segment"), "persona": context.get("persona"),
            **{f"offer_{k}": v for k, v in (offer.items() if isinstance(offer, dict) else [])}}


def preview_message(ws: "Workspace", campaign: Campaign, customer_id: str) -> dict:
    """The message ``customer_id`` would get (the variant drawn for them), nothing sent."""
    from .campaign import assignment

    people = assignment(ws, campaign)
    found = ws.storage.rows(people.filter(people.customer_id == customer_id).select("group", "variant"))
    variant = found[0]["variant"] if found else campaign.variants[0]["name"]
    parts = campaign_renderer(ws, campaign)([customer_id], {customer_id: variant})
    if customer_id not in parts:
        raise SchemaError(f"customer_id={customer_id!r} is not in the workspace's customers table")
    subject, text, html, fields = parts[customer_id]
    return {"customer_id": customer_id, "variant": variant, "group": found[0]["group"] if found else "not in the audience",
            "subject": subject, "text": text, "html": html, "fields": fields}


def sender_domain(ws: "Workspace", campaign: Campaign) -> str:
    """The domain of Message-IDs: the channel's sender's, else ``micromarket.invalid``."""
    from email.utils import parseaddr

    sender = ws.config.get("channels", {}).get(campaign.channel, {}).get("from") or ""
    return parseaddr(sender)[1].rpartition("@")[2] or "micromarket.invalid"


# -- the loop -------------------------------------------------------------------------------
def queued(ws: "Workspace", campaign: Campaign, after: str | None, limit: int, wave: int | None = None) -> list[dict]:
    """The next ``limit`` queued ledger rows after customer ``after`` (of ``wave`` only, where given),
    in customer order."""
    sends = ws.table("campaign_sends")
    mine = sends.filter(sends.campaign_id == campaign.campaign_id, sends.state == "queued")
    if wave is not None:
        mine = mine.filter(mine.wave == wave)
    if after is not None:
        mine = mine.filter(mine.customer_id > after)
    return ws.storage.rows(mine.select("customer_id", "variant", "message_id").order_by("customer_id").limit(limit))


@dataclass
class _Run:
    """The state of one run of the loop."""

    ws: "Workspace"
    campaign: Campaign
    channel: Channel
    journal: Journal
    render: Renderer
    caps: rules.Caps
    default_zone: ZoneInfo
    region: str | None
    link: Callable[[str], str | None]
    send_hours: dict[str, int]
    spent: float = 0.0
    counts: dict[str, int] = field(default_factory=dict)
    recent: deque = field(default_factory=lambda: deque(maxlen=100))
    deferred: int = 0
    last_send: float = 0.0

    def count(self, key: str) -> None:
        self.counts[key] = self.counts.get(key, 0) + 1


def run_loop(run: _Run, progress: Callable[[int, int], None] | None, resend_in_doubt: bool) -> SendReport:
    """Send every queued message of the campaign (see the module)."""
    ws, campaign = run.ws, run.campaign
    settle_journal(ws, campaign, run.journal, resend_in_doubt or run.channel.resend_in_doubt)
    batch_size = int(ws.config["campaigns"]["batch"])
    run.recent = deque(maxlen=int(ws.config["campaigns"]["pause_window"]))
    wave, waiting = _next_wave(run)
    if waiting:
        return _finish(run, None, waiting)
    after, done, total = None, 0, _queued_total(ws, campaign)
    paused = None
    with run.journal, run.channel:
        while paused is None:
            batch = queued(ws, campaign, after, batch_size, wave)
            if not batch:
                break
            after = batch[-1]["customer_id"]
            paused = _send_batch(run, batch)
            settle_journal(ws, campaign, run.journal, run.channel.resend_in_doubt)
            done += len(batch)
            if progress:
                progress(done, total)
    return _finish(run, paused, _after_wave(run, wave) if paused is None else None)


def _next_wave(run: "_Run") -> tuple[int | None, str | None]:
    """The wave to send now (``None``: no waves), allocating its variants first; or why it waits."""
    from .waves import allocation_output, current_wave, uses_bandit, wave_ready

    if not uses_bandit(run.campaign):
        return None, None
    wave = current_wave(run.ws, run.campaign)
    if wave is None or wave == 1:
        return wave, None
    ready, ends = wave_ready(run.ws, run.campaign, wave)
    if not ready:
        return wave, f"wave {wave} waits for the responses to wave {wave - 1} (their window ends {ends:%Y-%m-%d %H:%M})"
    output, _ = allocation_output(run.ws, run.campaign, wave)
    run.ws.storage.apply(output)
    return wave, None


def _after_wave(run: "_Run", wave: int | None) -> str | None:
    """Why the campaign waits after sending ``wave`` (the next wave's responses), or ``None``."""
    from .waves import current_wave

    if wave is None:
        return None
    following = current_wave(run.ws, run.campaign)
    return None if following is None else f"wave {following} waits for the responses to wave {wave}"


def _queued_total(ws: "Workspace", campaign: Campaign) -> int:
    sends = ws.table("campaign_sends")
    return int(sends.filter(sends.campaign_id == campaign.campaign_id, sends.state == "queued").count()
               .to_pyarrow().as_py())


def _send_batch(run: _Run, batch: list[dict]) -> str | None:
    """Send one batch; returns why the loop pauses, or ``None``."""
    ids = [row["customer_id"] for row in batch]
    flag = pause_flag(run.ws, run.campaign)  # checked before every message: its path made once
    facts = rules.facts(run.ws, ids, run.campaign.channel, run.channel.consent, run.region,
                        capped=not run.campaign.transactional)
    control = _in_control(run.ws, ids) if not run.campaign.transactional else set()
    rendered = run.render(ids, {row["customer_id"]: row["variant"] for row in batch})
    for row in batch:
        if flag.exists():
            return "paused by request"
        if _error_rate_exceeded(run):
            return (f"more than {run.ws.config['campaigns']['pause_error_rate']:.0%} of the last "
                    f"{len(run.recent)} messages failed")
        _send_one(run, row, facts, row["customer_id"] in control, rendered)
    return None


def _in_control(ws: "Workspace", ids: list[str]) -> set[str]:
    """Which of ``ids`` are in the global control group now (a reshuffle since launch moves some in)."""
    generation = control_generation(ws)
    if generation is None:
        return set()
    customers = among(ws.table("customers"), "customer_id", ids)
    flagged = customers.filter(in_global_control(customers.customer_id, generation)).select("customer_id")
    return {r["customer_id"] for r in ws.storage.rows(flagged)}


def _send_one(run: _Run, row: dict, facts: rules.Facts, in_control: bool, rendered: dict[str, tuple]) -> None:
    customer = row["customer_id"]
    reason = rules.decide(customer, facts=facts, channel=run.campaign.channel, consent=run.channel.consent,
                          address=run.channel.address, in_control=in_control, caps=run.caps,
                          transactional=run.campaign.transactional, now=dt.datetime.now(dt.timezone.utc),
                          default_zone=run.default_zone, send_hour=run.send_hours.get(customer))
    if reason is None and run.campaign.budget is not None and run.spent + run.campaign.contact_cost > run.campaign.budget:
        reason = "budget"
    if reason in rules.DEFERRALS:
        run.deferred += 1
        return
    if reason is not None:
        run.journal.write(customer, "skipped", reason=reason)
        run.count(f"skipped:{reason}")
        return
    if customer not in rendered:
        run.journal.write(customer, "skipped", reason="unreachable")  # no longer in customers (erased)
        run.count("skipped:unreachable")
        return
    _throttle(run)
    delivery = _deliver(run, row, facts, rendered[customer])
    run.recent.append(delivery.status in ("failed",))
    if delivery.status == "sent":
        rules.record_sent(facts, customer, run.campaign.channel)
        run.spent += run.campaign.contact_cost
    run.count(delivery.status)


def _deliver(run: _Run, row: dict, facts: rules.Facts, parts: tuple) -> Delivery:
    """Journal, send and journal the outcome of one message."""
    customer = row["customer_id"]
    subject, text, html, fields = parts
    contact = facts.contacts.get(customer, {})
    message = Message(run.campaign.campaign_id, customer, run.campaign.channel, row["variant"], row["message_id"],
                      recipient={k: v for k, v in contact.items() if v is not None and k in rules.CONTACT},
                      subject=subject, text=text, html=html, fields=fields, unsubscribe_url=run.link(customer))
    run.journal.write(customer, "intent")
    try:
        delivery = run.channel.send(message, lambda: run.journal.write(customer, "committing"))
    except (OSError, TimeoutError) as error:
        # The connection broke: where it broke after the mark, the message is in doubt, and the
        # journal's last step says so; otherwise it is tried again on resume.
        delivery = Delivery("retry", error=f"{type(error).__name__}: {error}")
        run.channel.reset()
    if delivery.status == "retry":
        run.journal.write(customer, "retry", reason=delivery.error)
    else:
        run.journal.write(customer, delivery.status, reason=delivery.error, provider_id=delivery.provider_id)
    if delivery.status == "bounced":
        _suppress_bounce(run, contact)
    return delivery


def _suppress_bounce(run: _Run, contact: dict) -> None:
    """A permanently undeliverable address joins the suppression list at once."""
    from .suppression import email_key, suppression_rows, suppressions_output

    address = contact.get(run.channel.address or "")
    if address and run.channel.address == "email":
        run.ws.storage.apply(suppressions_output(suppression_rows(
            [("email", email_key(address), "all", "bounced")], f"campaign {run.campaign.campaign_id}")))


def _throttle(run: _Run) -> None:
    """At most ``rate`` messages per second on the channel (0: as fast as it takes them)."""
    rate = float(run.channel.settings.get("rate") or 0)
    if rate > 0:
        wait = run.last_send + 1.0 / rate - time.monotonic()
        if wait > 0:
            time.sleep(wait)
    run.last_send = time.monotonic()


def _error_rate_exceeded(run: _Run) -> bool:
    window = run.recent.maxlen or 1
    return len(run.recent) >= window and sum(run.recent) / len(run.recent) > run.ws.config["campaigns"]["pause_error_rate"]


def _finish(run: _Run, paused: str | None, waiting: str | None = None) -> SendReport:
    """The campaign's status after the loop: paused, done (nothing queued), or still sending
    (deferred messages, or a wave waiting for responses)."""
    ws, campaign = run.ws, run.campaign
    flag = pause_flag(ws, campaign)
    if paused:
        ws.storage.apply(status_output(campaign, "paused"))
        status = "paused"
    elif run.deferred or waiting:
        ws.storage.apply(status_output(campaign, "sending"))
        status = "sending"
    else:
        ws.storage.apply(status_output(campaign, "done", finished_at=dt.datetime.now().replace(microsecond=0)))
        status = "done"
    flag.unlink(missing_ok=True)
    return SendReport(campaign.campaign_id, status, dict(run.counts), run.deferred, paused, waiting)


__all__ = ["Renderer", "SendReport", "channel_for", "prepare_run", "request_pause", "run_loop", "settle_journal"]
