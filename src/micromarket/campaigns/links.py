"""Signed per-customer links in messages (one-click unsubscribe).

A token is the customer id and channel, base64url-encoded, with an HMAC-SHA256 tag: the web app
that answers the link can trust who is unsubscribing without a login, and nobody can forge a link
for another customer. The key comes from the environment variable ``MICROMARKET_LINK_SECRET``
where set; otherwise from ``.micromarket/link.key`` in the workspace folder, made on first use
(readable by its owner only). It never sits in ``micromarket.toml``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from pathlib import Path

from ..exceptions import SchemaError
from ..keys import workspace_key

SECRET_ENV = "MICROMARKET_LINK_SECRET"


def link_key(root: Path) -> bytes:
    """The workspace's link key (see the module)."""
    return workspace_key(root, "link", SECRET_ENV)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def sign(key: bytes, customer_id: str, channel: str) -> str:
    """The token of a customer's link for ``channel``.

    >>> token = sign(b"k", "C1", "email")
    >>> verify(b"k", token)
    ('C1', 'email')
    """
    payload = _b64(f"{customer_id}\x1f{channel}".encode())
    tag = _b64(hmac.new(key, payload.encode(), hashlib.sha256).digest()[:16])
    return f"{payload}.{tag}"


def verify(key: bytes, token: str) -> tuple[str, str]:
    """``(customer_id, channel)`` of a genuine token; a forged or damaged one is an error."""
    payload, _, tag = token.partition(".")
    expected = _b64(hmac.new(key, payload.encode("utf-8", "surrogateescape"), hashlib.sha256).digest()[:16])
    # Compared as bytes: a tag with other characters than base64's is simply not genuine.
    if not tag or not hmac.compare_digest(tag.encode("utf-8", "surrogateescape"), expected.encode()):
        raise SchemaError("the link is not genuine (its signature does not match)")
    decoded = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)).decode()
    customer_id, _, channel = decoded.partition("\x1f")
    return customer_id, channel


def unsubscribe_url(base_url: str, key: bytes, customer_id: str, channel: str) -> str:
    """The one-click unsubscribe URL of a customer (RFC 8058: the web app answers a POST to it)."""
    return f"{base_url.rstrip('/')}/unsubscribe/{sign(key, customer_id, channel)}"


def preferences_url(base_url: str, key: bytes, customer_id: str) -> str:
    """The customer's own preference-centre URL (channels, frequency, interests; no login)."""
    return f"{base_url.rstrip('/')}/preferences/{sign(key, customer_id, PREFERENCES)}"


#: The "channel" a preference-centre link is signed for: an unsubscribe link (signed for a real
#: channel) does not open the preference centre, nor the other way round.
PREFERENCES = "preferences"

__all__ = ["PREFERENCES", "SECRET_ENV", "link_key", "preferences_url", "sign", "unsubscribe_url", "verify"]
