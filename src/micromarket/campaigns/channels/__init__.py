"""Channels a campaign reaches customers through (see :mod:`.base` for the interface)."""

from __future__ import annotations

from .base import Channel, Delivery, Message, message_id

#: The channels by name; a user's own channel is added the same way (``CHANNELS["fax"] = FaxChannel``).
CHANNELS: dict[str, type[Channel]] = {}


def register(channel: type[Channel]) -> type[Channel]:
    """Make ``channel`` available to campaigns under its :attr:`~.base.Channel.name` (usable as a decorator)."""
    if not channel.name:
        raise ValueError(f"{channel.__name__} has no name")
    CHANNELS[channel.name] = channel
    return channel


__all__ = ["CHANNELS", "Channel", "Delivery", "Message", "message_id", "register"]

# The built-in channels register themselves on import.
from . import audiences, email, files, webhook  # noqa: E402,F401
