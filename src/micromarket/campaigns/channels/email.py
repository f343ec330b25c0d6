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

import functools
import io
import os
import secrets
import smtplib
import socket
import ssl
from email import policy
from email.charset import QP, Charset
from email.generator import BytesGenerator
from email.header import Header
from email.message import EmailMessage
from email.policy import Compat32
from email.mime.base import MIMEBase
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import formataddr, formatdate, parseaddr
from pathlib import Path
from typing import Callable

from ...exceptions import ConfigError
from . import register
from .base import Channel, Delivery, Message

TLS_MODES = ("none", "starttls", "tls")
_POLICY = policy.SMTP.clone(max_line_length=998)


class _Unfolded(Compat32):
    """The legacy API's policy (header values stored as given, not parsed into header objects: a
    third of the time of building a message the modern way), writing an ASCII header that fits on
    one line of SMTP's as it is rather than through ``email.header.Header``'s folding."""

    def fold_binary(self, name, value):
        if (isinstance(value, str) and value.isascii() and len(name) + len(value) + 2 <= self.max_line_length
                and "\n" not in value and "\r" not in value):
            return f"{name}: {value}{self.linesep}".encode("ascii")
        return super().fold_binary(name, value)


_PLAIN_POLICY = _Unfolded(max_line_length=998, linesep="\r\n")
_UTF8_QP = Charset("utf-8")
_UTF8_QP.body_encoding = QP
_SMTP_LINE = 998


def build_email(message: Message, sender: str, list_id: str) -> "EmailMessage | MIMEBase":
    """The MIME message of ``message`` from ``sender`` (see the module for the headers).

    Built with the standard library's legacy MIME classes where the sender's and the recipient's
    addresses are ASCII (the fast path: about 0.3 ms a message against 1.1 ms); an address with
    other characters (an internationalised mailbox, sent with SMTPUTF8) takes ``EmailMessage``.
    On the fast path non-ASCII subjects and display names are encoded words (RFC 2047), and a text
    part with non-ASCII characters or lines over SMTP's limit is quoted-printable."""
    headers = _headers(message, sender, list_id)
    if not (_address(sender).isascii() and message.recipient["email"].isascii()):
        return _international_email(headers, message)
    text = _text_part(message.text or "", "plain")
    if message.html:
        # A boundary of our own: the generator's checks the parts for its random one with a regular
        # expression compiled per message. 128 random bits and "=_" (never in quoted-printable) do not
        # occur in a body.
        mail = MIMEMultipart("alternative", boundary=f"=_{secrets.token_hex(16)}", policy=_PLAIN_POLICY)
        mail.attach(text)
        mail.attach(_text_part(message.html, "html"))
    else:
        mail = text
    for name, value in headers:
        mail[name] = value if value.isascii() else _encoded(name, value)
    return mail


def _headers(message: Message, sender: str, list_id: str) -> list[tuple[str, str]]:
    # A line break in a value would end the header and start another (a rendered subject is one
    # line already; this holds for any channel user's Message too).
    subject = " ".join((message.subject or "").splitlines())
    headers = [("From", sender), ("To", message.recipient["email"]), ("Subject", subject),
               ("Date", formatdate(localtime=True)), ("Message-ID", message.message_id), ("List-ID", list_id)]
    if message.unsubscribe_url:
        headers += [("List-Unsubscribe", f"<{message.unsubscribe_url}>"),
                    ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click")]
    return headers


def _encoded(name: str, value: str) -> str:
    """A header value with non-ASCII characters as encoded words; in an address only the display name."""
    if name in ("From", "To"):
        display, address = parseaddr(value)
        return formataddr((display, address), charset="utf-8")
    return Header(value, "utf-8").encode()


def _text_part(body: str, subtype: str) -> MIMEText:
    """A text part: 7-bit ASCII where it is, else UTF-8, quoted-printable (no 8BITMIME needed)."""
    if body.isascii() and all(len(line) <= _SMTP_LINE for line in body.splitlines()):
        return MIMEText(body, subtype, "us-ascii", policy=_PLAIN_POLICY)
    return MIMEText(body, subtype, _UTF8_QP, policy=_PLAIN_POLICY)


def _international_email(headers: list[tuple[str, str]], message: Message) -> EmailMessage:
    # Lines up to SMTP's limit: the default policy folds long headers at 78 characters and turns
    # a long List-Unsubscribe URL into an encoded word that mail clients cannot follow.
    mail = EmailMessage(policy=_POLICY)
    for name, value in headers:
        mail[name] = value
    mail.set_content(message.text or "")
    if message.html:
        mail.add_alternative(message.html, subtype="html")
    return mail


def email_bytes(mail: "EmailMessage | MIMEBase") -> bytes:
    """``mail`` as the bytes SMTP carries (CRLF line ends)."""
    out = io.BytesIO()
    BytesGenerator(out, policy=mail.policy.clone(linesep="\r\n")).flatten(mail)
    return out.getvalue()


def list_id(campaign: str, sender: str) -> str:
    """``List-ID`` of a campaign: its name and a label under the sender's domain (RFC 2919).

    >>> list_id("Spring sale", "Shop <news@shop.example>")
    '"Spring sale" <spring-sale.shop.example>'
    """
    domain = parseaddr(sender)[1].rpartition("@")[2] or "micromarket.invalid"
    label = "".join(c if c.isalnum() else "-" for c in campaign.lower()).strip("-") or "campaign"
    return f'"{campaign}" <{label}.{domain}>'


@functools.lru_cache(maxsize=64)
def _address(sender: str) -> str:
    """The address of ``sender`` (``Shop <news@shop.example>``: ``news@shop.example``)."""
    return parseaddr(sender)[1]


@functools.lru_cache(maxsize=64)
def _list_id(campaign: str, sender: str) -> str:
    """:func:`list_id`, worked out once per campaign and sender rather than per message."""
    return list_id(campaign, sender)


def _one_address(value: str) -> bool:
    """Whether ``value`` can be an envelope recipient: one line, no spaces, a local part and a domain
    (anything else would break the message's headers, or the SMTP command it goes in)."""
    local, at, domain = value.rpartition("@")
    return bool(at and local and domain) and not any(c.isspace() for c in value)


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
        self._from_address = parseaddr(s["from"])[1]
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
        sender = self.settings["from"]
        to = message.recipient["email"]
        if not _one_address(to):
            return Delivery("failed", error=f"not an e-mail address: {to!r}")
        mail = build_email(message, sender, _list_id(message.campaign, sender))
        self._smtp.committing = committing
        try:
            if isinstance(mail, EmailMessage):  # an internationalised address: smtplib asks for SMTPUTF8
                refused = self._smtp.send_message(mail, from_addr=self._from_address, to_addrs=[to])
            else:
                refused = self._smtp.sendmail(self._from_address, [to], email_bytes(mail))
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
        if not _one_address(message.recipient["email"]):
            return Delivery("failed", error=f"not an e-mail address: {message.recipient['email']!r}")
        mail = build_email(message, self.sender, _list_id(message.campaign, self.sender))
        name = message.message_id.strip("<>").partition("@")[0]
        tmp = self.folder / f".{name}.tmp"
        tmp.write_bytes(email_bytes(mail))
        committing()
        os.replace(tmp, self.folder / f"{name}.eml")
        return Delivery("sent", provider_id=name)


__all__ = ["EmailChannel", "MailFolderChannel", "build_email", "email_bytes", "list_id"]
