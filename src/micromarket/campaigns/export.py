"""An audience exported for another system (``GET /api/v1/audiences/{segment}``): the members of a
segment that a channel may reach now — consent given, address present, not suppressed, not in the
global control group — with the address, and why the others were left out."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from . import rules
from .audience import audience, control_generation, in_global_control
from .send import channel_for

if TYPE_CHECKING:
    from ..workspace import Workspace

BATCH = 20_000


def reachable(ws: "Workspace", segment: str, channel: str) -> tuple[list[dict], dict[str, int]]:
    """``(rows, excluded)``: ``customer_id`` and the channel's address of each member of
    ``segment`` that ``channel`` may reach, in customer order, and how many were left out for
    each reason (:data:`micromarket.campaigns.rules.REASONS`). Frequency caps and quiet hours are
    for sending and do not apply to an export."""
    way = channel_for(ws, channel)
    people = audience(ws, "segment", segment)
    generation = control_generation(ws)
    flagged = people.mutate(control=in_global_control(people.customer_id, generation))
    members = ws.storage.rows(flagged.order_by("customer_id"))
    excluded: Counter = Counter(global_control=sum(m["control"] for m in members))
    ids = [m["customer_id"] for m in members if not m["control"]]
    zone = ZoneInfo(ws.config["workspace"]["timezone"])
    now = dt.datetime.now(dt.timezone.utc)
    out = []
    for start in range(0, len(ids), BATCH):
        chunk = ids[start:start + BATCH]
        facts = rules.facts(ws, chunk, channel, way.consent, way.settings.get("default_region"), capped=False)
        for customer in chunk:
            reason = rules.decide(customer, facts=facts, channel=channel, consent=way.consent, address=way.address,
                                  in_control=False, caps=rules.Caps(), transactional=False, now=now,
                                  default_zone=zone)
            if reason is None or reason in rules.DEFERRALS:
                contact = facts.contacts.get(customer, {})
                out.append({"customer_id": customer, **({way.address: contact.get(way.address)} if way.address else {})})
            else:
                excluded[reason] += 1
    return out, {k: v for k, v in excluded.items() if v}


__all__ = ["reachable"]
