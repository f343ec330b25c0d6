"""Ad-platform custom-audience files: ``google_audience`` (Google Ads Customer Match) and
``meta_audience`` (Meta custom audience from a customer list).

Each writes the platform's upload CSV with its documented headers, holding **hashed identifiers
only**: e-mail, phone and names are normalised as the platform documents
(:mod:`micromarket.campaigns.identifiers`) and SHA-256-hashed before they reach the journal or the
file, so no raw e-mail, phone number or name is ever written to disk by these channels. Google
wants Country and Zip in plain text (and only beside a first and last name); Meta hashes every column.

A customer with nothing to match on (no valid e-mail or phone, and no whole postal identity: first
and last name, postcode, country) is answered ``failed`` with the reason. Identifiers that were
left out of a row that was written (an invalid phone beside a valid e-mail) are listed in
:attr:`AudienceChannel.problems`.

Consent. Uploading customers to an ad platform uses their personal data for marketing: under the
GDPR and ePrivacy practice that needs the customer's consent, and Google's EU user consent policy
asks advertisers to confirm it for Customer Match. The customers table has no ad-specific consent
column, so by default these channels require ``consent_email`` (the list is matched above all on
e-mail, and whoever agreed to marketing e-mail agreed to be marketed to by e-mail address); a
workspace that records ad consent in its own column (an extra customers attribute such as
``consent_ads``) names it with the ``consent`` setting. There is no way to switch consent off.

Crash safety, resumption and ``{campaign}`` in ``path``: see :mod:`.files`.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any, ClassVar

import phonenumbers

from ...exceptions import ConfigError
from ..identifiers import FIELDS, audience_identifiers, normalise_country
from . import register
from .base import Delivery, Message
from .files import FileChannel, Journal


class AudienceChannel(FileChannel):
    """Base of the audience channels: a CSV of hashed identifiers, one row per customer.

    Settings (``[channels.<name>]``): ``path`` (required; may contain ``{campaign}``),
    ``default_region`` (ISO 3166-1 alpha-2 country for phone numbers written without a country code
    when the customer's own country is unknown, e.g. ``"GB"``), ``consent`` (the customers' consent
    column that allows the upload; default ``consent_email``), ``fsync`` (default true).

    Attributes
    ----------
    problems : list of dict
        Identifiers left out of rows that were written: ``message_id``, ``customer_id``, ``field``,
        ``reason`` (never the value).
    """

    platform: ClassVar[str] = ""
    #: Column header of each identifier field (:data:`~micromarket.campaigns.identifiers.FIELDS`).
    HEADERS: ClassVar[dict[str, str]] = {}
    consent: ClassVar[str | None] = "consent_email"
    #: Any of e-mail, phone or a postal identity will do, so no single field is required up front.
    address: ClassVar[str | None] = None
    settings_keys: ClassVar[frozenset[str]] = FileChannel.settings_keys | {"default_region", "consent"}

    def __init__(self, settings: dict | None = None):
        super().__init__(settings)
        consent = self.settings.get("consent", type(self).consent)
        if not isinstance(consent, str) or not consent.strip():
            raise ConfigError(f"channels.{self.name}.consent should name a consent column of customers "
                              f"(default consent_email), got {consent!r}")
        self.consent = consent  # this channel's column; the class default serves channels without settings
        self.default_region = _region(self.settings.get("default_region"), self.name)
        self.problems: list[dict[str, str]] = []

    def row(self, message: Message) -> dict[str, Any] | Delivery:
        ids = audience_identifiers(message.recipient, self.platform, self.default_region)
        if not ids.usable:
            return Delivery("failed", error=ids.reason())
        for name, reason in ids.problems.items():
            self.problems.append({"message_id": message.message_id, "customer_id": message.customer_id,
                                  "field": name, "reason": reason})
        return {name: ids.values.get(name, "") for name in FIELDS}

    def write(self, journal: Journal, tmp: Path) -> None:
        with open(tmp, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(self.HEADERS.values())
            for row in journal.rows():
                writer.writerow(row.get(name, "") for name in self.HEADERS)


def _region(value: Any, channel: str) -> str | None:
    if value is None or value == "":
        return None
    try:
        region = normalise_country(str(value)).upper()
    except ValueError:
        region = ""
    if region not in phonenumbers.SUPPORTED_REGIONS:
        raise ConfigError(f"channels.{channel}.default_region should be an ISO 3166-1 alpha-2 country "
                          f"with a telephone numbering plan, e.g. 'GB', got {value!r}")
    return region


@register
class GoogleAudienceChannel(AudienceChannel):
    """Google Ads Customer Match upload file (hashed data).

    Headers, as Google's template has them: ``Email, Phone, First Name, Last Name, Country, Zip``.
    Email, Phone, First Name and Last Name are SHA-256 hex of the normalised values; Country
    (lower-case ISO alpha-2) and Zip are plain, and only present with both names, since Google
    matches a postal address only with first and last name.
    """

    name: ClassVar[str] = "google_audience"
    platform: ClassVar[str] = "google"
    HEADERS: ClassVar[dict[str, str]] = {"email": "Email", "phone": "Phone", "first_name": "First Name",
                                         "last_name": "Last Name", "country": "Country", "postcode": "Zip"}


@register
class MetaAudienceChannel(AudienceChannel):
    """Meta custom audience customer-list file (hashed data).

    Headers, as Meta's customer-list template names them: ``email, phone, fn, ln, zip, country``;
    every value is the SHA-256 hex of the normalised value.
    """

    name: ClassVar[str] = "meta_audience"
    platform: ClassVar[str] = "meta"
    HEADERS: ClassVar[dict[str, str]] = {"email": "email", "phone": "phone", "first_name": "fn",
                                         "last_name": "ln", "postcode": "zip", "country": "country"}


__all__ = ["AudienceChannel", "GoogleAudienceChannel", "MetaAudienceChannel"]
