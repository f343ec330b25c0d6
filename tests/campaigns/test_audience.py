"""Who a campaign is for: the holdout's share in every stratum, the global control group's
stability and its newcomers, and the send-time rules as a property (hypothesis)."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import ibis
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from micromarket.campaigns import rules
from micromarket.campaigns.audience import assign_holdout, bucket, control_generation, in_global_control, threshold
from micromarket.campaigns.campaign import assignment, get_campaign
from micromarket.runner import run_control_group, run_create_campaign

from helpers import write


def _draft(shop, tmp_path, name: str, holdout: float, seed: int = 0):
    run_create_campaign(shop, name, audience_kind="rule", audience_value="frequency >= 0",
                        template=str(write(tmp_path / "t.tmpl", "Hi")), channel="mail_folder", holdout=holdout,
                        seed=seed)
    return get_campaign(shop, name)


def test_the_holdout_share_holds_in_every_stratum(shop, tmp_path):
    campaign = _draft(shop, tmp_path, "strata", holdout=0.2, seed=4)
    people = assignment(shop, campaign).to_pandas()
    members = people[people["group"] != "global_control"]
    per = members.groupby("stratum")["group"].agg(size="size", held=lambda g: (g == "control").sum())
    big = per[per["size"] >= 50]
    assert len(big) >= 5
    assert ((big["held"] / big["size"] - 0.2).abs() <= 0.01).all(), big
    # Every stratum, however small, is within half a customer of its share.
    assert ((per["held"] - 0.2 * per["size"]).abs() <= 0.5 + 1e-9).all()
    # The draw is the campaign's: the same at every call, another with another seed.
    again = assignment(shop, campaign).to_pandas().set_index("customer_id")["group"]
    assert again.loc[members["customer_id"]].tolist() == members["group"].tolist()
    other = _draft(shop, tmp_path, "strata2", holdout=0.2, seed=5)
    reseeded = assignment(shop, other).to_pandas().set_index("customer_id")["group"]
    assert (reseeded.loc[members["customer_id"]] != members["group"].to_numpy()).mean() > 0.1


def test_holdout_ranks_within_strata_on_a_memtable():
    # 1,000 customers in three strata of unequal size: the control count is round(share x size) in each.
    ids = [f"C{i}" for i in range(1000)]
    strata = ["a"] * 500 + ["b"] * 333 + ["c"] * 167
    table = ibis.memtable({"customer_id": ids, "stratum": strata})
    out = assign_holdout(table, 0.15, seed=1).to_pandas()
    held = out[out["treatment_group"] == "control"].groupby("stratum").size().to_dict()
    assert held == {"a": 75, "b": 50, "c": 25}


def test_the_global_control_is_stable_and_takes_newcomers_at_its_share(shop):
    generation = run_control_group(shop)
    assert generation["generation"] == 1 and generation["share"] == pytest.approx(0.05)
    customers = shop.table("customers")
    members = lambda gen: set(customers.filter(in_global_control(customers.customer_id, gen))  # noqa: E731
                               .customer_id.to_pyarrow().to_pylist())
    first = members(generation)
    assert run_control_group(shop) == generation  # asking again changes nothing
    assert members(control_generation(shop)) == first
    # Newcomers, never seen: their share in the control group is the configured share.
    newcomers = ibis.memtable({"customer_id": [f"NEW-{i}" for i in range(20_000)]})
    joined = newcomers.filter(in_global_control(newcomers.customer_id, generation)).count().to_pyarrow().as_py()
    assert abs(joined / 20_000 - 0.05) < 0.005  # 3 standard errors of a binomial share
    # A reshuffle draws anew, keeps the old generation, and keeps the share.
    reshuffled = run_control_group(shop, reshuffle=True)
    assert reshuffled["generation"] == 2 and reshuffled["salt"] != generation["salt"]
    history = shop.table("control_groups").order_by("generation").to_pandas()
    assert len(history) == 2 and history["ended_at"].notna().tolist() == [True, False]
    second = members(reshuffled)
    assert second != first and abs(len(second) - len(first)) < 4 * (len(first) ** 0.5)


def test_bucket_threshold_matches_python_hashlib():
    import hashlib

    table = ibis.memtable({"customer_id": ["C1", "C2", "C3"]})
    got = table.select(b=bucket("salt", table.customer_id)).to_pyarrow()["b"].to_pylist()
    assert got == [hashlib.sha256(f"salt:{c}".encode()).hexdigest()[:8] for c in ("C1", "C2", "C3")]
    assert threshold(0.05) == format(round(0.05 * 16**8), "08x")


# -- send-time rules as a property --------------------------------------------------------
NOW = dt.datetime(2026, 12, 3, 14, 0, tzinfo=dt.timezone.utc)
UTC = ZoneInfo("UTC")


@st.composite
def situations(draw):
    consent = draw(st.sampled_from([True, False, None]))
    email = draw(st.sampled_from(["a@b.example", "", None]))
    suppressed = draw(st.booleans())
    sent_today = draw(st.integers(0, 3))
    sent_week = draw(st.integers(0, 3))
    caps = rules.Caps(day=draw(st.integers(0, 2)), week=draw(st.integers(0, 4)))
    in_control = draw(st.booleans())
    transactional = draw(st.booleans())
    # NOW is a Thursday: an hour ago is today, a day ago is earlier in the same ISO week.
    history = [(NOW.replace(tzinfo=None) - dt.timedelta(hours=1), "email")] * sent_today + \
              [(NOW.replace(tzinfo=None) - dt.timedelta(days=1), "sms")] * sent_week
    return consent, email, suppressed, history, caps, in_control, transactional


@settings(max_examples=400, deadline=None)
@given(situations())
def test_no_message_without_consent_or_when_suppressed_or_over_a_cap(situation):
    consent, email, suppressed, history, caps, in_control, transactional = situation
    facts = rules.Facts({"C": {"consent_email": consent, "email": email}}, {"C"} if suppressed else set(),
                        {"C": history})
    reason = rules.decide("C", facts=facts, channel="email", consent="consent_email", address="email",
                          in_control=in_control, caps=caps, transactional=transactional, now=NOW, default_zone=UTC)
    if reason is not None:
        return
    assert consent is True and (email or "").strip()
    if not transactional:
        assert not suppressed and not in_control
        local = NOW.date()
        today = sum(w.date() == local for w, _ in history)
        week = sum(w.isocalendar()[:2] == NOW.isocalendar()[:2] for w, _ in history)
        assert not caps.day or today < caps.day
        assert not caps.week or week < caps.week


def test_caps_count_in_the_customers_own_time_zone():
    # 23:30 in London on 3 December is already 4 December in Tokyo: yesterday's message there does not count.
    now = dt.datetime(2026, 12, 3, 23, 30, tzinfo=dt.timezone.utc)
    sent = [(dt.datetime(2026, 12, 3, 10, 0), "email")]  # stored in UTC
    facts = rules.Facts({"L": {"consent_email": True, "email": "l@x", "timezone": "Europe/London"},
                         "T": {"consent_email": True, "email": "t@x", "timezone": "Asia/Tokyo"}}, set(),
                        {"L": sent, "T": sent})
    decide = lambda c: rules.decide(c, facts=facts, channel="email", consent="consent_email",  # noqa: E731
                                    address="email", in_control=False, caps=rules.Caps(day=1), transactional=False,
                                    now=now, default_zone=UTC)
    assert decide("L") == "capped" and decide("T") is None
    rules.record_sent(facts, "T", "email")  # a message this run sent counts at once
    assert decide("T") == "capped"


def test_quiet_hours_defer_in_local_time():
    facts = rules.Facts({"C": {"consent_email": True, "email": "c@x", "timezone": "America/New_York"}}, set(), {})
    caps = rules.Caps(quiet=(21, 8))
    at = lambda hour: rules.decide("C", facts=facts, channel="email", consent="consent_email",  # noqa: E731
                                   address="email", in_control=False, caps=caps, transactional=False,
                                   now=dt.datetime(2026, 12, 3, hour, 0, tzinfo=dt.timezone.utc), default_zone=UTC)
    assert at(3) == "quiet_hours"  # 22:00 in New York
    assert at(15) is None  # 10:00 in New York
