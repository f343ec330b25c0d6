"""Providers' bounce, complaint and unsubscribe payloads become suppressions; soft bounces do not."""

from __future__ import annotations

import json

import pytest

from micromarket.campaigns.feedback import feedback_entries, read_payloads
from micromarket.exceptions import SchemaError
from micromarket.runner import run_suppress

# Shapes as the providers document them (trimmed to the fields read).
SES_BOUNCE = {"notificationType": "Bounce", "bounce": {"bounceType": "Permanent", "bouncedRecipients": [
    {"emailAddress": "Hard@Example.com"}]}}
SES_SOFT = {"notificationType": "Bounce", "bounce": {"bounceType": "Transient", "bouncedRecipients": [
    {"emailAddress": "full@example.com"}]}}
SES_COMPLAINT_IN_SNS = {"Type": "Notification", "Message": json.dumps(
    {"notificationType": "Complaint", "complaint": {"complainedRecipients": [{"emailAddress": "angry@example.com"}]}})}
SENDGRID = [{"email": "gone@example.com", "event": "bounce", "type": "bounce"},
            {"email": "blocked@example.com", "event": "bounce", "type": "blocked"},
            {"email": "spam@example.com", "event": "spamreport"},
            {"email": "bye@example.com", "event": "unsubscribe"},
            {"email": "ok@example.com", "event": "delivered"}]
MAILGUN = {"event-data": {"event": "failed", "severity": "permanent", "recipient": "mg@example.com"}}
POSTMARK = {"RecordType": "Bounce", "Type": "HardBounce", "Email": "pm@example.com"}


def test_permanent_outcomes_suppress_and_soft_ones_are_counted():
    entries, ignored = feedback_entries([SES_BOUNCE, SES_SOFT, SES_COMPLAINT_IN_SNS, *SENDGRID, MAILGUN, POSTMARK])
    assert sorted(entries) == sorted([
        ("bounced", "hard@example.com"), ("complained", "angry@example.com"), ("bounced", "gone@example.com"),
        ("complained", "spam@example.com"), ("unsubscribed", "bye@example.com"), ("bounced", "mg@example.com"),
        ("bounced", "pm@example.com")])
    assert ignored == 3  # the transient SES bounce, SendGrid's blocked and delivered


def test_unknown_payloads_are_an_error_that_names_the_keys():
    with pytest.raises(SchemaError, match="unknown provider.*foo"):
        feedback_entries([{"foo": 1}])


def test_suppress_reads_provider_files_into_the_suppression_list(shop, tmp_path):
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join(json.dumps(p) for p in [SES_BOUNCE, SES_SOFT, *SENDGRID]))
    assert len(read_payloads(path)) == 7
    added, ignored = run_suppress(shop, path)
    assert (added, ignored) == (4, 3)
    rows = shop.con.execute("SELECT value, reason, channel FROM suppressions ORDER BY value").fetchall()
    assert rows == [("bye@example.com", "unsubscribed", "all"), ("gone@example.com", "bounced", "all"),
                    ("hard@example.com", "bounced", "all"), ("spam@example.com", "complained", "all")]
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(SchemaError, match="bad.json, line 1: not JSON"):
        run_suppress(shop, bad)
