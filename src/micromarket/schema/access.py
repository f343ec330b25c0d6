"""Tables of the server (``micromarket serve``): who may sign in and call the API, what they
changed, and what customers said in the preference centre."""

from __future__ import annotations

from .base import _CUSTOMER, BOOLEAN, INTEGER, TEXT, TIMESTAMP, Column, Table, _derived, _label

USERS = Table(
    "users",
    "People who sign in to the web app: one row per user, made with `micromarket user add`.",
    (
        _derived("user_name", TEXT, "The name they sign in with, unique."),
        _label("role", "`viewer` (reads), `marketer` (also segments and campaigns) or `admin` (also settings and runs)."),
        _derived("password_hash", TEXT, "The password's Argon2id hash (the password itself is never stored)."),
        _derived("created_at", TIMESTAMP, "When the user was added."),
        _derived("disabled_at", TIMESTAMP, "When the user was disabled (NULL: active)."),
        _derived("sessions_from", TIMESTAMP, "Sessions signed in before this time are over: set when the user "
                                             "signs out, is given a new password or is disabled."),
    ),
    natural_key=("user_name",),
    ingestible=False,
)

API_TOKENS = Table(
    "api_tokens",
    "Tokens for the REST API, made with `micromarket token create`: shown once, stored as a hash.",
    (
        _derived("token_id", TEXT, "The token's public id (its first characters), named in the audit log."),
        _derived("token_hash", TEXT, "SHA-256 of the whole token."),
        _label("role", "`viewer`, `marketer`, `admin`, or `events` (may only post events)."),
        _derived("name", TEXT, "What the token is for, as given."),
        _derived("created_at", TIMESTAMP, "When it was made."),
        _derived("expires_at", TIMESTAMP, "When it stops working (NULL: never)."),
        _derived("revoked_at", TIMESTAMP, "When it was revoked (NULL: in force)."),
    ),
    natural_key=("token_id",),
    ingestible=False,
)

AUDIT_LOG = Table(
    "audit_log",
    "Every write through the server and the access commands: who, what and when.",
    (
        _derived("audit_id", INTEGER, "Number, increasing."),
        _derived("at", TIMESTAMP, "When."),
        _derived("actor", TEXT, "`user:NAME`, `token:ID`, `customer` (a signed link) or `cli`."),
        _label("action", "What was done, e.g. `segment.create`, `campaign.launch`, `user.add`, `preferences.update`."),
        _derived("target", TEXT, "What it was done to (a segment's or campaign's name, a user, a hashed customer)."),
        _derived("detail", TEXT, "Further detail as JSON text."),
    ),
    natural_key=("audit_id",),
    ingestible=False,
)

CUSTOMER_PREFERENCES = Table(
    "customer_preferences",
    "What each customer said through their own links: consent per channel (the preference centre, one-click "
    "unsubscribe), how often they want to hear from the business and what about. A stated consent wins over the "
    "loaded `customers` column, so a later load of the customers file cannot undo it.",
    (
        _CUSTOMER,
        Column("consent_email", BOOLEAN, "E-mail consent as the customer last stated it (NULL: not stated); "
                                         "it wins over the loaded `customers` value.", source=False),
        Column("consent_sms", BOOLEAN, "SMS consent as the customer last stated it (NULL: not stated).", source=False),
        Column("consent_post", BOOLEAN, "Post consent as the customer last stated it (NULL: not stated).", source=False),
        _label("frequency", "`any`, `weekly` or `monthly`: at most this often a marketing message."),
        _derived("interests", TEXT, "The product categories they said they care about, as a JSON list."),
        _derived("updated_at", TIMESTAMP, "When they last saved."),
    ),
    natural_key=("customer_id",),
    ingestible=False,
)

__all__ = ["USERS", "API_TOKENS", "AUDIT_LOG", "CUSTOMER_PREFERENCES"]
