"""What the e-mail channel puts on the wire, read back by a real SMTP server (aiosmtpd) and the
standard library's parser: headers and parts survive non-ASCII text, long lines and an
internationalised address."""

from __future__ import annotations

from email import message_from_bytes, policy

import pytest
from aiosmtpd.controller import Controller

from micromarket.campaigns.channels import Message, message_id
from micromarket.campaigns.channels.email import EmailChannel

from helpers import free_port

URL = "https://shop.example/u/" + "t" * 300


class Inbox:
    def __init__(self):
        self.received = []

    async def handle_DATA(self, server, session, envelope):
        self.received.append((envelope.rcpt_tos, envelope.mail_options, envelope.original_content))
        return "250 OK"


@pytest.fixture
def inbox():
    box = Inbox()
    controller = Controller(box, hostname="127.0.0.1", port=free_port(), enable_SMTPUTF8=True)
    controller.start()
    yield box, controller.port
    controller.stop()


def _send(port: int, sender: str, *messages: Message) -> None:
    with EmailChannel({"host": "127.0.0.1", "port": port, "from": sender, "timeout": 10}) as channel:
        for message in messages:
            assert channel.send(message, lambda: None).status == "sent"


def _message(customer: str, email: str, subject: str, text: str, html: str | None) -> Message:
    return Message("spring", customer, "email", "A", message_id("spring", customer, "email", "shop.example"),
                   recipient={"email": email}, subject=subject, text=text, html=html, unsubscribe_url=URL)


def _parts(mail) -> dict[str, str]:
    parts = list(mail.iter_parts()) if mail.is_multipart() else [mail]
    return {p.get_content_subtype(): p.get_content().replace("\r\n", "\n").rstrip("\n") for p in parts}


def test_ascii_non_ascii_and_long_lines_arrive_as_written(inbox):
    box, port = inbox
    long_html = "<p>" + "Spring cheeses, " * 120 + "</p>"  # one line of 1,927 characters
    accented = "Grüße, Zoë! 20 % off Comté and Roquefort until Sunday.\n" * 3
    _send(port, "Fromagerie Zoë <news@shop.example>",
          _message("C1", "c1@example.com", "A treat for Ann", "Hello Ann,\n\nSpring is here.", "<p>Hello Ann</p>"),
          _message("C2", "c2@example.com", "Ein Geschenk für Jürgen — " * 4, accented, long_html),
          _message("C3", "c3@example.com", "Text only", "Just text.", None))
    assert len(box.received) == 3
    mails = [message_from_bytes(raw, policy=policy.default) for _, _, raw in box.received]
    for raw in (r for _, _, r in box.received):
        assert max(len(line) for line in raw.split(b"\r\n")) <= 998  # SMTP's line limit
        assert raw.isascii()  # no 8BITMIME needed
    first, second, third = mails
    assert first["Subject"] == "A treat for Ann" and first["To"] == "c1@example.com"
    assert _parts(first) == {"plain": "Hello Ann,\n\nSpring is here.", "html": "<p>Hello Ann</p>"}
    assert second["Subject"] == "Ein Geschenk für Jürgen — " * 4
    assert second["From"].addresses[0].display_name == "Fromagerie Zoë"
    assert _parts(second) == {"plain": accented.rstrip("\n"), "html": long_html}
    assert third.get_content_type() == "text/plain" and _parts(third) == {"plain": "Just text."}
    for mail, customer in zip(mails, ("C1", "C2", "C3")):
        assert mail["Message-ID"] == message_id("spring", customer, "email", "shop.example")
        assert mail["List-Unsubscribe"] == f"<{URL}>"  # whole, not folded into an encoded word
        assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert mail["List-ID"] == '"spring" <spring.shop.example>'


def test_an_internationalised_address_goes_with_smtputf8(inbox):
    box, port = inbox
    _send(port, "Shop <news@shop.example>", _message("C4", "zoë@example.com", "Für Zoë", "Grüße", "<p>Grüße</p>"))
    [(recipients, options, raw)] = box.received
    assert recipients == ["zoë@example.com"] and "SMTPUTF8" in options
    mail = message_from_bytes(raw, policy=policy.default)
    assert mail["To"] == "zoë@example.com" and mail["Subject"] == "Für Zoë"
    assert _parts(mail) == {"plain": "Grüße", "html": "<p>Grüße</p>"}


@pytest.mark.parametrize("address", ["c5@example.com\r\nBcc: everyone@example.com", "two words@example.com",
                                     "no-at-sign.example.com", "@example.com"])
def test_an_address_that_would_break_the_headers_fails_and_nothing_is_sent(inbox, address):
    box, port = inbox
    with EmailChannel({"host": "127.0.0.1", "port": port, "from": "Shop <news@shop.example>", "timeout": 10}) as channel:
        delivery = channel.send(_message("C5", address, "Hello", "Hi", None), lambda: None)
        # the connection still works for the next customer
        assert channel.send(_message("C6", "c6@example.com", "Hello", "Hi", None), lambda: None).status == "sent"
    assert delivery.status == "failed" and "not an e-mail address" in delivery.error
    assert [rcpt for rcpt, _, _ in box.received] == [["c6@example.com"]]


def test_a_line_break_in_a_subject_stays_in_the_subject(inbox):
    box, port = inbox
    _send(port, "Shop <news@shop.example>", _message("C7", "c7@example.com", "Hello\r\nBcc: everyone@example.com",
                                                       "Hi", None))
    [(recipients, _, raw)] = box.received
    mail = message_from_bytes(raw, policy=policy.default)
    assert recipients == ["c7@example.com"] and mail["Bcc"] is None
    assert mail["Subject"] == "Hello Bcc: everyone@example.com"
