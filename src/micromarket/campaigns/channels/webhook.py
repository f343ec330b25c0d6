"""SMS, push and generic webhooks: one signed JSON ``POST`` per message.

The three channels share one protocol (docs/how-to/channels-webhook.md): the message as JSON,
an HMAC-SHA256 signature over a timestamp and the exact body, and the message id as an
``Idempotency-Key``. The receiver is expected to drop repeats of a key, which makes a resend
harmless: after a crash, and after a timeout where the receiver may or may not have got the
message, the message is simply sent again (:attr:`~.base.Channel.resend_in_doubt`).

- ``sms`` needs ``consent_sms`` and the customer's ``phone``, normalised to E.164
  (an invalid number is a failed delivery, never a request);
- ``push`` addresses the customer id (or a device-token column) and needs the consent column
  named in its settings: the customers table has no push consent of its own;
- ``webhook`` sends the fields it is told to, under the consent it is told to (``"none"``
  for a receiver that contacts nobody by itself).

Only the standard library speaks HTTP here (``urllib.request``), so the channels add no
dependency.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import math
import os
import random
import re
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any, Callable, ClassVar, Mapping

import phonenumbers

from ...exceptions import ConfigError
from . import register
from .base import LOOP_SETTINGS, Channel, Delivery, Message

SIGNATURE_HEADER = "X-Micromarket-Signature"
TIMESTAMP_HEADER = "X-Micromarket-Timestamp"
IDEMPOTENCY_HEADER = "Idempotency-Key"
#: Seconds a signed request stays valid: a receiver refuses older ones as replays. Wide enough
#: for clock skew and a retry's wait, narrow enough that a captured request soon goes stale.
TOLERANCE = 300
#: Statuses worth trying again: a timeout, throttling, and the receiver's own failures.
RETRY_STATUSES = frozenset({408, 429}) | frozenset(range(500, 600))
#: The most of a response body kept for an error message or a provider id.
MAX_RESPONSE = 64 * 1024


def sign(secret: str | bytes, body: bytes, timestamp: int | str) -> str:
    """The signature header's value: ``sha256=`` and the hex HMAC-SHA256 of ``"<timestamp>." + body``.

    Signing the timestamp with the body stops a captured request from being replayed later
    with a fresh timestamp.

    >>> expected = hmac.new(b"s3cret", b'1700000000.{"a":1}', hashlib.sha256).hexdigest()
    >>> sign("s3cret", b'{"a":1}', 1700000000) == "sha256=" + expected
    True
    """
    key = secret.encode() if isinstance(secret, str) else secret
    digest = hmac.new(key, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def verify_signature(secret: str | bytes, body: bytes, headers: Mapping[str, str], *,
                     tolerance: float = TOLERANCE, now: float | None = None) -> bool:
    """Whether a request came from a micromarket holding ``secret``, recently.

    Parameters
    ----------
    secret : str or bytes
        The shared signing secret.
    body : bytes
        The request body exactly as received (before any JSON parsing).
    headers : mapping
        The request headers; names are matched without regard to case.
    tolerance : float, default 300
        How many seconds the signed timestamp may differ from ``now``.
    now : float, optional
        The receiver's clock (``time.time()``), for tests.

    Returns
    -------
    bool
        True when the timestamp is fresh and the signature matches (compared in constant time).

    Examples
    --------
    >>> body = b'{"message_id":"<1@x>"}'
    >>> headers = {"X-Micromarket-Timestamp": "1700000000", "X-Micromarket-Signature": sign("k", body, 1700000000)}
    >>> verify_signature("k", body, headers, now=1700000010)
    True
    >>> verify_signature("other", body, headers, now=1700000010)
    False
    >>> verify_signature("k", body, headers, now=1700009999)
    False
    """
    lower = {name.lower(): value for name, value in headers.items()}
    stamp, signature = lower.get(TIMESTAMP_HEADER.lower(), ""), lower.get(SIGNATURE_HEADER.lower(), "")
    if not stamp.isdigit() or not signature:
        return False
    clock = time.time() if now is None else now
    if abs(clock - int(stamp)) > tolerance:
        return False
    return hmac.compare_digest(sign(secret, body, stamp), signature)


class Undeliverable(Exception):
    """A message that cannot be sent as it is (no valid number, no token): a failed delivery."""


@dataclass(frozen=True)
class WebhookSettings:
    """A webhook channel's settings, from ``[channels.<name>]`` (docs/how-to/channels-webhook.md)."""

    url: str
    secret_env: str
    timeout: float = 10.0
    attempts: int = 5
    backoff: float = 0.5
    backoff_max: float = 30.0
    retry_after_max: float = 60.0
    recipient_fields: tuple[str, ...] = ()
    consent: str = ""
    default_region: str = ""
    token_field: str = ""


#: Settings of ``[channels.<name>]`` that belong to the send loop (throttle and caps), not the channel.
LOOP_KEYS = LOOP_SETTINGS
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
#: Numeric settings: (smallest allowed value, whether it must be a whole number).
_NUMBERS = {"timeout": (0.001, False), "attempts": (1, True), "backoff": (0.0, False),
            "backoff_max": (0.0, False), "retry_after_max": (0.0, False)}


def _number(where: str, key: str, value: Any) -> float | int:
    minimum, whole = _NUMBERS[key]
    kind = int if whole else (int, float)
    if isinstance(value, bool) or not isinstance(value, kind) or value < minimum:
        expected = "a whole number" if whole else "a number"
        raise ConfigError(f"{where} {key} = {value!r}; expected {expected} >= {minimum}")
    return value


def _text(where: str, key: str, value: Any) -> str:
    if not isinstance(value, str):
        raise ConfigError(f"{where} {key} = {value!r}; expected a string")
    return value


def _check_address(where: str, url: str, secret_env: str) -> None:
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"{where} url = {url!r}; expected an http:// or https:// address")
    if not _ENV_NAME.fullmatch(secret_env):
        raise ConfigError(f"{where} secret_env = {secret_env!r}; expected the NAME of an environment "
                          "variable (the secret itself never goes in micromarket.toml)")


def _field_names(where: str, value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(name, str) for name in value):
        raise ConfigError(f"{where} recipient_fields = {value!r}; expected a list of recipient field names")
    return tuple(value)


def parse_settings(name: str, raw: Mapping[str, Any], keys: frozenset[str]) -> WebhookSettings:
    """Check channel ``name``'s settings ``raw`` (only ``keys`` allowed) and return them typed.

    Raises
    ------
    ConfigError
        Naming the section, the key, what it accepts and what it got.
    """
    where = f"[channels.{name}]"
    unknown = set(raw) - keys - LOOP_KEYS
    if unknown:
        raise ConfigError(f"{where}: unknown setting(s) {sorted(unknown)}; known: {sorted(keys | LOOP_KEYS)}")
    for key in ("url", "secret_env"):
        if not raw.get(key):
            raise ConfigError(f"{where} needs {key} (see docs/how-to/channels-webhook.md)")
    values = {}
    for key, value in raw.items():
        if key in LOOP_KEYS:
            continue
        if key in _NUMBERS:
            values[key] = _number(where, key, value)
        elif key == "recipient_fields":
            values[key] = _field_names(where, value)
        else:
            values[key] = _text(where, key, value)
    _check_address(where, values["url"], values["secret_env"])
    return WebhookSettings(**values)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    # urllib would follow a 301/302 of a POST as a GET without the body: the message would be
    # lost while looking delivered. A redirect is an error in the settings instead.
    def redirect_request(self, *args, **kwargs):
        return None


@dataclass(frozen=True)
class _Transient:
    """A failed attempt worth repeating, and how long the receiver asked us to wait (seconds)."""

    error: str
    retry_after: float | None = None


def _retry_after(value: str | None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delay-seconds or an HTTP date), or None."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def _json_value(value: Any) -> Any:
    # Fields come from tables: NumPy scalars, dates and decimals are not JSON by themselves.
    # What this returns is encoded in turn (a NumPy datetime becomes a datetime, then text).
    if hasattr(value, "item"):
        return _clean(value.item())
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def _clean(value: Any) -> Any:
    # NaN is not JSON (json.dumps would write a bare NaN that strict parsers refuse): a missing value.
    return None if isinstance(value, float) and math.isnan(value) else value


@register
class WebhookChannel(Channel):
    """A generic webhook: each message as a signed JSON ``POST`` to ``url``.

    Parameters
    ----------
    settings : dict
        ``[channels.webhook]``: ``url``, ``secret_env``, ``consent`` (a consent column, or
        ``"none"`` for a receiver that contacts nobody by itself), and optionally
        ``recipient_fields``, ``timeout``, ``attempts``, ``backoff``, ``backoff_max``,
        ``retry_after_max`` (docs/how-to/channels-webhook.md).

    Raises
    ------
    ConfigError
        When a setting is missing or malformed (at construction) or the secret's environment
        variable is unset (at :meth:`open`).
    """

    name: ClassVar[str] = "webhook"
    # Set per instance from the required ``consent`` setting. The class value names a column
    # the customers table lacks, so code that reads the class fails closed instead of
    # contacting customers without consent.
    consent: ClassVar[str | None] = "consent_webhook"
    resend_in_doubt: ClassVar[bool] = True
    #: The settings this channel accepts.
    settings_keys: ClassVar[frozenset[str]] = frozenset(
        {"url", "secret_env", "timeout", "attempts", "backoff", "backoff_max", "retry_after_max",
         "recipient_fields", "consent"})

    def __init__(self, settings: dict | None = None):
        super().__init__(settings)
        self.options = parse_settings(self.name, self.settings, self.settings_keys)
        self._configure()
        self._secret: bytes | None = None
        self._opener = urllib.request.build_opener(_NoRedirect)
        self._random = random.Random()

    def _configure(self) -> None:
        """Set the instance's consent and address from the settings."""
        consent = self.options.consent
        if not consent:
            raise ConfigError(f"[channels.{self.name}] needs consent: the consent column that allows this "
                              'receiver to contact customers, or "none" if it contacts nobody by itself')
        self.consent = None if consent == "none" else consent

    def open(self) -> None:
        """Read the signing secret from the environment variable named by ``secret_env``."""
        secret = os.environ.get(self.options.secret_env, "")
        if not secret:
            raise ConfigError(f"[channels.{self.name}] secret_env = {self.options.secret_env!r}, but that "
                              "environment variable is not set: export the receiver's signing secret in it")
        self._secret = secret.encode()

    def close(self) -> None:
        """Forget the secret."""
        self._secret = None

    def recipient(self, message: Message) -> dict[str, Any]:
        """The ``to`` object of the body: the recipient fields this receiver needs.

        Raises
        ------
        Undeliverable
            When the message cannot be addressed (subclasses: no valid phone, no token).
        """
        return {key: _clean(message.recipient[key]) for key in self.options.recipient_fields
                if message.recipient.get(key) is not None}

    def body(self, message: Message) -> bytes:
        """The request body: the message as compact UTF-8 JSON, the same bytes on every attempt."""
        payload = {"message_id": message.message_id, "campaign": message.campaign,
                   "customer_id": message.customer_id, "channel": message.channel,
                   "variant": message.variant, "to": self.recipient(message), "text": message.text,
                   "fields": {key: _clean(value) for key, value in message.fields.items()}}
        # Subject (an e-mail's, a push title) and HTML only when rendered: SMS have neither.
        payload.update({key: getattr(message, key) for key in ("subject", "html") if getattr(message, key) is not None})
        return json.dumps(payload, ensure_ascii=False, separators=(",", ":"), allow_nan=False,
                          default=_json_value).encode()

    def send(self, message: Message, committing: Callable[[], None]) -> Delivery:
        """POST ``message``, retrying temporary failures; see docs/how-to/channels-webhook.md.

        ``committing`` is called before every attempt: once a request leaves, the receiver may
        have the message, and only its ``Idempotency-Key`` keeps a resend from doubling it.
        """
        if self._secret is None:
            raise RuntimeError(f"{type(self).__name__}.open() was not called (or use the channel in a with block)")
        try:
            body = self.body(message)
        except Undeliverable as exc:
            return Delivery("failed", error=str(exc))
        return self._post(body, message.message_id, committing)

    def _post(self, body: bytes, key: str, committing: Callable[[], None]) -> Delivery:
        last = _Transient("no attempt made")
        for attempt in range(1, self.options.attempts + 1):
            committing()
            outcome = self._attempt(body, key)
            if isinstance(outcome, Delivery):
                return outcome
            last = outcome
            if attempt == self.options.attempts:
                break
            wait = self._wait(attempt, outcome.retry_after)
            if wait is None:
                return Delivery("retry", error=f"{outcome.error}; the receiver asked to wait {outcome.retry_after:.0f} s "
                                f"(Retry-After), more than retry_after_max = {self.options.retry_after_max:g}")
            time.sleep(wait)
        return Delivery("retry", error=f"{last.error} (after {self.options.attempts} attempt(s))")

    def _wait(self, attempt: int, retry_after: float | None) -> float | None:
        """Seconds before attempt ``attempt + 1``, or None when the receiver asks for more than we wait."""
        if retry_after is not None:
            return retry_after if retry_after <= self.options.retry_after_max else None
        # Exponential backoff with "equal jitter": at least half the step, so senders that failed
        # together spread out without any of them retrying at once.
        step = min(self.options.backoff_max, self.options.backoff * 2 ** (attempt - 1))
        return step / 2 + self._random.uniform(0, step / 2)

    def _request(self, body: bytes, key: str) -> urllib.request.Request:
        stamp = str(int(time.time()))
        headers = {"Content-Type": "application/json; charset=utf-8", IDEMPOTENCY_HEADER: key,
                   TIMESTAMP_HEADER: stamp, SIGNATURE_HEADER: sign(self._secret, body, stamp),
                   "User-Agent": "micromarket-webhook/1"}
        return urllib.request.Request(self.options.url, data=body, headers=headers, method="POST")

    def _attempt(self, body: bytes, key: str) -> Delivery | _Transient:
        """One request: a final :class:`Delivery`, or a :class:`_Transient` failure to retry."""
        try:
            with self._opener.open(self._request(body, key), timeout=self.options.timeout) as response:
                return Delivery("sent", provider_id=_provider_id(response.headers, response.read(MAX_RESPONSE)))
        except urllib.error.HTTPError as exc:
            return _answer(exc.code, exc.headers, exc.read(MAX_RESPONSE))
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, ssl.SSLCertVerificationError):
                # A certificate that does not verify will not verify on the next attempt either.
                return Delivery("failed", error=f"TLS certificate of {self.options.url} refused: {exc.reason}")
            return _Transient(f"cannot reach {self.options.url}: {exc.reason}")
        except (OSError, http.client.HTTPException) as exc:  # timeouts, resets, an answer cut short
            return _Transient(f"{type(exc).__name__} talking to {self.options.url}: {exc}")


def _json_object(raw: bytes) -> dict:
    try:
        value = json.loads(raw)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _provider_id(headers: Mapping[str, str], raw: bytes) -> str | None:
    """The receiver's id for the message: ``id`` of a JSON answer, else an ``X-Request-Id`` header."""
    found = _json_object(raw).get("id")
    return str(found) if found is not None else headers.get("X-Request-Id")


def _answer(status: int, headers: Mapping[str, str], raw: bytes) -> Delivery | _Transient:
    """What a non-2xx answer means: retry, a bounce, or a permanent failure."""
    text = raw.decode("utf-8", "replace").strip()[:300]
    error = f"HTTP {status}" + (f": {text}" if text else "")
    if status in RETRY_STATUSES:
        return _Transient(error, _retry_after(headers.get("Retry-After")))
    if status == 410 or _json_object(raw).get("status") == "bounced":
        return Delivery("bounced", error=error)
    if 300 <= status < 400:
        return Delivery("failed", error=f"{error} (redirect to {headers.get('Location')!r} not followed: set url to it)")
    return Delivery("failed", error=error)


@register
class SmsChannel(WebhookChannel):
    """Text messages through an SMS gateway's webhook; the phone goes as E.164 (``+447400123456``).

    Parameters
    ----------
    settings : dict
        ``[channels.sms]``: ``url``, ``secret_env``, ``default_region`` (the ISO country of
        numbers written without ``+``, e.g. ``"GB"``) and the common settings of
        :class:`WebhookChannel`; no ``consent`` (always ``consent_sms``).
    """

    name: ClassVar[str] = "sms"
    consent: ClassVar[str | None] = "consent_sms"
    address: ClassVar[str | None] = "phone"
    settings_keys: ClassVar[frozenset[str]] = (WebhookChannel.settings_keys - {"consent"}) | {"default_region"}

    def _configure(self) -> None:
        region = self.options.default_region
        if region and region.upper() not in phonenumbers.SUPPORTED_REGIONS:
            raise ConfigError(f"[channels.sms] default_region = {region!r}; expected a two-letter country code such as 'GB'")

    def recipient(self, message: Message) -> dict[str, Any]:
        """The fields asked for, with ``phone`` in E.164.

        Raises
        ------
        Undeliverable
            When the customer's phone is missing or not a valid number.
        """
        to = super().recipient(message)
        to["phone"] = self.e164(message.recipient.get("phone"), message.recipient.get("country"))
        return to

    def e164(self, phone: Any, country: Any = None) -> str:
        """``phone`` as E.164, read in the customer's ``country`` when it is an ISO code, else in ``default_region``.

        Raises
        ------
        Undeliverable
            Naming the number and why it was refused.
        """
        if phone is None or not str(phone).strip():
            raise Undeliverable("no phone number")
        # A number written without "+" is local to where the customer lives, so their country
        # (when it is an ISO code) is a better guess than one region for the whole list.
        known = isinstance(country, str) and country.upper() in phonenumbers.SUPPORTED_REGIONS
        region = country.upper() if known else (self.options.default_region.upper() or None)
        try:
            number = phonenumbers.parse(str(phone), region)
        except phonenumbers.NumberParseException as exc:
            where = region or "unset: set default_region"
            raise Undeliverable(f"phone {phone!r} cannot be read ({exc}; region {where})") from None
        if not phonenumbers.is_valid_number(number):
            where = region or "from its + prefix"
            raise Undeliverable(f"phone {phone!r} is not a valid number (read in region {where})")
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


@register
class PushChannel(WebhookChannel):
    """Push notifications through a push service's webhook.

    The service addresses the customer id (it keeps each customer's devices), or the device
    token in the recipient field ``token_field`` names. The customers table has no push
    consent, so ``consent`` must name the column that holds it (``"none"`` is refused: a push
    always reaches a person).

    Parameters
    ----------
    settings : dict
        ``[channels.push]``: ``url``, ``secret_env``, ``consent``, optionally ``token_field``
        and the common settings of :class:`WebhookChannel`.
    """

    name: ClassVar[str] = "push"
    consent: ClassVar[str | None] = "consent_push"
    settings_keys: ClassVar[frozenset[str]] = WebhookChannel.settings_keys | {"token_field"}

    def _configure(self) -> None:
        if self.options.consent in ("", "none"):
            raise ConfigError(f"[channels.push] consent = {self.options.consent!r}; expected the customers' column "
                              "that records consent to push messages (e.g. an attribute column consent_push)")
        self.consent = self.options.consent
        self.address = self.options.token_field or None

    def recipient(self, message: Message) -> dict[str, Any]:
        """The fields asked for, with ``token`` when ``token_field`` is set.

        Raises
        ------
        Undeliverable
            When ``token_field`` is set and the customer has no token.
        """
        to = super().recipient(message)
        field = self.options.token_field
        if field:
            token = message.recipient.get(field)
            if token is None or not str(token).strip():
                raise Undeliverable(f"no push token in {field!r}")
            to["token"] = str(token)
        return to


__all__ = ["PushChannel", "SmsChannel", "WebhookChannel", "WebhookSettings", "Undeliverable", "parse_settings",
           "sign", "verify_signature", "LOOP_KEYS", "SIGNATURE_HEADER", "TIMESTAMP_HEADER", "IDEMPOTENCY_HEADER", "TOLERANCE"]
