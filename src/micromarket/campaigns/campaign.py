"""A campaign's definition and lifecycle: create (``draft``), launch (members and holdout drawn,
the ledger written, ``sending`` or ``scheduled``), pause, and its status.

Lifecycle: ``draft`` -> ``scheduled`` (launched, sending at ``send_at``) -> ``sending`` ->
``paused`` (by ``campaign pause``, or automatically when too many messages fail) -> ``sending``
(``campaign resume``) -> ``done`` (no message left to send). Only a draft can be launched, once:
launching fixes the members, the holdout and the attribution window.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass
from numbers import Real
from pathlib import Path
from typing import TYPE_CHECKING, Any

import ibis
import pyarrow as pa

from ..exceptions import NotFoundError, SchemaError
from ..storage.base import Output, Write
from .audience import assign_holdout, audience, bucket, control_generation, in_global_control, strata, threshold
from .channels import CHANNELS
from .waves import wave_expr

if TYPE_CHECKING:
    import ibis.expr.types as ir

    from ..workspace import Workspace

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
STATUSES = ("draft", "scheduled", "sending", "paused", "done")
SCHEDULES = ("now", "at", "best_hour")
AUDIENCES = ("segment", "rule", "plan", "list")


@dataclass
class Campaign:
    """One row of ``campaigns``, decoded (see :data:`micromarket.schema.campaigns.CAMPAIGNS`)."""

    campaign_id: str
    status: str
    audience_kind: str
    audience: str
    channel: str
    variants: list[dict]
    schedule: str
    send_at: dt.datetime | None
    budget: float | None
    contact_cost: float
    attribution_days: int
    holdout_share: float
    seed: int
    settings: dict
    created_at: dt.datetime | None = None
    launched_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None

    @classmethod
    def from_row(cls, row: dict) -> "Campaign":
        return cls(**{**row, "variants": json.loads(row["variants"]), "settings": json.loads(row["settings"] or "{}")})

    def row(self) -> dict:
        return {**self.__dict__, "variants": json.dumps(self.variants), "settings": json.dumps(self.settings)}

    @property
    def transactional(self) -> bool:
        return bool(self.settings.get("transactional"))

    def folder(self, root: Path) -> Path:
        """Where the campaign's journal, pause flag and progress file live."""
        return Path(root) / "campaigns" / self.campaign_id


def get_campaign(ws: "Workspace", name: str) -> Campaign:
    """The campaign called ``name``; an unknown name is an error listing the known ones."""
    table = ws.table("campaigns")
    rows = ws.storage.rows(table.filter(table.campaign_id == name))
    if not rows:
        known = [r["campaign_id"] for r in ws.storage.rows(table.select("campaign_id").order_by("campaign_id"))]
        raise NotFoundError(f"no campaign {name!r}; campaigns: {', '.join(known) or 'none yet'}")
    return Campaign.from_row(rows[0])


def list_campaigns(ws: "Workspace") -> list[dict]:
    """Every campaign's name, status, channel, audience and dates, newest first."""
    table = ws.table("campaigns")
    return ws.storage.rows(table.select("campaign_id", "status", "channel", "audience_kind", "audience", "created_at",
                                        "launched_at", "finished_at").order_by(table.created_at.desc()))


def new_campaign(ws: "Workspace", name: str, *, audience_kind: str, audience_value: str, template: str | None,
                 channel: str, holdout: float | None = None, variants: list[dict] | None = None,
                 schedule: str = "now", send_at: dt.datetime | None = None, budget: float | None = None,
                 contact_cost: float | None = None, attribution_days: int | None = None, seed: int = 0,
                 transactional: bool = False, waves: int = 1, bandit_floor: float = 0.05,
                 response_days: int = 7) -> Campaign:
    """A draft campaign, checked (see :func:`create_output` for storing it). With ``waves`` > 1 and
    several variants, later waves' variants are allocated by Thompson sampling on the responses
    (purchases within ``response_days``) to earlier ones, each variant keeping ``bandit_floor``
    (see :mod:`.waves`)."""
    _check_new(ws, name, audience_kind, audience_value, channel, schedule, send_at)
    cfg = ws.config["campaigns"]
    share = cfg["holdout"] if holdout is None else holdout
    if not 0 <= share < 1:
        raise SchemaError(f"holdout = {share!r}: expected a share of the audience in [0, 1)")
    if transactional and share:
        raise SchemaError("a transactional campaign has no holdout (--holdout 0): its messages are owed to every customer")
    variants = variants or [{"name": "A", "template": template}]
    _check_variants(variants)
    _check_waves(waves, bandit_floor, response_days, len(variants))
    if not all(v.get("template") for v in variants) and CHANNELS[channel].address:
        raise SchemaError(f"channel {channel} sends messages: give a template (--template FILE)")
    return Campaign(name, "draft", audience_kind, audience_value, channel, variants, schedule, send_at,
                    budget if budget else None,
                    float(ws.config["offers"]["contact_cost"] if contact_cost is None else contact_cost),
                    int(attribution_days or cfg["attribution_days"]), float(share), int(seed),
                    {"transactional": bool(transactional), "waves": int(waves), "bandit_floor": float(bandit_floor),
                     "response_days": int(response_days)}, created_at=dt.datetime.now().replace(microsecond=0))


def _check_variants(variants: list[dict]) -> None:
    """Variant names are unique, and a variant's own coupon (``discount_depth``: a share off, which
    replaces the offer plan's depth for its members, for a test of depths) is in [0, 1)."""
    names = [v.get("name") for v in variants]
    if len(set(names)) < len(names) or not all(names):
        raise SchemaError(f"variants {names}: each needs a name of its own")
    for v in variants:
        depth = v.get("discount_depth")
        if depth is not None and not (isinstance(depth, Real) and not isinstance(depth, bool) and 0 <= depth < 1):
            raise SchemaError(f"variant {v['name']!r}: discount_depth = {depth!r}: expected a share in [0, 1) "
                              "(0.2 is 20 % off)")


def variant_depths(campaign: "Campaign") -> dict[str, float]:
    """The coupon depth of each variant that sets its own (see :func:`_check_variants`)."""
    return {v["name"]: float(v["discount_depth"]) for v in campaign.variants if v.get("discount_depth") is not None}


def _check_waves(waves: int, floor: float, response_days: int, variants: int) -> None:
    if waves < 1 or response_days < 1:
        raise SchemaError(f"waves = {waves}, response_days = {response_days}: both must be whole numbers >= 1")
    if waves > 1 and variants < 2:
        raise SchemaError(f"{waves} waves with one variant: waves let a bandit choose between variants; give at "
                          "least two (--variant NAME=FILE, repeated)")
    if not 0 <= floor or floor * variants > 1:
        raise SchemaError(f"bandit floor {floor}: each of the {variants} variants keeps at least this share, so it "
                          f"must be between 0 and {1 / variants:.3f}")


def _check_new(ws: "Workspace", name: str, kind: str, value: str, channel: str, schedule: str, send_at) -> None:
    if not NAME.match(name or ""):
        raise SchemaError(f"campaign name {name!r}: use 1-64 letters, digits, '.', '_' or '-', starting with a "
                          "letter or digit")
    table = ws.table("campaigns")
    if ws.storage.rows(table.filter(table.campaign_id == name).select("campaign_id")):
        raise SchemaError(f"campaign {name!r} already exists")
    if kind not in AUDIENCES:
        raise SchemaError(f"audience {kind!r}: expected one of {', '.join(AUDIENCES)}")
    if channel not in CHANNELS:
        raise SchemaError(f"channel {channel!r}: available channels: {', '.join(sorted(CHANNELS))}")
    if schedule not in SCHEDULES:
        raise SchemaError(f"schedule {schedule!r}: expected one of {', '.join(SCHEDULES)}")
    if (schedule == "at") != (send_at is not None):
        raise SchemaError("a time to send (--at) goes with schedule 'at', and only with it")
    if kind in ("segment", "rule", "plan"):
        audience(ws, kind, value)  # an unknown segment, a rule that does not parse: an error now, not at launch


def create_output(campaign: Campaign, customer_list: pa.Table | None = None) -> Output:
    """Store a draft campaign (and the customers of a list audience)."""
    writes = [Write("campaigns", pa.Table.from_pylist([campaign.row()]), mode="append")]
    if customer_list is not None:
        ids = customer_list.select(["customer_id"]).group_by(["customer_id"]).aggregate([])
        writes.append(Write("campaign_lists", ids.append_column(
            "campaign_id", pa.array([campaign.campaign_id] * ids.num_rows, pa.string())), mode="append"))
    return Output(writes)


# -- who is in it ---------------------------------------------------------------------------
def assignment(ws: "Workspace", campaign: Campaign) -> "ir.Table":
    """Every customer of the audience with ``group``: ``global_control``, ``control`` (the
    holdout) or ``treatment``, the ``variant`` (treated customers) and ``send_hour`` (best hour,
    where known). The same draw at every call (see :mod:`.audience`)."""
    people = audience(ws, campaign.audience_kind, campaign.audience_kind == "list" and campaign.campaign_id
                      or campaign.audience)
    people = _with_send_hour(ws, people)
    generation = control_generation(ws)
    flagged = people.mutate(_control=in_global_control(people.customer_id, generation)
                            if not campaign.transactional else ibis.literal(False))
    assigned = assign_holdout(strata(ws, flagged.filter(~flagged._control)), campaign.holdout_share, campaign.seed)
    controlled = strata(ws, flagged.filter(flagged._control)).mutate(treatment_group=ibis.literal("global_control"))
    both = assigned.union(controlled.select(*assigned.columns)).drop("_control")
    return both.mutate(group=both.treatment_group, variant=_variant(campaign, both)).drop("treatment_group")


def _with_send_hour(ws: "Workspace", people: "ir.Table") -> "ir.Table":
    """``people`` with ``send_hour``: the offer plan's where the audience is the plan, else NULL."""
    if "send_hour" in people.columns:
        return people.select("customer_id", "send_hour")
    return people.select("customer_id").mutate(send_hour=ibis.null("int64"))


def _variant(campaign: Campaign, people: "ir.Table") -> "ir.StringValue":
    """An equal random split between the variants (by the customer's bucket under the seed)."""
    names = [v["name"] for v in campaign.variants]
    if len(names) == 1:
        return ibis.literal(names[0])
    share = bucket(f"variant:{campaign.seed}", people.customer_id)
    cases = [(share < threshold((i + 1) / len(names)), name) for i, name in enumerate(names[:-1])]
    return ibis.cases(*cases, else_=names[-1])


def message_id_expr(campaign: Campaign, customer_id: "ir.StringValue", domain: str) -> "ir.StringValue":
    """The engine's :func:`~.channels.base.message_id` (the same digest)."""
    digest = (ibis.literal(f"{campaign.campaign_id}|") + customer_id + ibis.literal(f"|{campaign.channel}"))
    return ibis.literal("<") + digest.hexdigest("sha256").substr(0, 32) + ibis.literal(f"@{domain}>")


def launch_output(ws: "Workspace", campaign: Campaign, domain: str, at: dt.datetime | None = None) -> Output:
    """Launch a draft: its members (treatment and holdout, not the global control) into
    ``campaign_members``, a ``queued`` ledger row per treated customer, and the campaign
    ``sending`` (or ``scheduled`` until ``send_at``), all as one unit. ``at`` is the launch's time
    (default now; the demo launches at the end of its generated history)."""
    if campaign.status != "draft":
        raise SchemaError(f"campaign {campaign.campaign_id!r} is {campaign.status}: only a draft can be launched "
                          "(a launched campaign resumes with `campaign resume`)")
    now = (at or dt.datetime.now()).replace(microsecond=0)
    people = assignment(ws, campaign)
    members = people.filter(people.group != "global_control")
    member_rows = members.select(
        campaign_id=ibis.literal(campaign.campaign_id), customer_id=members.customer_id,
        treatment_group=members.group, variant=members.variant, channel=ibis.literal(campaign.channel),
        assigned_at=ibis.literal(now), load_id=ibis.null("int64"), segment=members.stratum)
    treated = members.filter(members.group == "treatment")
    treated = treated.mutate(wave=wave_expr(campaign, treated.customer_id))
    # Later waves' variants wait for the bandit (see .waves); wave 1, and campaigns without waves, split equally.
    first = treated.wave == 1
    ledger = treated.select(
        campaign_id=ibis.literal(campaign.campaign_id), customer_id=treated.customer_id,
        channel=ibis.literal(campaign.channel), variant=ibis.ifelse(first, treated.variant, ibis.null("string")),
        message_id=message_id_expr(campaign, treated.customer_id, domain), state=ibis.literal("queued"),
        reason=ibis.null("string"),
        allocation_probability=ibis.ifelse(first, 1.0 / len(campaign.variants), ibis.null("float64")),
        wave=treated.wave, attempts=ibis.literal(0, "int64"), provider_id=ibis.null("string"),
        queued_at=ibis.literal(now), settled_at=ibis.null("timestamp"))
    later = campaign.schedule == "at" and campaign.send_at and campaign.send_at > now
    launched = dict(campaign.row(), status="scheduled" if later else "sending", launched_at=now)
    return Output([Write("campaign_members", member_rows, mode="append"), Write("campaign_sends", ledger, mode="append"),
                   Write("campaigns", pa.Table.from_pylist([launched]), mode="upsert", key=("campaign_id",))])


def status_output(campaign: Campaign, status: str, **changes: Any) -> Output:
    """Set a campaign's status (and other columns such as ``finished_at``)."""
    assert status in STATUSES, status
    return Output([Write("campaigns", pa.Table.from_pylist([dict(campaign.row(), status=status, **changes)]),
                         mode="upsert", key=("campaign_id",))])


def counts(ws: "Workspace", campaign: Campaign) -> dict[str, Any]:
    """The campaign's counts by state: ``sent``, ``skipped`` by reason, ``failed``, ``bounced``,
    ``in_doubt``, ``queued`` (still to send) and ``holdout`` (members held out)."""
    sends = ws.table("campaign_sends")
    mine = sends.filter(sends.campaign_id == campaign.campaign_id)
    by_state = {r["state"]: int(r["n"]) for r in ws.storage.rows(mine.group_by("state").aggregate(n=mine.count()))}
    skipped = mine.filter(mine.state == "skipped")
    reasons = {r["reason"]: int(r["n"]) for r in ws.storage.rows(skipped.group_by("reason").aggregate(n=skipped.count()))}
    members = ws.table("campaign_members")
    held = members.filter(members.campaign_id == campaign.campaign_id, members.treatment_group == "control").count()
    return {"campaign": campaign.campaign_id, "status": campaign.status, "channel": campaign.channel,
            **{state: by_state.get(state, 0) for state in ("queued", "sent", "failed", "bounced", "in_doubt")},
            "skipped": reasons, "holdout": int(held.to_pyarrow().as_py())}


__all__ = ["AUDIENCES", "Campaign", "SCHEDULES", "STATUSES", "assignment", "counts", "create_output", "get_campaign",
           "launch_output", "list_campaigns", "message_id_expr", "new_campaign", "status_output"]
