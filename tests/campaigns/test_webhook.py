"""SMS, push and generic webhook channels against a real HTTP receiver (tests/campaigns/webhook_server.py)."""

from __future__ import annotations

import datetime as dt
import json
import socket
import time
from pathlib import Path

import numpy as np
import pytest

from micromarket.campaigns.channels import CHANNELS, Message, message_id
from micromarket.campaigns.channels.webhook import (
    IDEMPOTENCY_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    PushChannel,
    SmsChannel,
    WebhookChannel,
    WebhookSettings,
    sign,
    verify_signature,
)
from micromarket.exceptions import ConfigError

from webhook_server import WebhookServer, read_log, spawn

SECRET = "test-signing-secret"
ENV = "MICROMARKET_TEST_HOOK_SECRET"


@pytest.fixture
def server(tmp_path, monkeypatch):
    monkeypatch.setenv(ENV, SECRET)
    with WebhookServer(SECRET, log=tmp_path / "accepted.jsonl") as running:
        yield running


class Marks:
    """A ``committing`` callback that counts its calls."""

    def __init__(self):
        self.calls = 0

    def __call__(self):
        self.calls += 1


def settings(url: str, **overrides) -> dict:
    # Tiny waits: the retry logic is exercised, not the clock.
    return {"url": url, "secret_env": ENV, "timeout": 2.0, "attempts": 4, "backoff": 0.001,
            "backoff_max": 0.01, **overrides}


def opened(cls, url: str, **overrides):
    channel = cls(settings(url, **overrides))
    channel.open()
    return channel


def sms(customer="C1", phone="07400 123456", campaign="spring", **recipient) -> Message:
    return Message(campaign=campaign, customer_id=customer, channel="sms", variant="A",
                   message_id=message_id(campaign, customer, "sms"), recipient={"phone": phone, **recipient},
                   text="Hello Ann, 10% off this week", fields={"offer": "O7", "discount": 0.1})


def sms_channel(url: str, **overrides) -> SmsChannel:
    return opened(SmsChannel, url, default_region="GB", **overrides)


def test_the_three_channels_are_registered_under_their_names():
    assert CHANNELS["sms"] is SmsChannel and CHANNELS["push"] is PushChannel and CHANNELS["webhook"] is WebhookChannel
    assert all(CHANNELS[name].resend_in_doubt for name in ("sms", "push", "webhook"))


def test_sms_is_posted_as_signed_json_with_its_idempotency_key(server):
    message, marks = sms(), Marks()
    delivery = sms_channel(server.url).send(message, marks)
    assert (delivery.status, delivery.provider_id, marks.calls) == ("sent", "msg-1", 1)
    [request] = server.requests
    assert request.headers[IDEMPOTENCY_HEADER] == message.message_id
    assert request.headers["Content-Type"] == "application/json; charset=utf-8"
    assert request.headers[SIGNATURE_HEADER].startswith("sha256=")
    assert abs(int(request.headers[TIMESTAMP_HEADER]) - time.time()) < 60
    assert verify_signature(SECRET, request.body, request.headers)
    assert request.json() == {"message_id": message.message_id, "campaign": "spring", "customer_id": "C1",
                              "channel": "sms", "variant": "A", "to": {"phone": "+447400123456"},
                              "text": "Hello Ann, 10% off this week", "fields": {"offer": "O7", "discount": 0.1}}


def test_a_wrong_secret_a_changed_body_or_an_old_timestamp_fail_verification():
    body, stamp = b'{"message_id":"<1@x>"}', int(time.time())
    headers = {TIMESTAMP_HEADER: str(stamp), SIGNATURE_HEADER: sign(SECRET, body, stamp)}
    assert verify_signature(SECRET, body, headers)
    assert verify_signature(SECRET, body, {k.lower(): v for k, v in headers.items()})  # names without case
    assert not verify_signature("another-secret", body, headers)
    assert not verify_signature(SECRET, body.replace(b"1", b"2"), headers)
    assert not verify_signature(SECRET, body, {**headers, TIMESTAMP_HEADER: str(stamp - 1)})  # timestamp is signed
    assert not verify_signature(SECRET, body, headers, now=stamp + 301)  # a replay, 5 minutes on
    assert not verify_signature(SECRET, body, {TIMESTAMP_HEADER: str(stamp)})


def test_a_receiver_with_another_secret_refuses_the_message_and_it_is_not_retried(server, monkeypatch):
    monkeypatch.setenv(ENV, "not-the-receivers-secret")
    delivery = sms_channel(server.url).send(sms(), Marks())
    assert delivery.status == "failed" and "401" in delivery.error
    assert len(server.requests) == 1 and server.accepted == {}


@pytest.mark.parametrize("status", [503, 500, 429, 408])
def test_temporary_failures_are_retried_until_accepted(server, status):
    server.fail_next(2, status)
    marks = Marks()
    delivery = sms_channel(server.url).send(sms(), marks)
    assert delivery.status == "sent"
    assert [r.status for r in server.requests] == [status, status, 200]
    assert marks.calls == 3  # before each request: any of them may have arrived
    assert len(server.accepted) == 1


def test_failures_past_the_attempts_leave_the_message_to_retry_later(server):
    server.fail_next(5)
    delivery = sms_channel(server.url, attempts=3).send(sms(), Marks())
    assert delivery.status == "retry" and "HTTP 503" in delivery.error and "3 attempt" in delivery.error
    assert len(server.requests) == 3 and server.accepted == {}


def test_retry_after_is_waited_for(server):
    server.fail_next(1, 503, retry_after="1")
    start = time.monotonic()
    delivery = sms_channel(server.url).send(sms(), Marks())
    assert delivery.status == "sent" and time.monotonic() - start >= 0.95  # backoff alone is ~0.001 s
    assert len(server.requests) == 2


def test_a_retry_after_beyond_the_bound_is_not_waited_for(server):
    server.fail_next(1, 429, retry_after="3600")
    start = time.monotonic()
    delivery = sms_channel(server.url, retry_after_max=1).send(sms(), Marks())
    assert delivery.status == "retry" and "3600" in delivery.error and "retry_after_max" in delivery.error
    assert time.monotonic() - start < 1 and len(server.requests) == 1


def test_a_permanent_refusal_fails_without_retrying(server):
    server.fail_next(1, 400, body={"error": "text too long"})
    delivery = sms_channel(server.url).send(sms(), Marks())
    assert delivery.status == "failed" and delivery.error == 'HTTP 400: {"error": "text too long"}'
    assert len(server.requests) == 1


@pytest.mark.parametrize("status, body", [(410, {"error": "number no longer in service"}),
                                          (422, {"status": "bounced", "reason": "unsubscribed"})])
def test_gone_or_a_bounced_answer_is_a_bounce(server, status, body):
    server.fail_next(1, status, body=body)
    delivery = sms_channel(server.url).send(sms(), Marks())
    assert delivery.status == "bounced" and str(status) in delivery.error
    assert len(server.requests) == 1


def test_a_redirect_is_not_followed(server):
    server.fail_next(1, 302)
    delivery = sms_channel(server.url).send(sms(), Marks())
    assert delivery.status == "failed" and "not followed" in delivery.error and len(server.requests) == 1


def test_repeats_of_a_message_are_accepted_once(server):
    channel, message = sms_channel(server.url), sms()
    deliveries = [channel.send(message, Marks()) for _ in range(3)]  # e.g. resumed after crashes
    channel.send(sms(customer="C2"), Marks())
    assert {d.provider_id for d in deliveries} == {"msg-1"} and {d.status for d in deliveries} == {"sent"}
    assert len(server.requests) == 4 and len(server.accepted) == 2
    assert [entry["key"] for entry in read_log(server.log)] == [message.message_id, sms(customer="C2").message_id]


def test_a_timed_out_request_that_arrived_anyway_is_delivered_once(server):
    server.slow_next(1, 0.3)
    delivery = sms_channel(server.url, timeout=0.1).send(sms(), Marks())
    assert delivery.status == "sent"
    # The slow request is handled after the retry was accepted: a repeat, answered but not delivered again.
    assert [r.status for r in server.wait_answered(2)] == [200, 200] and len(server.accepted) == 1
    assert len(read_log(server.log)) == 1


def test_an_unreachable_receiver_is_retried_then_left_for_later(monkeypatch):
    monkeypatch.setenv(ENV, SECRET)
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    marks = Marks()
    delivery = sms_channel(f"http://127.0.0.1:{port}/hook", attempts=2).send(sms(), marks)
    assert delivery.status == "retry" and "cannot reach" in delivery.error and marks.calls == 2


@pytest.mark.parametrize("phone", ["12", "07700 900123", "not a phone", "+44 12", None, " "])
def test_an_invalid_phone_never_reaches_the_receiver(server, phone):
    marks = Marks()
    delivery = sms_channel(server.url).send(sms(phone=phone), marks)
    assert delivery.status == "failed" and "phone" in delivery.error
    assert server.requests == [] and marks.calls == 0


def test_a_local_number_without_a_region_is_refused(server):
    delivery = opened(SmsChannel, server.url).send(sms(), Marks())
    assert delivery.status == "failed" and "default_region" in delivery.error and server.requests == []


def test_phones_are_read_in_the_customers_country_else_the_default_region(server):
    channel = sms_channel(server.url)
    assert channel.e164("07400 123456") == "+447400123456"
    assert channel.e164("06 12 34 56 78", "FR") == "+33612345678"
    assert channel.e164("+1 201-555-0123", "FR") == "+12015550123"
    assert channel.e164("07400 123456", "United Kingdom") == "+447400123456"  # not a code: default region


def test_push_needs_its_consent_column_named():
    with pytest.raises(ConfigError, match=r"\[channels.push\] consent = ''"):
        PushChannel(settings("http://127.0.0.1:9/hook"))
    with pytest.raises(ConfigError, match="consent = 'none'"):
        PushChannel(settings("http://127.0.0.1:9/hook", consent="none"))
    assert PushChannel(settings("http://127.0.0.1:9/hook", consent="consent_push")).consent == "consent_push"


def test_push_addresses_the_customer_or_a_device_token(server):
    message = Message("spring", "C9", "push", "B", message_id("spring", "C9", "push"), subject="10% off",
                      recipient={"push_token": "tok-123", "email": "ann@example.com"}, text="This week")
    by_customer = opened(PushChannel, server.url, consent="consent_push")
    assert by_customer.address is None and by_customer.send(message, Marks()).status == "sent"
    body = server.requests[-1].json()
    assert (body["customer_id"], body["to"], body["subject"]) == ("C9", {}, "10% off")
    by_token = opened(PushChannel, server.url, consent="consent_push", token_field="push_token")
    assert by_token.address == "push_token"
    assert by_token.send(message, Marks()).status == "sent"
    assert server.requests[-1].json()["to"] == {"token": "tok-123"}
    no_token = Message("spring", "C8", "push", "B", message_id("spring", "C8", "push"), text="Hi")
    assert by_token.send(no_token, Marks()).status == "failed" and len(server.requests) == 2


def test_the_generic_webhook_sends_only_the_fields_it_is_told_to(server):
    message = Message("spring", "C1", "webhook", "A", message_id("spring", "C1", "webhook"),
                      recipient={"email": "ann@example.com", "phone": "07400 123456", "postcode": "N1 9GU"},
                      fields={"n": np.int64(3), "day": dt.date(2026, 5, 1), "score": float("nan"),
                              "rate": np.float32("nan"), "at": np.datetime64("2026-05-01T10:00")})
    channel = opened(WebhookChannel, server.url, consent="none", recipient_fields=["email"])
    assert channel.consent is None
    assert WebhookChannel(settings(server.url, consent="none", rate=5.0, cap_day=1)).options.attempts == 4  # the loop's keys
    assert channel.send(message, Marks()).status == "sent"
    body = server.requests[0].json()
    assert body["to"] == {"email": "ann@example.com"}
    assert body["fields"] == {"n": 3, "day": "2026-05-01", "score": None, "rate": None, "at": "2026-05-01T10:00:00"}


@pytest.mark.parametrize("overrides, match", [
    ({"consent": ""}, "needs consent"),
    ({"url": ""}, "needs url"),
    ({"url": "ftp://example.com/x"}, "http:// or https://"),
    ({"secret_env": "s3cr3t-value!"}, "NAME of an environment variable"),
    ({"attempts": 0}, r"attempts = 0; expected a whole number >= 1"),
    ({"timeout": "10"}, r"timeout = '10'; expected a number"),
    ({"recipient_fields": "email"}, "recipient_fields"),
    ({"secret": "x"}, r"unknown setting\(s\) \['secret'\]"),
])
def test_bad_settings_are_named(overrides, match):
    with pytest.raises(ConfigError, match=match):
        WebhookChannel(settings("http://127.0.0.1:9/hook", consent="none") | overrides)


def test_sms_consent_is_fixed_and_its_region_checked():
    with pytest.raises(ConfigError, match="unknown setting"):
        SmsChannel(settings("http://127.0.0.1:9/hook", consent="none"))
    with pytest.raises(ConfigError, match="default_region = 'UK'"):
        SmsChannel(settings("http://127.0.0.1:9/hook", default_region="UK"))


def test_a_missing_secret_variable_is_an_error_at_open(monkeypatch):
    monkeypatch.delenv(ENV, raising=False)
    channel = SmsChannel(settings("http://127.0.0.1:9/hook"))
    with pytest.raises(ConfigError, match=f"secret_env = '{ENV}'.*not set"):
        channel.open()
    with pytest.raises(RuntimeError, match="open"):
        channel.send(sms(), Marks())


def test_a_server_process_counts_deliveries_in_its_log(tmp_path, monkeypatch):
    monkeypatch.setenv(ENV, SECRET)
    log = tmp_path / "accepted.jsonl"
    proc, url = spawn(log, SECRET, "--fail-first", "1")
    try:
        with SmsChannel(settings(url, default_region="GB")) as channel:
            statuses = [channel.send(sms(customer=c), Marks()).status for c in ("C1", "C2", "C1")]
    finally:
        proc.terminate()
        assert proc.wait(timeout=10) == 0
    assert statuses == ["sent"] * 3
    assert [json.loads(line)["body"]["customer_id"] for line in log.read_text().splitlines()] == ["C1", "C2"]
    proc, url = spawn(log, SECRET)  # restarted on its log: it still knows C1's key
    try:
        with SmsChannel(settings(url, default_region="GB")) as channel:
            assert channel.send(sms(customer="C1"), Marks()).provider_id == "msg-1"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert len(read_log(log)) == 2


DOC = Path(__file__).resolve().parents[2] / "docs" / "how-to" / "channels-webhook.md"


def test_every_setting_is_in_the_guide():
    text = DOC.read_text()
    for name in WebhookSettings.__dataclass_fields__:
        assert f"| `{name}` |" in text, name


def test_the_guides_receiver_snippet_verifies_a_real_request(server):
    text = DOC.read_text()
    snippet = text.split("## Verifying the signature", 1)[1].split("```python\n", 1)[1].split("```", 1)[0]
    scope: dict = {}
    exec(snippet, scope)
    sms_channel(server.url).send(sms(), Marks())
    [request] = server.requests
    args = (request.body, request.headers[TIMESTAMP_HEADER], request.headers[SIGNATURE_HEADER])
    assert scope["verify"](SECRET.encode(), *args)
    assert not scope["verify"](b"another-secret", *args)
    assert not scope["verify"](SECRET.encode(), request.body + b" ", *args[1:])
