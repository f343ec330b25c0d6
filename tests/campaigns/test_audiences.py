"""Ad-platform audiences: identifiers normalised as Google and Meta document them, hashed, and
written to the platforms' upload files with nothing raw in them."""

from __future__ import annotations

import csv
import hashlib
import re
import string
import subprocess
import sys
import textwrap
from pathlib import Path

import phonenumbers
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from micromarket.campaigns.channels import CHANNELS, Message, message_id
from micromarket.campaigns.channels.audiences import GoogleAudienceChannel, MetaAudienceChannel
from micromarket.campaigns.identifiers import (
    HASHED,
    IdentifierError,
    audience_identifiers,
    normalise_country,
    normalise_email,
    normalise_name,
    normalise_phone,
    normalise_postcode,
    sha256_hex,
)
from micromarket.exceptions import ConfigError

HEX64 = re.compile(r"[0-9a-f]{64}")


def sha(text: str) -> str:
    """The reference hash, computed here with hashlib rather than by the code under test."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# --- documented examples --------------------------------------------------------------------


# Google Data Manager API, "Format user data" (developers.google.com/data-manager/api/devguides/
# concepts/formatting), email_address: "If the email address has the gmail.com or googlemail.com
# domain: Remove all periods (.) before the @ symbol. Remove the plus sign (+) from the local part
# and remove all characters that follow it. Example: cloudy.sanfrancisco+shopping@gmail.com ->
# cloudysanfrancisco@gmail.com. If the email address has a domain other than gmail.com or
# googlemail.com, don't remove periods or plus signs. Example: user.name+NYC@Example.com ->
# user.name+nyc@example.com".
@pytest.mark.parametrize("raw, normalised", [
    ("cloudy.sanfrancisco+shopping@gmail.com", "cloudysanfrancisco@gmail.com"),
    ("user.name+NYC@Example.com", "user.name+nyc@example.com"),
    ("Cloudy.SanFrancisco@GoogleMail.com", "cloudysanfrancisco@googlemail.com"),
    # "Whitespace: Trim leading, trailing and intermediate whitespace."
    ("  user.name @example.com ", "user.name@example.com"),
])
def test_email_normalised_as_google_data_manager_documents(raw, normalised):
    assert normalise_email(raw, "google") == normalised
    assert audience_identifiers({"email": raw}, "google").values["email"] == sha(normalised)


# Meta Marketing API, Customer File Custom Audiences, "Hashing and Normalizing Data": EMAIL "Trim
# leading and trailing whitespace and convert all characters to lowercase"; no rule for Gmail dots.
# The addresses are the examples of Meta's Business Help Centre article "How to format a customer
# list" (username@hotmail.co.uk, your.name@gmail.com, myname@yahoo.com).
@pytest.mark.parametrize("raw, normalised", [
    (" username@hotmail.co.uk", "username@hotmail.co.uk"),
    ("Your.Name@gmail.com ", "your.name@gmail.com"),
    ("MyName@Yahoo.com", "myname@yahoo.com"),
])
def test_email_normalised_as_meta_documents(raw, normalised):
    assert normalise_email(raw, "meta") == normalised
    assert audience_identifiers({"email": raw}, "meta").values["email"] == sha(normalised)


def test_sha256_of_a_normalised_email_matches_hashlib():
    # The platforms want the SHA-256 of the UTF-8 bytes as lower-case hex (Google Data Manager
    # "Hash using the SHA-256 algorithm ... hex"; Meta "SHA256").
    assert sha256_hex("cloudysanfrancisco@gmail.com") == sha("cloudysanfrancisco@gmail.com")
    assert HEX64.fullmatch(sha256_hex("cloudysanfrancisco@gmail.com"))


# Google Data Manager API, phone_number: "Use the E.164 format. Include the plus sign (+) and the
# country code ... the US phone number (800)555-0100 should be formatted and normalized to
# +18005550100." Google Ads API example upload_enhanced_conversions_for_leads.py: "+1 800 5550102".
# Google Ads Customer Match template (Google Ads Help 7659867): 1-800-888-8888, 18008888899,
# 1(800)888-8888.
@pytest.mark.parametrize("raw, region, normalised", [
    ("(800)555-0100", "US", "+18005550100"),
    ("+1 800 5550102", None, "+18005550102"),
    ("1-800-888-8888", "US", "+18008888888"),
    ("18008888899", "US", "+18008888899"),
    ("1(800)888-8888", "US", "+18008888888"),
])
def test_phone_normalised_as_google_documents(raw, region, normalised):
    assert normalise_phone(raw, "google", region) == normalised


# Meta Business Help Centre, "How to format a customer list": "Phone numbers must include a
# country code ... with or without punctuation", examples 1-234-567-8910, 12345678910,
# +44 844 412 4653. Meta Marketing API, PHONE: "Remove symbols, letters, and any leading zeros."
@pytest.mark.parametrize("raw, normalised", [
    ("1-234-567-8910", "12345678910"),
    ("12345678910", "12345678910"),
    ("+44 844 412 4653", "448444124653"),
    ("0044 844 412 4653", "448444124653"),
])
def test_phone_normalised_as_meta_documents(raw, normalised):
    assert normalise_phone(raw, "meta", region="GB") == normalised
    assert audience_identifiers({"phone": raw}, "meta", "GB").values["phone"] == sha(normalised)


def test_national_numbers_are_read_in_the_customers_country_first():
    assert normalise_phone("07400 123456", "google", "GB") == "+447400123456"
    ids = audience_identifiers({"phone": "030 901820", "country": "Germany"}, "google", region="GB")
    assert ids.values["phone"] == sha("+4930901820")


@pytest.mark.parametrize("raw, region", [("12", "GB"), ("not a number", "GB"), ("07400 123456", None),
                                         ("+44 1234", None), ("", "US")])
def test_invalid_phones_are_reported_never_hashed(raw, region):
    with pytest.raises(IdentifierError, match="phone"):
        normalise_phone(raw, "google", region)
    ids = audience_identifiers({"phone": raw or None, "email": "a@example.com"}, "google", region)
    assert "phone" not in ids.values


# Google Data Manager API, AddressInfo: given_name "Convert to lowercase. Don't include prefixes
# such as Mrs."; family_name "Don't include suffixes such as Jr."; reference: "all lowercase, with
# no punctuation, no leading or trailing whitespace". Display & Video 360 ContactInfo: "remove all
# whitespace". Meta Marketing API, FN/LN: "Lowercase only with no punctuation. Special characters in
# UTF-8 format." Names from Meta's help article: John, Émilie, Smith.
@pytest.mark.parametrize("raw, platform, part, normalised", [
    ("John", "google", "first", "john"),
    ("Mrs. Jane", "google", "first", "jane"),
    ("Smith Jr.", "google", "last", "smith"),
    ("Mary Ann", "google", "first", "maryann"),
    ("O'Brien", "google", "last", "obrien"),
    ("John", "meta", "first", "john"),
    ("Émilie", "meta", "first", "émilie"),
    ("Smith", "meta", "last", "smith"),
    ("Smith-Jones", "meta", "last", "smithjones"),
    ("  Mary Ann ", "meta", "first", "mary ann"),
])
def test_names_normalised_as_documented(raw, platform, part, normalised):
    assert normalise_name(raw, platform, part) == normalised


def test_composed_and_decomposed_accents_hash_alike():
    assert normalise_name("E\u0301milie", "meta") == normalise_name("\u00c9milie", "meta") == "\u00e9milie"


# Google Data Manager region_code and Meta COUNTRY: ISO 3166-1 alpha-2, lower case for Meta ("us");
# Google's Customer Match template writes "us", "cn", "sg".
@pytest.mark.parametrize("raw, code", [("US", "us"), ("us", "us"), ("United Kingdom", "gb"), ("UK", "gb"),
                                       ("Deutschland", "de"), ("Singapore", "sg"), ("U.S.A.", "us")])
def test_countries_become_iso_alpha2(raw, code):
    assert normalise_country(raw) == code


def test_unknown_country_is_reported():
    with pytest.raises(IdentifierError, match="country"):
        normalise_country("Atlantis")


# Google Ads Help, hashed-data guidelines, Zip: "For United States: 5-digit codes are allowed
# (94303); 5 digits followed by 4-digit extension are also allowed (94303-5300). For all other
# countries: leave out postal code extensions (WC2H 8LG)." Meta Marketing API, ZIP: "Use lowercase,
# and no white space. Use only the first 5 digits for U.S. zip codes. Use the area/district/sector
# format for the UK."
@pytest.mark.parametrize("raw, platform, country, normalised", [
    ("94303", "google", "us", "94303"),
    ("94303-5300", "google", "us", "94303-5300"),
    ("WC2H 8LG", "google", "gb", "WC2H 8LG"),
    ("94303-5300", "meta", "us", "94303"),
    ("WC2H 8LG", "meta", "gb", "wc2h8"),
    ("M1 1AE", "meta", "gb", "m11"),
    ("75001", "meta", "fr", "75001"),
])
def test_postcodes_normalised_as_documented(raw, platform, country, normalised):
    assert normalise_postcode(raw, platform, country) == normalised


def test_google_keeps_country_and_zip_plain_and_hashes_the_rest():
    recipient = {"email": "Mary@Example.com", "phone": "+44 7400 123456", "first_name": "Mary",
                 "last_name": "Smith", "country": "GB", "postcode": "wc2h 8lg"}
    google = audience_identifiers(recipient, "google").values
    assert google == {"email": sha("mary@example.com"), "phone": sha("+447400123456"), "first_name": sha("mary"),
                      "last_name": sha("smith"), "country": "gb", "postcode": "WC2H 8LG"}
    meta = audience_identifiers(recipient, "meta").values
    assert meta == {"email": sha("mary@example.com"), "phone": sha("447400123456"), "first_name": sha("mary"),
                    "last_name": sha("smith"), "country": sha("gb"), "postcode": sha("wc2h8")}
    assert HASHED["google"] == {"email", "phone", "first_name", "last_name"}


def test_half_an_address_is_left_out():
    ids = audience_identifiers({"email": "a@example.com", "first_name": "Mary", "postcode": "WC2H 8LG"}, "google")
    assert set(ids.values) == {"email"} and "address" in ids.problems
    ids = audience_identifiers({"first_name": "Mary", "last_name": "Smith", "postcode": "WC2H 8LG",
                                "country": "GB"}, "google")
    assert ids.usable and set(ids.values) == {"first_name", "last_name", "postcode", "country"}


def test_missing_values_are_missing_not_errors():
    ids = audience_identifiers({"email": None, "phone": float("nan"), "first_name": "  "}, "meta")
    assert not ids.values and not ids.problems and not ids.usable


def test_platform_is_checked():
    with pytest.raises(ValueError, match="platform='tiktok'"):
        normalise_email("a@example.com", "tiktok")


# --- properties ----------------------------------------------------------------------------

platforms = st.sampled_from(["google", "meta"])
names = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Co", "Cn")), min_size=1, max_size=30)


@settings(max_examples=300, deadline=None)
@given(st.emails(), platforms)
def test_email_normalisation_is_idempotent_and_its_hash_hides_the_address(email, platform):
    try:
        once = normalise_email(email, platform)
    except IdentifierError:
        return
    assert normalise_email(once, platform) == once
    hashed = audience_identifiers({"email": email}, platform).values["email"]
    assert HEX64.fullmatch(hashed) and email not in hashed and once not in hashed


@settings(max_examples=300, deadline=None)
@given(names, platforms, st.sampled_from(["first", "last"]))
def test_name_normalisation_is_idempotent(name, platform, part):
    try:
        once = normalise_name(name, platform, part)
    except IdentifierError:
        return
    assert normalise_name(once, platform, part) == once
    assert once == once.lower()


@settings(max_examples=200, deadline=None)
@given(names.filter(lambda s: any(c not in string.hexdigits for c in s)), platforms)
def test_hashed_names_are_hex_and_never_contain_the_name(name, platform):
    values = audience_identifiers({"first_name": name, "last_name": name, "postcode": "94303",
                                   "country": "US"}, platform).values
    for field in ("first_name", "last_name"):
        if field in values:
            assert HEX64.fullmatch(values[field]) and name not in values[field]


_REGIONS = sorted(r for r in phonenumbers.SUPPORTED_REGIONS if phonenumbers.example_number(r) is not None)
_FORMATS = [phonenumbers.PhoneNumberFormat.NATIONAL, phonenumbers.PhoneNumberFormat.INTERNATIONAL,
            phonenumbers.PhoneNumberFormat.E164]


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(_REGIONS), st.sampled_from(_FORMATS), platforms)
def test_phone_normalisation_is_idempotent(region, style, platform):
    written = phonenumbers.format_number(phonenumbers.example_number(region), style)
    once = normalise_phone(written, platform, region)
    assert normalise_phone(once, platform, region) == once
    assert re.fullmatch(r"\+[1-9][0-9]{6,14}" if platform == "google" else r"[1-9][0-9]{6,14}", once)
    hashed = audience_identifiers({"phone": written, "country": region}, platform).values["phone"]
    assert HEX64.fullmatch(hashed) and once not in hashed


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=20), platforms)
def test_phone_is_either_valid_or_an_error(text, platform):
    try:
        once = normalise_phone(text, platform, "GB")
    except IdentifierError:
        return
    assert phonenumbers.is_valid_number(phonenumbers.parse("+" + once.lstrip("+")))


@settings(max_examples=200, deadline=None)
@given(st.text(string.ascii_letters + string.digits + " -", min_size=1, max_size=12),
       platforms, st.sampled_from(["us", "gb", "fr", None]))
def test_postcode_normalisation_is_idempotent(postcode, platform, country):
    try:
        once = normalise_postcode(postcode, platform, country)
    except IdentifierError:
        return
    assert normalise_postcode(once, platform, country) == once


# --- the channels --------------------------------------------------------------------------

CUSTOMERS = {
    "C1": {"email": "Mary.Jones+news@Gmail.com", "phone": "07400 123456", "first_name": "Mary",
           "last_name": "Jones", "postcode": "WC2H 8LG", "country": "United Kingdom"},
    "C2": {"email": "rudolf.krymov@example.org", "phone": "not known", "first_name": "Rudolf",
           "last_name": "Krymov", "country": "DE"},
    "C3": {"phone": "+1 (650) 555-1212"},
    "C4": {"first_name": "Yvonne", "last_name": "Quirky", "postcode": "94303-5300", "country": "US"},
    "C5": {"email": "not an address", "phone": "123"},
    "C6": {},
}
RAW = ["Mary.Jones", "mary.jones", "maryjones", "07400", "7400123456", "Rudolf", "rudolf", "Krymov", "krymov",
       "650", "5551212", "Yvonne", "yvonne", "Quirky", "quirky", "not an address", "example.org", "gmail"]


def message(customer_id: str, channel: str, campaign: str = "spring") -> Message:
    return Message(campaign=campaign, customer_id=customer_id, channel=channel, variant="A",
                   message_id=message_id(campaign, customer_id, channel), recipient=CUSTOMERS[customer_id])


def deliver(channel, customer_ids, campaign="spring"):
    return {cid: channel.send(message(cid, channel.name, campaign), lambda: None) for cid in customer_ids}


def read(path):
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.reader(handle))


def test_channels_are_registered_with_consent_and_resend():
    assert CHANNELS["google_audience"] is GoogleAudienceChannel
    assert CHANNELS["meta_audience"] is MetaAudienceChannel
    for cls in (GoogleAudienceChannel, MetaAudienceChannel):
        assert cls.consent == "consent_email" and cls.address is None and cls.resend_in_doubt


def test_google_file_has_the_documented_headers_and_only_hashes(tmp_path):
    path = tmp_path / "google.csv"
    with GoogleAudienceChannel({"path": str(path), "default_region": "GB"}) as channel:
        deliveries = deliver(channel, CUSTOMERS)
    rows = read(path)
    assert rows[0] == ["Email", "Phone", "First Name", "Last Name", "Country", "Zip"]
    by_email = {row[0]: row for row in rows[1:]}
    assert by_email[sha("maryjones@gmail.com")] == [
        sha("maryjones@gmail.com"), sha("+447400123456"), sha("mary"), sha("jones"), "gb", "WC2H 8LG"]
    # Rudolf: valid e-mail, no phone, no postcode, so his names and country are left out too.
    assert by_email[sha("rudolf.krymov@example.org")] == [sha("rudolf.krymov@example.org"), "", "", "", "", ""]
    assert ["", sha("+16505551212"), "", "", "", ""] in rows
    assert ["", "", sha("yvonne"), sha("quirky"), "us", "94303-5300"] in rows
    assert len(rows) == 5
    assert {cid for cid, d in deliveries.items() if d.status == "sent"} == {"C1", "C2", "C3", "C4"}
    assert deliveries["C5"].status == "failed" and "email" in deliveries["C5"].error and "phone" in deliveries["C5"].error
    assert deliveries["C6"].status == "failed" and deliveries["C6"].error.startswith("no usable identifier")
    assert {(p["customer_id"], p["field"]) for p in channel.problems} >= {("C2", "phone"), ("C2", "address")}


def test_meta_file_has_the_documented_headers_and_only_hashes(tmp_path):
    path = tmp_path / "meta.csv"
    with MetaAudienceChannel({"path": str(path), "default_region": "GB"}) as channel:
        deliver(channel, CUSTOMERS)
    rows = read(path)
    assert rows[0] == ["email", "phone", "fn", "ln", "zip", "country"]
    assert [sha("mary.jones+news@gmail.com"), sha("447400123456"), sha("mary"), sha("jones"), sha("wc2h8"),
            sha("gb")] in rows
    assert ["", "", sha("yvonne"), sha("quirky"), sha("94303"), sha("us")] in rows
    for row in rows[1:]:
        assert all(value == "" or HEX64.fullmatch(value) for value in row)


@pytest.mark.parametrize("cls", [GoogleAudienceChannel, MetaAudienceChannel])
def test_no_raw_identifier_anywhere_on_disk(tmp_path, cls):
    with cls({"path": str(tmp_path / "out.csv"), "default_region": "GB"}) as channel:
        deliver(channel, CUSTOMERS)
    # Google wants Country and Zip in plain text; everything else, and all of Meta's, is hashed.
    hashed = {"email", "phone", "first_name", "last_name"} | ({"postcode"} if cls.platform == "meta" else set())
    for file in tmp_path.iterdir():  # the output and its journal
        data = file.read_bytes().lower()
        for raw in RAW:
            assert raw.lower().encode() not in data, (file.name, raw)
        for recipient in CUSTOMERS.values():
            for field, value in recipient.items():
                if field in hashed:
                    assert value.lower().encode() not in data, (file.name, value)


def test_a_resent_message_is_written_once(tmp_path):
    path = tmp_path / "g.csv"
    with GoogleAudienceChannel({"path": str(path), "default_region": "GB"}) as channel:
        first = deliver(channel, ["C1", "C3"])
        again = deliver(channel, ["C1"])
    assert again["C1"] == first["C1"] and again["C1"].status == "sent"
    assert len(read(path)) == 3


def test_a_crashed_run_resumes_without_duplicates(tmp_path):
    path = tmp_path / "{campaign}-meta.csv"
    crash = textwrap.dedent(f"""
        import os, sys
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from test_audiences import MetaAudienceChannel, deliver
        channel = MetaAudienceChannel({{"path": {str(path)!r}, "default_region": "GB"}})
        channel.open()
        deliver(channel, ["C1", "C3"])
        os._exit(9)  # killed: no close, no flush of anything not already on disk
    """)
    result = subprocess.run([sys.executable, "-c", crash], capture_output=True, text=True)
    assert result.returncode == 9, result.stderr
    final = tmp_path / "spring-meta.csv"
    assert not final.exists(), "a crashed run must not leave an output that looks complete"
    assert (tmp_path / "spring-meta.csv.journal").exists()

    with MetaAudienceChannel({"path": str(path), "default_region": "GB"}) as channel:
        deliveries = deliver(channel, ["C3", "C4"])  # C3's fate was unknown: sent again
    assert all(d.status == "sent" for d in deliveries.values())
    rows = read(final)
    assert len(rows) == 4 and len({tuple(r) for r in rows}) == 4


def test_consent_is_a_setting_and_cannot_be_switched_off(tmp_path):
    channel = GoogleAudienceChannel({"path": str(tmp_path / "g.csv"), "consent": "consent_ads"})
    assert channel.consent == "consent_ads" and GoogleAudienceChannel.consent == "consent_email"
    for bad in ("", None):
        with pytest.raises(ConfigError, match="consent"):
            GoogleAudienceChannel({"path": str(tmp_path / "g.csv"), "consent": bad})


@pytest.mark.parametrize("settings_, match", [
    ({}, "path is required"),
    ({"path": "x.csv", "default_region": "Narnia"}, "default_region"),
    ({"path": "x.csv", "fsync": "yes"}, "fsync"),
    ({"path": "x.csv", "platform": "meta"}, "unknown settings platform"),
])
def test_settings_are_checked(settings_, match):
    with pytest.raises(ConfigError, match=match):
        MetaAudienceChannel(settings_)


def test_default_region_takes_a_country_name(tmp_path):
    assert GoogleAudienceChannel({"path": str(tmp_path / "g.csv"), "default_region": "gb"}).default_region == "GB"
    assert GoogleAudienceChannel({"path": str(tmp_path / "g.csv"), "default_region": "Germany"}).default_region == "DE"
