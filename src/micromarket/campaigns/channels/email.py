"""E-mail: over SMTP (``email``), or into a mail folder of ``.eml`` files (``mail_folder``, the
demo's default: no server needed).

Each message is a ``multipart/alternative`` of the text and HTML parts with:

- a deterministic ``Message-ID`` (the same for the same campaign, customer and channel);
- ``List-Unsubscribe`` with a one-click HTTPS URL and ``List-Unsubscribe-Post:
  List-Unsubscribe=One-Click`` (RFC 8058: a mailbox provider's unsubscribe button POSTs to the
  URL, no second click), the URL carrying the customer's signed token (see
  :mod:`micromarket.campaigns.links`);
- ``List-ID`` naming the campaign (RFC 2919), so recipients' filters and providers can group it.

SMTP settings (``[channels.email]``): ``host``, ``port``, ``from``, ``tls`` (``none``,
``starttls`` or ``tls``), ``ca_file`` (a certificate authority to trust besides the system's),
``user_env`` and ``password_env`` (the names of the environment variables holding the login:
secrets never sit in ``micromarket.toml``), ``timeout``.
"""

from __future__ import annotations

import os
import smtplib
import socket
import ssl
from email import policy
from email.message import EmailMessage
from email.utils import formatdate, parseaddr
from pathlib import Path
from typing import Callable

from ...exceptions import ConfigError
from . import register
from .base import Channel, Delivery, Message

TLS_MODES = ("none", "starttls", "tls")
_POLICY = policy.SMTP.clone(max_line_length=998)


def build_email(message: Message, sender: str, list_id: str) -> EmailMessage:
    """The MIME message of ``message`` from ``sender`` (see the module for the headers)."""
    # Lines up to SMTP's limit: the default policy folds long headers at 78 characters and turns
    # a long List-Unsubscribe URL into an encoded word that mail clients cannot follow.
    mail = EmailMessage(policy=_POLICY)
    mail["From"] = sender
    mail["To"] = message.recipient["email"]
    mail["Subject"] = message.subject or ""
    mail["Date"] = formatdate(localtime=True)
    mail["Message-ID"] = message.message_id
    mail["List-ID"] = list_id
    if message.unsubscribe_url:
        mail["List-Unsubscribe"] = f"<{message.unsubscribe_url}>"
        mail["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    mail.set_content(message.text or "")
    if message.html:
        mail.add_alternative(message.html, subtype="html")
    return mail


def list_id(campaign: str, sender: str) -> str:
    """``List-ID`` of a campaign: its name and a label under the sender's domain (RFC 2919).

    >>> list_id("Spring sale", "Shop <news@shop.example>")
    '"Spring sale" <spring-sale.shop.example>'
    """
    domain = parseaddr(sender)[1].rpartition("@")[2] or "micromarket.invalid"
    label = "".join(c if c.isalnum() else "-" for c in campaign.lower()).strip("-") or "campaign"
    return f'"{campaign}" <{label}.{domain}>'


class _CommittingSMTP(smtplib.SMTP):
    """``smtplib.SMTP`` whose DATA marks the moment before the final ``.`` (see the ledger): the
    server takes the message on that dot, and not before."""

    committing: Callable[[], None] = staticmethod(lambda: None)

    def connect(self, host="localhost", port=0, source_address=None):
        reply = super().connect(host, port, source_address)
        # The terminating dot goes in a packet of its own, after the mark: with Nagle's algorithm
        # it would wait for the server's delayed acknowledgement of the body (40 ms a message).
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return reply

    def data(self, msg):  # smtplib.SMTP.data, with the mark before the terminating dot
        self.putcmd("data")
        code, repl = self.getreply()
        if code != 354:
            raise smtplib.SMTPDataError(code, repl)
        q = smtplib._quote_periods(msg)
        if q[-2:] != smtplib.bCRLF:
            q = q + smtplib.bCRLF
        self.send(q)
        self.committing()
        self.send(b"." + smtplib.bCRLF)
        return self.getreply()


class _CommittingSMTPSSL(_CommittingSMTP, smtplib.SMTP_SSL):
    """The same over implicit TLS (port 465)."""


@register
class EmailChannel(Channel):
    """E-mail over SMTP (see the module for the settings)."""

    name = "email"
    consent = "consent_email"
    address = "email"

    def open(self) -> None:
        s = self.settings
        mode = s.get("tls", "none")
        if mode not in TLS_MODES:
            raise ConfigError(f"[channels.email] tls = {mode!r}; expected one of {', '.join(TLS_MODES)}")
        if not s.get("from"):
            raise ConfigError("[channels.email] from is empty: set the sender, e.g. from = \"Shop <news@shop.example>\"")
        smtp_class = _CommittingSMTPSSL if mode == "tls" else _CommittingSMTP
        # The server's certificate is always checked: against the system's authorities, or the
        # one in ca_file (a company's own relay).
        context = ssl.create_default_context(cafile=s.get("ca_file") or None)
        kwargs = {"context": context} if mode == "tls" else {}
        self._smtp = smtp_class(s.get("host", "localhost"), int(s.get("port", 25)), timeout=float(s.get("timeout", 30)),
                                **kwargs)
        if mode == "starttls":
            self._smtp.starttls(context=context)
        user, password = _login(s)
        if user:
            self._smtp.login(user, password)

    def send(self, message: Message, committing: Callable[[], None]) -> Delivery:
        mail = build_email(message, self.settings["from"], list_id(message.campaign, self.settings["from"]))
        self._smtp.committing = committing
        try:
            refused = self._smtp.send_message(mail, from_addr=parseaddr(self.settings["from"])[1],
                                              to_addrs=[message.recipient["email"]])
        except smtplib.SMTPRecipientsRefused as error:
            return _refused(next(iter(error.recipients.values())))
        except (smtplib.SMTPSenderRefused, smtplib.SMTPDataError) as error:
            return _refused((error.smtp_code, error.smtp_error))
        if refused:
            return _refused(next(iter(refused.values())))
        return Delivery("sent", provider_id=message.message_id)

    def reset(self) -> None:
        self.close()
        self.open()

    def close(self) -> None:
        smtp = getattr(self, "_smtp", None)
        if smtp is not None:
            try:
                smtp.quit()
            except (smtplib.SMTPException, OSError):
                smtp.close()
            self._smtp = None


def _login(settings: dict) -> tuple[str | None, str | None]:
    """The SMTP login from the environment variables the settings name (never from the file)."""
    names = settings.get("user_env"), settings.get("password_env")
    if not names[0]:
        return None, None
    values = [os.environ.get(n) if n else None for n in names]
    missing = [n for n, v in zip(names, values) if n and v is None]
    if missing:
        raise ConfigError(f"[channels.email] names the environment variable(s) {', '.join(missing)} for the SMTP "
                          "login, but they are not set")
    return values[0], values[1]


def _refused(reply: tuple) -> Delivery:
    """A refusal: 5xx is permanent (550-553 on a recipient: the address bounces), 4xx temporary."""
    code, text = int(reply[0]), reply[1].decode(errors="replace") if isinstance(reply[1], bytes) else str(reply[1])
    if 400 <= code < 500:
        return Delivery("retry", error=f"{code} {text}")
    return Delivery("bounced" if code in (550, 551, 553) else "failed", error=f"{code} {text}")


@register
class MailFolderChannel(Channel):
    """E-mail written to a folder, one ``<message-id>.eml`` file a message (``[channels.mail_folder]
    path``, relative to the workspace): what the SMTP channel would send, for review or a demo.

    A file is written under a temporary name and renamed, so a stopped run never leaves half a
    message; writing the same message again replaces its file (a folder cannot hold a duplicate).
    """

    name = "mail_folder"
    consent = "consent_email"
    address = "email"
    resend_in_doubt = True

    def open(self) -> None:
        self.folder = Path(self.settings["path"])
        self.folder.mkdir(parents=True, exist_ok=True)
        self.sender = self.settings.get("from") or "micromarket <campaigns@micromarket.invalid>"

    def send(self, message: Message, committing: Callable[[], None]) -> Delivery:
        mail = build_email(message, self.sender, list_id(message.campaign, self.sender))
        name = message.message_id.strip("<>").partition("@")[0]
        tmp = self.folder / f".{name}.tmp"
        tmp.write_bytes(mail.as_bytes())
        committing()
        os.replace(tmp, self.folder / f"{name}.eml")
        return Delivery("sent", provider_id=name)


__all__ = ["EmailChannel", "MailFolderChannel", "build_email", "list_id"]
