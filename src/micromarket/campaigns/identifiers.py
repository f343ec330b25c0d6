"""Normalise customer identifiers the way the ad platforms document it, then hash them (SHA-256).

An ad platform matches an uploaded customer list against its own users by comparing hashes, so a
value only matches when it was normalised exactly as the platform normalises its side: one stray
capital or dot and the hash is a different number. Each platform documents its own rules; they are
implemented here per platform and cited per function.

Sources
-------
.. [G1] Google, Data Manager API, "Format user data",
   https://developers.google.com/data-manager/api/devguides/concepts/formatting (e-mail, phone,
   address; the upgrade path Google names for Customer Match).
.. [G2] Google Ads Help, "Format your customer data file" (answer 7659867), "Formatting guidelines for
   uploading hashed data" (answer 7476159) and the Customer Match CSV template they link: headers
   ``Email, Phone, First Name, Last Name, Country, Zip``; Country and Zip are *not* hashed.
.. [G3] Google, Display & Video 360 API, ``ContactInfo`` reference: "Before hashing, remove all
   whitespace and make sure the string is all lowercase" (first and last names, e-mails).
.. [M1] Meta, Marketing API, "Customer File Custom Audiences", section "Hashing and Normalizing Data",
   https://developers.facebook.com/docs/marketing-api/audiences/guides/custom-audiences
   (EMAIL, PHONE, FN, LN, ZIP, COUNTRY: all hashed).
.. [M2] Meta Business Help Centre, "How to format a customer list when creating a custom audience"
   (article 2082575038703844): column headers ``email, phone, fn, ln, zip, country``; phones must
   carry the country code.

Every ``normalise_*`` function raises :class:`IdentifierError` (naming the field and the rule,
never the value) instead of returning something that would be hashed as garbage.
"""

from __future__ import annotations

import hashlib
import math
import re
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Literal, Mapping

import phonenumbers

from ..exceptions import MicromarketError

Platform = Literal["google", "meta"]
PLATFORMS: tuple[str, ...] = ("google", "meta")

#: The recipient fields an audience is built from, in the order the files list them.
FIELDS: tuple[str, ...] = ("email", "phone", "first_name", "last_name", "country", "postcode")

#: Which fields each platform wants hashed. Google wants Country and Zip in plain text [G2]
#: (an upload with them hashed is rejected); Meta hashes every customer-list field [M1].
HASHED: dict[str, frozenset[str]] = {
    "google": frozenset({"email", "phone", "first_name", "last_name"}),
    "meta": frozenset(FIELDS),
}

_GMAIL_DOMAINS = frozenset({"gmail.com", "googlemail.com"})
_EMAIL = re.compile(r"[^@\s]+@[^@\s.]+(\.[^@\s.]+)+")
_TITLES = frozenset({"mr", "mrs", "ms", "miss", "mx", "dr", "prof", "sir", "dame", "lady", "lord"})
_SUFFIXES = frozenset({"jr", "sr", "ii", "iii", "iv", "v"})
_UK_POSTCODE = re.compile(r"([a-z]{1,2}[0-9][a-z0-9]?)([0-9])([a-z]{2})")
_US_ZIP = re.compile(r"([0-9]{5})(?:-?([0-9]{4}))?")
# Names people write instead of ISO codes that the phonenumbers locale tables do not carry.
_COUNTRY_ALIASES = {"uk": "gb", "great britain": "gb", "england": "gb", "scotland": "gb", "wales": "gb",
                    "northern ireland": "gb", "usa": "us", "united states of america": "us"}


class IdentifierError(MicromarketError, ValueError):
    """An identifier cannot be normalised under its platform's rules (the message names field and rule)."""


def sha256_hex(value: str) -> str:
    """The SHA-256 of ``value`` encoded as UTF-8, as 64 lower-case hex digits ([G1], [M1]).

    >>> sha256_hex("us")
    '79adb2a2fce5c6ba215fe5f27f532d4e7edbac4b6a5e09e1ef3a08084a904621'
    """
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def normalise_email(value: str, platform: Platform) -> str:
    """Normalise an e-mail address for ``platform``.

    Google [G1]: lower case; leading, trailing and intermediate whitespace removed; for
    ``gmail.com`` and ``googlemail.com`` addresses every ``.`` before the ``@`` is removed, and so
    is a ``+`` and everything after it. Meta [M1]: leading and trailing whitespace trimmed, lower case.

    Raises :class:`IdentifierError` when the result is not an address (one ``@``, a dotted domain).

    >>> normalise_email(" Cloudy.SanFrancisco+shopping@gmail.com ", "google")
    'cloudysanfrancisco@gmail.com'
    >>> normalise_email("user.name+NYC@Example.com", "google")
    'user.name+nyc@example.com'
    >>> normalise_email("Your.Name@gmail.com ", "meta")
    'your.name@gmail.com'
    """
    _check_platform(platform)
    text = value.strip().lower()
    if platform == "google":
        text = "".join(text.split())
        local, at, domain = text.rpartition("@")
        if at and domain in _GMAIL_DOMAINS:
            text = f"{local.split('+', 1)[0].replace('.', '')}@{domain}"
    if not _EMAIL.fullmatch(text):
        raise IdentifierError("email: not an e-mail address (one '@', a dotted domain, no spaces)")
    return text


def normalise_phone(value: str, platform: Platform, region: str | None = None) -> str:
    """Normalise a phone number for ``platform``, with its country code.

    The number is read with Google's ``libphonenumber`` (the ``phonenumbers`` port): a number
    written nationally (``07400 123456``) is read in ``region`` (ISO 3166-1 alpha-2, the customer's
    country or the workspace default); one written with ``+``, ``00`` or its country code needs none.
    Google [G1] wants E.164: ``+``, country code, digits (``(800)555-0100`` -> ``+18005550100``).
    Meta [M1], [M2] wants digits only with the country code: symbols, letters and leading zeros
    removed, i.e. E.164 without the ``+``.

    Raises :class:`IdentifierError` when the number is not a valid number (of ``region``, when it
    has no country code): such numbers are reported, never hashed.

    >>> normalise_phone("(800)555-0100", "google", region="US")
    '+18005550100'
    >>> normalise_phone("+44 844 412 4653", "meta")
    '448444124653'
    """
    _check_platform(platform)
    number = _parse_phone(value, region)
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return e164 if platform == "google" else e164.lstrip("+")


def _parse_phone(value: str, region: str | None) -> phonenumbers.PhoneNumber:
    region = region.upper() if region else None
    digits = re.sub(r"[\s().\-/]", "", value)
    candidates = [value]
    # Digits that start with their country code but no "+" ("12345678910", Meta's own example [M2]):
    # read as international after the national reading fails, so national numbers keep their region;
    # or before it when they start with the region's own code, as Meta's normalised numbers do
    # (Kosovo's "38328012345" is also a valid national number there).
    if digits.isdigit() and not digits.startswith("0"):
        candidates.append("+" + digits)
        own_code = str(phonenumbers.country_code_for_region(region)) if region else ""
        if own_code != "0" and digits.startswith(own_code):
            candidates.reverse()
    for candidate in candidates:
        try:
            number = phonenumbers.parse(candidate, region)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(number):
            return number
    where = f"for region {region}" if region else "and no country code or default region to read it in"
    raise IdentifierError(f"phone: not a valid phone number {where}")


def normalise_name(value: str, platform: Platform, part: Literal["first", "last"] = "first") -> str:
    """Normalise a first or last name for ``platform``.

    Both platforms: lower case, no punctuation, UTF-8 ([G1] "all lowercase, with no punctuation";
    [M1] "Lowercase only with no punctuation. Special characters in UTF-8 format"), so accents are
    kept (``Émilie`` -> ``émilie``). Google also drops prefixes such as ``Mrs.`` from first names and
    suffixes such as ``Jr.`` from last names [G1], and removes all whitespace [G2], [G3] (``Mary
    Ann`` -> ``maryann``); Meta only trims it. Text is put in Unicode NFC first so that a composed
    and a decomposed ``é`` hash alike.

    >>> normalise_name("  Mrs. Mary-Ann ", "google")
    'maryann'
    >>> normalise_name("O'Brien Jr.", "google", part="last")
    'obrien'
    >>> normalise_name(" Émilie ", "meta")
    'émilie'
    """
    _check_platform(platform)
    if part not in ("first", "last"):
        raise ValueError(f"part={part!r} should be 'first' or 'last'")
    words = [_no_punctuation(word) for word in _nfc(value).lower().split()]
    words = [word for word in words if word]
    if platform == "google":
        words = _drop_titles(words, part)
    text = _nfc(("" if platform == "google" else " ").join(words))
    if not text:
        raise IdentifierError(f"{part}_name: empty once punctuation and whitespace are removed")
    return text


def _drop_titles(words: list[str], part: str) -> list[str]:
    # Only a title beside a name is dropped: a first name that is just "Dr" stays a name.
    if part == "first":
        while len(words) > 1 and words[0] in _TITLES:
            words = words[1:]
    else:
        while len(words) > 1 and words[-1] in _SUFFIXES:
            words = words[:-1]
    return words


def normalise_country(value: str) -> str:
    """The ISO 3166-1 alpha-2 code of a country code or name, lower case ([G1] ``region_code``,
    [G2] template ``us``; [M1] "lowercase, 2-letter country codes in ISO 3166-1 alpha-2").

    Names are recognised in the languages of the ``phonenumbers`` locale tables (``Germany``,
    ``Deutschland``, ``Allemagne``), plus ``UK``, ``USA`` and the nations of the United Kingdom.

    >>> normalise_country("United Kingdom"), normalise_country("DE"), normalise_country("uk")
    ('gb', 'de', 'gb')
    """
    key = _country_key(value)
    code = _country_names().get(key)
    if code is None:
        raise IdentifierError("country: not an ISO 3166-1 code or a known country name")
    return code


@lru_cache(maxsize=1)
def _country_names() -> dict[str, str]:
    from phonenumbers.geodata.locale import LOCALE_DATA

    names = {code.lower(): code.lower() for code in LOCALE_DATA if re.fullmatch(r"[A-Z]{2}", code)}
    names.update({code.lower(): code.lower() for code in phonenumbers.SUPPORTED_REGIONS})
    # English ("aa", the tables' default) first, so an English name wins over a homonym elsewhere.
    for language_first in (True, False):
        for code, by_language in LOCALE_DATA.items():
            for language, name in by_language.items():
                if (language == "aa") == language_first and not name.startswith("*") and len(code) == 2:
                    names.setdefault(_country_key(name), code.lower())
    names.update(_COUNTRY_ALIASES)
    return names


def _country_key(value: str) -> str:
    decomposed = unicodedata.normalize("NFKD", value.casefold())
    letters = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(_no_punctuation(letters.replace("&", " and ")).split())


def normalise_postcode(value: str, platform: Platform, country: str | None = None) -> str:
    """Normalise a postcode for ``platform`` (``country``: the alpha-2 code, when known).

    Google [G2] takes the Zip in plain text: US codes as five digits or five digits and the
    four-digit extension (``94303``, ``94303-5300``), others as written (trimmed, single spaces,
    upper case, as in the template's ``WC2H 8LG``). Meta [M1]: lower case, no whitespace, no
    dash; US: the first five digits only; UK: the area, district and sector (``M1 1AE`` -> ``m11``).

    >>> normalise_postcode("94303 5300", "google", "us"), normalise_postcode("94303-5300", "meta", "us")
    ('94303-5300', '94303')
    >>> normalise_postcode(" wc2h  8lg", "google", "gb"), normalise_postcode("WC2H 8LG", "meta", "gb")
    ('WC2H 8LG', 'wc2h8')
    """
    _check_platform(platform)
    compact = re.sub(r"[\s\-]", "", value).lower()
    if not compact.isalnum():
        raise IdentifierError("postcode: letters and digits only (with spaces or dashes)")
    if country == "us":
        zip_code = _US_ZIP.fullmatch(compact)
        if zip_code is None:
            raise IdentifierError("postcode: a US ZIP code has 5 digits, or 5 and 4")
        if platform == "meta" or not zip_code.group(2):
            return zip_code.group(1)
        return f"{zip_code.group(1)}-{zip_code.group(2)}"
    if platform == "google":
        return " ".join(value.split()).upper()
    uk = _UK_POSTCODE.fullmatch(compact) if country == "gb" else None
    return uk.group(1) + uk.group(2) if uk else compact


@dataclass
class Identifiers:
    """A customer's identifiers for one platform: ``values`` (by field of :data:`FIELDS`, hashed
    where the platform wants it) and ``problems`` (by field, why it was left out)."""

    values: dict[str, str] = field(default_factory=dict)
    problems: dict[str, str] = field(default_factory=dict)

    @property
    def usable(self) -> bool:
        """Whether the platform can match on them: an e-mail, a phone, or a full postal identity."""
        return bool({"email", "phone"} & self.values.keys()) or _ADDRESS <= self.values.keys()

    def reason(self) -> str:
        """Why there is nothing to match on (for a failed delivery)."""
        found = "; ".join(self.problems.values()) or "no email, phone or name with postcode and country"
        return f"no usable identifier: {found}"


_ADDRESS = frozenset({"first_name", "last_name", "country", "postcode"})


def audience_identifiers(recipient: Mapping[str, Any], platform: Platform, region: str | None = None) -> Identifiers:
    """Normalise and hash a recipient's identifiers for ``platform``.

    ``recipient`` is a :attr:`~micromarket.campaigns.channels.Message.recipient`; ``region``
    the default region for phone numbers written without a country code (the customer's own
    country, when known, comes first). A postal identity (first and last name, country,
    postcode) is kept only whole: Google matches a postal address only with all four [G2], and
    part of one adds little for Meta while it would still send personal data.

    >>> ids = audience_identifiers({"email": "Mary@Example.com", "phone": "12"}, "meta", "GB")
    >>> ids.values["email"] == sha256_hex("mary@example.com"), sorted(ids.problems)
    (True, ['phone'])
    """
    _check_platform(platform)
    ids = Identifiers()
    raw = {name: _text(recipient.get(name)) for name in FIELDS}
    country = _try(ids, "country", normalise_country, raw["country"])
    region = country.upper() if country else region
    _try(ids, "email", normalise_email, raw["email"], platform)
    _try(ids, "phone", normalise_phone, raw["phone"], platform, region)
    _try(ids, "first_name", normalise_name, raw["first_name"], platform, "first")
    _try(ids, "last_name", normalise_name, raw["last_name"], platform, "last")
    _try(ids, "postcode", normalise_postcode, raw["postcode"], platform, country)
    _keep_whole_address(ids)
    ids.values = {name: sha256_hex(v) if name in HASHED[platform] else v for name, v in ids.values.items()}
    return ids


def _try(ids: Identifiers, name: str, normalise, value: str | None, *args) -> str | None:
    if value is None:
        return None
    try:
        ids.values[name] = normalise(value, *args)
    except IdentifierError as error:
        ids.problems[name] = str(error)
        return None
    return ids.values[name]


def _keep_whole_address(ids: Identifiers) -> None:
    present = _ADDRESS & ids.values.keys()
    if present and present != _ADDRESS:
        # Half an address matches nobody, and a plain postcode and country would be sent for nothing.
        for name in present:
            del ids.values[name]
        missing = ", ".join(sorted(_ADDRESS - present))
        ids.problems.setdefault("address", f"address: left out, {missing} missing or unusable")


def _text(value: Any) -> str | None:
    """A recipient value as text, or None when it is missing (None, NaN, blank)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # a phone or postcode read as a number: 447400123456.0
    text = str(value)
    return text if text.strip() else None


def _nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


def _no_punctuation(text: str) -> str:
    return "".join(c for c in text if not unicodedata.category(c).startswith("P"))


def _check_platform(platform: str) -> None:
    if platform not in PLATFORMS:
        raise ValueError(f"platform={platform!r} should be one of {', '.join(PLATFORMS)}")


__all__ = ["FIELDS", "HASHED", "PLATFORMS", "IdentifierError", "Identifiers", "audience_identifiers",
           "normalise_country", "normalise_email", "normalise_name", "normalise_phone", "normalise_postcode",
           "sha256_hex"]
