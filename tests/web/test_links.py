"""Customers' own links: one-click unsubscribe (a GET changes nothing, a POST completes it) and the
preference centre; links cannot be forged, nor used for another customer or another purpose."""

from __future__ import annotations

from micromarket.campaigns import rules
from micromarket.campaigns.links import link_key, preferences_url, sign, unsubscribe_url


def _customers(served, n=2) -> list[str]:
    with served.client.app.state.gate.use() as ws:
        customers = ws.table("customers")
        return [r["customer_id"] for r in ws.storage.rows(customers.select("customer_id").order_by("customer_id").limit(n))]


def _path(url: str) -> str:
    return "/" + url.split("/", 3)[3]


def _stated(served, customer: str) -> dict:
    with served.client.app.state.gate.use() as ws:
        t = ws.table("customer_preferences")
        rows = ws.storage.rows(t.filter(t.customer_id == customer))
        facts = rules.facts(ws, [customer], "email", "consent_email", None, capped=False)
        suppressed = ws.storage.rows(ws.table("suppressions").filter(lambda s: s.value == customer))
    return {"row": rows[0] if rows else None, "consent_email": facts.contacts[customer].get("consent_email"),
            "suppressed": [(r["channel"], r["reason"]) for r in suppressed]}


def test_unsubscribe_get_asks_and_post_completes_it_in_one_step(served):
    first, _ = _customers(served)
    key = link_key(served.root)
    path = _path(unsubscribe_url("https://shop.example", key, first, "email"))
    page = served.client.get(path)
    assert page.status_code == 200 and "Unsubscribe from our e-mails?" in page.text
    assert _stated(served, first)["suppressed"] == []  # a link scanner's GET unsubscribes nobody
    # RFC 8058: the provider POSTs "List-Unsubscribe=One-Click" and nothing else.
    done = served.client.post(path, data={"List-Unsubscribe": "One-Click"})
    assert done.status_code == 200 and "You are unsubscribed" in done.text
    after = _stated(served, first)
    assert after["suppressed"] == [("email", "unsubscribed")]
    with served.client.app.state.gate.use() as ws:  # the address too, not only this customer record
        email = ws.storage.rows(ws.table("customers").filter(lambda t: t.customer_id == first).select("email"))[0]["email"]
        kinds = {(r["kind"], r["value"]) for r in ws.storage.rows(ws.table("suppressions"))}
    assert ("email", email.strip().lower()) in kinds and ("customer_id", first) in kinds
    assert after["row"]["consent_email"] is False and after["consent_email"] is False
    assert served.client.post(path).status_code == 200  # again: still unsubscribed, no error


def test_links_cannot_be_forged_or_used_for_another_customer_or_purpose(served):
    first, second = _customers(served)
    key = link_key(served.root)
    mine = sign(key, first, "email")
    payload, _, tag = mine.partition(".")
    theirs_payload = sign(key, second, "email").partition(".")[0]
    attempts = [
        f"/unsubscribe/{theirs_payload}.{tag}",                   # another customer with my signature
        f"/unsubscribe/{payload}.{tag[:-2]}AA",                    # a damaged signature
        f"/unsubscribe/{sign(b'another key', second, 'email')}",  # signed with another key
        f"/unsubscribe/{payload}",                                 # no signature
        f"/preferences/{mine}",                                    # an unsubscribe link as a preference link
        f"/unsubscribe/{sign(key, first, 'preferences')}",         # and the other way round
        "/preferences/not-a-token",
    ]
    for path in attempts:
        for method in ("GET", "POST"):
            response = served.client.request(method, path)
            assert response.status_code == 404, (method, path, response.status_code)
    assert _stated(served, second)["suppressed"] == [] and _stated(served, first)["suppressed"] == []


def test_the_preference_centre_updates_consent_frequency_and_interests_at_once(served):
    first, _ = _customers(served)
    path = _path(preferences_url("https://shop.example", link_key(served.root), first))
    page = served.client.get(path)
    assert page.status_code == 200 and "Your preferences" in page.text
    with served.client.app.state.gate.use() as ws:
        from micromarket.campaigns.preferences import preferences

        categories = preferences(ws, first)["categories"]
    assert categories, "the catalogue's categories are offered as interests"
    saved = served.client.post(path, data={"channel": ["sms"], "frequency": "monthly", "interest": categories[:2]})
    assert saved.status_code == 200 and "Saved" in saved.text
    after = _stated(served, first)
    assert after["row"]["consent_email"] is False and after["row"]["consent_sms"] is True
    assert after["row"]["frequency"] == "monthly" and after["consent_email"] is False  # the send rules see it now
    assert sorted(__import__("json").loads(after["row"]["interests"])) == sorted(categories[:2])
    bad = served.client.post(path, data={"frequency": "hourly"})
    assert bad.status_code == 422 and "frequency" in bad.json()["detail"]
    # Giving consent back is the customer's to do, and counts too.
    served.client.post(path, data={"channel": ["email"], "frequency": "any"})
    assert _stated(served, first)["consent_email"] is True


def test_customers_actions_are_audited_under_a_pseudonym(served):
    first, _ = _customers(served)
    served.client.post(_path(unsubscribe_url("https://shop.example", link_key(served.root), first, "email")))
    with served.client.app.state.gate.use() as ws:
        rows = ws.storage.rows(ws.table("audit_log").filter(lambda t: t.action == "customer.unsubscribe"))
    import re

    from micromarket.campaigns.preferences import customer_pseudonym

    assert len(rows) == 1 and re.fullmatch(r"customer:[0-9a-f]{16}", rows[0]["actor"])
    with served.client.app.state.gate.use() as ws:
        assert rows[0]["actor"] == customer_pseudonym(ws, first) != f"customer:{first}"
    assert first not in (rows[0]["target"], rows[0]["detail"])


def test_a_stated_frequency_holds_back_the_next_message(served):
    import datetime as dt

    first, _ = _customers(served)
    path = _path(preferences_url("https://shop.example", link_key(served.root), first))
    served.client.post(path, data={"channel": ["email"], "frequency": "weekly"})
    with served.client.app.state.gate.use() as ws:
        facts = rules.facts(ws, [first], "email", "consent_email", None, capped=True)
        now = dt.datetime.now(dt.timezone.utc)
        facts.history[first] = [(dt.datetime.now() - dt.timedelta(days=3), "sms")]  # a message 3 days ago
        decide = dict(facts=facts, channel="email", consent="consent_email", address="email", in_control=False,
                      caps=rules.Caps(), transactional=False, now=now, default_zone=__import__("zoneinfo").ZoneInfo("UTC"))
        assert facts.frequency == {first: "weekly"}
        assert rules.decide(first, **decide) == "capped"
        facts.history[first] = [(dt.datetime.now() - dt.timedelta(days=8), "sms")]
        assert rules.decide(first, **decide) is None
        assert rules.decide(first, **{**decide, "transactional": True}) is None  # receipts are owed anyway
