"""The e-mail channel over STARTTLS and implicit TLS with a login, against aiosmtpd with a
certificate made here (openssl); a certificate the channel does not trust stops it."""

from __future__ import annotations

import ssl
import subprocess

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

from micromarket.campaigns.channels import Message, message_id
from micromarket.campaigns.channels.email import EmailChannel

from helpers import free_port


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    """A self-signed certificate for 127.0.0.1 (its own authority)."""
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    return cert, key


class Inbox:
    def __init__(self):
        self.received = []

    async def handle_DATA(self, server, session, envelope):
        cipher = session.ssl or server.transport.get_extra_info("cipher")
        self.received.append((bool(cipher), session.authenticated, envelope.content))
        return "250 OK"


def _login(server, session, envelope, mechanism, auth_data):
    ok = auth_data.login == b"mailer" and auth_data.password == b"s3cret"
    return AuthResult(success=ok, handled=False)  # not handled: aiosmtpd answers 535 itself


def _server(certificate, implicit: bool):
    cert, key = certificate
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    inbox = Inbox()
    options = dict(authenticator=_login, auth_required=True)
    if implicit:
        # aiosmtpd does not count a connection that was TLS from the start as TLS when it decides
        # whether to offer AUTH; it is encrypted (the handler checks the session's TLS details).
        controller = Controller(inbox, hostname="127.0.0.1", port=free_port(), ssl_context=context,
                                auth_require_tls=False, **options)
    else:
        controller = Controller(inbox, hostname="127.0.0.1", port=free_port(), tls_context=context,
                                require_starttls=True, **options)
    controller.start()
    return controller, inbox


def _message() -> Message:
    return Message("spring", "C1", "email", "A", message_id("spring", "C1", "email", "shop.example"),
                   recipient={"email": "c1@example.com"}, subject="Hello", text="Hi", html="<p>Hi</p>")


# The implicit-TLS server offers AUTH without STARTTLS (its connection is encrypted from the start),
# which aiosmtpd warns about.
@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
@pytest.mark.parametrize("mode, implicit", [("starttls", False), ("tls", True)])
def test_messages_go_encrypted_and_logged_in(certificate, monkeypatch, mode, implicit):
    monkeypatch.setenv("TEST_SMTP_USER", "mailer")
    monkeypatch.setenv("TEST_SMTP_PASSWORD", "s3cret")
    controller, inbox = _server(certificate, implicit)
    try:
        channel = EmailChannel({"host": "127.0.0.1", "port": controller.port, "from": "Shop <news@shop.example>",
                                "tls": mode, "ca_file": str(certificate[0]), "user_env": "TEST_SMTP_USER",
                                "password_env": "TEST_SMTP_PASSWORD", "timeout": 10})
        with channel:
            delivery = channel.send(_message(), lambda: None)
    finally:
        controller.stop()
    assert delivery.status == "sent"
    [(encrypted, authenticated, content)] = inbox.received
    assert encrypted and authenticated and b"Subject: Hello" in content


def _settings(port: int, **extra) -> dict:
    return {"host": "127.0.0.1", "port": port, "from": "Shop <news@shop.example>", "tls": "starttls",
            "user_env": "TEST_SMTP_USER", "password_env": "TEST_SMTP_PASSWORD", "timeout": 10, **extra}


@pytest.mark.parametrize("trusted, password, error", [(False, "s3cret", ssl.SSLCertVerificationError),
                                                      (True, "wrong", "SMTPAuthenticationError")])
def test_an_untrusted_certificate_or_a_wrong_password_stops_the_channel(certificate, monkeypatch, trusted, password,
                                                                        error):
    import smtplib

    monkeypatch.setenv("TEST_SMTP_USER", "mailer")
    monkeypatch.setenv("TEST_SMTP_PASSWORD", password)
    controller, inbox = _server(certificate, implicit=False)
    expected = getattr(smtplib, error) if isinstance(error, str) else error
    try:
        with pytest.raises(expected):  # the system does not trust the test's own authority
            EmailChannel(_settings(controller.port, **({"ca_file": str(certificate[0])} if trusted else {}))).open()
    finally:
        controller.stop()
    assert inbox.received == []
