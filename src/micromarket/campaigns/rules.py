"""The rules every message passes at send time, in one place: consent for the channel, a
reachable address, suppression lists, the global control group, frequency caps and quiet hours.

The send loop and the dry run both call :func:`decide` on the same facts (:func:`facts`), so a dry
run says exactly why each customer would be skipped. A skip is final for the campaign (recorded
with its reason); quiet hours and a customer's best hour only *defer* a message to a later
resume. Caps count messages already sent (``campaign_sends``) plus those sent earlier in the same
run, per calendar day and ISO week in the customer's own time zone (a ``timezone`` column of
``customers`` where the data has one, else the workspace's); transactional campaigns' messages
neither wait for caps nor count towards them.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Iterable
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ..data.keys import among
from ..exceptions import ConfigError
from .suppression import suppressed_customers

if TYPE_CHECKING:
    from ..workspace import Workspace

#: Skip reasons, in the order the rules are checked.
REASONS = ("global_control", "no_consent", "unreachable", "suppressed", "capped", "budget")
#: Reasons a message waits for (it stays queued for a later resume).
DEFERRALS = ("quiet_hours", "best_hour")
#: The frequencies a customer can choose in the preference centre, as the days between two
#: marketing messages.
FREQUENCY_DAYS = {"weekly": 7, "monthly": 30}
#: Contact fields a message may need (those the customers table has are read).
CONTACT = ("email", "phone", "first_name", "last_name", "postcode", "country")


@dataclass(frozen=True)
class Caps:
    """Messages per customer per calendar day and ISO week: across all channels, and on this
    channel (0 = no cap), and the quiet hours ``(start, end)`` in local time (``None``: none)."""

    day: int = 0
    week: int = 0
    channel_day: int = 0
    channel_week: int = 0
    quiet: tuple[int, int] | None = None

    @classmethod
    def from_config(cls, campaigns: dict, channel: dict) -> "Caps":
        quiet = campaigns.get("quiet_hours") or []
        if quiet and (len(quiet) != 2 or not all(isinstance(h, int) and 0 <= h <= 23 for h in quiet)):
            raise ConfigError(f"[campaigns] quiet_hours = {quiet!r}: expected [start, end] hours 0-23, e.g. [21, 8], "
                              "or [] for none")
        return cls(int(campaigns.get("cap_day", 0)), int(campaigns.get("cap_week", 0)),
                   int(channel.get("cap_day", 0)), int(channel.get("cap_week", 0)), tuple(quiet) if quiet else None)


@dataclass
class Facts:
    """What the rules read about a batch of customers (see :func:`facts`)."""

    contacts: dict[str, dict]
    suppressed: set[str]
    #: Per customer: (settled_at, channel) of messages sent before this run that count towards caps.
    history: dict[str, list[tuple[dt.datetime, str]]]
    #: Messages this run has sent per customer (what the ledger table does not hold yet).
    sent_now: Counter = field(default_factory=Counter)
    #: How often each customer who said so in the preference centre wants marketing messages
    #: (``weekly`` or ``monthly``; others: as often as the caps allow).
    frequency: dict[str, str] = field(default_factory=dict)


def facts(ws: "Workspace", customer_ids: list[str], channel: str, consent: str | None, region: str | None,
          capped: bool) -> Facts:
    """Contact fields, consent, time zone, suppression and recent sends of ``customer_ids``."""
    customers = ws.table("customers")
    columns = [c for c in (*CONTACT, "timezone", consent) if c and c in customers.columns]
    rows = ws.storage.rows(among(customers, "customer_id", customer_ids).select("customer_id", *columns))
    contacts = {r["customer_id"]: r for r in rows}
    if consent:
        _apply_stated_consent(ws, contacts, consent)
    return Facts(contacts, suppressed_customers(ws, contacts, channel, region),
                 _history(ws, customer_ids) if capped else {},
                 frequency=_stated_frequency(ws, customer_ids) if capped else {})


def _stated_frequency(ws: "Workspace", customer_ids: list[str]) -> dict[str, str]:
    stated = ws.storage.any_table("customer_preferences")
    if stated is None or "frequency" not in stated.columns or not customer_ids:
        return {}
    chosen = among(stated, "customer_id", customer_ids).filter(lambda t: t.frequency.isin(list(FREQUENCY_DAYS)))
    return {r["customer_id"]: r["frequency"] for r in ws.storage.rows(chosen.select("customer_id", "frequency"))}


def _apply_stated_consent(ws: "Workspace", contacts: dict[str, dict], consent: str) -> None:
    """Consent the customers stated themselves (preference centre, unsubscribe links:
    ``customer_preferences``) wins over the loaded column."""
    stated = ws.storage.any_table("customer_preferences")
    if stated is None or consent not in stated.columns or not contacts:
        return
    rows = ws.storage.rows(among(stated, "customer_id", list(contacts)).filter(lambda t: t[consent].notnull())
                           .select("customer_id", consent))
    for r in rows:
        contacts[r["customer_id"]][consent] = bool(r[consent])


def _history(ws: "Workspace", customer_ids: list[str]) -> dict[str, list[tuple[dt.datetime, str]]]:
    """Messages sent to ``customer_ids`` in the last 31 days (the longest stated frequency) by
    campaigns that are not transactional."""
    sends, campaigns = ws.table("campaign_sends"), ws.table("campaigns")
    since = dt.datetime.now() - dt.timedelta(days=max(FREQUENCY_DAYS.values()) + 1)
    marketing = campaigns.filter(~campaigns.settings.contains('"transactional": true')).select("campaign_id")
    recent = among(sends, "customer_id", customer_ids).filter(lambda t: (t.state == "sent") & (t.settled_at >= since))
    recent = recent.semi_join(marketing, "campaign_id").select("customer_id", "settled_at", "channel")
    history: dict[str, list] = {}
    for r in ws.storage.rows(recent):
        history.setdefault(r["customer_id"], []).append((r["settled_at"], r["channel"]))
    return history


def zone(name: str | None, default: ZoneInfo) -> ZoneInfo:
    """The time zone called ``name`` (a customer's), or ``default`` where it is missing or unknown."""
    if not name:
        return default
    try:
        return ZoneInfo(str(name))
    except (ZoneInfoNotFoundError, ValueError):
        return default


def decide(customer_id: str, *, facts: Facts, channel: str, consent: str | None, address: str | None,
           in_control: bool, caps: Caps, transactional: bool, now: dt.datetime, default_zone: ZoneInfo,
           send_hour: int | None = None) -> str | None:
    """Why ``customer_id`` gets no message now (a reason of :data:`REASONS` or :data:`DEFERRALS`),
    or ``None`` to send. ``now`` is aware (UTC)."""
    contact = facts.contacts.get(customer_id, {})
    if in_control and not transactional:
        return "global_control"
    if consent and contact.get(consent) is not True:
        return "no_consent"
    if address and not (contact.get(address) or "").strip():
        return "unreachable"
    if customer_id in facts.suppressed and not transactional:
        return "suppressed"
    local = now.astimezone(zone(contact.get("timezone"), default_zone))
    if not transactional and (_over_cap(facts, customer_id, channel, caps, local)
                              or _over_frequency(facts, customer_id, now)):
        return "capped"
    if not transactional and caps.quiet and _quiet(local.hour, caps.quiet):
        return "quiet_hours"
    if send_hour is not None and local.hour != send_hour:
        return "best_hour"
    return None


def _quiet(hour: int, quiet: tuple[int, int]) -> bool:
    """Whether ``hour`` is in the quiet hours ``[start, end)`` (wrapping past midnight)."""
    start, end = quiet
    return start <= hour < end if start <= end else hour >= start or hour < end


def _over_cap(facts: Facts, customer_id: str, channel: str, caps: Caps, local: dt.datetime) -> bool:
    """Whether one more message would pass a cap, counting in the customer's local calendar."""
    if not (caps.day or caps.week or caps.channel_day or caps.channel_week):
        return False
    tz = local.tzinfo
    day, week = local.date(), local.isocalendar()[:2]
    sent = [(when.replace(tzinfo=dt.timezone.utc).astimezone(tz) if when.tzinfo is None else when.astimezone(tz), ch)
            for when, ch in facts.history.get(customer_id, [])]
    now_all, now_channel = facts.sent_now[customer_id], facts.sent_now[(customer_id, channel)]
    counts = {
        "day": sum(w.date() == day for w, _ in sent) + now_all,
        "week": sum(w.isocalendar()[:2] == week for w, _ in sent) + now_all,
        "channel_day": sum(w.date() == day and c == channel for w, c in sent) + now_channel,
        "channel_week": sum(w.isocalendar()[:2] == week and c == channel for w, c in sent) + now_channel,
    }
    return any(getattr(caps, name) and count >= getattr(caps, name) for name, count in counts.items())


def _over_frequency(facts: Facts, customer_id: str, now: dt.datetime) -> bool:
    """Whether a marketing message went to the customer within the period they chose (preference
    centre: at most weekly or monthly), on any channel."""
    days = FREQUENCY_DAYS.get(facts.frequency.get(customer_id, ""))
    if days is None:
        return False
    if facts.sent_now[customer_id]:
        return True
    since = now - dt.timedelta(days=days)
    return any((when if when.tzinfo else when.replace(tzinfo=dt.timezone.utc)) > since
               for when, _ in facts.history.get(customer_id, []))


def record_sent(facts: Facts, customer_id: str, channel: str) -> None:
    """Count a message this run sent towards the customer's caps."""
    facts.sent_now[customer_id] += 1
    facts.sent_now[(customer_id, channel)] += 1


def summarise(reasons: Iterable[str | None]) -> dict[str, int]:
    """Counts per decision (``send`` for ``None``)."""
    return dict(Counter(r or "send" for r in reasons))


__all__ = ["Caps", "DEFERRALS", "Facts", "REASONS", "decide", "facts", "record_sent", "summarise", "zone"]
