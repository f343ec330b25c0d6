"""Bounces, complaints and unsubscribes reported by e-mail providers, turned into suppressions.

``micromarket suppress FILE`` reads a CSV of addresses (:mod:`.suppression`) or, for a ``.json`` or
``.jsonl`` file, the webhook payloads providers send (one payload, a list of them, or one per line).
Recognised: Amazon SES notifications (also wrapped in an SNS envelope), SendGrid's event webhook,
Mailgun's webhooks and Postmark's. Only permanent outcomes suppress: a hard bounce, a spam complaint,
an unsubscribe; a soft bounce (a full mailbox, a greylisting) does not, and is counted as ignored.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator

from ..exceptions import SchemaError
from .suppression import email_key

#: (reason, address) pairs come out of a payload; None for a payload that says nothing permanent.
Entry = tuple[str, str]


def read_payloads(path: Path) -> list[Any]:
    """The payloads of a ``.json`` file (one, or a list) or a ``.jsonl`` file (one a line)."""
    text = path.read_text(encoding="utf-8")
    try:
        if path.suffix == ".jsonl":
            return [json.loads(line) for line in text.splitlines() if line.strip()]
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise SchemaError(f"{path}, line {error.lineno}: not JSON ({error.msg})") from None
    return data if isinstance(data, list) else [data]


def feedback_entries(payloads: list[Any]) -> tuple[list[Entry], int]:
    """The suppressions the payloads ask for, and how many events were not permanent (ignored)."""
    entries, ignored = [], 0
    for payload in payloads:
        found = list(_entries(payload))
        entries += [(r, email_key(a)) for r, a in found if r and a]
        ignored += sum(1 for r, _ in found if r is None)
    return entries, ignored


def _entries(payload: Any) -> Iterator[tuple[str | None, str | None]]:
    if not isinstance(payload, dict):
        raise SchemaError(f"a provider payload must be a JSON object; got {type(payload).__name__}")
    if payload.get("Type") == "Notification" and isinstance(payload.get("Message"), str):
        yield from _entries(json.loads(payload["Message"]))  # SNS envelope around an SES notification
    elif "notificationType" in payload or "eventType" in payload:
        yield from _ses(payload)
    elif "event-data" in payload:
        yield from _mailgun(payload["event-data"])
    elif "RecordType" in payload:
        yield _postmark(payload)
    elif "event" in payload and "email" in payload:
        yield _sendgrid(payload)
    else:
        raise SchemaError(f"a payload of an unknown provider (keys {', '.join(sorted(payload)[:8])}): expected "
                          "Amazon SES, SendGrid, Mailgun or Postmark")


def _ses(payload: dict) -> Iterator[tuple[str | None, str | None]]:
    kind = payload.get("notificationType") or payload.get("eventType")
    if kind == "Bounce":
        bounce = payload.get("bounce", {})
        reason = "bounced" if bounce.get("bounceType") == "Permanent" else None
        for recipient in bounce.get("bouncedRecipients", []):
            yield reason, recipient.get("emailAddress")
    elif kind == "Complaint":
        for recipient in payload.get("complaint", {}).get("complainedRecipients", []):
            yield "complained", recipient.get("emailAddress")


def _mailgun(event: dict) -> Iterator[tuple[str | None, str | None]]:
    kind = event.get("event")
    if kind == "failed":
        yield ("bounced" if event.get("severity") == "permanent" else None), event.get("recipient")
    elif kind in ("complained", "unsubscribed"):
        yield kind, event.get("recipient")


def _postmark(payload: dict) -> tuple[str | None, str | None]:
    kind, address = payload.get("RecordType"), payload.get("Email") or payload.get("Recipient")
    if kind == "Bounce":
        return ("bounced" if payload.get("Type") in ("HardBounce", "BadEmailAddress", "ManuallyDeactivated") else None), address
    if kind == "SpamComplaint":
        return "complained", address
    if kind == "SubscriptionChange" and payload.get("SuppressSending"):
        return "unsubscribed", address
    return None, address


def _sendgrid(payload: dict) -> tuple[str | None, str | None]:
    kind, address = payload.get("event"), payload.get("email")
    if kind == "bounce":
        return ("bounced" if payload.get("type", "bounce") == "bounce" else None), address  # "blocked" is temporary
    if kind == "spamreport":
        return "complained", address
    if kind in ("unsubscribe", "group_unsubscribe"):
        return "unsubscribed", address
    return None, address


__all__ = ["feedback_entries", "read_payloads"]
