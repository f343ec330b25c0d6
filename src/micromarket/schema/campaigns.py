"""Tables of the campaigns stage: campaigns, the global control group's generations, the send
ledger, suppressions and the erasure audit. Who was assigned to treatment or holdout is
written to ``campaign_members`` (see :mod:`.ingest`), the table past campaigns are loaded into,
so measurement and the uplift models read campaigns run here and campaigns loaded alike."""

from __future__ import annotations

from .base import _CUSTOMER, INTEGER, NUMBER, TEXT, TIMESTAMP, Table, _derived, _label

CAMPAIGNS = Table(
    "campaigns",
    "One row per campaign made with `micromarket campaign create`: its audience, variants, schedule, holdout and state.",
    (
        _derived("campaign_id", TEXT, "The campaign's name, unique in the workspace."),
        _label("status", "`draft`, `scheduled`, `sending`, `paused` or `done`."),
        _label("audience_kind", "`segment`, `rule`, `plan` (the offer plan), `list` (an imported file of customer ids) "
                                "or `import` (a past campaign run elsewhere, imported with `campaign import`)."),
        _derived("audience", TEXT, "The segment's name, the rule's text or the list's file, as given."),
        _label("channel", "The channel messages go through (`email`, `sms`, `push`, `direct_mail`, an audience or export)."),
        _derived("variants", TEXT, "The message variants, as JSON: name, template file, offer."),
        _label("schedule", "`now`, `at` (at `send_at`) or `best_hour` (each customer at the hour they buy most, in their time zone)."),
        _derived("send_at", TIMESTAMP, "When an `at` campaign sends."),
        _derived("budget", NUMBER, "Most to spend on contacts (NULL: no limit)."),
        _derived("contact_cost", NUMBER, "Cost of one message."),
        _derived("attribution_days", INTEGER, "Days after a customer's message (or holdout assignment) that purchases count for the campaign; fixed at launch."),
        _derived("holdout_share", NUMBER, "Share of the audience held out, in every stratum of segment and value tier "
                                          "(an imported campaign's design share, where given)."),
        _derived("seed", INTEGER, "Seed of the holdout draw."),
        _derived("settings", TEXT, "Other settings (waves, bandit, transactional), as JSON."),
        _derived("created_at", TIMESTAMP, "When it was created."),
        _derived("launched_at", TIMESTAMP, "When it was launched (members assigned, the attribution window fixed)."),
        _derived("finished_at", TIMESTAMP, "When its last message was settled."),
    ),
    natural_key=("campaign_id",),
    ingestible=False,
)

CAMPAIGN_LISTS = Table(
    "campaign_lists",
    "The customers of campaigns whose audience is an imported list, one row per campaign and customer.",
    (
        _derived("campaign_id", TEXT, "Campaign."),
        _CUSTOMER,
    ),
    natural_key=("campaign_id", "customer_id"),
    ingestible=False,
)

CONTROL_GROUPS = Table(
    "control_groups",
    "One row per generation of the workspace's global control group: customers whose stable random bucket falls "
    "under the share are never contacted by marketing campaigns. A reshuffle starts a new generation; the old ones stay.",
    (
        _derived("generation", INTEGER, "Generation number, from 1."),
        _derived("salt", TEXT, "The random salt customers' buckets are drawn from in this generation."),
        _derived("share", NUMBER, "Share of customers in the control group (0.01-0.15)."),
        _derived("started_at", TIMESTAMP, "When the generation started."),
        _derived("ended_at", TIMESTAMP, "When a reshuffle ended it (NULL: the current one)."),
    ),
    natural_key=("generation",),
    ingestible=False,
)

CAMPAIGN_SENDS = Table(
    "campaign_sends",
    "The send ledger: one row per campaign, customer and channel for every treated customer, written before a message "
    "leaves and settled after; resume reads it.",
    (
        _derived("campaign_id", TEXT, "Campaign."),
        _CUSTOMER,
        _label("channel", "Channel."),
        _label("variant", "Message variant."),
        _derived("message_id", TEXT, "Deterministic Message-ID of (campaign, customer, channel)."),
        _label("state", "`queued`, `sent`, `failed`, `bounced`, `skipped`, or `in_doubt` (see docs/concepts/campaigns.md)."),
        _label("reason", "Why it was skipped or failed: `no_consent`, `suppressed`, `capped`, `quiet_hours`, `unreachable`, "
                         "`budget`, or the receiver's error."),
        _derived("allocation_probability", NUMBER, "Probability this variant was chosen for the customer (1 without a bandit)."),
        _derived("wave", INTEGER, "Wave the message went out in (1 without waves)."),
        _derived("attempts", INTEGER, "Delivery attempts."),
        _derived("provider_id", TEXT, "The receiver's id for the message, where it gives one."),
        _derived("queued_at", TIMESTAMP, "When the row was written (at launch)."),
        _derived("settled_at", TIMESTAMP, "When its state became final."),
    ),
    natural_key=("campaign_id", "customer_id", "channel"),
    ingestible=False,
)

SUPPRESSIONS = Table(
    "suppressions",
    "Addresses and customers never to contact: imported with `micromarket suppress`, and grown by bounces, complaints "
    "and unsubscribes.",
    (
        _label("kind", "`customer_id`, `email` or `phone`."),
        _derived("value", TEXT, "The customer id, or the address normalised (e-mail lower-cased, phone in E.164)."),
        _label("channel", "The channel it applies to, or `all`."),
        _label("reason", "`imported`, `unsubscribed`, `bounced` or `complained`."),
        _derived("source", TEXT, "The file or campaign it came from."),
        _derived("added_at", TIMESTAMP, "When it was added."),
    ),
    natural_key=("kind", "value", "channel"),
    ingestible=False,
)

ERASURES = Table(
    "erasures",
    "The audit of `micromarket erase`: one row per customer erased, without the customer's id (a keyed hash "
    "identifies the request).",
    (
        _derived("erasure_id", INTEGER, "Number, increasing."),
        _derived("customer_hash", TEXT, "HMAC-SHA256 of the customer id, keyed with the salt in `.micromarket/erasure.key`."),
        _derived("rows_deleted", TEXT, "Rows deleted per table, as JSON."),
        _derived("erased_at", TIMESTAMP, "When."),
    ),
    natural_key=("erasure_id",),
    ingestible=False,
)

__all__ = ["CAMPAIGNS", "CAMPAIGN_LISTS", "CONTROL_GROUPS", "CAMPAIGN_SENDS", "SUPPRESSIONS", "ERASURES"]
