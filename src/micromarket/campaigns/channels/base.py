"""The channel interface: what a campaign hands a channel, and what the channel answers.

A channel delivers one :class:`Message` at a time and says what became of it in a
:class:`Delivery`. The send loop (:mod:`micromarket.campaigns.send`) owns everything around it:
the ledger (a message is recorded before it leaves and confirmed after), consent, suppression,
caps and quiet hours, throttling and pausing. A channel only delivers.

Exactly once. Every message carries a deterministic ``message_id`` (the same for the same
campaign, customer and channel, however often the campaign is resumed). Channels whose
receiver honours an idempotency key send it (the webhook channel's ``Idempotency-Key``
header), so a message whose fate is unknown after a crash can be sent again safely
(:attr:`Channel.resend_in_doubt` is true). Channels that cannot be asked what arrived (SMTP)
mark the last moment before the receiver commits with the ``committing`` callback (see
:meth:`Channel.send`); the ledger then knows whether the message can have arrived.

``consent`` and ``address`` are class attributes where they are fixed (e-mail needs
``consent_email`` and an ``email``); a channel whose settings choose them (push, webhook,
audiences) sets them on the instance, and the send loop reads the instance's.

To add a channel, subclass :class:`Channel` and register it in :data:`micromarket.campaigns.channels.CHANNELS`
(the built-ins are registered the same way).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar, Literal

#: What became of a message: ``sent`` (the receiver accepted it), ``failed`` (it did not and
#: will not: a permanent refusal such as an unknown mailbox), ``retry`` (a temporary failure: the
#: send loop may try again later), ``bounced`` (permanently undeliverable address: suppressed).
Status = Literal["sent", "failed", "retry", "bounced"]

#: Settings of ``[channels.<name>]`` the send loop reads, not the channel (every channel accepts them).
LOOP_SETTINGS = frozenset({"rate", "cap_day", "cap_week"})


@dataclass(frozen=True)
class Message:
    """One personalised message to one customer on one channel.

    Parameters
    ----------
    campaign : str
        Campaign name.
    customer_id : str
    channel : str
        The channel's name (``email``, ``mail_folder``, ``sms``, ``push``, ``webhook``, ``direct_mail``,
        ``export``, ``google_audience``, ``meta_audience``).
    variant : str
        The message variant chosen for this customer.
    message_id : str
        Deterministic id of (campaign, customer, channel): see :func:`message_id`.
    recipient : dict
        How to reach the customer: ``email``, ``phone``, ``first_name``, ``last_name``,
        ``postcode``, ``country`` and any address fields the customers table holds (missing ones absent).
    subject, text, html : str or None
        The rendered parts (e-mail uses all three; SMS and push use ``text``; files may use none).
    fields : dict
        Personalised values for files and webhooks (offer, discount, segment, ...).
    unsubscribe_url : str, optional
        The customer's one-click unsubscribe link (signed), where the workspace has a base URL.
    """

    campaign: str
    customer_id: str
    channel: str
    variant: str
    message_id: str
    recipient: dict[str, Any] = field(default_factory=dict)
    subject: str | None = None
    text: str | None = None
    html: str | None = None
    fields: dict[str, Any] = field(default_factory=dict)
    unsubscribe_url: str | None = None


@dataclass(frozen=True)
class Delivery:
    """What a channel answers for one message.

    Parameters
    ----------
    status : {"sent", "failed", "retry", "bounced"}
        See :data:`Status`.
    provider_id : str, optional
        The receiver's id for the message, where it gives one (a queue id, a request id).
    error : str, optional
        Why it was not sent, in the receiver's words where it gave any.
    """

    status: Status
    provider_id: str | None = None
    error: str | None = None


class Channel:
    """Base class of channels; subclasses set :attr:`name` and implement :meth:`send`.

    Parameters are the channel's settings from ``[channels.<name>]`` in ``micromarket.toml``
    (secrets are never there: settings name the environment variables that hold them).
    """

    #: The channel's name in campaigns and ``micromarket.toml``.
    name: ClassVar[str] = ""
    #: The customers' consent column that allows this channel (``None``: no consent needed,
    #: e.g. an export that contacts nobody by itself).
    consent: ClassVar[str | None] = None
    #: The recipient field a message needs (a customer without it is skipped as unreachable).
    address: ClassVar[str | None] = None
    #: Whether a message whose fate is unknown after a crash may be sent again (the receiver
    #: drops repeats of the same ``message_id``).
    resend_in_doubt: ClassVar[bool] = False

    def __init__(self, settings: dict | None = None):
        self.settings = dict(settings or {})

    def open(self) -> None:
        """Connect, or open the output; called once before the first message."""

    def send(self, message: Message, committing: Callable[[], None]) -> Delivery:
        """Deliver ``message``.

        ``committing`` must be called right before the step after which the receiver may have
        the message (for SMTP: before the final ``.`` of DATA); a channel whose receiver
        deduplicates by ``message_id``, or that writes a file, calls it before sending.
        """
        raise NotImplementedError

    def reset(self) -> None:
        """Called after :meth:`send` raised a connection error (``OSError``): reconnect, where the
        channel holds a connection. The message is tried again on resume."""

    def close(self) -> None:
        """Disconnect, or flush and close the output; called once after the last message (also on errors)."""

    def __enter__(self) -> "Channel":
        self.open()
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def message_id(campaign: str, customer_id: str, channel: str, domain: str = "micromarket.invalid") -> str:
    """The deterministic id of a campaign's message to a customer on a channel, as an RFC 5322
    Message-ID (``<hex@domain>``): the same after any number of resumes, so receivers and
    mailbox providers can tell a repeat.

    >>> message_id("spring", "C1", "email") == message_id("spring", "C1", "email")
    True
    >>> message_id("spring", "C1", "email") != message_id("spring", "C1", "sms")
    True
    """
    # "|" between the parts: campaign and channel names cannot hold one, so the customer id between
    # them is unambiguous; the engine computes the same digest for the ledger (campaigns.campaign).
    digest = hashlib.sha256(f"{campaign}|{customer_id}|{channel}".encode()).hexdigest()[:32]
    return f"<{digest}@{domain}>"


__all__ = ["Channel", "Delivery", "LOOP_SETTINGS", "Message", "Status", "message_id"]
