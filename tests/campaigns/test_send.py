"""A campaign sent to a real SMTP server (aiosmtpd): exactly the eligible treated customers, once
each, with the right headers; and after kill -9 at random moments, resumed without a duplicate
or a loss (also through the webhook channel)."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time

import pytest

from micromarket.campaigns.channels import message_id
from micromarket.runner import run_create_campaign, run_launch_campaign, run_send_campaign, run_suppress
from micromarket.workspace import Workspace

from helpers import CLI, free_port, write

TEMPLATE = """{% block subject %}A treat for {{ customer.first_name }}{% endblock %}
{% block text %}Hello {{ customer.first_name }}, your tier is {{ customer.value_tier }}.{% endblock %}
{% block html %}<p>Hello {{ customer.first_name }}</p><a href="{{ unsubscribe_url }}">unsubscribe</a>{% endblock %}
"""
SEGMENT = "clusters/segment-01"


def _email_settings(ws: Workspace, port: int, **extra) -> None:
    ws.update_config({"channels": {"email": {"host": "127.0.0.1", "port": port, "from": "Shop <news@shop.example>",
                                             "tls": "none", **extra}}})


def _rows(ws: Workspace, sql: str) -> list[tuple]:
    return ws.con.execute(sql).fetchall()


def _eligible(ws: Workspace, campaign: str) -> set[str]:
    """Treated members with e-mail consent and an address, not suppressed: computed here from the tables."""
    return {r[0] for r in _rows(ws, f"""
        SELECT m.customer_id FROM campaign_members m JOIN customers c USING (customer_id)
        WHERE m.campaign_id = '{campaign}' AND m.treatment_group = 'treatment' AND c.consent_email
          AND coalesce(trim(c.email), '') <> ''
          AND lower(trim(c.email)) NOT IN (SELECT value FROM suppressions WHERE kind = 'email')
          AND m.customer_id NOT IN (SELECT value FROM suppressions WHERE kind = 'customer_id')""")}


def test_the_smtp_server_receives_each_eligible_treated_customer_once(shop, smtp_server, tmp_path):
    inbox, port = smtp_server
    _email_settings(shop, port)
    members = {r[0] for r in _rows(shop, f"""SELECT m.customer_id FROM segment_members m JOIN segments s USING (segment_id)
                                             WHERE s.name = '{SEGMENT}'""")}
    # A customer-supplied name that must arrive escaped in HTML and as written in the text: every
    # member's (the holdout and the global control decide at launch who is sent anything).
    named = sorted(members)[0]
    shop.con.execute("UPDATE customers SET first_name = '<script>alert(1)</script>' WHERE customer_id IN "
                     f"({', '.join(repr(m) for m in members)})")
    shop.con.execute(f"UPDATE customers SET consent_email = true WHERE customer_id = '{named}'")
    # Two consenting members suppressed: one by address (written differently), one by id.
    consenting = sorted(r[0] for r in _rows(shop, "SELECT customer_id FROM customers WHERE consent_email")
                        if r[0] in members and r[0] != named)
    by_email = _rows(shop, f"SELECT email FROM customers WHERE customer_id = '{consenting[0]}'")[0][0]
    run_suppress(shop, write(tmp_path / "sup.csv", f"email,customer_id\n  {by_email.upper()} ,\n,{consenting[1]}\n"))

    run_create_campaign(shop, "spring", audience_kind="segment", audience_value=SEGMENT,
                        template=str(write(tmp_path / "t.tmpl", TEMPLATE)), channel="email", holdout=0.2)
    report = run_launch_campaign(shop, "spring")
    assert report.status == "done"

    expected = _eligible(shop, "spring")
    received = inbox.by_message_id()
    assert all(len(copies) == 1 for copies in received.values())  # nobody twice
    got = {message_id("spring", c, "email", "shop.example"): c for c in expected}
    assert set(received) == set(got)  # every eligible customer, and nobody else
    assert consenting[0] not in expected and consenting[1] not in expected and len(expected) > 50
    held = {r[0] for r in _rows(shop, "SELECT customer_id FROM campaign_members WHERE campaign_id = 'spring' "
                                      "AND treatment_group = 'control'")}
    assert held and not held & set(got.values())
    # The global control group is not in the campaign at all.
    in_control = members - {r[0] for r in _rows(shop, "SELECT customer_id FROM campaign_members "
                                                      "WHERE campaign_id = 'spring'")}
    assert in_control and not in_control & set(got.values())

    for mid, [(rcpt, msg)] in received.items():
        assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert msg["List-Unsubscribe"].startswith("<https://shop.example/unsubscribe/")
        assert msg["List-ID"] == '"spring" <spring.shop.example>'
        assert rcpt == (msg["To"],)
        assert msg.get_body(("plain",)) is not None and msg.get_body(("html",)) is not None
    script = received[min(got)][0][1]
    html, text = script.get_body(("html",)).get_content(), script.get_body(("plain",)).get_content()
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "Hello <script>alert(1)</script>," in text

    counts = _rows(shop, "SELECT state, count(*) FROM campaign_sends WHERE campaign_id = 'spring' GROUP BY state")
    assert dict(counts)["sent"] == len(expected)
    # A second resume finds nothing to send.
    assert _rows(shop, "SELECT status FROM campaigns WHERE campaign_id = 'spring'")[0][0] == "done"
    assert run_send_campaign(shop, "spring").status == "done"
    assert len(inbox.messages) == len(expected)


def test_the_dry_run_names_who_gets_a_message_and_why_not(shop, smtp_server, tmp_path):
    from micromarket.campaigns.campaign import get_campaign
    from micromarket.campaigns.dry_run import dry_run

    inbox, port = smtp_server
    _email_settings(shop, port)
    run_create_campaign(shop, "dry", audience_kind="segment", audience_value=SEGMENT,
                        template=str(write(tmp_path / "t.tmpl", TEMPLATE)), channel="email", holdout=0.1)
    planned = dry_run(shop, get_campaign(shop, "dry"))
    assert set(planned["decision"]) <= {"send", "holdout", "global_control", "no_consent", "unreachable"}
    assert {"send", "holdout", "no_consent"} <= set(planned["decision"])
    run_launch_campaign(shop, "dry")
    sent = {m["To"] for _, m in inbox.messages}
    emails = dict(_rows(shop, "SELECT customer_id, email FROM customers"))
    assert sent == {emails[c] for c in planned.loc[planned["decision"] == "send", "customer_id"]}


def _launch_process(root, name: str, command: str = "launch") -> subprocess.Popen:
    return subprocess.Popen(CLI + ["campaign", command, name, "-w", str(root)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, env={**os.environ, "COLUMNS": "200"})


def _kill_and_resume(root, name: str, kills: int, seed: int) -> None:
    """Launch, then kill -9 the sender at random moments ``kills`` times (resuming in between),
    then resume to the end."""
    rng = random.Random(seed)
    proc = _launch_process(root, name)
    for i in range(kills):
        time.sleep(rng.uniform(2.5, 5.0))  # the CLI's start-up is about two seconds
        assert proc.poll() is None, "the sender finished before it could be killed: slow it down"
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        proc = _launch_process(root, name, "resume")
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err.decode()


def test_killed_senders_resume_without_duplicates_or_losses_over_smtp(shop, smtp_server, tmp_path):
    inbox, port = smtp_server
    # Throttled so that the kills land while messages are going out.
    _email_settings(shop, port, rate=100.0)
    run_create_campaign(shop, "killed", audience_kind="rule", audience_value="frequency >= 0",
                        template=str(write(tmp_path / "t.tmpl", TEMPLATE)), channel="email", holdout=0.1)
    root = shop.root
    shop.close()
    _kill_and_resume(root, "killed", kills=3, seed=1)
    with Workspace.open(root) as ws:
        expected = _eligible(ws, "killed")
        states = dict(_rows(ws, "SELECT state, count(*) FROM campaign_sends WHERE campaign_id = 'killed' GROUP BY state"))
    received = inbox.by_message_id()
    duplicates = {mid: len(c) for mid, c in received.items() if len(c) > 1}
    assert not duplicates
    assert set(received) == {message_id("killed", c, "email", "shop.example") for c in expected}
    assert len(expected) > 500 and states.get("queued", 0) == 0
    assert states["sent"] + states.get("in_doubt", 0) == len(expected)


def test_killed_senders_resume_without_duplicates_or_losses_over_the_webhook(shop, tmp_path):
    from webhook_server import read_log, spawn

    secret = "hook-secret"
    log = tmp_path / "accepted.jsonl"
    server, url = spawn(log, secret)
    try:
        os.environ["CAMPAIGN_HOOK_SECRET"] = secret
        shop.update_config({"channels": {"webhook": {"url": url, "secret_env": "CAMPAIGN_HOOK_SECRET",
                                                     "consent": "consent_sms", "rate": 50.0,
                                                     "recipient_fields": ["phone"]}}})
        run_create_campaign(shop, "hooked", audience_kind="rule", audience_value="frequency >= 0",
                            template=str(write(tmp_path / "t.tmpl", "Hi {{ customer.first_name }}")),
                            channel="webhook", holdout=0.1)
        root = shop.root
        shop.close()
        _kill_and_resume(root, "hooked", kills=3, seed=2)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=10)
        os.environ.pop("CAMPAIGN_HOOK_SECRET", None)
    with Workspace.open(root) as ws:
        expected = {r[0] for r in _rows(ws, """
            SELECT m.customer_id FROM campaign_members m JOIN customers c USING (customer_id)
            WHERE m.campaign_id = 'hooked' AND m.treatment_group = 'treatment' AND c.consent_sms""")}
        states = dict(_rows(ws, "SELECT state, count(*) FROM campaign_sends WHERE campaign_id = 'hooked' GROUP BY state"))
    accepted = [entry["key"] if "key" in entry else entry.get("idempotency_key") for entry in read_log(log)]
    assert len(accepted) == len(set(accepted))  # the receiver delivered no key twice
    assert set(accepted) == {message_id("hooked", c, "webhook") for c in expected}
    # The webhook's receiver drops repeats, so nothing is left in doubt.
    assert states["sent"] == len(expected) and states.get("in_doubt", 0) == 0 and states.get("queued", 0) == 0


class _Refusing:
    """An SMTP handler that refuses every message after the first ``accept`` with a permanent error."""

    def __init__(self, accept: int):
        self.accept, self.seen = accept, 0

    async def handle_DATA(self, server, session, envelope):
        self.seen += 1
        return "250 OK" if self.seen <= self.accept else "554 5.7.1 rejected by policy"


def test_a_campaign_pauses_itself_when_too_many_messages_fail_and_resumes(shop, tmp_path):
    from aiosmtpd.controller import Controller

    handler = _Refusing(accept=20)
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        _email_settings(shop, controller.port)
        shop.update_config({"campaigns": {"pause_window": 30, "pause_error_rate": 0.5}})
        run_create_campaign(shop, "refused", audience_kind="rule", audience_value="frequency >= 0",
                            template=str(write(tmp_path / "t.tmpl", TEMPLATE)), channel="email", holdout=0.1)
        report = run_launch_campaign(shop, "refused")
    finally:
        controller.stop()
    assert report.status == "paused" and "failed" in report.paused_because
    states = dict(_rows(shop, "SELECT state, count(*) FROM campaign_sends WHERE campaign_id = 'refused' GROUP BY state"))
    assert states["sent"] == 20 and states["failed"] >= 15 and states["queued"] > 100
    assert _rows(shop, "SELECT status FROM campaigns WHERE campaign_id = 'refused'")[0][0] == "paused"


def test_a_pause_request_stops_the_sender_before_its_next_message(shop, smtp_server, tmp_path):
    from micromarket.campaigns.send import request_pause

    inbox, port = smtp_server
    _email_settings(shop, port, rate=200.0)
    run_create_campaign(shop, "halt", audience_kind="rule", audience_value="frequency >= 0",
                        template=str(write(tmp_path / "t.tmpl", TEMPLATE)), channel="email", holdout=0.1)
    root = shop.root
    shop.close()
    proc = _launch_process(root, "halt")
    deadline = time.time() + 60
    while not inbox.messages and time.time() < deadline:
        time.sleep(0.05)
    request_pause(root, "halt")
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err.decode()
    with Workspace.open(root) as ws:
        status = _rows(ws, "SELECT status FROM campaigns WHERE campaign_id = 'halt'")[0][0]
        states = dict(_rows(ws, "SELECT state, count(*) FROM campaign_sends WHERE campaign_id = 'halt' GROUP BY state"))
        assert status == "paused" and states["queued"] > 0
        assert states["sent"] == len(inbox.messages)
        report = run_send_campaign(ws, "halt")
        assert report.status == "done"
        expected = _eligible(ws, "halt")
    assert sorted(m["Message-ID"] for _, m in inbox.messages) == sorted(
        message_id("halt", c, "email", "shop.example") for c in expected)
